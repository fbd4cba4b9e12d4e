// The task graph and the event loop that runs it (engine.h). The loop keeps the running
// fixed-duration tasks in a binary heap keyed by (end, id); with stream FIFO order at most one task
// per lane runs at a time, so the heap stays as small as the number of lanes.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tahoma/engine.h"
#include "tahoma/error.h"

namespace tahoma::engine {

bool representable(Seconds s, double margin) {
  const double ps = s.value() * 1e12;
  return std::isfinite(ps) && ps >= 0 && ps <= static_cast<double>(kMaxPicos) / std::max(1.0, margin);
}

Picos to_picos(Seconds s) {
  const double ps = s.value() * 1e12;
  TAHOMA_ASSERT(std::isfinite(ps) && std::fabs(ps) < 9.2e18);
  return static_cast<Picos>(std::llround(ps));
}

Seconds to_seconds(Picos p) {
  return Seconds(static_cast<double>(p) / 1e12);
}

const char* to_string(StreamKind s) {
  switch (s) {
    case StreamKind::kCompute: return "compute";
    case StreamKind::kScaleUp: return "scale-up";
    case StreamKind::kScaleOut: return "scale-out";
    case StreamKind::kDataParallel: return "data-parallel";
  }
  return "?";
}

const char* to_string(Category c) {
  switch (c) {
    case Category::kForward: return "forward";
    case Category::kBackward: return "backward";
    case Category::kRecompute: return "recompute";
    case Category::kTp: return "tp";
    case Category::kPp: return "pp";
    case Category::kDp: return "dp";
    case Category::kCp: return "cp";
    case Category::kEp: return "ep";
    case Category::kOptimizer: return "optimizer";
    case Category::kOther: return "other";
  }
  return "?";
}

// ---- TaskGraph ----

NameId TaskGraph::intern(std::string_view name) {
  if (auto it = name_ids_.find(name); it != name_ids_.end()) return it->second;
  const auto id = static_cast<NameId>(names_.size());
  names_.emplace_back(name);
  name_ids_.emplace(names_.back(), id);
  return id;
}

TaskId TaskGraph::add(const TaskSpec& spec) {
  TAHOMA_ASSERT(spec.rank >= 0 && spec.duration >= 0 && spec.name < names_.size());
  TAHOMA_ASSERT(static_cast<int>(spec.stream) < kNumStreams);
  TAHOMA_ASSERT(tasks_.size() < kNoTask);
  const auto id = static_cast<TaskId>(tasks_.size());
  const size_t lane = static_cast<size_t>(spec.rank) * kNumStreams + static_cast<size_t>(spec.stream);
  if (lane >= last_on_lane_.size()) {
    last_on_lane_.resize((static_cast<size_t>(spec.rank) + 1) * kNumStreams, kNoTask);
  }
  tasks_.push_back(spec);
  stream_prev_.push_back(last_on_lane_[lane]);
  last_on_lane_[lane] = id;
  return id;
}

void TaskGraph::depend(TaskId before, TaskId after) {
  TAHOMA_ASSERT(before < tasks_.size() && after < tasks_.size());
  edges_.emplace_back(before, after);
}

void TaskGraph::arrow(TaskId send, TaskId recv) {
  depend(send, recv);
  arrows_.emplace_back(send, recv);
}

void TaskGraph::reserve(size_t tasks, size_t edges) {
  tasks_.reserve(tasks);
  stream_prev_.reserve(tasks);
  edges_.reserve(edges);
}

void TaskGraph::clear() {
  tasks_.clear();
  stream_prev_.clear();
  last_on_lane_.clear();
  edges_.clear();
  arrows_.clear();
}

Network::~Network() = default;

// ---- run ----

namespace {

std::string describe(const TaskGraph& g, TaskId id) {
  const TaskSpec& t = g.task(id);
  return fmt::format("'{}' (task {}, rank {}, {})", g.name(t.name), id, t.rank, to_string(t.stream));
}

// Called when some tasks never started: every such task waits on another such task, so walking
// predecessors from one of them must come back to a task already seen. Names that cycle.
[[noreturn]] void report_cycle(const TaskGraph& g, const std::vector<Picos>& end, size_t unfinished) {
  const size_t n = g.size();
  std::vector<std::vector<TaskId>> preds(n);
  for (const auto& [before, after] : g.edges()) preds[after].push_back(before);
  for (TaskId t = 0; t < n; ++t) {
    if (g.stream_predecessor(t) != kNoTask) preds[t].push_back(g.stream_predecessor(t));
  }
  TaskId cur = 0;
  while (end[cur] >= 0) ++cur;
  std::vector<size_t> seen_at(n, SIZE_MAX);
  std::vector<TaskId> walk;
  while (seen_at[cur] == SIZE_MAX) {
    seen_at[cur] = walk.size();
    walk.push_back(cur);
    const auto it = std::find_if(preds[cur].begin(), preds[cur].end(), [&](TaskId p) { return end[p] < 0; });
    TAHOMA_ASSERT(it != preds[cur].end());
    cur = *it;
  }
  // walk[seen_at[cur]..] is the cycle against the edge direction; print it along the edges.
  std::vector<TaskId> cycle(walk.begin() + static_cast<std::ptrdiff_t>(seen_at[cur]), walk.end());
  std::reverse(cycle.begin(), cycle.end());
  std::string text;
  constexpr size_t kMaxShown = 8;
  for (size_t i = 0; i < cycle.size() && i < kMaxShown; ++i) text += describe(g, cycle[i]) + " -> ";
  text += cycle.size() > kMaxShown ? "..." : describe(g, cycle.front());
  throw Error(
      fmt::format("engine: {} of {} tasks never started because of a dependency cycle: {}", unfinished, n, text));
}

}  // namespace

void Engine::run_into(const TaskGraph& graph, Network* network, RunResult& result) {
  const size_t n = graph.size();
  result.start.resize(n);
  result.end.resize(n);
  result.busy.assign(static_cast<size_t>(graph.num_ranks()) * kNumStreams, 0);
  result.makespan = 0;
  if (n == 0) return;

  // Per-task state in one array (one cache line per task touched), and successors in CSR form:
  // the stream successor first, then edges in insertion order.
  const auto& edges = graph.edges();
  const TaskSpec* tasks = graph.tasks().data();
  TAHOMA_ASSERT(n < kNoTask && edges.size() < std::numeric_limits<std::uint32_t>::max() - n);
  std::vector<Node>& nodes = nodes_;
  nodes.assign(n + 1, Node{});
  for (TaskId t = 0; t < n; ++t) {
    const TaskSpec& spec = tasks[t];
    Node& node = nodes[t];
    node.duration = spec.duration;
    node.lane = static_cast<std::uint32_t>(spec.rank) * kNumStreams + static_cast<std::uint32_t>(spec.stream);
    node.network = network != nullptr && spec.network;
    const TaskId prev = graph.stream_predecessor(t);
    if (prev != kNoTask) {
      ++nodes[prev + 1].first_succ;
      ++node.pending;
    }
  }
  for (const auto& [before, after] : edges) {
    ++nodes[before + 1].first_succ;
    ++nodes[after].pending;
  }
  for (size_t i = 0; i < n; ++i) nodes[i + 1].first_succ += nodes[i].first_succ;
  std::vector<TaskId>& succ = succ_;
  succ.resize(nodes[n].first_succ);
  for (TaskId t = 0; t < n; ++t) {
    const TaskId prev = graph.stream_predecessor(t);
    if (prev != kNoTask) succ[nodes[prev].first_succ++] = t;
  }
  for (const auto& [before, after] : edges) succ[nodes[before].first_succ++] = after;
  // Filling advanced each first_succ to the start of the next task's; shift back.
  for (size_t i = n; i > 0; --i) nodes[i].first_succ = nodes[i - 1].first_succ;
  nodes[0].first_succ = 0;

  std::vector<Running>& heap = heap_;
  heap.clear();
  const auto later = [](const Running& a, const Running& b) { return a.end != b.end ? a.end > b.end : a.id > b.id; };
  size_t network_running = 0;

  auto launch = [&](TaskId t, Picos now) {
    Node& node = nodes[t];
    node.start = now;
    if (node.network) {
      network->start(t, tasks[t].tag, now);
      ++network_running;
    } else {
      if (node.duration > kMaxPicos - now) {
        throw Error(fmt::format("engine: {} would end beyond the engine's horizon of {:.1f} days (int64 picoseconds)",
                                describe(graph, t), static_cast<double>(kMaxPicos) / 1e12 / 86400.0));
      }
      heap.push_back({now + node.duration, t});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };

  for (TaskId t = 0; t < n; ++t) {
    if (nodes[t].pending == 0) launch(t, 0);
  }

  size_t finished = 0;
  Picos now = 0;
  for (;;) {
    TaskId id = kNoTask;
    std::optional<std::pair<Picos, TaskId>> net_next;
    if (network_running > 0) {
      net_next = network->next_completion();
      TAHOMA_ASSERT(net_next.has_value());
    }
    const bool from_net = net_next && (heap.empty() || std::pair(net_next->first, net_next->second) <
                                                           std::pair(heap.front().end, heap.front().id));
    if (from_net) {
      TAHOMA_ASSERT(net_next->first >= now && (net_next->second < n || net_next->second == kNoTask));
      if (net_next->second == kNoTask) {  // an internal event of the network: no task ends
        now = net_next->first;
        network->complete(kNoTask, now);
        continue;
      }
      id = net_next->second;
      const Node& node = nodes[id];
      TAHOMA_ASSERT(node.network && !node.done && node.pending == 0);
      now = net_next->first;
      network->complete(id, now);
      --network_running;
    } else if (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      id = heap.back().id;
      now = heap.back().end;
      heap.pop_back();
    } else {
      break;
    }
    Node& node = nodes[id];
    node.duration = now - node.start;  // from here on: how long it ran
    node.done = true;
    ++finished;
    result.busy[node.lane] += node.duration;
    const std::uint32_t last = nodes[id + 1].first_succ;
    for (std::uint32_t e = node.first_succ; e < last; ++e) {
      const TaskId s = succ[e];
      if (--nodes[s].pending == 0) launch(s, now);
    }
  }

  for (TaskId t = 0; t < n; ++t) {
    result.start[t] = nodes[t].start;
    result.end[t] = nodes[t].done ? nodes[t].start + nodes[t].duration : -1;
  }
  if (finished != n) report_cycle(graph, result.end, n - finished);
  result.makespan = now;
}

const RunResult& Engine::run(const TaskGraph& graph, Network* network) {
  run_into(graph, network, result_);
  return result_;
}

RunResult run(const TaskGraph& graph, Network* network) {
  Engine engine;
  RunResult result;
  engine.run_into(graph, network, result);
  return result;
}

}  // namespace tahoma::engine
