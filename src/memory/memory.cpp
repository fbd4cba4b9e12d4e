#include "tahoma/memory.h"

#include <algorithm>

namespace tahoma {
namespace {

constexpr double kAct = 2.0;  // bytes per activation element (bf16)

// Megatron-LM mixed-precision accounting (docs/source/api-guide/dist_optimizer.md): a bf16
// parameter (2 B), an fp32 main gradient (4 B), and fp32 master weight + Adam m and v (12 B).
constexpr double kWeightBytes = 2.0;
constexpr double kGradBytesFp32 = 4.0;  // bf16 gradient buffers (grad_reduce_fp32 = false) hold 2
constexpr double kOptimizerBytes = 12.0;

struct StageParams {
  double dense = 0;   // replicated over data parallelism (sharded by dp*cp under ZeRO)
  double expert = 0;  // sharded by EP; replicated over dp*cp/ep
};

StageParams stage_params(const Model& model, const Plan& plan, int stage) {
  const ParamCount pc = count_params(model);
  const int per_stage = layers_on_stage(model, plan, stage);
  const int first = first_layer_of_stage(model, plan, stage);
  const int dense_start = model.is_moe() ? model.moe->first_k_dense : model.layers;
  // Layers [first, first+per_stage) on this stage; those at index >= first_k_dense are MoE.
  const int moe = std::clamp(first + per_stage - dense_start, 0, per_stage);
  const int dense = per_stage - moe;
  const double t = plan.tp;
  StageParams p;
  p.dense = per_stage * pc.attention_per_layer / t + dense * pc.dense_mlp_per_layer / t;
  if (moe > 0) {
    const auto& e = *model.moe;
    const double expert = model.mlp_matrices() * static_cast<double>(model.hidden) * e.ffn_hidden;
    p.dense += moe * (expert * e.shared_experts / t + static_cast<double>(model.hidden) * e.experts);
    p.expert = moe * expert * e.experts / (static_cast<double>(expert_tp(plan)) * plan.ep);
  }
  const double table = static_cast<double>(model.vocab) * model.hidden / t;
  if (stage == 0) p.dense += table;
  // The LM head: its own matrix when untied, or a copy of the tied table on a separate last stage.
  if (stage == plan.pp - 1 && (!model.tied_embeddings || plan.pp > 1)) p.dense += table;
  // MTP modules live on the last stage (Megatron-Core), each a 2h -> h projection and one block of
  // the last layer's kind; their embedding and head are the main model's.
  if (stage == plan.pp - 1 && model.mtp_depth > 0) {
    const double h = model.hidden;
    const double depth = model.mtp_depth;
    p.dense += depth * (2.0 * h * h + pc.attention_per_layer) / t;
    if (moe_layers(model) > 0) {
      const auto& e = *model.moe;
      const double expert = model.mlp_matrices() * h * e.ffn_hidden;
      p.dense += depth * (expert * e.shared_experts / t + h * e.experts);
      p.expert += depth * expert * e.experts / (static_cast<double>(expert_tp(plan)) * plan.ep);
    } else {
      p.dense += depth * pc.dense_mlp_per_layer / t;
    }
  }
  return p;
}

}  // namespace

RankParams params_per_rank_split(const Model& model, const Plan& plan, int stage) {
  const StageParams p = stage_params(model, plan, stage);
  return {p.dense, p.expert};
}

double params_per_rank(const Model& model, const Plan& plan, int stage) {
  const StageParams p = stage_params(model, plan, stage);
  return p.dense + p.expert;
}

Bytes activation_bytes_per_layer(const Model& model, const Plan& plan, const Training& training, bool dropout) {
  const double t = plan.tp;
  const bool sp = plan.sequence_parallel && plan.tp > 1;
  const double s = static_cast<double>(training.seq) / plan.cp;  // local queries
  const double b = plan.micro_batch;
  const double h = model.hidden;
  const double sbh = s * b * h;
  const double sp_div = sp ? t : 1.0;  // regions that SP shards (norms, dropout, layer inputs)
  if (plan.recompute == Recompute::kFull) return Bytes(kAct * sbh / sp_div);  // layer input only

  const double heads = model.heads / t;
  if (plan.recompute == Recompute::kSelective && plan.selective_recompute == SelectiveRecompute::kOpLevel &&
      !model.mla && !model.is_moe() && !model.parallel_block && plan.flash_attention) {
    // torchtitan's op-level policy (Builder::set_op_level in lower.cpp) keeps the layer's input (the
    // checkpointed region's argument), the outputs of the odd matmuls (wq, wv, w1 of a gated MLP,
    // w2; the up-projection of a plain MLP) and of the attention kernel with its fp32 log-sum-exp;
    // everything else is recomputed from them. MoE, MLA and parallel blocks keep the
    // core-attention count below (an over-estimate for them).
    const double kv = std::max(1.0, model.kv_heads / t);
    const double hd = model.head_dim;
    const double ffn = model.ffn_hidden / t;
    double kept = sbh / sp_div + s * b * heads * hd + s * b * kv * hd + s * b * heads * hd;
    kept += model.mlp == MlpType::kGated ? s * b * ffn + sbh : s * b * ffn;
    return Bytes(kAct * kept + 4.0 * s * b * heads);
  }
  // Transformer Engine saves the inputs of fp8 GEMMs for backward in fp8 (1 byte); everything
  // else stays 16-bit.
  const double gemm_in = std::min(kAct, std::max(1.0, bytes_per_element(training.precision)));
  double attn = 0;
  // Korthikanti et al. 2022, Sec. 4.1, generalised to GQA/MLA and any head width.
  attn += gemm_in * sbh / sp_div;  // QKV input (the norm output)
  if (model.mla) {
    const auto& a = *model.mla;
    const double qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    attn += kAct * s * b * (a.q_lora_rank + a.kv_lora_rank + a.qk_rope_head_dim);  // up-projection inputs
    attn += kAct * s * b * heads * (2.0 * qk + a.v_head_dim);                      // Q, K, V
    attn += gemm_in * s * b * heads * a.v_head_dim;                                // output-projection input
  } else {
    const double kv = std::max(1.0, model.kv_heads / t);
    attn += kAct * s * b * (heads + 2.0 * kv) * model.head_dim;  // Q, K, V
    attn += gemm_in * s * b * heads * model.head_dim;            // output-projection input
  }
  const double scores = heads * s * static_cast<double>(training.seq) * b;
  if (plan.flash_attention) {
    attn += 4.0 * s * b * heads;  // fp32 log-sum-exp per row (Dao 2023)
  } else if (plan.recompute != Recompute::kSelective) {
    attn += kAct * scores + (dropout ? 3.0 * scores : 0.0);  // softmax output (+ dropout mask and output)
  }
  if (dropout) attn += sbh / sp_div;  // attention dropout mask (1 byte)

  // MLP input (the norm output); a parallel block's MLP reads the tensor attention saved.
  double mlp = model.parallel_block ? 0.0 : gemm_in * sbh / sp_div;
  // Up-projection output (the activation's input, 16-bit) and the down-projection input.
  auto ffn_acts = [&](double tokens, double f) {
    const double up = model.mlp == MlpType::kGated ? 2.0 * f : f;
    return (kAct * up + gemm_in * f) * tokens * b / t;
  };
  const bool moe_layer = model.is_moe();
  if (moe_layer) {
    const auto& e = *model.moe;
    // Rows of the local experts on the busiest rank: its tokens' share x top-k x expert-TP gather.
    const double et = expert_tp(plan);
    const double rows = s / t * e.topk * expert_load(model, training) * et;
    mlp += 4.0 * s / sp_div * b * e.experts;  // router logits (fp32)
    mlp += gemm_in * rows * b * h;            // dispatched expert inputs
    mlp += (kAct * (model.mlp == MlpType::kGated ? 2.0 : 1.0) + gemm_in) * rows * b * e.ffn_hidden / et;
    if (e.shared_experts > 0) mlp += ffn_acts(s, static_cast<double>(e.ffn_hidden) * e.shared_experts);
  } else {
    mlp += ffn_acts(s, model.ffn_hidden);
  }
  if (dropout) mlp += sbh / sp_div;
  const double norms = (model.parallel_block ? 1.0 : 2.0) * kAct * sbh / sp_div;  // inputs of the norms
  return Bytes(attn + mlp + norms);
}

MemoryBreakdown memory_per_chip(const Model& model, const Plan& plan, const Training& training, const System& system) {
  const int m = num_microbatches(plan, training);
  const int p = plan.pp;
  const int v = plan.vpp;
  auto layers_per_rank_of = [&](int stage) { return static_cast<double>(layers_on_stage(model, plan, stage)); };
  // Micro-batches whose activations stage 0 holds at the 1F1B peak: p (Narayanan et al. 2021);
  // interleaved: Megatron's warm-up of 2(p-1) + (v-1)p chunks + 1, each of L/(p v) layers.
  // GPipe holds all m; DualPipe p + 1 (DeepSeek-V3 report Table 2); zero-bubble ZB-H1 as 1F1B.
  const PipelineSchedule schedule = effective_schedule(plan);
  double first_chunks =
      v == 1 ? std::min(m, p) : std::min<double>(static_cast<double>(m) * v, 2.0 * (p - 1) + (v - 1) * p + 1);
  if (schedule == PipelineSchedule::kGPipe) first_chunks = m;
  if (schedule == PipelineSchedule::kDualPipe && p > 1) first_chunks = std::min(m, p + 1);
  // DualPipe keeps two stages' parameters per rank (one per direction; Table 2: 2x).
  const double copies = p > 1 ? schedule_info(schedule).param_copies : 1;
  const Bytes per_layer = activation_bytes_per_layer(model, plan, training, false);
  const Bytes per_layer_selective = activation_bytes_per_layer(model, without_full_recompute(plan), training, false);
  const double shard = static_cast<double>(plan.dp) * plan.cp;
  const double expert_shard = std::max(1.0, expert_replicas(plan));

  MemoryBreakdown best;
  for (int stage : {0, p - 1}) {
    StageParams sp = stage_params(model, plan, stage);
    sp.dense *= copies;
    sp.expert *= copies;
    auto sharded = [&](double bytes_per_param, bool shard_it) {
      return shard_it ? sp.dense * bytes_per_param / shard + sp.expert * bytes_per_param / expert_shard
                      : (sp.dense + sp.expert) * bytes_per_param;
    };
    MemoryBreakdown mb;
    mb.stage = stage;
    // ZeRO-3 under a pipeline keeps the stage's parameters gathered for the whole step (step.cpp).
    mb.weights = Bytes(sharded(kWeightBytes, plan.zero >= 3 && plan.pp == 1));
    mb.gradients = Bytes(sharded(plan.grad_reduce_fp32 ? kGradBytesFp32 : 2.0, plan.zero >= 2));
    mb.optimizer = Bytes(sharded(kOptimizerBytes, plan.zero >= 1));
    // The last rank warms up (v-1)p chunks + 1 when interleaved, one micro-batch otherwise.
    const double last_chunks = v == 1 ? 1.0 : std::min<double>(static_cast<double>(m) * v, (v - 1.0) * p + 1.0);
    const double in_flight = (stage == 0 ? first_chunks : last_chunks) * layers_per_rank_of(stage) / v;
    // With recompute_num_layers, only that many of the stage's layers keep just their input.
    const double n_layers = layers_per_rank_of(stage);
    const double recomputed = recomputed_layers(model, plan, stage);
    const double full_share = n_layers > 0 ? recomputed / n_layers : 0.0;
    // Full recompute keeps each layer's input as its checkpoint. Offloaded, the checkpoints sit in
    // host memory, and HBM holds at most two: the one being copied out (or prefetched back) and the
    // one in use.
    const double checkpoints = full_share * in_flight;
    const double on_device = plan.offload_activations ? std::min(checkpoints, 2.0) : checkpoints;
    mb.host_offload = per_layer * (checkpoints - on_device);
    mb.activations = per_layer * on_device + per_layer_selective * (1.0 - full_share) * in_flight;
    if (recomputed > 0) {
      // Backward recomputes one layer at a time, which then holds its full activations.
      mb.activations += per_layer_selective;
    }
    if (stage == p - 1) {
      // Vocab-parallel cross-entropy keeps the fp32 logits of the micro-batch in flight.
      // Each MTP depth adds its own logits and the activations of its block, its projection input
      // (2h) and its two norm inputs (2 x h), for the one micro-batch in flight at the last virtual
      // stage.
      const double depth = model.mtp_depth;
      mb.logits = Bytes(4.0 * plan.micro_batch * (static_cast<double>(training.seq) / plan.cp) * model.vocab /
                        plan.tp * (1.0 + depth));
      if (depth > 0) {
        const double sbh = static_cast<double>(training.seq) / plan.cp * plan.micro_batch * model.hidden;
        const double sp_div = plan.sequence_parallel && plan.tp > 1 ? plan.tp : 1.0;
        mb.activations += (per_layer_selective + Bytes(kAct * 4.0 * sbh / sp_div)) * depth;
      }
    }
    const double rpc = system.chip.ranks_per_chip;
    mb.weights *= rpc;
    mb.gradients *= rpc;
    mb.optimizer *= rpc;
    mb.activations *= rpc;
    mb.logits *= rpc;
    mb.host_offload *= rpc;
    mb.workspace = Bytes(kWorkspaceBytes);
    mb.total = mb.weights + mb.gradients + mb.optimizer + mb.activations + mb.logits + mb.workspace;
    mb.capacity = system.chip.hbm_capacity;
    mb.host_capacity = system.chip.host_memory;
    mb.fits = mb.total <= mb.capacity && (mb.host_capacity.value() <= 0 || mb.host_offload <= mb.host_capacity);
    if (stage == 0 || mb.total > best.total) best = mb;
  }
  return best;
}

}  // namespace tahoma
