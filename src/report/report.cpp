#include "tahoma/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "tahoma/plan_fields.h"

namespace tahoma {

using nlohmann::json;

namespace {

const char* topology_name(ScaleUpTopology t) {
  return t == ScaleUpTopology::kSwitch ? "switch" : "torus";
}
const char* topology_name(ScaleOutTopology t) {
  return t == ScaleOutTopology::kFatTree ? "fat_tree" : "rail_optimized";
}

json peaks_json(const std::array<std::optional<FlopsPerSecond>, 5>& peaks) {
  json j = json::object();
  for (Precision p : kAllPrecisions) {
    if (const auto& f = peaks[static_cast<size_t>(p)]) j[to_string(p)] = f->value();
  }
  return j;
}

// What the compute time includes besides kernels: " (host-bound X s, offload-bound Y s)" or "".
std::string compute_detail(const StepBreakdown& b) {
  std::string parts;
  if (b.host_bound > Seconds(0)) parts = fmt::format("host-bound {:.3f} s", b.host_bound.value());
  if (b.offload_bound > Seconds(0))
    parts += fmt::format("{}offload-bound {:.3f} s", parts.empty() ? "" : ", ", b.offload_bound.value());
  return parts.empty() ? parts : " (" + parts + ")";
}

std::string gb(Bytes b) {
  return fmt::format("{:.1f} GB", b.value() / 1e9);
}

}  // namespace

namespace {

// The step's energy (docs/energy.md): the chips alone (power_watts_per_chip, joules_per_step,
// kwh_per_million_tokens: the keys before issue 16), then IT (chips + hosts + network) and facility
// (IT x PUE) energy, per step and per token.
json step_energy_json(const Scenario& sc, const StepResult& r) {
  const double tokens = sc.training.global_batch * static_cast<double>(sc.training.seq);
  const PowerPerChip p = power_per_chip(sc.system, Watts(r.power_watts_per_chip));
  return {{"power_watts_per_chip", r.power_watts_per_chip},
          {"joules_per_step", r.energy_joules_per_step},
          {"kwh_per_million_tokens", r.energy_joules_per_step / 3.6e6 / tokens * 1e6},
          {"activity", {{"compute", r.activity.compute}, {"memory", r.activity.memory}, {"network", r.activity.network}}},
          {"host_power_watts_per_chip", p.host_w},
          {"network_power_watts_per_chip", p.network_w},
          {"it_power_watts_per_chip", r.it_power_watts_per_chip},
          {"pue", p.pue},
          {"facility_power_watts_per_chip", r.facility_power_watts_per_chip},
          {"it_joules_per_step", r.energy_it_joules_per_step},
          {"facility_joules_per_step", r.energy_facility_joules_per_step},
          {"it_joules_per_token", r.energy_it_joules_per_step / tokens},
          {"facility_joules_per_token", r.energy_facility_joules_per_step / tokens},
          {"it_kwh_per_million_tokens", r.energy_it_joules_per_step / 3.6e6 / tokens * 1e6},
          {"facility_kwh_per_million_tokens", r.energy_facility_joules_per_step / 3.6e6 / tokens * 1e6},
          {"tokens_per_facility_joule",
           r.energy_facility_joules_per_step > 0 ? tokens / r.energy_facility_joules_per_step : 0.0}};
}

}  // namespace

json system_json(const System& s) {
  const Chip& c = s.chip;
  json chip = {{"name", c.name},
               {"peak_flops_per_s", peaks_json(c.peak_flops)},
               {"matrix_unit",
                {{"tile_m", c.matrix_unit.tile_m},
                 {"tile_n", c.matrix_unit.tile_n},
                 {"tile_k", c.matrix_unit.tile_k},
                 {"units", c.matrix_unit.units}}}};
  json precision_efficiency = json::object();
  for (Precision p : kAllPrecisions) {
    if (c.efficiency_at(p) != 1.0) precision_efficiency[to_string(p)] = c.efficiency_at(p);
  }
  chip["precision_efficiency"] = precision_efficiency;
  for (const auto& f : chip_fields()) {
    const double v = f.get(c);
    if (f.kind == ChipFieldKind::kInteger) {
      chip[std::string(f.json_key)] = static_cast<long long>(v);
    } else {
      chip[std::string(f.json_key)] = v;
    }
  }
  const ScaleUp& u = s.scale_up;
  json up = {{"name", u.name},
             {"chips", u.chips},
             {"topology", topology_name(u.topology)},
             {"in_network_reduction", u.in_network_reduction},
             {"efficiency", u.efficiency}};
  if (u.topology == ScaleUpTopology::kSwitch) {
    up["levels"] = json::array();
    for (const auto& l : u.levels) {
      up["levels"].push_back({{"name", l.name},
                              {"chips", l.chips},
                              {"bytes_per_s", l.bandwidth.value()},
                              {"latency_s", l.latency.value()}});
    }
  } else {
    up["dims"] = u.dims;
    up["link_bytes_per_s"] = json::array();
    for (const auto& b : u.link_bandwidth) up["link_bytes_per_s"].push_back(b.value());
    up["latency_s"] = u.latency.value();
  }
  const ScaleOut& o = s.scale_out;
  json out = {{"name", o.name},
              {"bytes_per_s", o.bandwidth.value()},
              {"topology", topology_name(o.topology)},
              {"oversubscription", o.oversubscription},
              {"latency_s", o.latency.value()},
              {"efficiency", o.efficiency}};
  const SystemTotals t = totals(s);
  json tot = {{"chips", t.chips},
              {"peak_flops_per_s", peaks_json(t.peak_flops)},
              {"hbm_bytes", t.hbm.value()},
              {"hbm_bytes_per_s", t.hbm_bandwidth.value()},
              {"scale_up_bytes_per_s", t.scale_up_bandwidth.value()},
              {"scale_out_bytes_per_s", t.scale_out_bandwidth.value()}};
  json j = {{"name", s.name},
            {"description", s.description},
            {"chips", s.total_chips()},
            {"chip", chip},
            {"scale_up", up},
            {"scale_out", out},
            {"totals", tot}};
  if (s.price_usd_per_chip_hour) j["price_usd_per_chip_hour"] = *s.price_usd_per_chip_hour;
  if (s.price_usd_per_chip_hour_committed) j["price_usd_per_chip_hour_committed"] = *s.price_usd_per_chip_hour_committed;
  j["host_power_watts_per_chip"] = s.host_power_per_chip.value();
  j["network_power_watts_per_chip"] = s.network_power_per_chip.value();
  if (s.pue) j["pue"] = *s.pue;
  return j;
}

json model_json(const Model& m) {
  const ParamCount pc = count_params(m);
  json j = {{"name", m.name},
            {"description", m.description},
            {"source", m.source},
            {"layers", m.layers},
            {"hidden", m.hidden},
            {"heads", m.heads},
            {"kv_heads", m.kv_heads},
            {"head_dim", m.head_dim},
            {"ffn_hidden", m.ffn_hidden},
            {"vocab", m.vocab},
            {"mlp", m.mlp == MlpType::kGated ? "gated" : "plain"},
            {"tied_embeddings", m.tied_embeddings},
            {"max_seq", m.max_seq},
            {"params", {{"total", pc.total}, {"active", pc.active}, {"embedding", pc.embedding}}}};
  if (m.moe) {
    j["moe"] = {{"experts", m.moe->experts},
                {"topk", m.moe->topk},
                {"ffn_hidden", m.moe->ffn_hidden},
                {"shared_experts", m.moe->shared_experts},
                {"first_k_dense", m.moe->first_k_dense},
                {"capacity_factor", m.moe->capacity_factor}};
  }
  if (m.mla) {
    j["attention"] = {{"type", "mla"},
                      {"q_lora_rank", m.mla->q_lora_rank},
                      {"kv_lora_rank", m.mla->kv_lora_rank},
                      {"qk_nope_head_dim", m.mla->qk_nope_head_dim},
                      {"qk_rope_head_dim", m.mla->qk_rope_head_dim},
                      {"v_head_dim", m.mla->v_head_dim}};
  }
  if (m.sliding_window > 0) {
    j["sliding_window"] = m.sliding_window;
    j["window_fraction"] = m.window_fraction;
  }
  return j;
}

json stack_json(const Stack& st) {
  json j = {{"name", st.name}, {"description", st.description}, {"kind", to_string(st.kind)}};
  for (const auto& f : stack_fields()) {
    if (f.section != st.kind) continue;
    const StackValue v = f.get(st);
    if (f.kind == StackFieldKind::kInteger) {
      j[std::string(f.json_key)] = static_cast<long long>(std::get<double>(v));
    } else {
      j[std::string(f.json_key)] = std::visit([](const auto& x) { return json(x); }, v);
    }
  }
  return j;
}

std::string stack_table(const Stack& st) {
  std::string out = fmt::format("{}: {}\n", st.name, st.description);
  out += fmt::format("  {:<22} {}\n", "kind", to_string(st.kind));
  for (const auto& f : stack_fields()) {
    if (f.section == st.kind) out += fmt::format("  {:<22} {}\n", f.key, stack_value_text(f, st));
  }
  if (!st.file.empty()) out += fmt::format("  {:<22} {}\n", "file", st.file);
  return out;
}

// The JSON of one field's value (plan_fields.h): a number, a bool or a name.
json field_json(const PlanField& f, const Training& t, const Plan& p) {
  return std::visit([](const auto& x) { return json(x); }, f.get(t, p));
}

// The fields of one section as a JSON object, plus `extra`.
json section_json(FieldSection section, const Training& t, const Plan& p, json extra = json::object()) {
  for (const auto& f : plan_fields()) {
    if (f.section == section) extra[std::string(f.key)] = field_json(f, t, p);
  }
  return extra;
}

json plan_json(const Plan& p) {
  return section_json(FieldSection::kPlan, Training{}, p,
                      {{"schedule", to_string(effective_schedule(p))}, {"placement", "tp, cp, pp, dp (tp innermost)"}});
}

json scenario_json(const Scenario& sc) {
  return {{"system_ref", sc.system_ref},
          {"stack_ref", sc.stack_ref},
          {"stack", stack_json(sc.stack)},
          {"system_overrides", sc.system_overrides},
          {"model_ref", sc.model_ref},
          {"chips", sc.system.total_chips()},
          {"system", system_json(sc.system)},
          {"model", model_json(sc.model)},
          {"training", section_json(FieldSection::kTraining, sc.training, sc.plan)},
          {"plan", plan_json(sc.plan)}};
}

json result_json(const Scenario& sc, const StepResult& r) {
  const StepBreakdown& b = r.breakdown;
  const MemoryBreakdown& m = r.memory;
  json comm = json::array();
  for (const auto& c : r.comm) {
    comm.push_back({{"name", c.name},
                    {"group", c.group},
                    {"collective", c.collective},
                    {"group_size", c.group_size},
                    {"calls_per_step", c.calls_per_step},
                    {"bytes_per_step", c.bytes_per_step.value()},
                    {"time_per_step_s", c.time_per_step.value()},
                    {"algorithm", c.algorithm}});
  }
  json j = {{"stack", sc.stack.name},
            {"step_time_s", r.step_time.value()},
            {"engine", r.engine},
            {"network", r.network},
            {"tasks", r.tasks},
            {"tokens_per_s", r.tokens_per_s},
            {"tokens_per_s_per_chip", r.tokens_per_s_per_chip},
            {"mfu", r.mfu},
            {"hfu", r.hfu},
            {"mfu_convention",
             "PaLM (Chowdhery et al. 2022, App. B): 6N + 6*L*heads*seq*(dqk+dv) per token, non-causal "
             "attention, N excludes the input embedding; peak at the training precision"},
            {"model_flops_per_token", r.model_flops_per_token},
            {"hardware_flops_per_step", r.hardware_flops_per_step.value()},
            {"microbatches", r.microbatches},
            {"fits", m.fits},
            {"memory",
             {{"peak_bytes_per_chip", m.total.value()},
              {"capacity_bytes_per_chip", m.capacity.value()},
              {"weights_bytes", m.weights.value()},
              {"gradients_bytes", m.gradients.value()},
              {"optimizer_bytes", m.optimizer.value()},
              {"activations_bytes", m.activations.value()},
              {"logits_bytes", m.logits.value()},
              {"workspace_bytes", m.workspace.value()},
              {"host_offload_bytes", m.host_offload.value()},
              {"host_capacity_bytes_per_chip", m.host_capacity.value()},
              {"peak_stage", m.stage}}},
            {"breakdown",
             {{"compute_s", b.compute.value()},
              {"host_bound_s", b.host_bound.value()},
              {"offload_bound_s", b.offload_bound.value()},
              {"exposed_comm_s", b.exposed_comm.value()},
              {"bubble_s", b.bubble.value()},
              {"optimizer_s", b.optimizer.value()},
              {"exposed_comm_by_group_s",
               {{"tp", b.tp_comm.value()},
                {"cp", b.cp_comm.value()},
                {"pp", b.pp_comm.value()},
                {"dp", b.dp_comm.value()},
                {"ep", b.ep_comm.value()}}}}},
            {"communication", comm},
            {"energy", step_energy_json(sc, r)},
            {"config", scenario_json(sc)}};
  if (r.cost_usd_per_million_tokens) j["cost_usd_per_million_tokens"] = *r.cost_usd_per_million_tokens;
  j["warnings"] = r.warnings;
  return j;
}

std::string system_table(const System& s) {
  const SystemTotals t = totals(s);
  std::string out = fmt::format("{}: {}\n", s.name, s.description);
  out += fmt::format("  chips                 {}\n", t.chips);
  out += fmt::format("  chip                  {} ({} rank{} per chip)\n", s.chip.name, s.chip.ranks_per_chip,
                     s.chip.ranks_per_chip > 1 ? "s" : "");
  for (Precision p : kAllPrecisions) {
    if (const auto& f = t.peak_flops[static_cast<size_t>(p)]) {
      out += fmt::format("  peak {:<5} dense       {:.1f} PFLOP/s  ({:.0f} TFLOP/s per chip)\n", to_string(p),
                         f->value() / 1e15, s.chip.peak(p)->value() / 1e12);
    }
  }
  out += fmt::format("  HBM                   {:.1f} TB  ({:.0f} GB per chip)\n", t.hbm.value() / 1e12,
                     s.chip.hbm_capacity.value() / 1e9);
  out += fmt::format("  HBM bandwidth         {:.1f} TB/s  ({:.2f} TB/s per chip)\n", t.hbm_bandwidth.value() / 1e12,
                     s.chip.hbm_bandwidth.value() / 1e12);
  out +=
      fmt::format("  scale-up              {} chips, {}, {}; {:.0f} GB/s per chip per direction; total {:.1f} TB/s\n",
                  s.scale_up.chips, s.scale_up.name, topology_name(s.scale_up.topology),
                  scale_up_injection(s.scale_up).value() / 1e9, t.scale_up_bandwidth.value() / 1e12);
  out += fmt::format("  scale-out             {}, {:.0f} Gb/s per chip per direction; total {:.1f} TB/s\n",
                     s.scale_out.name, s.scale_out.bandwidth.value() * 8 / 1e9, t.scale_out_bandwidth.value() / 1e12);
  return out;
}

std::string model_table(const Model& m) {
  const ParamCount pc = count_params(m);
  std::string out = fmt::format("{}: {}\n", m.name, m.description);
  out += fmt::format("  parameters   {:.2f} B total, {:.2f} B active per token\n", pc.total / 1e9, pc.active / 1e9);
  out +=
      fmt::format("  layers {}  hidden {}  heads {} (kv {}, head dim {})  ffn {} ({})  vocab {}\n", m.layers, m.hidden,
                  m.heads, m.kv_heads, m.head_dim, m.ffn_hidden, m.mlp == MlpType::kGated ? "gated" : "plain", m.vocab);
  if (m.moe) {
    out += fmt::format("  MoE          {} experts, top-{}, expert ffn {}, {} shared, first {} dense\n", m.moe->experts,
                       m.moe->topk, m.moe->ffn_hidden, m.moe->shared_experts, m.moe->first_k_dense);
  }
  if (m.mla)
    out +=
        fmt::format("  attention    MLA (kv_lora_rank {}, q_lora_rank {})\n", m.mla->kv_lora_rank, m.mla->q_lora_rank);
  if (m.sliding_window > 0) {
    out += fmt::format("  attention    sliding window of {} tokens on {:.0f}% of the layers\n", m.sliding_window,
                       100.0 * m.window_fraction);
  }
  if (!m.source.empty()) out += fmt::format("  source       {}\n", m.source);
  return out;
}

std::string result_table(const Scenario& sc, const StepResult& r) {
  const Plan& p = sc.plan;
  const MemoryBreakdown& m = r.memory;
  const StepBreakdown& b = r.breakdown;
  std::string out;
  out += fmt::format("{} on {} x {} | seq {} | global batch {} | {}\n", sc.model.name, sc.system.total_chips(),
                     sc.system.name, sc.training.seq, sc.training.global_batch, to_string(sc.training.precision));
  out += fmt::format(
      "layout: tp {} pp {} vpp {} cp {} dp {} ep {} | zero {} | recompute {} | micro-batch {} ({} per step) | stack {}\n",
      p.tp, p.pp, p.vpp, p.cp, p.dp, p.ep, p.zero, to_string(p.recompute), p.micro_batch, r.microbatches,
      sc.stack.name);
  out += fmt::format("  step time        {:.3f} s  ({} engine{}, {} network)\n", r.step_time.value(), r.engine,
                     r.tasks > 0 ? fmt::format(", {} tasks", r.tasks) : "", r.network);
  out += fmt::format("  tokens/s         {:.4g}  ({:.1f} per chip)\n", r.tokens_per_s, r.tokens_per_s_per_chip);
  out += fmt::format("  MFU / HFU        {:.1f}% / {:.1f}%\n", r.mfu * 100, r.hfu * 100);
  out += fmt::format(
      "  breakdown        compute {:.3f} s{} | exposed comm {:.3f} s (tp {:.3f}, cp {:.3f}, pp {:.3f}, dp {:.3f}, ep "
      "{:.3f}) | "
      "bubble {:.3f} s | optimizer {:.3f} s\n",
      b.compute.value(), compute_detail(b), b.exposed_comm.value(), b.tp_comm.value(), b.cp_comm.value(),
      b.pp_comm.value(), b.dp_comm.value(), b.ep_comm.value(), b.bubble.value(), b.optimizer.value());
  const bool hbm_fits = m.total <= m.capacity;
  out += fmt::format("  memory per chip  {} of {} -> {}\n", gb(m.total), gb(m.capacity),
                     m.fits     ? "fits"
                     : hbm_fits ? fmt::format("DOES NOT FIT (host memory: needs {} of {} for offloaded activations)",
                                              gb(m.host_offload), gb(m.host_capacity))
                                : fmt::format("DOES NOT FIT (needs {} of {})", gb(m.total), gb(m.capacity)));
  out += fmt::format(
      "                   weights {} | grads {} | optimizer {} | activations {} | logits {} | workspace {}\n",
      gb(m.weights), gb(m.gradients), gb(m.optimizer), gb(m.activations), gb(m.logits), gb(m.workspace));
  if (m.host_offload > Bytes(0)) {
    out += fmt::format("                   offloaded to host memory {}{}\n", gb(m.host_offload),
                       m.host_capacity > Bytes(0) ? fmt::format(" of {}", gb(m.host_capacity)) : std::string());
  }
  out += "  communication per step (representative rank):\n";
  for (const auto& c : r.comm) {
    out += fmt::format("    {:<20} {:<15} group {:>7}  x{:<6} {:>10}  {:>9.4f} s  [{}]\n", c.name, c.collective,
                       c.group_size, c.calls_per_step, format_bytes(c.bytes_per_step), c.time_per_step.value(),
                       c.algorithm);
  }
  out += fmt::format("  energy           {:.0f} W per chip, {:.2f} kWh per step\n", r.power_watts_per_chip,
                     r.energy_joules_per_step / 3.6e6);
  if (r.facility_power_watts_per_chip > r.power_watts_per_chip) {
    out += fmt::format("  facility energy  {:.0f} W per chip with host and network ({:.0f} W IT) x PUE {:.2f}: "
                       "{:.2f} kWh per step, {:.2f} kWh per million tokens\n",
                       r.facility_power_watts_per_chip, r.it_power_watts_per_chip, sc.system.pue.value_or(1.0),
                       r.energy_facility_joules_per_step / 3.6e6,
                       r.energy_facility_joules_per_step / 3.6e6 /
                           (sc.training.global_batch * static_cast<double>(sc.training.seq)) * 1e6);
  }
  if (r.cost_usd_per_million_tokens)
    out += fmt::format("  cost             ${:.2f} per million tokens\n", *r.cost_usd_per_million_tokens);
  for (const auto& w : r.warnings) out += fmt::format("  note: {}\n", w);
  return out;
}

std::string comparison_table(const std::vector<ComparisonRow>& rows) {
  std::string out =
      fmt::format("{:<20} {:>7} {:<26} {:>9} {:>12} {:>9} {:>6} {:>17} {:>5}\n", "system", "chips",
                  "layout (tp/pp/vpp/cp/dp)", "step (s)", "tokens/s", "tok/s/chip", "MFU", "memory/chip", "fits");
  for (const auto& row : rows) {
    const Plan& p = row.scenario.plan;
    const StepResult& r = row.result;
    out +=
        fmt::format("{:<20} {:>7} {:<26} {:>9.2f} {:>12.4g} {:>9.1f} {:>5.1f}% {:>17} {:>5}\n",
                    row.scenario.system.name, row.scenario.system.total_chips(),
                    fmt::format("{}/{}/{}/{}/{} z{} {}", p.tp, p.pp, p.vpp, p.cp, p.dp, p.zero, to_string(p.recompute)),
                    r.step_time.value(), r.tokens_per_s, r.tokens_per_s_per_chip, r.mfu * 100,
                    fmt::format("{:.0f}/{:.0f} GB", r.memory.total.value() / 1e9, r.memory.capacity.value() / 1e9),
                    r.memory.fits ? "yes" : "NO");
  }
  return out;
}

namespace {

// The row's assumptions in one line: the stack's defaults grouped under the stack's name, every
// other one as field=used (published: value) [rule].
std::string assumptions_text(const ValidationRow& r) {
  std::string out, from_stack;
  const std::string stack_rule = "stack " + r.stack;
  for (const auto& a : r.assumptions) {
    if (a.rule == stack_rule) {
      from_stack += (from_stack.empty() ? "" : ", ") + a.field + "=" + a.used;
      continue;
    }
    out += (out.empty() ? "" : "; ") + a.field + "=" + a.used;
    if (!a.published.empty()) out += " (published: " + a.published + ")";
    out += " [" + a.rule + "]";
  }
  if (!from_stack.empty()) out += (out.empty() ? "" : "; ") + r.stack + " defaults: " + from_stack;
  return out;
}

std::vector<const ValidationRow*> worst_rows(const ValidationReport& report, size_t count) {
  std::vector<const ValidationRow*> rows;
  for (const auto& r : report.rows) {
    if (r.simulated) rows.push_back(&r);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ValidationRow* a, const ValidationRow* b) {
    return std::abs(a->error_pct) > std::abs(b->error_pct);
  });
  if (rows.size() > count) rows.resize(count);
  return rows;
}

}  // namespace

