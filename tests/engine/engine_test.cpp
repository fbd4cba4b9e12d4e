// Engine tests: stream and dependency semantics, closed-form pipeline makespans (Narayanan et al.,
// SC'21), schedule orders against Megatron-LM's, the Network hook, cycle reports, rounding, and
// byte-identical traces.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "../test_util.h"
#include "tahoma/engine.h"
#include "tahoma/error.h"

namespace tahoma::engine {
namespace {

TaskSpec spec(NameId name, int rank, StreamKind stream, Picos duration) {
  TaskSpec t;
  t.name = name;
  t.rank = rank;
  t.stream = stream;
  t.duration = duration;
  return t;
}

// A pipeline of one task per op: forwards take tf / v, backwards tb / v on the stage's compute
// stream; with `send`, each hand-off is a task of that duration on the sender's scale-out stream.
// With a schedule that splits the backward, the B pass takes tb - tw and the W pass tw.
TaskGraph pipeline_graph(PipelineSchedule schedule, int stages, int chunks, int microbatches, Picos tf, Picos tb,
                         std::optional<Picos> send = std::nullopt, Picos tw = 0) {
  TaskGraph g;
  const NameId fwd = g.intern("forward");
  const NameId bwd = g.intern("backward");
  const NameId snd = g.intern("send");
  PipelineCallbacks cb;
  cb.op = [&](TaskGraph& graph, int stage, const PipeOp& op) {
    const bool split = tahoma::schedule_info(schedule).splits_weight_grad;
    const Picos d = op.weight ? tw : op.backward ? (split ? tb - tw : tb) : tf;
    TaskSpec t = spec(op.backward ? bwd : fwd, stage, StreamKind::kCompute, d / chunks);
    t.category = op.backward ? Category::kBackward : Category::kForward;
    t.microbatch = op.microbatch;
    t.chunk = op.chunk;
    const TaskId id = graph.add(t);
    return std::pair{id, id};
  };
  if (send) {
    cb.send = [&](TaskGraph& graph, int from, int, const PipeOp& op) -> std::optional<TaskId> {
      TaskSpec t = spec(snd, from, StreamKind::kScaleOut, *send);
      t.category = Category::kPp;
      t.microbatch = op.microbatch;
      return graph.add(t);
    };
  }
  build_pipeline(g, schedule, stages, chunks, microbatches, cb);
  return g;
}

std::string trace_of(const TaskGraph& g, const RunResult& r, const std::vector<std::string>& names = {}) {
  std::ostringstream out;
  write_chrome_trace(g, r, names, out);
  return out.str();
}

// ---- time ----

TEST(EngineTime, PicosecondsRoundToNearest) {
  EXPECT_EQ(to_picos(Seconds(1.0)), 1'000'000'000'000);
  EXPECT_EQ(to_picos(Seconds(1e-6)), 1'000'000);
  EXPECT_EQ(to_picos(Seconds(1.4e-12)), 1);
  EXPECT_EQ(to_picos(Seconds(1.6e-12)), 2);
  EXPECT_EQ(to_picos(Seconds(-1.6e-12)), -2);
  EXPECT_EQ(to_picos(Seconds(1e-9 / 3)), 333);
  EXPECT_EQ(to_picos(Seconds(3600.0)), 3'600'000'000'000'000);
  EXPECT_EQ(to_seconds(1'500'000).value(), 1.5e-6);
  EXPECT_EQ(to_picos(to_seconds(123'456'789)), 123'456'789);
}

TEST(EngineNames, StreamsAndCategories) {
  EXPECT_STREQ(to_string(StreamKind::kCompute), "compute");
  EXPECT_STREQ(to_string(StreamKind::kScaleUp), "scale-up");
  EXPECT_STREQ(to_string(StreamKind::kScaleOut), "scale-out");
  EXPECT_STREQ(to_string(StreamKind::kDataParallel), "data-parallel");
  EXPECT_STREQ(to_string(Category::kRecompute), "recompute");
  EXPECT_STREQ(to_string(Category::kOptimizer), "optimizer");
}

// ---- graph and engine semantics ----

TEST(EngineGraph, InternsNamesOnce) {
  TaskGraph g;
  const NameId a = g.intern("attention");
  const NameId b = g.intern("mlp");
  EXPECT_NE(a, b);
  EXPECT_EQ(g.intern(std::string("attention")), a);
  EXPECT_EQ(g.name(b), "mlp");
  EXPECT_EQ(g.num_names(), 2u);
}

TEST(EngineGraph, RecordsStreamPredecessorsPerRankAndStream) {
  TaskGraph g;
  const NameId n = g.intern("t");
  const TaskId a = g.add(spec(n, 0, StreamKind::kCompute, 1));
  const TaskId b = g.add(spec(n, 1, StreamKind::kCompute, 1));
  const TaskId c = g.add(spec(n, 0, StreamKind::kScaleUp, 1));
  const TaskId d = g.add(spec(n, 0, StreamKind::kCompute, 1));
  EXPECT_EQ(g.stream_predecessor(a), kNoTask);
  EXPECT_EQ(g.stream_predecessor(b), kNoTask);
  EXPECT_EQ(g.stream_predecessor(c), kNoTask);
  EXPECT_EQ(g.stream_predecessor(d), a);
  EXPECT_EQ(g.num_ranks(), 2);
}

TEST(EngineRun, EmptyGraph) {
  const RunResult r = run(TaskGraph{});
  EXPECT_EQ(r.makespan, 0);
  EXPECT_TRUE(r.start.empty());
}

TEST(EngineRun, ChainOfDependenciesSums) {
  TaskGraph g;
  const NameId n = g.intern("t");
  const TaskId a = g.add(spec(n, 0, StreamKind::kCompute, 100));
  const TaskId b = g.add(spec(n, 0, StreamKind::kScaleUp, 250));
  const TaskId c = g.add(spec(n, 1, StreamKind::kCompute, 7));
  g.depend(a, b);
  g.depend(b, c);
  const RunResult r = run(g);
  EXPECT_EQ(r.start[b], 100);
  EXPECT_EQ(r.start[c], 350);
  EXPECT_EQ(r.end[c], 357);
  EXPECT_EQ(r.makespan, 357);
}

TEST(EngineRun, IndependentStreamsOverlap) {
  TaskGraph g;
  const NameId n = g.intern("t");
  g.add(spec(n, 0, StreamKind::kCompute, 300));
  g.add(spec(n, 0, StreamKind::kCompute, 200));
  g.add(spec(n, 0, StreamKind::kScaleUp, 450));
  g.add(spec(n, 0, StreamKind::kScaleOut, 100));
  const RunResult r = run(g);
  EXPECT_EQ(r.makespan, 500);  // max(300 + 200, 450, 100)
  EXPECT_EQ(r.busy_time(0, StreamKind::kCompute), 500);
  EXPECT_EQ(r.busy_time(0, StreamKind::kScaleUp), 450);
  EXPECT_EQ(r.busy_time(0, StreamKind::kScaleOut), 100);
}

TEST(EngineRun, StreamIsFifoEvenWhenALaterTaskIsReadyFirst) {
  TaskGraph g;
  const NameId n = g.intern("t");
  const TaskId comm = g.add(spec(n, 0, StreamKind::kScaleUp, 1000));
  const TaskId waits = g.add(spec(n, 0, StreamKind::kCompute, 10));
  const TaskId ready = g.add(spec(n, 0, StreamKind::kCompute, 10));  // no dependency, ready at 0
  const TaskId other_rank = g.add(spec(n, 1, StreamKind::kCompute, 10));
  g.depend(comm, waits);
  const RunResult r = run(g);
  EXPECT_EQ(r.start[waits], 1000);
  EXPECT_EQ(r.start[ready], 1010);  // queued behind `waits` on the same stream
  EXPECT_EQ(r.start[other_rank], 0);
  EXPECT_EQ(r.makespan, 1020);
}

TEST(EngineRun, TaskStartsAtTheLatestDependency) {
  TaskGraph g;
  const NameId n = g.intern("t");
  const TaskId a = g.add(spec(n, 0, StreamKind::kCompute, 30));
  const TaskId b = g.add(spec(n, 1, StreamKind::kCompute, 70));
  const TaskId c = g.add(spec(n, 2, StreamKind::kCompute, 20));
  const TaskId join = g.add(spec(n, 3, StreamKind::kCompute, 5));
  g.depend(a, join);
  g.depend(b, join);
  g.arrow(c, join);  // an arrow is a dependency too
  const RunResult r = run(g);
  EXPECT_EQ(r.start[join], 70);
  EXPECT_EQ(r.makespan, 75);
}

TEST(EngineRun, DependencyOnALaterAddedTask) {
  TaskGraph g;
  const NameId n = g.intern("t");
  const TaskId first = g.add(spec(n, 0, StreamKind::kCompute, 5));
  const TaskId second = g.add(spec(n, 1, StreamKind::kCompute, 40));
  g.depend(second, first);
  const RunResult r = run(g);
  EXPECT_EQ(r.start[first], 40);
  EXPECT_EQ(r.makespan, 45);
}

TEST(EngineRun, ReusedEngineMatchesFreshRuns) {
  const TaskGraph big = pipeline_graph(PipelineSchedule::k1F1B, 4, 1, 8, 600, 1200, 50);
  const TaskGraph small = pipeline_graph(PipelineSchedule::kGPipe, 2, 1, 2, 100, 300);
  Engine engine;
  for (const TaskGraph* g : {&big, &small, &big}) {
    const RunResult fresh = run(*g);
    const RunResult& reused = engine.run(*g);
    EXPECT_EQ(reused.start, fresh.start);
    EXPECT_EQ(reused.end, fresh.end);
    EXPECT_EQ(reused.busy, fresh.busy);
    EXPECT_EQ(reused.makespan, fresh.makespan);
  }
  TaskGraph cleared = big;
  cleared.clear();
  EXPECT_EQ(cleared.size(), 0u);
  EXPECT_EQ(cleared.intern("send"), big.task(big.arrows()[0].first).name);  // names survive clear()
  EXPECT_EQ(engine.run(cleared).makespan, 0);
}

TEST(EngineRun, ReportsADependencyCycleByName) {
  TaskGraph g;
  const TaskId a = g.add(spec(g.intern("embed"), 0, StreamKind::kCompute, 1));
  const TaskId b = g.add(spec(g.intern("attn"), 0, StreamKind::kCompute, 1));
  const TaskId c = g.add(spec(g.intern("allreduce"), 0, StreamKind::kScaleUp, 1));
  const TaskId d = g.add(spec(g.intern("downstream"), 1, StreamKind::kCompute, 1));
  g.depend(a, b);
  g.depend(b, c);
  g.depend(c, b);
  g.depend(c, d);
  try {
    run(g);
    FAIL() << "expected a cycle error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_CONTAINS(msg, "dependency cycle");
    EXPECT_CONTAINS(msg, "3 of 4 tasks");
    EXPECT_CONTAINS(msg, "'attn' (task 1, rank 0, compute)");
    EXPECT_CONTAINS(msg, "'allreduce' (task 2, rank 0, scale-up)");
    EXPECT_EQ(msg.find("downstream"), std::string::npos) << msg;  // waits on the cycle, not in it
  }
}

TEST(EngineRun, ReportsACycleThroughStreamOrder) {
  TaskGraph g;
  const TaskId first = g.add(spec(g.intern("first"), 0, StreamKind::kCompute, 1));
  const TaskId second = g.add(spec(g.intern("second"), 0, StreamKind::kCompute, 1));
  g.depend(second, first);  // but `second` queues behind `first` on the stream
  try {
    run(g);
    FAIL() << "expected a cycle error";
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "'first'");
    EXPECT_CONTAINS(e.what(), "'second'");
  }
}

// ---- the Network hook ----

// A toy flow network: one resource of 1 unit per picosecond shared equally among active tasks; a
// task's size in units is its tag.
class FairShareNetwork : public Network {
 public:
  void start(TaskId task, std::uint32_t tag, Picos now) override {
    advance(now);
    active_.push_back({task, static_cast<double>(tag)});
    ++starts;
    started.push_back(task);
  }
  std::optional<std::pair<Picos, TaskId>> next_completion() override {
    if (active_.empty()) return std::nullopt;
    const auto& first = *std::min_element(active_.begin(), active_.end(), [](const Flow& a, const Flow& b) {
      return std::tie(a.remaining, a.task) < std::tie(b.remaining, b.task);
    });
    const auto share = static_cast<double>(active_.size());
    return std::pair{now_ + static_cast<Picos>(std::llround(first.remaining * share)), first.task};
  }
  void complete(TaskId task, Picos now) override {
    advance(now);
    const auto it = std::find_if(active_.begin(), active_.end(), [&](const Flow& f) { return f.task == task; });
    ASSERT_NE(it, active_.end());
    EXPECT_NEAR(it->remaining, 0.0, 1.0);  // end times are rounded to whole picoseconds
    active_.erase(it);
    ++completions;
  }
  int starts = 0;
  int completions = 0;
  std::vector<TaskId> started;  // in the order the engine started them

