// The run level (docs/run.md, issue 16): a whole training run of `tokens` tokens on a system whose
// components fail. Failure rates per component class come from data/reliability/*.yaml (each with
// its source); the job's mean time to interruption follows from how many of each component the job
// holds. Checkpoint/restart by Young (1974) and Daly (2006), four recovery strategies, a seeded
// Monte Carlo run, and time, chip-hours, cost and facility energy to train.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tahoma/step.h"

namespace tahoma {

// What one failure-rate entry is counted per: each chip, each host (server), each scale-out NIC,
// each scale-out link (cable + switch port), or once per job (independent of its size).
enum class ComponentUnit { kChip, kHost, kNic, kLink, kJob };
const char* to_string(ComponentUnit u);

struct ComponentRate {
  std::string name;  // the class: accelerator, hbm, host, nic, switch_link, software, planned, other
  ComponentUnit per = ComponentUnit::kChip;
  double rate_per_hour = 0;  // failures per component-hour
  std::string source;        // where the number comes from (or "estimate: ...")
};

// One family's failure and recovery data (a file of data/reliability/).
struct ReliabilityModel {
  std::string name;
  std::string file;
  std::string description;
  std::vector<std::string> families;  // System::family values this file serves
  bool estimate = false;              // no public per-component data: rates borrowed and said so
  std::string estimate_note;
  int chips_per_host = 8;
  double nics_per_chip = 1;   // scale-out NICs per chip
  double links_per_chip = 1;  // scale-out links (cable + switch port) per chip
  std::vector<ComponentRate> components;
  // Checkpoint storage per host (server), per direction.
  BytesPerSecond storage_write_per_host{0};
  BytesPerSecond storage_read_per_host{0};
  // Restart: detection, re-scheduling (a replacement node from the pool), a hot-spare swap,
  // collective-communicator initialization init_base + init_per_doubling x log2(chips), and the
  // time a failed node takes to be repaired and returned (spares and elastic capacity).
  Seconds detection{0};
  Seconds reschedule{0};
  Seconds spare_swap{0};
  Seconds init_base{0};
  Seconds init_per_doubling{0};
  Seconds repair{0};
};

// Loads a reliability file by name (data/reliability/NAME.yaml) or path. Throws InputError naming
// the file and key for a missing, unknown or out-of-range key.
ReliabilityModel load_reliability(const std::string& name_or_path);
// The data/reliability file whose `families` holds system.family; InputError if none does.
ReliabilityModel reliability_for(const System& system);

// How many of each unit a job of `chips` chips holds (hosts = ceil(chips / chips_per_host)).
struct ComponentCounts {
  double chips = 0, hosts = 0, nics = 0, links = 0;
};
ComponentCounts component_counts(const ReliabilityModel& model, long long chips);
// The job's interruption rate (per second): sum over classes of rate_i x count_i (a series system
// of independent exponential components; Kokolis et al. HPCA 2025 model jobs the same way).
double job_failure_rate(const ReliabilityModel& model, long long chips);

enum class RecoveryStrategy { kRestart, kSpares, kInMemory, kElastic };
const char* to_string(RecoveryStrategy s);
std::optional<RecoveryStrategy> parse_recovery_strategy(const std::string& s);
enum class CheckpointMode { kAsync, kSync };

struct RunOptions {
  double tokens = 15e12;
  std::optional<RecoveryStrategy> strategy;  // headline; unset = the fastest
  CheckpointMode checkpoint = CheckpointMode::kAsync;
  std::optional<BytesPerSecond> storage_bandwidth;  // per host, read and write; unset = the family's
  double spares = 0.01;                             // spare chips as a fraction of the job's chips
  int trials = 200;
  std::uint64_t seed = 1;
  std::optional<Seconds> checkpoint_interval;  // unset = Daly's optimum
};
// Ranges the options must lie in (checked by run_training; the CLI names its flags).
inline constexpr double kMinTokens = 1, kMaxTokens = 1e18;
inline constexpr int kMaxTrials = 100'000;

struct MonteCarloSummary {
  int trials = 0;
  double mean_days = 0, p10_days = 0, p50_days = 0, p90_days = 0;
};

struct StrategyResult {
  RecoveryStrategy strategy = RecoveryStrategy::kRestart;
  double mtti_s = 0;                 // mean time to interruption of the job
  double checkpoint_interval_s = 0;  // useful work between checkpoints
  double checkpoint_stall_s = 0;     // what one checkpoint costs the step stream
  double restart_s = 0;              // one recovery: detection .. load (+ lost step for elastic)
  double ettr = 0;                   // useful time / wall time
  double goodput = 0;                // MFU x ETTR
  double days_to_train = 0;
  double chip_hours = 0;  // every chip held, spares included
  std::optional<double> cost_usd;
  double energy_mwh = 0;  // facility (IT x PUE)
  double extra_chips = 0;            // spares held beside the job
  double extra_host_memory_bytes_per_chip = 0;  // in-memory replicas
  double capacity_lost = 0;          // elastic: mean share of replicas down
  std::vector<std::string> notes;    // what this strategy's figures rest on
  MonteCarloSummary monte_carlo;
};

struct RunResult {
  double tokens = 0;
  double step_time_s = 0;
  double tokens_per_s = 0;  // failure-free
  double mfu = 0;
  long long chips = 0;
  int dp = 1;
  double checkpoint_bytes_total = 0;     // weights + optimizer state, one copy
  double checkpoint_bytes_per_chip = 0;  // this chip's own shard (what async copies to host)
  ComponentCounts counts;
  std::vector<std::pair<std::string, double>> failures_per_day;  // by class, for this job
  double pue = 1.0;
  bool pue_from_preset = false;
  std::optional<double> price_usd_per_chip_hour;
  std::string reliability_name;
  bool reliability_estimate = false;
  std::string reliability_note;
  std::vector<StrategyResult> strategies;  // restart, spares, in-memory, elastic
  size_t headline = 0;                     // index into strategies
  std::vector<std::string> warnings;       // about the step the run rests on (a layout that does not fit)
  [[nodiscard]] const StrategyResult& best() const { return strategies.at(headline); }
};

// The run model over a simulated step (scenario + its StepResult). Pure: no printing, no exit.
// Cost is flat in chips: O(components + trials x min(failures, cap)) (docs/run.md).
RunResult run_training(const Scenario& scenario, const StepResult& step, const ReliabilityModel& model,
                       const RunOptions& options);

// Closed forms (docs/run.md, with sources):
// Young (1974): tau = sqrt(2 delta M).
double young_interval(double delta_s, double mtti_s);
// Daly (2006), Eq. 37: tau = sqrt(2 delta M) [1 + sqrt(delta/(2M))/3 + (delta/(2M))/9] - delta
// for delta < 2M, else M.
double daly_interval(double delta_s, double mtti_s);
// Daly (2006), Eq. 20: expected wall time of `work_s` useful seconds done in segments of tau + delta,
// each lost failure re-run after a restart R (which may fail too): M e^{R/M} (e^{(tau+delta)/M} - 1)
// work / tau.
double daly_wall_time(double work_s, double tau_s, double delta_s, double restart_s, double mtti_s);

// The Monte Carlo run of the same process (seeded, deterministic): wall-clock seconds of each trial.
// Restart-like strategies: n = work/tau segments of tau + delta; failures per segment and restarts
// drawn from their exact distributions (renewal-reward aggregation: past kExactEvents failures a
// trial sums them by their exact mean and variance). Elastic: no rollback, a pause per failure.
inline constexpr long long kExactEvents = 2000;
std::vector<double> monte_carlo_wall_times(double work_s, double tau_s, double delta_s, double restart_s,
                                           double mtti_s, int trials, std::uint64_t seed, bool rollback);

// Reports (src/run/run_report.cpp). JSON keys: mtti_s, checkpoint_interval_s, ettr, goodput,
// days_to_train, chip_hours, cost_usd (null without a price), energy_mwh (facility, with PUE), for the
// headline and per strategy under `strategies`, each with monte_carlo {mean, p10, p50, p90} days.
nlohmann::json run_json(const Scenario& scenario, const RunResult& result);
std::string run_table(const Scenario& scenario, const RunResult& result);

}  // namespace tahoma