// The known weakness of the model that most plausibly explains a row's error, from its settings.
std::string likely_cause(const ValidationRow& r) {
  const Scenario& sc = *r.scenario;
  std::string cause;
  if (sc.system.chip.power_limit.value() > 0) {
    cause += "The part runs power-capped; Tahoma lowers its clock in proportion to the cap. ";
  }
  if (sc.training.seq >= 32768) {
    cause += "Long context: attention dominates and its efficiency at this length is not calibrated. ";
  }
  for (const auto& a : r.assumptions) {
    if (a.field == "recompute" && a.published.empty()) {
      cause += "Recompute is not published; the choice made here sets most of the compute. ";
      break;
    }
  }
  if (sc.system.family == "AWS Trainium") {
    cause += "Neuron compiler efficiency varies by model and release; one calibration covers the family. ";
  }
  if (!r.fits) cause += "The layout does not fit Tahoma's memory model, so the real run differed in some setting. ";
  if (r.result && r.result->breakdown.host_bound > Seconds(0) && sc.plan.micro_batch == 1) {
    cause += "Micro-batch 1 MoE layers: launch gaps beyond the expert GEMMs' dispatch are not charged. ";
  }
  if (sc.training.precision == Precision::kFp4) {
    cause += "NVFP4: GEMM efficiency and cast traffic come from kernel benchmarks, not from training runs. ";
  }
  if (!cause.empty()) cause.pop_back();
  return cause;
}

