// The time of one serving iteration (docs/serving.md 4): one forward pass of the batch's tokens
// through the model on one rank of a replica, priced op by op with ComputeModel (roofline with tile
// and wave efficiency) and CollectiveModel (the fastest algorithm for the TP / EP group). The
// weights are read from HBM once per iteration, so a small decode batch is bound by weight bytes /
// HBM bandwidth and a large one by FLOPs. Work is O(layer kinds), not O(layers): a layer kind is
// priced once and multiplied by its count, and collectives are memoised by token count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <unordered_map>

#include "internal.h"
#include "tahoma/comm.h"
#include "tahoma/compute.h"
#include "tahoma/error.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

using serve_internal::kActBytes;

// Decode attention packs the query heads that share a KV head (and the speculative query tokens)
// into the rows of the matrix unit's tile; the rest of the tile is padding. On NVIDIA GPUs the
// GQA decode kernels (FlashInfer's tensor-core decode, TensorRT-LLM's XQA) issue mma.sync
// m16n8k16 fragments: 16 rows (PTX ISA, "Warp-level matrix multiply-accumulate"). E: on the
// systolic arrays (TPU MXU, Trainium PE array) the decode kernels' (Pallas ragged paged attention,
// NKI) row blocking is not published; priced on 64 rows, or the chip's tile when smaller. MLA's 128
// heads share one latent and fill either.
constexpr int kNvidiaDecodeTileRows = 16;
constexpr int kSystolicDecodeTileRows = 64;

}  // namespace

// One model on one rank: its layer kinds priced for a batch.
class ModelPass {
 public:
  ModelPass(const Model& m, const ServeConfig& c, const CollectiveModel& comm, const Chip& chip)
      : m_(m), c_(c), comm_(comm), chip_(chip), decode_chip_(chip) {
    tpi_ = c.layout.tp;
    epi_ = c.layout.ep;
    tp_ = c.layout.tp;
    ep_ = c.layout.ep;
    heads_ = m.heads / tp_;
    kv_heads_ = serve_internal::local_kv_heads(m, c.layout.tp);
    wbytes_ = bytes_per_element(c.precision);
    expert_wbytes_ = serve_internal::expert_bytes_per_element(c);
    kv_layer_bytes_ = serve_internal::kv_bytes_per_token_layer(m, c.layout.tp, c.kv_dtype);
    const bool nvidia = c.system.family.rfind("NVIDIA", 0) == 0;
    decode_chip_.matrix_unit.tile_m =
        std::min(chip.matrix_unit.tile_m, nvidia ? kNvidiaDecodeTileRows : kSystolicDecodeTileRows);
    if (m.mla) {
      const auto& a = *m.mla;
      dqk_ = a.qk_nope_head_dim + a.qk_rope_head_dim;
      dv_ = a.v_head_dim;
      // Decode runs MLA with the up-projections absorbed: every head attends over the latent.
      dqk_dec_ = a.kv_lora_rank + a.qk_rope_head_dim;
      dv_dec_ = a.kv_lora_rank;
      groups_ = 1;
    } else {
      dqk_ = dv_ = dqk_dec_ = dv_dec_ = m.head_dim;
      groups_ = kv_heads_;
    }
    counts_ = serve_internal::layer_counts(m);
  }

  // Models of the op costs with kernel overheads (graph replay or eager launch).
  struct Models {
    const ComputeModel& cm;
    const ComputeModel& decode_cm;
  };

  // A GEMM y[m, n] = x[m, k] w[k, n] (count of them, a grouped GEMM when > 1), reading its weights
  // once: bytes = weights + 16-bit input and output.
  [[nodiscard]] double gemm(const ComputeModel& cm, double m, double n, double k, double count = 1,
                            double weight_bpe = 0) const {
    if (m <= 0 || count <= 0) return 0;
    const double bpe = weight_bpe > 0 ? weight_bpe : wbytes_;
    ComputeOp op;
    op.kind = count > 1 ? OpKind::kGroupedGemm : OpKind::kGemm;
    op.m = m;
    op.n = n;
    op.k = k;
    op.count = count;
    // Split-K / stream-K (Osama et al. 2023, "Stream-K"; cuBLAS and CUTLASS heuristics): when the
    // output tiles cannot fill the matrix units, as in every decode GEMM, the libraries split the
    // reduction over K so that every unit works: modelled as `split` GEMMs of k / split each.
    const MatrixUnit& mu = chip_.matrix_unit;
    const double tiles = std::ceil(m / mu.tile_m) * std::ceil(n / mu.tile_n) * count;
    const double split = std::min(std::floor(mu.units / tiles), std::floor(k / mu.tile_k));
    if (split > 1) {
      op.k = k / split;
      op.count = count * split;
    }
    op.flops = Flops(2.0 * m * n * k * count);
    op.bytes = Bytes((n * k * bpe + (m * k + m * n) * kActBytes) * count);
    if (split > 1) op.kind = OpKind::kGroupedGemm;
    return cm.cost(op).time.value();
  }

