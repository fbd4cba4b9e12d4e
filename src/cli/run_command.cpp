#include "run_command.h"

#include <fmt/format.h>

#include <cmath>
#include <algorithm>
#include <cstdlib>

#include "internal/yaml_reader.h"
#include "tahoma/error.h"
#include "tahoma/run.h"

namespace tahoma::cli {

struct RunCommand::Options {
  ScenarioInput scenario;
  std::string tokens = "15T";
  std::string strategy;
  std::string checkpoint = "async";
  std::string storage_bandwidth;
  double spares = 0.01;
  int trials = 200;
  long long seed = 1;
  std::string failure_rates;
  std::string engine = "events";
  std::string checkpoint_interval;
};

double parse_token_count(const std::string& text, const char* flag) {
  std::string t = text;
  while (!t.empty() && t.back() == ' ') t.pop_back();
  double scale = 1;
  if (!t.empty()) {
    switch (t.back()) {
      case 'K': case 'k': scale = 1e3; break;
      case 'M': scale = 1e6; break;
      case 'B': case 'G': scale = 1e9; break;
      case 'T': scale = 1e12; break;
      case 'P': scale = 1e15; break;
      default: break;
    }
    if (scale != 1) t.pop_back();
  }
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || end == t.c_str() || *end != '\0') {
    throw InputError(flag, "", fmt::format("'{}' is not a token count (expected e.g. 15T, 300B, 2.5e12)", text));
  }
  const double tokens = v * scale;
  if (!std::isfinite(tokens) || tokens < kMinTokens || tokens > kMaxTokens) {
    throw InputError(flag, "", fmt::format("'{}' is outside [{:g}, {:g}] tokens", text, kMinTokens, kMaxTokens));
  }
  return tokens;
}

RunCommand::RunCommand(CLI::App& app) : o_(std::make_shared<Options>()) {
  cmd_ = app.add_subcommand("run",
                            "a whole training run with failures: days, ETTR, goodput, chip-hours, cost and energy "
                            "to train (docs/run.md)");
  cmd_->add_option("--tokens", o_->tokens, "tokens to train, with K/M/B/T suffixes (e.g. 15T)");
  cmd_->add_option("--strategy", o_->strategy,
                   "headline recovery strategy: restart, spares, in-memory or elastic (default: the fastest; all are "
                   "reported)");
  cmd_->add_option("--checkpoint", o_->checkpoint, "async (copy to host memory, write in the background) or sync");
  cmd_->add_option("--storage-bandwidth", o_->storage_bandwidth,
                   "checkpoint storage bandwidth per host, read and write, e.g. 2GB/s (default: the family's, "
                   "data/reliability/)");
  cmd_->add_option("--spares", o_->spares, "hot spare chips as a fraction of the job's chips (spares strategy)");
  cmd_->add_option("--trials", o_->trials, "Monte Carlo trials per strategy");
  cmd_->add_option("--seed", o_->seed, "Monte Carlo seed (same seed, same answer)");
  cmd_->add_option("--failure-rates", o_->failure_rates,
                   "failure-rate YAML (default: the data/reliability/ file of the system's family)");
  cmd_->add_option("--checkpoint-interval", o_->checkpoint_interval,
                   "useful work between checkpoints, e.g. 600s or 600 (default: Daly's optimum, at least one step)");
  cmd_->add_option("--engine", o_->engine, "step engine: events (default, as simulate) or closed-form");
}

ScenarioInput& RunCommand::scenario() { return o_->scenario; }

