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
  return s == SelectiveRecompute::kCoreAttention ? "core-attention" : "offload-layer-inputs";
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
// An enum member of N values by name: the names are the field's choices, in the enum's order.
template <auto Member>
StackValue get_choice(const Stack& s) {
  return std::string(to_string(s.*Member));
}
template <auto Member, int N>
void set_choice(Stack& s, const StackValue& v) {
  using E = std::remove_cvref_t<decltype(s.*Member)>;
  const std::string& name = std::get<std::string>(v);
  for (int idx = 0; idx < N; ++idx) {
    if (name == to_string(static_cast<E>(idx))) {
      s.*Member = static_cast<E>(idx);
      return;
    }
  }
}

// The knobs (docs/model.md 3.5 gives each one's physics and every preset's sources).
const std::vector<StackField>& field_table() {
  using K = StackFieldKind;
  static const std::vector<StackField> fields = {
      {"flash_attention", "flash_attention", "fused attention kernel (FlashAttention, cuDNN, NKI, Splash): no s x s scores in HBM",
       K::kBool, {}, "", &get_bool<&Stack::flash_attention>, &set_bool<&Stack::flash_attention>},
      {"sequence_parallel", "sequence_parallel", "Megatron sequence parallelism: norms and dropout sharded over the TP ranks",
       K::kBool, {}, "", &get_bool<&Stack::sequence_parallel>, &set_bool<&Stack::sequence_parallel>},
      {"tp_comm_overlap", "tp_comm_overlap", "TP collectives pipelined with their GEMMs (userbuffers)", K::kBool, {}, "",
       &get_bool<&Stack::tp_comm_overlap>, &set_bool<&Stack::tp_comm_overlap>},
      {"tp_comm_overlap_fp4", "tp_comm_overlap_fp4", "the same with fp4 (NVFP4) matmuls", K::kBool, {},
       "tp_comm_overlap", &get_bool<&Stack::tp_comm_overlap_fp4>, &set_bool<&Stack::tp_comm_overlap_fp4>},
      {"ep_comm_overlap", "ep_comm_overlap", "MoE all-to-all hidden under another micro-batch's compute", K::kBool, {}, "",
       &get_bool<&Stack::ep_comm_overlap>, &set_bool<&Stack::ep_comm_overlap>},
      {"grad_reduce_dtype", "grad_reduce_dtype", "datatype of the gradient buffers and their data-parallel reduction",
       K::kChoice, {"fp32", "bf16"}, "",
       [](const Stack& s) -> StackValue { return std::string(s.grad_reduce_fp32 ? "fp32" : "bf16"); },
       [](Stack& s, const StackValue& v) { s.grad_reduce_fp32 = std::get<std::string>(v) == "fp32"; }},
      {"selective_recompute", "selective_recompute", "what recompute: selective means in this stack", K::kChoice,
       {"core-attention", "offload-layer-inputs"}, "", &get_choice<&Stack::selective_recompute>,
       &set_choice<&Stack::selective_recompute, 2>},
      {"micro_batching", "micro_batching", "how a data-parallel rank runs its batch when the micro-batch is not given",
       K::kChoice, {"gradient-accumulation", "whole-local-batch"}, "", &get_choice<&Stack::micro_batching>,
       &set_choice<&Stack::micro_batching, 2>},
      {"kernel_overhead", "kernel_overhead_s", "fixed cost of one launched op: host launch plus the kernel's ramp and tail",
       K::kSeconds, {}, "", &get_seconds<&Stack::kernel_overhead>, &set_seconds<&Stack::kernel_overhead>},
      {"grouped_gemm", "grouped_gemm", "how the MoE experts' GEMMs are launched", K::kChoice, {"per-gemm", "single-launch"},
       "", &get_choice<&Stack::grouped_gemm>, &set_choice<&Stack::grouped_gemm, 2>},
      {"grouped_gemm_dispatch", "grouped_gemm_dispatch_s", "host time to issue one expert GEMM when launched one by one",
       K::kSeconds, {}, "", &get_seconds<&Stack::grouped_gemm_dispatch>, &set_seconds<&Stack::grouped_gemm_dispatch>},
      {"cp_comm", "cp_comm", "how context parallelism moves the keys and values", K::kChoice, {"ring", "all-gather"}, "",
       &get_choice<&Stack::cp_comm>, &set_choice<&Stack::cp_comm, 2>},
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
  switch (f.kind) {
    case StackFieldKind::kBool:
      return m.boolean(key, fallback ? std::optional<bool>(std::get<bool>(*fallback)) : std::nullopt);
    case StackFieldKind::kSeconds:
      return m.quantity(key, Dimension::kSeconds, fallback ? std::optional<double>(std::get<double>(*fallback)) : std::nullopt,
                        0.0, kMaxStackOverheadSeconds);
    case StackFieldKind::kChoice: {
      std::vector<std::pair<std::string, std::string>> options;
      for (const auto& c : f.choices) options.emplace_back(c, c);
      return m.choice<std::string>(key, options,
                                   fallback ? std::optional<std::string>(std::get<std::string>(*fallback)) : std::nullopt);
    }
  }
  return false;
}

Stack parse_stack(YamlMap m) {
  std::vector<std::string> keys = {"name", "description"};
  for (const auto& f : field_table()) keys.emplace_back(f.key);
  m.declare(keys);
  Stack s;
  s.name = m.string("name");
  s.description = m.string("description", "");
  for (const auto& f : field_table()) f.set(s, read_field(m, f, s));
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
    case StackFieldKind::kChoice: return std::get<std::string>(v);
  }
  return "";
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
  return internal::list_presets<StackInfo>("stacks", [](const std::string& n) { return load_stack(n).description; });
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
