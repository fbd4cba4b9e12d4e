// The run model (include/tahoma/run.h, docs/run.md): checkpoint sizes from the memory model, Young
// and Daly's checkpoint interval and expected wall time, four recovery strategies and a seeded
// Monte Carlo run of the same process.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "tahoma/error.h"
#include "tahoma/run.h"

namespace tahoma {

namespace {

constexpr double kSecondsPerDay = 86400.0;
// A run longer than this (about 2,700 years) is reported as not finishing, with its figures capped
// here so that nothing prints inf: whole-job restart collapses when a restart outlasts the MTTI.
constexpr double kMaxWallSeconds = 1e6 * kSecondsPerDay;
// Elastic training gives up a replica per hardware failure until it is repaired; past this share of
// replicas down at once the job is reported at this share (and says so).
constexpr double kMaxCapacityLost = 0.9;
// Past this many expected failed restart attempts per failure the restart loop is summed by its
// moments instead of drawn attempt by attempt.
constexpr double kExactRestartAttempts = 50;

// xoshiro256** (Blackman and Vigna 2018) seeded by splitmix64: the same stream on every platform,
// unlike the std:: distributions, whose algorithms the standard leaves to the library.
class Rng {
 public:
  static constexpr double kPiece = 500;
  explicit Rng(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix(seed);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in (0, 1): 53 random bits, never 0.
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  double normal() {  // Box-Muller
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  // Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 by their boost u^(1/shape).
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(uniform(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = uniform();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }
  // Poisson(mean): inversion in pieces of at most 500 (e^{-500} is still a normal double; a sum of
  // Poissons is Poisson) up to kExactEvents, the normal approximation above (error O(1/sqrt(mean))).
  double poisson(double mean) {
    if (mean <= 0) return 0;
    if (mean > static_cast<double>(kExactEvents)) return std::max(0.0, std::round(mean + std::sqrt(mean) * normal()));
    double total = 0;
    for (; mean > 0; mean -= kPiece) {
      const double m = std::min(mean, kPiece);
      double k = 0, p = std::exp(-m), cdf = p;
      const double u = uniform();
      while (u > cdf && k < 10 * m + 100) {
        k += 1;
        p *= m / k;
        cdf += p;
      }
      total += k;
    }
    return total;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::array<std::uint64_t, 4> s_{};
};

// An exponential lifetime of rate `lambda` conditioned on ending before `len`: its mean and second
// moment, and a draw by inverting its CDF (1 - e^{-lambda x}) / (1 - e^{-lambda len}).
struct Truncated {
  double lambda, len, q;  // q = 1 - e^{-lambda len}
  Truncated(double l, double t) : lambda(l), len(t), q(-std::expm1(-l * t)) {}
  [[nodiscard]] double mean() const { return q > 0 ? 1.0 / lambda - len * std::exp(-lambda * len) / q : 0; }
  [[nodiscard]] double second() const {
    if (!(q > 0)) return 0;
    const double e = std::exp(-lambda * len);
    return (2.0 / (lambda * lambda) - e * (len * len + 2.0 * len / lambda + 2.0 / (lambda * lambda))) / q;
  }
  [[nodiscard]] double var() const { return std::max(0.0, second() - mean() * mean()); }
  double draw(Rng& rng) const { return -std::log1p(-rng.uniform() * q) / lambda; }
};

// One recovery of length R that a failure may interrupt (then it starts over): R plus G truncated
// lifetimes, G geometric with success e^{-lambda R}. E = (e^{lambda R} - 1) / lambda (Daly 2006).
struct Recovery {
  double lambda, r, g;  // g = E[G] = e^{lambda R} - 1
  Truncated y;
  Recovery(double l, double rr) : lambda(l), r(rr), g(std::expm1(l * rr)), y(l, rr) {}
  [[nodiscard]] double mean() const { return r + g * y.mean(); }
  [[nodiscard]] double var() const { return g * y.var() + g * (g + 1) * y.mean() * y.mean(); }
  double draw(Rng& rng) const {
    if (r <= 0) return 0;
    // Many attempts: a geometric sum of i.i.d. lifetimes is exponential in the limit (Renyi 1956),
    // with the exact mean g E[Y].
    if (g > kExactRestartAttempts) return r - std::log(rng.uniform()) * g * y.mean();
    double total = 0;
    for (;;) {
      const double t = -std::log(rng.uniform()) / lambda;
      if (t >= r) return total + r;
      total += t;
    }
  }
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double pos = p * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// P(Poisson(mean) >= k): the chance that every one of k spares is already in repair.
double poisson_tail(double mean, double k) {
  if (k <= 0) return 1.0;
  if (mean <= 0) return 0.0;
  if (mean > 1000) {  // normal approximation with continuity correction
    return 0.5 * std::erfc((k - 0.5 - mean) / std::sqrt(2.0 * mean));
  }
  double p = std::exp(-mean), cdf = 0;
  for (double i = 0; i < k; i += 1) {
    cdf += p;
    p *= mean / (i + 1);
    if (cdf >= 1.0) return 0.0;
  }
  return std::clamp(1.0 - cdf, 0.0, 1.0);
}

bool is_hardware(const ComponentRate& c) { return c.name != "software" && c.name != "planned"; }

}  // namespace

const char* to_string(RecoveryStrategy s) {
  switch (s) {
    case RecoveryStrategy::kRestart: return "restart";
    case RecoveryStrategy::kSpares: return "spares";
    case RecoveryStrategy::kInMemory: return "in-memory";
    case RecoveryStrategy::kElastic: return "elastic";
  }
  return "restart";
}

std::optional<RecoveryStrategy> parse_recovery_strategy(const std::string& s) {
  for (auto k : {RecoveryStrategy::kRestart, RecoveryStrategy::kSpares, RecoveryStrategy::kInMemory,
                 RecoveryStrategy::kElastic}) {
    if (s == to_string(k)) return k;
  }
  return std::nullopt;
}

// Young (1974), "A first order approximation to the optimum checkpoint interval", CACM 17(9).
double young_interval(double delta_s, double mtti_s) { return std::sqrt(2.0 * delta_s * mtti_s); }

// Daly (2006), "A higher order estimate of the optimum checkpoint interval for restart dumps",
// FGCS 22(3), Eq. 37.
double daly_interval(double delta_s, double mtti_s) {
  if (delta_s >= 2.0 * mtti_s) return mtti_s;
  const double x = delta_s / (2.0 * mtti_s);
  return std::sqrt(2.0 * delta_s * mtti_s) * (1.0 + std::sqrt(x) / 3.0 + x / 9.0) - delta_s;
}

// Daly (2006), Eq. 20: T_w = M e^{R/M} (e^{(tau+delta)/M} - 1) T_s / tau, in logs so that the
// collapse regime (R or tau + delta >> M) saturates at kMaxWallSeconds instead of overflowing.
double daly_wall_time(double work_s, double tau_s, double delta_s, double restart_s, double mtti_s) {
  const double log_wall = std::log(mtti_s) + restart_s / mtti_s + std::log(std::expm1((tau_s + delta_s) / mtti_s)) +
                          std::log(work_s / tau_s);
  return log_wall >= std::log(kMaxWallSeconds) ? kMaxWallSeconds : std::exp(log_wall);
}

std::vector<double> monte_carlo_wall_times(double work_s, double tau_s, double delta_s, double restart_s,
                                           double mtti_s, int trials, std::uint64_t seed, bool rollback) {
  std::vector<double> out;
  out.reserve(static_cast<size_t>(std::max(trials, 0)));
  Rng rng(seed);
  const double lambda = 1.0 / mtti_s;
  const Recovery rec(lambda, restart_s);
  const double seg = tau_s + delta_s;
  const Truncated lost(lambda, seg);
  const double n = work_s / tau_s;  // segments of tau useful seconds
  for (int trial = 0; trial < trials; ++trial) {
    double wall = 0, failures = 0;
    if (rollback) {
      // Failed attempts over n segments: a sum of n geometric counts with success p = e^{-lambda seg}
      // = negative binomial(n, p), drawn as Poisson(Gamma(n) (1 - p) / p).
      const double odds = std::expm1(lambda * seg);  // (1 - p) / p
      if (std::log(odds) + std::log(n) > std::log(1e15)) return std::vector<double>(trials, kMaxWallSeconds);
      failures = rng.poisson(rng.gamma(n) * odds);
      wall = n * seg;
    } else {
      failures = rng.poisson(lambda * work_s);
      wall = work_s;
    }
    if (failures <= static_cast<double>(kExactEvents)) {
      for (double k = 0; k < failures; k += 1) wall += (rollback ? lost.draw(rng) : 0.0) + rec.draw(rng);
    } else {
      // Renewal-reward aggregation: the sum of `failures` i.i.d. losses by its exact mean and
      // variance (central limit theorem; error O(1/sqrt(failures)) in the shape, none in the mean).
      const double mu = (rollback ? lost.mean() : 0.0) + rec.mean();
      const double var = (rollback ? lost.var() : 0.0) + rec.var();
      wall += std::max(0.0, failures * mu + std::sqrt(failures * var) * rng.normal());
    }
    out.push_back(std::min(wall, kMaxWallSeconds));
  }
  return out;
}

RunResult run_training(const Scenario& scenario, const StepResult& step, const ReliabilityModel& model,
                       const RunOptions& options) {
  if (!(options.tokens >= kMinTokens && options.tokens <= kMaxTokens)) {
    throw InputError("--tokens", "", fmt::format("{:g} is outside [{:g}, {:g}] tokens", options.tokens, kMinTokens, kMaxTokens));
  }
  if (!(options.spares >= 0 && options.spares <= 1)) {
    throw InputError("--spares", "", fmt::format("{:g} is not a fraction of the job's chips in [0, 1]", options.spares));
  }
  if (options.trials < 1 || options.trials > kMaxTrials) {
    throw InputError("--trials", "", fmt::format("{} is outside [1, {}]", options.trials, kMaxTrials));
  }
  if (!(step.tokens_per_s > 0) || !(step.step_time.value() > 0)) {
    throw InputError("scenario", "", "the step has no throughput (does the layout fit?); a run needs a step time");
  }
  const System& sys = scenario.system;
  RunResult r;
  r.tokens = options.tokens;
  r.step_time_s = step.step_time.value();
  r.tokens_per_s = step.tokens_per_s;
  r.mfu = step.mfu;
  r.chips = sys.total_chips();
  r.dp = std::max(1, scenario.plan.dp);
  r.pue = sys.pue.value_or(1.0);
  r.pue_from_preset = sys.pue.has_value();
  r.price_usd_per_chip_hour = sys.price_usd_per_chip_hour;
  r.reliability_name = model.name;
  r.reliability_estimate = model.estimate;
  r.reliability_note = model.estimate_note;
  r.counts = component_counts(model, r.chips);
  if (!step.memory.fits) {
    r.warnings.push_back(fmt::format("the layout needs {:.1f} GB per chip of {:.1f} GB: it does not fit as modelled",
                                     step.memory.total.value() / 1e9, step.memory.capacity.value() / 1e9));
  }
  const auto chips = static_cast<double>(r.chips);

  // The job's failure rate by class (per day), and the share that takes a node out (needs a spare).
  const double lambda = job_failure_rate(model, r.chips);
  double lambda_hw = 0;
  for (const auto& c : model.components) {
    ReliabilityModel one = model;
    one.components = {c};
    const double rate = job_failure_rate(one, r.chips);
    r.failures_per_day.emplace_back(c.name, rate * kSecondsPerDay);
    if (is_hardware(c)) lambda_hw += rate;
  }
  const double mtti = 1.0 / lambda;
  const double hw_share = lambda > 0 ? lambda_hw / lambda : 0;

  // Checkpoint bytes (docs/run.md): weights + optimizer state. Weights are replicated over dp x cp
  // below ZeRO-3, optimizer states below ZeRO-1 (Rajbhandari et al. 2020); one copy is saved, spread
  // over every chip (Megatron's fully parallel save). The chip's own shard is what async copies.
  const double replicas = static_cast<double>(r.dp) * scenario.plan.cp;
  const double own = step.memory.weights.value() + step.memory.optimizer.value();
  r.checkpoint_bytes_per_chip = own;
  r.checkpoint_bytes_total = step.memory.weights.value() * chips / (scenario.plan.zero >= 3 ? 1.0 : replicas) +
                             step.memory.optimizer.value() * chips / (scenario.plan.zero >= 1 ? 1.0 : replicas);
  const double write_share = r.checkpoint_bytes_total / chips;

  const double write_host = options.storage_bandwidth ? options.storage_bandwidth->value() : model.storage_write_per_host.value();
  const double read_host = options.storage_bandwidth ? options.storage_bandwidth->value() : model.storage_read_per_host.value();
  const double write_chip = write_host / model.chips_per_host, read_chip = read_host / model.chips_per_host;
  const double host_link = sys.chip.host_bandwidth.value();
  const double scale_out = sys.scale_out.bandwidth.value() * sys.scale_out.efficiency;

  // Communicator initialization: init_base + init_per_doubling x log2(chips) (tree rendezvous; an
  // estimate stated in data/reliability/).
  const double init = model.init_base.value() + model.init_per_doubling.value() * std::log2(std::max(1.0, chips));
  const double work = options.tokens / step.tokens_per_s;  // failure-free seconds

  // Facility power per chip: busy at the step's power, idle otherwise (restarts, stalls, spares).
  const double busy_w = step.facility_power_watts_per_chip;
  const double idle_w = power_per_chip(sys, chip_power(sys, ChipActivity{}, 0.0)).facility_w;

  struct Target {
    double stall, min_interval;
    std::vector<std::string> notes;
  };
  // A checkpoint to a target reached at `target_bw` per chip: sync stalls for the write; async
  // stalls for the copy to host memory and writes in the background (the next checkpoint waits
  // for it: tau >= the write).
  auto checkpoint_to = [&](double bytes, double target_bw) {
    Target t;
    const double write = bytes / target_bw;
    if (options.checkpoint == CheckpointMode::kAsync && host_link > 0) {
      t.stall = own / host_link;
      t.min_interval = write;
    } else {
      if (options.checkpoint == CheckpointMode::kAsync) {
        t.notes.push_back("the preset has no host link bandwidth (chip.host_bandwidth): async counted as sync");
      }
      t.stall = write;
      t.min_interval = 0;
    }
    return t;
  };
  auto interval = [&](const Target& t) {
    if (options.checkpoint_interval) return std::max(options.checkpoint_interval->value(), r.step_time_s);
    // A checkpoint is taken between steps: never more often than once a step.
    return std::max({t.min_interval, daly_interval(t.stall, mtti), r.step_time_s});
  };

  const double load_storage = write_share / read_chip;
  auto finish = [&](StrategyResult& s, double wall, bool rollback, double work_eff) {
    s.mtti_s = mtti;
    if (wall >= kMaxWallSeconds) {
      s.notes.push_back(fmt::format("does not finish: a recovery ({:.0f} s) or a segment outlasts the MTTI ({:.0f} s)",
                                    s.restart_s, mtti));
    }
    s.ettr = work / wall;
    s.goodput = r.mfu * s.ettr;
    s.days_to_train = wall / kSecondsPerDay;
    s.chip_hours = (chips + s.extra_chips) * wall / 3600.0;
    if (r.price_usd_per_chip_hour) s.cost_usd = s.chip_hours * *r.price_usd_per_chip_hour;
    // Busy for the failure-free work (chips x work chip-seconds, also when elastic spreads it over
    // the replicas still up), idle the rest of the wall time; spares idle throughout.
    const double busy_chip_s = chips * work;
    const double joules = busy_w * busy_chip_s + idle_w * ((chips + s.extra_chips) * wall - busy_chip_s);
    s.energy_mwh = joules / 3.6e9;
    const std::uint64_t seed = options.seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(s.strategy) + 1;
    auto walls = monte_carlo_wall_times(work_eff, rollback ? s.checkpoint_interval_s : work_eff,
                                        rollback ? s.checkpoint_stall_s : 0.0, s.restart_s, mtti, options.trials, seed,
                                        rollback);
    double sum = 0;
    for (double w : walls) sum += w;
    std::sort(walls.begin(), walls.end());
    s.monte_carlo = {options.trials, sum / static_cast<double>(walls.size()) / kSecondsPerDay,
                     percentile(walls, 0.1) / kSecondsPerDay, percentile(walls, 0.5) / kSecondsPerDay,
                     percentile(walls, 0.9) / kSecondsPerDay};
  };

  // Whole-job restart from storage: every failure re-schedules the job's failed node (software
  // failures restart in place), re-initializes the communicators and reloads the checkpoint.
  const Target storage = checkpoint_to(write_share, write_chip);
  {
    StrategyResult s;
    s.strategy = RecoveryStrategy::kRestart;
    s.notes = storage.notes;
    s.checkpoint_stall_s = storage.stall;
    s.checkpoint_interval_s = interval(storage);
    s.restart_s = model.detection.value() + hw_share * model.reschedule.value() + init + load_storage;
    const double wall = daly_wall_time(work, s.checkpoint_interval_s, s.checkpoint_stall_s, s.restart_s, mtti);
    finish(s, wall, true, work);
    r.strategies.push_back(std::move(s));
  }
  // Hot spares: a spare host in the allocation takes a failed one's place; only when every spare
  // is in repair (failures in the last repair window ~ Poisson(lambda_hw x repair) >= spares) does
  // the job wait for a re-schedule.
  {
    StrategyResult s;
    s.strategy = RecoveryStrategy::kSpares;
    s.notes = storage.notes;
    const double spare_hosts = std::floor(options.spares * chips / model.chips_per_host);
    s.extra_chips = spare_hosts * model.chips_per_host;
    const double p_none = poisson_tail(lambda_hw * model.repair.value(), spare_hosts);
    s.checkpoint_stall_s = storage.stall;
    s.checkpoint_interval_s = interval(storage);
    s.restart_s = model.detection.value() + hw_share * (model.spare_swap.value() + p_none * model.reschedule.value()) +
                  init + load_storage;
    s.notes.push_back(fmt::format("{:.0f} spare hosts ({:.0f} chips); all in repair at a failure with probability {:.3g}",
                                  spare_hosts, s.extra_chips, p_none));
    const double wall = daly_wall_time(work, s.checkpoint_interval_s, s.checkpoint_stall_s, s.restart_s, mtti);
    finish(s, wall, true, work);
    r.strategies.push_back(std::move(s));
  }
  // In-memory checkpoints replicated on a peer host (Gemini, Wang et al. SOSP 2023): each chip's
  // shard goes to another host's memory over the scale-out fabric; a restart loads it back the same
  // way. Host memory holds the local and the peer copy.
  {
    StrategyResult s;
    s.strategy = RecoveryStrategy::kInMemory;
    const Target peer = checkpoint_to(own, scale_out);
    s.notes = peer.notes;
    s.checkpoint_stall_s = peer.stall;
    s.checkpoint_interval_s = interval(peer);
    s.extra_host_memory_bytes_per_chip = 2 * own;
    if (sys.chip.host_memory.value() > 0 && s.extra_host_memory_bytes_per_chip > sys.chip.host_memory.value()) {
      s.notes.push_back(fmt::format("needs {:.1f} GB of host memory per chip for two copies; the preset has {:.1f} GB",
                                    s.extra_host_memory_bytes_per_chip / 1e9, sys.chip.host_memory.value() / 1e9));
    }
    s.restart_s = model.detection.value() + hw_share * model.reschedule.value() + init + own / scale_out;
    s.notes.push_back("a failure that takes a shard and its peer copy at once falls back to storage (not modelled)");
    const double wall = daly_wall_time(work, s.checkpoint_interval_s, s.checkpoint_stall_s, s.restart_s, mtti);
    finish(s, wall, true, work);
    r.strategies.push_back(std::move(s));
  }
  // Elastic: a failure drops the data-parallel replica holding the failed node and the job goes on
  // with dp - 1 (no rollback): a pause to detect, re-form the communicators and redo half a step;
  // the replica rejoins after repair. Replicas down on average = lambda_hw x repair (Little's law).
  {
    StrategyResult s;
    s.strategy = RecoveryStrategy::kElastic;
    if (r.dp <= 1) {
      s = r.strategies.front();
      s.strategy = RecoveryStrategy::kElastic;
      s.notes.push_back("dp = 1: no replica to drop; elastic is whole-job restart here");
      r.strategies.push_back(std::move(s));
    } else {
      s.notes = storage.notes;
      s.capacity_lost = std::min(kMaxCapacityLost, lambda_hw * model.repair.value() / r.dp);
      if (s.capacity_lost >= kMaxCapacityLost) {
        s.notes.push_back(fmt::format("replicas down exceed {:.0f}% of dp: capped there", kMaxCapacityLost * 100));
      }
      s.checkpoint_stall_s = storage.stall;  // storage checkpoints kept, for failures no replica survives
      s.checkpoint_interval_s = interval(storage);
      s.restart_s = model.detection.value() + init + 0.5 * r.step_time_s;
      s.notes.push_back("the global batch shrinks with the replicas down (the learning rate schedule must follow)");
      const double work_eff = work * (1.0 + s.checkpoint_stall_s / s.checkpoint_interval_s) / (1.0 - s.capacity_lost);
      // Closed form: K ~ Poisson(lambda W') failures each pausing (e^{lambda R} - 1) / lambda.
      const double log_wall = std::log(work_eff) + lambda * s.restart_s;
      const double wall = log_wall >= std::log(kMaxWallSeconds) ? kMaxWallSeconds : std::exp(log_wall);
      finish(s, wall, false, work_eff);
      r.strategies.push_back(std::move(s));
    }
  }

  r.headline = 0;
  for (size_t i = 0; i < r.strategies.size(); ++i) {
    if (options.strategy ? r.strategies[i].strategy == *options.strategy
                         : r.strategies[i].days_to_train < r.strategies[r.headline].days_to_train) {
      r.headline = i;
    }
  }
  return r;
}

}  // namespace tahoma
