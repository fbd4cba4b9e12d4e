// `tahoma report` (report_command.h): runs a command for its JSON, then python/tahoma/report.py for the page.
#include "report_command.h"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "output.h"
#include "tahoma/error.h"

extern char** environ;  // NOLINT: POSIX, passed to the commands the report runs

#ifndef TAHOMA_PYTHON_DIR
#define TAHOMA_PYTHON_DIR "python"
#endif

namespace tahoma::cli {

struct ReportCommand::Options {
  std::string output;
  std::string from;
  std::string trace;
};

namespace {

namespace fs = std::filesystem;

// Layouts a search report asks for when --top is not given: enough points for the Pareto plot (the
// table lists them all, the bar plots the best ten). Compare asks for fewer per system.
constexpr const char* kSearchTop = "30";
constexpr const char* kCompareTop = "10";

const char* const kInstallHint =
    "install it with `apt-get install python3-matplotlib` (Debian; scripts/install-deps.sh does), or set "
    "TAHOMA_PYTHON to a Python 3 that has matplotlib";

// A private directory for the command's JSON, the trace and the page; removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/tahoma-report-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw InputError(pattern, "", fmt::format("cannot create a temporary directory: {} (set TMPDIR to a "
                                                "writable directory)", std::strerror(errno)));
    }
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  [[nodiscard]] std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct Spawned {
  int spawn_errno = 0;  // nonzero: the program could not be started
  int exit_code = 0;
};

// Runs argv[0] (a path, or a name looked up on PATH) with this process's environment and standard
// streams, and waits for it.
Spawned spawn_and_wait(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));  // NOLINT: posix_spawn's signature
  argv.push_back(nullptr);
  pid_t pid = 0;
  const bool by_path = args[0].find('/') != std::string::npos;
  const int err = by_path ? ::posix_spawn(&pid, args[0].c_str(), nullptr, nullptr, argv.data(), environ)
                          : ::posix_spawnp(&pid, args[0].c_str(), nullptr, nullptr, argv.data(), environ);
  if (err != 0) return {err, 0};
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(fmt::format("waitpid: {}", std::strerror(errno)));
  }
  if (WIFSIGNALED(status)) {
    throw std::runtime_error(fmt::format("{} ended by signal {}", args[0], WTERMSIG(status)));
  }
  return {0, WEXITSTATUS(status)};
}

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0 && !fs::is_directory(path); }

// The Python that draws the page: $TAHOMA_PYTHON, else /usr/bin/python3 (Debian's python3-matplotlib is
// installed for it, while python3 on PATH may be another interpreter, e.g. pyenv's), else python3 on PATH.
std::string find_python() {
  if (const char* env = std::getenv("TAHOMA_PYTHON"); env != nullptr && *env != '\0') return env;
  if (executable("/usr/bin/python3")) return "/usr/bin/python3";
  return "python3";
}

// report.py (with plots.py beside it): in the source tree this binary was built from (as data/ is found),
// else next to the binary (BIN/../python/tahoma or an installed BIN/../share/tahoma/python/tahoma).
std::string find_report_script(std::vector<std::string>& looked) {
  std::vector<fs::path> dirs{fs::path(TAHOMA_PYTHON_DIR) / "tahoma"};
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back(exe.parent_path().parent_path() / "python" / "tahoma");
    dirs.push_back(exe.parent_path().parent_path() / "share" / "tahoma" / "python" / "tahoma");
  }
  for (const auto& dir : dirs) {
    looked.push_back(dir.string());
    if (fs::is_regular_file(dir / "report.py", ec) && fs::is_regular_file(dir / "plots.py", ec)) {
      return (dir / "report.py").string();
    }
  }
  return "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) throw std::runtime_error("cannot read " + path);
  return text.str();
}