  [[nodiscard]] double memory(const ComputeModel& cm, double bytes, double flops) const {
    ComputeOp op;
    op.kind = OpKind::kMemory;
    op.flops = Flops(flops);
    op.bytes = Bytes(bytes);
    return cm.cost(op).time.value();
  }

  // The non-attention part of one layer for t tokens: projections, MLP, norms, elementwise.
  [[nodiscard]] double linear_part(const ComputeModel& cm, double t, bool moe) const {
    const double h = m_.hidden;
    double s = 0;
    // Two fused add+RMSNorm kernels (read residual and input, write both).
    s += 2 * memory(cm, 4.0 * h * t * kActBytes, 4.0 * h * t);
    if (m_.mla) {
      const auto& a = *m_.mla;
      if (a.q_lora_rank > 0) {
        s += gemm(cm, t, a.q_lora_rank, h);
        s += gemm(cm, t, heads_ * dqk_, a.q_lora_rank);
      } else {
        s += gemm(cm, t, heads_ * dqk_, h);
      }
      s += gemm(cm, t, a.kv_lora_rank + a.qk_rope_head_dim, h);
      s += gemm(cm, t, heads_ * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank);
      s += gemm(cm, t, h, heads_ * a.v_head_dim);
    } else {
      s += gemm(cm, t, (heads_ + 2 * kv_heads_) * m_.head_dim, h);
      s += memory(cm, 2.0 * (heads_ + kv_heads_) * m_.head_dim * t * kActBytes, 6.0 * (heads_ + kv_heads_) * t);  // RoPE
      s += gemm(cm, t, h, heads_ * m_.head_dim);
    }
    if (moe) {
      s += moe_part(cm, t);
    } else {
      s += mlp(cm, t, m_.ffn_hidden / static_cast<double>(tp_), 1);
    }
    return s;
  }

  // A gated (SwiGLU) or plain MLP of local width f on rows per GEMM, `count` GEMMs.
  [[nodiscard]] double mlp(const ComputeModel& cm, double rows, double f, double count, double weight_bpe = 0) const {
    const double h = m_.hidden;
    double s = 0;
    const double all_rows = rows * count;
    if (m_.mlp == MlpType::kGated) {
      s += gemm(cm, rows, 2 * f, h, count, weight_bpe);
      s += memory(cm, 3.0 * f * all_rows * kActBytes, 4.0 * f * all_rows);
    } else {
      s += gemm(cm, rows, f, h, count, weight_bpe);
      s += memory(cm, 2.0 * f * all_rows * kActBytes, 8.0 * f * all_rows);
    }
    s += gemm(cm, rows, h, f, count, weight_bpe);
    return s;
  }

  // Bytes per routed-expert weight (ServeConfig::expert_precision).
  [[nodiscard]] double expert_bpe() const { return expert_wbytes_; }

  // MoE MLP for t tokens on every rank of the TP group: the router, the experts this rank holds
  // (experts / ep, each split over tp / ep), the shared experts split over TP.
  [[nodiscard]] double moe_part(const ComputeModel& cm, double t) const {
    const auto& e = *m_.moe;
    const double experts = e.experts;
    // E: with uniform routing, t tokens choosing top-k of E experts touch E (1 - (1 - k/E)^t) of
    // them on average; only those GEMMs run and only their weights are read (what makes MoE
    // decode at small batch cheaper than its total parameters suggest).
    const double active = experts * (1.0 - std::pow(1.0 - e.topk / experts, t));
    const double rows = t * e.topk / active;  // per active expert
    const double active_local = active / ep_;
    const double etp = tp_ / ep_;
    double s = gemm(cm, t, experts, m_.hidden);                         // router
    s += memory(cm, 2.0 * t * e.topk * m_.hidden * kActBytes, 0);       // permute + unpermute
    s += mlp(cm, rows, e.ffn_hidden / etp, std::max(1.0, active_local), expert_wbytes_);
    if (e.shared_experts > 0) s += mlp(cm, t, static_cast<double>(e.ffn_hidden) * e.shared_experts / tp_, 1);
    return s;
  }