std::string validation_table(const ValidationReport& report) {
  std::string out = fmt::format("{:<46} {:<14} {:>6} {:>11} {:>11} {:>8}  {}\n", "id", "system", "chips", "predicted",
                                "measured", "error", "notes");
  for (const auto& r : report.rows) {
    if (r.simulated) {
      std::string notes = assumptions_text(r);
      if (!r.fits) notes = "DOES NOT FIT; " + notes;
      out += fmt::format("{:<46} {:<14} {:>6} {:>11.1f} {:>11.1f} {:>+7.1f}%  {}\n", r.id, r.system, r.chips,
                         r.predicted, r.measured, r.error_pct, notes);
    } else {
      out += fmt::format("{:<46} {:<14} {:>6} {:>11} {:>11} {:>8}  skipped: {}\n", r.id, r.system, r.chips, "-",
                         r.measured > 0 ? fmt::format("{:.1f}", r.measured) : "-", "-", r.skip_reason);
    }
  }
  const ValidationSummary& s = report.summary;
  auto cv_text = [](const std::optional<double>& cv) {
    return cv ? fmt::format("  cross-validated {:>5.1f}%", *cv) : std::string();
  };
  out += "\nby hardware family (tokens/s per chip, |error|):\n";
  for (const auto& f : s.families) {
    out += fmt::format("  {:<18} {:>3} rows  MAPE {:>5.1f}%  max {:>5.1f}%{}\n", f.family, f.simulated, f.mape_pct,
                       f.max_abs_err_pct, cv_text(f.cv_mape_pct));
  }
  if (s.cv_mape_pct) {
    out += "\nby framework:\n";
    for (const auto& f : s.frameworks) {
      out += fmt::format("  {:<22} {:>3} rows  MAPE {:>5.1f}%{}\n", f.family, f.simulated, f.mape_pct,
                         cv_text(f.cv_mape_pct));
    }
  }
  out += fmt::format(
      "\nsimulated {} rows, skipped {}: MAPE {:.1f}%, median {:.1f}%, max {:.1f}% ({}), mean signed error {:+.1f}%\n",
      s.simulated, s.skipped, s.mape_pct, s.median_abs_err_pct, s.max_abs_err_pct, s.max_row, s.mean_signed_err_pct);
  if (s.cv_mape_pct) {
    out += fmt::format(
        "leave-one-source-out (calibrated constants re-derived without each row's source): MAPE {:.1f}%, median "
        "{:.1f}%\n",
        *s.cv_mape_pct, *s.cv_median_abs_err_pct);
  }
  return out;
}

