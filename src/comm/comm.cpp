#include "tahoma/comm.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace tahoma {

const char* to_string(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::kAllReduce: return "all-reduce";
    case CollectiveKind::kAllGather: return "all-gather";
    case CollectiveKind::kReduceScatter: return "reduce-scatter";
    case CollectiveKind::kAllToAll: return "all-to-all";
    case CollectiveKind::kSendRecv: return "send-recv";
  }
  return "?";
}

const char* to_string(GroupKind g) {
  switch (g) {
    case GroupKind::kTp: return "tp";
    case GroupKind::kCp: return "cp";
    case GroupKind::kPp: return "pp";
    case GroupKind::kDp: return "dp";
    case GroupKind::kDpCp: return "dp";
    case GroupKind::kEp: return "ep";
    case GroupKind::kEtp: return "etp";
    case GroupKind::kEdp: return "edp";
  }
  return "?";
}

long long GroupShape::size() const {
  long long n = 1;
  for (const auto& f : factors) n *= f.size;
  return n;
}

long long GroupShape::members_within(long long block_ranks) const {
  long long n = 1;
  // Members k*stride with k*stride < block: ceil(block / stride) of them, at most `size`.
  for (const auto& f : factors) n *= std::clamp((block_ranks + f.stride - 1) / f.stride, 1LL, f.size);
  return n;
}

bool GroupShape::fills_blocks_evenly(long long block_ranks) const {
  for (const auto& f : factors) {
    if (f.size <= 1) continue;
    const long long extent = f.size * f.stride;
    const bool one_block = extent <= block_ranks && block_ranks % extent == 0;
    const bool even = block_ranks % f.stride == 0 && extent % block_ranks == 0;
    const bool one_per_block = f.stride % block_ranks == 0;
    if (!one_block && !even && !one_per_block) return false;
  }
  return true;
}

double bus_factor(CollectiveKind kind, long long n) {
  if (n <= 1) return 0.0;
  const double r = static_cast<double>(n - 1) / static_cast<double>(n);
  switch (kind) {
    case CollectiveKind::kAllReduce: return 2.0 * r;
    case CollectiveKind::kAllGather:
    case CollectiveKind::kReduceScatter:
    case CollectiveKind::kAllToAll: return r;
    case CollectiveKind::kSendRecv: return 1.0;
  }
  return 1.0;
}

const char* to_string(NetworkMode m) {
  return m == NetworkMode::kFlow ? "flow" : "analytical";
}

std::optional<NetworkMode> parse_network_mode(std::string_view s) {
  if (s == "analytical") return NetworkMode::kAnalytical;
  if (s == "flow") return NetworkMode::kFlow;
  return std::nullopt;
}

CollectiveModel::CollectiveModel(const System& system)
    : ranks_per_chip_(system.chip.ranks_per_chip), topology_(system) {
  const double rpc = ranks_per_chip_;
  auto level = [](std::string name, long long ranks, BytesPerSecond raw_per_rank, double efficiency, Seconds latency) {
    CommLevel l;
    l.name = std::move(name);
    l.ranks = ranks;
    l.bandwidth = raw_per_rank * efficiency;
    l.efficiency = efficiency;
    l.latency = latency;
    return l;
  };
  if (ranks_per_chip_ > 1) {
    // Cores of one chip exchange data through the shared HBM (DMA read + write), 1 us per step (E).
    levels_.push_back(level("on-chip", ranks_per_chip_, system.chip.hbm_bandwidth * (0.5 / rpc), 1.0, Seconds(1e-6)));
  }
  const ScaleUp& up = system.scale_up;
  if (up.topology == ScaleUpTopology::kSwitch) {
    for (const auto& sw : up.levels) {
      if (sw.chips == 1) continue;
      CommLevel l = level(up.name + " " + sw.name, static_cast<long long>(sw.chips) * ranks_per_chip_,
                          sw.bandwidth / rpc, up.efficiency, sw.latency);
      l.in_network_reduction = up.in_network_reduction;
      levels_.push_back(l);
    }
  } else {
    CommLevel t = level(up.name + " torus", static_cast<long long>(up.chips) * ranks_per_chip_,
                        scale_up_injection(up) / rpc, up.efficiency, up.latency);
    t.torus = true;
    t.dims = up.dims;
    for (const auto& b : up.link_bandwidth) t.link_bandwidth.push_back(b * (up.efficiency / rpc));
    levels_.push_back(t);
  }
  const ScaleOut& out = system.scale_out;
  levels_.push_back(level(out.name.empty() ? "scale-out" : out.name, std::numeric_limits<long long>::max() / 4,
                          out.bandwidth / (rpc * out.oversubscription), out.efficiency, out.latency));
}