  // Attention core of one layer: prefill chunks (compute-bound, block-granular pairs) and decodes
  // (reading every sequence's KV: memory-bound until the packed rows fill a tile).
  [[nodiscard]] double attention(const Models& md, const BatchShape& b, bool window) const {
    double s = 0;
    const double pairs = window ? b.prefill_pairs_window : b.prefill_pairs_full;
    const double keys = window ? b.prefill_keys_window : b.prefill_keys_full;
    if (b.prefill_tokens > 0) {
      const double q = static_cast<double>(b.prefill_tokens);
      ComputeOp op;
      op.kind = OpKind::kAttention;
      op.m = q;
      op.n = pairs / q;
      op.k = dqk_;
      op.count = heads_;
      op.flops = Flops(2.0 * heads_ * pairs * (dqk_ + dv_));
      // Q read and O written in 16-bit; each chunk's keys read once and its new KV written.
      op.bytes = Bytes(q * heads_ * (dqk_ + dv_) * kActBytes + (keys + q) * kv_layer_bytes_);
      s += md.cm.cost(op).time.value();
    }
    if (b.decode_seqs > 0) {
      const double kv = window ? b.decode_kv_window : b.decode_kv_full;
      const double seqs = b.decode_seqs, qn = b.query_per_seq;
      ComputeOp op;
      op.kind = OpKind::kAttention;
      op.m = heads_ / groups_ * qn;  // query rows per KV head: GQA group (or all MLA heads) x query tokens
      op.n = std::max(1.0, kv / seqs);
      op.k = dqk_dec_;
      op.count = seqs * groups_;
      op.flops = Flops(2.0 * heads_ * qn * kv * (dqk_dec_ + dv_dec_));
      op.bytes = Bytes(kv * kv_layer_bytes_ + seqs * qn * (heads_ * (dqk_dec_ + dv_dec_) * kActBytes + kv_layer_bytes_));
      s += md.decode_cm.cost(op).time.value();
    }
    return s;
  }

  // Collectives of one layer: Megatron-style TP all-reduces after attention and after the MLP
  // (Shoeybi et al. 2019), 16-bit, of the batch's hidden states. An MoE layer with ep > 1
  // dispatches and combines its routed tokens by all-to-all (each rank sends its 1/ep share of the
  // tokens to top-k experts) in place of the MLP's all-reduce.
  [[nodiscard]] double layer_comm(double t, bool moe) const {
    double s = 0;
    if (tpi_ > 1) s += collective(CollectiveKind::kAllReduce, t, t * m_.hidden * kActBytes, GroupShape{{{tpi_, 1}}});
    if (moe && epi_ > 1) {
      const double a2a = t * m_.moe->topk * m_.hidden * kActBytes / ep_;
      s += 2 * collective(CollectiveKind::kAllToAll, t, a2a, GroupShape{{{epi_, tpi_ / epi_}}});
    } else if (tpi_ > 1) {
      s += collective(CollectiveKind::kAllReduce, t, t * m_.hidden * kActBytes, GroupShape{{{tpi_, 1}}});
    }
    return s;
  }

  // The LM head on `rows` positions (vocab-parallel, 16-bit weights), the logits gathered over TP
  // and sampled (fp32 softmax read), and the embedding lookup of t tokens.
  [[nodiscard]] double ends(const ComputeModel& cm, double t, double rows) const {
    const double v = m_.vocab / tp_;
    double s = memory(cm, t * m_.hidden * kActBytes, 0);  // embedding gather
    if (rows > 0) {
      s += memory(cm, 2.0 * rows * m_.hidden * kActBytes, 4.0 * rows * m_.hidden);  // final norm
      s += gemm(cm, rows, v, m_.hidden, 1, kActBytes);
      if (tpi_ > 1)
        s += collective(CollectiveKind::kAllGather, rows, rows * m_.vocab * kActBytes, GroupShape{{{tpi_, 1}}});
      s += memory(cm, rows * m_.vocab * 4.0, 5.0 * rows * m_.vocab);
    }
    return s;
  }

