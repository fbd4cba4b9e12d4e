#include "serve_search_command.h"

#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <stdexcept>
#include <vector>

#include "tahoma/error.h"
#include "tahoma/serve.h"
#include "tahoma/stack.h"

namespace tahoma::cli {

// Requests each candidate is simulated with by default: enough for a steady queue at the SLO rate,
// few enough that a search of a few hundred layouts takes seconds (docs/serving.md 11).
constexpr long long kDefaultSearchRequests = 500;
// The training search reports 5 layouts by default; a serving search reports 10 (issue 15 item 9).
constexpr int kDefaultServeTop = 10;

struct ServeSearchCommand::Options {
  bool serve = false;
  int input_len = 1000, output_len = 1000;
  long long requests = kDefaultSearchRequests;
  long long seed = 0;
  std::optional<std::string> slo_ttft, slo_tpot, kv_dtype;
  double percentile = 99;
  bool disagg = false;
  std::vector<int> max_batch{64, 256, 1024};
  int max_candidates = 512;
};

namespace {

// "2s", "200 ms", or a bare number of seconds.
double seconds_flag(const std::string& text, const char* flag) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') {
    try {
      v = parse_quantity(text, Dimension::kSeconds);
    } catch (const std::invalid_argument& e) {
      throw InputError(flag, "", e.what());
    }
  }
  if (!(std::isfinite(v) && v > 0 && v <= 1e6)) throw InputError(flag, "", fmt::format("{} is outside (0, 1e6] s", text));
  return v;
}

Precision precision_flag(const std::string& text, const char* flag) {
  const auto p = parse_precision(text);
  if (!p) throw InputError(flag, "", fmt::format("'{}' is not bf16, fp16, fp8 or fp4", text));
  return *p;
}

// The serving stack named by --stack, else the system family's serving default (as tahoma serve).
Stack serving_stack_for(const std::optional<std::string>& name, const System& system) {
  const std::optional<std::string> chosen = name ? name : default_serving_stack(system);
  if (!chosen) {
    throw InputError("--stack", "", fmt::format("system {} (family '{}') has no default serving stack; name one",
                                                system.name, system.family));
  }
  Stack s;
  try {
    s = load_stack(*chosen);
  } catch (const InputError& e) {
    if (e.where() != "stack") throw;
    throw InputError("--stack", "", e.problem());
  }
  if (s.kind != StackKind::kServing) {
    throw InputError("--stack", "", fmt::format("'{}' is a {} stack; search --serve needs a serving stack", *chosen,
                                                to_string(s.kind)));
  }
  return s;
}

}  // namespace

ServeSearchCommand::ServeSearchCommand(CLI::App* search) : search_(search), o_(std::make_shared<Options>()) {
  Options& o = *o_;
  auto* c = search;
  c->add_flag("--serve", o.serve,
              "rank LLM serving layouts (TP x PP x EP x attention-DP [x prefill/decode split] x max batch) by output "
              "tokens/s per chip, offline or at the SLO (docs/serving.md 11)");
  c->add_option("--input-len", o.input_len, "--serve: prompt tokens per request");
  c->add_option("--output-len", o.output_len, "--serve: generated tokens per request");
  c->add_option("--requests", o.requests, "--serve: requests simulated per layout (default 500)");
  c->add_option("--seed", o.seed, "--serve: seed of the arrival draws");
  c->add_option("--slo-ttft", o.slo_ttft, "--serve: TTFT limit, e.g. 2s (with --slo-tpot: rank at the SLO rate)");
  c->add_option("--slo-tpot", o.slo_tpot, "--serve: TPOT limit, e.g. 50ms");
  c->add_option("--percentile", o.percentile, "--serve: percentile the limits apply to (default 99)");
  c->add_flag("--disagg", o.disagg, "--serve: also split the chips into prefill and decode pools");
  c->add_option("--max-batch", o.max_batch, "--serve: max_num_seqs values tried, comma-separated (default 64,256,1024)")
      ->delimiter(',');
  c->add_option("--kv-dtype", o.kv_dtype, "--serve: KV cache dtype (default: the stack's rule, as tahoma serve)");
  c->add_option("--max-candidates", o.max_candidates, "--serve: most layouts simulated (default 512)");
}

bool ServeSearchCommand::enabled() const { return o_->serve; }

