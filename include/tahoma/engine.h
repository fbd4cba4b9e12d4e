// The discrete-event engine (docs/design.md section 7): a training step as a graph of tasks on per-rank
// streams (compute, scale-up comm, scale-out comm), run to completion in integer picoseconds, so
// pipeline bubbles and compute/communication overlap emerge from the simulation; the pipeline
// schedules that order a stage's work; and a Chrome/Perfetto trace of a run.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tahoma/schedule.h"
#include "tahoma/units.h"

namespace tahoma::engine {

// Time in integer picoseconds: exact sums, so the same input gives byte-identical results.
// int64 covers about 106 days.
using Picos = std::int64_t;
// The engine's horizon: the largest time it represents, INT64_MAX ps (about 106.75 days). run()
// throws tahoma::Error rather than let a task end beyond it.
inline constexpr Picos kMaxPicos = INT64_MAX;
// True when `s` is finite, >= 0 and at most `kMaxPicos / margin` picoseconds (margin >= 1), so a
// caller can refuse an input before building a graph that could not be run.
bool representable(Seconds s, double margin = 1.0);
// Seconds -> picoseconds, rounded to nearest (halves away from zero). Asserts finite and in range
// (callers check representable() first where the value comes from user input).
Picos to_picos(Seconds s);
Seconds to_seconds(Picos p);

// The queues of one rank; each executes its tasks one at a time in the order they were added (FIFO),
// like a CUDA stream or an NCCL communicator's stream.
// Data-parallel gradient and parameter traffic has a stream of its own, as in Megatron and FSDP
// (a separate NCCL communicator), so it overlaps the layer-by-layer TP/PP traffic.
enum class StreamKind : std::uint8_t { kCompute, kScaleUp, kScaleOut, kDataParallel };
inline constexpr int kNumStreams = 4;
// "compute", "scale-up", "scale-out", "data-parallel".
const char* to_string(StreamKind s);

// What a task is, for the trace's "cat" and for reports.
enum class Category : std::uint8_t { kForward, kBackward, kRecompute, kTp, kPp, kDp, kCp, kEp, kOptimizer, kOther };
// "forward", "backward", "recompute", "tp", "pp", "dp", "cp", "ep", "optimizer", "other".
const char* to_string(Category c);

// Dense index of a task in its graph, in the order tasks were added.
using TaskId = std::uint32_t;
// Index of an interned task name (TaskGraph::intern).
using NameId = std::uint32_t;
inline constexpr TaskId kNoTask = UINT32_MAX;

// One task: it occupies stream `stream` of rank `rank` for `duration`, or, when `network` is set and
// run() is given a Network, until the Network completes it. microbatch/chunk/layer are -1 when unset.
struct TaskSpec {
  NameId name = 0;  // from intern() on the same graph
  int rank = 0;     // 0 <= rank; ranks are dense small integers (lanes are indexed by rank)
  StreamKind stream = StreamKind::kCompute;
  Category category = Category::kOther;
  bool network = false;  // end decided by the Network (flow mode); else by `duration`
  Picos duration = 0;    // >= 0; used for network tasks too when run() has no Network
  int microbatch = -1;
  int chunk = -1;
  int layer = -1;
  std::uint32_t tag = 0;  // opaque to the engine; passed to Network::start (which message this is)
};

// A task graph under construction. A task starts at the latest end among its dependencies and its
// stream predecessor (the task added just before it on the same rank and stream).
class TaskGraph {
 public:
  // The id of `name`, adding it on first use; the same text always gives the same id.
  NameId intern(std::string_view name);
  [[nodiscard]] const std::string& name(NameId id) const { return names_[id]; }
  [[nodiscard]] size_t num_names() const { return names_.size(); }

  // Appends a task; it runs after every task already added on its (rank, stream). Asserts a rank
  // >= 0, a duration >= 0 and a name interned here.
  TaskId add(const TaskSpec& spec);
  // `after` starts no earlier than `before` ends. Either order of ids is allowed; cycles are
  // reported by run().
  void depend(TaskId before, TaskId after);
  // A message from `send` to `recv`: a dependency that the trace also draws as a flow arrow.
  void arrow(TaskId send, TaskId recv);
  void reserve(size_t tasks, size_t edges);
  // Removes every task and edge but keeps the interned names and the memory, so the next graph
  // built into it allocates nothing.
  void clear();

