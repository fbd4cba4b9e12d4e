#include "serve_command.h"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>

#include "output.h"
#include "tahoma/error.h"
#include "tahoma/serve.h"
#include "tahoma/stack.h"

namespace tahoma::cli {

struct ServeCommand::Options {
  std::string system, model, draft_model, trace;
  std::optional<int> chips;
  std::vector<std::string> overrides;
  int input_len = 1000, output_len = 1000;
  std::string length_dist = "fixed";
  double length_spread = 0;
  bool offline = false;
  std::optional<long long> requests;
  std::optional<int> concurrency;
  std::optional<std::string> rate;
  ServeLayout layout;
  // Engine knobs: unset means the serving stack's value.
  std::optional<std::string> stack;
  std::optional<int> max_batch, max_tokens, block_size;
  std::optional<double> mem_fraction;
  std::optional<std::string> kv_dtype, cuda_graphs, chunked_prefill, admission, batching;
  std::string precision = "bf16";
  std::optional<std::string> expert_precision;
  std::string speculative = "none";
  int spec_len = 3;
  double spec_accept = 2.0;
  long long seed = 0;
  std::optional<std::string> slo_ttft, slo_tpot;
  std::optional<std::string> trace_out;
  double percentile = 99;
};

namespace {

// "2s", "200 ms", or a bare number of seconds.
double parse_time_flag(const std::string& text, const char* flag) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() && *end == '\0') {
    if (!std::isfinite(v) || v <= 0 || v > 1e6) throw InputError(flag, "", fmt::format("{} is outside (0, 1e6] s", text));
    return v;
  }
  try {
    const double s = parse_quantity(text, Dimension::kSeconds);
    if (!(s > 0 && s <= 1e6)) throw InputError(flag, "", fmt::format("{} is outside (0, 1e6] s", text));
    return s;
  } catch (const std::invalid_argument& e) {
    throw InputError(flag, "", e.what());
  }
}

// "10", "10/s" or "10 /s": requests per second.
double parse_rate(std::string text) {
  const auto slash = text.find("/s");
  if (slash != std::string::npos && slash + 2 == text.size()) text = text.substr(0, slash);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str() || *end != '\0') {
    throw InputError("--rate", "", fmt::format("'{}' is not a rate (expected e.g. 10 or 10/s requests per second)", text));
  }
  if (!std::isfinite(v) || v <= 0 || v > kMaxRate) {
    throw InputError("--rate", "", fmt::format("{} requests/s is outside (0, {:g}]", v, kMaxRate));
  }
  return v;
}

Precision precision_flag(const std::string& text, const char* flag) {
  const auto p = parse_precision(text);
  if (!p) throw InputError(flag, "", fmt::format("'{}' is not bf16, fp16, fp8 or fp4", text));
  return *p;
}

bool on_off(const std::string& text, const char* flag) {
  if (text == "on") return true;
  if (text == "off") return false;
  throw InputError(flag, "", fmt::format("'{}' is not on or off", text));
}

// The serving stack named by --stack, else the system family's serving default; a training stack
// or a family without a serving default is an error naming --stack.
Stack serving_stack(const std::optional<std::string>& name, const System& system) {
  std::string chosen;
  if (name) {
    chosen = *name;
  } else if (const auto d = default_serving_stack(system)) {
    chosen = *d;
  } else {
    throw InputError("--stack", "",
                     fmt::format("system {} (family '{}') has no default serving stack; name one (tahoma list stacks: "
                                 "vllm, tensorrt-llm, sglang, vllm-tpu, jetstream, nxd-inference)",
                                 system.name, system.family));
  }
  Stack s;
  try {
    s = load_stack(chosen);
  } catch (const InputError& e) {
    if (e.where() != "stack") throw;  // an error inside the stack's file names the file and key
    throw InputError("--stack", "", e.problem());
  }
  if (s.kind != StackKind::kServing) {
    throw InputError("--stack", "",
                     fmt::format("'{}' is a {} stack; serve needs a serving stack (kind: serving: vllm, "
                                 "tensorrt-llm, sglang, vllm-tpu, jetstream, nxd-inference)",
                                 chosen, to_string(s.kind)));
  }
  return s;
}

