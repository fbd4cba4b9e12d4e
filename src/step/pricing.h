// Private to the step library: prices one layer program (compute ops, collectives and the overlap
// rules inside a layer) for the closed-form composition (step.cpp) and the event-driven one
// (events.cpp), so both see identical layer times.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>

#include "tahoma/compute.h"
#include "tahoma/memory.h"
#include "tahoma/step.h"

namespace tahoma::step_internal {

// Megatron reduces bf16-trained gradients in fp32 by default (arguments.py sets
// accumulate_allreduce_grads_in_fp32 for bf16), in bf16 when plan.grad_reduce_fp32 is false;
// parameters are gathered in bf16.
constexpr double kGradReduceBytesFp32 = 4.0;
constexpr double kParamGatherBytes = 2.0;
inline double grad_reduce_bytes(const Plan& plan) {
  return plan.grad_reduce_fp32 ? kGradReduceBytesFp32 : 2.0;
}
// Adam step per local parameter: fp32 master, m and v read and written (24 B), fp32 gradient read
// twice (norm for clipping, then update: 8 B), bf16 parameter written (2 B).
constexpr double kOptimizerBytesPerParam = 34.0;

// The ranks of each group in the rank order of plan.h (TP, CP, EP-from-DP, PP, rest of DP).
inline GroupShape group_shape(GroupKind g, const Plan& p) {
  const long long t = p.tp, c = p.cp, pp = p.pp, d = p.dp, e = ep_from_dp(p);
  const long long stage = t * c * e;  // stage_stride(p)
  switch (g) {
    case GroupKind::kTp: return {{{t, 1}}};
    case GroupKind::kCp: return {{{c, t}}};
    case GroupKind::kPp: return {{{std::min<long long>(pp, 2), stage}}};  // neighbouring stages
    case GroupKind::kDp: return {{{e, t * c}, {d / e, stage * pp}}};
    case GroupKind::kDpCp: return {{{c, t}, {e, t * c}, {d / e, stage * pp}}};
    case GroupKind::kEp:
      // MoE parallel folding: the stage's ranks regroup as etp x ep x expert-DP with the expert
      // groups contiguous in rank order; EP members are etp apart.
      return {{{p.ep, expert_tp(p)}}};
    case GroupKind::kEtp: return {{{expert_tp(p), 1}}};
    case GroupKind::kEdp: {
      // Expert data parallelism: the replicas of one expert, tp*cp*dp / (etp*ep) ranks.
      const long long moe = static_cast<long long>(expert_tp(p)) * p.ep;
      return {{{stage / moe, moe}, {d / e, stage * pp}}};
    }
  }
  return {};
}

// Time of one layer's ops in the given phases, and its exposed communication by group.
struct PhaseTime {
  Seconds compute{0};
  Seconds attention{0};  // part of compute: the fused attention kernels
  Seconds host{0};       // part of compute: the chip waiting between expert GEMMs launched one by one
  Seconds offload{0};    // part of compute: the chip waiting for offloaded checkpoints on the host link
  Seconds tp{0}, cp{0}, ep{0};
  Flops flops{0};
};

class Pricer {
 public:
  // `summary` (may be null: nothing recorded) collects the per-step communication; `shared` (may be
  // null: the Pricer builds its own) is a collective model of sc.system to reuse.
  Pricer(const Scenario& sc, const Chip& rank_chip, std::map<std::string, CommSummary>* summary,
         const CollectiveModel* shared = nullptr)
      : sc_(sc),
        chip_(rank_chip),
        compute_(chip_, sc.training.precision, sc.stack.kernel_overhead),
        own_(shared == nullptr ? std::make_unique<CollectiveModel>(sc.system) : nullptr),
        comm_(shared == nullptr ? *own_ : *shared),
        summary_(summary) {}

