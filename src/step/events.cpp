// The event-driven training step (DESIGN.md section 7). One representative data-parallel replica
// is simulated in detail: one rank per pipeline stage (its TP/CP peers are symmetric), each layer
// of each micro-batch a compute task followed by the layer's exposed TP/CP/EP communication, the
// pipeline schedule's order on the compute stream, blocking point-to-point sends between stages,
// and the data-parallel collectives that span replicas as per-layer buckets on a communication
// stream. Bubbles and overlap emerge from the run; the layer prices are the closed form's, so the
// two compositions differ only where the schedule, not a formula, decides. The cost grows with
// layers x micro-batches, never with the number of chips.
#include <algorithm>
#include <map>
#include <ostream>

#include <fmt/format.h>

#include "flow_adapter.h"
#include "pricing.h"
#include "tahoma/engine.h"

namespace tahoma::step_internal {
namespace {

namespace eg = tahoma::engine;

// Per-layer prices of one stage: forward and backward PhaseTime for each of its layers in order.
struct StageCost {
  std::vector<PhaseTime> fwd, bwd;
  PhaseTime first_f, first_b, last_f, last_b;  // embedding (stage 0) and LM head + loss (last stage)
  RankParams params;                           // dense and expert parameters held by the stage's rank
  Seconds dp_reduce{0};                        // the stage's gradient all-reduce (ZeRO-0) or reduce-scatter, whole step
  Seconds dp_gather{0};                        // its parameter all-gather (ZeRO >= 1)
  Seconds optimizer{0};
};

// Which stream carries a collective over `group`: the scale-up one when the whole group sits in one
// scale-up domain, else the scale-out one.
eg::StreamKind stream_of(const GroupShape& group, const System& sys) {
  const long long domain_ranks = static_cast<long long>(sys.scale_up.chips) * sys.chip.ranks_per_chip;
  return group.members_within(domain_ranks) >= group.size() ? eg::StreamKind::kScaleUp : eg::StreamKind::kScaleOut;
}

class StepGraph {
 public:
  StepGraph(const Scenario& sc, std::vector<StageCost> costs, Seconds p2p)
      : sc_(sc), costs_(std::move(costs)), p2p_(p2p) {
    const Plan& plan = sc.plan;
    p_ = plan.pp;
    v_ = plan.vpp;
    m_ = num_microbatches(plan, sc.training);
    final_bwd_.resize(static_cast<size_t>(p_));
    pending_send_.assign(static_cast<size_t>(p_), eg::kNoTask);
    first_fwd_.resize(static_cast<size_t>(p_));
    dp_tasks_.resize(static_cast<size_t>(p_));
    const long long stride = stage_stride(plan);
    const long long domain_ranks = static_cast<long long>(sc.system.scale_up.chips) * sc.system.chip.ranks_per_chip;
    for (int s = 0; s < p_; ++s) domain_of_stage_.push_back(s * stride / domain_ranks);
    fsdp_ = plan.zero == 3 && p_ == 1 && plan.dp * plan.cp > 1;
    dp_stream_ = eg::StreamKind::kDataParallel;
  }

  eg::TaskGraph& graph() { return graph_; }

  void build() {
    eg::PipelineCallbacks cb;
    cb.op = [this](eg::TaskGraph&, int stage, const eg::PipeOp& op) { return add_op(stage, op); };
    cb.send = [this](eg::TaskGraph&, int from, int to, const eg::PipeOp& op) { return add_send(from, to, op); };
    const auto schedule = v_ > 1 ? eg::PipelineSchedule::kInterleaved1F1B : eg::PipelineSchedule::k1F1B;
    eg::build_pipeline(graph_, schedule, p_, v_, m_, cb);
    if (!fsdp_) add_data_parallel();
    for (int s = 0; s < p_; ++s) add_optimizer(s);
  }

  [[nodiscard]] const std::vector<eg::TaskId>& dp_tasks(int stage) const {
    return dp_tasks_[static_cast<size_t>(stage)];
  }
  // Each stage's optimizer step, the last task of its step.
  [[nodiscard]] eg::TaskId optimizer(int stage) const { return optimizer_[static_cast<size_t>(stage)]; }