namespace {

RunOptions run_options(const RunCommand::Options& o) {
  RunOptions r;
  r.tokens = parse_token_count(o.tokens, "--tokens");
  if (!o.strategy.empty()) {
    r.strategy = parse_recovery_strategy(o.strategy);
    if (!r.strategy) {
      throw InputError("--strategy", "", fmt::format("'{}' is not restart, spares, in-memory or elastic", o.strategy));
    }
  }
  if (o.checkpoint == "async") {
    r.checkpoint = CheckpointMode::kAsync;
  } else if (o.checkpoint == "sync") {
    r.checkpoint = CheckpointMode::kSync;
  } else {
    throw InputError("--checkpoint", "", fmt::format("'{}' is not async or sync", o.checkpoint));
  }
  if (!o.storage_bandwidth.empty()) {
    double bw = 0;
    try {
      bw = parse_quantity(o.storage_bandwidth, Dimension::kBytesPerSecond);
    } catch (const std::invalid_argument& e) {
      throw InputError("--storage-bandwidth", "", e.what());
    }
    if (!(bw >= 1e6 && bw <= 1e15)) {
      throw InputError("--storage-bandwidth", "",
                       fmt::format("{} is outside [1 MB/s, 1 PB/s] per host", o.storage_bandwidth));
    }
    r.storage_bandwidth = BytesPerSecond(bw);
  }
  if (!std::isfinite(o.spares) || o.spares < 0 || o.spares > 1) {
    throw InputError("--spares", "", fmt::format("{} is not a fraction of the job's chips in [0, 1] (e.g. 0.01)", o.spares));
  }
  r.spares = o.spares;
  if (o.trials < 1 || o.trials > kMaxTrials) {
    throw InputError("--trials", "", fmt::format("{} is outside [1, {}]", o.trials, kMaxTrials));
  }
  r.trials = o.trials;
  if (!o.checkpoint_interval.empty()) {
    // "600s", "600 s" or a bare number of seconds; 1 s .. 30 days.
    char* end = nullptr;
    double v = std::strtod(o.checkpoint_interval.c_str(), &end);
    if (end == o.checkpoint_interval.c_str() || *end != '\0') {
      try {
        v = parse_quantity(o.checkpoint_interval, Dimension::kSeconds);
      } catch (const std::invalid_argument& e) {
        throw InputError("--checkpoint-interval", "", e.what());
      }
    }
    constexpr double kMaxInterval = 30 * 86400.0;
    if (!(v >= 1 && v <= kMaxInterval)) {
      throw InputError("--checkpoint-interval", "",
                       fmt::format("{} is outside [1 s, {:g} s] (30 days)", o.checkpoint_interval, kMaxInterval));
    }
    r.checkpoint_interval = Seconds(v);
  }
  if (o.seed < 0) throw InputError("--seed", "", fmt::format("{} is negative (expected 0 or more)", o.seed));
  r.seed = static_cast<std::uint64_t>(o.seed);
  return r;
}

ReliabilityModel reliability(const std::string& file, const System& system) {
  if (file.empty()) return reliability_for(system);
  try {
    return load_reliability(file);
  } catch (const InputError& e) {
    if (e.where() != "failure-rate file") throw;  // an error inside the file names the file and key
    throw InputError("--failure-rates", "", e.problem());
  }
}

}  // namespace

std::string RunCommand::run(const std::string& format) const {
  if (o_->engine != "closed-form" && o_->engine != "events") {
    throw InputError("--engine", "", fmt::format("'{}' is not closed-form or events", o_->engine));
  }
  const RunOptions opts = run_options(*o_);
  const Scenario sc = resolve_scenario(o_->scenario);
  const ReliabilityModel model = reliability(o_->failure_rates, sc.system);
  StepOptions step_opts;
  step_opts.engine = o_->engine == "events" ? StepEngine::kEvents : StepEngine::kClosedForm;
  const StepResult step = simulate_step(sc, step_opts);
  const RunResult r = run_training(sc, step, model, opts);
  return format == "json" ? run_json(sc, r).dump(2) + "\n" : run_table(sc, r);
}