// An input file given to --from / --trace: "-" (standard input) or an existing regular file.
void check_input(const std::string& path, const char* flag) {
  if (path == "-") return;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec) || ::access(path.c_str(), R_OK) != 0) {
    throw InputError(flag, "", fmt::format("'{}' is not a readable file (expected the JSON of tahoma COMMAND "
                                           "--format json{})",
                                           path, std::string(flag) == "--trace" ? ", or of tahoma simulate "
                                                                                  "--trace FILE" : ""));
  }
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

const std::vector<std::string>& report_kinds() {
  static const std::vector<std::string> kinds{"simulate", "search", "compare", "validate", "serve"};
  return kinds;
}

std::string shell_quote(const std::string& arg) {
  const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || std::strchr("_./=,:+-@%", c) != nullptr;
  });
  if (plain) return arg;
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

ReportCommand::ReportCommand(CLI::App& app) : o_(std::make_shared<Options>()) {
  cmd_ = app.add_subcommand(
      "report",
      "one self-contained HTML report with plots: tahoma report simulate|search|compare|validate|serve "
      "[its flags] -o report.html, or tahoma report --from RESULT.json -o report.html");
  // Everything from the command name on is that command's (read in run()), so its flags need no copy here.
  cmd_->prefix_command();
  cmd_->add_option("-o,--output", o_->output, "write the HTML to FILE instead of stdout (also accepted after "
                                              "the command's flags)");
  cmd_->add_option("--from", o_->from,
                   "report a saved result instead of running a command: the JSON of simulate, search, compare, "
                   "validate or serve (--format json), or a JSON list of simulate results (scaling) or serve "
                   "results (latency against load); - for stdin");
  cmd_->add_option("--trace", o_->trace, "with --from: the simulate result's trace (tahoma simulate --trace FILE), "
                                         "drawn as the pipeline timeline");
  cmd_->footer(
      "Examples:\n"
      "  tahoma report simulate --system dgx-h100 --chips 64 --model llama3-8b --seq 4096 --global-batch 64 "
      "--tp 2 --pp 4 -o step.html\n"
      "  tahoma report validate validation/published_runs.csv -o validation.html\n"
      "  tahoma report --from search.json -o search.html\n"
      "Needs Python 3 with matplotlib ($TAHOMA_PYTHON, else /usr/bin/python3, else python3). docs/report.md.");
}