 private:
  // Layers of `chunk` on a stage: the stage's layers split evenly, the remainder to the first chunks.
  [[nodiscard]] std::pair<int, int> chunk_layers(int stage, int chunk) const {
    const int n = static_cast<int>(costs_[static_cast<size_t>(stage)].fwd.size());
    const int base = n / v_, extra = n % v_;
    const int begin = chunk * base + std::min(chunk, extra);
    return {begin, begin + base + (chunk < extra ? 1 : 0)};
  }

  // A task; with `message`, a network task carrying that message (its duration is the analytical
  // time, used unless the run has a flow network).
  eg::TaskId add(const std::string& name, int stage, eg::StreamKind stream, eg::Category cat, Seconds t,
                 const eg::PipeOp& op, int layer, std::optional<std::uint32_t> message = std::nullopt) {
    eg::TaskSpec spec;
    spec.network = message.has_value();
    spec.tag = message.value_or(0);
    spec.name = graph_.intern(name);
    spec.rank = stage;
    spec.stream = stream;
    spec.category = cat;
    spec.duration = eg::to_picos(t);
    spec.microbatch = op.microbatch;
    spec.chunk = op.chunk;
    spec.layer = layer;
    return graph_.add(spec);
  }

  // One layer's (or the embedding's / head's) work: compute, then its exposed communication,
  // chained after `last`. Returns the compute task.
  eg::TaskId add_piece(int stage, const eg::PipeOp& op, const PhaseTime& pt, int layer, const std::string& what,
                       eg::TaskId& first, eg::TaskId& last) {
    const eg::Category cat = op.backward ? eg::Category::kBackward : eg::Category::kForward;
    auto chain = [&](eg::TaskId t) {
      if (last != eg::kNoTask) graph_.depend(last, t);
      if (first == eg::kNoTask) first = t;
      last = t;
      return t;
    };
    const eg::TaskId compute = chain(add(fmt::format("{} {}", what, op.backward ? "backward" : "forward"), stage,
                                         eg::StreamKind::kCompute, cat, pt.compute, op, layer));
    const Plan& plan = sc_.plan;
    const std::pair<GroupKind, Seconds> comms[] = {
        {GroupKind::kTp, pt.tp}, {GroupKind::kCp, pt.cp}, {GroupKind::kEp, pt.ep}};
    for (const auto& [group, t] : comms) {
      if (t.value() <= 0) continue;
      const eg::Category c = group == GroupKind::kTp   ? eg::Category::kTp
                             : group == GroupKind::kCp ? eg::Category::kCp
                                                       : eg::Category::kEp;
      chain(add(fmt::format("{} {}", what, to_string(group)), stage, stream_of(group_shape(group, plan), sc_.system), c,
                t, op, layer));
    }
    return compute;
  }

