// The `tahoma` command line as a function: parse the arguments, run the command, render its result.
// The tahoma binary (tahoma_main.cpp) and the Python module (python/_tahoma.cpp) both call it, so a
// flag, a default or an error message can never differ between them.
#pragma once

#include <iosfwd>
#include <string>

namespace tahoma::cli {

// Exit statuses; only run_command_line chooses them.
constexpr int kExitOk = 0;
constexpr int kExitInternal = 1;
constexpr int kExitInput = 2;

struct CommandIo {
  // When set, the rendered result lands here instead of on standard output (-o FILE still writes the
  // file); `tahoma report`, which runs the binary again, is refused.
  std::string* captured = nullptr;
  // Error messages ("error: ..."), help and version text.
  std::ostream* err = nullptr;  // nullptr: std::cerr
  std::ostream* out = nullptr;  // help and version; nullptr: std::cout
};

// Runs `tahoma argv[1] ...` and returns the exit status: 0 success (a layout that does not fit is a
// result), 2 bad input (the message on io.err), 1 internal error.
int run_command_line(int argc, const char* const* argv, const CommandIo& io = {});

}  // namespace tahoma::cli
