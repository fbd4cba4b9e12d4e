// Pipeline schedules (engine.h): the per-stage op order of GPipe, 1F1B and interleaved 1F1B, and
// the builder that turns an order into tasks wired stage to stage.
#include <fmt/format.h>

#include <algorithm>

#include "tahoma/engine.h"
#include "tahoma/error.h"

namespace tahoma::engine {

namespace {

constexpr PipelineScheduleInfo kSchedules[] = {
    {PipelineSchedule::kGPipe, "gpipe", "all forwards, then all backwards (Huang et al., GPipe, NeurIPS 2019)"},
    {PipelineSchedule::k1F1B, "1f1b",
     "one forward, one backward after a warm-up of p-s-1 forwards (PipeDream-flush; Narayanan et al., SC'21)"},
    {PipelineSchedule::kInterleaved1F1B, "interleaved-1f1b",
     "1F1B over v model chunks per stage, bubble divided by v (Megatron-LM; Narayanan et al., SC'21)"},
};

void validate(PipelineSchedule schedule, int stages, int chunks, int microbatches) {
  const char* where = "pipeline";
  if (stages < 1) throw InputError(where, "stages", fmt::format("must be at least 1 (got {})", stages));
  if (chunks < 1) throw InputError(where, "chunks", fmt::format("must be at least 1 (got {})", chunks));
  if (microbatches < 1) {
    throw InputError(where, "microbatches", fmt::format("must be at least 1 (got {})", microbatches));
  }
  if (schedule != PipelineSchedule::kInterleaved1F1B && chunks != 1) {
    throw InputError(where, "chunks",
                     fmt::format("schedule '{}' runs one model chunk per stage (got {}); use interleaved-1f1b",
                                 to_string(schedule), chunks));
  }
  if (schedule == PipelineSchedule::kInterleaved1F1B && chunks > 1 && microbatches < stages) {
    throw InputError(where, "microbatches",
                     fmt::format("interleaved-1f1b needs at least as many micro-batches as stages (got {} "
                                 "micro-batches for {} stages), as Megatron-LM requires",
                                 microbatches, stages));
  }
}

// 1F1B on one stage with `warmup` leading forwards (Narayanan et al., SC'21, fig. 4).
std::vector<PipeOp> one_f_one_b(int microbatches, int warmup) {
  std::vector<PipeOp> order;
  order.reserve(2 * static_cast<size_t>(microbatches));
  for (int mb = 0; mb < warmup; ++mb) order.push_back({mb, 0, false});
  for (int i = 0; i < microbatches - warmup; ++i) {
    order.push_back({warmup + i, 0, false});
    order.push_back({i, 0, true});
  }
  for (int mb = microbatches - warmup; mb < microbatches; ++mb) order.push_back({mb, 0, true});
  return order;
}

// Megatron-LM's schedule table (schedules.py, get_schedule_table): forward k of a stage runs
// (micro-batch, chunk) table[k]; micro-batches go in groups of `group`, each group chunk by chunk,
// and the last group takes all remaining micro-batches.
std::vector<PipeOp> schedule_table(int group, int chunks, int microbatches) {
  std::vector<PipeOp> table;
  table.reserve(static_cast<size_t>(chunks) * static_cast<size_t>(microbatches));
  for (int first = 0; first < microbatches; first += group) {
    const int last = first + group >= microbatches ? microbatches : first + group;
    for (int chunk = 0; chunk < chunks; ++chunk) {
      for (int mb = first; mb < last; ++mb) table.push_back({mb, chunk, false});
    }
    if (last == microbatches) break;
  }
  return table;
}

}  // namespace

const char* to_string(PipelineSchedule s) {
  for (const auto& info : kSchedules) {
    if (info.schedule == s) return info.name;
  }
  return "?";
}

std::optional<PipelineSchedule> parse_pipeline_schedule(std::string_view s) {
  for (const auto& info : kSchedules) {
    if (s == info.name) return info.schedule;
  }
  return std::nullopt;
}

std::span<const PipelineScheduleInfo> pipeline_schedules() {
  return kSchedules;
}

int interleaved_group_size(int stages, int microbatches) {
  TAHOMA_ASSERT(stages >= 1 && microbatches >= stages);
  int group = stages;
  while (microbatches % group != 0 && microbatches % group < stages) ++group;
  return group;
}

std::vector<std::vector<PipeOp>> pipeline_order(PipelineSchedule schedule, int stages, int chunks, int microbatches) {
  validate(schedule, stages, chunks, microbatches);
  std::vector<std::vector<PipeOp>> orders(static_cast<size_t>(stages));
  for (int stage = 0; stage < stages; ++stage) {
    auto& order = orders[static_cast<size_t>(stage)];
    if (schedule == PipelineSchedule::kGPipe) {
      order = one_f_one_b(microbatches, microbatches);
    } else if (schedule == PipelineSchedule::k1F1B || chunks == 1) {
      order = one_f_one_b(microbatches, std::min(stages - stage - 1, microbatches));
    } else {
      // forward_backward_pipelining_with_interleaving: warm-up, steady 1F1B, cool-down; backward k
      // runs table[k]'s micro-batch through the mirrored chunk v-1-c.
      const int group = interleaved_group_size(stages, microbatches);
      const std::vector<PipeOp> table = schedule_table(group, chunks, microbatches);
      const int total = chunks * microbatches;
      const int warmup = std::min(2 * (stages - stage - 1) + (chunks - 1) * group, total);
      auto forward = [&](int k) { return table[static_cast<size_t>(k)]; };
      auto backward = [&](int k) {
        const PipeOp& t = table[static_cast<size_t>(k)];
        return PipeOp{t.microbatch, chunks - 1 - t.chunk, true};
      };
      order.reserve(2 * static_cast<size_t>(total));
      for (int k = 0; k < warmup; ++k) order.push_back(forward(k));
      for (int k = 0; k < total - warmup; ++k) {
        order.push_back(forward(warmup + k));
        order.push_back(backward(k));
      }
      for (int k = total - warmup; k < total; ++k) order.push_back(backward(k));
    }
  }
  return orders;
}

void build_pipeline(TaskGraph& graph, PipelineSchedule schedule, int stages, int chunks, int microbatches,
                    const PipelineCallbacks& callbacks) {
  const auto orders = pipeline_order(schedule, stages, chunks, microbatches);
  TAHOMA_ASSERT(callbacks.op != nullptr);
  const int virtual_stages = stages * chunks;
  // Op slots indexed by (direction, virtual stage, micro-batch).
  auto key = [&](int vstage, int mb, bool backward) {
    return (static_cast<size_t>(backward ? virtual_stages : 0) + static_cast<size_t>(vstage)) *
               static_cast<size_t>(microbatches) +
           static_cast<size_t>(mb);
  };
  const size_t slots = 2 * static_cast<size_t>(virtual_stages) * static_cast<size_t>(microbatches);
  struct Incoming {
    TaskId task = kNoTask;  // the send task, or the sender's exit when the hand-off is free
    bool is_send = false;
  };
  std::vector<TaskId> entry(slots, kNoTask);
  std::vector<TaskId> exit(slots, kNoTask);
  std::vector<Incoming> incoming(slots);

  for (int stage = 0; stage < stages; ++stage) {
    for (const PipeOp& op : orders[static_cast<size_t>(stage)]) {
      const int vstage = op.chunk * stages + stage;
      const auto [op_entry, op_exit] = callbacks.op(graph, stage, op);
      TAHOMA_ASSERT(op_entry < graph.size() && op_exit < graph.size());
      const size_t k = key(vstage, op.microbatch, op.backward);
      entry[k] = op_entry;
      exit[k] = op_exit;
      const int next = op.backward ? vstage - 1 : vstage + 1;
      if (next < 0 || next >= virtual_stages) continue;
      const std::optional<TaskId> send =
          callbacks.send ? callbacks.send(graph, stage, next % stages, op) : std::optional<TaskId>();
      Incoming& in = incoming[key(next, op.microbatch, op.backward)];
      if (send) {
        TAHOMA_ASSERT(*send < graph.size());
        graph.depend(op_exit, *send);
        in = {*send, true};
      } else {
        in = {op_exit, false};
      }
    }
  }

  for (const bool backward : {false, true}) {
    for (int vstage = 0; vstage < virtual_stages; ++vstage) {
      for (int mb = 0; mb < microbatches; ++mb) {
        const size_t k = key(vstage, mb, backward);
        TAHOMA_ASSERT(entry[k] != kNoTask);
        const Incoming& in = incoming[k];
        if (in.task != kNoTask) {
          if (in.is_send) {
            graph.arrow(in.task, entry[k]);
          } else {
            graph.depend(in.task, entry[k]);
          }
        }
        if (backward) graph.depend(exit[key(vstage, mb, false)], entry[k]);
      }
    }
  }
}

}  // namespace tahoma::engine
