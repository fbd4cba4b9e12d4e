// Collective communication costs (DESIGN.md section 6): a group of ranks is mapped onto the
// system's hierarchy of levels (cores of a chip, scale-up switch levels or torus, scale-out fabric)
// and each valid algorithm is priced with an alpha-beta model on the links it uses; the fastest is
// chosen, as NCCL, XLA and the Neuron collectives do, and reported.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tahoma/hw.h"
#include "tahoma/lower.h"

namespace tahoma {

// A set of ranks described by nested (size, stride) factors, innermost first: TP = {(t, 1)},
// DP = {(d, t*c*p)}, DP x CP = {(c, t), (d, t*c*p)}. Ranks are numbered TP-innermost (DESIGN.md 5).
struct GroupShape {
  struct Factor {
    long long size = 1;
    long long stride = 1;
  };
  std::vector<Factor> factors;

  [[nodiscard]] long long size() const;
  // Members that share one aligned block of `block_ranks` consecutive ranks.
  [[nodiscard]] long long members_within(long long block_ranks) const;
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

struct CollectiveCost {
  Seconds time{0};
  std::string algorithm;  // "ring", "hierarchical", "tree", "nvls", "torus-rings", "direct", "p2p", "none"
  BytesPerSecond algbw{0};
  BytesPerSecond busbw{0};
};

class CollectiveModel {
 public:
  explicit CollectiveModel(const System& system);

  // Fastest valid algorithm for `kind` on `bytes` (see CommOp for the buffer convention).
  [[nodiscard]] CollectiveCost cost(CollectiveKind kind, Bytes bytes, const GroupShape& group) const;
  // One named algorithm; time is infinite where it is not valid for the group.
  [[nodiscard]] CollectiveCost cost_with(const std::string& algorithm, CollectiveKind kind, Bytes bytes,
                                         const GroupShape& group) const;
  [[nodiscard]] const std::vector<CommLevel>& levels() const { return levels_; }

  // NVLS all-reduce reaches ~480 GB/s bus bandwidth on H100 NVSwitch vs ~360 GB/s for rings
  // (nccl-tests, NVIDIA NCCL 2.17+ release notes); as algorithm bandwidth that is S / (0.6 * link bw).
  static constexpr double kInNetworkReductionEfficiency = 0.6;

 private:
  struct Span {
    int level = 0;
    long long factor = 1;  // members of one level block / members of one inner block
    long long inner = 1;   // members of one inner block
    BytesPerSecond bandwidth{0};
  };
  [[nodiscard]] std::vector<Span> spans(const GroupShape& group) const;
  // Per-rank bandwidth (bytes/s) of the slowest crossing and the largest per-step latency (s) of a
  // flat algorithm that spans all of `sp`.
  [[nodiscard]] std::pair<double, double> bottleneck(const std::vector<Span>& sp) const;
  [[nodiscard]] BytesPerSecond torus_bandwidth(const CommLevel& level, const GroupShape& group,
                                               double* a2a_time_per_byte, double* ring_steps) const;

  std::vector<CommLevel> levels_;
  int ranks_per_chip_ = 1;
};

// Bus-bandwidth factor of nccl-tests: busbw = algbw * factor(n).
double bus_factor(CollectiveKind kind, long long n);

}  // namespace tahoma
