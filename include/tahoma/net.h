// The network as a link graph (docs/design.md sections 3 and 7): every chip's scale-up ports or torus
// links, its NIC, and the scale-out fabric's domain uplinks, built implicitly from a System so a
// million-chip cluster costs no memory until a flow touches a link; shortest-path routing; and a
// flow-level network that shares link bandwidth max-min fairly among concurrent flows.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "tahoma/hw.h"

namespace tahoma::net {

// What a link is; the id packs kind, a sub-index (switch level, or torus dim and direction) and
// the chip or domain it belongs to, so links never need to be stored.
enum class LinkKind : std::uint8_t {
  kOnChip,      // the HBM path between ranks (NeuronCores, TPU cores) of one chip
  kSwitchUp,    // chip -> scale-up switch at one level (NVSwitch, NeuronSwitch sled/rack)
  kSwitchDown,  // scale-up switch -> chip
  kTorus,       // chip -> neighbour along one torus dimension and direction (wrap-around)
  kNicUp,       // chip -> scale-out leaf (EFA, InfiniBand, DCN)
  kNicDown,     // scale-out leaf -> chip
  kFabricUp,    // one scale-up domain's leaf -> spine (oversubscribed when oversubscription > 1)
  kFabricDown,  // spine -> leaf
};
const char* to_string(LinkKind k);

struct LinkId {
  std::uint64_t packed = 0;
  static LinkId make(LinkKind kind, int sub, long long index);
  [[nodiscard]] LinkKind kind() const { return static_cast<LinkKind>(packed >> 60); }
  [[nodiscard]] int sub() const { return static_cast<int>((packed >> 52) & 0xff); }
  [[nodiscard]] long long index() const { return static_cast<long long>(packed & ((1ULL << 52) - 1)); }
  friend bool operator==(LinkId a, LinkId b) = default;
  friend auto operator<=>(LinkId a, LinkId b) = default;
};

// The links one message crosses, in order, and the latency of the path; fixed capacity so routing
// never allocates. The longest route is across a torus (at most half of each dimension: 32 hops on
// a 16x24x24 TPU pod) plus the 4 scale-out links; Topology rejects tori whose routes could not fit.
struct Path {
  static constexpr int kMaxHops = 64;
  std::array<LinkId, kMaxHops> links{};
  int hops = 0;
  Seconds latency{0};
  void push(LinkId l) { links[static_cast<size_t>(hops++)] = l; }
};

// Placement policy (docs/design.md section 5): ranks are numbered tensor-parallel innermost, then CP,
// PP and DP (see comm.h's GroupShape); rank r runs on chip r / ranks_per_chip; chips fill a
// scale-up domain before the next one; inside a torus domain chip c sits at the mixed-radix
// coordinates of c with the innermost dimension first.
class Topology {
 public:
  explicit Topology(const System& system);

  [[nodiscard]] long long chips() const { return chips_; }
  [[nodiscard]] long long ranks() const { return chips_ * ranks_per_chip_; }
  [[nodiscard]] int ranks_per_chip() const { return ranks_per_chip_; }
  [[nodiscard]] long long chip_of(long long rank) const { return rank / ranks_per_chip_; }
  [[nodiscard]] long long domain_of_chip(long long chip) const { return chip / domain_chips_; }
  [[nodiscard]] const System& system() const { return system_; }

  // Capacity of a link per direction, after the fabric's achieved-efficiency constant (the same
  // constants the analytical collective model applies, so the two modes agree on an idle network).
  [[nodiscard]] BytesPerSecond capacity(LinkId link) const;
  // Route from rank a to rank b: on-chip, up/down through the smallest common switch level,
  // dimension-order (innermost first, shorter way around) on a torus, or NIC -> leaf -> spine ->
  // leaf -> NIC across domains (rail-optimized: first hop over the scale-up domain to the chip on the
  // destination's rail, as NCCL's PXN does). Empty for a == b.
  void route(long long rank_a, long long rank_b, Path& out) const;
  // A human-readable link name for reports and tests: "torus d1+ chip 17".
  [[nodiscard]] std::string describe(LinkId link) const;

