#include <algorithm>
#include <bit>
#include <cmath>
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
  f.hops = static_cast<std::uint32_t>(hops);
  f.remaining = std::max(0.0, bytes.value());
  f.since = now_;
  f.rate = 0;
  f.start_at = now.value() + latency.value();
  f.weight = weight;
  f.active = true;
  f.frozen = false;
  ++f.version;  // entries of the slot's earlier flow are stale
  for (int h = 0; h < hops; ++h) {
    const std::uint64_t packed = links[h].packed;
    auto [it, added] = link_index_.try_emplace(packed, static_cast<std::uint32_t>(links_.size()));
    if (added) links_.push_back(Link{topology_->capacity(links[h]).value(), {}});
    Link& l = links_[it->second];
    hops_[f.first + static_cast<std::uint32_t>(h)] = {it->second, static_cast<std::uint32_t>(l.users.size())};
    l.users.emplace_back(id, static_cast<std::uint32_t>(h));
    if (track_link_bytes_) link_bytes_[packed] += f.remaining * weight;
  }
  ++active_count_;
  dirty_flows_.push_back(id);
  return id;
}

double FlowNetwork::remaining_at(const Flow& f, double t) {
  const double from = std::max(f.since, f.start_at);
  if (t <= from || f.remaining <= 0) return f.remaining;
  if (!std::isfinite(f.rate)) return 0;  // no links: done once it starts
  return std::max(0.0, f.remaining - f.rate * (t - from));
}

double FlowNetwork::finish_time(const Flow& f) {
  return std::max(f.since, f.start_at) + (f.remaining > 0 ? f.remaining / f.rate : 0.0);
}

void FlowNetwork::advance(double now) {
  if (now <= now_) return;
  // Rates changed at now_ (a start or an end) hold until `now`: solve them before time moves on.
  if (!dirty_flows_.empty() || !dirty_links_.empty()) recompute_rates();
  now_ = now;
}

// Max-min fair rates by progressive filling, on the components that changed: repeatedly take the
// link whose remaining capacity per unfrozen flow is smallest, give each of its unfrozen flows that
// share, and remove them. A heap of lower bounds (below) keeps it O((flows * hops + links) log
// links) in the component's flows and links.
void FlowNetwork::recompute_rates() {
  if (++stamp_ == 0) {  // the stamp wrapped: every mark must read as unvisited again
    for (Flow& f : flows_) f.mark = 0;
    for (Link& l : links_) l.mark = 0;
    stamp_ = 1;
  }
  // The changed components: every flow reachable from a started flow or a link a flow left.
  comp_flows_.clear();
  comp_links_.clear();
  auto visit_link = [&](std::uint32_t li) {
    Link& l = links_[li];
    if (l.mark == stamp_) return;
    l.mark = stamp_;
    comp_links_.push_back(li);
    for (const auto& [user, hop] : l.users) {
      Flow& u = flows_[user];
      if (u.mark != stamp_) {
        u.mark = stamp_;
        comp_flows_.push_back(user);
      }
    }
  };
  for (const FlowId id : dirty_flows_) {
    Flow& f = flows_[id];
    if (f.active && f.mark != stamp_) {
      f.mark = stamp_;
      comp_flows_.push_back(id);
    }
  }
  for (const std::uint32_t li : dirty_links_) visit_link(li);
  dirty_flows_.clear();
  dirty_links_.clear();
  for (size_t k = 0; k < comp_flows_.size(); ++k) {  // grows while it is read: a breadth-first search
    const Flow& f = flows_[comp_flows_[k]];
    for (std::uint32_t h = 0; h < f.hops; ++h) visit_link(hops_[f.first + h].link);
  }

  work_ += static_cast<double>(comp_links_.size());
  for (const FlowId id : comp_flows_) work_ += flows_[id].hops;
  // Each flow's bytes left at now_ on its old rate; then the filling from full capacity (no flow
  // outside the components crosses their links).
  for (const FlowId id : comp_flows_) {
    Flow& f = flows_[id];
    f.remaining = remaining_at(f, now_);
    f.since = now_;
    f.rate = std::numeric_limits<double>::infinity();  // a flow with no links (same rank) is instant
    f.frozen = false;
  }
  heap_.clear();
  for (const std::uint32_t li : comp_links_) {
    Link& l = links_[li];
    l.remaining = l.capacity;
    l.unfrozen = 0;
    l.unfrozen_flows = static_cast<int>(l.users.size());
    for (const auto& [user, hop] : l.users) l.unfrozen += flows_[user].weight;
    if (l.unfrozen_flows > 0) heap_.emplace_back(l.remaining / l.unfrozen, li);
  }
  using Entry = std::pair<double, std::uint32_t>;  // (share, link): smallest share first, ties by index
  std::make_heap(heap_.begin(), heap_.end(), std::greater<Entry>{});
  // A link's share only grows as other links' flows freeze (they freeze at the smallest share,
  // at most its own), so an entry is a lower bound on its link's share: a popped entry below the
  // link's current share goes back with the current one, and every link stays in the heap once.
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<Entry>{});
    const auto [key, li] = heap_.back();
    Link& ls = links_[li];
    if (ls.unfrozen_flows == 0) {
      heap_.pop_back();
      continue;
    }
    const double share = ls.remaining / ls.unfrozen;
    if (share > key) {  // grew since it was pushed: back in at its current share
      heap_.back() = {share, li};
      std::push_heap(heap_.begin(), heap_.end(), std::greater<Entry>{});
      continue;
    }
    heap_.pop_back();
    for (const auto& [user, hop] : ls.users) {
      Flow& f = flows_[user];
      if (f.frozen) continue;
      f.frozen = true;
      f.rate = std::max(share, 0.0);
      for (std::uint32_t h = 0; h < f.hops; ++h) {
        Link& os = links_[hops_[f.first + h].link];
        os.remaining -= f.rate * f.weight;
        os.unfrozen -= f.weight;
        --os.unfrozen_flows;
      }
    }
  }
  // New finish times; the flows' older entries are now stale. When stale entries outnumber the
  // active flows the heap is rebuilt from the active flows, so it stays O(active flows).
  if (finish_heap_.size() + comp_flows_.size() > 2 * active_count_ + 64) {
    finish_heap_.clear();
    for (FlowId id = 0; id < flows_.size(); ++id) {
      const Flow& f = flows_[id];
      if (f.active && f.mark != stamp_) finish_heap_.emplace_back(finish_time(f), id, f.version);
    }
    std::make_heap(finish_heap_.begin(), finish_heap_.end(), std::greater<Finish>{});
  }
  for (const FlowId id : comp_flows_) {
    Flow& f = flows_[id];
    ++f.version;
    finish_heap_.emplace_back(finish_time(f), id, f.version);
    std::push_heap(finish_heap_.begin(), finish_heap_.end(), std::greater<Finish>{});
  }
}

