// Parallel plan and training settings (docs/design.md section 5), validated against a model and system.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tahoma/hw.h"
#include "tahoma/schedule.h"
#include "tahoma/stack.h"
#include "tahoma/workload.h"

namespace tahoma {

enum class Recompute { kNone, kSelective, kFull };
const char* to_string(Recompute r);
std::optional<Recompute> parse_recompute(std::string_view s);

struct Plan {
  int tp = 1;
  int pp = 1;
  int vpp = 1;  // virtual stages (model chunks) per pipeline rank; >1 = interleaved 1F1B
  int dp = 0;   // 0 = derive as ranks / (tp*pp*cp)
  int cp = 1;
  int ep = 1;
  // Expert tensor parallelism (Megatron's expert_tensor_parallel_size): the degree that splits each
  // expert's FFN. 0 = the TP degree (Megatron's default). MoE layers regroup a stage's tp*cp*dp
  // ranks as etp x ep x (expert data parallel) ("MoE parallel folding", Liu et al. 2025).
  int etp = 0;
  int zero = 1;  // 0 none, 1 optimizer states, 2 + gradients, 3 + parameters
  Recompute recompute = Recompute::kSelective;
  int micro_batch = 1;
  bool sequence_parallel = true;  // Megatron SP with TP > 1
  bool flash_attention = true;
  // Count the embedding and the loss as one layer each when splitting layers over pipeline stages
  // (Megatron's account_for_embedding/loss_in_pipeline_split; the Llama 3 405B recipe with 126
  // layers on 16 stages): (layers + 2) must divide by pp*vpp; the first and last stages hold one
  // layer fewer.
  bool account_for_embedding_and_loss = false;
  // Stages may differ by one layer (Megatron's pipeline_model_parallel_layout and
  // num_layers_in_first/last_pipeline_stage, which the DeepSeek-V3 recipes use for 61 layers):
  // the layers (+ embedding and loss) need not divide by pp * vpp; the extra layers go to the
  // stages after the first.
  bool uneven_pipeline = false;
  // Gradient buffers and their data-parallel reduction in fp32 (Megatron-LM's default for bf16
  // training, FSDP2's reduce_dtype) or in bf16 (NeMo and Megatron-Bridge performance recipes set
  // grad_reduce_in_fp32 = False).
  bool grad_reduce_fp32 = true;
  // TP all-gathers and reduce-scatters pipelined with the GEMMs next to them (Transformer Engine
  // userbuffers; NeMo/Megatron-Bridge tp_comm_overlap). Off in plain Megatron-LM.
  bool tp_comm_overlap = false;
  // MoE dispatch/combine all-to-all overlapped with the compute of another micro-batch: DeepSeek's
  // DualPipe pairs a forward and a backward chunk so each one's all-to-all runs under the other's
  // compute (DeepSeek-V3 report Sec. 3.2.1); Megatron-Core's --overlap-moe-expert-parallel-comm
  // does the same in 1F1B. Off by default.
  bool ep_comm_overlap = false;
  // How the MoE experts' GEMMs are launched: one GEMM per local expert (Transformer Engine's
  // GroupedLinear, Megatron's default TEGroupedMLP), each issued by the host, or one grouped kernel
  // for all of them (CUTLASS / cuBLAS grouped GEMM, XLA's ragged dot).
  using GroupedGemm = GroupedGemmLaunch;  // declared with the stack that chooses it
  GroupedGemm grouped_gemm = GroupedGemm::kPerGemm;
  // How context parallelism moves the KV: "ring" (Megatron's p2p: KV blocks passed around the CP
  // group, overlapped with attention on the previous block; Liu et al. 2023) or "all-gather"
  // (Megatron's cp_comm_type=all_gather: the whole sequence's KV gathered before attention, not
  // overlapped, its gradient reduce-scattered after; less latency-bound at high cp).
  using CpComm = CpCommType;
  CpComm cp_comm = CpComm::kRing;
  // With full recompute: recompute only this many layers per pipeline rank (Megatron's
  // --recompute-method block --recompute-num-layers N), the rest keep selective activations;
  // 0 = every layer.
  int recompute_num_layers = 0;
  // With full recompute: the layer-input checkpoints live in host DRAM, not HBM. Each is copied out
  // over the chip's host link as its layer's forward pass runs and prefetched back ahead of its
  // backward pass (MaxText's remat_policy custom with decoder_layer_input: offload and XLA host
  // offloading; Megatron-Core's activation offloading), so HBM holds about two layers' checkpoints.
  bool offload_activations = false;
  // What `recompute: selective` recomputes (the stack's selective_recompute): Megatron's core
  // attention, torchtitan's op-level policy, or MaxText's offloaded layer inputs (made full
  // recompute with offload_activations by apply_selective_recompute).
  SelectiveRecompute selective_recompute = SelectiveRecompute::kCoreAttention;
  // Pipeline schedule (tahoma/schedule.h; `tahoma list schedules`). 1f1b with vpp > 1 plays
  // interleaved 1F1B (effective_schedule); zero-bubble and dualpipe run one chunk per stage.
  PipelineSchedule pp_schedule = PipelineSchedule::k1F1B;
};

// The schedule a plan runs: interleaved 1F1B when it says 1f1b with vpp > 1.
inline PipelineSchedule effective_schedule(const Plan& plan) {
  return plan.pp_schedule == PipelineSchedule::k1F1B && plan.vpp > 1 ? PipelineSchedule::kInterleaved1F1B
                                                                      : plan.pp_schedule;
}

struct Training {
  int seq = 4096;
  int global_batch = 1024;  // sequences per optimizer step
  Precision precision = Precision::kBf16;
  // MoE load imbalance: tokens routed to the busiest expert-parallel rank over the average. 1.0 =
  // perfectly balanced, as forced-balance benchmarks and auxiliary-loss-free balancing at
  // convergence are (DeepSeek-V3 Sec. 2.1.2); the busiest rank sets the pace of the expert GEMMs
  // and of the all-to-all it receives.
  double moe_imbalance = 1.0;
};

// Limits on training settings (validate_plan states them in its messages). The sequence limit is
// the workload's kMaxSeq.
inline constexpr int kMaxGlobalBatch = 1 << 24;  // 16,777,216 sequences per step
inline constexpr double kMaxMoeImbalance = 64.0;

// The plan's software defaults from the stack: fused attention, sequence parallelism, TP overlap
// (its fp4 variant when `precision` is fp4), EP overlap, gradient-reduction dtype, grouped-GEMM
// launch and CP exchange. Explicit flags and scenario plan keys are applied after it and win.
void apply_stack_defaults(const Stack& stack, Precision precision, Plan& plan);
// What "selective" recompute means (plan.selective_recompute, the stack's unless set): Megatron's
// core-attention recompute and torchtitan's op-level policy are priced by the lowering (no change
// here); a policy that offloads the layer inputs (MaxText's Trillium recipes) becomes full
// recompute with offloaded layer-input checkpoints.
void apply_selective_recompute(Plan& plan);

// Checks divisibility and degrees. Throws InputError with `where` (e.g. "--tp" or a scenario
// file) naming the offending key (the plan's or training's field name: tp, pp, vpp, dp, cp, ep,
// etp, micro_batch, seq, global_batch, chips, ...). Every degree must be at most the number of
// ranks, pp and vpp at most the layers, and the sequence and global batch within the limits above,
// so that every product of degrees fits in 64 bits. Fills plan.dp when it is 0.
void validate_plan(Plan& plan, const Training& training, const Model& model, const System& system,
                   const std::string& where);

// Transformer layers held by pipeline rank `stage` (all its virtual chunks).
int layers_on_stage(const Model& model, const Plan& plan, int stage);
// Index of the first layer held by `stage` (for placing the dense layers of MoE models).
int first_layer_of_stage(const Model& model, const Plan& plan, int stage);

// The plan with full recompute replaced by selective: what the layers that are not recomputed keep.
Plan without_full_recompute(const Plan& plan);

// Layers of pipeline rank `stage` that are fully recomputed (0 unless recompute is full).
int recomputed_layers(const Model& model, const Plan& plan, int stage);

// Micro-batches per pipeline per step: global_batch / (dp * micro_batch).
int num_microbatches(const Plan& plan, const Training& training);

// Rank order (docs/design.md 5, Megatron's "tp-cp-ep-dp-pp" with EP folded into DP): TP innermost, then
// CP, then the part of EP carved out of data parallelism (ep / cp when ep > cp), then PP, then the
// rest of DP. Expert groups thereby stay inside a node or rack, as Megatron places them.
int ep_from_dp(const Plan& plan);
// The expert-TP degree in effect: plan.etp, or plan.tp when 0.
int expert_tp(const Plan& plan);
// Ranks that hold the same slice of the same expert (expert data parallelism): tp*cp*dp / (etp*ep).
double expert_replicas(const Plan& plan);
// MoE: (token, expert) pairs the busiest expert rank computes, over its own tokens x top-k. A
// capacity factor caps and pads every expert at capacity (tokens beyond it are dropped; Megatron's
// pad-to-capacity, MaxText's dense matmul); dropless, the busiest rank's load imbalance.
double expert_load(const Model& model, const Training& training);
// Ranks between the same position on consecutive pipeline stages: tp * cp * ep_from_dp.
long long stage_stride(const Plan& plan);

}  // namespace tahoma
