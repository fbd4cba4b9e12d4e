// Serving memory per rank (docs/serving.md 3), sized the way vLLM does it: the KV cache gets
//   kv = gpu_memory_utilization x HBM - weights - peak activations (a profiled forward pass of
//        max_num_batched_tokens) - non-torch memory,
// cut into paged blocks of block_size tokens (Kwon et al. 2023, PagedAttention; vLLM
// docs "gpu_memory_utilization"; TensorRT-LLM's kv_cache_free_gpu_mem_fraction is the same idea
// applied to the memory left after weights). Not fitting is a result, not an error.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "internal.h"
#include "tahoma/error.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

using serve_internal::kActBytes;

std::string gb(Bytes b) {
  return fmt::format("{:.2f} GB", b.value() / 1e9);
}

// Weights one attention-DP rank holds (docs/serving.md 10): attention, dense MLPs, shared experts,
// routers and the 16-bit embedding and LM head whole on every rank (SGLang --enable-dp-attention
// with --moe-dense-tp-size 1 and --enable-dp-lm-head); the routed experts split over ep.
Bytes attention_dp_weights_per_rank(const ServeConfig& c) {
  const Model& m = c.model;
  const ParamCount pc = count_params(m);
  const auto lc = serve_internal::layer_counts(m);
  const double bpe = bytes_per_element(c.precision);
  // The routed experts split over ep, in their own precision; shared experts and routers whole.
  const double routed = serve_internal::routed_expert_params(m);
  const double rest = pc.attention_per_layer * m.layers + pc.dense_mlp_per_layer * lc.dense +
                      (pc.moe_mlp_per_layer - routed) * lc.moe;
  return Bytes(rest * bpe + routed / c.layout.ep * lc.moe * serve_internal::expert_bytes_per_element(c) +
               pc.embedding * kActBytes);
}

// Weights one rank of the heaviest pipeline stage holds, in the weight precision; embedding and LM
// head stay 16-bit (vLLM's fp8 / NVFP4 checkpoints leave embed_tokens and lm_head unquantized).
Bytes weights_per_rank(const ServeConfig& c) {
  if (c.layout.attention_dp) return attention_dp_weights_per_rank(c);
  const Model& m = c.model;
  const ParamCount pc = count_params(m);
  const auto lc = serve_internal::layer_counts(m);
  const double tp = c.layout.tp, pp = c.layout.pp;
  const double bpe = bytes_per_element(c.precision);
  // The routed experts in their own precision (expert_precision), the rest in the weights'.
  const double routed = serve_internal::routed_expert_params(m);
  const double layer_bytes = (pc.attention_per_layer * m.layers + pc.dense_mlp_per_layer * lc.dense +
                              (pc.moe_mlp_per_layer - routed) * lc.moe) * bpe +
                             routed * lc.moe * serve_internal::expert_bytes_per_element(c);
  // The heaviest stage holds ceil(L / pp) of the L layers; experts split over ep x (tp / ep) = tp.
  const double stage_share = std::ceil(m.layers / pp) / m.layers;
  double bytes = layer_bytes / tp * stage_share;
  // Input table and LM head (vocab-parallel over TP): the first and last stages hold one each.
  const double embed = (c.layout.pp > 1 && !m.tied_embeddings) ? pc.embedding / 2 : pc.embedding;
  bytes += embed / tp * kActBytes;
  switch (c.spec.method) {
    case SpecMethod::kNone: break;
    case SpecMethod::kMtp: bytes += pc.mtp_per_module * m.mtp_depth / tp * bpe; break;
    case SpecMethod::kEagle:
      // E: an EAGLE head is one decoder layer of the target's width plus a 2h -> h fusion layer
      // (Li et al. 2024, EAGLE, Sec. 3); it shares the target's embedding and LM head.
      bytes += (pc.attention_per_layer + pc.dense_mlp_per_layer + 2.0 * m.hidden * m.hidden) / tp * bpe;
      break;
    case SpecMethod::kDraft: bytes += count_params(*c.spec.draft).total / tp * bpe; break;
  }
  return Bytes(bytes);
}

// E: the peak activations of vLLM's profiling pass at max_num_batched_tokens tokens: per token the
// residual stream and a norm output, the QKV output and the MLP's gate+up output (the widest
// intermediate), 16-bit; plus the sampler's fp32 logits for max_num_seqs x (1 + k) rows.
Bytes workspace_per_rank(const ServeConfig& c) {
  const Model& m = c.model;
  const double tp = c.layout.tp;
  const double heads = static_cast<double>(m.heads) / tp;
  const double qkv = (heads + 2.0 * serve_internal::local_kv_heads(m, c.layout.tp)) * m.head_dim;
  double mlp = 2.0 * m.ffn_hidden / tp;
  if (m.is_moe()) mlp = std::max(mlp, 2.0 * m.moe->ffn_hidden * m.moe->topk / tp);
  const double per_token = (2.0 * m.hidden + qkv + mlp) * kActBytes;
  const double rows = static_cast<double>(c.engine.max_num_seqs) * (1 + c.spec.k);
  const double logits = rows * m.vocab * 4.0;
  return Bytes(c.engine.max_num_batched_tokens * per_token + logits) + c.engine.runtime_reserve;
}

}  // namespace