 private:
  struct Flow {
    TaskId task;
    double remaining;
  };
  void advance(Picos now) {
    EXPECT_GE(now, now_);
    if (!active_.empty()) {
      const double progress = static_cast<double>(now - now_) / static_cast<double>(active_.size());
      for (Flow& f : active_) f.remaining -= progress;
    }
    now_ = now;
  }
  std::vector<Flow> active_;
  Picos now_ = 0;
};

TaskSpec network_task(NameId name, int rank, std::uint32_t units, Picos duration) {
  TaskSpec t = spec(name, rank, StreamKind::kScaleOut, duration);
  t.network = true;
  t.tag = units;
  return t;
}

TEST(EngineNetwork, EqualTasksStartedTogetherEachTakeTwiceAsLong) {
  TaskGraph g;
  const NameId n = g.intern("flow");
  const TaskId a = g.add(network_task(n, 0, 1000, 5));
  const TaskId b = g.add(network_task(n, 1, 1000, 5));
  FairShareNetwork net;
  const RunResult shared = run(g, &net);
  EXPECT_EQ(shared.end[a], 2000);
  EXPECT_EQ(shared.end[b], 2000);
  EXPECT_EQ(net.starts, 2);
  EXPECT_EQ(net.completions, 2);

  TaskGraph alone;
  const TaskId only = alone.add(network_task(alone.intern("flow"), 0, 1000, 5));
  FairShareNetwork net2;
  EXPECT_EQ(run(alone, &net2).end[only], 1000);
}

TEST(EngineNetwork, RatesChangeWhenATaskJoinsAndDependentsFollowTheNetworksEnd) {
  TaskGraph g;
  const NameId n = g.intern("t");
  const TaskId a = g.add(network_task(n, 0, 1000, 1));
  const TaskId compute = g.add(spec(n, 1, StreamKind::kCompute, 500));
  const TaskId b = g.add(network_task(n, 1, 1000, 1));
  const TaskId after_a = g.add(spec(n, 0, StreamKind::kCompute, 10));
  g.depend(compute, b);
  g.depend(a, after_a);
  FairShareNetwork net;
  const RunResult r = run(g, &net);
  // a runs alone for 500 ps (500 units left), then both share: a ends at 500 + 2 * 500 = 1500, and b,
  // with 500 units left, runs alone to 2000.
  EXPECT_EQ(r.start[b], 500);
  EXPECT_EQ(r.end[a], 1500);
  EXPECT_EQ(r.end[b], 2000);
  EXPECT_EQ(r.start[after_a], 1500);
  EXPECT_EQ(r.makespan, 2000);
}

// Completions at equal times are processed in task-id order, so dependents start in that order too,
// whichever completion queue (fixed durations or the Network) they come from.
TEST(EngineNetwork, TiesAtEqualTimesGoInTaskIdOrder) {
  TaskGraph g;
  const NameId n = g.intern("t");
  const TaskId a = g.add(spec(n, 0, StreamKind::kCompute, 100));
  const TaskId b = g.add(spec(n, 1, StreamKind::kCompute, 100));
  const TaskId flow = g.add(network_task(n, 2, 100, 1));  // the Network ends it at 100 too
  const TaskId after_flow = g.add(network_task(n, 3, 50, 1));
  const TaskId after_b = g.add(network_task(n, 4, 50, 1));
  const TaskId after_a = g.add(network_task(n, 5, 50, 1));
  g.depend(flow, after_flow);
  g.depend(b, after_b);
  g.depend(a, after_a);
  FairShareNetwork net;
  const RunResult r = run(g, &net);
  EXPECT_EQ(r.end[flow], 100);
  EXPECT_EQ(net.started, (std::vector<TaskId>{flow, after_a, after_b, after_flow}));
}

TEST(EngineNetwork, WithoutANetworkNetworkTasksUseTheirDuration) {
  TaskGraph g;
  const NameId n = g.intern("flow");
  const TaskId a = g.add(network_task(n, 0, 1000, 70));
  const TaskId b = g.add(network_task(n, 1, 1000, 30));
  const RunResult r = run(g);
  EXPECT_EQ(r.end[a], 70);
  EXPECT_EQ(r.end[b], 30);
}

// A network whose tasks each take two phases of `tag` picoseconds, the first ending in an internal
// event (a collective's step boundary) that the engine must hand back without ending any task.
class TwoPhaseNetwork : public Network {
 public:
  void start(TaskId task, std::uint32_t tag, Picos now) override { pending_.push_back({now + tag, task, 0, tag}); }
  std::optional<std::pair<Picos, TaskId>> next_completion() override {
    if (pending_.empty()) return std::nullopt;
    const auto& e = *std::min_element(pending_.begin(), pending_.end());
    return std::pair{e.at, e.phase == 0 ? kNoTask : e.task};
  }
  void complete(TaskId task, Picos now) override {
    auto it = std::min_element(pending_.begin(), pending_.end());
    EXPECT_EQ(it->at, now);
    if (task == kNoTask) {
      ++internal;
      EXPECT_EQ(it->phase, 0);
      it->phase = 1;
      it->at = now + it->length;
    } else {
      EXPECT_EQ(it->task, task);
      pending_.erase(it);
    }
  }
  int internal = 0;

