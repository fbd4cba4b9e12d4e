// Pipeline schedules (engine.h): the per-stage op order of GPipe, 1F1B, interleaved 1F1B and
// zero-bubble (ZB-H1), and
// the builder that turns an order into tasks wired stage to stage.
#include <fmt/format.h>

#include <algorithm>

#include "tahoma/engine.h"
#include "tahoma/error.h"

namespace tahoma::engine {

namespace {

void validate(PipelineSchedule schedule, int stages, int chunks, int microbatches) {
  const char* where = "pipeline";
  if (stages < 1) throw InputError(where, "stages", fmt::format("must be at least 1 (got {})", stages));
  if (chunks < 1) throw InputError(where, "chunks", fmt::format("must be at least 1 (got {})", chunks));
  if (microbatches < 1) {
    throw InputError(where, "microbatches", fmt::format("must be at least 1 (got {})", microbatches));
  }
  if (schedule == PipelineSchedule::kDualPipe) {
    throw InputError(where, "schedule",
                     "dualpipe is priced by the closed form only (its bidirectional order is not played by the "
                     "event engine); use --engine closed-form");
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

// ZB-H1 (Qi et al., ICLR 2024, Sec. 3.1), every stage's order at once: the backward runs as B
// (input gradients, on the critical path between stages) and W (weight gradients, which nothing
// downstream waits for). The order is the one a greedy list schedule takes when F = B = W, the
// case of the paper's handcrafted schedule: each stage, when free, runs a ready B first, else a
// ready F while it holds fewer than 1F1B's p - s forwards without their B (1F1B's activation
// memory), else a deferred W; and it runs a W first when p - 1 are already deferred. Its bubble
// is (p - 1)(F + B - W) for F = B = W (EngineClosedForm.ZeroBubbleH1Makespan).
std::vector<std::vector<PipeOp>> zero_bubble_h1(int stages, int microbatches) {
  const auto p = static_cast<size_t>(stages);
  const auto m = static_cast<size_t>(microbatches);
  constexpr long long kNotYet = -1;
  // Unit-time arrival of each micro-batch's activation (F) and gradient (B) at each stage.
  std::vector<long long> f_ready(p * m, kNotYet), b_ready(p * m, kNotYet);
  for (size_t mb = 0; mb < m; ++mb) f_ready[mb] = 0;
  std::vector<size_t> nf(p, 0), nb(p, 0), nw(p, 0);
  std::vector<long long> free_at(p, 0);
  std::vector<std::vector<PipeOp>> orders(p);
  for (auto& order : orders) order.reserve(3 * m);
  size_t finished = 0;  // stages whose every W has run
  for (long long now = 0; finished < p; ++now) {
    for (size_t s = 0; s < p; ++s) {
      if (free_at[s] > now || nw[s] == m) continue;
      const size_t deferred = nb[s] - nw[s];
      const bool b_ok = nb[s] < nf[s] && b_ready[s * m + nb[s]] != kNotYet && b_ready[s * m + nb[s]] <= now;
      const bool f_ok = nf[s] < m && f_ready[s * m + nf[s]] != kNotYet && f_ready[s * m + nf[s]] <= now &&
                        nf[s] - nb[s] < p - s;
      const int mb_w = static_cast<int>(nw[s]);
      if (deferred > 0 && (deferred >= p || (!b_ok && !f_ok))) {
        orders[s].push_back({mb_w, 0, true, true});
        if (++nw[s] == m) ++finished;
      } else if (b_ok) {
        orders[s].push_back({static_cast<int>(nb[s]), 0, true});
        if (s > 0) b_ready[(s - 1) * m + nb[s]] = now + 1;
        ++nb[s];
      } else if (f_ok) {
        orders[s].push_back({static_cast<int>(nf[s]), 0, false});
        if (s + 1 < p) {
          f_ready[(s + 1) * m + nf[s]] = now + 1;
        } else {
          b_ready[s * m + nf[s]] = now + 1;  // the last stage's backward follows its forward
        }
        ++nf[s];
      } else {
        continue;
      }
      free_at[s] = now + 1;
    }
  }
  return orders;
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
    } else if (schedule == PipelineSchedule::kZeroBubble) {
      if (stage == 0) orders = zero_bubble_h1(stages, microbatches);
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

  // W passes (schedules that split the backward): each after its own B pass, no hand-off.
  std::vector<TaskId> weight_entry(slots / 2, kNoTask);
  for (int stage = 0; stage < stages; ++stage) {
    for (const PipeOp& op : orders[static_cast<size_t>(stage)]) {
      const int vstage = op.chunk * stages + stage;
      const auto [op_entry, op_exit] = callbacks.op(graph, stage, op);
      TAHOMA_ASSERT(op_entry < graph.size() && op_exit < graph.size());
      if (op.weight) {
        weight_entry[key(vstage, op.microbatch, false)] = op_entry;
        continue;
      }
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
        if (backward && weight_entry[key(vstage, mb, false)] != kNoTask) {
          graph.depend(exit[k], weight_entry[key(vstage, mb, false)]);
        }
      }
    }
  }
}

}  // namespace tahoma::engine
