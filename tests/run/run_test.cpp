// The run level (include/tahoma/run.h, docs/run.md): failure data, closed forms against the Monte
// Carlo run, the published validation points (Llama 3, Kokolis et al.), monotonicity, limits and
// bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "internal/yaml_reader.h"
#include "tahoma/run.h"
#include "../test_util.h"

namespace tahoma {
namespace {

constexpr double kDay = 86400.0;

// Meta's Llama 3.1 405B layout on 16,384 H100s (tests/scenarios/llama3.1-405b-16k-h100-meta.yaml).
Scenario meta_405b(const std::string& system = "dgx-h100", int chips = 16384) {
  ScenarioInput in;
  in.system = system;
  in.chips = chips;
  in.model = "llama3.1-405b";
  in.seq = 8192;
  in.global_batch = 2048;
  in.tp = 8;
  in.pp = 16;
  in.vpp = 2;
  in.zero = 1;
  in.recompute = "selective";
  in.micro_batch = 1;
  in.account_for_embedding_and_loss = true;
  return resolve_scenario(in);
}

const StrategyResult& strategy(const RunResult& r, RecoveryStrategy s) {
  for (const auto& x : r.strategies) {
    if (x.strategy == s) return x;
  }
  throw std::runtime_error("no such strategy");
}

// --- failure data ---------------------------------------------------------------------------------

TEST(run_reliability, EveryFileLoadsAndEveryFamilyHasOne) {
  for (const auto& name : internal::preset_names("reliability")) {
    const ReliabilityModel m = load_reliability(name);
    EXPECT_FALSE(m.families.empty()) << name;
    for (const auto& c : m.components) {
      EXPECT_GT(c.rate_per_hour, 0) << name << " " << c.name;
      EXPECT_FALSE(c.source.empty()) << name << " " << c.name;
    }
    // A file that borrows another family's rates must say so in its `estimate`.
    if (name != "nvidia-hopper" && name != "nvidia-ampere") {
      EXPECT_TRUE(m.estimate) << name;
    }
  }
  for (const auto& preset : list_system_presets()) {
    const System s = load_system(preset.name);
    EXPECT_NO_THROW(reliability_for(s)) << preset.name << " (family " << s.family << ")";
  }
}

// Llama 3 (Dubey et al. 2024, section 3.3.4): 466 interruptions in 54 days on 16,384 H100s. The rates
// are derived from that job, so the job's MTTI must give the count back exactly.
TEST(run_reliability, HopperRatesGiveLlama3InterruptionCountBack) {
  const ReliabilityModel m = load_reliability("nvidia-hopper");
  const double per_day = job_failure_rate(m, 16384) * kDay;
  EXPECT_NEAR(per_day * 54, 466, 1e-6);
  const ComponentCounts c = component_counts(m, 16384);
  EXPECT_EQ(c.hosts, 2048);
  EXPECT_EQ(c.nics, 16384);
}

// Kokolis et al. HPCA 2025: MTTF 7.9 h for 1,024-GPU jobs and a projected 1.8 h at 16,384 GPUs on
// RSC-1 (A100). Within 15% each (the issue's bar); the 16,384 point is not an input of the data.
TEST(run_validation, KokolisMttfAt1024And16384GpusWithin15Percent) {
  const ReliabilityModel m = load_reliability("nvidia-ampere");
  const double mtti_1k = 1.0 / job_failure_rate(m, 1024) / 3600;
  const double mtti_16k = 1.0 / job_failure_rate(m, 16384) / 3600;
  EXPECT_NEAR(mtti_1k, 7.9, 0.15 * 7.9);
  EXPECT_NEAR(mtti_16k, 1.8, 0.15 * 1.8);
  // The same model at a scale the paper did not measure keeps falling with size.
  EXPECT_LT(1.0 / job_failure_rate(m, 131072) / 3600, mtti_16k);
}

// Llama 3 kept effective training time above 90% on 16,384 H100s with 466 interruptions in 54 days
// (Dubey et al. 2024, section 3.3.4): whole-job restart from storage (the strategy Meta used) does.
TEST(run_validation, Llama3EttrAbove90PercentOn16kH100s) {
  const Scenario sc = meta_405b();
  const StepResult step = simulate_step_closed_form(sc);
  RunOptions opts;
  opts.tokens = 15.6e12;  // Llama 3 405B's pre-training tokens
  const RunResult r = run_training(sc, step, load_reliability("nvidia-hopper"), opts);
  const auto& restart = strategy(r, RecoveryStrategy::kRestart);
  EXPECT_NEAR(restart.mtti_s, 54 * kDay / 466, 1.0);
  EXPECT_GT(restart.ettr, 0.90);
  EXPECT_LT(restart.ettr, 1.0);
  // Not a free lunch: the failures cost something.
  EXPECT_LT(restart.ettr, 0.99);
}

// --- closed forms -----------------------------------------------------------------------------------

TEST(run_closed_form, DalyIntervalMinimisesDalyWallTime) {
  for (double delta : {1.0, 30.0, 300.0}) {
    for (double m : {600.0, 3600.0, 36000.0}) {
      const double tau = daly_interval(delta, m);
      const double best = daly_wall_time(1e7, tau, delta, 300, m);
      EXPECT_LE(best, daly_wall_time(1e7, tau * 0.9, delta, 300, m)) << delta << " " << m;
      EXPECT_LE(best, daly_wall_time(1e7, tau * 1.1, delta, 300, m)) << delta << " " << m;
    }
  }
  // Young's first-order interval is Daly's when delta << M.
  EXPECT_NEAR(daly_interval(1, 1e6) / young_interval(1, 1e6), 1.0, 1e-3);
  // Daly: tau = M once delta >= 2M.
  EXPECT_DOUBLE_EQ(daly_interval(100, 40), 40);
  // Without failures the wall time is the work plus one stall per interval.
  EXPECT_NEAR(daly_wall_time(1000, 100, 10, 50, 1e12) / 1100, 1.0, 1e-6);
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// The Monte Carlo run draws the process Daly's Eq. 20 averages; its mean must match within 2%, both
// where every failure is drawn and where the renewal-reward aggregation sums them.
TEST(run_closed_form, MonteCarloMeanMatchesDalyWallTime) {
  struct Case {
    double work, tau, delta, restart, mtti;
  };
  for (const Case& c : {Case{30 * kDay, 600, 5, 600, 10000},        // Llama 3-like: ~270 failures
                        Case{100 * kDay, 60, 1, 400, 180},           // 1M chips: ~48,000 failures (aggregated)
                        Case{10 * kDay, 3600, 60, 1800, 7200},       // long restarts that fail themselves
                        Case{1 * kDay, 100, 1, 4000, 600}}) {        // restart >> MTTI (attempts summed)
    const double closed = daly_wall_time(c.work, c.tau, c.delta, c.restart, c.mtti);
    const auto walls = monte_carlo_wall_times(c.work, c.tau, c.delta, c.restart, c.mtti, 400, 7, true);
    EXPECT_NEAR(mean_of(walls) / closed, 1.0, 0.02) << c.work << " " << c.mtti;
  }
  // Elastic (no rollback): E = W e^{lambda R}.
  const auto walls = monte_carlo_wall_times(50 * kDay, 50 * kDay, 0, 300, 3000, 400, 3, false);
  EXPECT_NEAR(mean_of(walls) / (50 * kDay * std::exp(300.0 / 3000)), 1.0, 0.02);
}

TEST(run_closed_form, MonteCarloIsSeededAndDeterministic) {
  const auto a = monte_carlo_wall_times(10 * kDay, 600, 5, 600, 10000, 50, 42, true);
  const auto b = monte_carlo_wall_times(10 * kDay, 600, 5, 600, 10000, 50, 42, true);
  const auto c = monte_carlo_wall_times(10 * kDay, 600, 5, 600, 10000, 50, 43, true);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// --- the run ------------------------------------------------------------------------------------------

TEST(run_model, MonteCarloMeanMatchesEachStrategysClosedForm) {
  const Scenario sc = meta_405b();
  const StepResult step = simulate_step_closed_form(sc);
  RunOptions opts;
  for (auto mode : {CheckpointMode::kAsync, CheckpointMode::kSync}) {
    opts.checkpoint = mode;
    const RunResult r = run_training(sc, step, load_reliability("nvidia-hopper"), opts);
    ASSERT_EQ(r.strategies.size(), 4u);
    for (const auto& s : r.strategies) {
      EXPECT_NEAR(s.monte_carlo.mean_days / s.days_to_train, 1.0, 0.02) << to_string(s.strategy);
      EXPECT_LE(s.monte_carlo.p10_days, s.monte_carlo.p50_days);
      EXPECT_LE(s.monte_carlo.p50_days, s.monte_carlo.p90_days);
      EXPECT_NEAR(s.goodput, s.ettr * r.mfu, 1e-12);
      EXPECT_GT(s.ettr, 0);
      EXPECT_LE(s.ettr, 1);
    }
  }
}

TEST(run_model, MoreSparesNeverLowerEttr) {
  const Scenario sc = meta_405b();
  const StepResult step = simulate_step_closed_form(sc);
  const ReliabilityModel m = load_reliability("nvidia-hopper");
  double last = 0;
  for (double spares : {0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.1, 1.0}) {
    RunOptions opts;
    opts.spares = spares;
    const double ettr = strategy(run_training(sc, step, m, opts), RecoveryStrategy::kSpares).ettr;
    EXPECT_GE(ettr, last) << spares;
    last = ettr;
  }
  // With no spares at all, the spares strategy is restart plus the swap attempt: never better.
  RunOptions none;
  none.spares = 0;
  const RunResult r = run_training(sc, step, m, none);
  EXPECT_LE(strategy(r, RecoveryStrategy::kSpares).ettr, strategy(r, RecoveryStrategy::kRestart).ettr);
}

TEST(run_model, MoreChipsNeverRaiseMtti) {
  for (const auto& name : internal::preset_names("reliability")) {
    const ReliabilityModel m = load_reliability(name);
    double last = 0;
    for (long long chips = 1; chips <= 1'048'576; chips *= 2) {
      for (long long n : {chips, chips + 1}) {  // 1, 2, 2, 3, 4, 5, 8, 9, ...: never decreasing
        const double rate = job_failure_rate(m, n);
        EXPECT_GE(rate, last) << name << " " << n;
        last = rate;
      }
    }
  }
}

TEST(run_model, CostEnergyAndPue) {
  Scenario sc = meta_405b();
  const StepResult step = simulate_step_closed_form(sc);
  const ReliabilityModel m = load_reliability("nvidia-hopper");
  const RunResult priced = run_training(sc, step, m, RunOptions{});
  for (const auto& s : priced.strategies) {
    ASSERT_TRUE(s.cost_usd.has_value());
    EXPECT_NEAR(*s.cost_usd, s.chip_hours * *sc.system.price_usd_per_chip_hour, 1e-6 * *s.cost_usd);
    EXPECT_NEAR(s.chip_hours, (16384 + s.extra_chips) * s.days_to_train * 24, 1e-6 * s.chip_hours);
  }
  // Without a price, no cost; PUE scales the facility energy exactly.
  sc.system.price_usd_per_chip_hour.reset();
  const double pue = sc.system.pue.value_or(1.0);
  sc.system.pue = 2 * pue;
  const StepResult step2 = simulate_step_closed_form(sc);
  const RunResult r2 = run_training(sc, step2, m, RunOptions{});
  for (size_t i = 0; i < r2.strategies.size(); ++i) {
    EXPECT_FALSE(r2.strategies[i].cost_usd.has_value());
    EXPECT_NEAR(r2.strategies[i].energy_mwh / priced.strategies[i].energy_mwh, 2.0, 1e-9);
    EXPECT_DOUBLE_EQ(r2.strategies[i].days_to_train, priced.strategies[i].days_to_train);
  }
  // The checkpoint is one copy of weights + optimizer state: 405B parameters x (2 bytes of bf16
  // weights + 12 of fp32 master, momentum and variance) within 10% (embedding and rounding).
  EXPECT_NEAR(priced.checkpoint_bytes_total / (405e9 * 14), 1.0, 0.1);
}

// Whole-job restart collapses at a million chips (issue 16: interruptions every few minutes), and
// a faster recovery (elastic, spares) must then do better.
TEST(run_model, MillionChipsRestartCollapsesAndRunsUnderASecond) {
  ScenarioInput in;
  in.system = "trn3-ultraserver";
  in.chips = 1'048'576;
  in.model = "llama3.1-405b";
  in.seq = 8192;
  in.global_batch = 16384;
  in.tp = 8;
  in.pp = 16;
  in.zero = 1;
  in.account_for_embedding_and_loss = true;
  const auto start = std::chrono::steady_clock::now();
  const Scenario sc = resolve_scenario(in);
  const StepResult step = simulate_step(sc);  // the event engine, what `tahoma run` uses
  const RunResult r = run_training(sc, step, reliability_for(sc.system), RunOptions{});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 1.0);
  EXPECT_LT(r.best().mtti_s, 3600);  // interrupted more than once an hour
  EXPECT_LT(strategy(r, RecoveryStrategy::kRestart).ettr, 0.5);
  EXPECT_GT(strategy(r, RecoveryStrategy::kElastic).ettr, strategy(r, RecoveryStrategy::kRestart).ettr);
  for (const auto& s : r.strategies) {
    EXPECT_TRUE(std::isfinite(s.days_to_train) && std::isfinite(s.energy_mwh) && std::isfinite(s.monte_carlo.p90_days));
  }
}

TEST(run_model, OneChipRunIsFinite) {
  ScenarioInput in;
  in.system = "dgx-h100";
  in.chips = 1;
  in.model = "llama3-8b";
  in.seq = 1024;
  in.global_batch = 4;
  const Scenario sc = resolve_scenario(in);
  RunOptions opts;
  opts.tokens = 1e9;
  const RunResult r = run_training(sc, simulate_step_closed_form(sc), load_reliability("nvidia-hopper"), opts);
  for (const auto& s : r.strategies) {
    EXPECT_GT(s.ettr, 0.9);
    EXPECT_TRUE(std::isfinite(s.days_to_train));
  }
  // dp = 1: elastic has no replica to drop and equals restart.
  EXPECT_DOUBLE_EQ(strategy(r, RecoveryStrategy::kElastic).days_to_train,
                   strategy(r, RecoveryStrategy::kRestart).days_to_train);
}

// --- input ---------------------------------------------------------------------------------------------

TEST(run_input, BadOptionsAndFilesAreInputErrors) {
  const Scenario sc = meta_405b("dgx-h100", 1024);
  const StepResult step = simulate_step_closed_form(sc);
  const ReliabilityModel m = load_reliability("nvidia-hopper");
  auto with = [&](auto edit) {
    RunOptions o;
    edit(o);
    return testing::input_error([&] { (void)run_training(sc, step, m, o); });
  };
  EXPECT_CONTAINS(with([](RunOptions& o) { o.tokens = 0; }), "--tokens");
  EXPECT_CONTAINS(with([](RunOptions& o) { o.tokens = 1e19; }), "--tokens");
  EXPECT_CONTAINS(with([](RunOptions& o) { o.tokens = std::nan(""); }), "--tokens");
  EXPECT_CONTAINS(with([](RunOptions& o) { o.spares = -0.1; }), "--spares");
  EXPECT_CONTAINS(with([](RunOptions& o) { o.trials = 0; }), "--trials");

  testing::TempDir dir;
  const std::string good = internal::read_input_file(internal::data_dir() + "/reliability/nvidia-hopper.yaml");
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    const auto at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return dir.write("bad.yaml", t.replace(at, from.size(), to));
  };
  EXPECT_CONTAINS(testing::input_error([&] { (void)load_reliability(replace("repair:", "repiar:")); }), "repiar");
  EXPECT_CONTAINS(testing::input_error([&] { (void)load_reliability(replace("per: chip, failures: 72", "per: gpu, failures: 72")); }),
                  "per");
  EXPECT_CONTAINS(testing::input_error([&] { (void)load_reliability(replace("failures: 72", "failures: -72")); }),
                  "failures");
  EXPECT_CONTAINS(testing::input_error([&] { (void)load_reliability(replace("failures: 72", "failures: 72, rate_per_day: 1")); }),
                  "exactly one");
  EXPECT_CONTAINS(testing::input_error([&] { (void)load_reliability(replace("1 GB/s   #", "1 GB   #")); }),
                  "storage_write_per_host");
  {
    std::string zero = good;
    for (const char* n : {"196", "72", "63", "35", "46", "47"}) {
      const std::string from = std::string("failures: ") + n + ",";
      zero.replace(zero.find(from), from.size(), "failures: 0,");
    }
    zero.replace(zero.find("failures: 7,"), std::string("failures: 7,").size(), "failures: 0,");
    EXPECT_CONTAINS(testing::input_error([&] { (void)load_reliability(dir.write("zero.yaml", zero)); }), "every rate is 0");
  }
  EXPECT_CONTAINS(testing::input_error([&] { (void)load_reliability(dir.path().string() + "/missing.yaml"); }),
                  "missing.yaml");
}

// The command: JSON keys, exit codes.
struct CliRun {
  int code = -1;
  std::string out, err;
};
CliRun tahoma(const std::string& args) {
  testing::TempDir dir;
  const auto out = dir.path() / "stdout", err = dir.path() / "stderr";
  const std::string cmd = std::string("'") + TAHOMA_BINARY + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  auto slurp = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

const std::string kMeta =
    "--system dgx-h100 --chips 16384 --model llama3.1-405b --seq 8192 --global-batch 2048 --tp 8 --pp 16 --vpp 2 "
    "--zero 1 --pp-embedding-split";

TEST(run_cli, JsonHasTheIssuesKeysForHeadlineAndEveryStrategy) {
  const CliRun r = tahoma("run " + kMeta + " --tokens 15T --format json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  auto check = [](const nlohmann::json& o) {
    for (const char* key : {"mtti_s", "checkpoint_interval_s", "ettr", "goodput", "days_to_train", "chip_hours",
                            "cost_usd", "energy_mwh"}) {
      EXPECT_TRUE(o.contains(key)) << key;
    }
    for (const char* key : {"mean", "p10", "p50", "p90"}) EXPECT_TRUE(o["monte_carlo"].contains(key)) << key;
  };
  check(j);
  for (const char* s : {"restart", "spares", "in-memory", "elastic"}) check(j["strategies"][s]);
  EXPECT_DOUBLE_EQ(j["tokens"].get<double>(), 15e12);
  EXPECT_TRUE(j["cost_usd"].is_number());  // dgx-h100 has a price

  const CliRun chosen = tahoma("run " + kMeta + " --strategy restart --format json --trials 20");
  ASSERT_EQ(chosen.code, 0) << chosen.err;
  const auto jc = nlohmann::json::parse(chosen.out);
  EXPECT_EQ(jc["strategy"], "restart");
  EXPECT_DOUBLE_EQ(jc["days_to_train"].get<double>(), jc["strategies"]["restart"]["days_to_train"].get<double>());
}

TEST(run_cli, BadInputExitsTwoNamingTheFlag) {
  for (const auto& [args, flag] : std::vector<std::pair<std::string, std::string>>{
           {"--tokens 0", "--tokens"},
           {"--tokens 2e18", "--tokens"},
           {"--tokens 15X", "--tokens"},
           {"--strategy pray", "--strategy"},
           {"--checkpoint maybe", "--checkpoint"},
           {"--spares 1.5", "--spares"},
           {"--trials 0", "--trials"},
           {"--storage-bandwidth 5GB", "--storage-bandwidth"},
           {"--failure-rates no-such-file", "--failure-rates"}}) {
    const CliRun r = tahoma("run --system dgx-h100 --chips 8 --model llama3-8b --seq 4096 --global-batch 8 " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_CONTAINS(r.err, flag);
  }
}

TEST(run_cli, TokenCountsTakeSuffixes) {
  const CliRun r = tahoma("run --system dgx-h100 --chips 8 --model llama3-8b --seq 4096 --global-batch 8 --tokens 2.5B "
                          "--format json --trials 10");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(r.out)["tokens"].get<double>(), 2.5e9);
}

}  // namespace
}  // namespace tahoma

namespace tahoma {
namespace {

// compare --tokens ranks the systems' best layouts by days (or cost) to train with failures.
TEST(run_cli, CompareRanksSystemsByTimeAndCostToTrain) {
  const std::string args =
      "compare --systems dgx-h100,trn2,tpu-v5p --chips 256 --model llama3-70b --seq 4096 --global-batch 256 "
      "--tokens 2T --format json --threads 2";
  for (const std::string by : {"time", "cost"}) {
    const CliRun r = tahoma(args + " --rank-by " + by);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const auto& systems = j["run_ranking"]["systems"];
    ASSERT_EQ(systems.size(), 3u);
    for (size_t i = 1; i < systems.size(); ++i) {
      if (by == "time") {
        EXPECT_LE(systems[i - 1]["days_to_train"].get<double>(), systems[i]["days_to_train"].get<double>());
      } else if (!systems[i]["cost_usd"].is_null()) {
        ASSERT_FALSE(systems[i - 1]["cost_usd"].is_null());  // priced systems first
        EXPECT_LE(systems[i - 1]["cost_usd"].get<double>(), systems[i]["cost_usd"].get<double>());
      }
    }
  }
  EXPECT_EQ(tahoma(args + " --rank-by beauty").code, 2);
}

}  // namespace
}  // namespace tahoma

namespace tahoma {
namespace {

// --checkpoint-interval overrides Daly's optimum, and any other interval costs time (Daly's is the
// minimum of the same expected wall time).
TEST(run_cli, CheckpointIntervalOverridesDalysOptimumAndCostsTime) {
  const std::string base = "run " + kMeta + " --strategy restart --trials 20 --format json";
  const CliRun daly = tahoma(base);
  ASSERT_EQ(daly.code, 0) << daly.err;
  const auto jd = nlohmann::json::parse(daly.out);
  for (const std::string interval : {"20s", "3600"}) {
    const CliRun r = tahoma(base + " --checkpoint-interval " + interval);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_DOUBLE_EQ(j["checkpoint_interval_s"].get<double>(), interval == "20s" ? 20.0 : 3600.0);
    EXPECT_GT(j["days_to_train"].get<double>(), jd["days_to_train"].get<double>()) << interval;
  }
}

}  // namespace
}  // namespace tahoma
