// Collective communication costs (docs/design.md section 6): a group of ranks is mapped onto the
// system's hierarchy of levels (cores of a chip, scale-up switch levels or torus, scale-out fabric)
// and each valid algorithm is priced with an alpha-beta model on the links it uses; the fastest is
// chosen, as NCCL, XLA and the Neuron collectives do, and reported.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tahoma/hw.h"
#include "tahoma/lower.h"
#include "tahoma/net.h"

namespace tahoma {

// A set of ranks described by nested (size, stride) factors, innermost first: TP = {(t, 1)},
// DP = {(d, t*c*p)}, DP x CP = {(c, t), (d, t*c*p)}. Ranks are numbered TP-innermost (docs/design.md 5).
struct GroupShape {
  struct Factor {
    long long size = 1;
    long long stride = 1;
  };
  std::vector<Factor> factors;

  [[nodiscard]] long long size() const;
  // Members that share one aligned block of `block_ranks` consecutive ranks (the first block).
  [[nodiscard]] long long members_within(long long block_ranks) const;
  // Whether every block of `block_ranks` the group touches holds the same number of its members: a
  // stride that neither divides nor is a multiple of the block (64 on 72-GPU racks) spreads the
  // members unevenly, so some blocks hold one member that all of the group's crossings must use.
  [[nodiscard]] bool fills_blocks_evenly(long long block_ranks) const;
};

// One level of the communication hierarchy, in ranks. Bandwidths are per rank, per direction,
// already multiplied by the level's achieved-efficiency constant.
struct CommLevel {
  std::string name;
  long long ranks = 1;  // ranks in one block of this level (cumulative)
  BytesPerSecond bandwidth{0};
  Seconds latency{0};
  bool in_network_reduction = false;
  double efficiency = 1.0;  // the achieved-fraction constant already applied to `bandwidth`
  bool torus = false;
  std::vector<int> dims;                       // torus dims (chips)
  std::vector<BytesPerSecond> link_bandwidth;  // torus per link per direction, per rank, with efficiency
};

// How communication is timed: alpha-beta formulas per algorithm (the default), or flows on the
// topology's links with max-min fair sharing (docs/design.md section 7).
enum class NetworkMode { kAnalytical, kFlow };
const char* to_string(NetworkMode m);
std::optional<NetworkMode> parse_network_mode(std::string_view s);

// One barrier-separated step of a collective in flow mode: concurrent flows, then a latency paid
// once per step (the alpha term of the same algorithm's analytical formula).
struct FlowStep {
  std::vector<net::FlowSpec> flows;
  Seconds latency{0};
};

struct CollectiveCost {
  Seconds time{0};
  std::string algorithm;  // "ring", "hierarchical", "tree", "nvls", "torus-rings", "direct", "p2p", "none"
  BytesPerSecond algbw{0};
  BytesPerSecond busbw{0};
};

// One collective algorithm the model prices (`tahoma list algorithms`): its name, the collectives
// it implements, where it is valid, whether the libraries choose it themselves, and its source.
// The registry (collective_algorithms(), in cost()'s tie-breaking order) is the one place an
// algorithm is declared; its alpha-beta price is CollectiveModel's member of the same name, its
// flows flow_steps' branch of the same name.
struct CollectiveAlgorithm {
  const char* name;
  const char* collectives;  // the operations it implements
  bool library;             // chosen among by cost() (what NCCL, XLA and the Neuron collectives do)
  const char* valid;        // where it applies
  const char* formula;      // its time (docs/model.md 5.4)
  const char* source;
};
const std::vector<CollectiveAlgorithm>& collective_algorithms();

class CollectiveModel {
 public:
  explicit CollectiveModel(const System& system);

  // Fastest valid algorithm for `kind` on `bytes` (see CommOp for the buffer convention).
  [[nodiscard]] CollectiveCost cost(CollectiveKind kind, Bytes bytes, const GroupShape& group) const;
  // One named algorithm; time is infinite where it is not valid for the group.
  [[nodiscard]] CollectiveCost cost_with(const std::string& algorithm, CollectiveKind kind, Bytes bytes,
                                         const GroupShape& group) const;
  [[nodiscard]] const std::vector<CommLevel>& levels() const { return levels_; }