ServeMemory size_memory(const ServeConfig& c, long long longest_tokens, std::string* reason) {
  ServeMemory mem;
  const Chip rank = per_rank(c.system.chip);
  mem.hbm = rank.hbm_capacity;
  mem.weights = weights_per_rank(c);
  // An attention-DP rank holds whole heads and whole sequences: its workspace and KV are those of
  // tp 1 (docs/serving.md 10).
  ServeConfig attention = c;
  if (c.layout.attention_dp) attention.layout.tp = attention.layout.ep = 1;
  mem.workspace = workspace_per_rank(attention);
  // vLLM: KV = fraction x HBM - weights - workspace; TensorRT-LLM: KV = fraction x (HBM - weights -
  // workspace).
  const Bytes usable = c.engine.fraction_of_free ? mem.hbm : mem.hbm * c.engine.mem_fraction;
  const Bytes left = std::max(Bytes(0), usable - mem.weights - mem.workspace);
  mem.kv_capacity = c.engine.fraction_of_free ? left * c.engine.mem_fraction : left;

  const auto lc = serve_internal::layer_counts(c.model);
  const int pp = c.layout.pp;
  mem.full_layers = (lc.full + pp - 1) / pp;
  mem.window_layers = (lc.window + pp - 1) / pp;
  // Speculative heads keep a KV cache of their own layer(s), on the last stage.
  if (c.spec.method == SpecMethod::kEagle) mem.full_layers += 1;
  if (c.spec.method == SpecMethod::kMtp) mem.full_layers += c.model.mtp_depth;
  const double per_layer = serve_internal::kv_bytes_per_token_layer(c.model, attention.layout.tp, c.kv_dtype);
  const int stage_layers = mem.full_layers + mem.window_layers;
  mem.kv_bytes_per_token = Bytes(per_layer * stage_layers);
  if (c.spec.method == SpecMethod::kDraft) {
    // The draft model's cache shares the pool: the target keeps its per-token share of the bytes.
    const Model& d = *c.spec.draft;
    const double draft = serve_internal::kv_bytes_per_token_layer(d, c.layout.tp, c.kv_dtype) * d.layers;
    mem.kv_share = mem.kv_bytes_per_token.value() / (mem.kv_bytes_per_token.value() + draft);
  }
  const double block_bytes = per_layer * c.engine.block_size;
  mem.layer_blocks = static_cast<long long>(std::floor(mem.kv_capacity.value() * mem.kv_share / block_bytes));
  mem.kv_blocks = stage_layers > 0 ? mem.layer_blocks / stage_layers : 0;
  mem.kv_tokens = mem.kv_blocks * c.engine.block_size;

  auto fail = [&](std::string why) {
    if (reason != nullptr && reason->empty()) *reason = std::move(why);
  };
  if (mem.weights > usable) {
    fail(fmt::format("cannot serve: weights need {} per rank, more than {} usable of {} HBM; raise --tp/--pp or "
                     "lower --precision",
                     gb(mem.weights), gb(usable), gb(mem.hbm)));
  } else if (mem.weights + mem.workspace > usable) {
    fail(fmt::format("cannot serve: weights {} + workspace {} leave no KV cache in {} usable per rank; lower "
                     "--max-tokens or raise --tp/--pp",
                     gb(mem.weights), gb(mem.workspace), gb(usable)));
  } else {
    const long long need = serve_internal::layer_blocks_for(longest_tokens, mem.full_layers, mem.window_layers,
                                                            c.model.sliding_window, c.engine.block_size);
    // One pipeline virtual engine owns 1/pp of the blocks (serve.cpp).
    if (need > mem.layer_blocks / pp) {
      const Bytes need_bytes(static_cast<double>(need) * block_bytes / mem.kv_share);
      fail(fmt::format("cannot serve: needs {} of KV per rank for one {}-token request, {} free{}; raise --tp/--pp, "
                       "--mem-fraction or use --kv-dtype fp8",
                       gb(need_bytes), longest_tokens, gb(mem.kv_capacity / pp),
                       pp > 1 ? " per pipeline virtual engine" : ""));
    }
  }
  return mem;
}

}  // namespace tahoma