int ReportCommand::run() const {
  std::vector<std::string> rest = cmd_->remaining();
  std::string output = o_->output;
  std::string kind;
  std::vector<std::string> args;  // the command's own flags, as given
  bool help = false, has_top = false;
  if (!rest.empty()) {
    kind = rest.front();
    if (std::find(report_kinds().begin(), report_kinds().end(), kind) == report_kinds().end()) {
      const std::string near = nearest(kind, report_kinds());
      throw InputError("tahoma report", "",
                       fmt::format("'{}' is not a command it reports (expected simulate, search, compare, validate "
                                   "or serve, or --from RESULT.json){}",
                                   kind, near.empty() ? "" : fmt::format("; did you mean '{}'?", near)));
    }
    if (!o_->from.empty()) {
      throw InputError("--from", "", fmt::format("give either --from FILE or a command to run ('{}'), not both", kind));
    }
    if (!o_->trace.empty()) {
      throw InputError("--trace", "", "only with --from: a simulate report traces its own step");
    }
    for (size_t i = 1; i < rest.size(); ++i) {
      const std::string& a = rest[i];
      if (a == "-o" || a == "--output") {
        if (i + 1 >= rest.size()) throw InputError(a, "", "needs a file name (the HTML report to write)");
        output = rest[++i];
      } else if (starts_with(a, "--output=")) {
        output = a.substr(9);
      } else if (a == "--format" || starts_with(a, "--format=")) {
        throw InputError("--format", "", "tahoma report reads the command's JSON itself and writes HTML; drop --format");
      } else if (kind == "simulate" && (a == "--trace" || starts_with(a, "--trace="))) {
        throw InputError("--trace", "",
                         "tahoma report traces the step it plots into a temporary file; drop --trace (tahoma "
                         "simulate --trace FILE writes one to keep)");
      } else {
        help = help || a == "--help" || a == "-h";
        has_top = has_top || a == "--top" || starts_with(a, "--top=");
        args.push_back(a);
      }
    }
  } else if (o_->from.empty()) {
    throw InputError("tahoma report", "",
                     "nothing to report: give a command and its flags (tahoma report simulate --system ... -o "
                     "r.html) or a saved result (tahoma report --from RESULT.json -o r.html); see tahoma report "
                     "--help");
  }

  const std::string self = "/proc/self/exe";
  if (help) {  // `tahoma report simulate --help`: the command's own help, whose flags report accepts
    std::vector<std::string> cmd{self, kind};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return spawn_and_wait(cmd).exit_code;
  }

  // Everything the report needs is found before any simulation runs.
  const std::string python = find_python();
  std::vector<std::string> looked;
  const std::string script = find_report_script(looked);
  if (script.empty()) {
    std::string where;
    for (const auto& dir : looked) where += (where.empty() ? "" : ", ") + dir;
    throw InputError("tahoma report", "",
                     fmt::format("python/tahoma/report.py not found (looked in {}); run the tahoma binary built "
                                 "from a source tree, or copy python/tahoma next to it",
                                 where));
  }

  TempDir tmp;
  std::string result_path = o_->from, trace_path = o_->trace, command;
  if (!kind.empty()) {
    result_path = tmp.file("result.json");
    std::vector<std::string> cmd{self, kind};
    cmd.insert(cmd.end(), args.begin(), args.end());
    if ((kind == "search" || kind == "compare") && !has_top) {
      cmd.insert(cmd.end(), {"--top", kind == "search" ? kSearchTop : kCompareTop});
    }
    cmd.insert(cmd.end(), {"--format", "json", "-o", result_path});
    if (kind == "simulate") {
      trace_path = tmp.file("trace.json");
      cmd.insert(cmd.end(), {"--trace", trace_path});
    }
    const Spawned run = spawn_and_wait(cmd);
    if (run.spawn_errno != 0) {
      throw std::runtime_error(fmt::format("cannot run {} {}: {}", self, kind, std::strerror(run.spawn_errno)));
    }
    if (run.exit_code != 0) return run.exit_code;  // the command said why on stderr
    std::string line = "tahoma " + kind;
    for (const auto& a : args) line += " " + shell_quote(a);
    std::string report_line = "tahoma report " + kind;
    for (const auto& a : args) report_line += " " + shell_quote(a);
    if (!output.empty() && output != "-") report_line += " -o " + shell_quote(output);
    command = line + "\n" + report_line;
  } else {
    check_input(o_->from, "--from");
    if (!o_->trace.empty()) {
      check_input(o_->trace, "--trace");
      if (o_->trace == "-" && o_->from == "-") throw InputError("--trace", "", "--from already reads stdin");
    }
  }

  const std::string html_path = tmp.file("report.html");
  std::vector<std::string> py{python, script, result_path};
  if (!trace_path.empty()) py.insert(py.end(), {"--trace", trace_path});
  if (!command.empty()) py.insert(py.end(), {"--command", command});
  py.insert(py.end(), {"-o", html_path});
  const Spawned draw = spawn_and_wait(py);
  if (draw.spawn_errno != 0) {
    throw InputError(std::getenv("TAHOMA_PYTHON") != nullptr ? "TAHOMA_PYTHON" : "tahoma report", "",
                     fmt::format("cannot run Python '{}' ({}): the report needs Python 3 with matplotlib; {}", python,
                                 std::strerror(draw.spawn_errno), kInstallHint));
  }
  if (draw.exit_code == 2) return 2;  // report.py said why (bad JSON, no matplotlib) on stderr
  if (draw.exit_code != 0) {
    throw std::runtime_error(fmt::format("{} {} exited with status {}", python, script, draw.exit_code));
  }
  write_output(read_file(html_path), output, "--output");
  return 0;
}

}  // namespace tahoma::cli
