#include "tahoma/step.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "tahoma/compute.h"

namespace tahoma {
namespace {

// Megatron reduces bf16-trained gradients in fp32 by default (arguments.py sets
// accumulate_allreduce_grads_in_fp32 for bf16), in bf16 when plan.grad_reduce_fp32 is false;
// parameters are gathered in bf16.
constexpr double kGradReduceBytesFp32 = 4.0;
constexpr double kParamGatherBytes = 2.0;
// Adam step per local parameter: fp32 master, m and v read and written (24 B), fp32 gradient read
// twice (norm for clipping, then update: 8 B), bf16 parameter written (2 B).
constexpr double kOptimizerBytesPerParam = 34.0;

GroupShape group_shape(GroupKind g, const Plan& p) {
  const long long t = p.tp, c = p.cp, pp = p.pp, d = p.dp;
  switch (g) {
    case GroupKind::kTp: return {{{t, 1}}};
    case GroupKind::kCp: return {{{c, t}}};
    case GroupKind::kPp: return {{{std::min<long long>(pp, 2), t * c}}};  // neighbouring stages
    case GroupKind::kDp: return {{{d, t * c * pp}}};
    case GroupKind::kDpCp: return {{{c, t}, {d, t * c * pp}}};
    case GroupKind::kEp: {
      // EP is carved out of the data-parallel ranks (Megatron "parallel folding").
      if (p.ep <= c) return {{{p.ep, t}}};
      return {{{c, t}, {p.ep / c, t * c * pp}}};
    }
  }
  return {};
}

// Time of one layer's ops in the given phases, and its exposed communication by group.
struct PhaseTime {
  Seconds compute{0};
  Seconds attention{0};  // part of compute: the fused attention kernels
  Seconds tp{0}, cp{0}, ep{0};
  Flops flops{0};
};

class Pricer {
 public:
  Pricer(const Scenario& sc, const Chip& rank_chip, std::map<std::string, CommSummary>& summary)
      : sc_(sc), compute_(rank_chip, sc.training.precision), comm_(sc.system), summary_(summary) {}

  // Prices `op` and records it in the per-step summary `calls_per_step` times.
  Seconds collective(const CommOp& op, double calls_per_step) {
    const GroupShape g = group_shape(op.group, sc_.plan);
    const CollectiveCost c = comm_.cost(op.kind, op.bytes, g);
    if (calls_per_step <= 0) return c.time;
    auto& s = summary_[op.name];
    s.name = op.name;
    s.group = to_string(op.group);
    s.collective = to_string(op.kind);
    s.group_size = g.size();
    s.calls_per_step += static_cast<int>(calls_per_step);
    s.bytes_per_step += op.bytes * calls_per_step;
    s.time_per_step += c.time * calls_per_step;
    s.algorithm = c.algorithm;
    return c.time;
  }

  // Prices one layer program in `phases`.
  PhaseTime layer(const LayerProgram& prog, std::initializer_list<Phase> phases) {
    PhaseTime pt;
    auto in = [&](Phase ph) { return std::find(phases.begin(), phases.end(), ph) != phases.end(); };
    Seconds attention_fwd{0}, attention_bwd{0}, gemm{0};
    for (const auto& op : prog.compute) {
      if (!in(op.phase)) continue;
      const OpCost c = compute_.cost(op);
      pt.compute += c.time;
      pt.flops += op.flops;
      if (op.kind == OpKind::kGemm || op.kind == OpKind::kGroupedGemm) gemm += c.time;
      if (op.kind == OpKind::kAttention) (op.phase == Phase::kBackward ? attention_bwd : attention_fwd) += c.time;
    }
    pt.attention = attention_fwd + attention_bwd;
    for (const auto& op : prog.comm) {
      if (!in(op.phase)) continue;
      const Seconds t = collective(op, 0);
      switch (op.group) {
        case GroupKind::kTp: pt.tp += t; break;
        case GroupKind::kEp: pt.ep += t; break;
        case GroupKind::kCp: {
          // Ring attention hides each KV block behind the attention on the previous one.
          const Seconds window = op.phase == Phase::kBackward ? attention_bwd : attention_fwd;
          pt.cp += max(Seconds(0), t - window);
          break;
        }
        default: break;
      }
    }
    if (sc_.plan.tp_comm_overlap) {
      // Transformer Engine's userbuffers split each TP all-gather / reduce-scatter into chunks
      // pipelined with the GEMM that consumes or produces them (Wang et al. 2022, "Overlap
      // communication with dependent computation"; NeMo tp_comm_overlap): the layer's TP traffic
      // hides behind its GEMMs, and the hidden part costs the chip's interference.
      const Seconds hidden = min(pt.tp, gemm);
      pt.tp = pt.tp - hidden + hidden * sc_.system.chip.comm_interference;
    }
    return pt;
  }