// Per-rank bandwidth a group gets inside a torus level: a bidirectional ring in every dimension the
// group spans, used concurrently (the multi-dimensional ring algorithm of XLA on TPU tori; Jouppi
// et al. 2023; scaling-book "all-gather over multiple axes"). A dimension fully spanned has its
// wrap-around link (2 links per direction); a partial one is a line (1 link's worth).
BytesPerSecond CollectiveModel::torus_bandwidth(const CommLevel& level, const GroupShape& group,
                                                double* a2a_time_per_byte, double* ring_steps, BytesPerSecond* one_way,
                                                BytesPerSecond* two_way) const {
  // Enumerate the members inside one domain and count distinct coordinates per dimension.
  std::vector<std::set<int>> coords(level.dims.size());
  std::vector<long long> idx(group.factors.size(), 0);
  const long long domain = level.ranks;
  while (true) {
    long long offset = 0;
    for (size_t f = 0; f < idx.size(); ++f) offset += idx[f] * group.factors[f].stride;
    if (offset < domain) {
      long long chip = offset / ranks_per_chip_;
      for (size_t d = 0; d < level.dims.size(); ++d) {
        coords[d].insert(static_cast<int>(chip % level.dims[d]));
        chip /= level.dims[d];
      }
    }
    size_t f = 0;
    for (; f < idx.size(); ++f) {
      if (++idx[f] < group.factors[f].size && idx[f] * group.factors[f].stride < domain) break;
      idx[f] = 0;
    }
    if (f == idx.size()) break;
  }
  BytesPerSecond bw{0};
  BytesPerSecond single{0};  // one ring, one direction: one link out of each member
  BytesPerSecond both{0};    // two counter-rotating rings: both directions where the ring wraps
  double worst_a2a = 0.0;
  double steps = 0.0;
  for (size_t d = 0; d < level.dims.size(); ++d) {
    const int m = static_cast<int>(coords[d].size());
    if (m <= 1) continue;
    const double wrapped = (m == level.dims[d] && m >= 3) ? 2.0 : 1.0;
    if (level.link_bandwidth[d].value() > single.value()) {
      single = level.link_bandwidth[d];
      both = level.link_bandwidth[d] * wrapped;
    }
    steps += m - 1;  // the rings of the dimensions run one after another: sum of (m_d - 1) hops
    const double links = (m == level.dims[d] && m >= 3) ? 2.0 : 1.0;
    bw += level.link_bandwidth[d] * links;
    // All-to-all on a ring of m chips: per-node buffer S spreads S*m/8 over each link direction
    // when wrapped (average distance m/4, two directions), twice that on a line.
    worst_a2a = std::max(worst_a2a, (m / 4.0 / links) / level.link_bandwidth[d].value());
  }
  if (a2a_time_per_byte != nullptr) *a2a_time_per_byte = worst_a2a;
  if (ring_steps != nullptr) *ring_steps = steps;
  if (one_way != nullptr) *one_way = single;
  if (two_way != nullptr) *two_way = both;
  return bw;
}

bool CollectiveModel::nests(const std::vector<Span>& sp, long long n) {
  return sp.size() >= 2 && sp.back().inner * sp.back().factor == n &&
         std::all_of(sp.begin(), sp.end(), [](const Span& s) { return s.even; });
}

std::vector<CollectiveModel::Span> CollectiveModel::spans(const GroupShape& group) const {
  std::vector<Span> out;
  long long inner = 1;
  for (size_t l = 0; l < levels_.size(); ++l) {
    const long long members = group.members_within(levels_[l].ranks);
    if (members > inner) {
      Span s;
      s.level = static_cast<int>(l);
      s.factor = members / inner;
      s.inner = inner;
      s.even = l == 0 || group.fills_blocks_evenly(levels_[l - 1].ranks);
      s.bandwidth = levels_[l].bandwidth;
      s.one_way = levels_[l].bandwidth;
      s.two_way = levels_[l].bandwidth;
      if (levels_[l].torus) {
        s.bandwidth = torus_bandwidth(levels_[l], group, nullptr, nullptr, &s.one_way, &s.two_way);
      }
      out.push_back(s);
      inner = members;
    }
  }
  return out;
}

