// Memory per chip (docs/design.md section 5): weights, gradients and optimizer states sharded by the
// plan (ZeRO stages of Rajbhandari et al. 2020), activations of the micro-batches in flight
// (Korthikanti et al. 2022), the LM head's logits and a fixed runtime reserve.
#pragma once

#include "tahoma/plan.h"

namespace tahoma {

struct MemoryBreakdown {
  Bytes weights{0};
  Bytes gradients{0};
  Bytes optimizer{0};
  Bytes activations{0};
  Bytes logits{0};
  Bytes workspace{0};
  Bytes total{0};     // per chip (all ranks of the chip)
  Bytes capacity{0};  // per chip
  // Offloaded activation checkpoints in host memory, and the host memory per chip (0 = unknown);
  // neither is part of `total`.
  Bytes host_offload{0};
  Bytes host_capacity{0};
  bool fits = false;  // HBM, and host memory when it is known
  int stage = 0;      // the pipeline stage with the largest footprint
};

// Activation bytes one transformer layer keeps for backward for one micro-batch on one rank,
// before any in-flight multiplier. With `dropout` and no FlashAttention and tp = cp = 1 on a GPT
// layer (plain MLP, f = 4h, a_kv = a) this is Korthikanti et al. 2022 Eq. 2: s*b*h*(34 + 5*a*s/h).
Bytes activation_bytes_per_layer(const Model& model, const Plan& plan, const Training& training, bool dropout);

// Parameters held by one rank of the given pipeline stage (matrices only), before ZeRO sharding.
double params_per_rank(const Model& model, const Plan& plan, int stage);
// The same, split: `dense` is replicated over DP x CP, `expert` (routed experts, sharded by EP)
// over the expert's dp*cp/ep replicas.
struct RankParams {
  double dense = 0;
  double expert = 0;
};
RankParams params_per_rank_split(const Model& model, const Plan& plan, int stage);

// Runtime reserve per chip: framework context, collective buffers, allocator fragmentation.
inline constexpr double kWorkspaceBytes = 2.0 * 1024 * 1024 * 1024;

MemoryBreakdown memory_per_chip(const Model& model, const Plan& plan, const Training& training, const System& system);

}  // namespace tahoma
