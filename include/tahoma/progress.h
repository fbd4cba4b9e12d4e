// Progress of long library work (a layout search, a validation file, the serving searches, Monte Carlo
// runs). Library code reports through a ProgressFn and never prints (STYLE.md 6); the command line
// turns the calls into a line on a terminal (src/cli/progress.h).
#pragma once

#include <functional>

namespace tahoma {

// Called with (units done, units in all) as work finishes, from any thread but never from two at
// once unless the caller says so; empty when no one is watching. `done == total` means finished.
using ProgressFn = std::function<void(long long done, long long total)>;

}  // namespace tahoma