  // Every layer of the model for the batch (compute, comm), scaled to the heaviest pipeline stage
  // x pp (the virtual engine's iteration passes through pp stages of ceil(L / pp) layers each).
  void layers(const Models& md, const BatchShape& b, double t, double& compute, double& comm) const {
    const double dense = counts_.dense > 0 ? linear_part(md.cm, t, false) : 0;
    const double moe = counts_.moe > 0 ? linear_part(md.cm, t, true) : 0;
    const double full = counts_.full > 0 ? attention(md, b, false) : 0;
    const double win = counts_.window > 0 ? attention(md, b, true) : 0;
    const double pp = c_.layout.pp;
    const double share = pp * std::ceil(m_.layers / pp) / m_.layers;
    compute += share * (counts_.dense * dense + counts_.moe * moe + counts_.full * full + counts_.window * win);
    const double cd = counts_.dense > 0 ? layer_comm(t, false) : 0;
    const double cmoe = counts_.moe > 0 ? layer_comm(t, true) : 0;
    comm += share * (counts_.dense * cd + counts_.moe * cmoe);
    if (c_.layout.pp > 1) {
      // Hand-offs between neighbouring stages, tp ranks apart: t hidden states each.
      comm += (pp - 1) * collective(CollectiveKind::kSendRecv, t, t * m_.hidden * kActBytes, GroupShape{{{2, tpi_}}});
    }
  }

  // One extra block of the model's last-layer kind (an MTP module or an EAGLE head, dense) on t
  // tokens with its KV read by the batch's decodes.
  [[nodiscard]] double head_block(const Models& md, const BatchShape& b, double t, bool moe) const {
    return linear_part(md.cm, t, moe) + attention(md, b, false) + layer_comm(t, moe) +
           gemm(md.cm, t, m_.hidden, 2.0 * m_.hidden / tp_);  // the 2h -> h fusion projection
  }

  [[nodiscard]] const Model& model() const { return m_; }

 private:
  // A collective on the group, memoised by (kind, tokens): the buffer is a fixed multiple of the
  // tokens for each call site.
  [[nodiscard]] double collective(CollectiveKind kind, double tokens, double bytes, const GroupShape& g) const {
    const auto key = (static_cast<std::uint64_t>(kind) << 56) ^ (static_cast<std::uint64_t>(g.factors[0].size) << 40) ^
                     static_cast<std::uint64_t>(std::llround(tokens * 4));
    const auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    const double t = comm_.cost(kind, Bytes(bytes), g).time.value();
    memo_.emplace(key, t);
    return t;
  }

  const Model& m_;
  const ServeConfig& c_;
  const CollectiveModel& comm_;
  const Chip& chip_;
  Chip decode_chip_;
  long long tpi_ = 1, epi_ = 1;  // group sizes
  double tp_ = 1, ep_ = 1;
  double heads_ = 0, kv_heads_ = 0, groups_ = 1;
  double dqk_ = 0, dv_ = 0, dqk_dec_ = 0, dv_dec_ = 0;
  double wbytes_ = 2, expert_wbytes_ = 2, kv_layer_bytes_ = 0;
  serve_internal::LayerCounts counts_;
  mutable std::unordered_map<std::uint64_t, double> memo_;

 public:
  [[nodiscard]] const Chip& decode_chip() const { return decode_chip_; }
};

struct IterationCost::Impl {
  explicit Impl(const ServeConfig& c)
      : config(c),
        chip(per_rank(c.system.chip)),
        comm(c.system),
        target(config.model, config, comm, chip),
        graph(chip, c.precision, c.engine.graph_kernel_overhead),
        eager(chip, c.precision, c.engine.eager_kernel_overhead),
        graph_decode(target.decode_chip(), c.precision, c.engine.graph_kernel_overhead),
        eager_decode(target.decode_chip(), c.precision, c.engine.eager_kernel_overhead) {
    if (config.spec.method == SpecMethod::kDraft) draft.emplace(*config.spec.draft, config, comm, chip);
  }
  ServeConfig config;
  Chip chip;
  CollectiveModel comm;
  ModelPass target;
  ComputeModel graph, eager, graph_decode, eager_decode;
  std::optional<ModelPass> draft;
};

