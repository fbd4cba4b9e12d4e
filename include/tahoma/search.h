// Layout search (tahoma search, tahoma compare): enumerates TP x PP x VPP x CP x DP x EP x
// micro-batch x ZeRO stage x recompute for a model on a cluster, prunes by divisibility and memory
// before pricing, ranks every surviving layout with the closed-form fast path (StepEvaluator) on
// all cores, and re-simulates the best few with the event engine, which has the last word.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tahoma/step.h"

namespace tahoma {

enum class Objective { kTokensPerS, kCost, kMemoryHeadroom };
const char* to_string(Objective o);  // "tokens-per-s", "cost", "memory-headroom"
std::optional<Objective> parse_objective(std::string_view s);

// Restrictions of the space: a set field is held at that value (the user passed --tp 8, ...).
struct SearchSpace {
  std::optional<int> tp, pp, vpp, cp, ep, micro_batch, zero;
  std::optional<Recompute> recompute;
};

struct SearchOptions {
  Objective objective = Objective::kTokensPerS;
  int top = 5;          // results reported
  int resimulate = 10;  // best closed-form layouts re-simulated with the event engine (>= top)
  int threads = 0;      // 0: every core
  SearchSpace space;
  // Called now and then from one thread with (layouts done, layouts in all) while the search runs.
  std::function<void(long long, long long)> progress;
};

struct SearchResult {
  Plan plan;
  StepResult result;       // the event engine's (what `tahoma simulate` with this layout prints)
  StepResult closed_form;  // the fast path's, which ranked it
  double objective = 0;    // on a 0.01% grid, larger is better; ties go to less memory
};

struct SearchReport {
  long long considered = 0;                   // layouts in the enumerated space
  long long priced = 0;                       // layouts that passed pruning and were priced
  std::map<std::string, long long> rejected;  // reason -> layouts
  std::vector<SearchResult> results;          // best first, at most `top`
  std::string why;                            // why the winner won (what the runner-up lost to)
  int ranks = 1;                              // MPI processes that shared the work
};

// Searches the layouts of `base` (its system, chips, model and training; its plan's flags such as
// sequence parallelism and TP overlap are kept, its degrees are searched). Results are identical
// whatever the thread count and, under mpirun, the process count. Throws InputError when the
// objective needs data the system lacks (cost without a price).
SearchReport search(const Scenario& base, const SearchOptions& options);

// The same search on several systems with the same chips, model and training.
struct Comparison {
  std::string system;
  SearchReport report;
};
std::vector<Comparison> compare(const std::vector<Scenario>& bases, const SearchOptions& options);

// True when this process runs under mpirun with more than one rank (MPI is initialised on first
// use and finalised at exit); only rank 0 should print.
bool mpi_active();
int mpi_rank();

}  // namespace tahoma
