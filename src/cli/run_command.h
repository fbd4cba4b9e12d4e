// `tahoma run`: a whole training run with failures (include/tahoma/run.h, docs/run.md).
// Private to the cli folder; main.cpp registers it, adds the scenario flags to it (the same as
// simulate's) and calls run() when it was chosen.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "tahoma/scenario.h"
#include "tahoma/search.h"

namespace tahoma::cli {

class RunCommand {
 public:
  // Adds the `run` subcommand and its run-level flags to `app` (not the scenario flags, which main
  // adds into scenario(), nor --format / -o).
  explicit RunCommand(CLI::App& app);
  [[nodiscard]] CLI::App* app() const { return cmd_; }
  [[nodiscard]] ScenarioInput& scenario();
  // Resolves the scenario, simulates one step (event engine unless --engine closed-form), runs the run
  // model and renders in `format` (table or json). Throws InputError.
  [[nodiscard]] std::string run(const std::string& format) const;

  struct Options;

 private:
  CLI::App* cmd_;
  std::shared_ptr<Options> o_;
};

// "15T", "300B", "1.5e12", "20M", "4K": a token count in [kMinTokens, kMaxTokens]; InputError naming
// `flag` otherwise.
double parse_token_count(const std::string& text, const char* flag);

// `tahoma compare --tokens N [--rank-by time|cost]`: each system's best layout run for N tokens with
// failures (the fastest recovery strategy), ranked by days or by cost to train (systems without a
// price last), appended to the comparison `text` (table) or added to it under "run_ranking" (json).
std::string with_run_ranking(const std::string& text, const std::vector<Scenario>& bases,
                             const std::vector<Comparison>& rows, const std::string& tokens, const std::string& rank_by,
                             const std::string& format);

// The run-level comparison `tahoma demo` prints last: Llama 3.1 405B for 15T tokens on the Trn3,
// Ironwood (tpu-v7) and GB300 demo scenarios, with failures (days, ETTR, cost, energy).
std::string run_demo_table();

}  // namespace tahoma::cli