 private:
  struct Entry {
    Picos at;
    TaskId task;
    int phase;
    std::uint32_t length;
    friend bool operator<(const Entry& a, const Entry& b) { return std::tie(a.at, a.task) < std::tie(b.at, b.task); }
  };
  std::vector<Entry> pending_;
};

TEST(EngineNetwork, InternalEventsAdvanceTheNetworkWithoutEndingATask) {
  TaskGraph g;
  const NameId n = g.intern("t");
  const TaskId a = g.add(network_task(n, 0, 100, 1));
  const TaskId c = g.add(spec(n, 1, StreamKind::kCompute, 150));
  const TaskId b = g.add(network_task(n, 1, 30, 1));
  g.depend(a, b);
  TwoPhaseNetwork net;
  const RunResult r = run(g, &net);
  EXPECT_EQ(net.internal, 2);
  EXPECT_EQ(r.end[a], 200);
  EXPECT_EQ(r.end[c], 150);
  EXPECT_EQ(r.start[b], 200);
  EXPECT_EQ(r.end[b], 260);
  EXPECT_EQ(r.makespan, 260);
}

// ---- schedules ----

TEST(EngineSchedule, NamesRoundTrip) {
  for (const auto& info : pipeline_schedules()) {
    EXPECT_STREQ(to_string(info.schedule), info.name);
    EXPECT_EQ(parse_pipeline_schedule(info.name), info.schedule);
  }
  EXPECT_EQ(parse_pipeline_schedule("interleaved-1f1b"), PipelineSchedule::kInterleaved1F1B);
  EXPECT_FALSE(parse_pipeline_schedule("1F1B").has_value());
  EXPECT_FALSE(parse_pipeline_schedule("pipedream").has_value());
}

TEST(EngineSchedule, RejectsBadCounts) {
  using testing::input_error;
  EXPECT_CONTAINS(input_error([] { pipeline_order(PipelineSchedule::k1F1B, 0, 1, 4); }), "stages: must be at least 1");
  EXPECT_CONTAINS(input_error([] { pipeline_order(PipelineSchedule::k1F1B, 2, 1, 0); }), "microbatches");
  EXPECT_CONTAINS(input_error([] { pipeline_order(PipelineSchedule::kInterleaved1F1B, 2, 0, 4); }), "chunks");
  EXPECT_CONTAINS(input_error([] { pipeline_order(PipelineSchedule::k1F1B, 2, 2, 4); }), "use interleaved-1f1b");
  EXPECT_CONTAINS(input_error([] { pipeline_order(PipelineSchedule::kInterleaved1F1B, 4, 2, 3); }),
                  "at least as many micro-batches as stages");
  EXPECT_NO_THROW(pipeline_order(PipelineSchedule::kInterleaved1F1B, 4, 2, 4));
  EXPECT_NO_THROW(pipeline_order(PipelineSchedule::k1F1B, 4, 1, 3));  // 1F1B allows m < p
}

std::vector<PipeOp> ops(std::initializer_list<std::tuple<char, int, int>> list) {
  std::vector<PipeOp> out;
  for (const auto& [kind, mb, chunk] : list) out.push_back({mb, chunk, kind == 'B'});
  return out;
}

TEST(EngineSchedule, OneFOneBOrder) {
  const auto order = pipeline_order(PipelineSchedule::k1F1B, 2, 1, 3);
  EXPECT_EQ(order[0], ops({{'F', 0, 0}, {'F', 1, 0}, {'B', 0, 0}, {'F', 2, 0}, {'B', 1, 0}, {'B', 2, 0}}));
  EXPECT_EQ(order[1], ops({{'F', 0, 0}, {'B', 0, 0}, {'F', 1, 0}, {'B', 1, 0}, {'F', 2, 0}, {'B', 2, 0}}));
  const auto gpipe = pipeline_order(PipelineSchedule::kGPipe, 2, 1, 2);
  EXPECT_EQ(gpipe[1], ops({{'F', 0, 0}, {'F', 1, 0}, {'B', 0, 0}, {'B', 1, 0}}));
}

// Hand-derived from Megatron-LM's forward_backward_pipelining_with_interleaving for p = 2, v = 2,
// m = 4: schedule table (0,0) (1,0) (0,1) (1,1) (2,0) (3,0) (2,1) (3,1); warm-up 4 on stage 0 and 2
// on stage 1; backward k runs table[k] through chunk v-1-c.
TEST(EngineSchedule, InterleavedOrderMatchesMegatron) {
  const auto order = pipeline_order(PipelineSchedule::kInterleaved1F1B, 2, 2, 4);
  EXPECT_EQ(order[0], ops({{'F', 0, 0},
                           {'F', 1, 0},
                           {'F', 0, 1},
                           {'F', 1, 1},
                           {'F', 2, 0},
                           {'B', 0, 1},
                           {'F', 3, 0},
                           {'B', 1, 1},
                           {'F', 2, 1},
                           {'B', 0, 0},
                           {'F', 3, 1},
                           {'B', 1, 0},
                           {'B', 2, 1},
                           {'B', 3, 1},
                           {'B', 2, 0},
                           {'B', 3, 0}}));
  EXPECT_EQ(order[1], ops({{'F', 0, 0},
                           {'F', 1, 0},
                           {'F', 0, 1},
                           {'B', 0, 1},
                           {'F', 1, 1},
                           {'B', 1, 1},
                           {'F', 2, 0},
                           {'B', 0, 0},
                           {'F', 3, 0},
                           {'B', 1, 0},
                           {'F', 2, 1},
                           {'B', 2, 1},
                           {'F', 3, 1},
                           {'B', 3, 1},
                           {'B', 2, 0},
                           {'B', 3, 0}}));
}

TEST(EngineSchedule, InterleavedGroupSizeFollowsMegatronsRule) {
  EXPECT_EQ(interleaved_group_size(4, 8), 4);
  EXPECT_EQ(interleaved_group_size(4, 4), 4);
  EXPECT_EQ(interleaved_group_size(2, 5), 3);  // Megatron's own example: PP2 N3 M5
  EXPECT_EQ(interleaved_group_size(4, 5), 5);
  EXPECT_EQ(interleaved_group_size(4, 9), 5);  // groups of 5 and 4
  EXPECT_EQ(interleaved_group_size(4, 6), 6);
}

// Every op once per stage, each chunk's micro-batches in order in both directions (Megatron pops
// its per-chunk queues FIFO), a forward before its backward, and no deadlock when run.
TEST(EngineSchedule, EveryOpOnceForwardBeforeBackwardAndNoDeadlock) {
  for (const PipelineSchedule schedule :
       {PipelineSchedule::kGPipe, PipelineSchedule::k1F1B, PipelineSchedule::kInterleaved1F1B}) {
    for (const int stages : {1, 2, 3, 4, 8}) {
      const std::vector<int> chunk_counts =
          schedule == PipelineSchedule::kInterleaved1F1B ? std::vector<int>{1, 2, 3} : std::vector<int>{1};
      for (const int chunks : chunk_counts) {
        for (const int microbatches : {1, 2, 3, 5, 8, 9, 13, 16, 24}) {
          if (schedule == PipelineSchedule::kInterleaved1F1B && chunks > 1 && microbatches < stages) continue;
          SCOPED_TRACE(fmt::format("{} p={} v={} m={}", to_string(schedule), stages, chunks, microbatches));
          const auto orders = pipeline_order(schedule, stages, chunks, microbatches);
          ASSERT_EQ(orders.size(), static_cast<size_t>(stages));
          for (const auto& order : orders) {
            ASSERT_EQ(order.size(), 2u * static_cast<size_t>(chunks * microbatches));
            std::set<std::tuple<int, int, bool>> seen;
            std::map<std::pair<int, bool>, int> next_mb;  // (chunk, backward) -> next micro-batch
            for (const PipeOp& op : order) {
              ASSERT_TRUE(op.chunk >= 0 && op.chunk < chunks && op.microbatch >= 0 && op.microbatch < microbatches);
              ASSERT_TRUE(seen.insert({op.microbatch, op.chunk, op.backward}).second) << "duplicate op";
              if (op.backward) {
                ASSERT_TRUE(seen.count({op.microbatch, op.chunk, false})) << "backward before forward";
              }
              const std::pair<int, bool> queue{op.chunk, op.backward};
              ASSERT_EQ(next_mb[queue]++, op.microbatch);
            }
          }
          EXPECT_NO_THROW(run(pipeline_graph(schedule, stages, chunks, microbatches, 600, 1200, 50)));
        }
      }
    }
  }
}

TEST(EngineSchedule, BuildPipelineWiresSendsAsArrows) {
  const int p = 3, v = 2, m = 3;
  const TaskGraph g = pipeline_graph(PipelineSchedule::kInterleaved1F1B, p, v, m, 60, 120, 5);
  // Forward: v*p - 1 boundaries per micro-batch, the same for backward.
  EXPECT_EQ(g.arrows().size(), 2u * static_cast<size_t>((v * p - 1) * m));
  EXPECT_EQ(g.size(), 2u * static_cast<size_t>(v * p * m) + g.arrows().size());
  for (const auto& [send, recv] : g.arrows()) {
    EXPECT_EQ(g.task(send).stream, StreamKind::kScaleOut);
    EXPECT_EQ(g.task(send).microbatch, g.task(recv).microbatch);
  }
}

// ---- closed-form makespans ----

constexpr Picos kTf = 1200;  // forward of a whole stage, ps
constexpr Picos kTb = 2400;  // backward

// PipeDream-flush and GPipe: (m + p - 1)(tf + tb) (Narayanan et al., SC'21, sec. 2.2.1).
TEST(EngineClosedForm, OneFOneBAndGPipeMakespan) {
  for (const int p : {1, 2, 4, 8}) {
    for (const int m : {1, 3, 4, 8, 13}) {
      const Picos expected = (m + p - 1) * (kTf + kTb);
      EXPECT_EQ(run(pipeline_graph(PipelineSchedule::k1F1B, p, 1, m, kTf, kTb)).makespan, expected)
          << "p=" << p << " m=" << m;
      EXPECT_EQ(run(pipeline_graph(PipelineSchedule::kGPipe, p, 1, m, kTf, kTb)).makespan, expected)
          << "p=" << p << " m=" << m;
    }
  }
  // A forward slower than the backward changes nothing.
  EXPECT_EQ(run(pipeline_graph(PipelineSchedule::k1F1B, 4, 1, 6, 900, 300)).makespan, 9 * 1200);
}

// ZB-H1 (Qi et al., ICLR 2024, Sec. 3.1): with F = B_in = W = T the bubble is (p - 1)(F + B_in - W)
// = (p - 1)T against 1F1B's 3(p - 1)T: makespan 3mT + (p - 1)T once m >= p.
TEST(EngineClosedForm, ZeroBubbleH1Makespan) {
  constexpr Picos kT = 1000;
  for (const int p : {1, 2, 4, 8}) {
    for (const int m : {p, 2 * p, 3 * p + 1}) {
      const Picos zb = run(pipeline_graph(PipelineSchedule::kZeroBubble, p, 1, m, kT, 2 * kT, std::nullopt, kT)).makespan;
      EXPECT_EQ(zb, 3 * m * kT + (p - 1) * kT) << "p=" << p << " m=" << m;
      const Picos one = run(pipeline_graph(PipelineSchedule::k1F1B, p, 1, m, kT, 2 * kT)).makespan;
      EXPECT_LE(zb, one);
      if (p == 1) {
        EXPECT_EQ(zb, one);  // one stage: no bubble under either
      }
    }
  }
  // Every W runs after its own B on the same stage, once.
  const auto orders = pipeline_order(PipelineSchedule::kZeroBubble, 4, 1, 6);
  for (const auto& order : orders) {
    int weights = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      if (!order[i].weight) continue;
      ++weights;
      const auto b = std::find(order.begin(), order.end(), PipeOp{order[i].microbatch, 0, true, false});
      EXPECT_LT(static_cast<size_t>(b - order.begin()), i);
    }
    EXPECT_EQ(weights, 6);
  }
  EXPECT_CONTAINS(tahoma::testing::input_error([] { pipeline_order(PipelineSchedule::kDualPipe, 4, 1, 8); }), "closed-form");
}

// Interleaved: bubble (p - 1)(tf + tb) / v, so makespan (m + (p - 1)/v)(tf + tb) (same paper, sec. 2.2.2).
TEST(EngineClosedForm, InterleavedMakespan) {
  for (const int p : {2, 4, 8}) {
    for (const int v : {2, 3, 4}) {
      for (const int m : {p, 2 * p, 4 * p}) {
        const Picos expected = m * (kTf + kTb) + (p - 1) * (kTf + kTb) / v;
        EXPECT_EQ(run(pipeline_graph(PipelineSchedule::kInterleaved1F1B, p, v, m, kTf, kTb)).makespan, expected)
            << "p=" << p << " v=" << v << " m=" << m;
      }
    }
  }
  // With Megatron's larger last group the bubble is the same when p does not divide m.
  EXPECT_EQ(run(pipeline_graph(PipelineSchedule::kInterleaved1F1B, 4, 2, 9, kTf, kTb)).makespan,
            9 * (kTf + kTb) + 3 * (kTf + kTb) / 2);
  // More chunks, smaller bubble: strictly better than 1F1B.
  EXPECT_LT(run(pipeline_graph(PipelineSchedule::kInterleaved1F1B, 4, 2, 8, kTf, kTb)).makespan,
            run(pipeline_graph(PipelineSchedule::k1F1B, 4, 1, 8, kTf, kTb)).makespan);
}

// A send of d on each stage boundary (on the sender's scale-out stream, d <= min(tf, tb)).
// GPipe: the critical path crosses each boundary once forward and once backward: + 2(p-1)d.
// 1F1B: stage 0 only gets micro-batch i's gradient back after a round trip through the p-1 later
// stages (2(p-1) hops), and its p-1 warm-up forwards cover exactly the round trip's compute, so every
// p slots of (tf + tb) cost 2(p-1)d more: + 2d * floor((m+p-1)(p-1)/p) over the m+p-1 slots
// (checked against brute force for p <= 8, m <= 20). Interleaved: the deeper warm-up hides the
// latency except on the first forward and last backward through all vp virtual stages: + 2(vp-1)d.
TEST(EngineClosedForm, SendLatencyOnStageBoundaries) {
  const Picos d = 100;
  for (const int p : {2, 3, 4, 8}) {
    for (const int m : {1, 2, 3, 5, 8, 16}) {
      const Picos ideal = (m + p - 1) * (kTf + kTb);
      EXPECT_EQ(run(pipeline_graph(PipelineSchedule::kGPipe, p, 1, m, kTf, kTb, d)).makespan, ideal + 2 * (p - 1) * d)
          << "p=" << p << " m=" << m;
      EXPECT_EQ(run(pipeline_graph(PipelineSchedule::k1F1B, p, 1, m, kTf, kTb, d)).makespan,
                ideal + 2 * d * ((m + p - 1) * (p - 1) / p))
          << "p=" << p << " m=" << m;
    }
  }
  for (const int p : {2, 4}) {
    for (const int v : {2, 3}) {
      const int m = 2 * p;
      EXPECT_EQ(run(pipeline_graph(PipelineSchedule::kInterleaved1F1B, p, v, m, kTf, kTb, d)).makespan,
                m * (kTf + kTb) + (p - 1) * (kTf + kTb) / v + 2 * (v * p - 1) * d)
          << "p=" << p << " v=" << v;
    }
  }
}

TEST(EngineClosedForm, OneStageOneMicrobatch) {
  EXPECT_EQ(run(pipeline_graph(PipelineSchedule::kGPipe, 1, 1, 1, kTf, kTb)).makespan, kTf + kTb);
  EXPECT_EQ(run(pipeline_graph(PipelineSchedule::k1F1B, 1, 1, 1, kTf, kTb, 100)).makespan, kTf + kTb);
  // Two chunks on one stage: the chunk-to-chunk hand-off stays on the stage.
  EXPECT_EQ(run(pipeline_graph(PipelineSchedule::kInterleaved1F1B, 1, 2, 1, kTf, kTb)).makespan, kTf + kTb);
}

// ---- trace and determinism ----

TEST(EngineTrace, GoldenOutputForATinyRun) {
  TaskGraph g;
  TaskSpec fwd = spec(g.intern("fwd"), 0, StreamKind::kCompute, 1'500'000);
  fwd.category = Category::kForward;
  fwd.microbatch = 0;
  fwd.layer = 3;
  const TaskId a = g.add(fwd);
  TaskSpec send = spec(g.intern("send \"act\"\n"), 0, StreamKind::kScaleOut, 250'000);
  send.category = Category::kPp;
  const TaskId s = g.add(send);
  fwd.rank = 1;
  fwd.microbatch = -1;
  fwd.layer = -1;
  const TaskId b = g.add(fwd);
  g.depend(a, s);
  g.arrow(s, b);
  const RunResult r = run(g);
  EXPECT_EQ(trace_of(g, r, {"stage 0"}),
            R"({"displayTimeUnit":"ns","traceEvents":[
{"name":"process_name","ph":"M","pid":0,"tid":0,"args":{"name":"stage 0"}},
{"name":"process_sort_index","ph":"M","pid":0,"tid":0,"args":{"sort_index":0}},
{"name":"thread_name","ph":"M","pid":0,"tid":0,"args":{"name":"compute"}},
{"name":"thread_sort_index","ph":"M","pid":0,"tid":0,"args":{"sort_index":0}},
{"name":"thread_name","ph":"M","pid":0,"tid":2,"args":{"name":"scale-out"}},
{"name":"thread_sort_index","ph":"M","pid":0,"tid":2,"args":{"sort_index":2}},
{"name":"process_name","ph":"M","pid":1,"tid":0,"args":{"name":"rank 1"}},
{"name":"process_sort_index","ph":"M","pid":1,"tid":0,"args":{"sort_index":1}},
{"name":"thread_name","ph":"M","pid":1,"tid":0,"args":{"name":"compute"}},
{"name":"thread_sort_index","ph":"M","pid":1,"tid":0,"args":{"sort_index":0}},
{"name":"fwd","cat":"forward","ph":"X","pid":0,"tid":0,"ts":0.000000,"dur":1.500000,"args":{"microbatch":0,"layer":3}},
{"name":"send \"act\"\n","cat":"pp","ph":"X","pid":0,"tid":2,"ts":1.500000,"dur":0.250000},
{"name":"fwd","cat":"forward","ph":"X","pid":1,"tid":0,"ts":1.750000,"dur":1.500000},
{"name":"message","cat":"flow","ph":"s","id":0,"pid":0,"tid":2,"ts":1.500000},
{"name":"message","cat":"flow","ph":"f","bp":"e","id":0,"pid":1,"tid":0,"ts":1.750000}
]}
)");
}

