// `tahoma search --serve` (include/tahoma/serve.h search_serving, docs/serving.md 11): the serving
// flags it adds to the `search` subcommand and the run that resolves them. Private to the cli folder.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "tahoma/progress.h"
#include "tahoma/scenario.h"
#include "tahoma/search.h"

namespace tahoma::cli {

class ServeSearchCommand {
 public:
  // Adds --serve and the serving flags to `search` (its --system, --chips, --model, --stack, --set,
  // --precision, --tp, --pp, --ep, --top and --threads are shared with the training search).
  explicit ServeSearchCommand(CLI::App* search);
  // Whether --serve was given.
  [[nodiscard]] bool enabled() const;
  // Ranks serving layouts and renders them in `format` (table or json); reports the layouts
  // simulated to `progress`. Throws InputError.
  [[nodiscard]] std::string run(const ScenarioInput& in, const SearchOptions& search, const std::string& format,
                                ProgressFn progress = {}) const;

  struct Options;

 private:
  CLI::App* search_;
  std::shared_ptr<Options> o_;
};

}  // namespace tahoma::cli