// The stack's engine with the flags the command line gives laid over it.
ServeEngine engine_with_flags(ServeEngine e, const ServeCommand::Options& o) {
  if (o.max_batch) e.max_num_seqs = *o.max_batch;
  if (o.max_tokens) e.max_num_batched_tokens = *o.max_tokens;
  if (o.block_size) e.block_size = *o.block_size;
  if (o.mem_fraction) e.mem_fraction = *o.mem_fraction;
  if (o.chunked_prefill) e.chunked_prefill = on_off(*o.chunked_prefill, "--chunked-prefill");
  if (o.cuda_graphs) e.cuda_graphs = on_off(*o.cuda_graphs, "--cuda-graphs");
  if (o.admission) {
    if (*o.admission != "greedy" && *o.admission != "guaranteed") {
      throw InputError("--admission", "", fmt::format("'{}' is not greedy or guaranteed", *o.admission));
    }
    e.guaranteed_admission = *o.admission == "guaranteed";
  }
  if (o.batching) {
    const auto b = parse_serving_batching(*o.batching);
    if (!b) throw InputError("--batching", "", fmt::format("'{}' is not continuous, static or alternating", *o.batching));
    e.batching = *b;
  }
  return e;
}

}  // namespace

namespace {
// ", vllm 1024": the vllm preset's value of a serving knob as `show stack` prints it (a switch as
// on or off), for the help text ("" when the preset cannot be read).
std::function<std::string(std::string_view)> vllm_hints() {
  std::optional<Stack> vllm;
  try {
    vllm = load_stack("vllm");
  } catch (const Error&) {
  }
  return [vllm](std::string_view key) -> std::string {
    if (!vllm) return "";
    for (const StackField& f : stack_fields())
      if (f.key == key) {
        if (f.kind == StackFieldKind::kBool) return std::get<bool>(f.get(*vllm)) ? ", vllm on" : ", vllm off";
        return ", vllm " + stack_value_text(f, *vllm);
      }
    return "";
  };
}
}  // namespace