TEST(EngineTrace, EscapesControlCharactersAndPrintsSubMicrosecondTimesExactly) {
  TaskGraph g;
  g.add(spec(g.intern(std::string("a\\b\x01", 4)), 0, StreamKind::kCompute, 1));
  g.add(spec(g.intern("long"), 0, StreamKind::kCompute, 12'345'678'901'234));
  const std::string t = trace_of(g, run(g));
  EXPECT_CONTAINS(t, R"("name":"a\\b\u0001")");
  EXPECT_CONTAINS(t, R"("ts":0.000000,"dur":0.000001})");
  EXPECT_CONTAINS(t, R"("ts":0.000001,"dur":12345678.901234})");
}

TEST(EngineDeterminism, RunsAndTracesAreByteIdentical) {
  auto build = [] {
    TaskGraph g;
    const NameId fwd = g.intern("fwd");
    const NameId tp = g.intern("tp-allreduce");
    const NameId snd = g.intern("send");
    PipelineCallbacks cb;
    cb.op = [&](TaskGraph& graph, int stage, const PipeOp& op) {
      TaskId first = kNoTask;
      TaskId last = kNoTask;
      for (int layer = 0; layer < 3; ++layer) {
        TaskSpec c = spec(fwd, stage, StreamKind::kCompute, op.backward ? 200 + layer : 100 + layer);
        c.microbatch = op.microbatch;
        c.chunk = op.chunk;
        c.layer = layer;
        const TaskId compute = graph.add(c);
        if (last != kNoTask) graph.depend(last, compute);
        TaskSpec comm = spec(tp, stage, StreamKind::kScaleUp, 30);
        comm.network = true;
        comm.tag = 40;
        const TaskId ar = graph.add(comm);
        graph.depend(compute, ar);
        if (first == kNoTask) first = compute;
        last = ar;
      }
      return std::pair{first, last};
    };
    cb.send = [&](TaskGraph& graph, int from, int, const PipeOp&) -> std::optional<TaskId> {
      TaskSpec s = spec(snd, from, StreamKind::kScaleOut, 20);
      s.network = true;
      s.tag = 25;
      return graph.add(s);
    };
    build_pipeline(g, PipelineSchedule::kInterleaved1F1B, 4, 2, 8, cb);
    return g;
  };
  const TaskGraph g1 = build();
  const TaskGraph g2 = build();
  FairShareNetwork n1;
  FairShareNetwork n2;
  const RunResult r1 = run(g1, &n1);
  const RunResult r2 = run(g2, &n2);
  EXPECT_EQ(r1.start, r2.start);
  EXPECT_EQ(r1.end, r2.end);
  EXPECT_GT(r1.makespan, 0);
  const std::string t1 = trace_of(g1, r1, {"s0", "s1", "s2", "s3"});
  EXPECT_EQ(t1, trace_of(g2, r2, {"s0", "s1", "s2", "s3"}));
  FairShareNetwork n3;
  EXPECT_EQ(t1, trace_of(g1, run(g1, &n3), {"s0", "s1", "s2", "s3"}));
  // Every slice and flow made it into the trace.
  size_t slices = 0;
  for (size_t pos = 0; (pos = t1.find("\"ph\":\"X\"", pos)) != std::string::npos; ++pos) ++slices;
  EXPECT_EQ(slices, g1.size());
}

