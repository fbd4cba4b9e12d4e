#include <algorithm>
#include <bit>
#include <limits>

#include "tahoma/error.h"
#include "tahoma/net.h"

namespace tahoma::net {

FlowNetwork::FlowId FlowNetwork::start(const Path& path, Bytes bytes, Seconds now, double weight) {
  return start(path.links.data(), path.hops, path.latency, bytes, now, weight);
}

FlowNetwork::FlowId FlowNetwork::start(const LinkId* links, int hops, Seconds latency, Bytes bytes, Seconds now,
                                       double weight) {
  TAHOMA_ASSERT((now.value() >= now_ - 1e-15) && "flows must start in time order");
  TAHOMA_ASSERT((weight > 0 && hops >= 0) && "a flow stands for a positive number of flows");
  advance(now.value());
  // A retired flow's slot is reused, with its range of hops_ when the new path fits in it, so the
  // network holds as many flows (and links) as are ever in flight.
  FlowId id = 0;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    flows_.emplace_back();
    id = static_cast<FlowId>(flows_.size() - 1);
  }
  Flow& f = flows_[id];
  if (f.room < static_cast<std::uint32_t>(hops)) {
    f.first = static_cast<std::uint32_t>(hops_.size());
    f.room = static_cast<std::uint32_t>(hops);
    hops_.resize(hops_.size() + static_cast<size_t>(hops));
  }
  std::copy(links, links + hops, hops_.begin() + f.first);
  f.hops = static_cast<std::uint32_t>(hops);
  f.remaining = std::max(0.0, bytes.value());
  f.rate = 0;
  f.start_at = now.value() + latency.value();
  f.weight = weight;
  f.done = false;
  f.frozen = false;
  active_.push_back(id);
  if (track_link_bytes_) {
    for (int h = 0; h < hops; ++h) link_bytes_[links[h].packed] += f.remaining * weight;
  }
  dirty_ = true;
  return id;
}

void FlowNetwork::advance(double now) {
  if (now <= now_) return;
  if (dirty_) recompute_rates();
  for (FlowId id : active_) {
    Flow& f = flows_[id];
    const double from = std::max(now_, f.start_at);
    if (now > from) f.remaining = std::max(0.0, f.remaining - f.rate * (now - from));
  }
  now_ = now;
}

std::uint32_t FlowNetwork::dense_link(std::uint64_t packed, double capacity) {
  // splitmix64's finalizer spreads the packed ids (dense in their low bits) over the table.
  std::uint64_t h = packed + 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  h ^= h >> 31;
  const size_t mask = link_slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    LinkSlot& s = link_slots_[i];
    if (s.stamp != stamp_) {
      s = {packed, static_cast<std::uint32_t>(links_.size()), stamp_};
      links_.push_back({capacity, 0, 0, 0, 0});
      return s.index;
    }
    if (s.key == packed) return s.index;
  }
}

// Max-min fair rates by progressive filling: repeatedly take the link whose remaining capacity per
// unfrozen flow is smallest, give each of its unfrozen flows that share, and remove them. A heap
// with lazy invalidation keeps it O((flows * hops + links) log links).
void FlowNetwork::recompute_rates() {
  dirty_ = false;
  links_.clear();
  hop_link_.clear();
  size_t hops = 0;
  for (FlowId id : active_) hops += flows_[id].hops;
  // At most half full: probes stay short.
  if (link_slots_.size() < 2 * hops) {
    link_slots_.assign(std::bit_ceil(std::max<size_t>(2 * hops, 64)), LinkSlot{});
    stamp_ = 0;
  }
  if (++stamp_ == 0) {  // the stamp wrapped: every slot must read as empty again
    for (LinkSlot& s : link_slots_) s.stamp = 0;
    stamp_ = 1;
  }
  for (FlowId id : active_) {
    Flow& f = flows_[id];
    f.rate = std::numeric_limits<double>::infinity();  // a flow with no links (same rank) is instant
    f.frozen = false;
    for (std::uint32_t h = 0; h < f.hops; ++h) {
      const LinkId l = hops_[f.first + h];
      const std::uint32_t index = dense_link(l.packed, topology_->capacity(l).value());
      LinkState& ls = links_[index];
      ls.unfrozen += f.weight;
      ++ls.unfrozen_flows;
      ++ls.count;
      hop_link_.push_back(index);
    }
  }
  std::uint32_t offset = 0;
  for (LinkState& ls : links_) {
    ls.first = offset;
    offset += ls.count;
    ls.count = 0;
  }
  link_flows_.resize(offset);
  {
    size_t hop = 0;
    for (FlowId id : active_) {
      for (std::uint32_t h = 0; h < flows_[id].hops; ++h) {
        LinkState& ls = links_[hop_link_[hop++]];
        link_flows_[ls.first + ls.count++] = id;
      }
    }
  }
  // Where each active flow's hops start in hop_link_ (flows are frozen in any order).
  auto hops_of = [&](FlowId id) { return flows_[id].hops; };
  std::vector<std::uint32_t>& first_hop = first_hop_;
  first_hop.resize(flows_.size());
  {
    std::uint32_t hop = 0;
    for (FlowId id : active_) {
      first_hop[id] = hop;
      hop += static_cast<std::uint32_t>(hops_of(id));
    }
  }
  using Entry = std::pair<double, std::uint32_t>;  // (share, link): smallest share first, ties by index
  heap_.clear();
  for (std::uint32_t i = 0; i < links_.size(); ++i) heap_.emplace_back(links_[i].remaining / links_[i].unfrozen, i);
  std::make_heap(heap_.begin(), heap_.end(), std::greater<Entry>{});
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<Entry>{});
    const auto [share, li] = heap_.back();
    heap_.pop_back();
    LinkState& ls = links_[li];
    if (ls.unfrozen_flows == 0 || share != ls.remaining / ls.unfrozen) continue;  // stale entry
    for (std::uint32_t k = ls.first; k < ls.first + ls.count; ++k) {
      Flow& f = flows_[link_flows_[k]];
      if (f.frozen) continue;
      f.frozen = true;
      f.rate = std::max(share, 0.0);
      const std::uint32_t h0 = first_hop[link_flows_[k]];
      for (std::uint32_t h = 0; h < f.hops; ++h) {
        const std::uint32_t other = hop_link_[h0 + h];
        LinkState& os = links_[other];
        os.remaining -= f.rate * f.weight;
        os.unfrozen -= f.weight;
        --os.unfrozen_flows;
        if (other != li && !os.touched) {
          os.touched = true;
          touched_.push_back(other);
        }
      }
    }
    // One heap entry per link whose share changed, with its share after the whole round (the
    // entries a per-flow push would add before it are stale by then, or equal to it).
    for (const std::uint32_t other : touched_) {
      LinkState& os = links_[other];
      os.touched = false;
      if (os.unfrozen_flows > 0) {
        heap_.emplace_back(os.remaining / os.unfrozen, other);
        std::push_heap(heap_.begin(), heap_.end(), std::greater<Entry>{});
      }
    }
    touched_.clear();
  }
}

