// Private to the step library: `simulate --network flow`. The step's pipeline sends and data-parallel
// collectives become flows on the topology's links, sharing them max-min fairly with whatever else
// is in flight at that moment (DESIGN.md section 7); TP/CP/EP traffic inside a layer stays
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
  // `reduce_kind` is the data-parallel gradient collective (all-reduce for ZeRO-0, else
  // reduce-scatter); `bucket_params[s]` the dense and expert parameters of one bucket on stage s,
  // reduced at `grad_bytes` and gathered at `gather_bytes` per parameter; `send_bytes` one
  // pipeline send.
  FlowAdapter(const Scenario& sc, const CollectiveModel& comm, CollectiveKind reduce_kind,
              std::vector<RankParams> bucket_params, double grad_bytes, double gather_bytes, Bytes send_bytes);

  void start(engine::TaskId task, std::uint32_t tag, engine::Picos now) override;
  std::optional<std::pair<engine::Picos, engine::TaskId>> next_completion() override;
  void complete(engine::TaskId task, engine::Picos now) override;

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

  std::uint32_t template_for(std::uint32_t tag);
  Template build(std::uint32_t tag) const;
  // Starts the current step of `task` at `now`, skipping empty steps; queues the task as finished
  // when no step is left.
  void begin_step(engine::TaskId task, engine::Picos now);

  const Scenario& sc_;
  const CollectiveModel& comm_;
  CollectiveKind reduce_kind_;
  std::vector<RankParams> bucket_params_;
  double grad_bytes_ = 4, gather_bytes_ = 2;
  Bytes send_bytes_;
  long long replica_ranks_ = 1;  // tp * cp * pp
  long long window_ = 1;         // ranks in one period of the traffic
  net::FlowNetwork net_;
  std::vector<std::uint32_t> tags_;  // tag of templates_[i]
  std::vector<Template> templates_;
  std::vector<Running> running_;                                           // per task id (grown on demand)
  std::vector<engine::TaskId> owner_;                                      // per flow id (ids are reused once retired)
  std::vector<engine::TaskId> retired_owners_;                             // scratch of complete()
  std::priority_queue<Event, std::vector<Event>, std::greater<>> timers_;  // latency-only steps
  std::priority_queue<Event, std::vector<Event>, std::greater<>> finished_;  // tasks done, not yet retired
  engine::Picos now_ = 0;
};

}  // namespace tahoma::step_internal
