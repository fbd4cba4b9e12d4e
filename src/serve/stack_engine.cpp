// Serving stacks -> the serve engine (docs/serving.md 6): a serving stack preset's knobs become a
// ServeEngine, a system without --stack serves on its family's usual engine, and the KV cache's
// dtype follows the stack's rule for quantized checkpoints. `tahoma serve` and `tahoma validate`
// both start from here.
#include <fmt/format.h>

#include <array>
#include <string_view>

#include "tahoma/error.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

// The serving default by hardware family (System::family; the system's default_stack names its
// training stack and is not used here). First match wins. Sources: the engine each vendor documents
// for its hardware: vLLM on NVIDIA GPUs, with its smaller batch defaults on an A100 or a GPU under
// 70 GiB (vllm/engine/arg_utils.py get_batch_defaults: data/stacks/vllm-a100.yaml); vLLM's TPU
// backend on Cloud TPU; NxD Inference on Trainium (the AWS Neuron SDK's serving library, which vLLM
// on Neuron also runs).
struct ServingDefault {
  std::string_view family_prefix;  // System::family starts with it
  // Only an A100, or a chip with less HBM than this many GiB (0: every chip of the family).
  double small_gpu_below_gib = 0;
  std::string_view stack;
};
constexpr std::array kServingDefaults{
    ServingDefault{"NVIDIA", 70, "vllm-a100"},
    ServingDefault{"NVIDIA", 0, "vllm"},
    ServingDefault{"Google TPU", 0, "vllm-tpu"},
    ServingDefault{"AWS Trainium", 0, "nxd-inference"},
};
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

}  // namespace

ServeEngine serve_engine_from(const ServingStack& s) {
  ServeEngine e;
  e.max_num_seqs = s.max_num_seqs;
  e.max_num_batched_tokens = s.max_num_batched_tokens;
  e.block_size = s.block_size;
  e.mem_fraction = s.mem_fraction;
  e.fraction_of_free = s.fraction_of_free;
  e.chunked_prefill = s.chunked_prefill;
  e.guaranteed_admission = s.guaranteed_admission;
  e.batching = s.batching;
  e.cuda_graphs = s.cuda_graphs;
  e.cuda_graph_max_tokens = s.cuda_graph_max_tokens;
  e.graph_kernel_overhead = s.graph_kernel_overhead;
  e.eager_kernel_overhead = s.eager_kernel_overhead;
  e.iteration_overhead = s.iteration_overhead;
  e.runtime_reserve = s.runtime_reserve;
  return e;
}

std::optional<std::string> default_serving_stack(const System& system) {
  for (const auto& rule : kServingDefaults) {
    if (!system.family.starts_with(rule.family_prefix)) continue;
    if (rule.small_gpu_below_gib > 0) {
      const bool a100 = system.chip.name.find("A100") != std::string::npos;
      const bool small = system.chip.hbm_capacity.value() < rule.small_gpu_below_gib * kGiB;
      if (!a100 && !small) continue;
    }
    return std::string(rule.stack);
  }
  return std::nullopt;
}

Precision default_kv_dtype(const ServingStack& stack, Precision weights) {
  const bool quantized = weights == Precision::kFp8 || weights == Precision::kFp4;
  return quantized && stack.quantized_kv_cache ? Precision::kFp8 : Precision::kBf16;
}

}  // namespace tahoma
