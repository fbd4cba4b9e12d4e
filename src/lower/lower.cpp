#include "tahoma/lower.h"

#include <algorithm>
#include <cmath>

#include "tahoma/error.h"

namespace tahoma {
namespace {

// Activations, gradients and attention inputs stay in 16-bit (bf16) whatever the matmul precision.
constexpr double kActBytes = 2.0;

// HBM traffic per element of a 16-bit GEMM input (or output gradient) quantized for the low-precision
// GEMMs, a row-wise copy for fprop/dgrad and a column-wise one for wgrad.
// FP8 (Transformer Engine cast_transpose; MXFP8's 1-per-32 scales are negligible): read 2 B, write
// 1 + 1 B.
constexpr double kFp8CastBytes = 4.0;
// NVFP4 (TE NVFP4BlockScaling; Abecassis et al. 2025, arXiv:2509.25149, App. B.1): the per-tensor
// FP32 scale needs the tensor's amax before it is cast, "an extra pass through device memory", and
// the column-wise copy for wgrad goes through a 16-point random Hadamard transform first, so it has
// its own amax. Reads: amax 2 + amax of the transformed copy 2 + row-wise cast 2 + column-wise cast 2;
// writes: two 4-bit copies 0.5 + 0.5 and their E4M3 scales, one byte per 16 elements each. 9.1 B is
// 2.25x FP8's 4 B, as TE's GEMM benchmark measures (B300, 5B-model layer: quantization 2.69 ms for
// NVFP4 against 1.18 ms for MXFP8, autocast minus pre-quantized time).
constexpr double kNvfp4CastBytes = 2.0 * 4 + 2 * (0.5 + 1.0 / 16);

class Builder {
 public:
  Builder(LayerProgram& out, Precision precision)
      : out_(out),
        bpe_(bytes_per_element(precision)),
        low_precision_(precision == Precision::kFp8 || precision == Precision::kFp4),
        cast_bytes_(precision == Precision::kFp4 ? kNvfp4CastBytes : kFp8CastBytes) {}

  // torchtitan's op-level selective checkpointing (SelectiveRecompute::kOpLevel;
  // torchtitan/distributed/activation_checkpoint.py, _get_custom_policy): within a layer, the outputs
  // of aten.mm and of the attention kernel are saved except every second mm, counted in execution
  // order; every other op (norms, RoPE, SwiGLU, residual adds, and the MoE experts' grouped_mm,
  // which is not in the save list) is recomputed in backward.
  void set_op_level(bool on) { op_level_ = on; }

  // A linear layer y[m,n] = x[m,k] w[k,n] in the forward pass, its input-gradient and
  // weight-gradient GEMMs in the backward pass, and a recompute copy when `recompute` (or when the
  // op-level policy recomputes it).
  void linear(const std::string& name, double m, double n, double k, bool recompute, double count = 1) {
    const OpKind kind = count > 1 ? OpKind::kGroupedGemm : OpKind::kGemm;
    if (op_level_) recompute = recompute || count > 1 || ++mm_count_ % 2 == 0;
    add(name, kind, Phase::kForward, m, n, k, count);
    if (recompute) add(name, kind, Phase::kRecompute, m, n, k, count);
    add(name + ".dgrad", kind, Phase::kBackward, m, k, n, count);
    add(name + ".wgrad", kind, Phase::kBackward, k, n, m, count);
    if (low_precision_) {
      // Transformer Engine quantizes each 16-bit GEMM input with a transposed (column-wise) copy
      // for the backward GEMMs, and the output gradient in backward (cast_bytes_ per element).
      // Weights are cast once per step and not counted.
      const double in = m * k * count * cast_bytes_;
      const double grad = m * n * count * cast_bytes_;
      out_.compute.push_back({name + ".cast", OpKind::kMemory, Phase::kForward, 0, 0, 0, 1, Flops(0), Bytes(in)});
      if (recompute)
        out_.compute.push_back({name + ".cast", OpKind::kMemory, Phase::kRecompute, 0, 0, 0, 1, Flops(0), Bytes(in)});
      out_.compute.push_back(
          {name + ".grad_cast", OpKind::kMemory, Phase::kBackward, 0, 0, 0, 1, Flops(0), Bytes(grad)});
    }
  }