json validation_json(const ValidationReport& report) {
  json rows = json::array();
  for (const auto& r : report.rows) {
    json j = {{"id", r.id},       {"system", r.system},       {"family", r.family},
              {"chips", r.chips}, {"simulated", r.simulated}, {"measured_tokens_per_s_per_chip", r.measured}};
    if (r.simulated) {
      j["predicted_tokens_per_s_per_chip"] = r.predicted;
      j["error_pct"] = r.error_pct;
      if (r.cv_predicted >= 0) {
        j["cv_predicted_tokens_per_s_per_chip"] = r.cv_predicted;
        j["cv_error_pct"] = r.cv_error_pct;
      }
      j["fits"] = r.fits;
      json assumed = json::array();
      for (const auto& a : r.assumptions) {
        assumed.push_back({{"field", a.field}, {"published", a.published}, {"used", a.used}, {"rule", a.rule}});
      }
      j["assumptions"] = assumed;
      j["stack"] = r.stack;
      j["layout"] = plan_json(r.scenario->plan);
      j["step_time_s"] = r.result->step_time.value();
      j["breakdown"] = {{"compute_s", r.result->breakdown.compute.value()},
                        {"exposed_comm_s", r.result->breakdown.exposed_comm.value()},
                        {"bubble_s", r.result->breakdown.bubble.value()},
                        {"optimizer_s", r.result->breakdown.optimizer.value()}};
    } else {
      j["reason"] = r.skip_reason;
    }
    rows.push_back(j);
  }
  const ValidationSummary& s = report.summary;
  auto groups = [](const std::vector<FamilySummary>& in, const char* name) {
    json out = json::array();
    for (const auto& f : in) {
      json g = {{name, f.family}, {"simulated", f.simulated}, {"mape_pct", f.mape_pct}, {"max_abs_err_pct", f.max_abs_err_pct}};
      if (f.cv_mape_pct) g["cv_mape_pct"] = *f.cv_mape_pct;
      out.push_back(g);
    }
    return out;
  };
  json summary = {{"simulated", s.simulated},
                  {"skipped", s.skipped},
                  {"mape_pct", s.mape_pct},
                  {"median_abs_err_pct", s.median_abs_err_pct},
                  {"max_abs_err_pct", s.max_abs_err_pct},
                  {"max_row", s.max_row},
                  {"mean_signed_err_pct", s.mean_signed_err_pct},
                  {"families", groups(s.families, "family")},
                  {"frameworks", groups(s.frameworks, "framework")}};
  if (s.cv_mape_pct) {
    summary["cv"] = "source";
    summary["cv_mape_pct"] = *s.cv_mape_pct;
    summary["cv_median_abs_err_pct"] = *s.cv_median_abs_err_pct;
  }
  return {{"file", report.file}, {"rows", rows}, {"summary", summary}};
}