ServeCommand::ServeCommand(CLI::App& app) : o_(std::make_shared<Options>()) {
  const auto hint = vllm_hints();
  cmd_ = app.add_subcommand(
      "serve",
      "simulate LLM inference serving: tahoma serve --system S --model M --input-len 1000 --output-len 1000 "
      "(--offline | --concurrency N | --rate R | --trace FILE)");
  Options& o = *o_;
  auto* c = cmd_;
  c->add_option("--system", o.system, "system preset name or YAML path (tahoma list systems)")->required();
  c->add_option("--chips", o.chips, "number of chips (default: one scale-up domain)");
  c->add_option("--model", o.model, "model preset name, YAML path or Hugging Face config.json")->required();
  c->add_option("--set", o.overrides, "override a system field, e.g. --set chip.hbm_capacity=288GB (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("--input-len", o.input_len, "prompt tokens per request (the mean when --length-dist is not fixed)");
  c->add_option("--output-len", o.output_len, "generated tokens per request (the mean likewise)");
  c->add_option("--length-dist", o.length_dist, "fixed, uniform, normal or lognormal (input and output lengths)")
      ->check(CLI::IsMember({"fixed", "uniform", "normal", "lognormal"}));
  c->add_option("--length-spread", o.length_spread,
                "uniform: half-width / mean; normal: stddev / mean; lognormal: sigma of ln(length)");
  auto* offline = c->add_flag("--offline", o.offline, "every request arrives at time 0 (MLPerf offline)");
  c->add_option("--requests", o.requests, "number of requests (default 1000; a trace: at most this many rows)");
  auto* conc = c->add_option("--concurrency", o.concurrency, "closed loop: this many clients, each sends on completion");
  auto* rate = c->add_option("--rate", o.rate, "Poisson arrivals, requests per second (e.g. 10 or 10/s)");
  auto* trace = c->add_option("--trace", o.trace,
                              "replay a CSV or JSONL trace (arrival_time,input_tokens,output_tokens or the Azure "
                              "TIMESTAMP,ContextTokens,GeneratedTokens)")
                    ->check(CLI::ExistingFile);
  offline->excludes(conc)->excludes(rate)->excludes(trace);
  conc->excludes(rate)->excludes(trace);
  rate->excludes(trace);
  c->add_option("--tp", o.layout.tp, "tensor-parallel ranks per replica");
  c->add_option("--pp", o.layout.pp, "pipeline stages per replica");
  c->add_option("--ep", o.layout.ep, "expert-parallel ranks inside the TP group (MoE)");
  c->add_option("--replicas", o.layout.replicas, "data-parallel replicas (default: as many as the chips hold)");
  // --- Disaggregated prefill/decode and attention data parallelism (docs/serving.md 9-10) ---
  c->add_flag("--attention-dp", o.layout.attention_dp,
              "MoE: attention data-parallel over the tp ranks (own requests and KV per rank), experts over ep = tp "
              "(SGLang --enable-dp-attention)");
  c->add_option("--prefill-chips", o.layout.prefill_chips,
                "disaggregate: this many chips run prefill-only instances, the rest decode (default 0: colocated)");
  c->add_option("--prefill-tp", o.layout.prefill_tp, "tensor-parallel ranks per prefill instance (default: --tp)");
  c->add_option("--kv-network", o.layout.kv_network,
                "how the prompt's KV transfer between the pools is timed: analytical (default) or flow")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, NetworkMode>{{"analytical", NetworkMode::kAnalytical}, {"flow", NetworkMode::kFlow}}));
  // --- end of the disaggregation block ---
  c->add_option("--stack", o.stack,
                "serving stack preset or YAML path, kind: serving (tahoma list stacks): the engine's defaults; "
                "default by the system's family: NVIDIA vllm (vllm-a100 on A100 and < 70 GiB GPUs), Google TPU "
                "vllm-tpu, AWS Trainium nxd-inference");
  c->add_option("--max-batch", o.max_batch,
                "most sequences in one iteration (vLLM max_num_seqs; default: the stack's" + hint("max_num_seqs") + ")");
  c->add_option("--max-tokens", o.max_tokens,
                "token budget of one iteration (vLLM max_num_batched_tokens; default: the stack's" +
                    hint("max_num_batched_tokens") + ")");
  c->add_option("--block-size", o.block_size, "tokens per paged KV block (default: the stack's" + hint("block_size") + ")");
  c->add_option("--mem-fraction", o.mem_fraction,
                "share of memory the engine may use (gpu_memory_utilization; default: the stack's" +
                    hint("mem_fraction") + ")");
  c->add_option("--chunked-prefill", o.chunked_prefill, "on or off (default: the stack's" + hint("chunked_prefill") + ")");
  c->add_option("--admission", o.admission,
                "greedy (admit while KV blocks are free, preempt by recompute) or guaranteed (reserve the whole "
                "request's KV first); default: the stack's" + hint("admission"));
  c->add_option("--batching", o.batching,
                "continuous (iteration-level), static (whole batches) or alternating (prefill and decode as "
                "separate iterations); default: the stack's" + hint("batching"));
  c->add_option("--precision", o.precision, "weights and GEMMs: bf16, fp16, fp8 or fp4");
  c->add_option("--expert-precision", o.expert_precision,
                "MoE: the routed experts' weights when the checkpoint quantizes them apart (gpt-oss: fp4 experts with "
                "--precision bf16 or fp8); their GEMMs run at --precision's rate (W4A16, W4A8)");
  c->add_option("--kv-dtype", o.kv_dtype,
                "KV cache: bf16, fp16, fp8 or fp4 (default: fp8 when --precision is fp8/fp4 and the stack reads "
                "quantized checkpoints' fp8 KV, as tensorrt-llm; else bf16)");
  c->add_option("--cuda-graphs", o.cuda_graphs,
                "on or off: replay captured graphs for batches up to the stack's largest capture (default: the "
                "stack's" + hint("cuda_graphs") + "; largest capture: the stack's" + hint("cuda_graph_max_tokens") +
                    " tokens)");
  c->add_option("--speculative", o.speculative, "none, draft, mtp or eagle");
  c->add_option("--spec-len", o.spec_len, "proposed tokens per step (k)");
  c->add_option("--spec-accept", o.spec_accept, "mean tokens emitted per verification step, in [1, k + 1]");
  c->add_option("--draft-model", o.draft_model, "draft model for --speculative draft");
  c->add_option("--seed", o.seed, "seed of the length and arrival draws");
  c->add_option("--trace-out", o.trace_out,
                "write a Chrome/Perfetto trace (JSON) of the simulated groups' iterations and the lifetimes of up to "
                "2000 requests to FILE (opens in ui.perfetto.dev)");
  c->add_option("--slo-ttft", o.slo_ttft, "TTFT limit, e.g. 2s");
  c->add_option("--slo-tpot", o.slo_tpot, "TPOT limit, e.g. 200ms");
  c->add_option("--percentile", o.percentile,
                "percentile the limits apply to (default 99); without a mode flag the highest rate meeting them is "
                "searched");
}

