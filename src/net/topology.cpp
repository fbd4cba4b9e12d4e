#include <fmt/format.h>

#include "tahoma/error.h"
#include "tahoma/net.h"

namespace tahoma::net {

const char* to_string(LinkKind k) {
  switch (k) {
    case LinkKind::kOnChip: return "on-chip";
    case LinkKind::kSwitchUp: return "switch-up";
    case LinkKind::kSwitchDown: return "switch-down";
    case LinkKind::kTorus: return "torus";
    case LinkKind::kNicUp: return "nic-up";
    case LinkKind::kNicDown: return "nic-down";
    case LinkKind::kFabricUp: return "fabric-up";
    case LinkKind::kFabricDown: return "fabric-down";
  }
  return "?";
}

LinkId LinkId::make(LinkKind kind, int sub, long long index) {
  TAHOMA_ASSERT((sub >= 0 && sub < 256 && index >= 0 && index < (1LL << 52)) && "link id out of range");
  return LinkId{(static_cast<std::uint64_t>(kind) << 60) | (static_cast<std::uint64_t>(sub) << 52) |
                static_cast<std::uint64_t>(index)};
}

Topology::Topology(const System& system)
    : system_(system),
      chips_(system.total_chips()),
      ranks_per_chip_(system.chip.ranks_per_chip),
      domain_chips_(std::max(1, system.scale_up.chips)) {
  if (system.scale_up.topology == ScaleUpTopology::kTorus) {
    int worst = 0;
    for (int d : system.scale_up.dims) worst += d / 2;
    TAHOMA_ASSERT((worst + 6 <= Path::kMaxHops) && "torus too large for Path::kMaxHops");
  }
}

BytesPerSecond Topology::capacity(LinkId link) const {
  const ScaleUp& up = system_.scale_up;
  const ScaleOut& out = system_.scale_out;
  switch (link.kind()) {
    // Cores of one chip exchange data through the shared HBM: a DMA reads and writes every byte.
    case LinkKind::kOnChip: return system_.chip.hbm_bandwidth * 0.5;
    case LinkKind::kSwitchUp:
    case LinkKind::kSwitchDown: return up.levels[static_cast<size_t>(link.sub())].bandwidth * up.efficiency;
    case LinkKind::kTorus: return up.link_bandwidth[static_cast<size_t>(link.sub() / 2)] * up.efficiency;
    case LinkKind::kNicUp:
    case LinkKind::kNicDown: return out.bandwidth * out.efficiency;
    case LinkKind::kFabricUp:
    case LinkKind::kFabricDown:
      // A leaf's uplinks carry 1/oversubscription of what its chips' NICs can inject.
      return out.bandwidth * (out.efficiency * static_cast<double>(domain_chips_) / out.oversubscription);
  }
  return BytesPerSecond(0);
}

std::string Topology::describe(LinkId link) const {
  const char* kind = to_string(link.kind());
  switch (link.kind()) {
    case LinkKind::kSwitchUp:
    case LinkKind::kSwitchDown:
      return fmt::format("{} {} chip {}", kind, system_.scale_up.levels[static_cast<size_t>(link.sub())].name,
                         link.index());
    case LinkKind::kTorus:
      return fmt::format("{} d{}{} chip {}", kind, link.sub() / 2, link.sub() % 2 == 0 ? '+' : '-', link.index());
    case LinkKind::kFabricUp:
    case LinkKind::kFabricDown: return fmt::format("{} domain {}", kind, link.index());
    default: return fmt::format("{} chip {}", kind, link.index());
  }
}

LinkId Topology::fold(LinkId link, long long window_ranks) const {
  if (window_ranks >= ranks()) return link;
  TAHOMA_ASSERT((window_ranks > 0 && window_ranks % domain_ranks() == 0) && "a window is whole scale-up domains");
  const bool fabric = link.kind() == LinkKind::kFabricUp || link.kind() == LinkKind::kFabricDown;
  const long long period = fabric ? window_ranks / domain_ranks() : window_ranks / ranks_per_chip_;
  return LinkId::make(link.kind(), link.sub(), link.index() % period);
}

void Topology::route(long long rank_a, long long rank_b, Path& out) const {
  out.hops = 0;
  out.latency = Seconds(0);
  if (rank_a == rank_b) return;
  const long long a = chip_of(rank_a), b = chip_of(rank_b);
  if (a == b) {
    out.push(LinkId::make(LinkKind::kOnChip, 0, a));
    out.latency = Seconds(1e-6);  // a DMA descriptor round trip (E), as comm.cpp's on-chip level
    return;
  }
  route_chips(a, b, out);
}

void Topology::route_chips(long long a, long long b, Path& out) const {
  const long long dom_a = domain_of_chip(a), dom_b = domain_of_chip(b);
  if (dom_a == dom_b) {
    route_in_domain(a, b, out);
    return;
  }
  const ScaleOut& so = system_.scale_out;
  long long src = a;
  if (so.topology == ScaleOutTopology::kRailOptimized) {
    // Rail r of every domain shares a leaf; NCCL's PXN first moves the data over the scale-up
    // domain to the local chip on the destination's rail.
    const long long rail_b = b % domain_chips_;
    src = dom_a * domain_chips_ + rail_b;
    if (src != a) route_in_domain(a, src, out);
  }
  out.push(LinkId::make(LinkKind::kNicUp, 0, src));
  const bool same_leaf = so.topology == ScaleOutTopology::kRailOptimized && so.oversubscription <= 1.0;
  if (!same_leaf) {
    out.push(LinkId::make(LinkKind::kFabricUp, 0, dom_a));
    out.push(LinkId::make(LinkKind::kFabricDown, 0, dom_b));
  }
  out.push(LinkId::make(LinkKind::kNicDown, 0, b));
  out.latency += so.latency;
}

void Topology::route_in_domain(long long a, long long b, Path& out) const {
  const ScaleUp& up = system_.scale_up;
  if (up.topology == ScaleUpTopology::kSwitch) {
    // Up to the smallest switch level whose group holds both chips, and down to the destination.
    const long long la = a % domain_chips_, lb = b % domain_chips_;
    for (size_t lvl = 0; lvl < up.levels.size(); ++lvl) {
      const long long g = std::max(1, up.levels[lvl].chips);
      if (la / g == lb / g) {
        out.push(LinkId::make(LinkKind::kSwitchUp, static_cast<int>(lvl), a));
        out.push(LinkId::make(LinkKind::kSwitchDown, static_cast<int>(lvl), b));
        out.latency += up.levels[lvl].latency;
        return;
      }
    }
    TAHOMA_ASSERT((false) && "switch levels do not cover the scale-up domain");
  }
  // Torus: dimension-order routing, innermost dimension first, the shorter way around the ring;
  // a destination exactly opposite is reached the + way from even coordinates and the - way from
  // odd ones, which balances the two directions. Sub-index 2*d is the + direction, 2*d + 1 the -.
  const long long base = (a / domain_chips_) * domain_chips_;
  long long cur = a % domain_chips_;
  const long long dst = b % domain_chips_;
  long long stride = 1;
  for (size_t d = 0; d < up.dims.size(); ++d) {
    const long long m = up.dims[d];
    const long long ca = (cur / stride) % m, cb = (dst / stride) % m;
    const long long fwd = ((cb - ca) % m + m) % m;
    const bool plus = fwd < m - fwd || (fwd == m - fwd && ca % 2 == 0);
    const long long steps = plus ? fwd : m - fwd;
    long long c = ca;
    for (long long s = 0; s < steps; ++s) {
      out.push(LinkId::make(LinkKind::kTorus, static_cast<int>(2 * d + (plus ? 0 : 1)), base + cur));
      const long long next = plus ? (c + 1) % m : (c - 1 + m) % m;
      cur += (next - c) * stride;
      c = next;
      out.latency += up.latency;
    }
    stride *= m;
  }
}

}  // namespace tahoma::net