  // Ranks in one scale-up domain.
  [[nodiscard]] long long domain_ranks() const { return domain_chips_ * ranks_per_chip_; }
  // Scale by symmetry: when every block of `window_ranks` consecutive ranks runs the same program
  // at the same time, a link outside the first block carries the same load as its translate inside
  // it. Returns that translate: chip-level links move to chip (c mod window chips), fabric links to
  // domain (d mod window domains). `window_ranks` is a multiple of domain_ranks(), or at least
  // ranks() (then every link is its own translate).
  [[nodiscard]] LinkId fold(LinkId link, long long window_ranks) const;

 private:
  void route_chips(long long a, long long b, Path& out) const;
  void route_in_domain(long long a, long long b, Path& out) const;

  System system_;
  long long chips_ = 1;
  int ranks_per_chip_ = 1;
  long long domain_chips_ = 1;
};

// A flow-level network: flows on fixed paths, each link's capacity shared max-min fairly among the
// flows crossing it (progressive filling, Bertsekas & Gallager, "Data Networks", sec. 6.5.2),
// rates recomputed whenever a flow starts or ends. Time is in seconds from an arbitrary origin.
//
// Incremental: max-min fair rates decompose over the connected components of the flow-link graph
// (flows sharing no link, directly or through other flows, do not affect each other), so a start
// or an end re-solves only the component it touches. Each flow keeps the bytes left at the time
// its rate last changed, and a heap of finish times (stale entries skipped by a version) gives the
// next completion, so an event costs the size of its component, not of the whole network. A
// pipeline send over a non-blocking fabric touches one NIC pair per flow; before, every event
// re-solved and advanced every active flow.
class FlowNetwork {
 public:
  using FlowId = std::uint32_t;
  // `track_link_bytes`: keep the bytes each link has carried (link_bytes()); a cost per flow hop
  // that timing-only users (the step's flow adapter) turn off.
  explicit FlowNetwork(const Topology& topology, bool track_link_bytes = true)
      : topology_(&topology), track_link_bytes_(track_link_bytes) {}

  // Starts a flow of `bytes` on `path` at time `now` (>= the last event); its first byte leaves
  // after the path latency. `weight` > 0: the flow stands for that many identical flows on the same
  // links (scale by symmetry: each link carries weight x rate for it, and it ends when they would).
  // Returns its id, which stays its own until retire() returns it (the id of a retired flow is
  // given to a later one).
  FlowId start(const Path& path, Bytes bytes, Seconds now, double weight = 1.0);
  // The same for a flow whose links are `links[0, hops)` and whose path latency is `latency`.
  FlowId start(const LinkId* links, int hops, Seconds latency, Bytes bytes, Seconds now, double weight = 1.0);
  // Earliest completion among active flows: (time, flow), ties to the lower id; nullopt if idle.
  [[nodiscard]] std::optional<std::pair<Seconds, FlowId>> next_completion();
  // Advances to `now` (no later than next_completion) and retires every flow that has finished by
  // then, in id order (flows of one collective step often end together).
  std::vector<FlowId> retire(Seconds now);
  [[nodiscard]] size_t active() const { return active_count_; }
  // Work done so far re-solving rates: the flow hops and links of every component solved (a
  // machine-independent measure of cost, for callers that bound their work).
  [[nodiscard]] double work() const { return work_; }
  // Current rate of an active flow (of each of the identical flows it stands for).
  [[nodiscard]] BytesPerSecond rate(FlowId id);
  // Bytes carried so far by each link that any flow has crossed (conservation checks, reports);
  // empty unless the network tracks them.
  [[nodiscard]] const std::unordered_map<std::uint64_t, double>& link_bytes() const { return link_bytes_; }