  [[nodiscard]] size_t size() const { return tasks_.size(); }
  [[nodiscard]] const TaskSpec& task(TaskId id) const { return tasks_[id]; }
  [[nodiscard]] const std::vector<TaskSpec>& tasks() const { return tasks_; }
  // The task added just before `id` on its (rank, stream), or kNoTask.
  [[nodiscard]] TaskId stream_predecessor(TaskId id) const { return stream_prev_[id]; }
  // Every explicit dependency (depend and arrow), (before, after), in the order they were added.
  [[nodiscard]] const std::vector<std::pair<TaskId, TaskId>>& edges() const { return edges_; }
  // The arrow() pairs (send, recv), in the order they were added.
  [[nodiscard]] const std::vector<std::pair<TaskId, TaskId>>& arrows() const { return arrows_; }
  // One more than the highest rank of any task (0 when empty).
  [[nodiscard]] int num_ranks() const { return static_cast<int>(last_on_lane_.size() / kNumStreams); }

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::vector<TaskSpec> tasks_;
  std::vector<TaskId> stream_prev_;
  std::vector<TaskId> last_on_lane_;  // per lane (rank * kNumStreams + stream): the last task added
  std::vector<std::pair<TaskId, TaskId>> edges_;
  std::vector<std::pair<TaskId, TaskId>> arrows_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, NameId, NameHash, std::equal_to<>> name_ids_;
};

// Flow-mode hook: decides when network tasks end (e.g. flows sharing links max-min fairly). The
// engine only calls it at non-decreasing times, never later than the next completion it reported.
class Network {
 public:
  virtual ~Network();
  // Network task `task` (with its TaskSpec::tag) became startable at `now`.
  virtual void start(TaskId task, std::uint32_t tag, Picos now) = 0;
  // The earliest (end time, task) among started, not yet completed tasks; nullopt when none. The
  // task may be kNoTask: an internal event of the network at that time (a collective's next step,
  // a flow that ends without ending its task), which the engine passes back through complete().
  virtual std::optional<std::pair<Picos, TaskId>> next_completion() = 0;
  // The engine retires `task` at `now`, the time next_completion reported for it; for kNoTask it
  // only advances the network to `now`.
  virtual void complete(TaskId task, Picos now) = 0;
};

// When every task started and ended. busy is per lane, indexed rank * kNumStreams + stream.
struct RunResult {
  Picos makespan = 0;        // latest end of any task; 0 for an empty graph
  std::vector<Picos> start;  // per task
  std::vector<Picos> end;    // per task
  std::vector<Picos> busy;   // per lane: total time its tasks ran (they never overlap)
  [[nodiscard]] Picos busy_time(int rank, StreamKind s) const {
    return busy[static_cast<size_t>(rank) * kNumStreams + static_cast<size_t>(s)];
  }
};

// Runs `graph` to completion. Completions are processed in order of (time, task id), with a network
// completion ranked by the (time, task) it reports; a task whose last dependency ends starts at once
// (its dependents are visited stream successor first, then edges in insertion order). Network tasks
// use `duration` when `network` is null. Throws tahoma::Error naming the tasks of a dependency cycle,
// or a task that would end beyond kMaxPicos (start + duration is checked, never wrapped).
RunResult run(const TaskGraph& graph, Network* network = nullptr);

// run() with its buffers kept from one call to the next: once warm, a run of a graph no larger than
// an earlier one allocates nothing. The result stays valid until the next call.
class Engine {
 public:
  const RunResult& run(const TaskGraph& graph, Network* network = nullptr);

 private:
  struct Running {  // a fixed-duration task in the min-heap of running tasks, keyed by (end, id)
    Picos end;
    TaskId id;
  };
  struct Node {  // one task's state during a run, packed into half a cache line
    Picos start = 0;
    Picos duration = 0;            // as given; once done, how long it ran
    std::uint32_t first_succ = 0;  // its successors are succ_[first_succ, next task's first_succ)
    std::uint32_t pending = 0;     // dependencies not yet ended
    std::uint32_t lane = 0;        // rank * kNumStreams + stream
    bool network = false;          // ended by the Network
    bool done = false;
  };
  friend RunResult run(const TaskGraph&, Network*);
  void run_into(const TaskGraph& graph, Network* network, RunResult& result);