IterationCost::IterationCost(const ServeConfig& config) : impl_(new Impl(config)) {}
IterationCost::~IterationCost() { delete impl_; }

// CUDA graphs replay batches up to the largest captured size (decode-only batches where the engine
// captures only those); other iterations launch every kernel eagerly.
bool replays_graph(const ServeEngine& engine, const BatchShape& b) {
  return engine.cuda_graphs && b.tokens() <= engine.cuda_graph_max_tokens &&
         !(engine.cuda_graphs_decode_only && b.prefill_tokens > 0);
}

IterationTime IterationCost::time(const BatchShape& b) const {
  const Impl& im = *impl_;
  const ServeConfig& c = im.config;
  IterationTime it;
  const double t = static_cast<double>(b.tokens());
  if (t <= 0) return it;
  const bool graphs = replays_graph(c.engine, b);
  const ModelPass::Models md{graphs ? im.graph : im.eager, graphs ? im.graph_decode : im.eager_decode};
  double compute = 0, comm = 0;
  im.target.layers(md, b, t, compute, comm);
  // LM head on the positions that produce a token: every verified decode position and the last
  // token of each prompt that completes.
  const double rows = static_cast<double>(b.decode_seqs) * b.query_per_seq + b.prompts_done;
  compute += im.target.ends(md.cm, t, rows);

  // Speculative proposals: k sequential passes of the proposer over the decoding sequences (the
  // first also over this iteration's prompt tokens, whose KV the proposer needs too).
  double draft = 0;
  if (c.spec.method != SpecMethod::kNone && c.spec.k > 0 && b.decode_seqs > 0) {
    const double seqs = b.decode_seqs;
    BatchShape d = b;
    d.query_per_seq = 1;
    for (int step = 0; step < c.spec.k; ++step) {
      if (step > 0) {
        d.prefill_tokens = 0;
        d.prompts_done = 0;
      }
      const double dt = static_cast<double>(d.tokens());
      if (c.spec.method == SpecMethod::kDraft) {
        double dc = 0, dm = 0;
        im.draft->layers(md, d, dt, dc, dm);
        draft += dc + dm + im.draft->ends(md.cm, dt, seqs);
      } else {
        const bool moe = c.spec.method == SpecMethod::kMtp && c.model.is_moe();
        // An MTP module or EAGLE head shares the target's embedding and LM head.
        draft += im.target.head_block(md, d, dt, moe) + im.target.ends(md.cm, dt, seqs);
      }
    }
  }
  it.compute = Seconds(compute);
  it.comm = Seconds(comm);
  it.draft = Seconds(draft);
  it.host = c.engine.iteration_overhead;
  it.total = it.compute + it.comm + it.draft + it.host;
  return it;
}

// ---------------------------------------------------------------------------------------------
// Attention data parallelism (docs/serving.md 10; DeepSeek-AI 2024, DeepSeek-V3 Sec. 3.4; SGLang
// --enable-dp-attention; TensorRT-LLM enable_attention_dp): each of the tp ranks runs the attention
// block for its own requests with all heads and its own KV, so attention needs no all-reduce and
// the MLA latent is not replicated; the routed experts are split over ep = tp ranks, which
// exchange tokens by all-to-all (dispatch and combine). Dense MLPs, shared experts and the LM head
// run data-parallel too, replicated on every rank (SGLang --moe-dense-tp-size 1 and
// --enable-dp-lm-head). The ranks are symmetric, so the experts of one rank see tp x its tokens.
// ---------------------------------------------------------------------------------------------

struct AttentionDpCost::Impl {
  explicit Impl(const ServeConfig& c)
      : config(c),
        local(rank_config(c)),
        chip(per_rank(c.system.chip)),
        comm(c.system),
        pass(config.model, local, comm, chip),
        graph(chip, c.precision, c.engine.graph_kernel_overhead),
        eager(chip, c.precision, c.engine.eager_kernel_overhead),
        graph_decode(pass.decode_chip(), c.precision, c.engine.graph_kernel_overhead),
        eager_decode(pass.decode_chip(), c.precision, c.engine.eager_kernel_overhead) {}

