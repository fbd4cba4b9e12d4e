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
  LayerProgram last_stage_extra;   // LM head, loss
  CommOp pp_send;                  // activation or gradient crossing a stage boundary
};

// Lowers one representative rank's program. Precondition: validate_plan() accepted the plan.
StageProgram lower(const Model& model, const Plan& plan, const Training& training);

}  // namespace tahoma
