// Collective algorithms as flows on the topology's links (docs/design.md section 7, flow mode). Each
// algorithm expands into barrier-separated steps of concurrent point-to-point flows; a pipelined
// ring is one step whose flows carry the whole ring's traffic (on an idle ring every step moves the
// same chunk, so the steady state is the sum), plus the same per-step latency as the analytical
// formula, so the two modes agree on an idle network and differ exactly where links are shared.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tahoma/comm.h"
#include "tahoma/error.h"

namespace tahoma {
namespace {

using net::FlowSpec;

// The flows of one step that a caller keeps: those sent by ranks in [lo, hi) (scale by symmetry
// simulates one window of senders), at most kMaxFlowsPerStep of them.
class FlowList {
 public:
  FlowList(long long lo, long long hi) : lo_(lo), hi_(hi) {}
  [[nodiscard]] bool wants(long long src) const { return src >= lo_ && src < hi_; }
  void push_back(const FlowSpec& f) {
    if (!wants(f.src_rank)) return;
    if (flows_.size() >= static_cast<size_t>(CollectiveModel::kMaxFlowsPerStep)) {
      throw InputError("--network", "",
                       fmt::format("flow mode: one step of a collective would run more than {} flows (the limit); "
                                   "use --network analytical, or a smaller group",
                                   CollectiveModel::kMaxFlowsPerStep));
    }
    flows_.push_back(f);
  }
  std::vector<FlowSpec> take() { return std::move(flows_); }

