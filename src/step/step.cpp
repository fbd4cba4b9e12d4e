#include "tahoma/step.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "pricing.h"
#include "tahoma/error.h"

namespace tahoma {
using namespace step_internal;

double model_flops_per_token(const Model& model, int seq) {
  const ParamCount pc = count_params(model);
  const double table = static_cast<double>(model.vocab) * model.hidden;
  // Untied models own a separate input table that is a lookup, not a matmul.
  const double n = pc.active - (model.tied_embeddings ? 0.0 : table);
  double dqk = model.head_dim, dv = model.head_dim;
  if (model.mla) {
    dqk = model.mla->qk_nope_head_dim + model.mla->qk_rope_head_dim;
    dv = model.mla->v_head_dim;
  }
  // Attention counted non-causal (PaLM App. B: 12·L·H·Q·T); a sliding-window layer counts its
  // window, min(w, s) keys per query, exactly (not the blocked kernel's work: see lower.h).
  const double keys_full = seq;
  const double keys_window = model.sliding_window > 0 ? std::min<double>(model.sliding_window, seq) : keys_full;
  const double keys = (1.0 - model.window_fraction) * keys_full + model.window_fraction * keys_window;
  // Multi-token prediction counts as model work (Megatron-LM's num_floating_point_operations, the
  // calculator behind NeMo/Megatron-Bridge's published TFLOP/s, adds mtp_num_layers blocks, the
  // eh projections and (mtp_num_layers + 1) logits): pc.active holds the modules' blocks and
  // projections; each depth runs the shared head once more and attends over the sequence.
  const double mtp_head = model.mtp_depth * static_cast<double>(model.vocab) * model.hidden;
  const double attention_layers = model.layers + model.mtp_depth;
  return 6.0 * (n + mtp_head) + 6.0 * attention_layers * static_cast<double>(model.heads) * keys * (dqk + dv);
}

LayerPrices step_internal::price_layers(const Scenario& sc, Pricer& pricer, const StageProgram& prog,
                                        const StageProgram& prog_sel) {
  const bool moe = sc.model.is_moe();
  LayerPrices lp;
  // One dense and one MoE layer; each stage is composed from its layer counts.
  lp.dense_f = pricer.layer(prog.dense_layer, {Phase::kForward});
  lp.dense_b = pricer.layer(prog.dense_layer, {Phase::kBackward, Phase::kRecompute});
  lp.moe_f = moe ? pricer.layer(prog.moe_layer, {Phase::kForward}) : PhaseTime{};
  lp.moe_b = moe ? pricer.layer(prog.moe_layer, {Phase::kBackward, Phase::kRecompute}) : PhaseTime{};
  lp.dense_b_sel = pricer.layer(prog_sel.dense_layer, {Phase::kBackward, Phase::kRecompute});
  lp.moe_b_sel = moe ? pricer.layer(prog_sel.moe_layer, {Phase::kBackward, Phase::kRecompute}) : PhaseTime{};
  lp.first_f = pricer.layer(prog.first_stage_extra, {Phase::kForward});
  lp.first_b = pricer.layer(prog.first_stage_extra, {Phase::kBackward});
  lp.last_f = pricer.layer(prog.last_stage_extra, {Phase::kForward});
  lp.last_b = pricer.layer(prog.last_stage_extra, {Phase::kBackward, Phase::kRecompute});  // + MTP's recompute
  if (sc.plan.pp > 1) lp.p2p = pricer.collective(prog.pp_send, 0);
  lp.dense_w = pricer.weight_grad(prog.dense_layer);
  lp.moe_w = moe ? pricer.weight_grad(prog.moe_layer) : Seconds(0);
  lp.last_w = pricer.weight_grad(prog.last_stage_extra);
  return lp;
}

StepResult simulate_step_closed_form(const Scenario& sc) {
  const StageProgram prog = lower(sc.model, sc.plan, sc.training);
  // Partial full recompute: the layers not recomputed run the selective program.
  const bool partial = sc.plan.recompute == Recompute::kFull && sc.plan.recompute_num_layers > 0;
  const StageProgram prog_sel = partial ? lower(sc.model, without_full_recompute(sc.plan), sc.training) : prog;
  std::map<std::string, CommSummary> summary;
  const Chip rank_chip = per_rank(sc.system.chip);  // each rank owns its share of the chip
  Pricer pricer(sc, rank_chip, &summary);
  const LayerPrices lp = price_layers(sc, pricer, prog, prog_sel);
  const std::pair<const StageProgram*, const StageProgram*> programs{&prog, &prog_sel};
  StepResult r = compose_closed_form(sc, lp, pricer, &programs);
  for (auto& [name, s] : summary) r.comm.push_back(s);
  step_internal::set_energy(r, sc);  // again, now that the collectives' time is known
  return r;
}

StepResult step_internal::compose_closed_form(const Scenario& sc, const LayerPrices& lp, Pricer& pricer,
                                              const std::pair<const StageProgram*, const StageProgram*>* programs) {
  const Plan& plan = sc.plan;
  const Model& model = sc.model;
  const System& sys = sc.system;
  StepResult r;
  r.microbatches = num_microbatches(plan, sc.training);
  const double m = r.microbatches;
  const int p = plan.pp;
  const double v = plan.vpp;
  const bool partial = plan.recompute == Recompute::kFull && plan.recompute_num_layers > 0;
  const Chip rank_chip = per_rank(sys.chip);
  const PhaseTime &dense_f = lp.dense_f, &dense_b = lp.dense_b, &moe_f = lp.moe_f, &moe_b = lp.moe_b;
  const PhaseTime &dense_b_sel = lp.dense_b_sel, &moe_b_sel = lp.moe_b_sel;
  const int dense_end = model.is_moe() ? model.moe->first_k_dense : model.layers;
  struct StageLayers {
    double dense = 0, moe = 0;
  };
  auto stage_layers = [&](int stage) {
    const int n = layers_on_stage(model, plan, stage);
    const int first = first_layer_of_stage(model, plan, stage);
    const int moe = std::clamp(first + n - dense_end, 0, n);
    return StageLayers{static_cast<double>(n - moe), static_cast<double>(moe)};
  };
  auto stage_phase = [&](const StageLayers& l, const PhaseTime& d, const PhaseTime& e) {
    return add(scaled(d, l.dense), scaled(e, l.moe));
  };
  // Fraction of a stage's layers that are fully recomputed (1 unless recompute_num_layers is set).
  auto recomputed_fraction = [&](int stage) {
    const int n = layers_on_stage(model, plan, stage);
    return n == 0 || !partial ? 1.0 : static_cast<double>(recomputed_layers(model, plan, stage)) / n;
  };
  auto stage_backward = [&](int stage, const StageLayers& l) {
    const double frac = recomputed_fraction(stage);
    return add(scaled(stage_phase(l, dense_b, moe_b), frac),
               scaled(stage_phase(l, dense_b_sel, moe_b_sel), 1.0 - frac));
  };
  const PhaseTime &first_f = lp.first_f, &first_b = lp.first_b, &last_f = lp.last_f, &last_b = lp.last_b;

  // Point-to-point: every chunk boundary sends an activation forward and a gradient back.
  const Seconds p2p = lp.p2p * v;

  // Forward and backward of one micro-batch on the first, a middle and the last stage.
  const StageLayers l_first = stage_layers(0), l_last = stage_layers(p - 1), l_mid = stage_layers(p / 2);
  PhaseTime f_first = add(stage_phase(l_first, dense_f, moe_f), first_f);
  PhaseTime b_first = add(stage_backward(0, l_first), first_b);
  PhaseTime f_last = add(stage_phase(l_last, dense_f, moe_f), last_f);
  PhaseTime b_last = add(stage_backward(p - 1, l_last), last_b);
  if (p == 1) {
    f_first = f_last = add(f_first, last_f);
    b_first = b_last = add(b_first, last_b);
  }
  const PhaseTime f_mid = stage_phase(l_mid, dense_f, moe_f);
  const PhaseTime b_mid = stage_backward(p / 2, l_mid);
  const Seconds t_first = busy(f_first) + busy(b_first) + p2p * 2.0;
  const Seconds t_last = busy(f_last) + busy(b_last) + p2p * 2.0;
  const Seconds t_mid = busy(f_mid) + busy(b_mid) + p2p * 2.0;
  const Seconds t_max = max(max(t_first, t_last), p > 2 ? t_mid : Seconds(0));
  // Flow-shop makespan of m identical micro-batches over p stages: sum of stage times plus (m-1)
  // times the slowest; interleaving divides the fill/drain by v (Narayanan et al. 2021, Sec. 2.2).
  const Seconds stage_sum = p == 1 ? t_max : t_first + t_last + t_mid * static_cast<double>(std::max(0, p - 2));
  // The schedule scales 1F1B's bubble (tahoma/schedule.h): ZB-H1 by (F + B - 2W)/(F + B), DualPipe
  // by (p/2 - 1)(F + 2B - 3W) / ((p - 1)(F + B)), from the slowest stage's per-micro-batch times.
  const PipelineScheduleInfo& schedule = schedule_info(effective_schedule(plan));
  double bubble_factor = 1.0;
  if (p > 1 && schedule.splits_weight_grad) {
    const int s = t_max == t_first ? 0 : (t_max == t_last ? p - 1 : p / 2);
    const StageLayers l = stage_layers(s);
    const Seconds w = lp.dense_w * l.dense + lp.moe_w * l.moe + (s == p - 1 ? lp.last_w : Seconds(0));
    const Seconds f = busy(s == 0 ? f_first : s == p - 1 ? f_last : f_mid);
    const Seconds b = (s == 0 ? t_first : s == p - 1 ? t_last : t_mid) - f;
    bubble_factor = schedule.bubble_factor(p, {f.value(), b.value(), w.value()});
  }
  const Seconds bubble = (stage_sum - t_max) / v * bubble_factor;
  const Seconds pipeline = t_max * m + bubble;

  // The critical (slowest) stage decides the compute/communication split of the breakdown.
  const int crit_stage = t_max == t_first ? 0 : (t_max == t_last ? p - 1 : p / 2);
  const PhaseTime crit_f = crit_stage == 0 ? f_first : (crit_stage == p - 1 ? f_last : f_mid);
  const PhaseTime crit_b = crit_stage == 0 ? b_first : (crit_stage == p - 1 ? b_last : b_mid);
  const StageLayers l_crit = stage_layers(crit_stage);
  if (programs != nullptr) {  // the per-step communication summary of the critical stage
    const StageProgram& prog = *programs->first;
    const StageProgram& prog_sel = *programs->second;
    const double crit_frac = recomputed_fraction(crit_stage);
    pricer.record(prog.dense_layer, m * l_crit.dense * crit_frac);
    if (model.is_moe()) pricer.record(prog.moe_layer, m * l_crit.moe * crit_frac);
    if (partial) {
      pricer.record(prog_sel.dense_layer, m * l_crit.dense * (1.0 - crit_frac));
      if (model.is_moe()) pricer.record(prog_sel.moe_layer, m * l_crit.moe * (1.0 - crit_frac));
    }
    if (crit_stage == 0) pricer.record(prog.first_stage_extra, m);
    if (crit_stage == p - 1) pricer.record(prog.last_stage_extra, m);
    if (p > 1) pricer.collective(prog.pp_send, 2.0 * v * m);
  }

  // Data-parallel gradient reduction and parameter gathering (over dp x cp ranks).
  const RankParams params = params_per_rank_split(model, plan, crit_stage);
  const double layers_per_rank = static_cast<double>(layers_on_stage(model, plan, crit_stage));
  const double shard = static_cast<double>(plan.dp) * plan.cp;
  const double expert_shard = std::max(1.0, expert_replicas(plan));
  Seconds dp_exposed{0};
  Seconds dp_total{0};  // all data-parallel communication of the step, hidden or not
  if (shard > 1) {
    const double grad_bytes = grad_reduce_bytes(plan);
    const Seconds f_mb = busy(crit_f);
    const Seconds b_mb = busy(crit_b);
    // The last bucket (about one layer of gradients) cannot overlap anything.
    const double buckets = std::max(1.0, layers_per_rank);
    const double last_bucket = 1.0 / buckets;
    if (plan.zero == 0) {
      const Seconds t = pricer.data_parallel("dp.all_reduce", CollectiveKind::kAllReduce, Phase::kBackward, params,
                                             grad_bytes, buckets, 1);
      dp_exposed = max(t * last_bucket, t - b_mb);
      dp_total = t;
    } else if (plan.zero <= 2 || p > 1) {
      // Megatron distributed optimizer: reduce-scatter overlapped with the last backward,
      // all-gather of updated parameters overlapped with the first forward. FSDP under a pipeline
      // schedule behaves the same: PyTorch's pipelining keeps a stage's parameters unsharded and
      // defers the gradient reduce-scatter across the micro-batches of a step (torchtitan sets
      // reshard_after_forward = False with PP).
      const Seconds rs = pricer.data_parallel("dp.reduce_scatter", CollectiveKind::kReduceScatter, Phase::kBackward,
                                              params, grad_bytes, buckets, 1);
      const Seconds ag = pricer.data_parallel("dp.all_gather", CollectiveKind::kAllGather, Phase::kForward, params,
                                              kParamGatherBytes, buckets, 1);
      dp_exposed = max(rs * last_bucket, rs - b_mb) + max(ag * last_bucket, ag - f_mb);
      dp_total = rs + ag;
    } else {
      // FSDP / ZeRO-3: per micro-batch, gather parameters for forward and again for backward,
      // reduce-scatter gradients; prefetching hides them behind the layers' compute.
      const Seconds ag = pricer.data_parallel("dp.all_gather", CollectiveKind::kAllGather, Phase::kForward, params,
                                              kParamGatherBytes, buckets, 2.0 * m);
      const Seconds rs = pricer.data_parallel("dp.reduce_scatter", CollectiveKind::kReduceScatter, Phase::kBackward,
                                              params, grad_bytes, buckets, m);
      dp_exposed =
          (max(Seconds(0), ag - f_mb) + max(Seconds(0), ag + rs - b_mb)) * m + ag * last_bucket + rs * last_bucket;
      dp_total = (ag * 2.0 + rs) * m;
    }
    // Hidden is not free: while a collective runs under compute it holds SMs and HBM bandwidth,
    // slowing that compute by the chip's interference fraction.
    dp_exposed += max(Seconds(0), dp_total - dp_exposed) * sys.chip.comm_interference;
  }
  // Optimizer: memory-bound Adam over the local (ZeRO-sharded) parameters; expert parameters are
  // sharded over their own replicas.
  const double local_params =
      plan.zero >= 1 ? params.dense / shard + params.expert / expert_shard : params.dense + params.expert;
  const Seconds optimizer(local_params * kOptimizerBytesPerParam /
                          (rank_chip.hbm_bandwidth.value() * rank_chip.memory_efficiency));

  r.step_time = pipeline + dp_exposed + optimizer;

  StepBreakdown& b = r.breakdown;
  b.compute = (crit_f.compute + crit_b.compute) * m;
  b.host_bound = (crit_f.host + crit_b.host) * m;
  b.offload_bound = (crit_f.offload + crit_b.offload) * m;
  b.tp_comm = (crit_f.tp + crit_b.tp) * m;
  b.cp_comm = (crit_f.cp + crit_b.cp) * m;
  b.ep_comm = (crit_f.ep + crit_b.ep) * m;
  b.pp_comm = p2p * 2.0 * m;
  b.dp_comm = dp_exposed;
  b.exposed_comm = b.tp_comm + b.cp_comm + b.ep_comm + b.pp_comm + b.dp_comm;
  b.bubble = bubble;
  b.optimizer = optimizer;

  // Hardware FLOPs: what every rank executes, recompute included (attention at its causal cost).
  const double ranks = static_cast<double>(sys.total_ranks());
  double flops_all_stages = 0;
  for (int stage = 0; stage < p; ++stage) {
    const StageLayers l = stage_layers(stage);
    flops_all_stages += (stage_phase(l, dense_f, moe_f).flops + stage_backward(stage, l).flops).value();
  }
  flops_all_stages += (first_f.flops + first_b.flops + last_f.flops + last_b.flops).value();
  const double per_rank_mb = flops_all_stages / p;
  r.hardware_flops_per_step = Flops(per_rank_mb * m * ranks);

  r.memory = memory_per_chip(model, plan, sc.training, sys);
  const int domain = sys.scale_up.chips;
  if (programs != nullptr && sys.total_chips() > domain && sys.total_chips() % domain != 0) {
    r.warnings.push_back(
        fmt::format("{} chips fill {:.2f} scale-up domains of {}; the last one is partial and priced as if "
                    "it were full",
                    sys.total_chips(), static_cast<double>(sys.total_chips()) / domain, domain));
  }
  r.engine = "closed-form";
  r.network = to_string(NetworkMode::kAnalytical);
  set_step_time(r, sc, r.step_time);
  return r;
}

void step_internal::set_step_time(StepResult& r, const Scenario& sc, Seconds step_time) {
  const System& sys = sc.system;
  // A step that is not a positive finite time (a peak of 1e-300 FLOP/s, an infinite imbalance, a
  // sequence that overflows a product) would print as inf, NaN or 0: refuse it, naming the inputs
  // that can produce it.
  if (!std::isfinite(step_time.value()) || step_time.value() <= 0) {
    throw InputError("step", "",
                     fmt::format("the step time is not a positive finite number ({} s); check chip.peak_flops, "
                                 "chip.power_limit, the memory and network bandwidths and latencies, --seq and "
                                 "--moe-imbalance for values of zero, inf or extreme magnitude",
                                 step_time.value()));
  }
  r.step_time = step_time;
  const double tokens = static_cast<double>(sc.training.global_batch) * sc.training.seq;
  r.tokens_per_s = tokens / r.step_time.value();
  r.tokens_per_s_per_chip = r.tokens_per_s / sys.total_chips();
  const auto peak = sys.chip.peak(sc.training.precision);
  const double peak_total = (peak ? peak->value() : 0.0) * sys.total_chips();
  r.model_flops_per_token = model_flops_per_token(sc.model, sc.training.seq);
  r.mfu = r.model_flops_per_token * r.tokens_per_s / peak_total;
  r.hfu = r.hardware_flops_per_step.value() / r.step_time.value() / peak_total;
  set_energy(r, sc);
  if (!std::isfinite(r.mfu) || !std::isfinite(r.hfu) || !std::isfinite(r.tokens_per_s)) {
    throw InputError("step", "",
                     fmt::format("the step of {} s gives a utilisation that is not finite (MFU {}, HFU {}); check "
                                 "chip.peak_flops.{} and --seq, --global-batch for zero, inf or extreme values",
                                 step_time.value(), r.mfu, r.hfu, to_string(sc.training.precision)));
  }
  r.cost_usd_per_million_tokens.reset();
  if (sys.price_usd_per_chip_hour) {
    r.cost_usd_per_million_tokens = *sys.price_usd_per_chip_hour * sys.total_chips() / 3600.0 / r.tokens_per_s * 1e6;
  }
}

void step_internal::set_energy(StepResult& r, const Scenario& sc) {
  const System& sys = sc.system;
  const double t = r.step_time.value();
  // What the step keeps busy on a chip (docs/energy.md), each a share of the step time:
  //   compute: the matrix units at their sustained rate, HFU / matmul_efficiency (the model before
  //            issue 16 used this alone);
  //   memory:  E: the rest of the critical rank's compute time (norms, activations, attention
  //            softmax, optimizer: kernels bound by HBM), (compute + optimizer) / step - compute share;
  //   network: the step's collectives' time if nothing overlapped them (the summaries' sum) / step.
  double comm_s = 0;
  for (const auto& c : r.comm) comm_s += c.time_per_step.value();
  const double compute = r.hfu / std::max(1e-9, sys.chip.matmul_efficiency);
  const double kernels = (r.breakdown.compute + r.breakdown.optimizer).value() / t;
  r.activity = {std::min(1.0, compute), std::clamp(kernels - compute, 0.0, 1.0), std::min(1.0, comm_s / t)};
  r.power_watts_per_chip = chip_power(sys, r.activity).value();
  r.energy_joules_per_step = r.power_watts_per_chip * sys.total_chips() * t;
  const PowerPerChip p = power_per_chip(sys, Watts(r.power_watts_per_chip));
  r.it_power_watts_per_chip = p.it_w;
  r.facility_power_watts_per_chip = p.facility_w;
  r.energy_it_joules_per_step = p.it_w * sys.total_chips() * t;
  r.energy_facility_joules_per_step = p.facility_w * sys.total_chips() * t;
}

StepResult simulate_step(const Scenario& sc, const StepOptions& options) {
  if (options.network == NetworkMode::kFlow && options.engine != StepEngine::kEvents) {
    throw InputError("--network", "",
                     "flow mode times the step's messages as they happen, which needs the event engine; drop "
                     "--engine closed-form or use --network analytical");
  }
  StepResult r = simulate_step_closed_form(sc);
  if (options.engine == StepEngine::kEvents) r = step_internal::simulate_step_events(sc, options, std::move(r));
  return r;
}

EventsOutcome events_outcome(const StepResult& r) {
  return {r.step_time, r.breakdown, r.tasks, r.network};
}

StepResult with_events_outcome(const Scenario& sc, StepResult r, const EventsOutcome& o) {
  r.breakdown = o.breakdown;
  r.engine = "events";
  r.network = o.network;
  r.tasks = o.tasks;
  set_step_time(r, sc, o.step_time);
  return r;
}

struct StepEvaluator::Impl {
  explicit Impl(const Scenario& base)
      : sc(base), comm(base.system), rank_chip(per_rank(base.system.chip)), pricer(sc, rank_chip, nullptr, &comm) {}
  // What the layer prices depend on (see LayerPrices).
  using Key = std::array<int, 9>;
  // (lower() reads dp only in a precondition; the TP, CP, EP and expert-TP groups lie inside a
  // stage, so neither pp nor dp changes a layer's price.)
  static Key key(const Plan& p) {
    return {p.tp,
            p.cp,
            p.ep,
            p.micro_batch,
            static_cast<int>(p.recompute),
            p.recompute_num_layers,
            (p.sequence_parallel ? 1 : 0) | (p.flash_attention ? 2 : 0) | (p.tp_comm_overlap ? 4 : 0) |
                (p.ep_comm_overlap ? 8 : 0) | (p.cp_comm == Plan::CpComm::kAllGather ? 16 : 0) |
                (p.grouped_gemm == Plan::GroupedGemm::kSingleLaunch ? 32 : 0) | (p.offload_activations ? 64 : 0),
            p.pp > 1 ? 1 : 0,  // the pipeline send exists only with pp > 1
            expert_tp(p)};
  }
  Scenario sc;  // its plan is the one being evaluated
  CollectiveModel comm;
  Chip rank_chip;
  Pricer pricer;  // reads sc.plan at each call
  std::map<Key, LayerPrices> cache;
};

StepEvaluator::StepEvaluator(const Scenario& base) : impl_(std::make_unique<Impl>(base)) {}
StepEvaluator::~StepEvaluator() = default;

size_t StepEvaluator::cached_layer_prices() const {
  return impl_->cache.size();
}

StepResult StepEvaluator::evaluate(const Plan& plan) {
  Impl& s = *impl_;
  s.sc.plan = plan;
  const auto key = s.key(plan);
  auto it = s.cache.find(key);
  if (it == s.cache.end()) {
    const StageProgram prog = lower(s.sc.model, plan, s.sc.training);
    const bool partial = plan.recompute == Recompute::kFull && plan.recompute_num_layers > 0;
    const StageProgram prog_sel = partial ? lower(s.sc.model, without_full_recompute(plan), s.sc.training) : prog;
    it = s.cache.emplace(key, price_layers(s.sc, s.pricer, prog, prog_sel)).first;
  }
  StepResult r = compose_closed_form(s.sc, it->second, s.pricer, nullptr);
  return r;
}

}  // namespace tahoma