// The horizon: representable() accepts exactly what to_picos can hold (with a margin), and a run
// whose task would end past INT64_MAX picoseconds throws instead of wrapping.
TEST(EngineTime, HorizonIsCheckedNotWrapped) {
  EXPECT_TRUE(representable(Seconds(0)));
  EXPECT_TRUE(representable(Seconds(86400.0 * 100)));  // 100 days
  EXPECT_FALSE(representable(Seconds(86400.0 * 107)));
  EXPECT_FALSE(representable(Seconds(86400.0 * 30), 4.0));  // 30 days > 106.75 / 4
  EXPECT_TRUE(representable(Seconds(86400.0 * 26), 4.0));
  EXPECT_FALSE(representable(Seconds(-1)));
  EXPECT_FALSE(representable(Seconds(std::numeric_limits<double>::infinity())));
  EXPECT_FALSE(representable(Seconds(std::numeric_limits<double>::quiet_NaN())));

  TaskGraph g;
  const NameId n = g.intern("long");
  const Picos half = kMaxPicos / 2 + 1;
  g.add(spec(n, 0, StreamKind::kCompute, half));
  g.add(spec(n, 0, StreamKind::kCompute, half));  // starts at `half`, would end past INT64_MAX
  try {
    (void)run(g);
    ADD_FAILURE() << "expected an overflow error";
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "horizon");
    EXPECT_CONTAINS(e.what(), "'long' (task 1");
  }
  TaskGraph ok;
  const NameId m = ok.intern("fits");
  ok.add(spec(m, 0, StreamKind::kCompute, kMaxPicos / 2));
  ok.add(spec(m, 0, StreamKind::kCompute, kMaxPicos / 2));
  EXPECT_EQ(run(ok).makespan, kMaxPicos / 2 * 2);
}

// A cleared graph reused for a smaller one gives the same run as a fresh graph (the per-thread
// workspace of the step relies on this).
TEST(EngineGraph, ClearedGraphRunsLikeAFreshOne) {
  TaskGraph reused = pipeline_graph(PipelineSchedule::k1F1B, 4, 1, 16, 10, 20, 3);
  Engine engine;
  (void)engine.run(reused);
  reused.clear();
  const NameId fwd = reused.intern("forward");
  reused.add(spec(fwd, 0, StreamKind::kCompute, 5));
  reused.add(spec(fwd, 1, StreamKind::kCompute, 7));
  reused.depend(0, 1);
  const RunResult& r = engine.run(reused);
  EXPECT_EQ(r.makespan, 12);
  EXPECT_EQ(r.start.size(), 2u);
  EXPECT_EQ(reused.num_ranks(), 2);
}

}  // namespace
}  // namespace tahoma::engine