std::string ServeSearchCommand::run(const ScenarioInput& in, const SearchOptions& search, const std::string& format,
                                    ProgressFn progress) const {
  const Options& o = *o_;
  if (in.file) throw InputError("--serve", "", "a scenario file describes training; give --system, --chips and --model");
  if (!in.system) throw InputError("--system", "", "search --serve needs --system");
  if (!in.model) throw InputError("--model", "", "search --serve needs --model");
  ServeConfig base;
  base.system = load_system(*in.system, in.overrides);
  if (in.chips) {
    if (*in.chips < 1 || *in.chips > kMaxChips) {
      throw InputError("--chips", "", fmt::format("{} is not a number of chips in [1, {}]", *in.chips, kMaxChips));
    }
    base.system.chips = *in.chips;
  }
  base.model = load_model(*in.model);
  base.precision = in.precision ? precision_flag(*in.precision, "--precision") : Precision::kBf16;
  const Stack stack = serving_stack_for(in.stack, base.system);
  base.stack = stack.name;
  base.engine = serve_engine_from(stack.serving);
  base.kv_dtype = o.kv_dtype ? precision_flag(*o.kv_dtype, "--kv-dtype") : default_kv_dtype(stack.serving, base.precision);

  ServeSearchOptions so;
  so.requests.kind = ArrivalKind::kOffline;
  so.requests.count = o.requests;
  so.requests.count_given = true;
  so.requests.input = {LengthDistKind::kFixed, o.input_len, 0};
  so.requests.output = {LengthDistKind::kFixed, o.output_len, 0};
  if (o.seed < 0) throw InputError("--seed", "", "must be >= 0");
  so.requests.seed = static_cast<std::uint64_t>(o.seed);
  if (o.slo_ttft) so.slo.ttft_s = seconds_flag(*o.slo_ttft, "--slo-ttft");
  if (o.slo_tpot) so.slo.tpot_s = seconds_flag(*o.slo_tpot, "--slo-tpot");
  if (!(o.percentile > 0 && o.percentile <= 100)) throw InputError("--percentile", "", "must be in (0, 100]");
  so.slo.percentile = o.percentile;
  so.disagg = o.disagg;
  for (int b : o.max_batch)
    if (b < 1 || b > 1'000'000) throw InputError("--max-batch", "", fmt::format("{} is outside [1, 1000000]", b));
  so.max_batch = o.max_batch;
  if (o.max_candidates < 1 || o.max_candidates > 100'000) {
    throw InputError("--max-candidates", "", fmt::format("{} is outside [1, 100000]", o.max_candidates));
  }
  so.max_candidates = o.max_candidates;
  so.tp = in.tp;
  so.pp = in.pp;
  so.ep = in.ep;
  so.top = search_->get_option("--top")->count() > 0 ? search.top : kDefaultServeTop;
  so.threads = search.threads;
  so.progress = std::move(progress);

  const ServeSearchReport report = search_serving(base, so);

  // The `tahoma serve` command that reproduces the winner, with the flags as given.
  std::string reproduce;
  if (!report.results.empty()) {
    reproduce = fmt::format("tahoma serve --system {} --chips {} --model {}", *in.system, base.system.total_chips(),
                            *in.model);
    if (in.stack) reproduce += fmt::format(" --stack {}", *in.stack);
    for (const auto& s : in.overrides) reproduce += fmt::format(" --set {}", s);
    if (in.precision) reproduce += fmt::format(" --precision {}", *in.precision);
    if (o.kv_dtype) reproduce += fmt::format(" --kv-dtype {}", *o.kv_dtype);
    reproduce += fmt::format(" --input-len {} --output-len {} --requests {}", o.input_len, o.output_len, o.requests);
    if (o.seed != 0) reproduce += fmt::format(" --seed {}", o.seed);
    reproduce += " " + serve_layout_flags(report.results.front().config);
    if (so.slo.ttft_s || so.slo.tpot_s) {
      if (o.slo_ttft) reproduce += fmt::format(" --slo-ttft {}", *o.slo_ttft);
      if (o.slo_tpot) reproduce += fmt::format(" --slo-tpot {}", *o.slo_tpot);
      reproduce += fmt::format(" --percentile {:g}", o.percentile);
    } else {
      reproduce += " --offline";
    }
  }
  if (format == "json") {
    nlohmann::json j = serve_search_json(so, report, reproduce);
    j["system"] = base.system.name;
    j["chips"] = base.system.total_chips();
    j["model"] = base.model.name;
    j["stack"] = base.stack;
    return j.dump(2) + "\n";
  }
  return fmt::format("{} on {} x {}, stack {}, input {} / output {} tokens, {} requests per layout\n", base.model.name,
                     base.system.total_chips(), base.system.name, base.stack, o.input_len, o.output_len, o.requests) +
         serve_search_table(so, report, reproduce);
}

}  // namespace tahoma::cli