std::string with_run_ranking(const std::string& text, const std::vector<Scenario>& bases,
                             const std::vector<Comparison>& rows, const std::string& tokens, const std::string& rank_by,
                             const std::string& format) {
  if (rank_by != "time" && rank_by != "cost") {
    throw InputError("--rank-by", "", fmt::format("'{}' is not time or cost", rank_by));
  }
  RunOptions opts;
  opts.tokens = parse_token_count(tokens, "--tokens");
  struct Ranked {
    std::string system;
    RunResult run;
  };
  std::vector<Ranked> ranked;
  for (size_t i = 0; i < rows.size() && i < bases.size(); ++i) {
    if (rows[i].report.results.empty()) continue;  // no layout fits: the comparison says why
    Scenario sc = bases[i];
    sc.plan = rows[i].report.results.front().plan;
    ranked.push_back({rows[i].system, run_training(sc, rows[i].report.results.front().result,
                                                   reliability_for(sc.system), opts)});
  }
  // Ascending days or cost; a system without a price ranks after every priced one (stable).
  std::stable_sort(ranked.begin(), ranked.end(), [&](const Ranked& a, const Ranked& b) {
    if (rank_by == "time") return a.run.best().days_to_train < b.run.best().days_to_train;
    const auto& ca = a.run.best().cost_usd;
    const auto& cb = b.run.best().cost_usd;
    if (ca.has_value() != cb.has_value()) return ca.has_value();
    return ca && *ca < *cb;
  });
  if (format == "json") {
    nlohmann::json j = nlohmann::json::parse(text);
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : ranked) {
      const auto& s = r.run.best();
      list.push_back({{"system", r.system},
                      {"strategy", to_string(s.strategy)},
                      {"mtti_s", s.mtti_s},
                      {"ettr", s.ettr},
                      {"goodput", s.goodput},
                      {"days_to_train", s.days_to_train},
                      {"chip_hours", s.chip_hours},
                      {"cost_usd", s.cost_usd ? nlohmann::json(*s.cost_usd) : nlohmann::json(nullptr)},
                      {"energy_mwh", s.energy_mwh},
                      {"reliability_estimate", r.run.reliability_estimate}});
    }
    j["run_ranking"] = {{"tokens", opts.tokens}, {"rank_by", rank_by}, {"systems", list}};
    return j.dump(2) + "\n";
  }
  std::string out = text + fmt::format("\nRanked by {} to train {:.3g} tokens with failures (tahoma run; the fastest "
                                       "recovery strategy each):\n\n",
                                       rank_by == "time" ? "time" : "cost", opts.tokens);
  out += fmt::format("{:<4} {:<22} {:>9} {:>10} {:>7} {:>8} {:>12} {:>10} {:>9}\n", "rank", "system", "MTTI", "strategy",
                     "ETTR", "days", "chip-hours", "cost", "MWh");
  int rank = 1;
  for (const auto& r : ranked) {
    const auto& s = r.run.best();
    out += fmt::format("{:<4} {:<22} {:>7.2f} h {:>10} {:>6.1f}% {:>8.1f} {:>12.3g} {:>10} {:>9.0f}{}\n", rank++, r.system,
                       s.mtti_s / 3600, to_string(s.strategy), 100 * s.ettr, s.days_to_train, s.chip_hours,
                       s.cost_usd ? fmt::format("${:.1f}M", *s.cost_usd / 1e6) : "-", s.energy_mwh,
                       r.run.reliability_estimate ? "  (failure rates: estimate)" : "");
  }
  return out;
}

std::string run_demo_table() {
  const std::vector<std::string> names = {"demo-llama3.1-405b-trn3-ultraserver", "demo-llama3.1-405b-tpu-v7",
                                          "demo-llama3.1-405b-gb300-nvl72"};
  const double tokens = 15e12;
  std::string out = fmt::format(
      "Run level: Llama 3.1 405B for {:.0f}T tokens on the same layouts, with failures (tahoma run; docs/run.md)\n\n",
      tokens / 1e12);
  out += fmt::format("{:<22} {:>7} {:>9} {:>10} {:>7} {:>8} {:>7} {:>10} {:>9}  {}\n", "system", "chips", "MTTI",
                     "strategy", "ETTR", "goodput", "days", "cost", "MWh", "failure data");
  for (const auto& name : names) {
    ScenarioInput in;
    in.file = internal::data_dir() + "/scenarios/" + name + ".yaml";
    const Scenario sc = resolve_scenario(in);
    const StepResult step = simulate_step(sc);  // the event engine, as the training rows above
    RunOptions opts;
    opts.tokens = tokens;
    const RunResult r = run_training(sc, step, reliability_for(sc.system), opts);
    const auto& s = r.best();
    out += fmt::format("{:<22} {:>7} {:>7.2f} h {:>10} {:>6.1f}% {:>7.1f}% {:>7.1f} {:>10} {:>9.0f}  {}\n", sc.system.name,
                       r.chips, s.mtti_s / 3600, to_string(s.strategy), 100 * s.ettr, 100 * s.goodput, s.days_to_train,
                       s.cost_usd ? fmt::format("${:.1f}M", *s.cost_usd / 1e6) : "-", s.energy_mwh,
                       r.reliability_estimate ? r.reliability_name + " (estimate)" : r.reliability_name);
  }
  out += "\nThe fastest of restart, hot spares, in-memory checkpoints and elastic per system; cost at the preset's\n"
         "on-demand price (- where it has none), energy at the facility (PUE). Trainium, TPU and Blackwell\n"
         "failure rates are estimates (Llama 3's H100 rates per component; data/reliability/).\n";
  return out;
}

}  // namespace tahoma::cli
