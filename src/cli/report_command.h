// `tahoma report`: one self-contained HTML page of a result, with plots (docs/report.md). Private to the
// cli folder; main.cpp registers it and calls run() when it was chosen.
//
//   tahoma report simulate|search|compare|validate|serve [that command's flags] [-o report.html]
//   tahoma report --from RESULT.json [--trace TRACE.json] [-o report.html]
//
// The first form runs this same binary with the command's flags plus --format json (and, for simulate,
// --trace to a temporary file), so every flag, default and error message is the command's own. The page
// is drawn by python/tahoma/report.py (matplotlib) under $TAHOMA_PYTHON, else /usr/bin/python3 (where
// Debian's python3-matplotlib lives), else python3 on PATH; the HTML goes through write_output.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tahoma::cli {

class ReportCommand {
 public:
  explicit ReportCommand(CLI::App& app);
  [[nodiscard]] CLI::App* app() const { return cmd_; }
  // Writes the report; returns the exit status (0, or the failed child command's status, whose message
  // it has printed). Throws InputError for bad flags, a missing Python, matplotlib or report.py.
  [[nodiscard]] int run() const;

  struct Options;

 private:
  CLI::App* cmd_;
  std::shared_ptr<Options> o_;
};

// The commands `tahoma report KIND` runs.
const std::vector<std::string>& report_kinds();

// `arg` quoted for a POSIX shell when it needs it (the reproduce command the report prints).
std::string shell_quote(const std::string& arg);

}  // namespace tahoma::cli
