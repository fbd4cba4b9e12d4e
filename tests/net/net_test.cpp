// The link graph and the flow-level network: routes on switches, tori and across the scale-out
// fabric; max-min fair sharing in closed form (two flows on one link each get half; a saturated link
// runs exactly at capacity); conservation of bytes; a million chips without storing links.
#include "tahoma/net.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "../test_util.h"

namespace tahoma::net {
namespace {

using tahoma::testing::TempDir;

constexpr double kB = 100e9;  // test switch: bytes/s per direction
constexpr double kBo = 50e9;  // test scale-out: 400 Gb/s

System switch_system(int domain_chips, int total_chips, const std::string& extra = "") {
  TempDir dir;
  System s = load_system(dir.write("s.yaml", tahoma::testing::switch_system_yaml(domain_chips) + extra));
  s.chips = total_chips;
  return s;
}

System torus_system(const std::string& dims, int chips, const std::string& link = "50 GB/s") {
  TempDir dir;
  const auto ndims = static_cast<size_t>(std::count(dims.begin(), dims.end(), ',') + 1);
  std::string links;
  for (size_t d = 0; d < ndims; ++d) links += (d ? ", " : "") + link;
  const std::string yaml =
      "name: test-torus\ndescription: t\nchip:\n  name: C\n  peak_flops: {bf16: 100 TFLOP/s}\n"
      "  hbm_capacity: 80 GB\n  hbm_bandwidth: 1 TB/s\n"
      "scale_up:\n  name: ici\n  chips: " +
      std::to_string(chips) + "\n  topology: torus\n  dims: " + dims + "\n  link_bandwidth: [" + links +
      "]\n  latency: 1 us\n  efficiency: 1.0\n" +
      "scale_out:\n  name: dcn\n  bandwidth: 100 Gb/s\n  latency: 10 us\n  efficiency: 1.0\n";
  return load_system(dir.write("t.yaml", yaml));
}

std::vector<LinkKind> kinds(const Path& p) {
  std::vector<LinkKind> out;
  for (int h = 0; h < p.hops; ++h) out.push_back(p.links[static_cast<size_t>(h)].kind());
  return out;
}

TEST(LinkId, PacksAndUnpacks) {
  const LinkId l = LinkId::make(LinkKind::kTorus, 5, 1048575);
  EXPECT_EQ(l.kind(), LinkKind::kTorus);
  EXPECT_EQ(l.sub(), 5);
  EXPECT_EQ(l.index(), 1048575);
}

TEST(Topology, SwitchRouteIsUpAndDown) {
  const Topology t(switch_system(8, 8));
  Path p;
  t.route(1, 6, p);
  EXPECT_EQ(kinds(p), (std::vector<LinkKind>{LinkKind::kSwitchUp, LinkKind::kSwitchDown}));
  EXPECT_EQ(p.links[0].index(), 1);
  EXPECT_EQ(p.links[1].index(), 6);
  EXPECT_DOUBLE_EQ(p.latency.value(), 1e-6);
  EXPECT_DOUBLE_EQ(t.capacity(p.links[0]).value(), kB);
  t.route(3, 3, p);
  EXPECT_EQ(p.hops, 0);
}

TEST(Topology, AcrossDomainsGoesThroughNicsAndFabric) {
  const Topology t(switch_system(8, 32));
  Path p;
  t.route(2, 17, p);  // domain 0 -> domain 2 (fat tree: leaf uplinks on the way)
  EXPECT_EQ(kinds(p),
            (std::vector<LinkKind>{LinkKind::kNicUp, LinkKind::kFabricUp, LinkKind::kFabricDown, LinkKind::kNicDown}));
  EXPECT_DOUBLE_EQ(t.capacity(p.links[0]).value(), kBo);
  EXPECT_DOUBLE_EQ(t.capacity(p.links[1]).value(), 8 * kBo);  // non-blocking leaf: 8 NICs' worth
  EXPECT_DOUBLE_EQ(p.latency.value(), 5e-6);
}

TEST(Topology, OversubscribedLeafHasLessUplink) {
  const Topology t(switch_system(8, 32));
  System s = switch_system(8, 32);
  s.scale_out.oversubscription = 4.0;
  const Topology o(s);
  const LinkId up = LinkId::make(LinkKind::kFabricUp, 0, 0);
  EXPECT_DOUBLE_EQ(o.capacity(up).value(), t.capacity(up).value() / 4.0);
}

TEST(Topology, RailOptimizedUsesPxnToTheDestinationRail) {
  System s = switch_system(8, 32);
  s.scale_out.topology = ScaleOutTopology::kRailOptimized;
  const Topology t(s);
  Path p;
  t.route(2, 10, p);  // same rail (local index 2): straight over the rail
  EXPECT_EQ(kinds(p), (std::vector<LinkKind>{LinkKind::kNicUp, LinkKind::kNicDown}));
  t.route(2, 13, p);  // rail 5: NVLink hop to chip 5 first, then its NIC
  EXPECT_EQ(kinds(p),
            (std::vector<LinkKind>{LinkKind::kSwitchUp, LinkKind::kSwitchDown, LinkKind::kNicUp, LinkKind::kNicDown}));
  EXPECT_EQ(p.links[2].index(), 5);
}

TEST(Topology, TorusRoutesTheShorterWayAroundDimensionByDimension) {
  const Topology t(torus_system("[4, 4]", 16));
  Path p;
  t.route(0, 3, p);  // (0,0) -> (3,0): one hop backwards over the wrap-around link
  ASSERT_EQ(p.hops, 1);
  EXPECT_EQ(p.links[0].sub(), 1);  // dim 0, - direction
  t.route(0, 10, p);               // (0,0) -> (2,2): two hops in dim 0, then two in dim 1
  ASSERT_EQ(p.hops, 4);
  EXPECT_EQ(p.links[0].sub() / 2, 0);
  EXPECT_EQ(p.links[1].sub() / 2, 0);
  EXPECT_EQ(p.links[2].sub() / 2, 1);
  EXPECT_EQ(p.links[2].index(), 2);  // the second dimension starts from (2,0) = chip 2
  EXPECT_DOUBLE_EQ(p.latency.value(), 4e-6);
}

TEST(Topology, MillionChipsNeedNoStorage) {
  const Topology t(switch_system(144, 1048576));
  Path p;
  t.route(0, 1048575, p);
  EXPECT_EQ(p.hops, 4);
  EXPECT_EQ(p.links[3].index(), 1048575);
  EXPECT_EQ(t.domain_of_chip(1048575), 1048575 / 144);
}

TEST(Topology, RanksOfOneChipShareTheHbmPath) {
  const Topology t(switch_system(8, 8, ""));
  System s = switch_system(8, 8);
  s.chip.ranks_per_chip = 2;
  const Topology two(s);
  Path p;
  two.route(0, 1, p);
  ASSERT_EQ(p.hops, 1);
  EXPECT_EQ(p.links[0].kind(), LinkKind::kOnChip);
  two.route(0, 2, p);  // chip 0 -> chip 1
  EXPECT_EQ(p.links[0].kind(), LinkKind::kSwitchUp);
}

// Two equal flows on one link each get half of it; alone, one gets all of it.
TEST(Topology, FoldMovesALinkIntoTheFirstWindow) {
  const Topology t(switch_system(8, 64));  // 8 domains of 8 chips
  const LinkId nic = LinkId::make(LinkKind::kNicUp, 0, 37);
  EXPECT_EQ(t.fold(nic, 16), LinkId::make(LinkKind::kNicUp, 0, 5));  // chip 37 -> 37 mod 16
  const LinkId fabric = LinkId::make(LinkKind::kFabricDown, 0, 7);
  EXPECT_EQ(t.fold(fabric, 16), LinkId::make(LinkKind::kFabricDown, 0, 1));  // domain 7 -> 7 mod 2
  EXPECT_EQ(t.fold(nic, 64), nic);                                           // the whole system: itself
  EXPECT_EQ(t.fold(fabric, 1 << 20), fabric);
}

// Scale by symmetry is exact when the system is a whole number of windows that all send the same
// pattern: the window's flows on folded links end when the whole system's flows do.
TEST(Topology, FoldedWindowTimesTheWholeSymmetricSystem) {
  System s = switch_system(8, 64);
  s.scale_out.oversubscription = 2.0;  // the leaf uplinks are shared, so folding them matters
  const Topology t(s);
  // Every rank sends to the rank 8 ahead (another domain) and to its neighbour in the domain.
  auto flows_from = [](long long r) {
    return std::vector<FlowSpec>{{r, (r + 8) % 64, Bytes(1e9)}, {r, r - r % 8 + (r + 1) % 8, Bytes(3e8)}};
  };
  auto finish = [&](long long window) {
    FlowNetwork net(t);
    Path p;
    for (long long r = 0; r < std::min<long long>(window, 64); ++r) {
      for (const FlowSpec& f : flows_from(r)) {
        t.route(f.src_rank, f.dst_rank, p);
        for (int h = 0; h < p.hops; ++h)
          p.links[static_cast<size_t>(h)] = t.fold(p.links[static_cast<size_t>(h)], window);
        p.latency = Seconds(0);
        net.start(p, f.bytes, Seconds(0));
      }
    }
    double end = 0;
    while (auto next = net.next_completion()) {
      end = next->first.value();
      net.retire(next->first);
    }
    return end;
  };
  const double whole = finish(64);
  // Leaf uplink: 8 NICs' worth / 2 shared by 8 flows -> 25 GB/s each: 1 GB takes 40 ms.
  EXPECT_NEAR(whole, 1e9 / (8 * kBo / 2 / 8), 1e-9);
  EXPECT_NEAR(finish(16), whole, 1e-12 * whole);
  EXPECT_NEAR(finish(8), whole, 1e-12 * whole);
}

TEST(FlowNetwork, TwoFlowsOnOneLinkShareItEqually) {
  const Topology t(switch_system(8, 8));
  const double S = 1e9;
  EXPECT_NEAR(run_flows(t, {{0, 1, Bytes(S)}}).value(), S / kB, 1e-15);
  EXPECT_NEAR(run_flows(t, {{0, 1, Bytes(S)}, {0, 2, Bytes(S)}}).value(), 2 * S / kB, 1e-15);
  // Different sources and destinations do not interfere on a non-blocking switch.
  EXPECT_NEAR(run_flows(t, {{0, 1, Bytes(S)}, {2, 3, Bytes(S)}}).value(), S / kB, 1e-15);
}

// Max-min fairness: a flow bottlenecked elsewhere leaves its unused share to the others.
TEST(FlowNetwork, MaxMinFairRedistributesUnusedShare) {
  const Topology t(switch_system(8, 16));
  FlowNetwork net(t);
  Path a, b;
  t.route(0, 1, a);  // NVLink: 100 GB/s
  t.route(0, 9, b);  // leaves by the NIC (50 GB/s), not the NVLink port
  const auto fa = net.start(a, Bytes(1e9), Seconds(0));
  const auto fb = net.start(b, Bytes(1e9), Seconds(0));
  EXPECT_NEAR(net.rate(fa).value(), kB, 1.0);
  EXPECT_NEAR(net.rate(fb).value(), kBo, 1.0);
  // Three flows into chip 1's down port: 100/3 each.
  FlowNetwork n3(t);
  Path p;
  std::vector<FlowNetwork::FlowId> ids;
  for (long long src : {0, 2, 3}) {
    t.route(src, 1, p);
    ids.push_back(n3.start(p, Bytes(1e9), Seconds(0)));
  }
  for (auto id : ids) EXPECT_NEAR(n3.rate(id).value(), kB / 3, 1.0);
}

// A short flow ends first and the long one speeds up: 1 GB and 3 GB on one 100 GB/s link end at
// 20 ms (both at 50 GB/s) and 40 ms (the remaining 2 GB at 100 GB/s).
TEST(FlowNetwork, RatesAreRecomputedWhenAFlowEnds) {
  const Topology t(switch_system(8, 8));
  FlowNetwork net(t);
  Path p;
  t.route(0, 1, p);
  p.latency = Seconds(0);
  net.start(p, Bytes(1e9), Seconds(0));
  net.start(p, Bytes(3e9), Seconds(0));
  auto first = net.next_completion();
  ASSERT_TRUE(first);
  EXPECT_NEAR(first->first.value(), 0.02, 1e-12);
  EXPECT_EQ(net.retire(first->first).size(), 1u);
  auto second = net.next_completion();
  ASSERT_TRUE(second);
  EXPECT_NEAR(second->first.value(), 0.04, 1e-12);
  EXPECT_EQ(net.retire(second->first).size(), 1u);
  EXPECT_FALSE(net.next_completion());
}

// A flow's first byte leaves after the path latency.
TEST(FlowNetwork, PathLatencyDelaysTheStart) {
  const Topology t(switch_system(8, 8));
  FlowNetwork net(t);
  Path p;
  t.route(0, 1, p);
  net.start(p, Bytes(1e9), Seconds(0));
  EXPECT_NEAR(net.next_completion()->first.value(), 1e-6 + 1e9 / kB, 1e-15);
}

// Conservation: every byte a flow sends crosses each link of its path once.
TEST(FlowNetwork, BytesAreConservedOnEveryLink) {
  const Topology t(torus_system("[4, 4]", 16));
  std::unordered_map<std::uint64_t, double> bytes;
  std::vector<FlowSpec> flows;
  double sent = 0, hops = 0;
  Path p;
  for (long long a = 0; a < 16; ++a) {
    flows.push_back({a, (a * 7 + 3) % 16, Bytes(1e6 * static_cast<double>(a + 1))});
    t.route(flows.back().src_rank, flows.back().dst_rank, p);
    sent += flows.back().bytes.value();
    hops += flows.back().bytes.value() * p.hops;
  }
  run_flows(t, flows, &bytes);
  double carried = 0;
  for (const auto& [link, b] : bytes) carried += b;
  EXPECT_NEAR(carried, hops, 1e-6 * hops);
  EXPECT_GT(sent, 0);
}

// A torus dimension's bisection: on a ring of 8 with wrap-around, every chip sending S to the chip
// opposite needs 4 hops; half go each way, so each link direction carries 2 flows: 2 S / link.
TEST(FlowNetwork, TorusBisectionLimitsOppositeTraffic) {
  const Topology t(torus_system("[8]", 8));
  const double S = 1e9, link = 50e9;
  std::vector<FlowSpec> flows;
  for (long long a = 0; a < 8; ++a) flows.push_back({a, (a + 4) % 8, Bytes(S)});
  // 8 flows x 4 hops = 32 flow-hops on 16 link directions = 2 flows per link.
  EXPECT_NEAR(run_flows(t, flows).value(), 2 * S / link, 1e-12);
  // Nearest neighbours only: one flow per link.
  flows.clear();
  for (long long a = 0; a < 8; ++a) flows.push_back({a, (a + 1) % 8, Bytes(S)});
  EXPECT_NEAR(run_flows(t, flows).value(), S / link, 1e-12);
}

// More bandwidth is never slower.
TEST(FlowNetwork, MoreBandwidthIsNeverSlower) {
  double last = std::numeric_limits<double>::infinity();
  for (const char* bw : {"10 GB/s", "50 GB/s", "200 GB/s"}) {
    const Topology t(torus_system("[4, 4]", 16, bw));
    std::vector<FlowSpec> flows;
    for (long long a = 0; a < 16; ++a) flows.push_back({a, (a + 5) % 16, Bytes(1e8)});
    const double now = run_flows(t, flows).value();
    EXPECT_LT(now, last);
    last = now;
  }
}

// The incremental network (re-solving only the component an event touches, finish times from a
// heap) against a direct reference: at every event, progressive filling over all active flows and
// every flow advanced. Random flows on an oversubscribed two-level switch, starting at random
// times, some disjoint and some sharing leaf uplinks; every flow must end at the same time.
TEST(FlowNetwork, IncrementalSolveMatchesAWholeNetworkReference) {
  System s = switch_system(4, 32);
  s.scale_out.oversubscription = 3.0;
  const Topology t(s);
  struct Spec {
    long long src, dst;
    double bytes, start;
  };
  std::vector<Spec> specs;
  std::uint64_t x = 12345;
  auto next = [&] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(x >> 11) / static_cast<double>(1ULL << 53);
  };
  for (int i = 0; i < 60; ++i) {
    const auto src = static_cast<long long>(next() * 32), dst = static_cast<long long>(next() * 32);
    specs.push_back({src, dst == src ? (dst + 1) % 32 : dst, 1e8 * (1 + 9 * next()), 0.02 * next()});
  }
  std::sort(specs.begin(), specs.end(), [](const Spec& a, const Spec& b) { return a.start < b.start; });
  std::vector<Path> paths(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    t.route(specs[i].src, specs[i].dst, paths[i]);
    paths[i].latency = Seconds(0);
  }

