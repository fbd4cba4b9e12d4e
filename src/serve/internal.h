// Private to the serve library: the model shape one rank sees and the layer counts of the heaviest
// pipeline stage, shared by the cost model (cost.cpp), memory sizing (memory.cpp) and the scheduler.
#pragma once

#include <algorithm>
#include <cmath>

#include "tahoma/lower.h"
#include "tahoma/serve.h"

namespace tahoma::serve_internal {

// Activations and logits stay in 16-bit whatever the weight precision (vLLM's fp8 and NVFP4
// checkpoints quantize the linear layers' weights; activations are cast per GEMM).
inline constexpr double kActBytes = 2.0;

// Layers by kind: MLP (dense or MoE) and attention (full or sliding window).
struct LayerCounts {
  int dense = 0, moe = 0;    // MLP kinds
  int full = 0, window = 0;  // attention kinds
  [[nodiscard]] int total() const { return dense + moe; }
};

inline LayerCounts layer_counts(const Model& m) {
  LayerCounts c;
  c.moe = moe_layers(m);
  c.dense = m.layers - c.moe;
  c.window = m.sliding_window > 0 ? static_cast<int>(std::lround(m.layers * m.window_fraction)) : 0;
  c.full = m.layers - c.window;
  return c;
}

// Parameters of one MoE layer's routed experts (count_params: moe_mlp_per_layer = one expert x
// (experts + shared) + the router, hidden x experts); 0 for a dense model.
inline double routed_expert_params(const Model& m) {
  if (!m.is_moe()) return 0.0;
  const MoeConfig& e = *m.moe;
  const double router = static_cast<double>(m.hidden) * e.experts;
  const double one_expert = (count_params(m).moe_mlp_per_layer - router) / (e.experts + e.shared_experts);
  return one_expert * e.experts;
}

// Bytes per routed-expert weight: ServeConfig::expert_precision, else the weights' precision.
inline double expert_bytes_per_element(const ServeConfig& c) {
  return bytes_per_element(c.expert_precision.value_or(c.precision));
}

// KV heads one TP rank holds: vLLM shards them when kv_heads >= tp and replicates each over tp /
// kv_heads ranks otherwise (one head per rank).
inline double local_kv_heads(const Model& m, int tp) {
  return std::max(1.0, static_cast<double>(m.kv_heads) / tp);
}

// KV-cache bytes one rank stores per token per layer:
//   GQA: 2 (K and V) x local kv heads x head_dim x bytes;
//   MLA: (kv_lora_rank + qk_rope_head_dim) x bytes, the compressed latent, replicated on every TP
//   rank (DeepSeek-AI 2024, DeepSeek-V2 Sec. 2.1.2; vLLM's MLA backends cache only the latent).
inline double kv_bytes_per_token_layer(const Model& m, int tp, Precision kv) {
  const double b = bytes_per_element(kv);
  if (m.mla) return (m.mla->kv_lora_rank + m.mla->qk_rope_head_dim) * b;
  return 2.0 * local_kv_heads(m, tp) * m.head_dim * b;
}

// Layer-blocks (one block_size-token block of one layer) a sequence of `tokens` holds: full layers
// keep every block, sliding-window layers at most the blocks that cover the window plus the
// partial one (vLLM's hybrid KV-cache manager frees blocks that fall out of the window).
inline long long layer_blocks_for(long long tokens, int full, int window_layers, int window, int block) {
  const long long blocks = (tokens + block - 1) / block;
  const long long wblocks = window > 0 ? std::min(blocks, static_cast<long long>((window + block - 1) / block) + 1) : 0;
  return full * blocks + window_layers * wblocks;
}

// Attention at the kernel's block granularity (FlashAttention-2/3, 128 x 128 tiles; lower.h
// kAttentionBlock): query-key pairs a chunk of `c` queries after `p` cached tokens computes, the
// diagonal block counted half. Query block i of n = ceil(c / B) sees the key blocks up to its own,
// K0 + i + 1 of them (K0 = ceil(p / B)), or on a window of w keys at most Kw = ceil((w + B) / B).
inline double attention_pairs(double p, double c, double window) {
  const double b = kAttentionBlock;
  const double n = std::ceil(c / b);
  const double k0 = std::ceil(p / b);
  double blocks = 0;
  if (window <= 0) {
    blocks = n * k0 + n * (n + 1) / 2;  // sum_{i<n} (k0 + i + 1)
  } else {
    const double kw = std::ceil((window + b) / b);
    // sum_{i<n} min(k0 + i + 1, kw): the first m = clamp(kw - k0, 0, n) terms grow, the rest are kw.
    const double m = std::clamp(kw - k0, 0.0, n);
    blocks = m * k0 + m * (m + 1) / 2 + (n - m) * kw;
  }
  return (blocks - n / 2) * b * b;
}

// Groups the scheduler simulates: replicas x pipeline virtual engines (symmetric units).
inline int virtual_engines(const ServeConfig& c) { return c.layout.pp; }

}  // namespace tahoma::serve_internal
