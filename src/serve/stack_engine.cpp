// Serving stacks -> the serve engine (docs/serving.md 6): a serving stack preset's knobs become a
// ServeEngine, a system without --stack serves on its family's usual engine, and the KV cache's
// dtype follows the stack's rule for quantized checkpoints. `tahoma serve` and `tahoma validate`
// both start from here.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

#include "internal.h"
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
  e.attention_dp_limits_per_rank = s.attention_dp_limits_per_rank;
  e.cuda_graphs = s.cuda_graphs;
  e.cuda_graph_max_tokens = s.cuda_graph_max_tokens;
  e.cuda_graphs_decode_only = s.cuda_graphs_decode_only;
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

// trtllm-bench throughput's engine settings, as TensorRT-LLM's tensorrt_llm/bench/tuning/heuristics.py
// computes them (calc_engine_setting and finetune_setting, read at commit 0b42ceaf; the rule itself
// is written here from its description, with its constants):
//   bytes per weight and KV element by quantization: none 2, FP8 1, NVFP4 0.5;
//   KV per token = 2 x layers x max(tp, kv_heads) x head_dim x bytes (each TP rank holds at least one
//     KV head), or with MLA layers x (kv_lora_rank + qk_rope_head_dim) x bytes (one latent, no V);
//   memory = device memory x tp x pp - checkpoint size; with attention DP each rank keeps its own KV
//     and batch, so device memory x pp - checkpoint / tp;
//   requests R = 0.95 (kv_cache_free_gpu_mem_fraction) x memory / (KV per token x (input + output));
//   max_batch_size: b = min(R, 4096) / pp rounded up to 32 (at least 64) below 256, to 128 below
//     1024, else to 256;
//   max_num_tokens: t = min(b_raw x (1 + input / output), 32768) rounded up to 256 (at least 2048)
//     below 4096, to 512 below 8192, else to 1024.
// Device memory is what the driver reports, in GiB (torch total_memory); here one rank's share of HBM.
std::optional<BatchLimits> trtllm_bench_limits(const ServeConfig& c, int input_len, int output_len) {
  constexpr double kKvFraction = 0.95;  // trtllm-bench --kv_cache_free_gpu_mem_fraction default
  constexpr double kBenchMaxRequests = 4096;
  constexpr double kBenchMaxTokens = 32768;
  if (input_len < 1 || output_len < 1) return std::nullopt;
  const auto bytes = [](Precision p) { return p == Precision::kFp8 ? 1.0 : p == Precision::kFp4 ? 0.5 : 2.0; };
  const Model& m = c.model;
  const double tp = c.layout.tp, pp = c.layout.pp;
  const double kv_elements = m.mla ? static_cast<double>(m.layers) * (m.mla->kv_lora_rank + m.mla->qk_rope_head_dim)
                                   : 2.0 * m.layers * std::max(tp, static_cast<double>(m.kv_heads)) * m.head_dim;
  const double kv_gib_per_token = kv_elements * bytes(c.kv_dtype) / kGiB;
  const double device_gib = c.system.chip.hbm_capacity.value() / std::max(1, c.system.chip.ranks_per_chip) / kGiB;
  // The checkpoint: routed experts in their own precision (expert_precision), the rest in the weights'.
  const double routed = serve_internal::routed_expert_params(m) * moe_layers(m);
  const double checkpoint_gib =
      ((count_params(m).total - routed) * bytes(c.precision) + routed * serve_internal::expert_bytes_per_element(c)) /
      kGiB;
  const double memory_gib = c.layout.attention_dp ? device_gib * pp - checkpoint_gib / tp : device_gib * tp * pp - checkpoint_gib;
  const double requests = kKvFraction * memory_gib / (kv_gib_per_token * (static_cast<double>(input_len) + output_len));
  if (!(requests >= 1) || !std::isfinite(requests)) return std::nullopt;
  const double raw_bs = std::min(requests, kBenchMaxRequests) / pp;
  const double raw_tokens = std::min(raw_bs * (1.0 + static_cast<double>(input_len) / output_len), kBenchMaxTokens);
  const auto round_up = [](double x, double step) { return step * std::ceil(x / step); };
  BatchLimits l;
  l.max_num_seqs = static_cast<int>(raw_bs < 256    ? std::max(64.0, round_up(raw_bs, 32))
                                    : raw_bs < 1024 ? round_up(raw_bs, 128)
                                                    : round_up(raw_bs, 256));
  l.max_num_batched_tokens = static_cast<int>(raw_tokens < 4096   ? std::max(2048.0, round_up(raw_tokens, 256))
                                              : raw_tokens < 8192 ? round_up(raw_tokens, 512)
                                                                  : round_up(raw_tokens, 1024));
  return l;
}

std::optional<BatchLimits> offline_batch_limits(const ServingStack& stack, const ServeConfig& c,
                                                const RequestSpec& spec) {
  if (spec.kind != ArrivalKind::kOffline || stack.offline_limits != OfflineLimits::kTrtllmBench) return std::nullopt;
  return trtllm_bench_limits(c, spec.input.mean, spec.output.mean);
}

}  // namespace tahoma