  // Every algorithm the model knows, and the ones `cost` chooses among (in tie-breaking order).
  static const std::vector<std::string>& algorithms();
  static const std::vector<std::string>& library_algorithms();
  // Flow mode: the same choice and the same algorithms, timed by running their flows on the
  // topology (an idle network apart from the collective itself: every group of this shape that
  // the plan runs concurrently is included when `all_groups` is set).
  [[nodiscard]] CollectiveCost cost_flow(CollectiveKind kind, Bytes bytes, const GroupShape& group,
                                         bool all_groups = false) const;
  [[nodiscard]] CollectiveCost cost_flow_with(const std::string& algorithm, CollectiveKind kind, Bytes bytes,
                                              const GroupShape& group, bool all_groups = false) const;
  // The flows of `algorithm` on the group whose lowest rank is `base`; nullopt where the algorithm
  // is not valid for the group (the same validity as cost_with).
  // Only the flows sent by ranks in [src_begin, src_end) are listed (src_end < 0: every rank);
  // more than kMaxFlowsPerStep of them in one step throws InputError.
  [[nodiscard]] std::optional<std::vector<FlowStep>> flow_steps(const std::string& algorithm, CollectiveKind kind,
                                                                Bytes bytes, const GroupShape& group,
                                                                long long base = 0, long long src_begin = 0,
                                                                long long src_end = -1) const;
  // Flow mode by symmetry: the ranks [0, window) whose flows are simulated, every link folded onto
  // its translate there (net::Topology::fold). The whole system up to kExplicitFlowRanks ranks;
  // beyond, one period of the traffic (whole scale-up domains), exact when the system is a whole
  // number of periods and the group's pattern repeats with them (concurrent groups, a group whose
  // stride divides the domains); a lone group spanning the system repeats up to its ends (the ring's
  // closing hop, a partial last domain), which the window does not see. A period over
  // kMaxFlowWindowRanks throws InputError.
  [[nodiscard]] long long flow_window(const GroupShape& group, bool all_groups) const;
  // Per step of `algorithm` at `bytes`: (bandwidth seconds per byte, latency); the step's bandwidth
  // time scales with the buffer. nullopt where the algorithm is not valid, empty for "none".
  // `window` <= 0: flow_window's.
  [[nodiscard]] std::optional<std::vector<std::pair<double, Seconds>>> flow_profile(
      const std::string& algorithm, CollectiveKind kind, Bytes bytes, const GroupShape& group, bool all_groups,
      long long window = 0) const;
  // The cost of a buffer of `bytes` from a profile (infinite time when the profile is nullopt).
  static CollectiveCost flow_cost_at(const std::optional<std::vector<std::pair<double, Seconds>>>& profile,
                                     const std::string& algorithm, CollectiveKind kind, Bytes bytes,
                                     const GroupShape& group);
  static constexpr long long kExplicitFlowRanks = 1152;
  static constexpr long long kMaxFlowWindowRanks = 16384;
  static constexpr long long kMaxFlowsPerStep = 4'000'000;
  [[nodiscard]] const net::Topology& topology() const { return topology_; }

  // NVLS all-reduce reaches ~480 GB/s bus bandwidth on H100 NVSwitch vs ~360 GB/s for rings
  // (nccl-tests, NVIDIA NCCL 2.17+ release notes); as algorithm bandwidth that is S / (0.6 * link bw).
  static constexpr double kInNetworkReductionEfficiency = 0.6;