std::pair<double, double> CollectiveModel::bottleneck(const std::vector<Span>& sp, RingKind ring) const {
  double bw = std::numeric_limits<double>::infinity();
  double alpha = 0.0;
  for (size_t i = 0; i < sp.size(); ++i) {
    const Span& s = sp[i];
    const BytesPerSecond link =
        ring == RingKind::kOneWay ? s.one_way : (ring == RingKind::kTwoWay ? s.two_way : s.bandwidth);
    // A multi-channel ring (or tree) crosses a level boundary once per inner block, spread over
    // the links of all `inner` ranks of that block (NCCL, one channel per NIC). Of the hops inside
    // a level's block, the one leaving it belongs to the level above: a fraction 1 - 1/factor of
    // the traffic stays on this level (all of it on the outermost, where the ring closes).
    const double share = i + 1 == sp.size() ? 1.0 : 1.0 - 1.0 / static_cast<double>(s.factor);
    // Unevenly filled blocks hold one member fewer than the first one (a stride's blocks hold the
    // floor or the ceiling of block / stride members); the channels crossing them share those.
    const double crossers = s.even ? static_cast<double>(s.inner) : std::max(1.0, static_cast<double>(s.inner) - 1.0);
    bw = std::min(bw, link.value() * crossers / share);
    alpha = std::max(alpha, levels_[s.level].latency.value());
  }
  return {bw, alpha};
}

CollectiveCost CollectiveModel::cost_with(const std::string& algorithm, CollectiveKind kind, Bytes bytes,
                                          const GroupShape& group) const {
  if (group.size() <= 1 || bytes.value() <= 0) return cost_with_spans(algorithm, kind, bytes, group, {});
  return cost_with_spans(algorithm, kind, bytes, group, spans(group));
}

CollectiveCost CollectiveModel::cost_with_spans(const std::string& algorithm, CollectiveKind kind, Bytes bytes,
                                                const GroupShape& group, const std::vector<Span>& sp) const {
  const long long n = group.size();
  CollectiveCost c;
  c.algorithm = algorithm;
  if (n <= 1 || bytes.value() <= 0) {
    c.algorithm = "none";
    return c;
  }
  // Reduce-scatter + all-gather phases: 2 for all-reduce, 1 for the others.
  const double phases = kind == CollectiveKind::kAllReduce ? 2.0 : 1.0;
  const double S = bytes.value();
  const double t = price(algorithm, Pricing{kind, S, n, phases, group, sp});
  c.time = Seconds(t);
  if (std::isfinite(t) && t > 0) {
    c.algbw = BytesPerSecond(S / t);
    c.busbw = c.algbw * bus_factor(kind, n);
  }
  return c;
}

std::pair<double, double> CollectiveModel::level_at_distance(const GroupShape& group, long long distance) const {
  for (const auto& level : levels_) {
    if (group.members_within(level.ranks) >= 2 * distance) return {level.bandwidth.value(), level.latency.value()};
  }
  return {levels_.back().bandwidth.value(), levels_.back().latency.value()};
}

CollectiveCost CollectiveModel::cost(CollectiveKind kind, Bytes bytes, const GroupShape& group) const {
  CollectiveCost best;
  best.time = Seconds(std::numeric_limits<double>::infinity());
  if (group.size() <= 1 || bytes.value() <= 0) return cost_with_spans("none", kind, bytes, group, {});
  const std::vector<Span> sp = spans(group);  // once for every algorithm
  for (const auto& a : library_algorithms()) {
    CollectiveCost c = cost_with_spans(a, kind, bytes, group, sp);
    if (c.algorithm == "none") return c;
    if (c.time < best.time) best = c;
  }
  return best;
}


// ---- The algorithms (docs/model.md 5.4): one price per registry entry ----

namespace {
constexpr double kInvalid = std::numeric_limits<double>::infinity();
}  // namespace

