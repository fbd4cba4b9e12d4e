// The training-step model (docs/design.md sections 4-6): prices the lowered per-rank program with the
// compute and collective models, composes a 1F1B / interleaved-1F1B pipeline, overlaps data-parallel
// gradient traffic with backward as Megatron and FSDP do, and reports throughput, MFU, memory.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "tahoma/comm.h"
#include "tahoma/memory.h"
#include "tahoma/scenario.h"

namespace tahoma {

// Per-step traffic and time of one kind of communication on the representative rank.
struct CommSummary {
  std::string name;   // "tp.all_gather", "dp.reduce_scatter", ...
  std::string group;  // tp, cp, pp, dp, ep
  std::string collective;
  long long group_size = 1;
  int calls_per_step = 0;
  Bytes bytes_per_step{0};
  Seconds time_per_step{0};  // if nothing overlapped it
  std::string algorithm;
};

struct StepBreakdown {
  Seconds compute{0};        // matrix and memory-bound kernels on the critical rank
  Seconds host_bound{0};     // part of compute: the chip waiting for the host to issue expert GEMMs
  Seconds offload_bound{0};  // part of compute: the chip waiting for offloaded checkpoints (host link)
  Seconds exposed_comm{0};   // communication not hidden behind compute
  Seconds bubble{0};         // pipeline fill and drain
  Seconds optimizer{0};      // optimizer step (memory-bound Adam update)
  Seconds tp_comm{0}, cp_comm{0}, pp_comm{0}, dp_comm{0}, ep_comm{0};  // exposed, by group
};

struct StepResult {
  Seconds step_time{0};
  double tokens_per_s = 0;
  double tokens_per_s_per_chip = 0;
  double mfu = 0;
  double hfu = 0;
  double model_flops_per_token = 0;
  Flops hardware_flops_per_step{0};
  int microbatches = 0;
  StepBreakdown breakdown;
  MemoryBreakdown memory;
  std::vector<CommSummary> comm;
  // Energy (docs/energy.md): the chip's power from what the step keeps busy; IT adds the host and
  // network power per chip; facility multiplies IT by the system's PUE (1.0 without one).
  ChipActivity activity;
  double power_watts_per_chip = 0;            // the chip alone
  double energy_joules_per_step = 0;          // the chips alone, all of them
  double it_power_watts_per_chip = 0;         // chip + host + network
  double facility_power_watts_per_chip = 0;   // IT x PUE
  double energy_it_joules_per_step = 0;       // all chips' IT power x step time
  double energy_facility_joules_per_step = 0;  // IT energy x PUE
  std::optional<double> cost_usd_per_million_tokens;
  std::vector<std::string> warnings;  // approximations this result rests on, for the user to judge
  std::string engine;                 // "events" or "closed-form"
  std::string network;                // "analytical" or "flow"
  long long tasks = 0;                // tasks the engine ran, all runs together (0 for the closed form)
};

// How a step is composed: a discrete-event simulation of the representative replica's task graph
// (pipeline bubbles and overlap emerge; the default), or the closed-form flow-shop formula (the
// allocation-free fast path for searches).
enum class StepEngine { kEvents, kClosedForm };

struct StepOptions {
  StepEngine engine = StepEngine::kEvents;
  NetworkMode network = NetworkMode::kAnalytical;
  std::ostream* trace = nullptr;  // Chrome/Perfetto trace of the simulated ranks (events only)
  // Events only: simulate every micro-batch instead of extrapolating a long step from a few
  // periods of its schedule (docs/model.md, "Event engine"). Set by a trace; tests compare both.
  bool every_microbatch = false;
};

// Model FLOPs per token, PaLM convention (Chowdhery et al. 2022, App. B): 6 N + 6 L a s (dqk + dv),
// N = active matrix parameters excluding the input embedding lookup; attention counted non-causal.
double model_flops_per_token(const Model& model, int seq);

StepResult simulate_step(const Scenario& scenario, const StepOptions& options = {});
StepResult simulate_step_closed_form(const Scenario& scenario);

// What the event engine adds to the closed-form result of the same scenario (simulate_step with the
// event engine = the closed form's result with these fields set and the metrics recomputed from the
// step time). Lets a search move an event result between processes as a few numbers.
struct EventsOutcome {
  Seconds step_time{0};
  StepBreakdown breakdown;
  long long tasks = 0;
  std::string network;
};
EventsOutcome events_outcome(const StepResult& events_result);
// Rebuilds the event engine's result from the closed form's (`closed_form`, for the same scenario)
// and its outcome: equal, field for field, to what simulate_step returned in the process that ran it.
StepResult with_events_outcome(const Scenario& scenario, StepResult closed_form, const EventsOutcome& outcome);

// The fast path of layout searches: the closed form with each layout's per-layer prices cached by
// the plan fields they depend on (tp, cp, ep, micro-batch, recompute and the kernel flags; pp too
// for expert parallelism, whose group strides over the pipeline), one collective model for the
// system, and no per-step communication summary. evaluate(plan) equals simulate_step_closed_form
// of the base scenario with that plan in every field but `comm` and `warnings`. Not thread-safe:
// one evaluator per thread.
class StepEvaluator {
 public:
  explicit StepEvaluator(const Scenario& base);
  ~StepEvaluator();
  StepEvaluator(const StepEvaluator&) = delete;
  StepEvaluator& operator=(const StepEvaluator&) = delete;

  // `plan` must be valid for the base scenario (validate_plan accepted it; dp set).
  StepResult evaluate(const Plan& plan);
  [[nodiscard]] size_t cached_layer_prices() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tahoma