  std::pair<eg::TaskId, eg::TaskId> add_op(int stage, const eg::PipeOp& op) {
    const StageCost& c = costs_[static_cast<size_t>(stage)];
    const auto [begin, end] = chunk_layers(stage, op.chunk);
    const bool first_piece = stage == 0 && op.chunk == 0;
    const bool last_piece = stage == p_ - 1 && op.chunk == v_ - 1;
    const int first_layer = first_layer_of_stage(sc_.model, sc_.plan, stage);
    eg::TaskId first = eg::kNoTask, last = eg::kNoTask;
    std::vector<int> order;  // layers in the order this op runs them
    for (int l = begin; l < end; ++l) order.push_back(l);
    if (op.backward) std::reverse(order.begin(), order.end());
    // ZeRO-3 / FSDP without a pipeline: each layer's parameters are gathered before its forward and
    // again before its backward, prefetched one layer ahead (issued when the layer before the
    // current one ends, ahead of the current layer's gradient reduce-scatter, as FSDP's
    // backward prefetch does); gradients are reduce-scattered after each layer's backward.
    const StageCost& sc_cost = costs_[static_cast<size_t>(stage)];
    auto gather_for = [&](int local, eg::TaskId gate) {
      const eg::TaskId ag =
          add_dp(stage, Message::kDpGather, fmt::format("layer {} param all-gather", first_layer + local),
                 sc_cost.dp_gather / layers(stage), op, first_layer + local);
      if (gate != eg::kNoTask) graph_.depend(gate, ag);
      return ag;
    };
    auto layers_in_order = [&] {
      eg::TaskId next_gather = fsdp_ && !order.empty() ? gather_for(order[0], eg::kNoTask) : eg::kNoTask;
      eg::TaskId prev_compute = eg::kNoTask;
      for (size_t i = 0; i < order.size(); ++i) {
        const int local = order[i];
        const int global = first_layer + local;
        const PhaseTime& pt = op.backward ? c.bwd[static_cast<size_t>(local)] : c.fwd[static_cast<size_t>(local)];
        const eg::TaskId compute = add_piece(stage, op, pt, global, fmt::format("layer {}", global), first, last);
        if (next_gather != eg::kNoTask) graph_.depend(next_gather, compute);
        next_gather = fsdp_ && i + 1 < order.size() ? gather_for(order[i + 1], prev_compute) : eg::kNoTask;
        prev_compute = compute;
        if (op.backward) {
          final_bwd_[static_cast<size_t>(stage)][local] = last;
          if (fsdp_) {
            const eg::TaskId rs = add_dp(stage, Message::kDpReduce, fmt::format("layer {} grad reduce-scatter", global),
                                         sc_cost.dp_reduce / layers(stage), op, global);
            graph_.depend(last, rs);
          }
        } else if (op.microbatch == 0) {
          first_fwd_[static_cast<size_t>(stage)][local] = compute;
        }
      }
    };
    if (!op.backward) {
      if (first_piece) add_piece(stage, op, c.first_f, -1, "embedding", first, last);
      layers_in_order();
      if (last_piece) add_piece(stage, op, c.last_f, -1, "lm-head+loss", first, last);
    } else {
      if (last_piece) add_piece(stage, op, c.last_b, -1, "lm-head+loss", first, last);
      layers_in_order();
      if (first_piece) add_piece(stage, op, c.first_b, -1, "embedding", first, last);
    }
    if (first == eg::kNoTask) {  // a chunk with no layers: an empty marker keeps the wiring simple
      first = last = add("empty chunk", stage, eg::StreamKind::kCompute, eg::Category::kOther, Seconds(0), op, -1);
    }
    // Megatron's point-to-point exchange is blocking (batched isend/irecv waited on before the
    // next op; NeMo's overlap_p2p_comm is off by default): a stage's next op waits for its send.
    eg::TaskId& pending = pending_send_[static_cast<size_t>(stage)];
    if (pending != eg::kNoTask) {
      graph_.depend(pending, first);
      pending = eg::kNoTask;
    }
    return {first, last};
  }

  [[nodiscard]] double layers(int stage) const {
    return std::max<double>(1.0, static_cast<double>(costs_[static_cast<size_t>(stage)].fwd.size()));
  }

  eg::TaskId add_dp(int stage, Message kind, const std::string& name, Seconds t, const eg::PipeOp& op, int layer) {
    const eg::TaskId id =
        add(name, stage, dp_stream_, eg::Category::kDp, t, op, layer, message_tag(kind, stage, stage, p_));
    dp_tasks_[static_cast<size_t>(stage)].push_back(id);
    return id;
  }

  std::optional<eg::TaskId> add_send(int from, int to, const eg::PipeOp& op) {
    if (p2p_.value() <= 0) return std::nullopt;
    const bool cross = domain_of_stage_[static_cast<size_t>(from)] != domain_of_stage_[static_cast<size_t>(to)];
    const eg::TaskId t = add(op.backward ? "send gradient" : "send activation", from,
                             cross ? eg::StreamKind::kScaleOut : eg::StreamKind::kScaleUp, eg::Category::kPp, p2p_, op,
                             -1, message_tag(Message::kSend, from, to, p_));
    pending_send_[static_cast<size_t>(from)] = t;
    return t;
  }

