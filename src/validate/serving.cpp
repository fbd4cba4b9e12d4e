// `tahoma validate` on a serving CSV (validation/README.md, "Inference"): each simulable row is a
// serving run of its model instance on its system with its stack's scheduler defaults, its
// request pattern from `scenario`, and the measured output tokens/s per chip, TTFT and TPOT
// compared. No rule reads `notes`, `source`, `derivation` or `dataset` text; every setting the row
// does not fix is a typed assumption with its rule.
#include "tahoma/serve_validate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "tahoma/error.h"
#include "tahoma/serve.h"
#include "tahoma/stack.h"
#include "validate_rows.h"

namespace tahoma {
namespace {

using validate_rows::cell;
using validate_rows::int_cell;
using validate_rows::number_cell;
using validate_rows::Row;
using validate_rows::RowSkip;

// Requests per offline run: enough that the drain tail (the last batch finishing alone) is a small
// share of the run. trtllm-bench's perf-overview datasets hold 3,000 requests for 1000/1000 tokens
// (TensorRT-LLM docs/source/performance/perf-overview.md); the same count is used for every row.
constexpr long long kOfflineRequests = 3000;
// Closed-loop runs: vLLM bench serve's usual --num-prompts is 10 x --max-concurrency (InferenceX
// and the vLLM docs' examples); at least 50 so percentiles are defined, at most 3,000.
constexpr long long kRequestsPerClient = 10;
constexpr long long kMinClosedLoopRequests = 50;
// E: per-token acceptance of an EAGLE-style draft on chat prompts when the row does not publish it;
// the mean accepted length of a chain of k proposals is (1 - a^(k+1)) / (1 - a) (Leviathan et al.
// 2023, "Fast Inference from Transformers via Speculative Decoding", Eq. 1).
constexpr double kAssumedAcceptance = 0.7;

void assume(ServingValidationRow& out, std::string field, std::string published, std::string used, std::string rule) {
  out.assumptions.push_back({std::move(field), std::move(published), std::move(used), std::move(rule)});
}

Precision precision_cell(const Row& row, const std::string& key, const std::string& where, Precision fallback) {
  const std::string text = cell(row, key);
  if (text.empty()) return fallback;
  const auto p = parse_precision(text);
  if (!p || (*p != Precision::kBf16 && *p != Precision::kFp8 && *p != Precision::kFp4 && *p != Precision::kFp16)) {
    throw InputError(where, key, fmt::format("'{}' is not a serving precision (column {}: bf16, fp16, fp8 or fp4)", text, key));
  }
  return *p;
}

// The `speculative` cell: "none", or "METHOD (draft, k=N)" with METHOD eagle*, mtp or draft.
Speculation speculation_cell(const Row& row, const std::string& where, ServingValidationRow& out) {
  Speculation spec;
  const std::string text = cell(row, "speculative");
  if (text.empty() || text == "none") return spec;
  const std::string method = text.substr(0, text.find_first_of(" ("));
  if (method.rfind("eagle", 0) == 0) {
    spec.method = SpecMethod::kEagle;
  } else if (method == "mtp") {
    spec.method = SpecMethod::kMtp;
  } else {
    throw RowSkip{fmt::format("speculative method '{}' is not modelled from a row (eagle, mtp)", method)};
  }
  const auto k_at = text.find("k=");
  if (k_at == std::string::npos) throw InputError(where, "speculative", fmt::format("'{}' gives no k=N", text));
  try {
    spec.k = std::stoi(text.substr(k_at + 2));
  } catch (const std::exception&) {
    throw InputError(where, "speculative", fmt::format("'{}': k= is not a number", text));
  }
  if (spec.k < 1 || spec.k > 64) throw InputError(where, "speculative", fmt::format("k={} is outside 1..64", spec.k));
  spec.accept = (1.0 - std::pow(kAssumedAcceptance, spec.k + 1)) / (1.0 - kAssumedAcceptance);
  assume(out, "spec_accept", "", fmt::format("{:.2f}", spec.accept),
         fmt::format("E: per-token acceptance {} over k={} (Leviathan et al. 2023, Eq. 1)", kAssumedAcceptance, spec.k));
  return spec;
}

// The lengths: the row's mean columns where it gives them (lengths drawn from a dataset or a
// range), else the nominal lengths; every request gets the same (the mean's throughput).
LengthDist length_cell(const Row& row, const char* nominal, const char* mean, const std::string& where,
                       ServingValidationRow& out) {
  LengthDist d;
  const double m = number_cell(row, mean, where);
  const auto n = int_cell(row, nominal, where);
  if (m >= 1) {
    d.mean = static_cast<int>(std::lround(std::min(m, 1e7)));
    assume(out, nominal, n ? std::to_string(*n) : "", std::to_string(d.mean),
           fmt::format("every request at the row's {} (fixed lengths)", mean));
  } else if (n && *n >= 1) {
    d.mean = *n;
  } else {
    throw RowSkip{fmt::format("no {} or {} (the request lengths are not published)", nominal, mean)};
  }
  return d;
}

struct RowRun {
  ServeConfig config;
  RequestSpec spec;
  SloSpec slo;
  ServingStack stack;  // the row's stack, for the limits of a layout tried later (attention DP)
};

// An engine that does not chunk prompts is configured so one whole prompt of `input` tokens per
// scheduler (`prompts` of them: one, or one per attention-DP rank) fits an iteration beside a full
// batch of decodes (TensorRT-LLM requires max_num_tokens >= the longest input without chunked
// context; a budget of exactly one prompt would admit it only into an empty batch). Raises the
// budget (at most 2^24 tokens) and says whether it changed.
bool fit_whole_prompts(ServeEngine& e, int input, int prompts) {
  const long long budget = static_cast<long long>(prompts) * input + e.max_num_seqs;
  if (e.max_num_batched_tokens >= budget) return false;
  e.max_num_batched_tokens = static_cast<int>(std::min<long long>(budget, 1 << 24));
  return true;
}

// An offline row on a stack whose offline benchmark sizes its own batch limits (trtllm-bench) runs
// with those limits, for the row's layout (attention DP included).
void offline_limits(ServeConfig& c, const ServingStack& stack, const RequestSpec& s, ServingValidationRow& out) {
  const auto l = offline_batch_limits(stack, c, s);
  if (!l) return;
  c.engine.max_num_seqs = l->max_num_seqs;
  c.engine.max_num_batched_tokens = l->max_num_batched_tokens;
  assume(out, "max_num_seqs", "", std::to_string(l->max_num_seqs),
         std::string("offline on ") + to_string(stack.offline_limits) + ": the requests its KV estimate holds, rounded up");
  assume(out, "max_num_batched_tokens", "", std::to_string(l->max_num_batched_tokens),
         "offline on trtllm-bench: those requests' prompt and decode tokens, rounded up");
}

RowRun row_run(const Row& row, const std::string& where, ServingValidationRow& out) {
  RowRun run;
  ServeConfig& c = run.config;
  // System, with the row's overrides, and the chips of the measurement.
  out.system = cell(row, "system");
  if (out.system.empty()) throw RowSkip{"no system preset"};
  std::vector<std::string> sets = validate_rows::system_overrides(cell(row, "system_overrides"), where);
  // The devices per chip the framework saw (Trn2 at LNC=2: 4; Ironwood: 2), as the training rows.
  if (const auto rpc = int_cell(row, "ranks_per_chip", where)) sets.push_back(fmt::format("chip.ranks_per_chip={}", *rpc));
  c.system = load_system(out.system, sets);
  out.family = c.system.family;
  const auto chips = int_cell(row, "chips", where);
  if (!chips || *chips < 1 || *chips > kMaxChips) throw InputError(where, "chips", "missing or out of range");
  c.system.chips = *chips;
  out.chips = *chips;
  // Model.
  c.model = validate_rows::row_model(row, where);
  if (const auto why = validate_rows::apply_arch_overrides(c.model, cell(row, "arch_overrides"), where)) throw RowSkip{*why};
  // One instance's layout; the replicas fill the chips (validation/README.md).
  c.layout.tp = int_cell(row, "tp", where).value_or(1);
  c.layout.pp = int_cell(row, "pp", where).value_or(1);
  c.layout.ep = int_cell(row, "ep", where).value_or(1);
  if (c.layout.tp < 1 || c.layout.pp < 1 || c.layout.ep < 1) throw InputError(where, "tp", "parallel degrees are at least 1");
  if (!int_cell(row, "tp", where)) assume(out, "tp", "", "1", "not published: one rank per instance");
  const long long ranks = static_cast<long long>(*chips) * c.system.chip.ranks_per_chip;
  const long long per_instance = static_cast<long long>(c.layout.tp) * c.layout.pp;
  if (per_instance > ranks || ranks % per_instance != 0) {
    throw RowSkip{fmt::format("tp x pp = {} does not divide the {} ranks of {} chips", per_instance, ranks, *chips)};
  }
  c.layout.replicas = static_cast<int>(ranks / per_instance);
  // Precision and KV cache.
  c.precision = precision_cell(row, "precision", where, Precision::kBf16);
  c.spec = speculation_cell(row, where, out);
  // Stack from the framework column.
  const std::string framework = cell(row, "framework");
  out.framework = framework;
  const auto match = stack_for_framework(framework, "", out.system);
  if (!match) throw RowSkip{fmt::format("no serving stack preset for framework '{}'", framework)};
  Stack stack;
  try {
    stack = load_stack(match->stack);
  } catch (const InputError& e) {
    throw InputError(where, "framework", e.what());
  }
  if (stack.kind != StackKind::kServing) {
    throw RowSkip{fmt::format("framework '{}' maps to training stack '{}'", framework, stack.name)};
  }
  out.stack = stack.name;
  run.stack = stack.serving;
  assume(out, "stack", framework, stack.name, "data/frameworks.yaml: " + match->rule);
  c.engine = serve_engine_from(stack.serving);
  // KV cache: the row's, else the stack's rule for quantized checkpoints, else the activations' bf16.
  const bool quantized = c.precision == Precision::kFp8 || c.precision == Precision::kFp4;
  const Precision kv_default = quantized && stack.serving.quantized_kv_cache ? Precision::kFp8 : Precision::kBf16;
  c.kv_dtype = precision_cell(row, "kv_cache_dtype", where, kv_default);
  if (cell(row, "kv_cache_dtype").empty()) {
    assume(out, "kv_cache_dtype", "", to_string(kv_default),
           kv_default == Precision::kFp8 ? "stack " + stack.name + ": quantized checkpoints carry an fp8 KV scheme"
                                         : "not stated: the activation dtype");
  }
  // Requests from the scenario.
  RequestSpec& s = run.spec;
  out.scenario = cell(row, "scenario");
  s.input = length_cell(row, "input_len", "mean_input_len", where, out);
  s.output = length_cell(row, "output_len", "mean_output_len", where, out);
  c.model.max_seq = std::max(c.model.max_seq, s.input.mean + s.output.mean + 1);
  const int concurrency = int_cell(row, "concurrency", where).value_or(0);
  if (out.scenario == "offline_max_throughput") {
    s.kind = ArrivalKind::kOffline;
    s.count = kOfflineRequests;
    assume(out, "requests", "", std::to_string(s.count), "offline: trtllm-bench perf-overview dataset size");
    offline_limits(c, stack.serving, s, out);
  } else if (out.scenario == "fixed_concurrency" || out.scenario == "single_stream") {
    s.kind = ArrivalKind::kConcurrency;
    s.concurrency = out.scenario == "single_stream" ? 1 : concurrency;
    if (s.concurrency < 1) throw InputError(where, "concurrency", "a fixed_concurrency row needs concurrency >= 1");
    // The clients spread over the replicas (round-robin), so each replica keeps its share in flight.
    s.count = std::clamp(kRequestsPerClient * s.concurrency, kMinClosedLoopRequests, kOfflineRequests);
    assume(out, "requests", "", std::to_string(s.count), "closed loop: 10 per client (vLLM bench serve), 50 to 3000");
    // A compiled static batch (Neuron, JetStream) is sized to the published concurrency.
    if (stack.name == "nxd-inference" || stack.name == "transformers-neuronx" || stack.name == "jetstream") {
      const int per_replica = static_cast<int>((s.concurrency + c.layout.replicas - 1) / c.layout.replicas);
      c.engine.max_num_seqs = std::max(1, per_replica);
      assume(out, "max_num_seqs", "", std::to_string(c.engine.max_num_seqs),
             "compiled static batch = the row's concurrency per instance");
    }
  } else {
    throw RowSkip{fmt::format("scenario '{}' is not validated yet (offline_max_throughput, fixed_concurrency, "
                              "single_stream)",
                              out.scenario)};
  }
  if (!c.engine.chunked_prefill && fit_whole_prompts(c.engine, s.input.mean, 1)) {
    assume(out, "max_num_batched_tokens", "", std::to_string(c.engine.max_num_batched_tokens),
           "no chunked prefill: one whole prompt beside a full batch of decodes");
  }
  s.seed = 1;
  return run;
}

// Whether an MoE instance may run attention data-parallel (docs/serving.md 10): the experts over
// ep = tp ranks, one pipeline stage, no speculation (the layouts `tahoma serve --attention-dp` takes).
bool attention_dp_possible(const ServeConfig& c) {
  return c.model.is_moe() && c.layout.tp > 1 && c.layout.ep == c.layout.tp && c.layout.pp == 1 &&
         c.spec.method == SpecMethod::kNone;
}

// Runs the row. The file has no attention-DP column, so where the instance could run attention
// data-parallel that setting is searched like every unpublished layout field of the training rows
// (issue 14 item 3): both are simulated and the one with the higher output tokens/s kept (a
// published recipe is tuned for its scenario), reported as an assumption.
ServeResult simulate_row(RowRun& run, ServingValidationRow& out) {
  ServeResult best = simulate_serving(run.config, run.spec, run.slo);
  if (!attention_dp_possible(run.config)) return best;
  const int budget_off = run.config.engine.max_num_batched_tokens;
  const int seqs_off = run.config.engine.max_num_seqs;
  ServeConfig adp = run.config;
  adp.layout.attention_dp = true;
  // An offline benchmark that sizes its limits sizes them for this layout (per DP rank).
  if (const auto l = offline_batch_limits(run.stack, adp, run.spec)) {
    adp.engine.max_num_seqs = l->max_num_seqs;
    adp.engine.max_num_batched_tokens = l->max_num_batched_tokens;
  }
  // Each attention-DP rank schedules its own requests, under its share of the budget where the
  // stack divides it, so the whole-prompt rule holds per rank.
  const int schedulers = adp.engine.attention_dp_limits_per_rank ? 1 : adp.layout.tp;
  if (!adp.engine.chunked_prefill) fit_whole_prompts(adp.engine, run.spec.input.mean, schedulers);
  ServeResult with_adp = simulate_serving(adp, run.spec, run.slo);
  const bool better = with_adp.servable && (!best.servable || with_adp.output_tokens_per_s > best.output_tokens_per_s);
  if (better) {
    run.config = adp;
    best = std::move(with_adp);
  }
  assume(out, "attention_dp", "", better ? "on" : "off",
         "not published: searched, the faster of attention data-parallel on and off");
  if (better && adp.engine.max_num_seqs != seqs_off) {
    assume(out, "max_num_seqs", "", std::to_string(adp.engine.max_num_seqs), "the offline limits of the attention-DP layout");
  }
  if (better && adp.engine.max_num_batched_tokens != budget_off) {
    assume(out, "max_num_batched_tokens", "", std::to_string(adp.engine.max_num_batched_tokens),
           "the attention-DP layout's: its offline limits, or one whole prompt per scheduler beside a full batch");
  }
  return best;
}

// The column a serving setting comes from, for a setting the engine refuses (`tahoma serve`'s checks
// name its flags): the row's cell, or the cell its rule derived the setting from.
std::string column_of_flag(const std::string& flag) {
  static const std::map<std::string, std::string> kColumns{
      {"--concurrency", "concurrency"}, {"--max-batch", "concurrency"},   {"--max-tokens", "input_len"},
      {"--requests", "scenario"},       {"--tp", "tp"},                   {"--pp", "pp"},
      {"--ep", "ep"},                   {"--replicas", "tp"},             {"--chips", "chips"},
      {"--kv-dtype", "kv_cache_dtype"}, {"--precision", "precision"},     {"--spec-len", "speculative"},
      {"--spec-accept", "speculative"}, {"--speculative", "speculative"},
  };
  const auto it = kColumns.find(flag);
  return it != kColumns.end() ? it->second : flag;
}

// simulate_row, with a setting the serving engine refuses reported as this row's error: its file and
// line, the column the setting came from and what is wrong (the engine's message names a flag the
// row never had).
ServeResult simulate_row_named(RowRun& run, ServingValidationRow& out, const std::string& where) {
  try {
    return simulate_row(run, out);
  } catch (const InputError& e) {
    if (e.where().rfind("--", 0) != 0) throw;
    throw InputError(where, column_of_flag(e.where()),
                     fmt::format("the serving setting the row gives {}: {}", e.where(), e.problem()));
  }
}

double error_pct(double predicted, double measured) {
  return measured > 0 ? (predicted - measured) / measured * 100.0 : 0.0;
}

ServingSummary summarize_rows(const std::vector<const ServingValidationRow*>& rows) {
  ServingSummary s;
  double tput = 0, ttft = 0, tpot = 0;
  for (const auto* r : rows) {
    if (!r->simulated) {
      ++s.skipped;
      continue;
    }
    ++s.simulated;
    tput += std::abs(r->throughput_error_pct);
    if (r->measured_ttft_s > 0) {
      ttft += std::abs(r->ttft_error_pct);
      ++s.ttft_rows;
    }
    if (r->measured_tpot_s > 0) {
      tpot += std::abs(r->tpot_error_pct);
      ++s.tpot_rows;
    }
  }
  if (s.simulated > 0) s.throughput_mape_pct = tput / s.simulated;
  if (s.ttft_rows > 0) s.ttft_mape_pct = ttft / s.ttft_rows;
  if (s.tpot_rows > 0) s.tpot_mape_pct = tpot / s.tpot_rows;
  return s;
}

template <class Key>
std::vector<ServingGroupSummary> grouped(const std::vector<ServingValidationRow>& rows, Key key) {
  std::map<std::string, std::vector<const ServingValidationRow*>> groups;
  for (const auto& r : rows) {
    if (r.simulated) groups[key(r)].push_back(&r);
  }
  std::vector<ServingGroupSummary> out;
  for (const auto& [name, members] : groups) out.push_back({name, summarize_rows(members)});
  return out;
}

}  // namespace

bool is_serving_csv(const CsvTable& table) {
  const auto has = [&](const char* col) {
    return std::find(table.header.begin(), table.header.end(), col) != table.header.end();
  };
  return has("scenario") && has("measured_output_tokens_per_s_per_chip");
}

ServingValidationReport validate_serving_file(const std::string& path, const ValidationFilter& filter) {
  return validate_serving_table(read_csv(path), path, filter);
}

ServingValidationReport validate_serving_table(const CsvTable& table, const std::string& path,
                                               const ValidationFilter& filter) {
  ServingValidationReport report;
  report.file = path;
  const auto rows = static_cast<long long>(table.rows.size());
  for (size_t idx = 0; idx < table.rows.size(); ++idx) {
    const Row& row = table.rows[idx];
    if (filter.progress) filter.progress(static_cast<long long>(idx), rows);
    const std::string where = fmt::format("{}:{}", path, table.lines[idx]);
    ServingValidationRow out;
    out.id = cell(row, "id");
    if (filter.only && *filter.only != out.id) continue;
    out.system = cell(row, "system");
    out.framework = cell(row, "framework");
    out.scenario = cell(row, "scenario");
    out.statistic = "p50";
    if (cell(row, "simulable") != "yes") {
      out.skip_reason = "marked simulable=no in the file";
      report.rows.push_back(out);
      continue;
    }
    try {
      RowRun run = row_run(row, where, out);
      if (filter.family && !validate_rows::family_matches(out.family, *filter.family)) continue;
      out.measured_tokens_per_s_per_chip = number_cell(row, "measured_output_tokens_per_s_per_chip", where);
      if (!(out.measured_tokens_per_s_per_chip > 0)) {
        throw InputError(where, "measured_output_tokens_per_s_per_chip", "a simulable row needs a measurement > 0");
      }
      out.measured_ttft_s = number_cell(row, "measured_ttft_ms", where) / 1e3;
      out.measured_tpot_s = number_cell(row, "measured_tpot_ms", where) / 1e3;
      const ServeResult r = simulate_row_named(run, out, where);
      out.layout = {{"tp", run.config.layout.tp},
                    {"pp", run.config.layout.pp},
                    {"ep", run.config.layout.ep},
                    {"attention_dp", run.config.layout.attention_dp},
                    {"replicas", r.replicas},
                    {"max_num_seqs", run.config.engine.max_num_seqs},
                    {"max_num_batched_tokens", run.config.engine.max_num_batched_tokens},
                    {"requests", run.spec.count},
                    {"concurrency", run.spec.concurrency}};
      if (!r.servable) {
        out.servable = false;
        out.skip_reason = r.reason;
        report.rows.push_back(out);
        continue;
      }
      out.simulated = true;
      out.predicted_tokens_per_s_per_chip = r.output_tokens_per_s_per_chip;
      out.throughput_error_pct = error_pct(out.predicted_tokens_per_s_per_chip, out.measured_tokens_per_s_per_chip);
      out.predicted_ttft_s = r.ttft.p50;
      out.predicted_tpot_s = r.tpot.p50;
      out.ttft_error_pct = error_pct(out.predicted_ttft_s, out.measured_ttft_s);
      out.tpot_error_pct = error_pct(out.predicted_tpot_s, out.measured_tpot_s);
    } catch (const RowSkip& skip) {
      out.skip_reason = skip.reason;
    }
    report.rows.push_back(out);
  }
  if (filter.progress) filter.progress(rows, rows);
  std::vector<const ServingValidationRow*> all;
  for (const auto& r : report.rows) all.push_back(&r);
  report.summary = summarize_rows(all);
  report.families = grouped(report.rows, [](const ServingValidationRow& r) { return r.family; });
  report.frameworks = grouped(report.rows, [](const ServingValidationRow& r) { return r.framework; });
  return report;
}

std::string serving_validation_table(const ServingValidationReport& report) {
  std::string out = fmt::format("{:<46} {:<12} {:>5} {:>10} {:>10} {:>8} {:>9} {:>9}  {}\n", "id", "system", "chips",
                                "pred tok/s", "meas tok/s", "error", "TTFT err", "TPOT err", "stack / assumptions");
  auto latency = [](double measured, double err) { return measured > 0 ? fmt::format("{:+.1f}%", err) : "-"; };
  for (const auto& r : report.rows) {
    if (!r.simulated) {
      out += fmt::format("{:<46} {:<12} {:>5} {:>10} {:>10} {:>8} {:>9} {:>9}  skipped: {}\n", r.id, r.system, r.chips,
                         "-", "-", "-", "-", "-", r.skip_reason);
      continue;
    }
    std::string notes = r.stack;
    for (const auto& a : r.assumptions) {
      if (a.field != "stack") notes += fmt::format("; {}={} [{}]", a.field, a.used, a.rule);
    }
    out += fmt::format("{:<46} {:<12} {:>5} {:>10.1f} {:>10.1f} {:>+7.1f}% {:>9} {:>9}  {}\n", r.id, r.system, r.chips,
                       r.predicted_tokens_per_s_per_chip, r.measured_tokens_per_s_per_chip, r.throughput_error_pct,
                       latency(r.measured_ttft_s, r.ttft_error_pct), latency(r.measured_tpot_s, r.tpot_error_pct), notes);
  }
  auto line = [](const std::string& name, const ServingSummary& s) {
    return fmt::format("  {:<24} {:>3} rows  throughput MAPE {:5.1f}%  TTFT MAPE {} ({} rows)  TPOT MAPE {} ({} rows)\n",
                       name, s.simulated, s.throughput_mape_pct,
                       s.ttft_rows ? fmt::format("{:5.1f}%", s.ttft_mape_pct) : std::string("    -"), s.ttft_rows,
                       s.tpot_rows ? fmt::format("{:5.1f}%", s.tpot_mape_pct) : std::string("    -"), s.tpot_rows);
  };
  out += "\nby hardware family (output tokens/s per chip; TTFT and TPOT at the row's p50):\n";
  for (const auto& g : report.families) out += line(g.name, g.summary);
  out += "\nby framework:\n";
  for (const auto& g : report.frameworks) out += line(g.name, g.summary);
  out += fmt::format(
      "\nsimulated {} rows, skipped {}: throughput MAPE {:.1f}%, TTFT MAPE {:.1f}% ({} rows), TPOT MAPE {:.1f}% ({} rows); "
      "no serving constant is calibrated, so the cross-validated error equals the in-sample error\n",
      report.summary.simulated, report.summary.skipped, report.summary.throughput_mape_pct, report.summary.ttft_mape_pct,
      report.summary.ttft_rows, report.summary.tpot_mape_pct, report.summary.tpot_rows);
  return out;
}

nlohmann::json serving_validation_json(const ServingValidationReport& report) {
  using nlohmann::json;
  json rows = json::array();
  for (const auto& r : report.rows) {
    json a = json::array();
    for (const auto& x : r.assumptions) {
      a.push_back({{"field", x.field}, {"published", x.published}, {"used", x.used}, {"rule", x.rule}});
    }
    json j = {{"id", r.id},           {"system", r.system},       {"family", r.family},
              {"framework", r.framework}, {"scenario", r.scenario}, {"stack", r.stack},
              {"chips", r.chips},     {"simulated", r.simulated}, {"assumptions", a}};
    if (!r.simulated) {
      j["skip_reason"] = r.skip_reason;
    } else {
      j["layout"] = r.layout;
      j["measured_output_tokens_per_s_per_chip"] = r.measured_tokens_per_s_per_chip;
      j["predicted_output_tokens_per_s_per_chip"] = r.predicted_tokens_per_s_per_chip;
      j["throughput_error_pct"] = r.throughput_error_pct;
      j["latency_statistic"] = r.statistic;
      j["predicted_ttft_s"] = r.predicted_ttft_s;
      j["predicted_tpot_s"] = r.predicted_tpot_s;
      if (r.measured_ttft_s > 0) {
        j["measured_ttft_s"] = r.measured_ttft_s;
        j["ttft_error_pct"] = r.ttft_error_pct;
      }
      if (r.measured_tpot_s > 0) {
        j["measured_tpot_s"] = r.measured_tpot_s;
        j["tpot_error_pct"] = r.tpot_error_pct;
      }
    }
    rows.push_back(j);
  }
  auto summary_json = [](const ServingSummary& s) {
    return json{{"simulated", s.simulated},
                {"skipped", s.skipped},
                {"throughput_mape_pct", s.throughput_mape_pct},
                {"ttft_mape_pct", s.ttft_mape_pct},
                {"ttft_rows", s.ttft_rows},
                {"tpot_mape_pct", s.tpot_mape_pct},
                {"tpot_rows", s.tpot_rows},
                // No serving constant is calibrated on the rows: leave-one-source-out changes nothing.
                {"cv_throughput_mape_pct", s.throughput_mape_pct}};
  };
  json families = json::object(), frameworks = json::object();
  for (const auto& g : report.families) families[g.name] = summary_json(g.summary);
  for (const auto& g : report.frameworks) frameworks[g.name] = summary_json(g.summary);
  return {{"file", report.file},
          {"kind", "serving"},
          {"rows", rows},
          {"summary", summary_json(report.summary)},
          {"families", families},
          {"frameworks", frameworks}};
}

std::string serving_validation_markdown(const ServingValidationReport& report, const std::string& command) {
  const ServingSummary& s = report.summary;
  std::string out = "# Validation against published serving results\n\n";
  out += fmt::format(
      "Generated by `{}`; do not edit by hand. The data set and its columns are described in "
      "[validation/README.md](../validation/README.md) (section \"Inference\"); how each row becomes a serving run is "
      "in [serving.md](serving.md).\n\n",
      command);
  out += fmt::format(
      "**{} rows simulated, {} skipped. Output tokens/s per chip: MAPE {:.1f}%. TTFT: MAPE {:.1f}% over the {} rows "
      "that publish it; TPOT: MAPE {:.1f}% over {} rows (p50, the statistic those sources publish).** No serving "
      "constant is fitted to these rows (the engines' defaults come from the stack presets, the hardware from the "
      "system presets and their training calibration), so the leave-one-source-out error equals the in-sample "
      "error.\n\n",
      s.simulated, s.skipped, s.throughput_mape_pct, s.ttft_mape_pct, s.ttft_rows, s.tpot_mape_pct, s.tpot_rows);
  auto table = [&](const char* title, const std::vector<ServingGroupSummary>& groups) {
    out += fmt::format("## By {}\n\n| {} | rows | throughput MAPE | TTFT MAPE (rows) | TPOT MAPE (rows) |\n"
                       "|---|---:|---:|---:|---:|\n",
                       title, title);
    for (const auto& g : groups) {
      const ServingSummary& x = g.summary;
      out += fmt::format("| {} | {} | {:.1f}% | {} | {} |\n", g.name, x.simulated, x.throughput_mape_pct,
                         x.ttft_rows ? fmt::format("{:.1f}% ({})", x.ttft_mape_pct, x.ttft_rows) : std::string("-"),
                         x.tpot_rows ? fmt::format("{:.1f}% ({})", x.tpot_mape_pct, x.tpot_rows) : std::string("-"));
    }
    out += "\n";
  };
  table("hardware family", report.families);
  table("framework", report.frameworks);
  out += "## Every row\n\nSettings the row does not publish are listed under *assumed* with the rule that chose them.\n\n"
         "| id | system | chips | scenario | stack | predicted tok/s/chip | measured | error | TTFT error | TPOT error | "
         "assumed |\n|---|---|---:|---|---|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : report.rows) {
    if (!r.simulated) {
      out += fmt::format("| {} | {} | {} | {} | {} | - | - | - | - | - | skipped: {} |\n", r.id, r.system, r.chips,
                         r.scenario, r.stack, r.skip_reason);
      continue;
    }
    std::string assumed;
    for (const auto& a : r.assumptions) {
      assumed += fmt::format("{}{}={} [{}]", assumed.empty() ? "" : "; ", a.field, a.used, a.rule);
    }
    auto pct = [](double measured, double err) { return measured > 0 ? fmt::format("{:+.1f}%", err) : std::string("-"); };
    out += fmt::format("| {} | {} | {} | {} | {} | {:.1f} | {:.1f} | {:+.1f}% | {} | {} | {} |\n", r.id, r.system,
                       r.chips, r.scenario, r.stack, r.predicted_tokens_per_s_per_chip, r.measured_tokens_per_s_per_chip,
                       r.throughput_error_pct, pct(r.measured_ttft_s, r.ttft_error_pct),
                       pct(r.measured_tpot_s, r.tpot_error_pct), assumed);
  }
  return out;
}

}  // namespace tahoma