 private:
  long long lo_, hi_;
  std::vector<FlowSpec> flows_;
};

// Ring flows over `order` (cyclic), each carrying `bytes`; reversed when `backward`.
void ring_flows(const std::vector<long long>& order, double bytes, bool backward, FlowList& out) {
  const size_t n = order.size();
  if (n < 2) return;
  for (size_t i = 0; i < n; ++i) {
    const long long a = order[i], b = order[(i + 1) % n];
    out.push_back(backward ? FlowSpec{b, a, Bytes(bytes)} : FlowSpec{a, b, Bytes(bytes)});
  }
}

bool is_power_of_two(long long n) {
  return n > 0 && (n & (n - 1)) == 0;
}

}  // namespace

std::vector<long long> group_members(const GroupShape& group, long long base) {
  std::vector<long long> out{base};
  for (const auto& f : group.factors) {
    std::vector<long long> next;
    next.reserve(out.size() * static_cast<size_t>(f.size));
    for (long long k = 0; k < f.size; ++k) {
      for (long long r : out) next.push_back(r + k * f.stride);
    }
    out = std::move(next);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<std::string>& CollectiveModel::algorithms() {
  static const std::vector<std::string> kAlgorithms = [] {
    std::vector<std::string> out;
    for (const auto& a : collective_algorithms()) out.emplace_back(a.name);
    return out;
  }();
  return kAlgorithms;
}

const std::vector<std::string>& CollectiveModel::library_algorithms() {
  // What NCCL (ring, tree, NVLS, and its hierarchical CollNet-like split), XLA (multi-dimensional
  // torus rings) and the Neuron collectives (bidirectional rings on NeuronLink) choose among.
  // Halving-doubling (MPI's Rabenseifner) is priced on request only: no production library picks it
  // for these sizes, and on an ideal crossbar it would always win on latency.
  static const std::vector<std::string> kLibrary = [] {
    std::vector<std::string> out;
    for (const auto& a : collective_algorithms()) {
      if (a.library) out.emplace_back(a.name);
    }
    return out;
  }();
  return kLibrary;
}

std::optional<std::vector<FlowStep>> CollectiveModel::flow_steps(const std::string& algorithm, CollectiveKind kind,
                                                                 Bytes bytes, const GroupShape& group,
                                                                 long long base, long long src_begin,
                                                                 long long src_end) const {
  if (src_end < 0) src_end = std::numeric_limits<long long>::max();
  // Validity is the analytical model's: an algorithm that is not valid there is not valid here.
  const CollectiveCost analytical = cost_with(algorithm, kind, bytes, group);
  if (analytical.algorithm == "none") return std::vector<FlowStep>{};
  if (!std::isfinite(analytical.time.value())) return std::nullopt;
  const std::vector<long long> members = group_members(group, base);
  const long long n = static_cast<long long>(members.size());
  const double S = bytes.value();
  const double phases = kind == CollectiveKind::kAllReduce ? 2.0 : 1.0;
  const double r = static_cast<double>(n - 1) / static_cast<double>(n);
  const auto sp = spans(group);
  // Channels follow the level blocks only where every block holds the same number of members; a
  // group whose stride does not divide the blocks runs one flat ring (or tree) in member order.
  const bool aligned = nests(sp, n);
  // The per-step latency is the analytical formula's (the slowest spanned level's), so the two
  // modes differ only in how bandwidth is shared.
  double alpha = 0.0;
  for (const auto& s : sp) alpha = std::max(alpha, levels_[static_cast<size_t>(s.level)].latency.value());
  std::vector<FlowStep> steps;
  auto list = [&] { return FlowList(src_begin, src_end); };
  auto add_step = [&](FlowList flows, double latency_steps) {
    FlowStep st;
    st.latency = Seconds(latency_steps * alpha);
    st.flows = flows.take();
    steps.push_back(std::move(st));
  };
  // Multi-dimensional rings on a torus level over `subgroup` (XLA): a bidirectional ring along
  // every dimension the subgroup spans, all at once, each carrying the share of `data` in
  // proportion to its dimension's bandwidth. Returns the ring steps (sum of m_d - 1).
  auto torus_rings = [&](const CommLevel& level, std::vector<long long> subgroup, double data,
                         FlowList& flows) {
    const auto& dims = level.dims;
    const long long rpc = ranks_per_chip_;
    struct DimRing {
      double bandwidth = 0;
      int links = 1;
      std::map<std::vector<long long>, std::vector<long long>> rings;  // other coords -> members
    };
    std::vector<DimRing> rings(dims.size());
    for (long long m : subgroup) {
      std::vector<long long> c(dims.size());
      long long chip = (m / rpc) % (level.ranks / rpc);
      for (size_t d = 0; d < dims.size(); ++d) {
        c[d] = chip % dims[d];
        chip /= dims[d];
      }
      for (size_t d = 0; d < dims.size(); ++d) {
        auto key = c;
        key[d] = -1;
        rings[d].rings[key].push_back(m);
      }
    }
    const double ns = static_cast<double>(subgroup.size());
    double total_bw = 0.0, ring_steps = 0.0;
    for (size_t d = 0; d < dims.size(); ++d) {
      const size_t m = rings[d].rings.begin()->second.size();
      if (m <= 1) continue;
      rings[d].links = (static_cast<int>(m) == dims[d] && m >= 3) ? 2 : 1;
      rings[d].bandwidth = level.link_bandwidth[d].value() * rings[d].links;
      total_bw += rings[d].bandwidth;
      ring_steps += static_cast<double>(m - 1);
    }
    for (size_t d = 0; d < dims.size(); ++d) {
      if (rings[d].bandwidth <= 0) continue;
      const double share = (ns - 1) / ns * data * rings[d].bandwidth / total_bw / rings[d].links;
      for (auto& [key, ring] : rings[d].rings) {
        std::sort(ring.begin(), ring.end());
        ring_flows(ring, share, false, flows);
        if (rings[d].links == 2) ring_flows(ring, share, true, flows);
      }
    }
    return ring_steps;
  };

  // Channel c's order of the members of one outermost block: c's digits added digit by digit in the
  // mixed radix of the inner levels, so each inner boundary is crossed by a different member in
  // each channel (NCCL builds its channels' rings and trees this way over NVLink and NICs).
  std::vector<long long> radix;
  for (size_t i = 0; i + 1 < sp.size(); ++i) radix.push_back(sp[i].factor);
  auto permute = [&](long long local, long long c) {
    long long out = 0, place = 1;
    for (long long f : radix) {
      out += ((local % f + c % f) % f) * place;
      local /= f;
      c /= f;
      place *= f;
    }
    return out;
  };
  if (algorithm == "ring" || algorithm == "ring-bidir") {
    // NCCL runs one ring per channel, one channel per member of an outermost block (`inner`).
    // Channel c permutes each block's members digit by digit (adding c's digits in the mixed radix
    // of the inner levels), so the member that crosses each inner level boundary differs from
    // channel to channel and every boundary's traffic spreads over all links below it; and it
    // starts block k k places later in that order, so consecutive blocks are joined rail to rail.
    const bool bidir = algorithm == "ring-bidir";
    FlowList flows = list();
    std::vector<long long> order(static_cast<size_t>(n));
    if (!aligned && sp.size() >= 2) {
      // Blocks of unequal size (a stride that does not divide the outer level's blocks, or a
      // partial last scale-up domain): one channel per member of the largest block; channel c
      // starts each block c places in, so each boundary is crossed by a different member.
      const long long block_ranks = levels_[static_cast<size_t>(sp[sp.size() - 2].level)].ranks;
      std::vector<std::vector<long long>> by_block;
      for (long long m : members) {
        if (by_block.empty() || m / block_ranks != by_block.back().front() / block_ranks) by_block.emplace_back();
        by_block.back().push_back(m);
      }
      size_t channels = 1;
      for (const auto& b : by_block) channels = std::max(channels, b.size());
      const double per = phases * r * S / static_cast<double>(channels) / (bidir ? 2.0 : 1.0);
      for (size_t c = 0; c < channels; ++c) {
        order.clear();
        for (const auto& b : by_block) {
          for (size_t j = 0; j < b.size(); ++j) order.push_back(b[(j + c) % b.size()]);
        }
        ring_flows(order, per, false, flows);
        if (bidir) ring_flows(order, per, true, flows);
      }
      add_step(std::move(flows), phases * static_cast<double>(n - 1));
      return steps;
    }
    const long long inner = aligned ? sp.back().inner : 1;
    const long long blocks = n / inner;
    const double per_flow = phases * r * S / static_cast<double>(inner) / (bidir ? 2.0 : 1.0);
    for (long long c = 0; c < inner; ++c) {
      for (long long k = 0; k < blocks; ++k) {
        for (long long j = 0; j < inner; ++j) {
          const long long local = permute(((j - k) % inner + inner) % inner, c);
          order[static_cast<size_t>(k * inner + j)] = members[static_cast<size_t>(k * inner + local)];
        }
      }
      ring_flows(order, per_flow, false, flows);
      if (bidir) ring_flows(order, per_flow, true, flows);
    }
    add_step(std::move(flows), phases * static_cast<double>(n - 1));
  } else if (algorithm == "hierarchical") {
    // Reduce-scatter level by level from the innermost, all-reduce (or gather) at the top, and back
    // out: at each level, rings over the members that differ only in that level's position (on a
    // torus level, its multi-dimensional rings).
    double data = S;
    for (const auto& s : sp) {
      const long long f = s.factor, in = s.inner;
      const CommLevel& level = levels_[static_cast<size_t>(s.level)];
      FlowList flows = list();
      for (long long first = 0; first < n; first += in * f) {
        for (long long lane = 0; lane < in; ++lane) {
          std::vector<long long> order;
          for (long long pos = 0; pos < f; ++pos)
            order.push_back(members[static_cast<size_t>(first + pos * in + lane)]);
          if (level.torus) {
            (void)torus_rings(level, order, phases * data, flows);
          } else {
            ring_flows(order, phases * static_cast<double>(f - 1) / static_cast<double>(f) * data, false, flows);
          }
        }
      }
      FlowStep st;
      st.flows = flows.take();
      st.latency = Seconds(phases * static_cast<double>(f - 1) * level.latency.value());
      steps.push_back(std::move(st));
      data /= static_cast<double>(f);
    }
  } else if (algorithm == "tree") {
    // NCCL's tree: one channel per member of a block of the outermost level; in channel c each
    // block is a chain (in channel c's order, like the rings) whose head joins a double binary tree over
    // the blocks' heads. Each tree carries half of the channel's share up (reduce) and down
    // (broadcast), pipelined so all directions run at once; a node interior in one tree is a leaf
    // in the other (tree 2 is tree 1 mirrored). One block per member gives the flat tree.
    const long long inner = aligned ? sp.back().inner : 1;
    const long long blocks = n / inner;
    const double part = S / static_cast<double>(inner);
    FlowList flows = list();
    std::vector<long long> heads(static_cast<size_t>(blocks));
    for (long long c = 0; c < inner; ++c) {
      for (long long k = 0; k < blocks; ++k) {
        auto at = [&](long long j) { return members[static_cast<size_t>(k * inner + permute(j, c))]; };
        heads[static_cast<size_t>(k)] = at(0);
        for (long long j = 0; j + 1 < inner; ++j) {
          flows.push_back({at(j + 1), at(j), Bytes(part)});
          flows.push_back({at(j), at(j + 1), Bytes(part)});
        }
      }
      for (int tree = 0; tree < 2 && blocks > 1; ++tree) {
        for (long long i = 1; i < blocks; ++i) {
          const long long child = tree == 0 ? i : blocks - 1 - i;
          const long long parent = tree == 0 ? (i - 1) / 2 : blocks - 1 - (i - 1) / 2;
          const long long a = heads[static_cast<size_t>(child)], b = heads[static_cast<size_t>(parent)];
          flows.push_back({a, b, Bytes(part / 2)});
          flows.push_back({b, a, Bytes(part / 2)});
        }
      }
    }
    add_step(std::move(flows), 2.0 * std::ceil(std::log2(static_cast<double>(n))));
  } else if (algorithm == "halving-doubling") {
    // Rabenseifner: recursive halving (reduce-scatter), then recursive doubling (all-gather).
    TAHOMA_ASSERT(is_power_of_two(n));
    auto exchange = [&](long long distance, double data) {
      FlowList flows = list();
      for (long long i = 0; i < n; ++i) {
        flows.push_back({members[static_cast<size_t>(i)], members[static_cast<size_t>(i ^ distance)], Bytes(data)});
      }
      add_step(std::move(flows), 1.0);
    };
    if (kind != CollectiveKind::kAllGather) {
      for (long long d = n / 2, k = 1; d >= 1; d /= 2, ++k) exchange(d, S / static_cast<double>(1LL << k));
    }
    if (kind != CollectiveKind::kReduceScatter) {
      for (long long d = 1, k = 0; d < n; d *= 2, ++k)
        exchange(d, S / static_cast<double>(n) * static_cast<double>(1LL << k));
    }
  } else if (algorithm == "nvls") {
    // Each rank pushes S into the switch, which reduces and multicasts S back: the same up and
    // down port load as a ring of S-byte flows, scaled so a port at its (ring-efficiency) capacity
    // moves S at the in-network-reduction rate.
    const CommLevel& level = levels_[static_cast<size_t>(sp[0].level)];
    FlowList flows = list();
    ring_flows(members, S * level.efficiency / kInNetworkReductionEfficiency, false, flows);
    add_step(std::move(flows), 2.0);
  } else if (algorithm == "torus-rings") {
    const CommLevel& level = levels_[static_cast<size_t>(sp[0].level)];
    FlowList flows = list();
    const double ring_steps = torus_rings(level, members, phases * S, flows);
    FlowStep st;
    st.flows = flows.take();
    st.latency = Seconds(phases * ring_steps * level.latency.value());
    steps.push_back(std::move(st));
  } else if (algorithm == "direct") {
    FlowList flows = list();
    for (long long a : members) {
      if (!flows.wants(a)) continue;
      for (long long b : members) {
        if (a != b) flows.push_back({a, b, Bytes(S / static_cast<double>(n))});
      }
    }
    add_step(std::move(flows), std::ceil(std::log2(static_cast<double>(n))));
  } else if (algorithm == "p2p") {
    FlowList flows = list();
    flows.push_back({members[0], members[1], Bytes(S)});
    add_step(std::move(flows), 1.0);
  } else {
    return std::nullopt;
  }
  return steps;
}

long long CollectiveModel::flow_window(const GroupShape& group, bool all_groups) const {
  const long long ranks = topology_.ranks();
  if (ranks <= kExplicitFlowRanks) return ranks;
  // The traffic repeats every lcm(domain, period) ranks: a single group's members every `stride`
  // ranks, concurrent groups every block of `size x stride` ranks of their outermost factor.
  long long period = 1;
  for (const auto& f : group.factors) {
    if (f.size > 1) period = all_groups ? f.size * f.stride : f.stride;
  }
  const long long window = std::lcm(period, topology_.domain_ranks());
  if (window >= ranks) return ranks;
  if (window > kMaxFlowWindowRanks) {
    throw InputError("--network", "",
                     fmt::format("flow mode: the group's traffic repeats only every {} ranks, more than the {} ranks "
                                 "the flow network simulates (the limit); use --network analytical, or a stride "
                                 "that divides or is a multiple of the {}-rank scale-up domain",
                                 window, kMaxFlowWindowRanks, topology_.domain_ranks()));
  }
  return window;
}

std::optional<std::vector<std::pair<double, Seconds>>> CollectiveModel::flow_profile(
    const std::string& algorithm, CollectiveKind kind, Bytes bytes, const GroupShape& group, bool all_groups,
    long long window) const {
  if (window <= 0) window = flow_window(group, all_groups);
  if (!all_groups && window < topology_.ranks() && group.factors.size() == 1) {
    // A lone group spanning more than the explicit limit does not repeat (a tree's root, a ring's
    // closing hop): simulate the same algorithm explicitly on the largest group of this stride that
    // whole scale-up domains within kExplicitFlowRanks hold, scale its bandwidth time by the ratio
    // of the analytical model's per-byte times at the two sizes, and take each step's latency from
    // the full group's schedule.
    const auto [n, stride] = std::pair{group.factors[0].size, group.factors[0].stride};
    const long long domain = topology_.domain_ranks();
    const long long small_ranks = std::max(domain, kExplicitFlowRanks / domain * domain);
    const long long small_n = std::min(n, (small_ranks - 1) / stride + 1);
    System small_system = topology_.system();
    small_system.chips = static_cast<int>(small_ranks / ranks_per_chip_);
    const CollectiveModel small(small_system);
    const GroupShape small_group{{{small_n, stride}}};
    auto profile = small.flow_profile(algorithm, kind, bytes, small_group, false, small.topology().ranks());
    const auto full = flow_steps(algorithm, kind, bytes, group, 0, 0, 0);  // latencies only
    if (!profile || !full) return std::nullopt;
    if (profile->empty() || full->empty()) return std::vector<std::pair<double, Seconds>>{};
    auto slope = [&](const CollectiveModel& m, const GroupShape& g) {
      const double t1 = m.cost_with(algorithm, kind, bytes, g).time.value();
      const double t2 = m.cost_with(algorithm, kind, bytes * 2.0, g).time.value();
      return (t2 - t1) / bytes.value();
    };
    const double ratio = slope(*this, group) / slope(small, small_group);
    TAHOMA_ASSERT(profile->size() == full->size() && std::isfinite(ratio));
    for (size_t i = 0; i < profile->size(); ++i) {
      (*profile)[i].first *= ratio;
      (*profile)[i].second = (*full)[i].latency;
    }
    return profile;
  }
  // Bases of the concurrent groups whose members send from the window: ranks whose digit is 0 in
  // every factor of the shape (a group's lowest rank is its base, so later groups send nothing).
  std::vector<long long> bases{0};
  if (all_groups) {
    bases.clear();
    for (long long rk = 0; rk < window; ++rk) {
      bool base = true;
      for (const auto& f : group.factors) base = base && (rk / f.stride) % f.size == 0;
      if (base) bases.push_back(rk);
    }
  }
  std::vector<FlowStep> merged;
  for (long long b : bases) {
    auto st = flow_steps(algorithm, kind, bytes, group, b, 0, window);
    if (!st) return std::nullopt;
    if (st->empty()) return std::vector<std::pair<double, Seconds>>{};
    if (merged.empty()) merged.resize(st->size());
    for (size_t i = 0; i < st->size(); ++i) {
      merged[i].latency = max(merged[i].latency, (*st)[i].latency);
      merged[i].flows.insert(merged[i].flows.end(), (*st)[i].flows.begin(), (*st)[i].flows.end());
    }
  }
  // Each step's flows, routed, with every link folded onto its translate in the window (scale by
  // symmetry: the window's senders meet there all the load the full system puts on that link).
  std::vector<std::pair<double, Seconds>> out;
  std::vector<net::LinkId> links;
  std::vector<std::uint32_t> first;
  std::vector<double> flow_bytes, weights;
  net::Path path;
  for (const auto& st : merged) {
    links.clear();
    first.assign(1, 0);
    flow_bytes.clear();
    weights.clear();
    for (const auto& f : st.flows) {
      topology_.route(f.src_rank, f.dst_rank, path);
      for (int h = 0; h < path.hops; ++h) links.push_back(topology_.fold(path.links[static_cast<size_t>(h)], window));
      first.push_back(static_cast<std::uint32_t>(links.size()));
      flow_bytes.push_back(f.bytes.value());
      weights.push_back(f.weight);
    }
    const double t = net::run_routed_flows(topology_, links, first, flow_bytes, weights).value();
    out.emplace_back(bytes.value() > 0 ? t / bytes.value() : 0.0, st.latency);
  }
  return out;
}

CollectiveCost CollectiveModel::cost_flow_with(const std::string& algorithm, CollectiveKind kind, Bytes bytes,
                                               const GroupShape& group, bool all_groups) const {
  return flow_cost_at(flow_profile(algorithm, kind, bytes, group, all_groups), algorithm, kind, bytes, group);
}

CollectiveCost CollectiveModel::flow_cost_at(const std::optional<std::vector<std::pair<double, Seconds>>>& profile,
                                             const std::string& algorithm, CollectiveKind kind, Bytes bytes,
                                             const GroupShape& group) {
  CollectiveCost c;
  c.algorithm = algorithm;
  c.time = Seconds(std::numeric_limits<double>::infinity());
  if (!profile) return c;
  if (profile->empty() || group.size() <= 1 || bytes.value() <= 0) {
    c.algorithm = "none";
    c.time = Seconds(0);
    return c;
  }
  double t = 0.0;
  for (const auto& [per_byte, latency] : *profile) t += per_byte * bytes.value() + latency.value();
  c.time = Seconds(t);
  if (t > 0 && std::isfinite(t)) {
    c.algbw = BytesPerSecond(bytes.value() / t);
    c.busbw = c.algbw * bus_factor(kind, group.size());
  }
  return c;
}

CollectiveCost CollectiveModel::cost_flow(CollectiveKind kind, Bytes bytes, const GroupShape& group,
                                          bool all_groups) const {
  CollectiveCost best;
  best.time = Seconds(std::numeric_limits<double>::infinity());
  for (const auto& a : library_algorithms()) {
    CollectiveCost c = cost_flow_with(a, kind, bytes, group, all_groups);
    if (c.algorithm == "none") return c;
    if (c.time < best.time) best = c;
  }
  return best;
}

std::optional<CollectiveKind> parse_collective_kind(std::string_view s) {
  for (auto k : {CollectiveKind::kAllReduce, CollectiveKind::kAllGather, CollectiveKind::kReduceScatter,
                 CollectiveKind::kAllToAll, CollectiveKind::kSendRecv}) {
    if (s == to_string(k)) return k;
  }
  return std::nullopt;
}

std::vector<CollectiveRow> run_collective(const System& system, const CollectiveRequest& req) {
  const long long ranks = system.total_ranks();
  const long long group = req.group == 0 ? ranks : req.group;
  if (group < 1) throw InputError("--group", "", "must be a positive number of ranks");
  if (req.stride < 1) throw InputError("--stride", "", "must be a positive number of ranks");
  if (req.kind == CollectiveKind::kSendRecv && group != 2) {
    throw InputError("--group", "",
                     fmt::format("send-recv is between 2 ranks, got {} (use --group 2 --stride K)", group));
  }
  if ((group - 1) * req.stride >= ranks) {
    throw InputError(
        "--group", "",
        fmt::format("{} ranks {} apart need {} ranks; {} has {} ({} chips x {} ranks per chip); try "
                    "--chips {}",
                    group, req.stride, (group - 1) * req.stride + 1, system.name, ranks, system.total_chips(),
                    system.chip.ranks_per_chip, ((group - 1) * req.stride / system.chip.ranks_per_chip) + 1));
  }
  if (!req.algorithm.empty() && std::find(CollectiveModel::algorithms().begin(), CollectiveModel::algorithms().end(),
                                          req.algorithm) == CollectiveModel::algorithms().end()) {
    const std::string guess = nearest(req.algorithm, CollectiveModel::algorithms());
    throw InputError("--algorithm", "",
                     fmt::format("unknown algorithm '{}'{}; known: {}", req.algorithm,
                                 guess.empty() ? "" : " (did you mean '" + guess + "'?)",
                                 fmt::join(CollectiveModel::algorithms(), ", ")));
  }
  const CollectiveModel model(system);
  const GroupShape shape{{{group, req.stride}}};
  // Flow mode: every flow of every algorithm carries a fixed fraction of the buffer, so a step's
  // bandwidth time is linear in it (max-min rates do not depend on sizes); each algorithm's steps
  // are simulated once, at a reference size, and scaled to every row.
  const std::vector<std::string> candidates =
      req.algorithm.empty() ? CollectiveModel::library_algorithms() : std::vector<std::string>{req.algorithm};
  std::vector<std::optional<std::vector<std::pair<double, Seconds>>>> profiles;
  if (req.network == NetworkMode::kFlow) {
    const Bytes reference(1e9);
    for (const auto& a : candidates) profiles.push_back(model.flow_profile(a, req.kind, reference, shape, req.all_groups));
  }
  std::vector<CollectiveRow> rows;
  for (Bytes b : req.sizes) {
    CollectiveRow row;
    row.bytes = b;
    if (req.network == NetworkMode::kFlow) {
      row.cost.time = Seconds(std::numeric_limits<double>::infinity());
      row.cost.algorithm = candidates.front();
      for (size_t i = 0; i < candidates.size(); ++i) {
        const CollectiveCost c = CollectiveModel::flow_cost_at(profiles[i], candidates[i], req.kind, b, shape);
        if (c.algorithm == "none") {
          row.cost = c;
          break;
        }
        if (c.time < row.cost.time) row.cost = c;
      }
    } else {
      row.cost =
          req.algorithm.empty() ? model.cost(req.kind, b, shape) : model.cost_with(req.algorithm, req.kind, b, shape);
    }
    if (!std::isfinite(row.cost.time.value()) && !req.algorithm.empty()) {
      rows.push_back(row);  // a forced algorithm that is not valid for this group: infinite, as documented
      continue;
    }
    if (!std::isfinite(row.cost.time.value())) {
      throw InputError("--max-bytes", "",
                       fmt::format("{} cannot be timed: the collective's time is not a finite number of seconds",
                                   format_bytes(b)));
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace tahoma