  // Prices `op` and records it in the per-step summary `calls_per_step` times.
  Seconds collective(const CommOp& op, double calls_per_step) {
    const GroupShape g = group_shape(op.group, sc_.plan);
    const CollectiveCost c = comm_.cost(op.kind, op.bytes, g);
    if (calls_per_step <= 0 || summary_ == nullptr) return c.time;
    auto& s = (*summary_)[op.name];
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

  // A data-parallel collective issued as `buckets` equal buckets, one per layer (the gradient and
  // parameter buckets of Megatron's DDP and of FSDP are per layer or smaller): each bucket pays its
  // own latency and picks its own algorithm. Returns the time of all of them.
  Seconds bucketed(CommOp op, double buckets, double calls_per_step) {
    buckets = std::max(1.0, buckets);
    op.bytes = op.bytes / buckets;
    return collective(op, calls_per_step * buckets) * buckets;
  }

  // A data-parallel collective of one stage's parameters: the dense ones over DP x CP, the routed
  // experts' over the replicas of each expert (dp*cp/ep ranks; none when ep = dp*cp), both in
  // per-layer buckets. `bytes_per_param` sizes the buffer (4 for fp32 gradients, 2 for bf16).
  Seconds data_parallel(const char* name, CollectiveKind kind, Phase phase, const RankParams& params,
                        double bytes_per_param, double buckets, double calls_per_step) {
    Seconds t =
        bucketed({name, kind, GroupKind::kDpCp, phase, Bytes(params.dense * bytes_per_param)}, buckets, calls_per_step);
    if (params.expert > 0 && group_shape(GroupKind::kEdp, sc_.plan).size() > 1) {
      t += bucketed(
          {std::string(name) + ".experts", kind, GroupKind::kEdp, phase, Bytes(params.expert * bytes_per_param)},
          buckets, calls_per_step);
    }
    return t;
  }

  // Prices one layer program in `phases`.
  PhaseTime layer(const LayerProgram& prog, std::initializer_list<Phase> phases) {
    PhaseTime pt;
    auto in = [&](Phase ph) { return std::find(phases.begin(), phases.end(), ph) != phases.end(); };
    Seconds attention_fwd{0}, attention_bwd{0}, gemm{0};
    // Host issue time the expert GEMMs launched one by one leave the chip waiting (below).
    Seconds host_wait{0};
    const Seconds dispatch =
        sc_.plan.grouped_gemm == Plan::GroupedGemm::kPerGemm ? sc_.stack.grouped_gemm_dispatch : Seconds(0);
    for (const auto& op : prog.compute) {
      if (!in(op.phase)) continue;
      const OpCost c = compute_.cost(op);
      pt.compute += c.time;
      pt.flops += op.flops;
      if (op.kind == OpKind::kGroupedGemm) host_wait += dispatch * op.count;
      if (op.kind == OpKind::kGemm || op.kind == OpKind::kGroupedGemm) gemm += c.time;
      if (op.kind == OpKind::kAttention) (op.phase == Phase::kBackward ? attention_bwd : attention_fwd) += c.time;
    }
    pt.attention = attention_fwd + attention_bwd;
    for (const auto& op : prog.comm) {
      if (!in(op.phase)) continue;
      const Seconds t = collective(op, 0);
      switch (op.group) {
        case GroupKind::kTp: pt.tp += t; break;
        case GroupKind::kEp:
        case GroupKind::kEtp: pt.ep += t; break;
        case GroupKind::kCp: {
          if (!op.overlapped) {  // the all-gather variant: before / after the attention
            pt.cp += t;
            break;
          }
          // Ring attention hides each KV block behind the attention on the previous one.
          const Seconds window = op.phase == Phase::kBackward ? attention_bwd : attention_fwd;
          pt.cp += max(Seconds(0), t - window);
          break;
        }
        default: break;
      }
    }
    if (sc_.plan.ep_comm_overlap) {
      // DualPipe / Megatron's EP overlap: a micro-batch's dispatch and combine run while another
      // micro-batch computes the same layer, so they hide behind up to the layer's compute; the
      // hidden part costs the chip's interference.
      const Seconds hidden = min(pt.ep, pt.compute);
      pt.ep = pt.ep - hidden + hidden * sc_.system.chip.comm_interference;
    }
    if (sc_.plan.tp_comm_overlap) {
      // Transformer Engine's userbuffers split each TP all-gather / reduce-scatter into chunks
      // pipelined with the GEMM that consumes or produces them (Wang et al. 2022, "Overlap
      // communication with dependent computation"; NeMo tp_comm_overlap): the layer's TP traffic
      // hides behind its GEMMs, and the hidden part costs the chip's interference.
      const Seconds hidden = min(pt.tp, gemm);
      pt.tp = pt.tp - hidden + hidden * sc_.system.chip.comm_interference;
    }
    // Expert GEMMs launched one by one (docs/model.md 3.5). Transformer Engine's GroupedLinear
    // (Megatron's default experts) runs a grouped GEMM as one cuBLASLt call per local expert, each
    // issued by the host after the token dispatcher has synchronized with it (Megatron's alltoall
    // and flex dispatchers copy the tokens-per-expert counts to the host; Megatron-LM PR #1920).
    // Stack::grouped_gemm_dispatch (33 us) is TE PR #3134's kernel-vs-kernel time per GEMM of GEMMs
    // too small (~1 us) to hide it: the host issue interval. Launches are asynchronous, so for the
    // GEMMs alone the issue would overlap device time (max(device, n x dispatch)); Tahoma still adds
    // it on top, because pricing it as overlapped raised the MoE rows' error (11.0% -> 13.3% MAPE):
    // the added time also stands for the MoE layer's other host-bound launches (permute, router,
    // small kernels) that are not priced elsewhere.
    pt.host = host_wait;
    pt.compute += pt.host;
    // Offloaded checkpoints: the forward pass copies the layer input out over the host link and the
    // backward pass prefetches it back (XLA host offloading; Megatron-Core activation offloading),
    // on DMA engines that run beside the compute, so the copy hides behind the layer's own compute
    // and only the excess stalls the chip: exposed = max(0, bytes / host_bandwidth - compute).
    if (prog.offload.value() > 0 && chip_.host_bandwidth.value() > 0) {
      Seconds copy{0};
      if (in(Phase::kForward)) copy += prog.offload / chip_.host_bandwidth;
      if (in(Phase::kBackward)) copy += prog.offload / chip_.host_bandwidth;
      pt.offload = max(Seconds(0), copy - pt.compute);
      pt.compute += pt.offload;
    }
    return pt;
  }

  // The weight-gradient GEMMs of a layer's backward (".wgrad" ops): the W pass of schedules that
  // split the backward (zero-bubble, dualpipe).
  Seconds weight_grad(const LayerProgram& prog) {
    Seconds t{0};
    for (const auto& op : prog.compute) {
      const std::string_view name = op.name;
      if (op.phase == Phase::kBackward && name.size() > 6 && name.substr(name.size() - 6) == ".wgrad") {
        t += compute_.cost(op).time;
      }
    }
    return t;
  }

  // Adds every communication op of `prog` to the summary, `calls` times.
  void record(const LayerProgram& prog, double calls) {
    for (const auto& op : prog.comm) collective(op, calls);
  }

 private:
  const Scenario& sc_;
  Chip chip_;  // the Pricer's own copy: ComputeModel keeps a reference
  ComputeModel compute_;
  std::unique_ptr<CollectiveModel> own_;
  const CollectiveModel& comm_;
  std::map<std::string, CommSummary>* summary_;
};

inline PhaseTime scaled(PhaseTime a, double k) {
  a.compute *= k;
  a.attention *= k;
  a.host *= k;
  a.offload *= k;
  a.tp *= k;
  a.cp *= k;
  a.ep *= k;
  a.flops *= k;
  return a;
}

inline PhaseTime add(PhaseTime a, const PhaseTime& b) {
  a.compute += b.compute;
  a.attention += b.attention;
  a.host += b.host;
  a.offload += b.offload;
  a.tp += b.tp;
  a.cp += b.cp;
  a.ep += b.ep;
  a.flops += b.flops;
  return a;
}

inline Seconds busy(const PhaseTime& p) {
  return p.compute + p.tp + p.cp + p.ep;
}

// The per-layer prices of a layout: everything the closed form needs from the lowered program. They
// depend only on the plan fields lower() and the TP/CP/EP groups read (tp, cp, ep, micro-batch,
// recompute, sequence parallelism, fused attention, TP overlap; pp and dp through the EP group), so
// a search reuses them across pipeline depths, ZeRO stages and data-parallel widths.
struct LayerPrices {
  PhaseTime dense_f, dense_b, dense_b_sel, moe_f, moe_b, moe_b_sel;
  PhaseTime first_f, first_b, last_f, last_b;  // embedding (first stage) and LM head + loss (last)
  Seconds p2p{0};                              // one pipeline send
  Seconds dense_w{0}, moe_w{0}, last_w{0};     // weight-gradient part of each backward (split schedules)
};
LayerPrices price_layers(const Scenario& sc, Pricer& pricer, const StageProgram& prog, const StageProgram& prog_sel);

// The closed-form composition of a step from its layer prices. With `programs` (the lowered
// program and its selective-recompute variant), the per-step communication summary is recorded in
// the pricer; without, nothing is recorded (the search fast path).
StepResult compose_closed_form(const Scenario& sc, const LayerPrices& lp, Pricer& pricer,
                               const std::pair<const StageProgram*, const StageProgram*>* programs);

// The metrics that follow from a step time: throughput, MFU, HFU, power, energy and cost.
// Precondition: r.hardware_flops_per_step is set.
void set_step_time(StepResult& r, const Scenario& sc, Seconds step_time);
// Power and energy of the step from its utilisation, breakdown and collectives (docs/energy.md).
void set_energy(StepResult& r, const Scenario& sc);

// The event-driven step (events.cpp): the same layer prices, composed by the engine. `closed_form`
// is the closed-form result for the same scenario; memory, traffic and FLOPs are taken from it.
StepResult simulate_step_events(const Scenario& sc, const StepOptions& options, StepResult closed_form);

}  // namespace tahoma::step_internal
