// `tahoma serve`: LLM inference serving on a system (include/tahoma/serve.h, docs/serving.md).
// Private to the cli folder; main.cpp registers it and calls run() when it was chosen.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "tahoma/progress.h"

namespace tahoma::cli {

class ServeCommand {
 public:
  // Adds the `serve` subcommand and its flags to `app` (not --format / -o, which main adds).
  explicit ServeCommand(CLI::App& app);
  [[nodiscard]] CLI::App* app() const { return cmd_; }
  // Resolves the flags, simulates and renders in `format` (table or json); an SLO rate search
  // reports to `progress`. Throws InputError.
  [[nodiscard]] std::string run(const std::string& format, ProgressFn progress = {}) const;

  struct Options;

 private:
  CLI::App* cmd_;
  std::shared_ptr<Options> o_;
};

// The serving comparison `tahoma demo` prints after the training one: Llama 3.1 405B at one SLO on
// a Trn3 UltraServer, a GB300 NVL72 and an Ironwood slice (tokens/s per chip, TTFT and TPOT p99,
// energy and $ per million output tokens).
std::string serving_demo_table();

}  // namespace tahoma::cli