  // The incremental network: starts in time order, interleaved with completions.
  std::vector<double> got(specs.size(), -1);
  {
    FlowNetwork net(t, false);
    std::vector<size_t> owner;
    size_t started = 0;
    while (started < specs.size() || net.active() > 0) {
      const auto done = net.next_completion();
      if (started < specs.size() && (!done || specs[started].start < done->first.value())) {
        const auto id = net.start(paths[started], Bytes(specs[started].bytes), Seconds(specs[started].start));
        if (owner.size() <= id) owner.resize(id + 1);
        owner[id] = started++;
        continue;
      }
      for (const auto id : net.retire(done->first)) got[owner[id]] = done->first.value();
    }
  }

  // The reference: every event re-solves every active flow.
  std::vector<double> want(specs.size(), -1), left(specs.size());
  std::vector<size_t> active;
  double now = 0;
  size_t started = 0;
  for (size_t i = 0; i < specs.size(); ++i) left[i] = specs[i].bytes;
  while (started < specs.size() || !active.empty()) {
    // Progressive filling over all active flows.
    std::map<std::uint64_t, std::pair<double, std::vector<size_t>>> links;  // capacity, flows
    for (const size_t f : active) {
      for (int h = 0; h < paths[f].hops; ++h) {
        const LinkId l = paths[f].links[static_cast<size_t>(h)];
        auto& e = links[l.packed];
        e.first = t.capacity(l).value();
        e.second.push_back(f);
      }
    }
    std::map<size_t, double> rate;
    while (rate.size() < active.size()) {
      double best = std::numeric_limits<double>::infinity();
      for (auto& [id, e] : links) {
        double cap = e.first;
        int n = 0;
        for (const size_t f : e.second) rate.count(f) ? cap -= rate[f] : ++n;
        if (n > 0) best = std::min(best, cap / n);
      }
      for (auto& [id, e] : links) {
        double cap = e.first;
        int n = 0;
        for (const size_t f : e.second) rate.count(f) ? cap -= rate[f] : ++n;
        if (n > 0 && cap / n <= best * (1 + 1e-12)) {
          for (const size_t f : e.second) rate.emplace(f, best);
        }
      }
    }
    double end = std::numeric_limits<double>::infinity();
    for (const size_t f : active) end = std::min(end, now + left[f] / rate[f]);
    const double until = started < specs.size() ? std::min(end, specs[started].start) : end;
    for (const size_t f : active) left[f] -= rate[f] * (until - now);
    now = until;
    std::erase_if(active, [&](size_t f) {
      if (left[f] > rate[f] * 1e-12) return false;
      want[f] = now;
      return true;
    });
    while (started < specs.size() && specs[started].start <= now) active.push_back(started++);
  }
  for (size_t i = 0; i < specs.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-9 * want[i]) << "flow " << i;
}

}  // namespace
}  // namespace tahoma::net