std::optional<std::pair<Seconds, FlowNetwork::FlowId>> FlowNetwork::next_completion() {
  if (!dirty_flows_.empty() || !dirty_links_.empty()) recompute_rates();
  while (!finish_heap_.empty()) {
    const auto& [t, id, version] = finish_heap_.front();
    const Flow& f = flows_[id];
    if (f.active && f.version == version) return std::make_pair(Seconds(t), id);
    std::pop_heap(finish_heap_.begin(), finish_heap_.end(), std::greater<Finish>{});
    finish_heap_.pop_back();
  }
  return std::nullopt;
}

std::vector<FlowNetwork::FlowId> FlowNetwork::retire(Seconds now) {
  advance(now.value());
  if (!dirty_flows_.empty() || !dirty_links_.empty()) recompute_rates();
  std::vector<FlowId> done;
  // A flow is done when what is left would take under a picosecond (floating-point residue).
  while (!finish_heap_.empty()) {
    const auto [t, id, version] = finish_heap_.front();
    const Flow& f = flows_[id];
    const bool current = f.active && f.version == version;
    if (current && t > now_ + 1e-12) break;
    std::pop_heap(finish_heap_.begin(), finish_heap_.end(), std::greater<Finish>{});
    finish_heap_.pop_back();
    if (current) done.push_back(id);
  }
  std::sort(done.begin(), done.end());
  for (const FlowId id : done) {
    Flow& f = flows_[id];
    f.active = false;
    f.remaining = 0;
    ++f.version;
    // Leave every link: the last user moves into the freed place.
    for (std::uint32_t h = 0; h < f.hops; ++h) {
      const Hop hop = hops_[f.first + h];
      Link& l = links_[hop.link];
      const auto last = l.users.back();
      l.users[hop.pos] = last;
      hops_[flows_[last.first].first + last.second].pos = hop.pos;
      l.users.pop_back();
      dirty_links_.push_back(hop.link);
    }
  }
  active_count_ -= done.size();
  free_.insert(free_.end(), done.begin(), done.end());
  return done;
}

BytesPerSecond FlowNetwork::rate(FlowId id) {
  if (!dirty_flows_.empty() || !dirty_links_.empty()) recompute_rates();
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