  // Data-parallel traffic of pipelined or ZeRO-0/1/2 training, one bucket per layer (the stage's
  // collective split in proportion to its layers): gradients reduced after the layer's last
  // backward; with the distributed optimizer, parameters gathered before their first forward
  // (Megatron overlap_param_gather: the previous step's all-gather hides behind this step's
  // first forward).
  void add_data_parallel() {
    const Plan& plan = sc_.plan;
    if (plan.dp * plan.cp <= 1) return;
    const bool gather = plan.zero >= 1;
    for (int s = 0; s < p_; ++s) {
      const eg::PipeOp none{-1, -1, false};
      const int first_layer = first_layer_of_stage(sc_.model, plan, s);
      if (gather) {
        for (auto& [local, compute] : first_fwd_[static_cast<size_t>(s)]) {
          const eg::TaskId ag =
              add_dp(s, Message::kDpGather, fmt::format("layer {} param all-gather", first_layer + local),
                     costs_[static_cast<size_t>(s)].dp_gather / layers(s), none, first_layer + local);
          graph_.depend(ag, compute);
        }
      }
      // Buckets in the order their layers finish their last backward.
      std::vector<std::pair<eg::TaskId, int>> ready;
      for (auto& [local, task] : final_bwd_[static_cast<size_t>(s)]) ready.emplace_back(task, local);
      std::sort(ready.begin(), ready.end());
      for (auto& [task, local] : ready) {
        const eg::TaskId rs =
            add_dp(s, Message::kDpReduce,
                   fmt::format("layer {} grad {}", first_layer + local, gather ? "reduce-scatter" : "all-reduce"),
                   costs_[static_cast<size_t>(s)].dp_reduce / layers(s), none, first_layer + local);
        graph_.depend(task, rs);
      }
    }
  }

  void add_optimizer(int stage) {
    const eg::TaskId opt = add("optimizer step", stage, eg::StreamKind::kCompute, eg::Category::kOptimizer,
                               costs_[static_cast<size_t>(stage)].optimizer, {-1, -1, false}, -1);
    for (eg::TaskId d : dp_tasks_[static_cast<size_t>(stage)]) graph_.depend(d, opt);
    optimizer_.push_back(opt);
  }

