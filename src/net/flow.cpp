#include <algorithm>
#include <limits>
#include <queue>

#include "tahoma/error.h"
#include "tahoma/net.h"

namespace tahoma::net {

FlowNetwork::FlowId FlowNetwork::start(const Path& path, Bytes bytes, Seconds now) {
  TAHOMA_ASSERT((now.value() >= now_ - 1e-15) && "flows must start in time order");
  advance(now.value());
  Flow f;
  f.path = path;
  f.remaining = std::max(0.0, bytes.value());
  f.start_at = now.value() + path.latency.value();
  flows_.push_back(f);
  const auto id = static_cast<FlowId>(flows_.size() - 1);
  active_.push_back(id);
  for (int h = 0; h < path.hops; ++h) link_bytes_[path.links[static_cast<size_t>(h)].packed] += f.remaining;
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

// Max-min fair rates by progressive filling: repeatedly take the link whose remaining capacity per
// unfrozen flow is smallest, give each of its unfrozen flows that share, and remove them. A heap
// with lazy invalidation keeps it O((flows * hops + links) log links).
void FlowNetwork::recompute_rates() {
  dirty_ = false;
  struct LinkState {
    double remaining = 0;
    int unfrozen = 0;
    std::vector<FlowId> flows;
  };
  std::unordered_map<std::uint64_t, LinkState> links;
  links.reserve(active_.size() * 2);
  for (FlowId id : active_) {
    Flow& f = flows_[id];
    f.rate = std::numeric_limits<double>::infinity();  // a flow with no links (same rank) is instant
    f.frozen = false;
    for (int h = 0; h < f.path.hops; ++h) {
      const LinkId l = f.path.links[static_cast<size_t>(h)];
      auto [it, fresh] = links.try_emplace(l.packed);
      if (fresh) it->second.remaining = topology_->capacity(l).value();
      it->second.unfrozen++;
      it->second.flows.push_back(id);
    }
  }
  using Entry = std::pair<double, std::uint64_t>;  // (share, link): smallest share first, ties by id
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
  for (const auto& [id, s] : links) heap.emplace(s.remaining / s.unfrozen, id);
  while (!heap.empty()) {
    const auto [share, lid] = heap.top();
    heap.pop();
    LinkState& ls = links[lid];
    if (ls.unfrozen == 0 || share != ls.remaining / ls.unfrozen) continue;  // stale entry
    for (FlowId fid : ls.flows) {
      Flow& f = flows_[fid];
      if (f.frozen) continue;
      f.frozen = true;
      f.rate = std::max(share, 0.0);
      for (int h = 0; h < f.path.hops; ++h) {
        const std::uint64_t other = f.path.links[static_cast<size_t>(h)].packed;
        LinkState& os = links[other];
        os.remaining -= f.rate;
        os.unfrozen--;
        if (other != lid && os.unfrozen > 0) heap.emplace(os.remaining / os.unfrozen, other);
      }
    }
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
  FlowNetwork net(topology);
  Path path;
  for (const auto& f : flows) {
    topology.route(f.src_rank, f.dst_rank, path);
    path.latency = Seconds(0);  // callers account latency once per algorithm step
    net.start(path, f.bytes, Seconds(0));
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

}  // namespace tahoma::net