const std::vector<CollectiveAlgorithm>& collective_algorithms() {
  static const std::vector<CollectiveAlgorithm> kRegistry = {
      {"ring", "all-reduce, all-gather, reduce-scatter", true,
       "any group except one inside a single torus level (there the rings are torus-rings)",
       "phases x ((n-1) alpha + (n-1)/n S / B), B the slowest crossing one ring direction uses",
       "Patarasuk & Yuan 2009; NCCL ring"},
      {"ring-bidir", "all-reduce, all-gather, reduce-scatter", true,
       "as ring; two counter-rotating rings with half the buffer each (both directions of a torus link)",
       "as ring with the two-way bandwidth", "Neuron collectives on NeuronLink rings"},
      {"hierarchical", "all-reduce, all-gather, reduce-scatter", true,
       "two or more spanned levels whose blocks each hold the same number of members",
       "sum over levels of phases x ((f-1)/f S_l / B_l + (f-1) alpha_l), S_(l+1) = S_l / f_l",
       "NCCL CollNet-like split; Jia et al. 2018 (hierarchical all-reduce)"},
      {"tree", "all-reduce", true, "switched levels only (no torus)",
       "2 ceil(log2 n) alpha + 2 S / B", "NCCL double binary tree (Sanders et al. 2009; NCCL 2.4)"},
      {"nvls", "all-reduce", true, "one spanned level with in-network reduction (NVLink SHARP)",
       "2 alpha + S / (0.6 x raw link bandwidth)", "NCCL 2.17+ release notes; nccl-tests on H100 NVSwitch"},
      {"torus-rings", "all-reduce, all-gather, reduce-scatter", true, "one spanned torus level",
       "phases x (sum_d (m_d - 1) alpha + (n-1)/n S / B_torus)", "XLA on TPU tori (Jouppi et al. 2023)"},
      {"direct", "all-to-all", true, "any group",
       "max over levels of the bytes leaving each block / its bandwidth (torus: ring bisection) + "
       "ceil(log2 n) alpha",
       "NCCL all-to-all (send/recv pairs)"},
      {"p2p", "send-recv", true, "any pair", "alpha + S / B (torus: one link)", "NCCL send/recv"},
      {"halving-doubling", "all-reduce, all-gather, reduce-scatter", false,
       "power-of-two groups on switched levels; priced on request only (no production library picks it "
       "for these sizes)",
       "sum over distances n/2, n/4, ... of phases x (alpha + S/2^k / B at that distance)",
       "Thakur, Rabenseifner & Gropp 2005"},
  };
  return kRegistry;
}

double CollectiveModel::price(const std::string& name, const Pricing& p) const {
  if (p.kind == CollectiveKind::kSendRecv) return name == "p2p" ? price_p2p(p) : kInvalid;
  if (p.kind == CollectiveKind::kAllToAll) return name == "direct" ? price_direct(p) : kInvalid;
  if (name == "ring") return price_ring(p, RingKind::kOneWay);
  if (name == "ring-bidir") return price_ring(p, RingKind::kTwoWay);
  if (name == "hierarchical") return price_hierarchical(p);
  if (name == "tree") return price_tree(p);
  if (name == "halving-doubling") return price_halving_doubling(p);
  if (name == "nvls") return price_nvls(p);
  if (name == "torus-rings") return price_torus_rings(p);
  return kInvalid;
}

double CollectiveModel::price_p2p(const Pricing& p) const {
  const Span& outer = p.sp.back();
  const CommLevel& level = levels_[outer.level];
  // A neighbour on a torus is one link away.
  double bw = outer.bandwidth.value();
  if (level.torus) {
    bw = kInvalid;
    for (const auto& b : level.link_bandwidth) bw = std::min(bw, b.value());
  }
  return level.latency.value() + p.S / bw;
}

double CollectiveModel::price_direct(const Pricing& p) const {
  // Traffic a rank sends beyond its inner block must cross that level's links.
  double t = 0.0;
  double alpha = 0.0;
  for (const auto& s : p.sp) {
    const CommLevel& level = levels_[s.level];
    const double leaving = p.S * (1.0 - static_cast<double>(s.inner) / static_cast<double>(p.n));
    double tl = leaving / s.bandwidth.value();
    if (level.torus) {
      double per_byte = 0.0;
      (void)torus_bandwidth(level, p.group, &per_byte, nullptr, nullptr, nullptr);
      tl = p.S * per_byte;
    }
    t = std::max(t, tl);
    alpha = std::max(alpha, level.latency.value());
  }
  return t + alpha * std::ceil(std::log2(static_cast<double>(p.n)));
}