 private:
  struct Flow {
    std::uint32_t first = 0;  // its hops are hops_[first, first + hops): a slot keeps its range
    std::uint32_t hops = 0;
    std::uint32_t room = 0;     // hops the slot's range can hold (reused by later flows)
    double remaining = 0;       // bytes still to send at time `since`
    double since = 0;           // s: when `remaining` was last measured (its rate's last change)
    double rate = 0;            // bytes/s
    double start_at = 0;        // s: when the first byte moves (start + path latency)
    double weight = 1;          // identical flows it stands for
    std::uint32_t version = 0;  // bumped when its finish time changes (older heap entries are stale)
    std::uint32_t mark = 0;     // component search stamp
    bool active = false;
    bool frozen = false;  // rate fixed in the current progressive filling
  };
  // One hop of a flow: its link (dense index) and its place in that link's list of users.
  struct Hop {
    std::uint32_t link = 0;
    std::uint32_t pos = 0;
  };
  struct Link {
    double capacity = 0;
    std::vector<std::pair<FlowId, std::uint32_t>> users;  // (flow, hop) of every active flow crossing it
    // Scratch of a progressive filling.
    double remaining = 0;
    double unfrozen = 0;     // summed weight of the flow hops not yet frozen
    int unfrozen_flows = 0;  // their number (a link is done when it reaches 0)
    std::uint32_t mark = 0;  // component search stamp
  };
  void advance(double now);
  void recompute_rates();
  // Bytes flow `f` has left at time `t` (>= f.since), on its current rate.
  [[nodiscard]] static double remaining_at(const Flow& f, double t);
  [[nodiscard]] static double finish_time(const Flow& f);

  const Topology* topology_;
  bool track_link_bytes_ = true;
  std::vector<Flow> flows_;
  std::vector<Hop> hops_;     // every flow slot's hops, contiguous per slot
  std::vector<FlowId> free_;  // slots of retired flows
  size_t active_count_ = 0;
  double now_ = 0;
  double work_ = 0;
  std::unordered_map<std::uint64_t, double> link_bytes_;
  std::unordered_map<std::uint64_t, std::uint32_t> link_index_;  // packed link id -> links_
  std::vector<Link> links_;
  // What changed since the last solve: flows started, links a retired flow left.
  std::vector<FlowId> dirty_flows_;
  std::vector<std::uint32_t> dirty_links_;
  // Finish times (time, flow, version), smallest first.
  using Finish = std::tuple<double, FlowId, std::uint32_t>;
  std::vector<Finish> finish_heap_;
  // Scratch of recompute_rates, kept between calls so a warm network allocates nothing.
  std::uint32_t stamp_ = 0;
  std::vector<FlowId> comp_flows_;
  std::vector<std::uint32_t> comp_links_;
  std::vector<std::pair<double, std::uint32_t>> heap_;
};

// Runs a set of flows that all start together to completion on an otherwise idle network and
// returns the time the last one ends (a barrier-synchronized step of a collective). Bandwidth
// only: path latency is left to the caller, which charges it once per algorithm step.
// `weight`: identical flows the spec stands for, on the same path (see FlowNetwork::start).
struct FlowSpec {
  long long src_rank = 0;
  long long dst_rank = 0;
  Bytes bytes{0};
  double weight = 1.0;
};
Seconds run_flows(const Topology& topology, const std::vector<FlowSpec>& flows,
                  std::unordered_map<std::uint64_t, double>* link_bytes = nullptr);
// The same on flows whose paths are already routed (and possibly folded by symmetry):
// `links[first[i], first[i + 1])` are flow i's links. Latency is the caller's, as above.
Seconds run_routed_flows(const Topology& topology, const std::vector<LinkId>& links,
                         const std::vector<std::uint32_t>& first, const std::vector<double>& bytes,
                         const std::vector<double>& weights);

}  // namespace tahoma::net