std::string validation_markdown(const ValidationReport& report, const std::string& command) {
  const ValidationSummary& s = report.summary;
  std::string out = "# Validation against published training runs\n\n";
  out += fmt::format(
      "Generated by `{}`; do not edit by hand. The data set and its columns are described in "
      "[validation/README.md](../validation/README.md).\n\n",
      command);
  out += fmt::format(
      "**{} rows simulated, {} skipped. MAPE {:.1f}%, median {:.1f}%, worst {:.1f}% ({}); mean signed error "
      "{:+.1f}% (positive = Tahoma predicts more throughput than was measured).**\n\n",
      s.simulated, s.skipped, s.mape_pct, s.median_abs_err_pct, s.max_abs_err_pct, s.max_row, s.mean_signed_err_pct);
  if (s.cv_mape_pct) {
    out += fmt::format(
        "**Leave-one-source-out: MAPE {:.1f}%, median {:.1f}%.** Each row predicted with the calibrated constants "
        "(docs/model.md section 8.2) re-derived by their rules without the rows of its own source: the error to "
        "expect on a run Tahoma was never tuned on.\n\n",
        *s.cv_mape_pct, *s.cv_median_abs_err_pct);
  }
  auto cv_cell = [](const std::optional<double>& cv) { return cv ? fmt::format("{:.1f}%", *cv) : std::string("-"); };
  out += "## By hardware family\n\n| family | rows | MAPE | worst | leave-one-source-out MAPE |\n|---|---:|---:|---:|---:|\n";
  for (const auto& f : s.families) {
    out += fmt::format("| {} | {} | {:.1f}% | {:.1f}% | {} |\n", f.family, f.simulated, f.mape_pct, f.max_abs_err_pct,
                       cv_cell(f.cv_mape_pct));
  }
  out += "\n## By framework\n\n| framework | rows | MAPE | worst | leave-one-source-out MAPE |\n|---|---:|---:|---:|---:|\n";
  for (const auto& f : s.frameworks) {
    out += fmt::format("| {} | {} | {:.1f}% | {:.1f}% | {} |\n", f.family, f.simulated, f.mape_pct, f.max_abs_err_pct,
                       cv_cell(f.cv_mape_pct));
  }
  out +=
      "\n## Every row\n\nPredicted and measured training tokens/s per chip. Settings the row does not publish are "
      "chosen as validation/README.md prescribes and listed under *assumed*.\n\n";
  out +=
      "| id | system | chips | layout (tp/pp/vpp/cp/dp, mb, zero, recompute) | predicted | measured | error | assumed "
      "|\n";
  out += "|---|---|---:|---|---:|---:|---:|---|\n";
  for (const auto& r : report.rows) {
    if (!r.simulated) continue;
    const auto& p = r.scenario->plan;
    out += fmt::format("| {} | {} | {} | {}/{}/{}/{}/{}, mb {}, z{}, {} | {:.1f} | {:.1f} | {:+.1f}% | {}{} |\n", r.id,
                       r.system, r.chips, p.tp, p.pp, p.vpp, p.cp, p.dp, p.micro_batch, p.zero, to_string(p.recompute),
                       r.predicted, r.measured, r.error_pct, r.fits ? "" : "**does not fit**; ", assumptions_text(r));
  }
  out += "\n## Skipped rows\n\n| id | system | reason |\n|---|---|---|\n";
  for (const auto& r : report.rows) {
    if (!r.simulated) out += fmt::format("| {} | {} | {} |\n", r.id, r.system, r.skip_reason);
  }
  out +=
      "\n## The worst rows\n\nWhere the predicted step goes, for the rows with the largest error. A positive error "
      "means "
      "the real run lost time to something the model does not charge.\n\n";
  for (const ValidationRow* r : worst_rows(report, 8)) {
    const StepBreakdown& b = r->result->breakdown;
    const double t = r->result->step_time.value();
    out += fmt::format(
        "- **{}** ({}, {} chips): {:+.1f}%. Predicted step {:.3g} s = compute {:.0f}%{}, exposed communication "
        "{:.0f}% (tp {:.0f}%, dp {:.0f}%, pp {:.0f}%, cp {:.0f}%, ep {:.0f}%), bubble {:.0f}%, optimizer {:.0f}%.{}\n",
        r->id, r->system, r->chips, r->error_pct, t, 100 * b.compute.value() / t,
        b.host_bound > Seconds(0)
            ? fmt::format(" (of which expert-GEMM dispatch {:.0f}%)", 100 * b.host_bound.value() / t)
            : std::string(),
        100 * b.exposed_comm.value() / t, 100 * b.tp_comm.value() / t, 100 * b.dp_comm.value() / t,
        100 * b.pp_comm.value() / t, 100 * b.cp_comm.value() / t, 100 * b.ep_comm.value() / t,
        100 * b.bubble.value() / t, 100 * b.optimizer.value() / t,
        r->assumptions.empty() ? "" : " Assumed: " + assumptions_text(*r) + ".");
    const std::string cause = likely_cause(*r);
    if (!cause.empty()) out += "  " + cause + "\n";
  }
  out +=
      "\n## What the model lacks\n\n"
      "- **One sustained matmul efficiency per hardware generation** (calibrated, docs/model.md): it cannot see "
      "framework-specific kernel quality (torchtitan eager vs compiled, llm-foundry vs Megatron), so rows of "
      "one family scatter around the calibration by the spread of their software stacks.\n"
      "- **Settings the sources do not publish** (recompute, ZeRO stage, micro-batch) are chosen by the rules of "
      "validation/README.md; when the real run used activation offloading or a lighter recompute than the "
      "least that fits in Tahoma's memory model, the prediction is pessimistic.\n"
      "- **Power caps** lower the clock in proportion to the cap; the HBM2e variant of the 500 W Grand Teton "
      "H100 also has less memory bandwidth than the preset, which the rows do not publish.\n"
      "- **Long context** (64K-131K tokens): the attention kernels' efficiency and context-parallel load "
      "balance at these lengths are not calibrated; such rows are optimistic.\n"
      "- **Launch gaps of eager MoE layers**: only the per-GEMM dispatch of experts launched one by one is "
      "charged (docs/model.md 7.1); the router, permutation and per-expert quantization launches, and the CUDA "
      "graphs that hide some of them, are not modelled, so micro-batch-1 MoE rows are optimistic.\n"
      "- **Low-precision recipes**: NVFP4's GEMM efficiency (relative to FP8) and its quantization traffic "
      "(amax passes, Hadamard-transformed wgrad copies) come from kernel benchmarks; the layers a recipe keeps "
      "in BF16 are not modelled (Megatron-Bridge's NVFP4 performance recipes keep none).\n"
      "- **Traffic inside a layer** (TP, CP, EP) is priced analytically even with `--network flow`; only "
      "pipeline and data-parallel traffic share links in the flow model.\n";
  return out;
}

}  // namespace tahoma