double CollectiveModel::price_ring(const Pricing& p, RingKind ring) const {
  // Inside one torus the rings are the multi-dimensional "torus-rings". A ring uses one direction
  // of a torus dimension; two counter-rotating rings with half the buffer each ("ring-bidir") use
  // both. On full-duplex switch ports the two cost the same.
  if (p.sp.size() == 1 && levels_[p.sp[0].level].torus) return kInvalid;
  const auto [bw, alpha] = bottleneck(p.sp, ring);
  const double r = static_cast<double>(p.n - 1) / static_cast<double>(p.n);
  return p.phases * (static_cast<double>(p.n - 1) * alpha + r * p.S / bw);
}

double CollectiveModel::price_hierarchical(const Pricing& p) const {
  // Only where every block of a level holds the same number of members: a group whose stride does
  // not divide the level blocks has no clean level-by-level split.
  if (!nests(p.sp, p.n)) return kInvalid;
  double t = 0.0;
  double data = p.S;
  for (const auto& s : p.sp) {
    const double f = static_cast<double>(s.factor);
    t += p.phases * ((f - 1.0) / f * data / s.bandwidth.value() + (f - 1.0) * levels_[s.level].latency.value());
    data /= f;
  }
  return t;
}

double CollectiveModel::price_tree(const Pricing& p) const {
  // Trees are a switched-fabric algorithm: on a torus, XLA and the Neuron collectives use rings.
  if (p.kind != CollectiveKind::kAllReduce ||
      std::any_of(p.sp.begin(), p.sp.end(), [&](const Span& s) { return levels_[s.level].torus; })) {
    return kInvalid;
  }
  const auto [bw, alpha] = bottleneck(p.sp, RingKind::kTwoWay);
  // Double binary tree (NCCL): log-depth latency, each rank moves S up and S down.
  return 2.0 * std::ceil(std::log2(static_cast<double>(p.n))) * alpha + 2.0 * p.S / bw;
}

double CollectiveModel::price_halving_doubling(const Pricing& p) const {
  if ((p.n & (p.n - 1)) != 0 ||
      std::any_of(p.sp.begin(), p.sp.end(), [&](const Span& s) { return levels_[s.level].torus; })) {
    return kInvalid;
  }
  // Rabenseifner (Thakur et al. 2005): recursive halving exchanges S/2, S/4, ... with partners
  // n/2, n/4, ... members away, recursive doubling mirrors it; each exchange runs at the bandwidth
  // of the level that joins the two partners.
  double t = 0.0;
  double data = p.S;
  for (long long d = p.n / 2; d >= 1; d /= 2) {
    data /= 2.0;
    const auto [bw, alpha] = level_at_distance(p.group, d);
    t += p.phases * (alpha + data / bw);
  }
  return t;
}

double CollectiveModel::price_nvls(const Pricing& p) const {
  if (p.kind != CollectiveKind::kAllReduce || p.sp.size() != 1 || !levels_[p.sp[0].level].in_network_reduction) {
    return kInvalid;
  }
  // Each rank pushes S into the switch, which reduces and multicasts S back. The calibration
  // replaces the level's ring efficiency: it is a fraction of the raw link rate.
  const CommLevel& level = levels_[p.sp[0].level];
  const double raw = p.sp[0].bandwidth.value() / level.efficiency;
  return 2.0 * level.latency.value() + p.S / (raw * kInNetworkReductionEfficiency);
}

double CollectiveModel::price_torus_rings(const Pricing& p) const {
  if (p.sp.size() != 1 || !levels_[p.sp[0].level].torus) return kInvalid;
  const CommLevel& level = levels_[p.sp[0].level];
  const double r = static_cast<double>(p.n - 1) / static_cast<double>(p.n);
  double steps = 0.0;
  (void)torus_bandwidth(level, p.group, nullptr, &steps, nullptr, nullptr);
  return p.phases * (steps * level.latency.value() + r * p.S / p.sp[0].bandwidth.value());
}

}  // namespace tahoma