  const Scenario& sc_;
  std::vector<StageCost> costs_;
  Seconds p2p_;
  int p_ = 1, v_ = 1, m_ = 1;
  bool fsdp_ = false;
  eg::StreamKind dp_stream_ = eg::StreamKind::kScaleOut;
  eg::TaskGraph graph_;
  std::vector<std::map<int, eg::TaskId>> final_bwd_;  // per stage: layer -> exit of its last backward
  std::vector<std::map<int, eg::TaskId>> first_fwd_;  // per stage: layer -> compute of micro-batch 0
  std::vector<long long> domain_of_stage_;
  std::vector<eg::TaskId> pending_send_;           // per stage: its last send, which its next op waits for
  std::vector<std::vector<eg::TaskId>> dp_tasks_;  // per stage: its data-parallel tasks
  std::vector<eg::TaskId> optimizer_;              // per stage
};

}  // namespace

StepResult simulate_step_events(const Scenario& sc, const StepOptions& options, StepResult r) {
  const Plan& plan = sc.plan;
  const Model& model = sc.model;
  const System& sys = sc.system;
  const int p = plan.pp;
  const Chip rank_chip = per_rank(sys.chip);
  Pricer pricer(sc, rank_chip, nullptr);  // the closed form already filled r.comm
  const StageProgram prog = lower(model, plan, sc.training);
  const bool partial = plan.recompute == Recompute::kFull && plan.recompute_num_layers > 0;
  const StageProgram prog_sel = partial ? lower(model, without_full_recompute(plan), sc.training) : prog;
  const bool moe = model.is_moe();
  const PhaseTime dense_f = pricer.layer(prog.dense_layer, {Phase::kForward});
  const PhaseTime dense_b = pricer.layer(prog.dense_layer, {Phase::kBackward, Phase::kRecompute});
  const PhaseTime dense_b_sel = pricer.layer(prog_sel.dense_layer, {Phase::kBackward, Phase::kRecompute});
  const PhaseTime moe_f = moe ? pricer.layer(prog.moe_layer, {Phase::kForward}) : PhaseTime{};
  const PhaseTime moe_b = moe ? pricer.layer(prog.moe_layer, {Phase::kBackward, Phase::kRecompute}) : PhaseTime{};
  const PhaseTime moe_b_sel =
      moe ? pricer.layer(prog_sel.moe_layer, {Phase::kBackward, Phase::kRecompute}) : PhaseTime{};
  const int dense_end = moe ? model.moe->first_k_dense : model.layers;
  const double shard = static_cast<double>(plan.dp) * plan.cp;

  std::vector<StageCost> costs(static_cast<size_t>(p));
  for (int stage = 0; stage < p; ++stage) {
    StageCost& c = costs[static_cast<size_t>(stage)];
    const int n = layers_on_stage(model, plan, stage);
    const int first = first_layer_of_stage(model, plan, stage);
    const int recomputed = partial ? recomputed_layers(model, plan, stage) : n;
    for (int local = 0; local < n; ++local) {
      const bool is_moe = first + local >= dense_end;
      c.fwd.push_back(is_moe ? moe_f : dense_f);
      const bool full = local < recomputed;  // Megatron's block method recomputes the first N layers
      c.bwd.push_back(is_moe ? (full ? moe_b : moe_b_sel) : (full ? dense_b : dense_b_sel));
    }
    if (stage == 0) {
      c.first_f = pricer.layer(prog.first_stage_extra, {Phase::kForward});
      c.first_b = pricer.layer(prog.first_stage_extra, {Phase::kBackward});
    }
    if (stage == p - 1) {
      c.last_f = pricer.layer(prog.last_stage_extra, {Phase::kForward});
      c.last_b = pricer.layer(prog.last_stage_extra, {Phase::kBackward});
    }
    const RankParams params = params_per_rank_split(model, plan, stage);
    c.params = params;
    if (shard > 1) {
      const double grad_bytes = grad_reduce_bytes(plan);
      const auto kind = plan.zero == 0 ? CollectiveKind::kAllReduce : CollectiveKind::kReduceScatter;
      const double buckets = std::max(1, n);  // one per layer, each paying its own latency
      c.dp_reduce = pricer.data_parallel("dp.grad", kind, Phase::kBackward, params, grad_bytes, buckets, 0);
      if (plan.zero >= 1) {
        c.dp_gather = pricer.data_parallel("dp.all_gather", CollectiveKind::kAllGather, Phase::kForward, params,
                                           kParamGatherBytes, buckets, 0);
      }
    }
    const double expert_shard = std::max(1.0, expert_replicas(plan));
    const double local_params =
        plan.zero >= 1 ? params.dense / shard + params.expert / expert_shard : params.dense + params.expert;
    c.optimizer = Seconds(local_params * kOptimizerBytesPerParam /
                          (rank_chip.hbm_bandwidth.value() * rank_chip.memory_efficiency));
  }
  const Seconds p2p = p > 1 ? pricer.collective(prog.pp_send, 0) : Seconds(0);

  StepGraph builder(sc, costs, p2p);
  builder.build();
  const eg::TaskGraph& graph = builder.graph();
  eg::RunResult run;
  if (options.network == NetworkMode::kFlow) {
    // One bucket per layer, as the graph splits each stage's collectives.
    std::vector<RankParams> bucket_params;
    for (int stage = 0; stage < p; ++stage) {
      const StageCost& c = costs[static_cast<size_t>(stage)];
      const double buckets = std::max(1, layers_on_stage(model, plan, stage));
      bucket_params.push_back({c.params.dense / buckets, c.params.expert / buckets});
    }
    const CollectiveModel comm(sys);
    FlowAdapter adapter(sc, comm, plan.zero == 0 ? CollectiveKind::kAllReduce : CollectiveKind::kReduceScatter,
                        bucket_params, grad_reduce_bytes(plan), kParamGatherBytes, prog.pp_send.bytes);
    run = eg::run(graph, &adapter);
  } else {
    run = eg::run(graph);
  }
  auto ran = [&run](eg::TaskId t) { return eg::to_seconds(run.end[t] - run.start[t]); };

  // Per stage: the step ends with its optimizer; hidden data-parallel traffic still slows the
  // compute under it by the chip's interference fraction (as in the closed form).
  const auto& tasks = graph.tasks();
  int crit = 0;
  Seconds step{0};
  std::vector<Seconds> penalty(static_cast<size_t>(p));
  for (int stage = 0; stage < p; ++stage) {
    const eg::TaskId opt = builder.optimizer(stage);
    Seconds dp_total{0};
    for (eg::TaskId d : builder.dp_tasks(stage)) dp_total += ran(d);
    const eg::TaskId prev = graph.stream_predecessor(opt);
    const Seconds waited = prev == eg::kNoTask ? Seconds(0) : eg::to_seconds(run.start[opt] - run.end[prev]);
    penalty[static_cast<size_t>(stage)] = max(Seconds(0), dp_total - waited) * sys.chip.comm_interference;
    const Seconds end = eg::to_seconds(run.end[opt]) + penalty[static_cast<size_t>(stage)];
    if (end > step) {
      step = end;
      crit = stage;
    }
  }

  // The critical stage's time, by what occupied its compute stream, and each idle gap charged to
  // what the task after it waited for last: a data-parallel gather or reduction, an activation or
  // gradient from a neighbouring stage (pipeline communication) or that stage's compute (bubble).
  StepBreakdown b;
  // Each task's binding dependency: the one that ended last among its explicit dependencies and
  // its stream predecessor (what it actually waited for).
  std::vector<eg::TaskId> binding(graph.size(), eg::kNoTask);
  auto bind = [&](eg::TaskId before, eg::TaskId after) {
    if (binding[after] == eg::kNoTask || run.end[before] > run.end[binding[after]]) binding[after] = before;
  };
  for (const auto& [before, after] : graph.edges()) bind(before, after);
  for (eg::TaskId id = 0; id < graph.size(); ++id) {
    const eg::TaskId prev = graph.stream_predecessor(id);
    if (prev != eg::kNoTask && tasks[id].stream != eg::StreamKind::kCompute) bind(prev, id);
  }
  Seconds waited_dp{0}, waited_pp{0}, waited_tp{0}, waited_cp{0}, waited_ep{0}, bubble{0};
  for (eg::TaskId id = 0; id < graph.size(); ++id) {
    const eg::TaskSpec& t = tasks[id];
    if (t.rank != crit || t.stream != eg::StreamKind::kCompute) continue;
    const Seconds d = ran(id);
    if (t.category == eg::Category::kOptimizer) {
      b.optimizer += d;
    } else {
      b.compute += d;
    }
    const eg::TaskId prev = graph.stream_predecessor(id);
    const eg::Picos ready = prev == eg::kNoTask ? 0 : run.end[prev];
    if (run.start[id] <= ready) continue;
    // Walk the chain of binding dependencies back from this task's start to when the compute
    // stream became free: each communication task owns the part of the idle window it covered; a
    // wait that reaches another stage's compute (or nothing) is pipeline bubble.
    eg::Picos cursor = run.start[id];
    for (eg::TaskId dep = binding[id]; dep != eg::kNoTask && cursor > ready; dep = binding[dep]) {
      const eg::TaskSpec& ds = tasks[dep];
      Seconds* into = nullptr;
      switch (ds.category) {
        case eg::Category::kDp: into = &waited_dp; break;
        case eg::Category::kPp: into = &waited_pp; break;
        case eg::Category::kTp: into = &waited_tp; break;
        case eg::Category::kCp: into = &waited_cp; break;
        case eg::Category::kEp: into = &waited_ep; break;
        default: break;
      }
      if (into == nullptr) break;  // compute: what remains is bubble
      const eg::Picos from = std::max(run.start[dep], ready), to = std::min(run.end[dep], cursor);
      if (to > from) *into += eg::to_seconds(to - from);
      cursor = std::min(cursor, std::max(run.start[dep], ready));
    }
    if (cursor > ready) bubble += eg::to_seconds(cursor - ready);
  }
  b.tp_comm = waited_tp;
  b.cp_comm = waited_cp;
  b.ep_comm = waited_ep;
  b.pp_comm = waited_pp;
  b.dp_comm = waited_dp + penalty[static_cast<size_t>(crit)];
  b.exposed_comm = b.tp_comm + b.cp_comm + b.ep_comm + b.pp_comm + b.dp_comm;
  b.bubble = bubble;
  // The host-bound and offload-bound parts of compute are inside the compute tasks' durations; the
  // closed form (`r`) measured them on the same layer prices.
  b.host_bound = min(r.breakdown.host_bound, b.compute);
  b.offload_bound = min(r.breakdown.offload_bound, b.compute - b.host_bound);
  r.breakdown = b;
  r.engine = "events";
  r.network = to_string(options.network);
  r.tasks = static_cast<long long>(graph.size());
  set_step_time(r, sc, step);

  if (options.trace != nullptr) {
    std::vector<std::string> names;
    for (int stage = 0; stage < p; ++stage) {
      const long long rank = stage * stage_stride(plan);
      names.push_back(fmt::format("pipeline stage {} (rank {}, chip {})", stage, rank, rank / sys.chip.ranks_per_chip));
    }
    eg::write_chrome_trace(graph, run, names, *options.trace);
  }
  return r;
}

}  // namespace tahoma::step_internal