 private:
  struct Span {
    int level = 0;
    long long factor = 1;         // members of one level block / members of one inner block
    long long inner = 1;          // members of one inner block
    bool even = true;             // every inner block holds `inner` members (else one fewer)
    BytesPerSecond bandwidth{0};  // per rank; on a torus both directions of every spanned dimension
    BytesPerSecond one_way{0};    // what one unidirectional ring gets (one link out of each member)
    BytesPerSecond two_way{0};    // two counter-rotating rings (twice one_way where the ring wraps)
  };
  enum class RingKind { kOneWay, kTwoWay, kAllLinks };
  [[nodiscard]] std::vector<Span> spans(const GroupShape& group) const;
  // Whether a group of `n` members nests evenly in its spans (two or more levels, every block of
  // each level holding the same number of members): where level-by-level algorithms apply.
  static bool nests(const std::vector<Span>& sp, long long n);
  [[nodiscard]] CollectiveCost cost_with_spans(const std::string& algorithm, CollectiveKind kind, Bytes bytes,
                                               const GroupShape& group, const std::vector<Span>& sp) const;
  // One algorithm's alpha-beta time for a buffer of `S` bytes; infinite where it is not valid.
  struct Pricing {
    CollectiveKind kind;
    double S;       // bytes
    long long n;    // members
    double phases;  // 2 for all-reduce (reduce-scatter + all-gather), else 1
    const GroupShape& group;
    const std::vector<Span>& sp;
  };
  [[nodiscard]] double price_ring(const Pricing& p, RingKind ring) const;
  [[nodiscard]] double price_hierarchical(const Pricing& p) const;
  [[nodiscard]] double price_tree(const Pricing& p) const;
  [[nodiscard]] double price_nvls(const Pricing& p) const;
  [[nodiscard]] double price_torus_rings(const Pricing& p) const;
  [[nodiscard]] double price_direct(const Pricing& p) const;
  [[nodiscard]] double price_p2p(const Pricing& p) const;
  [[nodiscard]] double price_halving_doubling(const Pricing& p) const;
  // The price of the registry's algorithm `name` (infinite for an unknown name).
  [[nodiscard]] double price(const std::string& name, const Pricing& p) const;
  // Per-rank bandwidth (bytes/s) of the slowest crossing and the largest per-step latency (s) of a
  // flat algorithm that spans all of `sp`.
  [[nodiscard]] std::pair<double, double> bottleneck(const std::vector<Span>& sp, RingKind ring) const;
  [[nodiscard]] BytesPerSecond torus_bandwidth(const CommLevel& level, const GroupShape& group,
                                               double* a2a_time_per_byte, double* ring_steps, BytesPerSecond* one_way,
                                               BytesPerSecond* two_way) const;

  // Per-rank bandwidth and latency of the level whose blocks first hold two members `distance`
  // apart in the group's member order (halving-doubling partners).
  [[nodiscard]] std::pair<double, double> level_at_distance(const GroupShape& group, long long distance) const;

  std::vector<CommLevel> levels_;
  int ranks_per_chip_ = 1;
  net::Topology topology_;
};

// `tahoma collective` (the nccl-tests of Tahoma): one operation on a group of `group` ranks
// `stride` apart (0 = every rank of the system), at each size of `sizes`.
struct CollectiveRequest {
  CollectiveKind kind = CollectiveKind::kAllReduce;
  long long group = 0;
  long long stride = 1;
  std::vector<Bytes> sizes;
  std::string algorithm;  // empty: the fastest valid one
  NetworkMode network = NetworkMode::kAnalytical;
  bool all_groups = false;  // flow mode: every group of this shape runs at once (shared links)
};
struct CollectiveRow {
  Bytes bytes{0};
  CollectiveCost cost;
};
// Throws InputError (naming the flag) when the group does not fit the system or the algorithm is
// unknown; an algorithm that is valid but not for this group gives rows with infinite time.
std::vector<CollectiveRow> run_collective(const System& system, const CollectiveRequest& request);
std::optional<CollectiveKind> parse_collective_kind(std::string_view s);

// The ranks of the group whose lowest rank is `base`, ascending.
std::vector<long long> group_members(const GroupShape& group, long long base = 0);

// Bus-bandwidth factor of nccl-tests: busbw = algbw * factor(n).
double bus_factor(CollectiveKind kind, long long n);

}  // namespace tahoma