  // One rank alone: tp 1, ep 1 (its attention, dense MLP, shared experts and LM head).
  static ServeConfig rank_config(ServeConfig c) {
    c.layout.tp = c.layout.ep = 1;
    c.layout.attention_dp = false;
    return c;
  }

  // The MLP of one MoE layer on this rank: the router and the permutation of its own t tokens, the
  // experts it holds fed by every rank's tokens (T = dp x t), its replicated shared experts.
  [[nodiscard]] double moe_mlp(const ComputeModel& cm, double t, double all_tokens) const {
    const MoeConfig& e = *config.model.moe;
    const double experts = e.experts;
    // E: uniform routing, as ModelPass::moe_part: T tokens touch E (1 - (1 - k/E)^T) experts.
    const double active = experts * (1.0 - std::pow(1.0 - e.topk / experts, all_tokens));
    const double rows = all_tokens * e.topk / active;
    const double active_local = active / config.layout.ep;
    double s = pass.gemm(cm, t, experts, config.model.hidden);                              // router
    s += pass.memory(cm, 2.0 * t * e.topk * config.model.hidden * serve_internal::kActBytes, 0);  // permute
    s += pass.mlp(cm, rows, e.ffn_hidden, std::max(1.0, active_local), pass.expert_bpe());
    if (e.shared_experts > 0) s += pass.mlp(cm, t, static_cast<double>(e.ffn_hidden) * e.shared_experts, 1);
    return s;
  }

  // Dispatch and combine of one MoE layer: each rank sends its t tokens' top-k copies (16-bit).
  [[nodiscard]] double moe_comm(double t) const {
    const auto key = static_cast<std::uint64_t>(std::llround(t * 4));
    const auto it = a2a_memo.find(key);
    if (it != a2a_memo.end()) return it->second;
    const double bytes = t * config.model.moe->topk * config.model.hidden * serve_internal::kActBytes;
    const GroupShape ep{{{config.layout.ep, 1}}};
    const double s = 2 * comm.cost(CollectiveKind::kAllToAll, Bytes(bytes), ep).time.value();
    a2a_memo.emplace(key, s);
    return s;
  }

  ServeConfig config, local;
  Chip chip;
  CollectiveModel comm;
  ModelPass pass;  // one rank, tp 1
  ComputeModel graph, eager, graph_decode, eager_decode;
  mutable std::unordered_map<std::uint64_t, double> a2a_memo;
};

AttentionDpCost::AttentionDpCost(const ServeConfig& config) : impl_(new Impl(config)) {}
AttentionDpCost::~AttentionDpCost() { delete impl_; }

IterationTime AttentionDpCost::time(const BatchShape& b) const {
  const Impl& im = *impl_;
  const ServeConfig& c = im.config;
  const Model& m = c.model;
  IterationTime it;
  const double t = static_cast<double>(b.tokens());
  if (t <= 0) return it;
  const bool graphs = replays_graph(c.engine, b);
  const ModelPass::Models md{graphs ? im.graph : im.eager, graphs ? im.graph_decode : im.eager_decode};
  const auto lc = serve_internal::layer_counts(m);
  const double dense_mlp = im.pass.mlp(md.cm, t, m.ffn_hidden, 1);
  // Norms and attention projections: one rank's dense layer without its MLP.
  const double projections = im.pass.linear_part(md.cm, t, false) - dense_mlp;
  const double full = lc.full > 0 ? im.pass.attention(md, b, false) : 0;
  const double window = lc.window > 0 ? im.pass.attention(md, b, true) : 0;
  const double moe = lc.moe > 0 ? im.moe_mlp(md.cm, t, t * c.layout.tp) : 0;
  double compute = lc.total() * projections + lc.full * full + lc.window * window + lc.dense * dense_mlp + lc.moe * moe;
  const double rows = static_cast<double>(b.decode_seqs) * b.query_per_seq + b.prompts_done;
  compute += im.pass.ends(md.cm, t, rows);
  it.compute = Seconds(compute);
  it.comm = Seconds(lc.moe * im.moe_comm(t));
  it.host = c.engine.iteration_overhead;
  it.total = it.compute + it.comm + it.draft + it.host;
  return it;
}

}  // namespace tahoma
