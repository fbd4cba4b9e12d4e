// The serving report: JSON with fixed keys (docs/serving.md 7) and a fixed-width table. (Formatting
// lives beside the serve library until report/ takes it over; it only reads ServeResult.)
#include <fmt/format.h>

#include "tahoma/serve.h"

namespace tahoma {
namespace {

nlohmann::json stats_json(const LatencyStats& s) {
  return {{"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}};
}

std::string ms(double s) {
  return fmt::format("{:.1f} ms", s * 1e3);
}

std::string requests_text(const RequestSpec& spec) {
  switch (spec.kind) {
    case ArrivalKind::kOffline: return fmt::format("offline, {} requests at once", spec.count);
    case ArrivalKind::kConcurrency:
      return fmt::format("closed loop, {} concurrent clients, {} requests", spec.concurrency, spec.count);
    case ArrivalKind::kPoisson: return fmt::format("Poisson arrivals at {:g} requests/s, {} requests", spec.rate, spec.count);
    case ArrivalKind::kTrace: return fmt::format("trace {}", spec.trace_file);
  }
  return "";
}

std::string length_text(const LengthDist& d) {
  if (d.kind == LengthDistKind::kFixed) return fmt::format("{}", d.mean);
  return fmt::format("{} ({} {:g})", d.mean, to_string(d.kind), d.spread);
}

}  // namespace

nlohmann::json serve_json(const ServeConfig& c, const RequestSpec& spec, const SloSpec& slo, const ServeResult& r) {
  nlohmann::json j;
  j["system"] = c.system.name;
  j["model"] = c.model.name;
  j["servable"] = r.servable;
  if (!r.servable) j["reason"] = r.reason;
  j["layout"] = {{"chips", c.system.total_chips()},
                 {"chips_used", r.chips_used},
                 {"chips_per_replica", r.chips_per_replica},
                 {"tp", c.layout.tp},
                 {"pp", c.layout.pp},
                 {"ep", c.layout.ep},
                 {"replicas", r.replicas},
                 {"simulated_groups", r.groups}};
  j["layout"]["attention_dp"] = c.layout.attention_dp;  // docs/serving.md 9-10
  j["layout"]["instance_kv_tokens"] = r.instance_kv_tokens;
  if (r.disagg) j["disaggregation"] = disagg_json(*r.disagg);
  j["engine"] = {{"stack", c.stack.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.stack)},
                 {"admission", c.engine.guaranteed_admission ? "guaranteed" : "greedy"},
                 {"batching", to_string(c.engine.batching)},
                 {"max_num_seqs", c.engine.max_num_seqs},
                 {"max_num_batched_tokens", c.engine.max_num_batched_tokens},
                 {"block_size", c.engine.block_size},
                 {"mem_fraction", c.engine.mem_fraction},
                 {"chunked_prefill", c.engine.chunked_prefill},
                 {"cuda_graphs", c.engine.cuda_graphs},
                 {"precision", to_string(c.precision)},
                 {"expert_precision", to_string(c.expert_precision.value_or(c.precision))},
                 {"kv_dtype", to_string(c.kv_dtype)},
                 {"speculative", to_string(c.spec.method)},
                 {"spec_len", c.spec.k},
                 {"spec_accept", c.spec.accept}};
  j["requests"] = {{"kind", to_string(spec.kind)},
                   {"count", r.requests},
                   {"input_tokens", r.input_tokens},
                   {"output_tokens", r.output_tokens},
                   {"seed", spec.seed}};
  if (spec.kind == ArrivalKind::kConcurrency) j["requests"]["concurrency"] = spec.concurrency;
  if (spec.kind == ArrivalKind::kPoisson) j["requests"]["rate"] = spec.rate;
  const ServeMemory& m = r.memory;
  j["memory"] = {{"hbm_per_rank_bytes", m.hbm.value()},
                 {"weights_per_rank_bytes", m.weights.value()},
                 {"workspace_per_rank_bytes", m.workspace.value()},
                 {"kv_capacity_per_rank_bytes", m.kv_capacity.value()},
                 {"kv_bytes_per_token_per_rank", m.kv_bytes_per_token.value()},
                 {"kv_blocks", m.kv_blocks},
                 {"kv_tokens", m.kv_tokens},
                 {"peak_kv_fraction", r.peak_kv_fraction}};
  if (!r.servable) return j;
  j["throughput"] = {{"output_tokens_per_s", r.output_tokens_per_s},
                     {"output_tokens_per_s_per_chip", r.output_tokens_per_s_per_chip},
                     {"total_tokens_per_s", r.total_tokens_per_s},
                     {"requests_per_s", r.requests_per_s}};
  j["ttft_s"] = stats_json(r.ttft);
  j["tpot_s"] = stats_json(r.tpot);
  j["latency_s"] = stats_json(r.latency);
  const ServeEnergy e = serve_energy(c, r);
  const bool powered = c.system.chip.tdp.value() > 0;
  auto or_null = [](bool known, double v) { return known ? nlohmann::json(v) : nlohmann::json(nullptr); };
  j["energy"] = {{"joules_per_output_token", or_null(powered, e.joules_per_output_token)},
                 {"kwh_per_million_output_tokens", or_null(powered, e.kwh_per_million_output_tokens)},
                 {"avg_power_w_per_chip", or_null(powered, e.avg_power_w_per_chip)},
                 {"compute_busy", e.compute_busy},
                 {"memory_busy", e.memory_busy},
                 {"busy", e.busy}};
  // IT (chips + hosts + network) and facility (IT x PUE) energy per output token (docs/energy.md).
  const PowerPerChip p = power_per_chip(c.system, Watts(e.avg_power_w_per_chip));
  const double per_token = e.avg_power_w_per_chip > 0 ? e.joules_per_output_token / e.avg_power_w_per_chip : 0.0;
  j["energy"]["host_power_w_per_chip"] = p.host_w;
  j["energy"]["network_power_w_per_chip"] = p.network_w;
  j["energy"]["it_power_w_per_chip"] = or_null(powered, p.it_w);
  j["energy"]["pue"] = p.pue;
  j["energy"]["facility_power_w_per_chip"] = or_null(powered, p.facility_w);
  j["energy"]["facility_joules_per_output_token"] = or_null(powered, p.facility_w * per_token);
  j["energy"]["facility_kwh_per_million_output_tokens"] = or_null(powered, p.facility_w * per_token / 3.6);
  j["energy"]["output_tokens_per_facility_joule"] =
      or_null(powered && p.facility_w * per_token > 0, powered && p.facility_w * per_token > 0 ? 1.0 / (p.facility_w * per_token) : 0.0);
  j["cost"] = {{"usd_per_million_output_tokens", e.usd_per_million_output_tokens
                                                     ? nlohmann::json(*e.usd_per_million_output_tokens)
                                                     : nlohmann::json(nullptr)},
               {"usd_per_chip_hour", c.system.price_usd_per_chip_hour ? nlohmann::json(*c.system.price_usd_per_chip_hour)
                                                                      : nlohmann::json(nullptr)}};
  j["iterations"] = {{"count", r.iterations},
                     {"preemptions", r.preemptions},
                     {"mean_time_s", r.mean_iteration_s},
                     {"mean_batch_tokens", r.mean_batch_tokens},
                     {"mean_decode_seqs", r.mean_decode_seqs},
                     {"batch1_decode_s", r.batch1_decode_s},
                     {"duration_s", r.duration_s}};
  if (slo.ttft_s || slo.tpot_s) {
    nlohmann::json s;
    if (slo.ttft_s) s["ttft_s"] = *slo.ttft_s;
    if (slo.tpot_s) s["tpot_s"] = *slo.tpot_s;
    s["percentile"] = slo.percentile;
    s["fraction_within"] = r.slo_fraction;
    if (r.slo_searched) s["max_rate_per_s"] = r.slo_rate.value_or(0.0);
    j["slo"] = s;
  }
  return j;
}

std::string serve_table(const ServeConfig& c, const RequestSpec& spec, const SloSpec& slo, const ServeResult& r) {
  std::string out;
  out += fmt::format("Serving {} on {} x {} (tp {}, pp {}, ep {}; {} replicas of {} chips)\n", c.model.name,
                     c.system.total_chips(), c.system.name, c.layout.tp, c.layout.pp, c.layout.ep, r.replicas,
                     r.chips_per_replica);
  out += fmt::format("Engine: {}; {} batching, {} sequences, {} tokens per iteration, {} admission, KV {} in blocks of {}{}\n",
                     c.stack.empty() ? "no stack named" : "stack " + c.stack, to_string(c.engine.batching),
                     c.engine.max_num_seqs, c.engine.max_num_batched_tokens,
                     c.engine.guaranteed_admission ? "guaranteed" : "greedy",
                     to_string(c.kv_dtype), c.engine.block_size, c.engine.chunked_prefill ? ", chunked prefill" : "");
  if (c.expert_precision && *c.expert_precision != c.precision) {
    out += fmt::format("Weights: {}, routed experts {} (their GEMMs at the {} rate)\n", to_string(c.precision),
                       to_string(*c.expert_precision), to_string(c.precision));
  }
  out += fmt::format("Requests: {}; input {} tokens, output {} tokens\n", requests_text(spec), length_text(spec.input),
                     length_text(spec.output));
  const ServeMemory& m = r.memory;
  out += fmt::format("Memory per rank: HBM {:.1f} GB, weights {:.1f} GB, workspace {:.1f} GB, KV {:.1f} GB = {} "
                     "tokens ({} blocks of {})\n",
                     m.hbm.value() / 1e9, m.weights.value() / 1e9, m.workspace.value() / 1e9,
                     m.kv_capacity.value() / 1e9, m.kv_tokens, m.kv_blocks, c.engine.block_size);
  if (!r.servable) return out + r.reason + "\n";
  out += "\n";
  out += fmt::format("{:<28}{:>14}\n", "Throughput", "");
  out += fmt::format("  {:<26}{:>14.1f}\n", "output tokens/s", r.output_tokens_per_s);
  out += fmt::format("  {:<26}{:>14.1f}\n", "output tokens/s per chip", r.output_tokens_per_s_per_chip);
  out += fmt::format("  {:<26}{:>14.1f}\n", "total tokens/s", r.total_tokens_per_s);
  out += fmt::format("  {:<26}{:>14.3f}\n", "requests/s", r.requests_per_s);
  out += fmt::format("\n{:<14}{:>12}{:>12}{:>12}{:>12}\n", "Latency", "mean", "p50", "p90", "p99");
  for (const auto& [name, s] : {std::pair{"TTFT", r.ttft}, std::pair{"TPOT", r.tpot}, std::pair{"end-to-end", r.latency}}) {
    out += fmt::format("  {:<12}{:>12}{:>12}{:>12}{:>12}\n", name, ms(s.mean), ms(s.p50), ms(s.p90), ms(s.p99));
  }
  const ServeEnergy e = serve_energy(c, r);
  if (c.system.chip.tdp.value() > 0) {
    out += fmt::format("\nEnergy: {:.3f} J per output token, {:.2f} kWh per million; {:.0f} W per chip (compute busy "
                       "{:.0f}%, memory busy {:.0f}%, iterating {:.0f}% of the time)\n",
                       e.joules_per_output_token, e.kwh_per_million_output_tokens, e.avg_power_w_per_chip,
                       100 * e.compute_busy, 100 * e.memory_busy, 100 * e.busy);
    const PowerPerChip p = power_per_chip(c.system, Watts(e.avg_power_w_per_chip));
    if (p.facility_w > p.chip_w && e.avg_power_w_per_chip > 0) {
      const double j_per_token = e.joules_per_output_token * p.facility_w / p.chip_w;
      out += fmt::format("Facility: {:.3f} J per output token, {:.2f} kWh per million ({:.0f} W per chip with host "
                         "and network, x PUE {:.2f})\n",
                         j_per_token, j_per_token / 3.6, p.facility_w, p.pue);
    }
  } else {
    out += "\nEnergy: - (the chip preset has no tdp)\n";
  }
  out += fmt::format("Cost: {} per million output tokens{}\n",
                     e.usd_per_million_output_tokens ? fmt::format("${:.2f}", *e.usd_per_million_output_tokens) : "-",
                     c.system.price_usd_per_chip_hour
                         ? fmt::format(" (${:.2f} per chip-hour)", *c.system.price_usd_per_chip_hour)
                         : " (the system preset has no price_usd_per_chip_hour)");
  out += fmt::format("\nIterations: {} (mean {}, {:.0f} tokens, {:.1f} decoding sequences); {} preemptions; peak KV "
                     "use {:.0f}%; batch-1 decode step {}\n",
                     r.iterations, ms(r.mean_iteration_s), r.mean_batch_tokens, r.mean_decode_seqs, r.preemptions,
                     100 * r.peak_kv_fraction, ms(r.batch1_decode_s));
  if (slo.ttft_s || slo.tpot_s) {
    std::string limits;
    if (slo.ttft_s) limits += fmt::format("TTFT <= {}", ms(*slo.ttft_s));
    if (slo.tpot_s) limits += fmt::format("{}TPOT <= {}", limits.empty() ? "" : ", ", ms(*slo.tpot_s));
    out += fmt::format("SLO ({}): {:.1f}% of requests within\n", limits, 100 * r.slo_fraction);
    if (r.slo_searched) {
      if (r.slo_rate.value_or(0) > 0) {
        out += fmt::format("Highest Poisson rate meeting p{:g}: {:.3f} requests/s (metrics above are at that rate)\n",
                           slo.percentile, *r.slo_rate);
      } else {
        out += fmt::format("No rate meets the limits at p{:g} (metrics above are at the lowest rate tried)\n",
                           slo.percentile);
      }
    }
  }
  if (r.disagg && r.servable) out += fmt::format("\n{}", disagg_table(*r.disagg));  // docs/serving.md 9
  out += fmt::format("\n{} symmetric group(s) (replicas x pipeline virtual engines), simulated by one representative "
                     "per distinct load.\n",
                     r.groups);
  return out;
}

}  // namespace tahoma
