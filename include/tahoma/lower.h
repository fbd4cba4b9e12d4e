// Lowering (docs/design.md section 1): a model + plan + training settings become the per-rank program of
// one pipeline stage: compute ops (FLOPs, bytes, GEMM shape) and communication ops (collective,
// group, bytes), per layer and per micro-batch, in forward, backward and recompute phases.
#pragma once

#include <string>
#include <vector>

#include "tahoma/plan.h"

namespace tahoma {

enum class OpKind {
  kGemm,         // dense matmul m x k times k x n, at the matrix-unit rate
  kGroupedGemm,  // `count` independent GEMMs of the same shape (MoE experts)
  kAttention,    // fused attention core (FlashAttention): matmul rate x attention efficiency
  kMemory,       // bandwidth-bound elementwise, norm, softmax, optimizer
};

enum class Phase { kForward, kBackward, kRecompute };

struct ComputeOp {
  std::string name;
  OpKind kind = OpKind::kGemm;
  Phase phase = Phase::kForward;
  double m = 0, n = 0, k = 0;  // GEMM shape (per GEMM for grouped)
  double count = 1;            // GEMMs in a group
  Flops flops{0};              // total hardware FLOPs
  Bytes bytes{0};              // total HBM traffic
};

enum class CollectiveKind { kAllReduce, kAllGather, kReduceScatter, kAllToAll, kSendRecv };
const char* to_string(CollectiveKind k);

// kEtp: expert tensor parallelism; kEdp: the replicas of one expert.
enum class GroupKind { kTp, kCp, kPp, kDp, kDpCp, kEp, kEtp, kEdp };
const char* to_string(GroupKind g);

// A communication op. `bytes` is the full buffer: the reduced buffer for all-reduce, the gathered
// output for all-gather, the input for reduce-scatter, each rank's send buffer for all-to-all and
// the message for send-recv.
struct CommOp {
  std::string name;
  CollectiveKind kind = CollectiveKind::kAllReduce;
  GroupKind group = GroupKind::kTp;
  Phase phase = Phase::kForward;
  Bytes bytes{0};
  bool overlapped = false;  // hidden behind `overlap_with` compute when shorter (ring attention)
};

// One transformer layer on one rank for one micro-batch.
struct LayerProgram {
  std::vector<ComputeOp> compute;
  std::vector<CommOp> comm;
  // Host offload: the layer's checkpoint copied to host memory in the forward pass and back before
  // the backward pass (plan.offload_activations), bytes per micro-batch each way.
  Bytes offload{0};
};

struct StageProgram {
  LayerProgram dense_layer;        // a dense (attention + MLP) layer
  LayerProgram moe_layer;          // an MoE layer (empty for dense models)
  LayerProgram first_stage_extra;  // embedding lookup (+ its gradient)
  LayerProgram last_stage_extra;   // LM head, loss, and the MTP modules (Model::mtp_depth)
  CommOp pp_send;                  // activation or gradient crossing a stage boundary
};

// FlashAttention's key/query block on NVIDIA GPUs: 128 rows in the FA2 and FA3 forward kernels
// for head dims up to 128 (Dao 2023, FlashAttention-2, Sec. 3.1 and its kernel traits; Shah et al.
// 2024, FlashAttention-3, Sec. 3: 128 x 128 tiles on H100), the granularity at which a kernel
// skips masked work.
inline constexpr double kAttentionBlock = 128;

// The share of an s x s score matrix a blocked kernel computes on a sliding-window layer of
// `window` keys over `seq` tokens: the key blocks that intersect each query block's window, the
// diagonal block counted half (0.5 = full causal attention, which a window >= seq is).
double windowed_attention_fraction(double window, double seq);

// Lowers one representative rank's program. Precondition: validate_plan() accepted the plan.
StageProgram lower(const Model& model, const Plan& plan, const Training& training);

}  // namespace tahoma
