// The event-driven training step (docs/design.md section 7). One representative data-parallel replica
// is simulated in detail: one rank per pipeline stage (its TP/CP peers are symmetric), each layer
// of each micro-batch a compute task followed by the layer's exposed TP/CP/EP communication, the
// pipeline schedule's order on the compute stream, blocking point-to-point sends between stages,
// and the data-parallel collectives that span replicas as per-layer buckets on a communication
// stream. Bubbles and overlap emerge from the run; the layer prices are the closed form's, so the
// two compositions differ only where the schedule, not a formula, decides. The cost grows with
// layers x micro-batches, never with the number of chips.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <optional>
#include <ostream>

#include <fmt/format.h>

#include "flow_adapter.h"
#include "pricing.h"
#include "tahoma/engine.h"
#include "tahoma/error.h"

namespace tahoma::step_internal {
namespace {

namespace eg = tahoma::engine;

// Per-layer prices of one stage: forward and backward PhaseTime for each of its layers in order.
struct StageCost {
  std::vector<PhaseTime> fwd, bwd;
  PhaseTime first_f, first_b, last_f, last_b;  // embedding (stage 0) and LM head + loss (last stage)
  std::vector<Seconds> wgrad;                  // per layer: the weight-gradient part of bwd (split schedules)
  Seconds last_w{0};                           // the same for the LM head (+ MTP) on the last stage
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
  // Builds into `graph` (cleared first; its interned names and memory are reused) the step of
  // `microbatches` micro-batches.
  StepGraph(const Scenario& sc, const std::vector<StageCost>& costs, Seconds p2p, int microbatches,
            eg::TaskGraph& graph)
      : sc_(sc), costs_(costs), p2p_(p2p), graph_(graph) {
    const Plan& plan = sc.plan;
    p_ = plan.pp;
    v_ = plan.vpp;
    m_ = microbatches;
    graph_.clear();
    fixed_names_ = {graph_.intern("empty chunk"), graph_.intern("send gradient"), graph_.intern("send activation"),
                    graph_.intern("optimizer step")};
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
    auto schedule = effective_schedule(sc_.plan);
    // (DualPipe reaches the engine only with one stage, where every schedule is the same.)
    if (schedule == PipelineSchedule::kDualPipe) schedule = PipelineSchedule::k1F1B;
    split_ = schedule_info(schedule).splits_weight_grad;
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
  // Task names, interned once per (layer, kind) and build rather than formatted per task: the text
  // is "<what> <kind>", <what> being "layer N", "embedding" (kEmbedding) or "lm-head+loss" (kHead).
  static constexpr int kEmbedding = -1, kHead = -2;
  enum NameKind : int {
    kForwardName,
    kBackwardName,
    kTpName,
    kCpName,
    kEpName,
    kGatherName,
    kReduceScatterName,
    kAllReduceName,
    kNameKinds
  };
  eg::NameId name_of(int what, int kind) {
    static constexpr const char* kSuffix[kNameKinds] = {"forward", "backward",           "tp",
                                                       "cp",      "ep",                 "param all-gather",
                                                       "grad reduce-scatter", "grad all-reduce"};
    const size_t slot = static_cast<size_t>(what + 2) * kNameKinds + static_cast<size_t>(kind);
    if (slot >= names_.size()) names_.resize((static_cast<size_t>(what + 2) + 1) * kNameKinds, kNoName);
    if (names_[slot] == kNoName) {
      const std::string prefix = what == kEmbedding ? "embedding" : what == kHead ? "lm-head+loss" : fmt::format("layer {}", what);
      names_[slot] = graph_.intern(fmt::format("{} {}", prefix, kSuffix[kind]));
    }
    return names_[slot];
  }

  // Layers of `chunk` on a stage: the stage's layers split evenly, the remainder to the first chunks.
  [[nodiscard]] std::pair<int, int> chunk_layers(int stage, int chunk) const {
    const int n = static_cast<int>(costs_[static_cast<size_t>(stage)].fwd.size());
    const int base = n / v_, extra = n % v_;
    const int begin = chunk * base + std::min(chunk, extra);
    return {begin, begin + base + (chunk < extra ? 1 : 0)};
  }

  // A task; with `message`, a network task carrying that message (its duration is the analytical
  // time, used unless the run has a flow network).
  eg::TaskId add(eg::NameId name, int stage, eg::StreamKind stream, eg::Category cat, Seconds t, const eg::PipeOp& op,
                 int layer, std::optional<std::uint32_t> message = std::nullopt) {
    eg::TaskSpec spec;
    spec.network = message.has_value();
    spec.tag = message.value_or(0);
    spec.name = name;
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
  eg::TaskId add_piece(int stage, const eg::PipeOp& op, const PhaseTime& pt, int layer, int what, eg::TaskId& first,
                       eg::TaskId& last) {
    const eg::Category cat = op.backward ? eg::Category::kBackward : eg::Category::kForward;
    auto chain = [&](eg::TaskId t) {
      if (last != eg::kNoTask) graph_.depend(last, t);
      if (first == eg::kNoTask) first = t;
      last = t;
      return t;
    };
    const eg::TaskId compute = chain(add(name_of(what, op.backward ? kBackwardName : kForwardName), stage,
                                         eg::StreamKind::kCompute, cat, pt.compute, op, layer));
    const Plan& plan = sc_.plan;
    const std::pair<GroupKind, Seconds> comms[] = {
        {GroupKind::kTp, pt.tp}, {GroupKind::kCp, pt.cp}, {GroupKind::kEp, pt.ep}};
    for (const auto& [group, t] : comms) {
      if (t.value() <= 0) continue;
      const eg::Category c = group == GroupKind::kTp   ? eg::Category::kTp
                             : group == GroupKind::kCp ? eg::Category::kCp
                                                       : eg::Category::kEp;
      const int kind = group == GroupKind::kTp ? kTpName : group == GroupKind::kCp ? kCpName : kEpName;
      chain(add(name_of(what, kind), stage, stream_of(group_shape(group, plan), sc_.system), c,
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
          add_dp(stage, Message::kDpGather, name_of(first_layer + local, kGatherName),
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
        PhaseTime pt = op.backward ? c.bwd[static_cast<size_t>(local)] : c.fwd[static_cast<size_t>(local)];
        if (split_ && op.backward) {
          // B: the backward without its weight gradients; W: those alone, no communication.
          const Seconds w = c.wgrad[static_cast<size_t>(local)];
          pt = op.weight ? PhaseTime{} : pt;
          pt.compute = op.weight ? w : pt.compute - w;
        }
        const eg::TaskId compute = add_piece(stage, op, pt, global, global, first, last);
        if (next_gather != eg::kNoTask) graph_.depend(next_gather, compute);
        next_gather = fsdp_ && i + 1 < order.size() ? gather_for(order[i + 1], prev_compute) : eg::kNoTask;
        prev_compute = compute;
        if (op.backward && split_ == op.weight) {
          final_bwd_[static_cast<size_t>(stage)][local] = last;
          if (fsdp_) {
            const eg::TaskId rs = add_dp(stage, Message::kDpReduce, name_of(global, kReduceScatterName),
                                         sc_cost.dp_reduce / layers(stage), op, global);
            graph_.depend(last, rs);
          }
        } else if (op.microbatch == 0) {
          first_fwd_[static_cast<size_t>(stage)][local] = compute;
        }
      }
    };
    if (!op.backward) {
      if (first_piece) add_piece(stage, op, c.first_f, -1, kEmbedding, first, last);
      layers_in_order();
      if (last_piece) add_piece(stage, op, c.last_f, -1, kHead, first, last);
    } else if (split_) {
      PhaseTime head = op.weight ? PhaseTime{} : c.last_b;
      head.compute = op.weight ? c.last_w : c.last_b.compute - c.last_w;
      if (last_piece) add_piece(stage, op, head, -1, kHead, first, last);
      layers_in_order();
      if (first_piece && !op.weight) add_piece(stage, op, c.first_b, -1, kEmbedding, first, last);
    } else {
      if (last_piece) add_piece(stage, op, c.last_b, -1, kHead, first, last);
      layers_in_order();
      if (first_piece) add_piece(stage, op, c.first_b, -1, kEmbedding, first, last);
    }
    if (first == eg::kNoTask) {  // a chunk with no layers: an empty marker keeps the wiring simple
      first = last = add(fixed_names_[0], stage, eg::StreamKind::kCompute, eg::Category::kOther, Seconds(0), op, -1);
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

  eg::TaskId add_dp(int stage, Message kind, eg::NameId name, Seconds t, const eg::PipeOp& op, int layer) {
    const eg::TaskId id =
        add(name, stage, dp_stream_, eg::Category::kDp, t, op, layer, message_tag(kind, stage, stage, p_));
    dp_tasks_[static_cast<size_t>(stage)].push_back(id);
    return id;
  }

  std::optional<eg::TaskId> add_send(int from, int to, const eg::PipeOp& op) {
    if (p2p_.value() <= 0) return std::nullopt;
    const bool cross = domain_of_stage_[static_cast<size_t>(from)] != domain_of_stage_[static_cast<size_t>(to)];
    const eg::TaskId t = add(fixed_names_[op.backward ? 1 : 2], from,
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
              add_dp(s, Message::kDpGather, name_of(first_layer + local, kGatherName),
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
                   name_of(first_layer + local, gather ? kReduceScatterName : kAllReduceName),
                   costs_[static_cast<size_t>(s)].dp_reduce / layers(s), none, first_layer + local);
        graph_.depend(task, rs);
      }
    }
  }

  void add_optimizer(int stage) {
    const eg::TaskId opt = add(fixed_names_[3], stage, eg::StreamKind::kCompute, eg::Category::kOptimizer,
                               costs_[static_cast<size_t>(stage)].optimizer, {-1, -1, false}, -1);
    for (eg::TaskId d : dp_tasks_[static_cast<size_t>(stage)]) graph_.depend(d, opt);
    optimizer_.push_back(opt);
  }

  const Scenario& sc_;
  const std::vector<StageCost>& costs_;
  Seconds p2p_;
  int p_ = 1, v_ = 1, m_ = 1;
  bool fsdp_ = false;
  bool split_ = false;  // the schedule runs each backward as B (input grads) and W (weight grads)
  eg::StreamKind dp_stream_ = eg::StreamKind::kScaleOut;
  eg::TaskGraph& graph_;
  static constexpr eg::NameId kNoName = UINT32_MAX;
  std::vector<eg::NameId> names_;  // name_of's cache, by (what + 2, kind)
  std::array<eg::NameId, 4> fixed_names_{};  // "empty chunk", "send gradient", "send activation", "optimizer step"
  std::vector<std::map<int, eg::TaskId>> final_bwd_;  // per stage: layer -> exit of its last backward
  std::vector<std::map<int, eg::TaskId>> first_fwd_;  // per stage: layer -> compute of micro-batch 0
  std::vector<long long> domain_of_stage_;
  std::vector<eg::TaskId> pending_send_;           // per stage: its last send, which its next op waits for
  std::vector<std::vector<eg::TaskId>> dp_tasks_;  // per stage: its data-parallel tasks
  std::vector<eg::TaskId> optimizer_;              // per stage
};

}  // namespace

namespace {

// The largest event graph simulated in one run (tasks): about 2.6 GB of graph, engine state and
// result at ~130 B per task. Larger graphs are refused with a message naming what to reduce.
constexpr double kMaxEventTasks = 20e6;
// The closed-form step and every task must fit the engine's horizon with this factor to spare
// (the event composition may differ from the closed form's, and sums run on a stage's streams).
constexpr double kHorizonMargin = 4.0;
// Extrapolation accepts the increments of two consecutive periods as equal when they differ by
// at most this fraction of the step (the runs are exact in integer picoseconds; the interference
// penalty and the breakdown are doubles derived from them).
constexpr double kPeriodTolerance = 1e-9;

// Per-thread buffers kept warm from one step to the next: the graph keeps its interned names and
// its vectors' capacity across TaskGraph::clear, the Engine its node and heap arrays, so a step no
// larger than an earlier one on the same thread allocates nothing in the graph or the run.
struct Workspace {
  eg::TaskGraph graph;
  eg::Engine engine;
  std::vector<eg::TaskId> binding;
};
Workspace& workspace() {
  thread_local Workspace w;
  return w;
}

// What one simulated step gives: its time, the critical stage's breakdown and the tasks it ran.
struct Outcome {
  Seconds step{0};
  StepBreakdown b;
  long long tasks = 0;
  std::vector<std::string> notes;  // approximations of the flow network, for StepResult::warnings
};

// Applies `f` to each time of an outcome's step and breakdown, in one fixed order.
template <typename F>
void for_each_time(Outcome& o, F&& f) {
  StepBreakdown& b = o.b;
  for (Seconds* t : {&o.step, &b.compute, &b.host_bound, &b.offload_bound, &b.exposed_comm, &b.bubble, &b.optimizer,
                     &b.tp_comm, &b.cp_comm, &b.pp_comm, &b.dp_comm, &b.ep_comm}) {
    f(*t);
  }
}
template <typename F>
void for_each_time_pair(Outcome& a, const Outcome& b, F&& f) {
  std::vector<Seconds*> pa;
  for_each_time(a, [&](Seconds& t) { pa.push_back(&t); });
  Outcome bc = b;
  size_t i = 0;
  for_each_time(bc, [&](Seconds& t) { f(*pa[i++], t); });
}

// Everything the runs of one scenario share: the stage prices and which stage bounds the step.
struct StepSetup {
  const Scenario& sc;
  const StepOptions& options;
  const std::vector<StageCost>& costs;
  Seconds p2p;
  int crit = 0;                  // the stage with the most work per micro-batch (see choose_critical)
  Bytes send_bytes{0};           // one pipeline send (flow mode)
  double flow_budget = 0;        // flows one simulated run may start (flow mode; see FlowAdapter)
};

// An upper bound on the tasks of the step graph with `m` micro-batches: per micro-batch, stage and
// direction, each layer (and the embedding or head) a compute task and up to three exposed
// communication tasks, a send and an empty-chunk marker per chunk, and with FSDP three
// data-parallel tasks per layer; per stage, two data-parallel buckets per layer and the optimizer.
double task_bound(const Scenario& sc, double m) {
  const Plan& plan = sc.plan;
  const bool fsdp = plan.zero == 3 && plan.pp == 1 && plan.dp * plan.cp > 1;
  double total = 0;
  for (int stage = 0; stage < plan.pp; ++stage) {
    const double n = layers_on_stage(sc.model, plan, stage);
    // (+ one W task per layer and micro-batch with a schedule that splits the backward)
    total += m * (3.0 * 4.0 * (n + 2.0) + 4.0 * plan.vpp + (fsdp ? 3.0 * n : 0.0)) + 2.0 * n + 1.0;
  }
  return total;
}

// Simulates the step with `m` micro-batches and attributes the critical stage's time.
Outcome simulate(const StepSetup& setup, int m, std::ostream* trace) {
  const Scenario& sc = setup.sc;
  const Plan& plan = sc.plan;
  const Model& model = sc.model;
  const System& sys = sc.system;
  const int p = plan.pp;
  Workspace& ws = workspace();
  // Room for the whole graph up front: growing by doubling would copy it and fault in new pages.
  const double bound = task_bound(sc, m);
  ws.graph.reserve(static_cast<size_t>(bound), static_cast<size_t>(1.5 * bound));
  StepGraph builder(sc, setup.costs, setup.p2p, m, ws.graph);
  builder.build();
  const eg::TaskGraph& graph = ws.graph;
  const eg::RunResult* run_ptr = nullptr;
  std::vector<std::string> flow_notes;
  if (setup.options.network == NetworkMode::kFlow) {
    // One bucket per layer, as the graph splits each stage's collectives.
    std::vector<RankParams> bucket_params;
    for (int stage = 0; stage < p; ++stage) {
      const StageCost& c = setup.costs[static_cast<size_t>(stage)];
      const double buckets = std::max(1, layers_on_stage(model, plan, stage));
      bucket_params.push_back({c.params.dense / buckets, c.params.expert / buckets});
    }
    const CollectiveModel comm(sys);
    FlowAdapter adapter(sc, comm, plan.zero == 0 ? CollectiveKind::kAllReduce : CollectiveKind::kReduceScatter,
                        bucket_params, grad_reduce_bytes(plan), kParamGatherBytes, setup.send_bytes,
                        setup.flow_budget, 2LL * (static_cast<long long>(p) * plan.vpp - 1) * m);
    run_ptr = &ws.engine.run(graph, &adapter);
    flow_notes = adapter.notes();
  } else {
    run_ptr = &ws.engine.run(graph);
  }
  const eg::RunResult& run = *run_ptr;
  auto ran = [&run](eg::TaskId t) { return eg::to_seconds(run.end[t] - run.start[t]); };

  // Per stage: the step ends with its optimizer; hidden data-parallel traffic still slows the
  // compute under it by the chip's interference fraction (as in the closed form).
  Outcome out;
  out.notes = std::move(flow_notes);
  std::vector<Seconds> penalty(static_cast<size_t>(p));
  for (int stage = 0; stage < p; ++stage) {
    const eg::TaskId opt = builder.optimizer(stage);
    Seconds dp_total{0};
    for (eg::TaskId d : builder.dp_tasks(stage)) dp_total += ran(d);
    const eg::TaskId prev = graph.stream_predecessor(opt);
    const Seconds waited = prev == eg::kNoTask ? Seconds(0) : eg::to_seconds(run.start[opt] - run.end[prev]);
    penalty[static_cast<size_t>(stage)] = max(Seconds(0), dp_total - waited) * sys.chip.comm_interference;
    out.step = max(out.step, eg::to_seconds(run.end[opt]) + penalty[static_cast<size_t>(stage)]);
  }

  // The critical stage's time, by what occupied its compute stream, and each idle gap charged to
  // what the task after it waited for last: a data-parallel gather or reduction, an activation or
  // gradient from a neighbouring stage (pipeline communication) or that stage's compute (bubble).
  // The critical stage is the one that bounds the steady state (most work per micro-batch, as the
  // closed form chooses), not the one that happens to finish last: the time between its own end
  // and the step's end (other stages draining, their optimizer) is bubble.
  const int crit = setup.crit;
  StepBreakdown& b = out.b;
  const auto& tasks = graph.tasks();
  // Each task's binding dependency: the one that ended last among its explicit dependencies and
  // its stream predecessor (what it actually waited for).
  std::vector<eg::TaskId>& binding = ws.binding;
  binding.assign(graph.size(), eg::kNoTask);
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
  // The critical stage's parts sum to its own end (plus its interference penalty); the rest of
  // the step, other stages draining after it, is bubble (exactly 0 when it ends last).
  const Seconds crit_end = eg::to_seconds(run.end[builder.optimizer(crit)]) + penalty[static_cast<size_t>(crit)];
  b.bubble = bubble + max(Seconds(0), out.step - crit_end);
  out.tasks = static_cast<long long>(graph.size());

  if (trace != nullptr) {
    std::vector<std::string> names;
    for (int stage = 0; stage < p; ++stage) {
      const long long rank = stage * stage_stride(plan);
      names.push_back(fmt::format("pipeline stage {} (rank {}, chip {})", stage, rank, rank / sys.chip.ranks_per_chip));
    }
    eg::write_chrome_trace(graph, run, names, *trace);
  }
  return out;
}

// The stage that bounds the steady state: the most compute-stream occupancy per micro-batch
// (compute plus the exposed TP/CP/EP communication its compute stream waits on, the closed form's
// per-stage time), first stage on ties. Independent of the micro-batch count, so every run of an
// extrapolation attributes the same stage.
int choose_critical(const std::vector<StageCost>& costs) {
  int crit = 0;
  Seconds most{-1};
  for (size_t stage = 0; stage < costs.size(); ++stage) {
    const StageCost& c = costs[stage];
    Seconds t = busy(c.first_f) + busy(c.first_b) + busy(c.last_f) + busy(c.last_b);
    for (size_t l = 0; l < c.fwd.size(); ++l) t += busy(c.fwd[l]) + busy(c.bwd[l]);
    if (t > most) {
      most = t;
      crit = static_cast<int>(stage);
    }
  }
  return crit;
}

// Refuses a step the engine cannot represent: a closed-form step or a task duration beyond the
// horizon (with kHorizonMargin to spare).
void check_horizon(Seconds closed_form_step, const std::vector<StageCost>& costs, Seconds p2p) {
  const double horizon_days = static_cast<double>(eg::kMaxPicos) / 1e12 / 86400.0;
  auto refuse = [&](const std::string& what, Seconds t) {
    throw InputError(
        "step", "",
        fmt::format("{} would take {:.3g} s ({:.3g} days), beyond what the event engine represents ({:.1f} days, "
                    "used with a {}x margin); check chip.peak_flops, chip.power_limit, the bandwidths and latencies "
                    "of scale_up and scale_out, --seq and --moe-imbalance, or use --engine closed-form",
                    what, t.value(), t.value() / 86400.0, horizon_days, kHorizonMargin));
  };
  if (!eg::representable(closed_form_step, kHorizonMargin)) refuse("the step", closed_form_step);
  auto check = [&](const PhaseTime& pt) {
    for (Seconds t : {pt.compute, pt.tp, pt.cp, pt.ep}) {
      if (!eg::representable(t, kHorizonMargin)) refuse("one task of the step", t);
    }
  };
  for (const StageCost& c : costs) {
    for (const PhaseTime& pt : c.fwd) check(pt);
    for (const PhaseTime& pt : c.bwd) check(pt);
    for (const PhaseTime* pt : {&c.first_f, &c.first_b, &c.last_f, &c.last_b}) check(*pt);
    for (Seconds t : {c.dp_reduce, c.dp_gather, c.optimizer}) {
      if (!eg::representable(t, kHorizonMargin)) refuse("one task of the step", t);
    }
  }
  if (!eg::representable(p2p, kHorizonMargin)) refuse("one pipeline send", p2p);
}

// The micro-batch counts an extrapolation simulates: m1, m1 + period and m1 + 2 period, all
// congruent to m modulo the period, with m1 past the schedule's warm-up transient. The interleaved
// schedule's period is its group size N, and every simulated count must have the same N as m (the
// group size depends on m; see interleaved_group_size).
struct Sample {
  int m1 = 0;
  int period = 1;
};
std::optional<Sample> sample_for(const Plan& plan, int m, int min_m1) {
  const int p = plan.pp, v = plan.vpp;
  if (v > 1 && m < p) return std::nullopt;  // the schedule refuses it; the full run reports why
  const int period = v > 1 ? eg::interleaved_group_size(p, m) : p;
  const int r = m % period;
  long long k = std::max<long long>(0, (static_cast<long long>(min_m1) - r + period - 1) / period);
  if (r + k * period < 1) ++k;
  for (;; ++k) {
    const long long m1 = r + k * period;
    // Three runs cost 3 m1 + 3 period micro-batches; extrapolate only when that is cheaper than m.
    if (3 * (m1 + period) >= m) return std::nullopt;
    if (v == 1) return Sample{static_cast<int>(m1), period};
    bool same_group = m1 >= p;
    for (int j = 0; j < 3 && same_group; ++j) {
      same_group = eg::interleaved_group_size(p, static_cast<int>(m1 + j * period)) == period;
    }
    if (same_group) return Sample{static_cast<int>(m1), period};
  }
}

std::string graph_limit_text(const Scenario& sc, int m, double tasks) {
  return fmt::format("{} layers x {} micro-batches x {} stages make about {:.3g} tasks, over the event engine's limit "
                     "of {:.0f} million",
                     sc.model.layers, m, sc.plan.pp, tasks, kMaxEventTasks / 1e6);
}

}  // namespace

StepResult simulate_step_events(const Scenario& sc, const StepOptions& options, StepResult r) {
  const Plan& plan = sc.plan;
  if (effective_schedule(plan) == PipelineSchedule::kDualPipe && plan.pp > 1) {
    // DualPipe's bidirectional order is not played by the engine yet: the closed form's step.
    if (options.trace != nullptr) {
      throw InputError("--trace", "", "dualpipe is priced by the closed form only; drop --trace or --pp-schedule");
    }
    r.warnings.push_back("dualpipe: step from the closed form (the event engine does not play its bidirectional "
                         "schedule)");
    return r;
  }
  const Model& model = sc.model;
  const System& sys = sc.system;
  const int p = plan.pp;
  const int m = num_microbatches(plan, sc.training);

  // Bounded work: the graph simulated is at most kMaxEventTasks, checked before anything is built.
  // A trace needs the real graph of all m micro-batches; otherwise long steps are extrapolated
  // from a few short ones (below), so only a step whose period-sized sample is too big is refused.
  const int min_m1 = 2 * p * plan.vpp;
  const std::optional<Sample> sample = options.trace != nullptr || options.every_microbatch ? std::nullopt : sample_for(plan, m, min_m1);
  if (options.trace != nullptr && task_bound(sc, m) > kMaxEventTasks) {
    throw InputError("--trace", "",
                     fmt::format("a trace needs the whole event graph, and {}; reduce --global-batch (micro-batches), "
                                 "the layers or --pp, or drop --trace",
                                 graph_limit_text(sc, m, task_bound(sc, m))));
  }
  const int m_largest = sample ? sample->m1 + 2 * sample->period : m;
  if (task_bound(sc, m_largest) > kMaxEventTasks) {
    throw InputError("step", "",
                     fmt::format("{}; reduce the layers, --pp, --vpp or --global-batch, or use --engine closed-form",
                                 graph_limit_text(sc, m_largest, task_bound(sc, m_largest))));
  }

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
  const Seconds dense_w = pricer.weight_grad(prog.dense_layer);
  const Seconds moe_w = moe ? pricer.weight_grad(prog.moe_layer) : Seconds(0);
  const double shard = static_cast<double>(plan.dp) * plan.cp;

  std::vector<StageCost> costs(static_cast<size_t>(p));
  for (int stage = 0; stage < p; ++stage) {
    StageCost& c = costs[static_cast<size_t>(stage)];
    const int n = layers_on_stage(model, plan, stage);
    const int first = first_layer_of_stage(model, plan, stage);
    const int recomputed = partial ? recomputed_layers(model, plan, stage) : n;
    for (int local = 0; local < n; ++local) {
      const bool is_moe = first + local >= dense_end;
      c.wgrad.push_back(is_moe ? moe_w : dense_w);
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
      c.last_b = pricer.layer(prog.last_stage_extra, {Phase::kBackward, Phase::kRecompute});
      c.last_w = pricer.weight_grad(prog.last_stage_extra);
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
  check_horizon(r.step_time, costs, p2p);

  // Flow mode's bounded work is per step: a sampled step runs (at least) three shorter schedules.
  const double flow_budget = sample ? FlowAdapter::kMaxStepFlows / 3 : FlowAdapter::kMaxStepFlows;
  const StepSetup setup{sc, options, costs, p2p, choose_critical(costs), prog.pp_send.bytes, flow_budget};
  Outcome out;
  std::optional<Sample> s = sample;
  while (s) {
    // A 1F1B or interleaved schedule of identical micro-batches is a max-plus linear system: past
    // its transient, each further period of micro-batches adds the same time to the step and to
    // every part of the breakdown (docs/model.md, "Event engine"). Three runs a period apart check
    // that the increments agree, then the last is extended to m; if they disagree the transient
    // is not over, and the sample moves to twice the distance (or the full step is simulated).
    std::array<Outcome, 3> o;
    for (int j = 0; j < 3; ++j) o[static_cast<size_t>(j)] = simulate(setup, s->m1 + j * s->period, nullptr);
    bool periodic = true;
    Outcome d1 = o[1], d2 = o[2];
    for_each_time_pair(d1, o[0], [](Seconds& a, Seconds b) { a -= b; });
    for_each_time_pair(d2, o[1], [](Seconds& a, Seconds b) { a -= b; });
    const double tol = kPeriodTolerance * o[2].step.value();
    for_each_time_pair(d1, d2, [&](Seconds& a, Seconds b) { periodic = periodic && std::fabs((a - b).value()) <= tol; });
    if (periodic) {
      out = o[2];
      const double periods = static_cast<double>(m - (s->m1 + 2 * s->period)) / s->period;
      // (max: a part constant in m may extrapolate to -1e-14 by rounding.)
      for_each_time_pair(out, d2, [&](Seconds& a, Seconds inc) { a = max(Seconds(0), a + inc * periods); });
      out.tasks = o[0].tasks + o[1].tasks + o[2].tasks;
      break;
    }
    s = sample_for(plan, m, 2 * s->m1 + 1);
  }
  if (!s) out = simulate(setup, m, options.trace);

  StepBreakdown& b = out.b;
  // The host-bound and offload-bound parts of compute are inside the compute tasks' durations; the
  // closed form (`r`) measured them on the same layer prices.
  b.host_bound = min(r.breakdown.host_bound, b.compute);
  b.offload_bound = min(r.breakdown.offload_bound, b.compute - b.host_bound);
  StepResult result = with_events_outcome(sc, std::move(r), {out.step, b, out.tasks, to_string(options.network)});
  for (auto& note : out.notes) result.warnings.push_back(std::move(note));
  return result;
}

}  // namespace tahoma::step_internal