  // Adds every communication op of `prog` to the summary, `calls` times.
  void record(const LayerProgram& prog, double calls) {
    for (const auto& op : prog.comm) collective(op, calls);
  }

 private:
  const Scenario& sc_;
  ComputeModel compute_;
  CollectiveModel comm_;
  std::map<std::string, CommSummary>& summary_;
};

PhaseTime scaled(PhaseTime a, double k) {
  a.compute *= k;
  a.attention *= k;
  a.tp *= k;
  a.cp *= k;
  a.ep *= k;
  a.flops *= k;
  return a;
}

PhaseTime add(PhaseTime a, const PhaseTime& b) {
  a.compute += b.compute;
  a.attention += b.attention;
  a.tp += b.tp;
  a.cp += b.cp;
  a.ep += b.ep;
  a.flops += b.flops;
  return a;
}

Seconds busy(const PhaseTime& p) {
  return p.compute + p.tp + p.cp + p.ep;
}

}  // namespace

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
  return 6.0 * n + 6.0 * model.layers * static_cast<double>(model.heads) * seq * (dqk + dv);
}

StepResult simulate_step(const Scenario& sc) {
  const Plan& plan = sc.plan;
  const Model& model = sc.model;
  const System& sys = sc.system;
  StepResult r;
  r.microbatches = num_microbatches(plan, sc.training);
  const double m = r.microbatches;
  const int p = plan.pp;
  const double v = plan.vpp;
  const StageProgram prog = lower(model, plan, sc.training);
  // Partial full recompute: the layers not recomputed run the selective program.
  const bool partial = plan.recompute == Recompute::kFull && plan.recompute_num_layers > 0;
  const StageProgram prog_sel = partial ? lower(model, without_full_recompute(plan), sc.training) : prog;
  std::map<std::string, CommSummary> summary;
  const Chip rank_chip = per_rank(sys.chip);  // each rank owns its share of the chip
  Pricer pricer(sc, rank_chip, summary);

  // Price one dense and one MoE layer, then compose each stage from its layer counts.
  const PhaseTime dense_f = pricer.layer(prog.dense_layer, {Phase::kForward});
  const PhaseTime dense_b = pricer.layer(prog.dense_layer, {Phase::kBackward, Phase::kRecompute});
  const PhaseTime moe_f = model.is_moe() ? pricer.layer(prog.moe_layer, {Phase::kForward}) : PhaseTime{};
  const PhaseTime moe_b =
      model.is_moe() ? pricer.layer(prog.moe_layer, {Phase::kBackward, Phase::kRecompute}) : PhaseTime{};
  const PhaseTime dense_b_sel = pricer.layer(prog_sel.dense_layer, {Phase::kBackward, Phase::kRecompute});
  const PhaseTime moe_b_sel =
      model.is_moe() ? pricer.layer(prog_sel.moe_layer, {Phase::kBackward, Phase::kRecompute}) : PhaseTime{};
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
  const PhaseTime first_f = pricer.layer(prog.first_stage_extra, {Phase::kForward});
  const PhaseTime first_b = pricer.layer(prog.first_stage_extra, {Phase::kBackward});
  const PhaseTime last_f = pricer.layer(prog.last_stage_extra, {Phase::kForward});
  const PhaseTime last_b = pricer.layer(prog.last_stage_extra, {Phase::kBackward});

  // Point-to-point: every chunk boundary sends an activation forward and a gradient back.
  Seconds p2p{0};
  if (p > 1) p2p = pricer.collective(prog.pp_send, 2.0 * v * m) * v;

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
  const Seconds bubble = (stage_sum - t_max) / v;
  const Seconds pipeline = t_max * m + bubble;

  // The critical (slowest) stage decides the compute/communication split of the breakdown.
  const int crit_stage = t_max == t_first ? 0 : (t_max == t_last ? p - 1 : p / 2);
  const PhaseTime crit_f = crit_stage == 0 ? f_first : (crit_stage == p - 1 ? f_last : f_mid);
  const PhaseTime crit_b = crit_stage == 0 ? b_first : (crit_stage == p - 1 ? b_last : b_mid);
  const StageLayers l_crit = stage_layers(crit_stage);
  const double crit_frac = recomputed_fraction(crit_stage);
  pricer.record(prog.dense_layer, m * l_crit.dense * crit_frac);
  if (model.is_moe()) pricer.record(prog.moe_layer, m * l_crit.moe * crit_frac);
  if (partial) {
    pricer.record(prog_sel.dense_layer, m * l_crit.dense * (1.0 - crit_frac));
    if (model.is_moe()) pricer.record(prog_sel.moe_layer, m * l_crit.moe * (1.0 - crit_frac));
  }
  if (crit_stage == 0) pricer.record(prog.first_stage_extra, m);
  if (crit_stage == p - 1) pricer.record(prog.last_stage_extra, m);

  // Data-parallel gradient reduction and parameter gathering (over dp x cp ranks).
  const double params = params_per_rank(model, plan, crit_stage);
  const double layers_per_rank = static_cast<double>(layers_on_stage(model, plan, crit_stage));
  const double shard = static_cast<double>(plan.dp) * plan.cp;
  Seconds dp_exposed{0};
  Seconds dp_total{0};  // all data-parallel communication of the step, hidden or not
  if (shard > 1) {
    const Bytes grads(params * (plan.grad_reduce_fp32 ? kGradReduceBytesFp32 : 2.0));
    const Bytes weights(params * kParamGatherBytes);
    const Seconds f_mb = busy(crit_f);
    const Seconds b_mb = busy(crit_b);
    // The last bucket (about one layer of gradients) cannot overlap anything.
    const double last_bucket = 1.0 / std::max(1.0, layers_per_rank);
    if (plan.zero == 0) {
      const Seconds t = pricer.collective(
          {"dp.all_reduce", CollectiveKind::kAllReduce, GroupKind::kDpCp, Phase::kBackward, grads}, 1);
      dp_exposed = max(t * last_bucket, t - b_mb);
      dp_total = t;
    } else if (plan.zero <= 2 || p > 1) {
      // Megatron distributed optimizer: reduce-scatter overlapped with the last backward,
      // all-gather of updated parameters overlapped with the first forward. FSDP under a pipeline
      // schedule behaves the same: PyTorch's pipelining keeps a stage's parameters unsharded and
      // defers the gradient reduce-scatter across the micro-batches of a step (torchtitan sets
      // reshard_after_forward = False with PP).
      const Seconds rs = pricer.collective(
          {"dp.reduce_scatter", CollectiveKind::kReduceScatter, GroupKind::kDpCp, Phase::kBackward, grads}, 1);
      const Seconds ag = pricer.collective(
          {"dp.all_gather", CollectiveKind::kAllGather, GroupKind::kDpCp, Phase::kForward, weights}, 1);
      dp_exposed = max(rs * last_bucket, rs - b_mb) + max(ag * last_bucket, ag - f_mb);
      dp_total = rs + ag;
    } else {
      // FSDP / ZeRO-3: per micro-batch, gather parameters for forward and again for backward,
      // reduce-scatter gradients; prefetching hides them behind the layers' compute.
      const Seconds ag = pricer.collective(
          {"dp.all_gather", CollectiveKind::kAllGather, GroupKind::kDpCp, Phase::kForward, weights}, 2.0 * m);
      const Seconds rs = pricer.collective(
          {"dp.reduce_scatter", CollectiveKind::kReduceScatter, GroupKind::kDpCp, Phase::kBackward, grads}, m);
      dp_exposed =
          (max(Seconds(0), ag - f_mb) + max(Seconds(0), ag + rs - b_mb)) * m + ag * last_bucket + rs * last_bucket;
      dp_total = (ag * 2.0 + rs) * m;
    }
    // Hidden is not free: while a collective runs under compute it holds SMs and HBM bandwidth,
    // slowing that compute by the chip's interference fraction.
    dp_exposed += max(Seconds(0), dp_total - dp_exposed) * sys.chip.comm_interference;
  }
  // Optimizer: memory-bound Adam over the local (ZeRO-sharded) parameters.
  const double local_params = plan.zero >= 1 ? params / shard : params;
  const Seconds optimizer(local_params * kOptimizerBytesPerParam /
                          (rank_chip.hbm_bandwidth.value() * rank_chip.memory_efficiency));

  r.step_time = pipeline + dp_exposed + optimizer;
  const double tokens = static_cast<double>(sc.training.global_batch) * sc.training.seq;
  r.tokens_per_s = tokens / r.step_time.value();
  r.tokens_per_s_per_chip = r.tokens_per_s / sys.total_chips();

  StepBreakdown& b = r.breakdown;
  b.compute = (crit_f.compute + crit_b.compute) * m;
  b.tp_comm = (crit_f.tp + crit_b.tp) * m;
  b.cp_comm = (crit_f.cp + crit_b.cp) * m;
  b.ep_comm = (crit_f.ep + crit_b.ep) * m;
  b.pp_comm = p2p * 2.0 * m;
  b.dp_comm = dp_exposed;
  b.exposed_comm = b.tp_comm + b.cp_comm + b.ep_comm + b.pp_comm + b.dp_comm;
  b.bubble = bubble;
  b.optimizer = optimizer;

  const auto peak = sys.chip.peak(sc.training.precision);
  const double peak_total = (peak ? peak->value() : 0.0) * sys.total_chips();
  r.model_flops_per_token = model_flops_per_token(model, sc.training.seq);
  r.mfu = r.model_flops_per_token * r.tokens_per_s / peak_total;
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
  r.hfu = r.hardware_flops_per_step.value() / r.step_time.value() / peak_total;

  r.memory = memory_per_chip(model, plan, sc.training, sys);
  for (auto& [name, s] : summary) r.comm.push_back(s);

  // Power: idle plus the dynamic part in proportion to matrix-unit activity (HFU as the proxy).
  const double idle = sys.chip.idle_power.value();
  const double tdp =
      sys.chip.power_limit.value() > 0 ? std::min(sys.chip.tdp, sys.chip.power_limit).value() : sys.chip.tdp.value();
  r.power_watts_per_chip = idle + (tdp - idle) * std::min(1.0, r.hfu / std::max(1e-9, sys.chip.matmul_efficiency));
  r.energy_joules_per_step = r.power_watts_per_chip * sys.total_chips() * r.step_time.value();
  const int domain = sys.scale_up.chips;
  if (sys.total_chips() > domain && sys.total_chips() % domain != 0) {
    r.warnings.push_back(
        fmt::format("{} chips fill {:.2f} scale-up domains of {}; the last one is partial and priced as if "
                    "it were full",
                    sys.total_chips(), static_cast<double>(sys.total_chips()) / domain, domain));
  }
  if (sys.price_usd_per_chip_hour) {
    r.cost_usd_per_million_tokens = *sys.price_usd_per_chip_hour * sys.total_chips() / 3600.0 / r.tokens_per_s * 1e6;
  }
  return r;
}

}  // namespace tahoma