std::string ServeCommand::run(const std::string& format, ProgressFn progress) const {
  const Options& o = *o_;
  ServeConfig c;
  c.system = load_system(o.system, o.overrides);
  if (o.chips) {
    if (*o.chips < 1 || *o.chips > kMaxChips) {
      throw InputError("--chips", "", fmt::format("{} is not a number of chips in [1, {}]", *o.chips, kMaxChips));
    }
    c.system.chips = *o.chips;
  }
  c.model = load_model(o.model);
  c.layout = o.layout;
  c.precision = precision_flag(o.precision, "--precision");
  if (o.expert_precision) c.expert_precision = precision_flag(*o.expert_precision, "--expert-precision");
  const Stack stack = serving_stack(o.stack, c.system);
  c.stack = stack.name;
  c.engine = engine_with_flags(serve_engine_from(stack.serving), o);
  c.kv_dtype = o.kv_dtype ? precision_flag(*o.kv_dtype, "--kv-dtype") : default_kv_dtype(stack.serving, c.precision);
  const auto spec = parse_spec_method(o.speculative);
  if (!spec) throw InputError("--speculative", "", fmt::format("'{}' is not none, draft, mtp or eagle", o.speculative));
  c.spec.method = *spec;
  if (*spec != SpecMethod::kNone) {
    c.spec.k = o.spec_len;
    c.spec.accept = o.spec_accept;
  }
  if (!o.draft_model.empty()) {
    if (*spec != SpecMethod::kDraft) throw InputError("--draft-model", "", "needs --speculative draft");
    c.spec.draft = load_model(o.draft_model);
  }

  RequestSpec rs;
  rs.input = {LengthDistKind::kFixed, o.input_len, o.length_spread};
  rs.output = {LengthDistKind::kFixed, o.output_len, o.length_spread};
  rs.input.kind = rs.output.kind = *parse_length_dist(o.length_dist);
  if (o.seed < 0) throw InputError("--seed", "", "must be >= 0");
  rs.seed = static_cast<std::uint64_t>(o.seed);
  if (o.requests) {
    rs.count = *o.requests;
    rs.count_given = true;
  }
  SloSpec slo;
  if (o.slo_ttft) slo.ttft_s = parse_time_flag(*o.slo_ttft, "--slo-ttft");
  if (o.slo_tpot) slo.tpot_s = parse_time_flag(*o.slo_tpot, "--slo-tpot");
  slo.percentile = o.percentile;
  slo.progress = std::move(progress);
  bool search = false;
  if (o.concurrency) {
    rs.kind = ArrivalKind::kConcurrency;
    rs.concurrency = *o.concurrency;
  } else if (o.rate) {
    rs.kind = ArrivalKind::kPoisson;
    rs.rate = parse_rate(*o.rate);
  } else if (!o.trace.empty()) {
    rs.kind = ArrivalKind::kTrace;
    rs.trace_file = o.trace;
  } else if (o.offline) {
    rs.kind = ArrivalKind::kOffline;
  } else if (slo.ttft_s || slo.tpot_s) {
    search = true;  // MLPerf server: the highest Poisson rate within the limits
  } else {
    throw InputError("serve", "",
                     "choose one of --offline, --concurrency N, --rate R or --trace FILE (or --slo-ttft/--slo-tpot to "
                     "search the highest rate)");
  }
  // An offline run on a stack whose offline benchmark sizes its own limits (trtllm-bench) gets
  // them for this layout and these lengths, unless --max-batch or --max-tokens says otherwise (an
  // SLO rate search leaves rs.kind at its default, offline, but is not an offline run).
  if (const auto l = search ? std::nullopt : offline_batch_limits(stack.serving, c, rs)) {
    if (!o.max_batch) c.engine.max_num_seqs = l->max_num_seqs;
    if (!o.max_tokens) c.engine.max_num_batched_tokens = l->max_num_batched_tokens;
  }
  if (o.trace_out && c.layout.prefill_chips > 0) {
    throw InputError("--trace-out", "", "the trace covers colocated layouts; drop --prefill-chips or --trace-out");
  }
  std::vector<GroupTimeline> timelines;
  const ServeResult r = simulate_serving(c, rs, slo, search, o.trace_out ? &timelines : nullptr);
  if (o.trace_out) write_output(serve_trace_json(c, r, timelines), *o.trace_out, "--trace-out");
  return format == "json" ? serve_json(c, rs, slo, r).dump(2) + "\n" : serve_table(c, rs, slo, r);
}