std::optional<std::pair<Seconds, FlowNetwork::FlowId>> FlowNetwork::next_completion() {
  if (active_.empty()) return std::nullopt;
  if (dirty_) recompute_rates();
  double best = std::numeric_limits<double>::infinity();
  FlowId best_id = 0;
  for (FlowId id : active_) {
    const Flow& f = flows_[id];
    const double t = std::max(now_, f.start_at) + (f.remaining > 0 ? f.remaining / f.rate : 0.0);
    if (t < best || (t == best && id < best_id)) {
      best = t;
      best_id = id;
    }
  }
  return std::make_pair(Seconds(best), best_id);
}

std::vector<FlowNetwork::FlowId> FlowNetwork::retire(Seconds now) {
  advance(now.value());
  std::vector<FlowId> done;
  // A flow is done when what is left would take under a picosecond (floating-point residue).
  auto finished = [&](FlowId id) {
    const Flow& f = flows_[id];
    return f.start_at <= now_ + 1e-12 && f.remaining <= f.rate * 1e-12;
  };
  for (FlowId id : active_) {
    if (finished(id)) {
      flows_[id].done = true;
      flows_[id].remaining = 0;
      done.push_back(id);
    }
  }
  if (!done.empty()) {
    std::erase_if(active_, [&](FlowId id) { return flows_[id].done; });
    free_.insert(free_.end(), done.begin(), done.end());
    dirty_ = true;
  }
  return done;
}

BytesPerSecond FlowNetwork::rate(FlowId id) {
  if (dirty_) recompute_rates();
  return BytesPerSecond(flows_[id].rate);
}

Seconds run_flows(const Topology& topology, const std::vector<FlowSpec>& flows,
                  std::unordered_map<std::uint64_t, double>* link_bytes) {
  FlowNetwork net(topology, link_bytes != nullptr);
  Path path;
  for (const auto& f : flows) {
    topology.route(f.src_rank, f.dst_rank, path);
    // Callers account latency once per algorithm step.
    net.start(path.links.data(), path.hops, Seconds(0), f.bytes, Seconds(0), f.weight);
  }
  Seconds end{0};
  while (auto next = net.next_completion()) {
    end = next->first;
    const auto retired = net.retire(next->first);
    TAHOMA_ASSERT(!retired.empty() && "flow network made no progress");
  }
  if (link_bytes != nullptr) *link_bytes = net.link_bytes();
  return end;
}

Seconds run_routed_flows(const Topology& topology, const std::vector<LinkId>& links,
                         const std::vector<std::uint32_t>& first, const std::vector<double>& bytes,
                         const std::vector<double>& weights) {
  TAHOMA_ASSERT(first.size() == bytes.size() + 1 && weights.size() == bytes.size());
  FlowNetwork net(topology, false);
  for (size_t i = 0; i < bytes.size(); ++i) {
    net.start(links.data() + first[i], static_cast<int>(first[i + 1] - first[i]), Seconds(0), Bytes(bytes[i]),
              Seconds(0), weights[i]);
  }
  Seconds end{0};
  while (auto next = net.next_completion()) {
    end = next->first;
    const auto retired = net.retire(next->first);
    TAHOMA_ASSERT(!retired.empty() && "flow network made no progress");
  }
  return end;
}

}  // namespace tahoma::net