  // Fused attention: forward 2 matmuls (QK^T, PV); backward 5 (recomputes QK^T; Dao 2023).
  void attention(double batch_heads, double sq, double skv, double dqk, double dv, double causal, bool recompute) {
    const double fwd = 2.0 * batch_heads * sq * skv * (dqk + dv) * causal;
    const double io = batch_heads * (sq * (dqk + dv) + skv * (dqk + dv)) * kActBytes;
    ComputeOp op{"attention", OpKind::kAttention, Phase::kForward, sq, skv, dqk, batch_heads, Flops(fwd), Bytes(io)};
    out_.compute.push_back(op);
    if (recompute) {
      op.phase = Phase::kRecompute;
      out_.compute.push_back(op);
    }
    op.name = "attention.bwd";
    op.phase = Phase::kBackward;
    op.flops = Flops(2.5 * fwd);
    op.bytes = Bytes(2.0 * io);
    out_.compute.push_back(op);
  }

  // Unfused attention (no FlashAttention): the s x s scores are written and read by softmax.
  void attention_unfused(double batch_heads, double sq, double skv, double dqk, double dv, bool recompute_core,
                         bool recompute_all) {
    const double scores = batch_heads * sq * skv;
    for (Phase ph : {Phase::kForward, Phase::kRecompute}) {
      if (ph == Phase::kRecompute && !recompute_core && !recompute_all) continue;
      out_.compute.push_back({"attention.qk", OpKind::kGemm, ph, sq, skv, dqk, batch_heads, Flops(2.0 * scores * dqk),
                              Bytes(scores * kActBytes)});
      // softmax (+ dropout): read scores, write probabilities, write mask.
      out_.compute.push_back(
          {"attention.softmax", OpKind::kMemory, ph, 0, 0, 0, 1, Flops(5.0 * scores), Bytes(2.5 * scores * kActBytes)});
      out_.compute.push_back({"attention.pv", OpKind::kGemm, ph, sq, dv, skv, batch_heads, Flops(2.0 * scores * dv),
                              Bytes(scores * kActBytes)});
    }
    out_.compute.push_back({"attention.bwd", OpKind::kGemm, Phase::kBackward, sq, skv, dqk, batch_heads * 2,
                            Flops(4.0 * scores * (dqk + dv)), Bytes(2.0 * scores * kActBytes)});
    out_.compute.push_back({"attention.softmax.bwd", OpKind::kMemory, Phase::kBackward, 0, 0, 0, 1, Flops(5.0 * scores),
                            Bytes(3.0 * scores * kActBytes)});
  }

  // A bandwidth-bound op moving `bytes` in the forward pass; its backward moves `bwd` times as much
  // (twice for elementwise ops, which read the saved input and the output gradient).
  void memory(const std::string& name, double bytes, double flops, bool recompute, double bwd = 2.0) {
    recompute = recompute || op_level_;
    out_.compute.push_back({name, OpKind::kMemory, Phase::kForward, 0, 0, 0, 1, Flops(flops), Bytes(bytes)});
    if (recompute)
      out_.compute.push_back({name, OpKind::kMemory, Phase::kRecompute, 0, 0, 0, 1, Flops(flops), Bytes(bytes)});
    out_.compute.push_back(
        {name + ".bwd", OpKind::kMemory, Phase::kBackward, 0, 0, 0, 1, Flops(bwd * flops), Bytes(bwd * bytes)});
  }

  void comm(const std::string& name, CollectiveKind kind, GroupKind group, Phase phase, double bytes,
            bool overlapped = false) {
    out_.comm.push_back({name, kind, group, phase, Bytes(bytes), overlapped});
  }