// The serving half of `tahoma demo`: one model at one SLO on a rack-scale system of each vendor,
// the highest Poisson rate meeting the limits (MLPerf server), each on its family's serving stack.
// Sizes: one Trn3 UltraServer (144 chips), one GB300 NVL72 rack (72), an Ironwood 4x4x4 cube (64).
namespace {
struct DemoSystem {
  const char* system;
  int chips;
};
constexpr DemoSystem kServingDemoSystems[] = {{"trn3-ultraserver", 144}, {"gb300-nvl72", 72}, {"tpu-v7", 64}};
constexpr const char* kServingDemoModel = "llama3.1-405b";
constexpr int kServingDemoTp = 8;                 // fp8 weights: 51 GB per rank, room for KV on each chip
constexpr int kServingDemoLength = 1000;          // input and output tokens per request
constexpr long long kServingDemoRequests = 10000;  // enough for the queue's steady state at every rate
constexpr double kServingDemoTtft = 2.0, kServingDemoTpot = 0.1, kServingDemoPercentile = 99;

std::string money(const std::optional<double>& v) { return v ? fmt::format("{:.2f}", *v) : "-"; }
}  // namespace

std::string serving_demo_table() {
  SloSpec slo;
  slo.ttft_s = kServingDemoTtft;
  slo.tpot_s = kServingDemoTpot;
  slo.percentile = kServingDemoPercentile;
  RequestSpec rs;
  rs.count = kServingDemoRequests;
  rs.count_given = true;
  rs.input = rs.output = {LengthDistKind::kFixed, kServingDemoLength, 0};
  std::string out = fmt::format(
      "Llama 3.1 405B serving, fp8 weights, input {} / output {} tokens, {} requests: the highest Poisson rate with "
      "p{:g} TTFT <= {:g} s and TPOT <= {:g} ms\n\n",
      kServingDemoLength, kServingDemoLength, kServingDemoRequests, kServingDemoPercentile, kServingDemoTtft,
      kServingDemoTpot * 1e3);
  out += fmt::format("{:<18}{:>6} {:<15}{:>8}{:>11}{:>10}{:>10}{:>10}{:>10}{:>8}\n", "system", "chips", "stack", "req/s",
                     "tok/s/chip", "TTFT p99", "TPOT p99", "J/token", "kWh/Mtok", "$/Mtok");
  for (const auto& d : kServingDemoSystems) {
    ServeConfig c;
    c.system = load_system(d.system);
    c.system.chips = d.chips;
    c.model = load_model(kServingDemoModel);
    c.layout.tp = kServingDemoTp;
    c.precision = Precision::kFp8;
    const Stack stack = serving_stack(std::nullopt, c.system);
    c.stack = stack.name;
    c.engine = serve_engine_from(stack.serving);
    c.kv_dtype = default_kv_dtype(stack.serving, c.precision);
    const ServeResult r = simulate_serving(c, rs, slo, true);
    const ServeEnergy e = serve_energy(c, r);
    out += fmt::format("{:<18}{:>6} {:<15}{:>8.1f}{:>11.0f}{:>8.0f}ms{:>8.1f}ms{:>10.2f}{:>10.3f}{:>8}\n", d.system,
                       d.chips, c.stack, r.slo_rate.value_or(0.0), r.output_tokens_per_s_per_chip, r.ttft.p99 * 1e3,
                       r.tpot.p99 * 1e3, e.joules_per_output_token, e.kwh_per_million_output_tokens,
                       money(e.usd_per_million_output_tokens));
  }
  out += fmt::format("\nReplicas of TP {} fill the chips, each system on its family's serving stack. $ needs the "
                     "preset's\nprice_usd_per_chip_hour (- when absent). One row in full: tahoma serve --system tpu-v7 "
                     "--chips 64\n  --model {} --tp {} --precision fp8 --requests {} --slo-ttft 2s --slo-tpot 100ms\n",
                     kServingDemoTp, kServingDemoModel, kServingDemoTp, kServingDemoRequests);
  return out;
}

}  // namespace tahoma::cli