namespace tahoma {

nlohmann::json collective_json(const System& system, const CollectiveRequest& req,
                               const std::vector<CollectiveRow>& rows) {
  nlohmann::json out;
  out["system"] = system.name;
  out["chips"] = system.total_chips();
  out["op"] = to_string(req.kind);
  out["group"] = req.group == 0 ? system.total_ranks() : req.group;
  out["stride"] = req.stride;
  out["network"] = to_string(req.network);
  out["all_groups"] = req.all_groups;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : rows) {
    const bool valid = std::isfinite(r.cost.time.value());
    list.push_back({{"bytes", r.bytes.value()},
                    {"time_s", valid ? nlohmann::json(r.cost.time.value()) : nlohmann::json(nullptr)},
                    {"algbw_bytes_per_s", r.cost.algbw.value()},
                    {"busbw_bytes_per_s", r.cost.busbw.value()},
                    {"algorithm", valid ? r.cost.algorithm : "invalid for this group"}});
  }
  out["rows"] = list;
  return out;
}

std::string collective_table(const System& system, const CollectiveRequest& req,
                             const std::vector<CollectiveRow>& rows) {
  const long long group = req.group == 0 ? system.total_ranks() : req.group;
  std::string out = fmt::format("{} of {} ranks (stride {}) on {} x {} ({} network{})\n\n", to_string(req.kind), group,
                                req.stride, system.total_chips(), system.name, to_string(req.network),
                                req.all_groups ? ", every such group at once" : "");
  out += fmt::format("{:>12} {:>12} {:>14} {:>14}  {}\n", "size", "time", "algbw (GB/s)", "busbw (GB/s)", "algorithm");
  for (const auto& r : rows) {
    if (!std::isfinite(r.cost.time.value())) {
      out += fmt::format("{:>12} {:>12} {:>14} {:>14}  {}\n", format_bytes(r.bytes), "-", "-", "-",
                         "invalid for this group");
      continue;
    }
    out += fmt::format("{:>12} {:>12} {:>14.2f} {:>14.2f}  {}\n", format_bytes(r.bytes), format_seconds(r.cost.time),
                       r.cost.algbw.value() / 1e9, r.cost.busbw.value() / 1e9, r.cost.algorithm);
  }
  out += "\nalgbw = size / time; busbw = algbw x the nccl-tests factor (2(n-1)/n all-reduce, (n-1)/n gathers).\n";
  return out;
}