 private:
  void add(const std::string& name, OpKind kind, Phase phase, double m, double n, double k, double count) {
    const double flops = 2.0 * m * n * k * count;
    // Operands in the matmul precision, output in 16-bit.
    const double bytes = ((m * k + k * n) * bpe_ + m * n * kActBytes) * count;
    out_.compute.push_back({name, kind, phase, m, n, k, count, Flops(flops), Bytes(bytes)});
  }

  LayerProgram& out_;
  double bpe_;
  bool op_level_ = false;
  int mm_count_ = 0;  // the layer's matmuls so far (op-level policy)
  bool low_precision_;
  double cast_bytes_;  // HBM bytes per quantized element (kFp8CastBytes, kNvfp4CastBytes)
};

}  // namespace

double windowed_attention_fraction(double window, double seq) {
  if (window <= 0 || window >= seq) return 0.5;
  // FlashAttention-2/3 tile the scores into query blocks x key blocks and compute every key block
  // that intersects a query block's window (Dao 2023, Sec. 3.1; Shah et al. 2024): a window of w
  // keys behind a block of B queries spans w + B - 1 keys, at most ceil((w + B) / B) key blocks
  // including the diagonal one. Query block i computes min(i + 1, K) blocks; the diagonal block
  // counts half, the convention under which full causal attention is priced at exactly 1/2 (so a
  // window >= s is full causal attention). Over n = ceil(s / B) query blocks:
  //   fraction = sum_i (min(i + 1, K) - 1/2) / n^2.
  const double b = kAttentionBlock;
  const double n = std::ceil(seq / b);
  const double k = std::min(n, std::ceil((window + b) / b));
  // sum_{i<n} min(i+1, K) = K(K+1)/2 + (n - K) K.
  const double blocks = k * (k + 1) / 2 + (n - k) * k - n / 2;
  return std::min(0.5, blocks / (n * n));
}

namespace {

struct Dims {
  double b, s, sq, tokens, tokens_sp, h, t;
  bool full, sp;
  bool op_level;       // recompute selective under torchtitan's op-level policy (Builder::set_op_level)
  double expert_load;  // MoE: pairs on the busiest expert rank over the balanced count (expert_load)
};

void lower_attention(Builder& bld, const Model& model, const Plan& plan, const Dims& d) {
  const double heads = static_cast<double>(model.heads) / d.t;
  if (model.mla) {
    const auto& a = *model.mla;
    const double qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    // DeepSeek-V3 MLA projections (DeepSeek-AI 2024, Sec. 2.1.1); down-projections are small and
    // replicated across TP, up-projections are split by heads.
    if (a.q_lora_rank > 0) {
      bld.linear("q_down", d.tokens, a.q_lora_rank, d.h, d.full);
      bld.linear("q_up", d.tokens, heads * qk, a.q_lora_rank, d.full);
    } else {
      bld.linear("q_proj", d.tokens, heads * qk, d.h, d.full);
    }
    bld.linear("kv_down", d.tokens, a.kv_lora_rank + a.qk_rope_head_dim, d.h, d.full);
    bld.linear("kv_up", d.tokens, heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank, d.full);
    if (plan.flash_attention) {
      bld.attention(d.b * heads, d.sq, d.s, qk, a.v_head_dim, 0.5, d.full);
    } else {
      bld.attention_unfused(d.b * heads, d.sq, d.s, qk, a.v_head_dim, plan.recompute == Recompute::kSelective, d.full);
    }
    bld.linear("attn_out", d.tokens, d.h, heads * a.v_head_dim, d.full);
    return;
  }
  // Megatron replicates KV heads when tp exceeds their count.
  const double kv = std::max(1.0, static_cast<double>(model.kv_heads) / d.t);
  const double hd = model.head_dim;
  // Keys per query the kernel computes, as a fraction of the sequence: half of it for causal
  // attention (the kernels skip the masked blocks); on a sliding-window layer the blocks of keys
  // that intersect the window (windowed_attention_fraction; gpt-oss alternates windowed and full
  // layers).
  const double causal = (1.0 - model.window_fraction) * 0.5 +
                        model.window_fraction * windowed_attention_fraction(model.sliding_window, d.s);
  if (d.op_level) {
    // torchtitan's Llama issues wq, wk and wv as three matmuls, which the op-level policy counts.
    bld.linear("q", d.tokens, heads * hd, d.h, d.full);
    bld.linear("k", d.tokens, kv * hd, d.h, d.full);
    bld.linear("v", d.tokens, kv * hd, d.h, d.full);
  } else {
    bld.linear("qkv", d.tokens, (heads + 2.0 * kv) * hd, d.h, d.full);
  }
  bld.memory("rope", 2.0 * (heads + kv) * hd * d.tokens * kActBytes, 6.0 * (heads + kv) * hd * d.tokens, d.full);
  if (plan.flash_attention) {
    // Causal kernels skip the masked half (docs/design.md 4); CP with load balancing keeps each rank at half.
    bld.attention(d.b * heads, d.sq, d.s, hd, hd, causal, d.full);
  } else {
    bld.attention_unfused(d.b * heads, d.sq, d.s, hd, hd, plan.recompute == Recompute::kSelective, d.full);
  }
  bld.linear("attn_out", d.tokens, d.h, heads * hd, d.full);
}

void lower_mlp(Builder& bld, const Model& model, const Dims& d, double ffn, double count, const std::string& name) {
  if (model.mlp == MlpType::kGated && d.op_level && count == 1) {
    // w1 and w3 as two matmuls (torchtitan's FeedForward), which the op-level policy counts.
    bld.linear(name + ".w1", d.tokens, ffn / d.t, d.h, d.full);
    bld.linear(name + ".w3", d.tokens, ffn / d.t, d.h, d.full);
    bld.memory(name + ".swiglu", 3.0 * ffn / d.t * d.tokens * kActBytes, 4.0 * ffn / d.t * d.tokens, d.full);
  } else if (model.mlp == MlpType::kGated) {
    bld.linear(name + ".up_gate", d.tokens / count, 2.0 * ffn / d.t, d.h, d.full, count);
    bld.memory(name + ".swiglu", 3.0 * ffn / d.t * d.tokens * kActBytes, 4.0 * ffn / d.t * d.tokens, d.full);
  } else {
    bld.linear(name + ".up", d.tokens / count, ffn / d.t, d.h, d.full, count);
    bld.memory(name + ".gelu", 2.0 * ffn / d.t * d.tokens * kActBytes, 8.0 * ffn / d.t * d.tokens, d.full);
  }
  bld.linear(name + ".down", d.tokens / count, d.h, ffn / d.t, d.full, count);
}

void lower_layer(LayerProgram& out, const Model& model, const Plan& plan, const Training& training, const Dims& d,
                 bool moe) {
  Builder bld(out, training.precision);
  bld.set_op_level(d.op_level);
  // Norms read and write h per token; residual adds read 2h and write h (SP shards both by t). A
  // parallel block (PaLM Sec. 2) has one norm whose output feeds attention and MLP, and one add of
  // three inputs, x + attn + mlp (read 3h, write h).
  const double norms = model.parallel_block ? 1.0 : 2.0;
  bld.memory("norms", norms * 2.0 * d.h * d.tokens_sp * kActBytes, norms * 4.0 * d.h * d.tokens_sp, d.full);
  if (model.parallel_block) {
    bld.memory("residual", 4.0 * d.h * d.tokens_sp * kActBytes, 2.0 * d.h * d.tokens_sp, d.full);
  } else {
    bld.memory("residual", 2.0 * 3.0 * d.h * d.tokens_sp * kActBytes, 2.0 * d.h * d.tokens_sp, d.full);
  }
  lower_attention(bld, model, plan, d);
  if (moe) {
    const auto& e = *model.moe;
    // With TP, a rank routes its sequence-parallel shard of the tokens (Megatron's MoE layers run
    // with SP); it holds experts/ep experts, each FFN split over the expert-TP group, whose ranks
    // gather the tokens routed to them (MoE parallel folding: etp x ep x expert-DP).
    const double et = expert_tp(plan);
    const double local = d.tokens / d.t;
    bld.linear("router", local, e.experts, d.h, d.full);
    // With balanced routing a rank receives as many (token, expert) pairs as it sends, its tokens x
    // top-k; dropless, the busiest rank `imbalance` times that. A capacity factor instead caps every
    // expert at capacity (tokens beyond it are dropped) and pads it to capacity (Megatron's
    // pad-to-capacity, MaxText's dense matmul), so the experts compute, and the all-to-all moves,
    // capacity-factor times the average whatever the imbalance. The per-expert GEMMs are one grouped
    // GEMM whose rows per expert, pairs x etp x ep / experts, set its tile and wave efficiency.
    const double routed = local * e.topk * d.expert_load;
    const double rows = routed * et;
    // Permute before dispatch (each token's hidden state copied once per chosen expert, grouped by
    // expert) and unpermute after combine (the top-k outputs weighted and summed back): each reads
    // or writes the tokens once and the routed copies once; their backward is the same gather or
    // scatter (Megatron's fused permute kernels).
    const double permute = (local + routed) * d.h * kActBytes;
    bld.memory("moe.permute", permute, 0, d.full, 1.0);
    Dims ed = d;
    ed.tokens = rows;
    ed.t = et;
    lower_mlp(bld, model, ed, e.ffn_hidden, static_cast<double>(e.experts) / plan.ep, "experts");
    bld.memory("moe.unpermute", permute, routed * d.h, d.full, 1.0);
    if (e.shared_experts > 0)
      lower_mlp(bld, model, d, static_cast<double>(e.ffn_hidden) * e.shared_experts, 1, "shared");
    if (plan.ep > 1) {
      // Dispatch sends each token's hidden state to its top-k experts' ranks, combine brings the
      // outputs back (bf16): the busiest rank's share, or the padded capacity.
      const double a2a = routed * d.h * kActBytes;
      for (const char* n : {"dispatch", "combine"}) {
        bld.comm(n, CollectiveKind::kAllToAll, GroupKind::kEp, Phase::kForward, a2a);
        bld.comm(std::string(n) + ".bwd", CollectiveKind::kAllToAll, GroupKind::kEp, Phase::kBackward, a2a);
        if (d.full) bld.comm(n, CollectiveKind::kAllToAll, GroupKind::kEp, Phase::kRecompute, a2a);
      }
    }
    if (et > 1) {
      // Expert TP: the routed tokens are all-gathered over the expert-TP group before the experts
      // and their outputs reduce-scattered after (transposed in backward).
      const double buf = rows * d.h * kActBytes;
      for (Phase ph : {Phase::kForward, Phase::kBackward, Phase::kRecompute}) {
        if (ph == Phase::kRecompute && !d.full) continue;
        bld.comm("etp.all_gather", CollectiveKind::kAllGather, GroupKind::kEtp, ph, buf);
        bld.comm("etp.reduce_scatter", CollectiveKind::kReduceScatter, GroupKind::kEtp, ph, buf);
      }
    }
  } else {
    lower_mlp(bld, model, d, model.ffn_hidden, 1, "mlp");
  }
  // Megatron TP: with SP an all-gather before and a reduce-scatter after each of attention and
  // MLP; without SP an all-reduce after each. Same pattern transposed in backward (Korthikanti 2022).
  // A parallel block gathers the one norm output once and sums the two row-parallel outputs before
  // one reduction (PaLM Sec. 2; GPT-NeoX's gpt_j_residual reduces once); in backward the input
  // gradients of the two column-parallel GEMMs are summed before one reduction likewise. (Megatron
  // has no parallel block; this is what PaLM and GPT-NeoX run.)
  if (plan.tp > 1) {
    const double buf = d.tokens * d.h * kActBytes;
    const int pairs = model.parallel_block ? 1 : 2;
    for (Phase ph : {Phase::kForward, Phase::kBackward, Phase::kRecompute}) {
      if (ph == Phase::kRecompute && !d.full) continue;
      for (int i = 0; i < pairs; ++i) {
        if (d.sp) {
          bld.comm("tp.all_gather", CollectiveKind::kAllGather, GroupKind::kTp, ph, buf);
          bld.comm("tp.reduce_scatter", CollectiveKind::kReduceScatter, GroupKind::kTp, ph, buf);
        } else {
          bld.comm("tp.all_reduce", CollectiveKind::kAllReduce, GroupKind::kTp, ph, buf);
        }
      }
    }
  }
  // Ring attention (Liu et al. 2023; Megatron CP): cp-1 KV blocks arrive per layer, overlapped with
  // the attention compute; backward also returns the KV gradients.
  if (plan.cp > 1) {
    double kv_per_token = 0;
    if (model.mla) {
      kv_per_token = static_cast<double>(model.heads) / d.t *
                     (model.mla->qk_nope_head_dim + model.mla->qk_rope_head_dim + model.mla->v_head_dim);
    } else {
      kv_per_token = 2.0 * std::max(1.0, static_cast<double>(model.kv_heads) / d.t) * model.head_dim;
    }
    const double block = d.tokens * kv_per_token * kActBytes;
    const double steps = plan.cp - 1;
    if (plan.cp_comm == Plan::CpComm::kAllGather) {
      // Megatron's cp_comm_type=all_gather: the whole sequence's KV (cp blocks) is gathered before
      // attention and its gradient reduce-scattered after; neither overlaps the attention.
      const double all = plan.cp * block;
      bld.comm("cp.kv_all_gather", CollectiveKind::kAllGather, GroupKind::kCp, Phase::kForward, all);
      bld.comm("cp.kv_all_gather", CollectiveKind::kAllGather, GroupKind::kCp, Phase::kBackward, all);
      bld.comm("cp.kv_reduce_scatter", CollectiveKind::kReduceScatter, GroupKind::kCp, Phase::kBackward, all);
      if (d.full) bld.comm("cp.kv_all_gather", CollectiveKind::kAllGather, GroupKind::kCp, Phase::kRecompute, all);
    } else {
      bld.comm("cp.kv_ring", CollectiveKind::kSendRecv, GroupKind::kCp, Phase::kForward, steps * block, true);
      bld.comm("cp.kv_ring.bwd", CollectiveKind::kSendRecv, GroupKind::kCp, Phase::kBackward, 2.0 * steps * block,
               true);
      if (d.full)
        bld.comm("cp.kv_ring", CollectiveKind::kSendRecv, GroupKind::kCp, Phase::kRecompute, steps * block, true);
    }
  }
}

}  // namespace

StageProgram lower(const Model& model, const Plan& plan, const Training& training) {
  // validate_plan() has run: degrees are positive and dp is derived.
  TAHOMA_ASSERT(plan.dp > 0 && plan.tp > 0 && plan.cp > 0 && plan.pp > 0 && plan.micro_batch > 0);
  StageProgram prog;
  Dims d{};
  d.b = plan.micro_batch;
  d.s = training.seq;
  d.sq = static_cast<double>(training.seq) / plan.cp;
  d.tokens = d.b * d.sq;
  d.t = plan.tp;
  d.sp = plan.sequence_parallel && plan.tp > 1;
  d.tokens_sp = d.sp ? d.tokens / d.t : d.tokens;
  d.h = model.hidden;
  d.full = plan.recompute == Recompute::kFull;
  d.op_level = plan.recompute == Recompute::kSelective && plan.selective_recompute == SelectiveRecompute::kOpLevel;
  d.expert_load = expert_load(model, training);
  lower_layer(prog.dense_layer, model, plan, training, d, false);
  if (model.is_moe()) lower_layer(prog.moe_layer, model, plan, training, d, true);
  if (plan.offload_activations && d.full) {
    // The checkpoint of full recompute is the layer input (sequence-parallel shard with SP).
    const Bytes checkpoint(kActBytes * d.tokens_sp * d.h);
    prog.dense_layer.offload = checkpoint;
    if (model.is_moe()) prog.moe_layer.offload = checkpoint;
  }

  // Embedding lookup: write the activations; backward scatters their gradient into the table.
  {
    Builder bld(prog.first_stage_extra, training.precision);
    bld.memory("embedding", d.tokens_sp * d.h * kActBytes, 0, false);
  }
  // LM head (vocab-parallel over TP) and a fused fp32 cross-entropy (read logits, write grads).
  auto head = [&](Builder& bld, const std::string& prefix) {
    bld.memory(prefix + "final_norm", 2.0 * d.h * d.tokens_sp * kActBytes, 4.0 * d.h * d.tokens_sp, false);
    bld.linear(prefix + "lm_head", d.tokens, model.vocab / d.t, d.h, false);
    bld.memory(prefix + "cross_entropy", 3.0 * d.tokens * model.vocab / d.t * 4.0,
               5.0 * d.tokens * model.vocab / d.t, false);
    if (plan.tp > 1) {
      if (d.sp) {
        bld.comm("tp.all_gather", CollectiveKind::kAllGather, GroupKind::kTp, Phase::kForward,
                 d.tokens * d.h * kActBytes);
        bld.comm("tp.reduce_scatter", CollectiveKind::kReduceScatter, GroupKind::kTp, Phase::kBackward,
                 d.tokens * d.h * kActBytes);
      }
      // Vocab-parallel softmax: max, sum and target-logit all-reduces of fp32 per token.
      bld.comm("tp.ce_all_reduce", CollectiveKind::kAllReduce, GroupKind::kTp, Phase::kForward, 3.0 * d.tokens * 4.0);
    }
  };
  {
    Builder bld(prog.last_stage_extra, training.precision);
    head(bld, "");
    // Multi-token prediction (DeepSeek-V3 report Sec. 2.2), on the last pipeline stage as
    // Megatron-Core places it (mtp_num_layers lives with the output layer): per depth, the next
    // tokens' embedding (a lookup in the shared table), RMSNorm of it and of the previous depth's
    // hidden state, the 2h -> h projection M_k of their concatenation (split over TP), one
    // transformer block of the model's last-layer kind with its TP/EP communication (and its
    // recompute copy under full recompute), and the shared output head and loss.
    if (model.mtp_depth > 0) {
      StageProgram block;
      const bool moe = model.is_moe() && moe_layers(model) > 0;
      lower_layer(moe ? block.moe_layer : block.dense_layer, model, plan, training, d, moe);
      const LayerProgram& layer = moe ? block.moe_layer : block.dense_layer;
      for (int depth = 1; depth <= model.mtp_depth; ++depth) {
        const std::string prefix = "mtp" + std::to_string(depth) + ".";
        bld.memory(prefix + "embedding", d.tokens_sp * d.h * kActBytes, 0, false);
        bld.memory(prefix + "norms", 2.0 * 2.0 * d.h * d.tokens_sp * kActBytes, 2.0 * 4.0 * d.h * d.tokens_sp,
                   false);
        bld.linear(prefix + "proj", d.tokens, d.h / d.t, 2.0 * d.h, false);
        for (ComputeOp op : layer.compute) {
          op.name = prefix + op.name;
          prog.last_stage_extra.compute.push_back(std::move(op));
        }
        for (const CommOp& op : layer.comm) prog.last_stage_extra.comm.push_back(op);
        head(bld, prefix);
      }
    }
  }
  // Megatron scatters the boundary activation across TP ranks when SP is on.
  prog.pp_send = CommOp{
      "pp.send", CollectiveKind::kSendRecv, GroupKind::kPp, Phase::kForward, Bytes(d.tokens_sp * d.h * kActBytes),
      false};
  return prog;
}

}  // namespace tahoma
