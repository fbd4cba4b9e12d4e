// Private to the step library: `simulate --network flow`. The step's pipeline sends and data-parallel
// collectives become flows on the topology's links, sharing them max-min fairly with whatever else
// is in flight at that moment (docs/design.md section 7); TP/CP/EP traffic inside a layer stays
// analytical (it runs alone on its links between two dependent kernels).
//
// Scale by symmetry: every data-parallel replica runs the representative replica's program at the
// same time, so a block of W consecutive ranks, W = lcm(replica ranks, domain ranks), is a period
// of the whole system's traffic (whole replicas on whole scale-up domains). Only flows sent by the
// ranks of the first window are simulated; each link they cross is folded onto its translate in the
// window (Topology::fold), where it meets every other window flow that crosses any of its
// translates: exactly the load the link carries in the full system when the cluster is a whole
// number of windows (and approximately otherwise). The flow count grows with the window's ranks,
// never with the number of chips.
#pragma once

#include <cstdint>
#include <queue>
#include <vector>

#include "pricing.h"
#include "tahoma/engine.h"
#include "tahoma/net.h"

namespace tahoma::step_internal {

// What a network task of the step graph carries; encoded into TaskSpec::tag.
enum class Message : std::uint8_t { kDpReduce, kDpGather, kSend };
std::uint32_t message_tag(Message kind, int from_stage, int to_stage, int stages);

class FlowAdapter final : public engine::Network {
 public:
  // The largest traffic period simulated exactly (ranks). A longer one (a replica size and a
  // domain size with a large least common multiple) is replaced by the whole domains that cover
  // one replica, which keeps the cost flat but averages the loads over the replicas' offsets.
  static constexpr long long kExactWindowRanks = 4096;
  // Bounded work. Flow mode costs about a microsecond per flow started (its start, its share of the
  // rate solves, its end), so one simulated step may start at most kMaxStepFlows flows (about 1.5 s
  // on one core): half for the data-parallel buckets, half for the pipeline sends. A sampled step
  // (three shorter runs of the schedule, extrapolated) splits it over its runs.
  //  - A bucket (one per layer and kind, reduce and gather) beyond its share of the half keeps its
  //    analytical time as one timed step that shares no link (e.g. a ring over thousands of
  //    DP x CP ranks inside a 16K-rank replica).
  //  - A send runs at most kMaxSendFlows of its rank pairs, fewer when the run has many sends: every
  //    k-th pair runs and the send ends when they do. Every rank of a stage sends its slice to its
  //    peer at once, each on its own NICs, so this is exact when the pairs' paths share no link (a
  //    non-blocking fabric) and misses the other pairs' load on an oversubscribed core.
  // The result's warnings name every approximation made.
  static constexpr double kMaxStepFlows = 2e6;
  // Flows are not the whole cost: every start and end re-solves the rates of its component
  // (FlowNetwork::work(), flow hops plus links, about 40 ns each), and a data-parallel ring over
  // the NICs links every flow of the window into one component while hundreds of pipeline sends
  // start and end. Past kMaxStepWork (about a second), the buckets still to start keep their
  // analytical time; the sends, and the buckets already running, stay flows.
  static constexpr double kMaxStepWork = 2.5e7;
  static constexpr long long kMaxSendFlows = 128;
  // `reduce_kind` is the data-parallel gradient collective (all-reduce for ZeRO-0, else
  // reduce-scatter); `bucket_params[s]` the dense and expert parameters of one bucket on stage s,
  // reduced at `grad_bytes` and gathered at `gather_bytes` per parameter; `flow_budget` the flows
  // this run may start, over its `sends` pipeline sends and its buckets; `send_bytes` one
  // pipeline send.
  FlowAdapter(const Scenario& sc, const CollectiveModel& comm, CollectiveKind reduce_kind,
              std::vector<RankParams> bucket_params, double grad_bytes, double gather_bytes, Bytes send_bytes,
              double flow_budget, long long sends);

  void start(engine::TaskId task, std::uint32_t tag, engine::Picos now) override;
  std::optional<std::pair<engine::Picos, engine::TaskId>> next_completion() override;
  void complete(engine::TaskId task, engine::Picos now) override;
  // Approximations made while running (buckets priced analytically), for StepResult::warnings.
  [[nodiscard]] std::vector<std::string> notes() const;

 private:
  struct Step {
    std::vector<net::Path> paths;  // folded; each path's latency is the step's alpha term
    std::vector<double> bytes;
    Seconds latency{0};
  };
  struct Template {
    std::vector<Step> steps;
  };
  struct Running {
    std::uint32_t message = 0;  // index into templates_
    std::uint32_t step = 0;
    std::uint32_t outstanding = 0;  // flows of the current step still moving
  };
  using Event = std::pair<engine::Picos, engine::TaskId>;

  // The template of message `tag`, as flows or (`analytical`, for a bucket) as one timed step.
  std::uint32_t template_for(std::uint32_t tag, bool analytical);
  Template build(std::uint32_t tag, bool force_analytical) const;
  // Starts the current step of `task` at `now`, skipping empty steps; queues the task as finished
  // when no step is left.
  void begin_step(engine::TaskId task, engine::Picos now);

  const Scenario& sc_;
  const CollectiveModel& comm_;
  CollectiveKind reduce_kind_;
  std::vector<RankParams> bucket_params_;
  double grad_bytes_ = 4, gather_bytes_ = 2;
  Bytes send_bytes_;
  long long replica_ranks_ = 1;        // tp * cp * pp
  long long window_ = 1;               // ranks in one period of the traffic
  size_t bucket_budget_ = 1;           // flows one bucket may start: its share of half the budget
  long long send_pairs_ = 1;           // rank pairs one send may run: its share of the other half
  mutable long long send_stride_ = 1;  // the largest stride a send's pairs were sampled at
  double work_budget_ = 0;             // this run's share of kMaxStepWork
  bool work_limited_ = false;          // a bucket kept its analytical time past work_budget_
  net::FlowNetwork net_;
  std::vector<std::uint64_t> keys_;  // tag * 2 + analytical of templates_[i]
  // Per DP message kind (reduce, gather): its buckets exceeded their share of kMaxStepFlows (the group shape and
  // so the flow count are the same on every stage, so one overflow decides for all).
  mutable bool analytical_[2] = {false, false};
  std::vector<Template> templates_;
  std::vector<Running> running_;                                           // per task id (grown on demand)
  std::vector<engine::TaskId> owner_;                                      // per flow id (ids are reused once retired)
  std::vector<engine::TaskId> retired_owners_;                             // scratch of complete()
  std::priority_queue<Event, std::vector<Event>, std::greater<>> timers_;  // latency-only steps
  std::priority_queue<Event, std::vector<Event>, std::greater<>> finished_;  // tasks done, not yet retired
  engine::Picos now_ = 0;
};

}  // namespace tahoma::step_internal