namespace {

double kwh_per_million_tokens(const Scenario& sc, const StepResult& r) {
  return r.energy_joules_per_step / 3.6e6 / (sc.training.global_batch * static_cast<double>(sc.training.seq)) * 1e6;
}

json search_result_json(const Scenario& base, const SearchResult& s) {
  const MemoryBreakdown& m = s.result.memory;
  const StepBreakdown& b = s.result.breakdown;
  json j = {{"layout", plan_json(s.plan)},
            {"step_time_s", s.result.step_time.value()},
            {"tokens_per_s", s.result.tokens_per_s},
            {"tokens_per_s_per_chip", s.result.tokens_per_s_per_chip},
            {"mfu", s.result.mfu},
            {"memory",
             {{"peak_bytes_per_chip", m.total.value()},
              {"capacity_bytes_per_chip", m.capacity.value()},
              {"fits", m.fits},
              {"weights_bytes", m.weights.value()},
              {"gradients_bytes", m.gradients.value()},
              {"optimizer_bytes", m.optimizer.value()},
              {"activations_bytes", m.activations.value()}}},
            {"breakdown",
             {{"compute_s", b.compute.value()},
              {"exposed_comm_s", b.exposed_comm.value()},
              {"bubble_s", b.bubble.value()},
              {"optimizer_s", b.optimizer.value()}}},
            {"energy_kwh_per_million_tokens", kwh_per_million_tokens(base, s.result)},
            {"closed_form",
             {{"step_time_s", s.closed_form.step_time.value()},
              {"tokens_per_s", s.closed_form.tokens_per_s},
              {"mfu", s.closed_form.mfu}}},
            {"simulate", simulate_command(base, s.plan)}};
  if (s.result.cost_usd_per_million_tokens) j["cost_usd_per_million_tokens"] = *s.result.cost_usd_per_million_tokens;
  return j;
}

std::string with_commas(long long n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string layout_cell(const Plan& p) {
  return fmt::format("tp {} pp {} vpp {} cp {}{} dp {}", p.tp, p.pp, p.vpp, p.cp,
                     p.ep > 1 ? fmt::format(" ep {}", p.ep) : "", p.dp);
}

}  // namespace

std::string simulate_command(const Scenario& base, const Plan& p) {
  std::string cmd =
      fmt::format("tahoma simulate --system {} --chips {} --model {} --seq {} --global-batch {}", base.system_ref,
                  base.system.chips, base.model_ref, base.training.seq, base.training.global_batch);
  if (!base.stack_ref.empty()) cmd += " --stack " + base.stack_ref;
  for (const auto& o : base.system_overrides) cmd += " --set " + o;
  if (base.training.precision != Precision::kBf16)
    cmd += fmt::format(" --precision {}", to_string(base.training.precision));
  // The layout, then what differs from the built-in defaults, then what differs from the stack's;
  // a default is taken with the printed layout (etp's default is the TP degree).
  Plan built_in, from_stack;
  apply_stack_defaults(base.stack, base.training.precision, from_stack);
  for (const auto& f : plan_fields()) {
    if (f.reproduce != Reproduce::kAlways) continue;
    Training unused;
    f.set(f.get(base.training, p), unused, built_in);
    f.set(f.get(base.training, p), unused, from_stack);
  }
  const auto print = [&](const PlanField& f) {
    const FieldValue value = f.get(base.training, p);
    const Plan& d = f.default_from == FieldDefault::kStack ? from_stack : built_in;
    if (f.reproduce == Reproduce::kIfChanged && f.get(Training{}, d) == value) return;
    cmd += fmt::format(" {}", f.flag);
    if (f.kind != FieldKind::kSwitch) cmd += fmt::format(" {}", to_text(value));
  };
  for (const auto& f : plan_fields()) {
    if (f.reproduce == Reproduce::kAlways) print(f);
  }
  for (const auto default_from : {FieldDefault::kBuiltIn, FieldDefault::kStack}) {
    for (const auto& f : plan_fields()) {
      if (f.reproduce == Reproduce::kIfChanged && f.default_from == default_from) print(f);
    }
  }
  return cmd;
}

json search_json(const Scenario& base, const SearchOptions& options, const SearchReport& report) {
  json results = json::array();
  for (const auto& s : report.results) results.push_back(search_result_json(base, s));
  return {{"system", base.system.name},
          {"chips", base.system.chips},
          {"model", base.model.name},
          {"seq", base.training.seq},
          {"global_batch", base.training.global_batch},
          {"precision", to_string(base.training.precision)},
          {"objective", to_string(options.objective)},
          {"considered", report.considered},
          {"priced", report.priced},
          {"rejected", report.rejected},
          {"results", results},
          {"why", report.why}};
}

std::string search_table(const Scenario& base, const SearchOptions& options, const SearchReport& report) {
  std::string out = fmt::format("{} on {} x {} | seq {} | global batch {} | {} | objective {}\n", base.model.name,
                                base.system.chips, base.system.name, base.training.seq, base.training.global_batch,
                                to_string(base.training.precision), to_string(options.objective));
  long long rejected = 0;
  for (const auto& [reason, n] : report.rejected) rejected += n;
  out += fmt::format("considered {} layouts: {} priced, {} rejected{}\n", with_commas(report.considered),
                     with_commas(report.priced), with_commas(rejected),
                     report.ranks > 1 ? fmt::format(" (split over {} MPI processes)", report.ranks) : "");
  std::vector<std::pair<long long, std::string>> reasons;
  for (const auto& [reason, n] : report.rejected) reasons.emplace_back(-n, reason);
  std::sort(reasons.begin(), reasons.end());
  for (const auto& [n, reason] : reasons) out += fmt::format("  {:>12}  {}\n", with_commas(-n), reason);
  if (report.results.empty()) return out + "\n" + report.why + "\n";
  out += fmt::format("\n{:>2}  {:<30} {:>3} {:>4} {:>9}  {:>9} {:>10} {:>6} {:>15} {:>12}\n", "#", "layout", "mb",
                     "zero", "recompute", "step (s)", "tokens/s", "MFU", "memory/chip", "closed form");
  for (size_t i = 0; i < report.results.size(); ++i) {
    const SearchResult& s = report.results[i];
    const double delta = s.closed_form.step_time.value() / s.result.step_time.value() - 1.0;
    out += fmt::format(
        "{:>2}  {:<30} {:>3} {:>4} {:>9}  {:>9.3f} {:>10.4g} {:>5.1f}% {:>6.1f} of {:>3.0f} GB {:>8.3f} s{}\n", i + 1,
        layout_cell(s.plan), s.plan.micro_batch, s.plan.zero, to_string(s.plan.recompute), s.result.step_time.value(),
        s.result.tokens_per_s, 100.0 * s.result.mfu, s.result.memory.total.value() / 1e9,
        s.result.memory.capacity.value() / 1e9, s.closed_form.step_time.value(),
        std::abs(delta) >= 0.0005 ? fmt::format(" ({:+.1f}%)", 100.0 * delta) : "");
  }
  out +=
      "\nstep, tokens/s and MFU: the event engine on the best layouts of the closed-form ranking (its step in the\n"
      "last column where they differ)\n";
  out += "why: " + report.why + "\n";
  out += "reproduce the winner: " + simulate_command(base, report.results.front().plan) + "\n";
  return out;
}

json compare_json(const std::vector<Scenario>& bases, const SearchOptions& options,
                  const std::vector<Comparison>& rows) {
  json systems = json::array();
  for (size_t i = 0; i < rows.size(); ++i) systems.push_back(search_json(bases[i], options, rows[i].report));
  return {{"objective", to_string(options.objective)}, {"systems", systems}};
}

std::string compare_table(const std::vector<Scenario>& bases, const SearchOptions& options,
                          const std::vector<Comparison>& rows) {
  const Scenario& first = bases.front();
  std::string out = fmt::format("{} on {} chips | seq {} | global batch {} | {} | best layout of each system by {}\n\n",
                                first.model.name, first.system.chips, first.training.seq, first.training.global_batch,
                                to_string(first.training.precision), to_string(options.objective));
  out += fmt::format("{:<20} {:<44} {:>9} {:>11} {:>9} {:>6} {:>15} {:>11} {:>11}\n", "system", "best layout",
                     "step (s)", "tokens/s", "per chip", "MFU", "memory/chip", "$/M tokens", "kWh/M tok");
  for (size_t i = 0; i < rows.size(); ++i) {
    const SearchReport& r = rows[i].report;
    if (r.results.empty()) {
      out += fmt::format("{:<20} {}\n", rows[i].system, r.why);
      continue;
    }
    const SearchResult& s = r.results.front();
    const std::string layout = fmt::format("{} mb {} z{} {}", layout_cell(s.plan), s.plan.micro_batch, s.plan.zero,
                                           to_string(s.plan.recompute));
    out += fmt::format(
        "{:<20} {:<30} {:>9.3f} {:>11.4g} {:>9.1f} {:>5.1f}% {:>6.1f} of {:>3.0f} GB {:>11} {:>11.2f}\n",
        rows[i].system, layout, s.result.step_time.value(), s.result.tokens_per_s, s.result.tokens_per_s_per_chip,
        100.0 * s.result.mfu, s.result.memory.total.value() / 1e9, s.result.memory.capacity.value() / 1e9,
        s.result.cost_usd_per_million_tokens ? fmt::format("{:.2f}", *s.result.cost_usd_per_million_tokens) : "-",
        kwh_per_million_tokens(bases[i], s.result));
  }
  out +=
      "\n$/M tokens needs a price in the preset (price_usd_per_chip_hour); energy is at the modelled power per chip.\n"
      "`tahoma search --system NAME ...` shows each system's runners-up and why its winner won.\n";
  return out;
}

std::string calibration_table(const std::string& file, const std::vector<CalibrationResult>& results) {
  std::string out = fmt::format("calibrated constants re-derived from {} (rules: data/calibration.yaml)\n\n", file);
  out += fmt::format("{:<24} {:<24} {:>5} {:>8} {:>8} {:>13} {:>13}  {}\n", "group", "key", "rows", "shipped",
                     "derived", "MAPE shipped", "MAPE derived", "notes");
  for (const auto& r : results) {
    std::string notes = r.note;
    if (!r.consistent) notes += std::string(notes.empty() ? "" : "; ") + "the group's presets ship different values";
    if (std::abs(r.derived - r.shipped) > 1e-9) {
      notes += std::string(notes.empty() ? "" : "; ") + "DIFFERS from the shipped value";
    }
    out += fmt::format("{:<24} {:<24} {:>5} {:>8.{}f} {:>8.{}f} {:>12.1f}% {:>12.1f}%  {}\n", r.constant.name,
                       r.constant.key, r.rows, r.shipped, r.constant.decimals, r.derived, r.constant.decimals,
                       r.mape_shipped_pct, r.mape_derived_pct, notes);
  }
  out += "\nrule median-ratio: the value at which the median of measured / predicted tokens/s over the group's rows "
         "(power-capped parts excluded) is 1\n";
  return out;
}

json calibration_json(const std::string& file, const std::vector<CalibrationResult>& results) {
  json constants = json::array();
  for (const auto& r : results) {
    constants.push_back({{"group", r.constant.name},
                         {"key", r.constant.key},
                         {"rule", "median-ratio"},
                         {"presets", r.constant.presets},
                         {"rows", r.rows},
                         {"shipped", r.shipped},
                         {"derived", r.derived},
                         {"derived_unrounded", r.exact},
                         {"consistent", r.consistent},
                         {"mape_shipped_pct", r.mape_shipped_pct},
                         {"mape_derived_pct", r.mape_derived_pct},
                         {"note", r.note}});
  }
  return {{"file", file}, {"constants", constants}};
}

std::string algorithms_table() {
  std::string out;
  for (const auto& a : collective_algorithms()) {
    out += fmt::format("{:<18} {} ({})\n", a.name, a.collectives, a.library ? "chosen by cost" : "on request only");
    out += fmt::format("{:<18}   valid: {}\n{:<18}   time:  {}\n{:<18}   from:  {}\n", "", a.valid, "", a.formula, "",
                       a.source);
  }
  return out;
}

json algorithms_json() {
  json out = json::array();
  for (const auto& a : collective_algorithms()) {
    out.push_back({{"name", a.name},
                   {"collectives", a.collectives},
                   {"chosen_by_cost", a.library},
                   {"valid", a.valid},
                   {"formula", a.formula},
                   {"source", a.source}});
  }
  return out;
}

namespace {

const char* section_name(FieldSection s) {
  return s == FieldSection::kTraining ? "training" : "plan";
}

const char* stack_kind_name(StackFieldKind k) {
  switch (k) {
    case StackFieldKind::kBool: return "yes/no";
    case StackFieldKind::kChoice: return "choice";
    case StackFieldKind::kSeconds: return "seconds";
    case StackFieldKind::kBytes: return "bytes";
    case StackFieldKind::kInteger: return "integer";
    case StackFieldKind::kNumber: return "number";
  }
  return "?";
}

const char* dimension_unit(Dimension d) {
  switch (d) {
    case Dimension::kBytes: return "bytes";
    case Dimension::kSeconds: return "seconds";
    case Dimension::kFlopsPerSecond: return "FLOP/s";
    case Dimension::kBytesPerSecond: return "bytes/s";
    case Dimension::kWatts: return "watts";
  }
  return "?";
}

std::string chip_kind_name(const ChipField& f) {
  if (f.kind == ChipFieldKind::kQuantity) return dimension_unit(f.dim);
  return f.kind == ChipFieldKind::kInteger ? "integer" : "number";
}

}  // namespace

// `tahoma list fields`: the three field tables (plan_fields.h, stack.h, hw.h).
std::string fields_table() {
  std::string out = "scenario fields (training: and plan: in a scenario YAML; the flag on simulate, search, compare):\n";
  for (const auto& f : plan_fields()) {
    out += fmt::format("  {:<10} {:<28} {:<30} {}\n", section_name(f.section), f.key, f.flag, f.help);
  }
  out += "\nstack fields (data/stacks/*.yaml; choose a stack with --stack; kind: serving stacks state the serving ones):\n";
  for (const auto& f : stack_fields()) {
    std::string kind = stack_kind_name(f.kind);
    if (f.kind == StackFieldKind::kChoice) kind = fmt::format("{}", fmt::join(f.choices, "|"));
    out += fmt::format("  {:<9} {:<22} {:<40} {}\n", to_string(f.section), f.key, kind, f.help);
  }
  out += "\nchip fields (chip: in data/systems/*.yaml; --set chip.KEY=VALUE):\n";
  for (const auto& f : chip_fields()) out += fmt::format("  {:<20} {:<8} {}\n", f.key, chip_kind_name(f), f.help);
  return out;
}

json fields_json() {
  json plan = json::array(), stack = json::array(), chip = json::array();
  for (const auto& f : plan_fields()) {
    plan.push_back({{"section", section_name(f.section)}, {"key", f.key}, {"flag", f.flag}, {"help", f.help}});
  }
  for (const auto& f : stack_fields()) {
    json j = {{"key", f.key},
              {"json_key", f.json_key},
              {"section", to_string(f.section)},
              {"kind", stack_kind_name(f.kind)},
              {"help", f.help}};
    if (!f.choices.empty()) j["choices"] = f.choices;
    if (!f.defaults_to.empty()) j["defaults_to"] = f.defaults_to;
    stack.push_back(j);
  }
  for (const auto& f : chip_fields()) {
    chip.push_back({{"key", f.key},
                    {"json_key", f.json_key},
                    {"kind", chip_kind_name(f)},
                    {"min", f.min},
                    {"max", f.max},
                    {"zero_ok", f.zero_ok},
                    {"help", f.help}});
  }
  return {{"plan", plan}, {"stack", stack}, {"chip", chip}};
}

}  // namespace tahoma
