// A scenario = system (+ chip count and overrides) + model + training settings + plan, from a
// scenario YAML and/or command-line flags. The fully resolved scenario is embedded in every result.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tahoma/plan.h"

namespace tahoma {

struct Scenario {
  std::string system_ref;  // preset name or path as given
  std::string stack_ref;   // stack preset name or path as given (the system's default when none)
  std::vector<std::string> system_overrides;
  std::string model_ref;
  System system;
  Model model;
  Training training;
  Plan plan;
  Stack stack;  // the software stack: the plan's software defaults and the per-op host costs
};

// Values that may come from a scenario file and be overridden by flags; unset = keep file/default.
struct ScenarioInput {
  std::optional<std::string> file;  // scenario YAML
  std::optional<std::string> system;
  std::optional<std::string> stack;  // --stack / the scenario's stack: key
  std::vector<std::string> overrides;
  std::optional<int> chips;
  std::optional<std::string> model;
  std::optional<int> seq, global_batch, micro_batch, tp, pp, vpp, dp, cp, ep, etp, zero;
  std::optional<std::string> recompute;
  std::optional<std::string> precision;
  std::optional<bool> sequence_parallel;
  std::optional<bool> flash_attention;
  std::optional<bool> account_for_embedding_and_loss;
  std::optional<std::string> grad_reduce_dtype;  // fp32 | bf16
  std::optional<bool> tp_comm_overlap;
  std::optional<int> recompute_num_layers;
  std::optional<double> moe_imbalance;
  std::optional<bool> uneven_pipeline;
  std::optional<bool> ep_comm_overlap;
  std::optional<std::string> cp_comm;
  std::optional<std::string> grouped_gemm;  // per-gemm | single-launch
  std::optional<bool> offload_activations;
  std::optional<std::string> selective_recompute;  // core-attention | offload-layer-inputs | op-level
  std::optional<std::string> pp_schedule;  // a name of tahoma/schedule.h
};

// Loads, merges and validates. Throws InputError naming the file or flag at fault. Without
// `check_plan` the plan's degrees are left as given (a search chooses them).
Scenario resolve_scenario(const ScenarioInput& input, bool check_plan = true);

}  // namespace tahoma
