// Energy and cost of a serving run (docs/serving.md 6, docs/energy.md): the chips' power from the
// model training uses (tahoma::chip_power, src/hw/power.cpp), with a serving iteration's compute-busy
// and memory-busy shares and the share of time a group iterates, then joules and dollars per output token.
#include <algorithm>
#include <cmath>

#include "internal.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

constexpr double kJoulesPerKwh = 3.6e6;

// Work of the run's mean iteration on one replica (one pipeline virtual engine), all its ranks.
struct IterationWork {
  double flops = 0;      // matmul and attention FLOPs
  double hbm_bytes = 0;  // weights read once, the decodes' KV read, the new tokens' KV written
};

// Parameters whose weights an iteration of t tokens reads: every matrix but the routed experts
// nobody chose (t tokens picking top-k of E experts touch E (1 - (1 - k/E)^t) of them, the cost
// model's rule in cost.cpp).
double params_read(const Model& m, double tokens) {
  const ParamCount pc = count_params(m);
  if (!m.is_moe()) return pc.total;
  const auto& e = *m.moe;
  const double experts = e.experts;
  const double untouched = std::pow(1.0 - e.topk / experts, tokens);
  const double routed = experts * m.mlp_matrices() * static_cast<double>(m.hidden) * e.ffn_hidden;
  return pc.total - moe_layers(m) * routed * untouched;
}

// The mean iteration's work, from the run's means: T tokens, D decoding sequences verifying q tokens
// each, P = T - D q prompt tokens; a prompt token attends to I / 2 earlier positions on average, a
// decode to I + O / 2 (I, O: the mean input and output lengths); sliding-window layers cap both at
// the window. FLOPs are 2 per active parameter per token (Kaplan et al. 2020) plus attention's
// 2 x heads x (d_qk + d_v) per query-key pair; bytes are the weights once, the decodes' KV and
// every new token's KV.
IterationWork mean_iteration(const ServeConfig& c, const ServeResult& r) {
  const Model& m = c.model;
  const double t = r.mean_batch_tokens;
  const double q = 1.0 + (c.spec.method == SpecMethod::kNone ? 0 : c.spec.k);
  const double d = r.mean_decode_seqs;
  const double p = std::max(0.0, t - d * q);
  const double requests = static_cast<double>(std::max(1LL, r.requests));
  const double in = static_cast<double>(r.input_tokens) / requests;
  const double out = static_cast<double>(r.output_tokens) / requests;
  const serve_internal::LayerCounts layers = serve_internal::layer_counts(m);
  const double window = m.sliding_window > 0 ? m.sliding_window : 1e300;
  auto pairs = [&](double context) {
    return layers.full * context + layers.window * std::min(context, window);
  };
  const double dqk = m.mla ? m.mla->qk_nope_head_dim + m.mla->qk_rope_head_dim : m.head_dim;
  const double dv = m.mla ? m.mla->v_head_dim : m.head_dim;
  const double decode_context = in + out / 2.0;
  IterationWork w;
  w.flops = 2.0 * count_params(m).active * t +
            2.0 * m.heads * (dqk + dv) * (p * pairs(in / 2.0) + d * q * pairs(decode_context));
  // Replica-wide KV bytes per token: the per-rank figure (every layer of a stage, MLA's latent on
  // every TP rank) times the ranks.
  const double ranks = static_cast<double>(c.layout.tp) * c.layout.pp;
  const double kv_per_token = r.memory.kv_bytes_per_token.value() * ranks / std::max(1, layers.full + layers.window);
  w.hbm_bytes = params_read(m, t) * bytes_per_element(c.precision) +
                kv_per_token * (d * pairs(decode_context) + t * (layers.full + layers.window));
  return w;
}

}  // namespace

ServeEnergy serve_energy(const ServeConfig& c, const ServeResult& r) {
  ServeEnergy e;
  const Chip& chip = c.system.chip;
  if (!r.servable || r.output_tokens_per_s <= 0 || r.mean_iteration_s <= 0 || r.output_tokens <= 0) return e;
  if (c.system.price_usd_per_chip_hour) {
    e.usd_per_million_output_tokens =
        *c.system.price_usd_per_chip_hour * r.chips_used / 3600.0 / r.output_tokens_per_s * 1e6;
  }
  if (chip.tdp.value() <= 0) return e;  // no power model in the preset

  // Per rank: a virtual engine's iteration of time t passes through pp stages, and pp engines are
  // in flight, so each of a stage's tp ranks does 1 / tp of one iteration's work per t.
  const Chip rank = per_rank(chip);
  const IterationWork w = mean_iteration(c, r);
  const double t = r.mean_iteration_s;
  const double tp = c.layout.tp;
  const Precision p = rank.peak(c.precision) ? c.precision : Precision::kBf16;
  const double sustained_flops = rank.peak(p)->value() * chip.matmul_efficiency * chip.efficiency_at(p);
  const double sustained_bytes = rank.hbm_bandwidth.value() * chip.memory_efficiency;
  e.compute_busy = std::min(1.0, w.flops / tp / t / sustained_flops);
  e.memory_busy = std::min(1.0, w.hbm_bytes / tp / t / sustained_bytes);
  // Share of time a group iterates: iteration time x iterations per output token x output tokens
  // per second per group (below 1 when requests arrive slower than the engine serves them).
  const double iterations_per_token = static_cast<double>(r.iterations) / static_cast<double>(r.output_tokens);
  e.busy = std::min(1.0, t * iterations_per_token * r.output_tokens_per_s / std::max(1, r.groups));

  // E: the links' share is left out (network 0): TP all-reduces and KV hand-offs are not yet timed
  // per iteration here; their power is a few percent of the dynamic range (docs/energy.md).
  e.avg_power_w_per_chip = chip_power(c.system, {e.compute_busy, e.memory_busy, 0.0}, e.busy).value();
  e.joules_per_output_token = e.avg_power_w_per_chip * r.chips_used / r.output_tokens_per_s;
  e.kwh_per_million_output_tokens = e.joules_per_output_token * 1e6 / kJoulesPerKwh;
  return e;
}

}  // namespace tahoma
