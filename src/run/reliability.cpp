// Failure-rate data (data/reliability/*.yaml) and the job's interruption rate (include/tahoma/run.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "internal/yaml_reader.h"
#include "tahoma/error.h"
#include "tahoma/run.h"

namespace tahoma {

namespace {

constexpr double kHoursPerDay = 24.0;
// The largest failure rate any one component may have: one per hour (a component failing more often
// than that is a typo, e.g. a rate per job read as per chip).
constexpr double kMaxRatePerDay = 24.0;

ComponentUnit read_unit(internal::YamlMap& m) {
  return m.choice<ComponentUnit>("per", {{"chip", ComponentUnit::kChip},
                                         {"host", ComponentUnit::kHost},
                                         {"nic", ComponentUnit::kNic},
                                         {"link", ComponentUnit::kLink},
                                         {"job", ComponentUnit::kJob}});
}

// Units of `per` in a job of `chips` chips with the given ratios.
double units_in(ComponentUnit per, double chips, double chips_per_host, double nics_per_chip, double links_per_chip) {
  switch (per) {
    case ComponentUnit::kChip: return chips;
    case ComponentUnit::kHost: return std::ceil(chips / chips_per_host);
    case ComponentUnit::kNic: return chips * nics_per_chip;
    case ComponentUnit::kLink: return chips * links_per_chip;
    case ComponentUnit::kJob: return 1.0;
  }
  return chips;
}

}  // namespace

const char* to_string(ComponentUnit u) {
  switch (u) {
    case ComponentUnit::kChip: return "chip";
    case ComponentUnit::kHost: return "host";
    case ComponentUnit::kNic: return "nic";
    case ComponentUnit::kLink: return "link";
    case ComponentUnit::kJob: return "job";
  }
  return "chip";
}

ReliabilityModel load_reliability(const std::string& name_or_path) {
  const std::string file = internal::resolve_preset("reliability", name_or_path, "failure-rate file");
  internal::YamlMap root(internal::load_yaml_file(file), file, "");
  root.declare({"name", "description", "families", "estimate", "chips_per_host", "nics_per_chip", "links_per_chip",
                "observed", "components", "storage_write_per_host", "storage_read_per_host", "detection",
                "reschedule", "spare_swap", "init_base", "init_per_doubling", "repair"});
  ReliabilityModel m;
  m.file = file;
  m.name = root.string("name");
  m.description = root.string("description", "");
  m.families = root.strings("families");
  if (root.has("estimate")) {
    m.estimate = true;
    m.estimate_note = root.string("estimate");
  }
  m.chips_per_host = root.integer("chips_per_host", 8, 1, 1024);
  m.nics_per_chip = root.number("nics_per_chip", 1.0, 0.0, 64.0);
  m.links_per_chip = root.number("links_per_chip", 1.0, 0.0, 64.0);

  // Counts observed over a job: rate = failures / (units in the observed job x hours observed).
  std::optional<double> obs_chips, obs_days;
  double obs_cph = m.chips_per_host, obs_nics = m.nics_per_chip, obs_links = m.links_per_chip;
  if (root.has("observed")) {
    internal::YamlMap obs = root.map("observed");
    obs.declare({"chips", "days", "chips_per_host", "nics_per_chip", "links_per_chip"});
    obs_chips = obs.number("chips", std::nullopt, 1, kMaxChips);
    obs_days = obs.number("days", std::nullopt, 1e-3, 1e5);
    obs_cph = obs.number("chips_per_host", obs_cph, 1, 1024);
    obs_nics = obs.number("nics_per_chip", obs_nics, 0, 64);
    obs_links = obs.number("links_per_chip", obs_links, 0, 64);
    obs.finish();
  }
  size_t idx = 0;
  for (const YAML::Node& node : root.sequence("components")) {
    internal::YamlMap c(node, file, fmt::format("components.{}", idx++));
    c.declare({"class", "per", "failures", "rate_per_day", "source"});
    ComponentRate r;
    r.name = c.string("class");
    r.per = read_unit(c);
    r.source = c.string("source");
    const bool counted = c.has("failures");
    if (counted == c.has("rate_per_day")) {
      throw c.error("failures", "give exactly one of failures (with observed: at the top) or rate_per_day");
    }
    double per_day = 0;
    if (counted) {
      if (!obs_chips) throw c.error("failures", "a count needs `observed: {chips, days}` at the top of the file");
      const double failures = c.number("failures", std::nullopt, 0, 1e9);
      const double units = units_in(r.per, *obs_chips, obs_cph, obs_nics, obs_links);
      if (!(units > 0)) throw c.error("per", "the observed job holds none of this unit (its ratio per chip is 0)");
      per_day = failures / (units * *obs_days);
    } else {
      per_day = c.number("rate_per_day", std::nullopt, 0, kMaxRatePerDay);
    }
    if (per_day > kMaxRatePerDay) {
      throw c.error("failures", fmt::format("gives {:.3g} failures per {} per day, more than {} (one an hour)", per_day,
                                            to_string(r.per), kMaxRatePerDay));
    }
    r.rate_per_hour = per_day / kHoursPerDay;
    c.finish();
    m.components.push_back(std::move(r));
  }
  if (m.components.empty()) throw root.error("components", "expected a list of at least one failure class");
  // A machine that never fails has no MTTI (an infinite one): the run model needs some rate.
  if (std::none_of(m.components.begin(), m.components.end(), [](const ComponentRate& c) { return c.rate_per_hour > 0; })) {
    throw root.error("components", "every rate is 0; at least one failure class needs a positive rate");
  }
  constexpr double kMinBw = 1e6, kMaxBw = 1e15;  // 1 MB/s .. 1 PB/s per host
  m.storage_write_per_host = BytesPerSecond(root.quantity("storage_write_per_host", Dimension::kBytesPerSecond,
                                                          std::nullopt, kMinBw, kMaxBw));
  m.storage_read_per_host = BytesPerSecond(root.quantity("storage_read_per_host", Dimension::kBytesPerSecond,
                                                         m.storage_write_per_host.value(), kMinBw, kMaxBw));
  constexpr double kMaxTime = 30 * 86400.0;  // a month
  auto time = [&](const char* key) { return Seconds(root.quantity(key, Dimension::kSeconds, std::nullopt, 0, kMaxTime, true)); };
  m.detection = time("detection");
  m.reschedule = time("reschedule");
  m.spare_swap = time("spare_swap");
  m.init_base = time("init_base");
  m.init_per_doubling = time("init_per_doubling");
  m.repair = time("repair");
  root.finish();
  return m;
}

ReliabilityModel reliability_for(const System& system) {
  std::vector<std::string> all;
  for (const auto& name : internal::preset_names("reliability")) {
    ReliabilityModel m = load_reliability(name);
    if (std::find(m.families.begin(), m.families.end(), system.family) != m.families.end()) return m;
    all.push_back(name);
  }
  std::string list;
  for (const auto& n : all) list += (list.empty() ? "" : ", ") + n;
  throw InputError("--failure-rates", "",
                   fmt::format("no file in data/reliability/ serves family '{}' of system {} (files: {}); give one "
                               "with --failure-rates FILE",
                               system.family, system.name, list));
}

ComponentCounts component_counts(const ReliabilityModel& model, long long chips) {
  const auto n = static_cast<double>(chips);
  ComponentCounts c;
  c.chips = n;
  c.hosts = units_in(ComponentUnit::kHost, n, model.chips_per_host, model.nics_per_chip, model.links_per_chip);
  c.nics = n * model.nics_per_chip;
  c.links = n * model.links_per_chip;
  return c;
}

// A series system of independent components with exponential lifetimes fails at the sum of their
// rates (Barlow and Proschan, "Mathematical Theory of Reliability", 1965); Kokolis et al. HPCA 2025
// model a job's MTTF as 1 / (nodes x r_f) the same way.
double job_failure_rate(const ReliabilityModel& model, long long chips) {
  double per_hour = 0;
  for (const auto& c : model.components) {
    per_hour += c.rate_per_hour * units_in(c.per, static_cast<double>(chips), model.chips_per_host,
                                           model.nics_per_chip, model.links_per_chip);
  }
  return per_hour / 3600.0;
}

}  // namespace tahoma
