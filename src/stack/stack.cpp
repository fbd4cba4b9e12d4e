#include "tahoma/stack.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <type_traits>

#include "internal/yaml_reader.h"
#include "tahoma/error.h"

namespace tahoma {

using internal::YamlMap;

const char* to_string(SelectiveRecompute s) {
  switch (s) {
    case SelectiveRecompute::kCoreAttention: return "core-attention";
    case SelectiveRecompute::kOffloadLayerInputs: return "offload-layer-inputs";
    case SelectiveRecompute::kOpLevel: return "op-level";
  }
  return "core-attention";
}

const char* to_string(MicroBatching m) {
  return m == MicroBatching::kGradientAccumulation ? "gradient-accumulation" : "whole-local-batch";
}

const char* to_string(GroupedGemmLaunch g) {
  return g == GroupedGemmLaunch::kPerGemm ? "per-gemm" : "single-launch";
}

const char* to_string(CpCommType c) {
  return c == CpCommType::kRing ? "ring" : "all-gather";
}

const char* to_string(ServingBatching b) {
  switch (b) {
    case ServingBatching::kContinuous: return "continuous";
    case ServingBatching::kStatic: return "static";
    case ServingBatching::kAlternating: return "alternating";
  }
  return "continuous";
}

std::optional<ServingBatching> parse_serving_batching(std::string_view s) {
  for (auto b : {ServingBatching::kContinuous, ServingBatching::kStatic, ServingBatching::kAlternating}) {
    if (s == to_string(b)) return b;
  }
  return std::nullopt;
}

const char* to_string(OfflineLimits l) {
  return l == OfflineLimits::kTrtllmBench ? "trtllm-bench" : "engine";
}

namespace {

// Accessors of one member for the field table: the value as a StackValue and back.
template <auto Member>
StackValue get_bool(const Stack& s) {
  return s.*Member;
}
template <auto Member>
void set_bool(Stack& s, const StackValue& v) {
  s.*Member = std::get<bool>(v);
}
template <auto Member>
StackValue get_seconds(const Stack& s) {
  return (s.*Member).value();
}
template <auto Member>
void set_seconds(Stack& s, const StackValue& v) {
  s.*Member = Seconds(std::get<double>(v));
}
// The field a member pointer names, of Stack or of Stack::serving.
template <class C, class T>
C owner_of(T C::*);
template <auto Member, class S>
auto& member_of(S& s) {
  if constexpr (std::is_same_v<decltype(owner_of(Member)), ServingStack>) {
    return s.serving.*Member;
  } else {
    return s.*Member;
  }
}
// An enum member of N values by name: the names are the field's choices, in the enum's order.
template <auto Member>
StackValue get_choice(const Stack& s) {
  return std::string(to_string(member_of<Member>(s)));
}
template <auto Member, int N>
void set_choice(Stack& s, const StackValue& v) {
  auto& field = member_of<Member>(s);
  using E = std::remove_cvref_t<decltype(field)>;
  const std::string& name = std::get<std::string>(v);
  for (int idx = 0; idx < N; ++idx) {
    if (name == to_string(static_cast<E>(idx))) {
      field = static_cast<E>(idx);
      return;
    }
  }
}
// A bool member stated as one of two names (Names::off, Names::on): the field's choices.
template <auto Member, class Names>
StackValue get_switch(const Stack& s) {
  return std::string(member_of<Member>(s) ? Names::on : Names::off);
}
template <auto Member, class Names>
void set_switch(Stack& s, const StackValue& v) {
  member_of<Member>(s) = std::get<std::string>(v) == Names::on;
}
template <class Names>
std::vector<std::string> switch_names() {
  return {Names::off, Names::on};
}
struct MemFractionOf {
  static constexpr const char* off = "total";
  static constexpr const char* on = "free";
};
struct AttentionDpLimits {
  static constexpr const char* off = "divided";
  static constexpr const char* on = "per-rank";
};
struct Admission {
  static constexpr const char* off = "greedy";
  static constexpr const char* on = "guaranteed";
};
struct CudaGraphScope {
  static constexpr const char* off = "any";
  static constexpr const char* on = "decode-only";
};

// A serving knob (a member of Stack::serving): numbers as double, bools as bool.
template <auto Member>
StackValue get_serving(const Stack& s) {
  using T = std::remove_cvref_t<decltype(s.serving.*Member)>;
  if constexpr (std::is_same_v<T, bool>) {
    return s.serving.*Member;
  } else if constexpr (std::is_arithmetic_v<T>) {
    return static_cast<double>(s.serving.*Member);
  } else {
    return (s.serving.*Member).value();
  }
}
template <auto Member>
void set_serving(Stack& s, const StackValue& v) {
  using T = std::remove_cvref_t<decltype(s.serving.*Member)>;
  if constexpr (std::is_same_v<T, bool>) {
    s.serving.*Member = std::get<bool>(v);
  } else if constexpr (std::is_same_v<T, int>) {
    s.serving.*Member = static_cast<int>(std::get<double>(v));
  } else if constexpr (std::is_arithmetic_v<T>) {
    s.serving.*Member = std::get<double>(v);
  } else {
    s.serving.*Member = T(std::get<double>(v));
  }
}

using Get = StackValue (*)(const Stack&);
using Set = void (*)(Stack&, const StackValue&);
StackField knob(std::string_view key, std::string_view json_key, std::string_view help, StackFieldKind kind,
                StackKind section, Get get, Set set) {
  StackField f{key, json_key, help, kind, section, 0, 0, {}, "", get, set};
  return f;
}
StackField with_range(StackField f, double min, double max) {
  f.min = min;
  f.max = max;
  return f;
}
StackField with_choices(StackField f, std::vector<std::string> choices) {
  f.choices = std::move(choices);
  return f;
}
StackField defaulting_to(StackField f, std::string_view other) {
  f.defaults_to = other;
  return f;
}

// Ranges of the serving knobs: beyond any engine's setting, small enough that the scheduler's
// work per iteration stays bounded.
constexpr double kMaxBatchSeqs = 1 << 20, kMaxBatchTokens = 1 << 24, kMaxBlockTokens = 1 << 20;
constexpr double kMaxRuntimeReserve = 1e13;   // 10 TB
constexpr double kMaxIterationOverhead = 1.0;  // 1 s per iteration

// The knobs (docs/model.md 3.5 and docs/serving.md give each one's physics and sources).
const std::vector<StackField>& field_table() {
  using K = StackFieldKind;
  constexpr StackKind T = StackKind::kTraining, S = StackKind::kServing;
  static const std::vector<StackField> fields = {
      knob("flash_attention", "flash_attention",
           "fused attention kernel (FlashAttention, cuDNN, NKI, Splash): no s x s scores in HBM", K::kBool, T,
           &get_bool<&Stack::flash_attention>, &set_bool<&Stack::flash_attention>),
      knob("sequence_parallel", "sequence_parallel", "Megatron sequence parallelism: norms and dropout sharded over the TP ranks",
           K::kBool, T, &get_bool<&Stack::sequence_parallel>, &set_bool<&Stack::sequence_parallel>),
      knob("tp_comm_overlap", "tp_comm_overlap", "TP collectives pipelined with their GEMMs (userbuffers)", K::kBool, T,
           &get_bool<&Stack::tp_comm_overlap>, &set_bool<&Stack::tp_comm_overlap>),
      defaulting_to(knob("tp_comm_overlap_fp4", "tp_comm_overlap_fp4", "the same with fp4 (NVFP4) matmuls", K::kBool, T,
                         &get_bool<&Stack::tp_comm_overlap_fp4>, &set_bool<&Stack::tp_comm_overlap_fp4>),
                    "tp_comm_overlap"),
      knob("ep_comm_overlap", "ep_comm_overlap", "MoE all-to-all hidden under another micro-batch's compute", K::kBool, T,
           &get_bool<&Stack::ep_comm_overlap>, &set_bool<&Stack::ep_comm_overlap>),
      with_choices(knob("grad_reduce_dtype", "grad_reduce_dtype",
                        "datatype of the gradient buffers and their data-parallel reduction", K::kChoice, T,
                        [](const Stack& s) -> StackValue { return std::string(s.grad_reduce_fp32 ? "fp32" : "bf16"); },
                        [](Stack& s, const StackValue& v) { s.grad_reduce_fp32 = std::get<std::string>(v) == "fp32"; }),
                   {"fp32", "bf16"}),
      with_choices(knob("selective_recompute", "selective_recompute", "what recompute: selective means in this stack",
                        K::kChoice, T, &get_choice<&Stack::selective_recompute>,
                        &set_choice<&Stack::selective_recompute, 3>),
                   {"core-attention", "offload-layer-inputs", "op-level"}),
      with_choices(knob("micro_batching", "micro_batching",
                        "how a data-parallel rank runs its batch when the micro-batch is not given", K::kChoice, T,
                        &get_choice<&Stack::micro_batching>, &set_choice<&Stack::micro_batching, 2>),
                   {"gradient-accumulation", "whole-local-batch"}),
      with_range(knob("kernel_overhead", "kernel_overhead_s",
                      "fixed cost of one launched op: host launch plus the kernel's ramp and tail", K::kSeconds, T,
                      &get_seconds<&Stack::kernel_overhead>, &set_seconds<&Stack::kernel_overhead>),
                 0, kMaxStackOverheadSeconds),
      with_choices(knob("grouped_gemm", "grouped_gemm", "how the MoE experts' GEMMs are launched", K::kChoice, T,
                        &get_choice<&Stack::grouped_gemm>, &set_choice<&Stack::grouped_gemm, 2>),
                   {"per-gemm", "single-launch"}),
      with_range(knob("grouped_gemm_dispatch", "grouped_gemm_dispatch_s",
                      "host time to issue one expert GEMM when launched one by one", K::kSeconds, T,
                      &get_seconds<&Stack::grouped_gemm_dispatch>, &set_seconds<&Stack::grouped_gemm_dispatch>),
                 0, kMaxStackOverheadSeconds),
      with_choices(knob("cp_comm", "cp_comm", "how context parallelism moves the keys and values", K::kChoice, T,
                        &get_choice<&Stack::cp_comm>, &set_choice<&Stack::cp_comm, 2>),
                   {"ring", "all-gather"}),
      // Serving knobs (kind: serving).
      with_range(knob("max_num_seqs", "max_num_seqs", "most sequences in one iteration's batch (TRT-LLM max_batch_size)",
                      K::kInteger, S, &get_serving<&ServingStack::max_num_seqs>, &set_serving<&ServingStack::max_num_seqs>),
                 1, kMaxBatchSeqs),
      with_range(knob("max_num_batched_tokens", "max_num_batched_tokens",
                      "most tokens in one iteration, prefill chunks and decodes (TRT-LLM max_num_tokens)", K::kInteger, S,
                      &get_serving<&ServingStack::max_num_batched_tokens>,
                      &set_serving<&ServingStack::max_num_batched_tokens>),
                 1, kMaxBatchTokens),
      with_range(knob("block_size", "block_size", "tokens per paged KV-cache block (TRT-LLM tokens_per_block)",
                      K::kInteger, S, &get_serving<&ServingStack::block_size>, &set_serving<&ServingStack::block_size>),
                 1, kMaxBlockTokens),
      with_range(knob("mem_fraction", "mem_fraction",
                      "share of HBM the engine may fill (vLLM gpu_memory_utilization; KV gets what weights and "
                      "activations leave)",
                      K::kNumber, S, &get_serving<&ServingStack::mem_fraction>, &set_serving<&ServingStack::mem_fraction>),
                 0.05, 1.0),
      with_choices(knob("mem_fraction_of", "mem_fraction_of",
                        "what mem_fraction is a share of: all HBM (vLLM, SGLang) or what weights and activations "
                        "leave free (TensorRT-LLM)",
                        K::kChoice, S, &get_switch<&ServingStack::fraction_of_free, MemFractionOf>,
                        &set_switch<&ServingStack::fraction_of_free, MemFractionOf>),
                   switch_names<MemFractionOf>()),
      with_choices(knob("attention_dp_limits", "attention_dp_limits",
                        "under attention DP, max_num_seqs and max_num_batched_tokens bind each DP rank (per-rank: "
                        "TensorRT-LLM, vLLM) or the instance, divided over its ranks (divided: SGLang)",
                        K::kChoice, S, &get_switch<&ServingStack::attention_dp_limits_per_rank, AttentionDpLimits>,
                        &set_switch<&ServingStack::attention_dp_limits_per_rank, AttentionDpLimits>),
                   switch_names<AttentionDpLimits>()),
      knob("chunked_prefill", "chunked_prefill", "prompts split across iterations under the token budget", K::kBool, S,
           &get_serving<&ServingStack::chunked_prefill>, &set_serving<&ServingStack::chunked_prefill>),
      with_choices(knob("batching", "batching",
                        "continuous (decodes and prefills share iterations), static (a batch admitted into an empty "
                        "engine, encoded together, decoded until all finish) or alternating (prefill and decode as "
                        "separate iterations)",
                        K::kChoice, S, &get_choice<&ServingStack::batching>, &set_choice<&ServingStack::batching, 3>),
                   {"continuous", "static", "alternating"}),
      with_choices(knob("offline_limits", "offline_limits",
                        "an offline run's batch limits: the engine's max_num_seqs and max_num_batched_tokens, or "
                        "trtllm-bench's, sized from the KV cache for the dataset's lengths",
                        K::kChoice, S, &get_choice<&ServingStack::offline_limits>,
                        &set_choice<&ServingStack::offline_limits, 2>),
                   {"engine", "trtllm-bench"}),
      with_choices(knob("admission", "admission",
                        "greedy (admit while blocks are free, preempt by recompute) or guaranteed (reserve the whole "
                        "request's KV first)",
                        K::kChoice, S, &get_switch<&ServingStack::guaranteed_admission, Admission>,
                        &set_switch<&ServingStack::guaranteed_admission, Admission>),
                   switch_names<Admission>()),
      knob("quantized_kv_cache", "quantized_kv_cache",
           "with fp8 or fp4 weights the KV cache is fp8 (the quantized checkpoint's KV scheme), unless told otherwise",
           K::kBool, S, &get_serving<&ServingStack::quantized_kv_cache>, &set_serving<&ServingStack::quantized_kv_cache>),
      knob("cuda_graphs", "cuda_graphs", "iterations replay captured graphs or compiled programs (no per-kernel launch)",
           K::kBool, S, &get_serving<&ServingStack::cuda_graphs>, &set_serving<&ServingStack::cuda_graphs>),
      with_choices(knob("cuda_graph_scope", "cuda_graph_scope",
                        "which iterations replay captured graphs: any batch up to the largest capture, or "
                        "decode-only batches (prompt tokens run eagerly)",
                        K::kChoice, S, &get_switch<&ServingStack::cuda_graphs_decode_only, CudaGraphScope>,
                        &set_switch<&ServingStack::cuda_graphs_decode_only, CudaGraphScope>),
                   switch_names<CudaGraphScope>()),
      with_range(knob("cuda_graph_max_tokens", "cuda_graph_max_tokens",
                      "the largest captured batch in tokens; bigger iterations launch eagerly", K::kInteger, S,
                      &get_serving<&ServingStack::cuda_graph_max_tokens>,
                      &set_serving<&ServingStack::cuda_graph_max_tokens>),
                 0, kMaxBatchTokens),
      with_range(knob("graph_kernel_overhead", "graph_kernel_overhead_s", "per kernel inside a replayed graph",
                      K::kSeconds, S, &get_serving<&ServingStack::graph_kernel_overhead>,
                      &set_serving<&ServingStack::graph_kernel_overhead>),
                 0, kMaxStackOverheadSeconds),
      with_range(knob("eager_kernel_overhead", "eager_kernel_overhead_s", "per kernel launched eagerly", K::kSeconds, S,
                      &get_serving<&ServingStack::eager_kernel_overhead>,
                      &set_serving<&ServingStack::eager_kernel_overhead>),
                 0, kMaxStackOverheadSeconds),
      with_range(knob("iteration_overhead", "iteration_overhead_s",
                      "host work per iteration not hidden behind the device (scheduling, sampling)", K::kSeconds, S,
                      &get_serving<&ServingStack::iteration_overhead>, &set_serving<&ServingStack::iteration_overhead>),
                 0, kMaxIterationOverhead),
      with_range(knob("runtime_reserve", "runtime_reserve_bytes",
                      "memory outside weights, activations and KV: context, communicator buffers, graphs", K::kBytes, S,
                      &get_serving<&ServingStack::runtime_reserve>, &set_serving<&ServingStack::runtime_reserve>),
                 0, kMaxRuntimeReserve),
  };
  return fields;
}

const StackField* find_field(std::string_view key) {
  for (const auto& f : field_table()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

// One knob from the preset: required unless it defaults to an earlier knob's value.
StackValue read_field(YamlMap& m, const StackField& f, const Stack& so_far) {
  const std::string key(f.key);
  std::optional<StackValue> fallback;
  if (!f.defaults_to.empty()) fallback = find_field(f.defaults_to)->get(so_far);
  auto number_fallback = [&] { return fallback ? std::optional<double>(std::get<double>(*fallback)) : std::nullopt; };
  switch (f.kind) {
    case StackFieldKind::kBool:
      return m.boolean(key, fallback ? std::optional<bool>(std::get<bool>(*fallback)) : std::nullopt);
    case StackFieldKind::kSeconds: return m.quantity(key, Dimension::kSeconds, number_fallback(), f.min, f.max);
    case StackFieldKind::kBytes: return m.quantity(key, Dimension::kBytes, number_fallback(), f.min, f.max);
    case StackFieldKind::kNumber: return m.number(key, number_fallback(), f.min, f.max);
    case StackFieldKind::kInteger:
      return static_cast<double>(m.integer(
          key, fallback ? std::optional<int>(static_cast<int>(std::get<double>(*fallback))) : std::nullopt,
          static_cast<int>(f.min), static_cast<int>(f.max)));
    case StackFieldKind::kChoice: {
      std::vector<std::pair<std::string, std::string>> options;
      for (const auto& c : f.choices) options.emplace_back(c, c);
      return m.choice<std::string>(key, options,
                                   fallback ? std::optional<std::string>(std::get<std::string>(*fallback)) : std::nullopt);
    }
  }
  return false;
}

// A stack states the knobs of its kind; the other kind's knobs are not its business (a serving
// stack saying `sequence_parallel:` is a mistake the reader names).
Stack parse_stack(YamlMap m) {
  Stack s;
  const StackKind kind =
      m.has("kind") ? m.choice<StackKind>("kind", {{"training", StackKind::kTraining}, {"serving", StackKind::kServing}})
                    : StackKind::kTraining;
  std::vector<std::string> keys = {"name", "description", "kind"};
  for (const auto& f : field_table()) {
    if (f.section == kind) keys.emplace_back(f.key);
  }
  m.declare(keys);
  s.kind = kind;
  s.name = m.string("name");
  s.description = m.string("description", "");
  for (const auto& f : field_table()) {
    if (f.section == kind) f.set(s, read_field(m, f, s));
  }
  m.finish();
  return s;
}

// A version as its dotted parts, a leading 'v' dropped: "v0.1.4" -> {"0", "1", "4"}.
std::vector<std::string> version_parts(std::string v) {
  if (!v.empty() && (v[0] == 'v' || v[0] == 'V')) v.erase(0, 1);
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= v.size()) {
    const size_t dot = v.find('.', start);
    parts.push_back(v.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 10 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

}  // namespace

std::span<const StackField> stack_fields() {
  return field_table();
}

std::string stack_value_text(const StackField& f, const Stack& s) {
  const StackValue v = f.get(s);
  switch (f.kind) {
    case StackFieldKind::kBool: return std::get<bool>(v) ? "yes" : "no";
    case StackFieldKind::kSeconds: return format_seconds(Seconds(std::get<double>(v)));
    case StackFieldKind::kBytes: return format_bytes(Bytes(std::get<double>(v)));
    case StackFieldKind::kInteger: return fmt::format("{:.0f}", std::get<double>(v));
    case StackFieldKind::kNumber: return fmt::format("{:g}", std::get<double>(v));
    case StackFieldKind::kChoice: return std::get<std::string>(v);
  }
  return "";
}

const char* to_string(StackKind k) {
  return k == StackKind::kTraining ? "training" : "serving";
}

int compare_versions(const std::string& a, const std::string& b) {
  const auto pa = version_parts(a), pb = version_parts(b);
  for (size_t idx = 0; idx < std::max(pa.size(), pb.size()); ++idx) {
    const std::string x = idx < pa.size() ? pa[idx] : "0", y = idx < pb.size() ? pb[idx] : "0";
    if (all_digits(x) && all_digits(y)) {
      const long long nx = std::stoll(x), ny = std::stoll(y);
      if (nx != ny) return nx < ny ? -1 : 1;
    } else if (x != y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

Stack load_stack(const std::string& name_or_path, const std::string& base_dir) {
  std::string file;
  const YAML::Node node = internal::resolve_extends("stacks", name_or_path, "stack", base_dir, file);
  Stack s = parse_stack(YamlMap(node, file, ""));
  s.file = file;
  return s;
}

std::vector<StackInfo> list_stack_presets() {
  // Serving stacks say so in front of their description.
  return internal::list_presets<StackInfo>("stacks", [](const std::string& n) {
    const Stack s = load_stack(n);
    return s.kind == StackKind::kServing ? "[serving] " + s.description : s.description;
  });
}

std::optional<FrameworkMatch> stack_for_framework(const std::string& framework, const std::string& version,
                                                  const std::string& system) {
  const std::string file = internal::data_dir() + "/frameworks.yaml";
  YamlMap root(internal::load_yaml_file(file), file, "");
  root.declare({"rules"});
  const auto rules = root.sequence("rules");
  root.finish();
  for (size_t idx = 0; idx < rules.size(); ++idx) {
    YamlMap r(rules[idx], file, fmt::format("rules.{}", idx));
    r.declare({"framework", "min_version", "max_version", "systems", "stack", "why"});
    const std::string fw = r.string("framework");
    const std::string min = r.string("min_version", ""), max = r.string("max_version", "");
    const std::vector<std::string> systems = r.strings("systems");
    const std::string stack = r.string("stack");
    (void)r.string("why", "");
    r.finish();
    if (fw != framework) continue;
    if ((!min.empty() || !max.empty()) && version.empty()) continue;  // a bounded rule needs a version
    if (!min.empty() && compare_versions(version, min) < 0) continue;
    if (!max.empty() && compare_versions(version, max) > 0) continue;
    if (!systems.empty() && std::find(systems.begin(), systems.end(), system) == systems.end()) continue;
    std::string rule = fw;
    if (!min.empty()) rule += " >= " + min;
    if (!max.empty()) rule += (min.empty() ? " <= " : ", <= ") + max;
    if (!systems.empty()) {
      rule += " on";
      for (const auto& sys : systems) rule += " " + sys;
    }
    return FrameworkMatch{stack, rule};
  }
  return std::nullopt;
}

}  // namespace tahoma
