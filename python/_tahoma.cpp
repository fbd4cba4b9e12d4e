// The compiled half of the Python module (python/tahoma/__init__.py is the other): runs the tahoma
// command line in process (src/cli/command_line.h) and hands back its exit status and text, so a
// Python call and the command it stands for share every flag, default, check and message.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sstream>
#include <string>
#include <vector>

#include "command_line.h"

namespace py = pybind11;

namespace {

// (exit status, result text, error text, help text) of `tahoma ARGS...`; the texts as bytes (UTF-8
// for everything the command writes), decoded by __init__.py.
py::tuple run(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"tahoma"};
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(a.c_str());
  std::string captured;
  std::ostringstream err, out;
  int status = 0;
  {
    // A search may run for minutes on every core; other Python threads keep running meanwhile.
    const py::gil_scoped_release release;
    status = tahoma::cli::run_command_line(static_cast<int>(argv.size()), argv.data(),
                                           tahoma::cli::CommandIo{&captured, &err, &out});
  }
  return py::make_tuple(status, py::bytes(captured), py::bytes(err.str()), py::bytes(out.str()));
}

}  // namespace

PYBIND11_MODULE(_tahoma, m) {
  m.doc() = "The tahoma command line, in process (use the functions of the tahoma package)";
  m.def("run", &run, py::arg("args"),
        "run(args) -> (status, stdout, stderr, help): `tahoma ARGS...` in this process");
  m.attr("exit_input") = tahoma::cli::kExitInput;
  m.attr("exit_internal") = tahoma::cli::kExitInternal;
}
