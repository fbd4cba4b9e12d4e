#include "tahoma/stack.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

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

namespace {

Stack parse_stack(YamlMap m) {
  m.declare({"name", "description", "flash_attention", "sequence_parallel", "tp_comm_overlap", "tp_comm_overlap_fp4", "ep_comm_overlap",
             "grad_reduce_dtype", "selective_recompute", "micro_batching", "kernel_overhead", "grouped_gemm",
             "grouped_gemm_dispatch", "cp_comm"});
  Stack s;
  s.name = m.string("name");
  s.description = m.string("description", "");
  // Every knob is required: a stack states each default with its source (a parent may state it).
  s.flash_attention = m.boolean("flash_attention");
  s.sequence_parallel = m.boolean("sequence_parallel");
  s.tp_comm_overlap = m.boolean("tp_comm_overlap");
  s.tp_comm_overlap_fp4 = m.boolean("tp_comm_overlap_fp4", s.tp_comm_overlap);
  s.ep_comm_overlap = m.boolean("ep_comm_overlap");
  s.grad_reduce_fp32 = m.choice<bool>("grad_reduce_dtype", {{"fp32", true}, {"bf16", false}});
  s.selective_recompute = m.choice<SelectiveRecompute>(
      "selective_recompute", {{"core-attention", SelectiveRecompute::kCoreAttention},
                              {"offload-layer-inputs", SelectiveRecompute::kOffloadLayerInputs}});
  s.micro_batching = m.choice<MicroBatching>(
      "micro_batching", {{"gradient-accumulation", MicroBatching::kGradientAccumulation},
                         {"whole-local-batch", MicroBatching::kWholeLocalBatch}});
  s.kernel_overhead =
      Seconds(m.quantity("kernel_overhead", Dimension::kSeconds, std::nullopt, 0.0, kMaxStackOverheadSeconds));
  s.grouped_gemm = m.choice<GroupedGemmLaunch>(
      "grouped_gemm", {{"per-gemm", GroupedGemmLaunch::kPerGemm}, {"single-launch", GroupedGemmLaunch::kSingleLaunch}});
  s.grouped_gemm_dispatch = Seconds(
      m.quantity("grouped_gemm_dispatch", Dimension::kSeconds, std::nullopt, 0.0, kMaxStackOverheadSeconds));
  s.cp_comm = m.choice<CpCommType>("cp_comm", {{"ring", CpCommType::kRing}, {"all-gather", CpCommType::kAllGather}});
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