  RunResult result_;
  std::vector<Node> nodes_;  // per task, plus a sentinel
  std::vector<TaskId> succ_;
  std::vector<Running> heap_;
};

// ---- Pipeline schedules (schedule.cpp) ----

// The schedules, their names and closed-form bubbles: tahoma/schedule.h (one registry shared with
// the plan and `tahoma list schedules`).
using tahoma::parse_pipeline_schedule;
using tahoma::pipeline_schedules;
using tahoma::PipelineSchedule;
using tahoma::PipelineScheduleInfo;

// One forward or backward pass of one micro-batch through one model chunk of a stage.
struct PipeOp {
  int microbatch = 0;
  int chunk = 0;
  bool backward = false;
  // With a schedule that splits the backward (zero-bubble): a W pass, the weight gradients of a
  // backward whose B pass (backward = true, weight = false) computed the input gradients.
  bool weight = false;
  friend bool operator==(const PipeOp&, const PipeOp&) = default;
};

// Micro-batches per group of the interleaved schedule: the smallest N >= p whose last group (m mod N)
// is empty or holds at least p micro-batches, the condition Megatron-LM checks for its
// microbatch_group_size_per_vp_stage (default p); a shorter last group can deadlock a stage's
// in-order stream. p when p divides m. Requires m >= p.
int interleaved_group_size(int stages, int microbatches);

// Per stage, the order in which it runs its ops. GPipe: all forwards, then all backwards, in
// micro-batch order. 1F1B (PipeDream-flush; Narayanan et al., SC'21, sec. 2.2.1): min(p-s-1, m)
// warm-up forwards, alternating forward/backward, then the remaining backwards. Interleaved 1F1B
// (same paper, sec. 2.2.2; Megatron-LM schedules.py, forward_backward_pipelining_with_interleaving):
// micro-batches in groups of N = interleaved_group_size(p, m), each group chunk by chunk, with
// min(2(p-s-1) + (v-1)N, vm) warm-up forwards; model chunk c of stage s is virtual stage c*p + s.
// Throws InputError for counts < 1, chunks != 1 with gpipe/1f1b, and interleaved with chunks > 1 and
// microbatches < stages; interleaved with one chunk is 1F1B (as in Megatron).
std::vector<std::vector<PipeOp>> pipeline_order(PipelineSchedule schedule, int stages, int chunks, int microbatches);

// How build_pipeline makes tasks. `op` adds the tasks of one op on `stage` and returns its (entry,
// exit) tasks; `send` may add the task carrying an activation (forward) or gradient (backward) from
// the sender's op `op` on from_stage to to_stage, or return nullopt for a free, instant hand-off.
struct PipelineCallbacks {
  std::function<std::pair<TaskId, TaskId>(TaskGraph&, int stage, const PipeOp&)> op;
  std::function<std::optional<TaskId>(TaskGraph&, int from_stage, int to_stage, const PipeOp&)> send;
};

// Calls `op` for every op of every stage (stage by stage, each in pipeline_order, so a stage's stream
// order follows the schedule), and `send` right after each op that has a next virtual stage. Wires
// forward k -> k+1 and backward k+1 -> k as exit -> send -> entry (arrow), or exit -> entry, and each
// backward after its own forward. Throws InputError as pipeline_order does.
void build_pipeline(TaskGraph& graph, PipelineSchedule schedule, int stages, int chunks, int microbatches,
                    const PipelineCallbacks& callbacks);

// ---- Trace (trace.cpp) ----

// Writes a Chrome trace-event JSON (opens in ui.perfetto.dev): one process per rank named
// rank_names[rank] (or "rank N"), one thread per stream, an "X" slice per task with ts/dur in
// microseconds printed exactly from picoseconds, and an "s"/"f" flow per arrow(). Deterministic.
void write_chrome_trace(const TaskGraph& graph, const RunResult& result, const std::vector<std::string>& rank_names,
                        std::ostream& out);

}  // namespace tahoma::engine
