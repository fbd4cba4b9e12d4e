// The run report: JSON with the fixed keys of include/tahoma/run.h and a fixed-width table.
// (Formatting lives beside the run library, as the serving report does beside serve; it only reads
// RunResult.)
#include <fmt/format.h>

#include "tahoma/report.h"
#include "tahoma/run.h"

namespace tahoma {

namespace {

nlohmann::json strategy_json(const StrategyResult& s) {
  nlohmann::json j;
  j["mtti_s"] = s.mtti_s;
  j["checkpoint_interval_s"] = s.checkpoint_interval_s;
  j["checkpoint_stall_s"] = s.checkpoint_stall_s;
  j["restart_s"] = s.restart_s;
  j["ettr"] = s.ettr;
  j["goodput"] = s.goodput;
  j["days_to_train"] = s.days_to_train;
  j["chip_hours"] = s.chip_hours;
  j["cost_usd"] = s.cost_usd ? nlohmann::json(*s.cost_usd) : nlohmann::json(nullptr);
  j["energy_mwh"] = s.energy_mwh;
  j["extra_chips"] = s.extra_chips;
  j["extra_host_memory_bytes_per_chip"] = s.extra_host_memory_bytes_per_chip;
  j["capacity_lost"] = s.capacity_lost;
  j["monte_carlo"] = {{"trials", s.monte_carlo.trials},
                      {"mean", s.monte_carlo.mean_days},
                      {"p10", s.monte_carlo.p10_days},
                      {"p50", s.monte_carlo.p50_days},
                      {"p90", s.monte_carlo.p90_days}};
  j["notes"] = s.notes;
  return j;
}

std::string money(const std::optional<double>& usd) {
  if (!usd) return "-";
  if (*usd >= 1e9) return fmt::format("${:.2f}B", *usd / 1e9);
  if (*usd >= 1e6) return fmt::format("${:.1f}M", *usd / 1e6);
  return fmt::format("${:.0f}", *usd);
}

std::string duration(double s) {
  if (s >= 86400) return fmt::format("{:.1f} d", s / 86400);
  if (s >= 3600) return fmt::format("{:.1f} h", s / 3600);
  if (s >= 60) return fmt::format("{:.1f} min", s / 60);
  return fmt::format("{:.1f} s", s);
}

}  // namespace

nlohmann::json run_json(const Scenario& scenario, const RunResult& r) {
  nlohmann::json j = strategy_json(r.best());
  j["strategy"] = to_string(r.best().strategy);
  j["tokens"] = r.tokens;
  j["chips"] = r.chips;
  j["step_time_s"] = r.step_time_s;
  j["tokens_per_s"] = r.tokens_per_s;
  j["mfu"] = r.mfu;
  j["checkpoint_bytes_total"] = r.checkpoint_bytes_total;
  j["checkpoint_bytes_per_chip"] = r.checkpoint_bytes_per_chip;
  j["pue"] = r.pue;
  j["pue_from_preset"] = r.pue_from_preset;
  j["price_usd_per_chip_hour"] =
      r.price_usd_per_chip_hour ? nlohmann::json(*r.price_usd_per_chip_hour) : nlohmann::json(nullptr);
  nlohmann::json rel;
  rel["name"] = r.reliability_name;
  rel["estimate"] = r.reliability_estimate;
  if (r.reliability_estimate) rel["estimate_note"] = r.reliability_note;
  rel["hosts"] = r.counts.hosts;
  rel["nics"] = r.counts.nics;
  rel["links"] = r.counts.links;
  nlohmann::json per_day = nlohmann::json::object();
  for (const auto& [name, rate] : r.failures_per_day) per_day[name] = rate;
  rel["failures_per_day"] = per_day;
  j["reliability"] = rel;
  nlohmann::json all = nlohmann::json::object();
  for (const auto& s : r.strategies) all[to_string(s.strategy)] = strategy_json(s);
  j["strategies"] = all;
  j["warnings"] = r.warnings;
  j["config"] = scenario_json(scenario);
  return j;
}

std::string run_table(const Scenario& scenario, const RunResult& r) {
  const auto& sys = scenario.system;
  std::string out;
  out += fmt::format("run          {} on {} x {} ({}), {:.3g} tokens\n", scenario.model.name, r.chips, sys.name,
                     sys.chip.name, r.tokens);
  out += fmt::format("step         {:.3f} s, {:.3g} tokens/s without failures, MFU {:.1f}%\n", r.step_time_s,
                     r.tokens_per_s, 100 * r.mfu);
  out += fmt::format("checkpoint   {:.2f} TB in all (weights + optimizer), {:.2f} GB held per chip\n",
                     r.checkpoint_bytes_total / 1e12, r.checkpoint_bytes_per_chip / 1e9);
  double total = 0;
  for (const auto& [name, rate] : r.failures_per_day) total += rate;
  out += fmt::format("failures     {:.2f} per day, MTTI {} ({}; {:.0f} hosts)\n", total, duration(86400 / total),
                     r.reliability_name, r.counts.hosts);
  std::string classes;
  for (const auto& [name, rate] : r.failures_per_day) classes += fmt::format("{}{} {:.2f}", classes.empty() ? "" : ", ", name, rate);
  out += fmt::format("  per day    {}\n", classes);
  if (r.reliability_estimate) out += fmt::format("  ESTIMATE   {}\n", r.reliability_note);
  out += "\n";
  out += fmt::format("{:<10} {:>9} {:>9} {:>9} {:>7} {:>8} {:>9} {:>10} {:>12} {:>10} {:>9}  {}\n", "strategy", "interval",
                     "stall", "restart", "ETTR", "goodput", "days", "MC p10-p90", "chip-hours", "cost", "MWh", "");
  for (size_t i = 0; i < r.strategies.size(); ++i) {
    const auto& s = r.strategies[i];
    out += fmt::format("{:<10} {:>9} {:>9} {:>9} {:>6.1f}% {:>7.1f}% {:>9.1f} {:>10} {:>12.3g} {:>10} {:>9.0f}  {}\n",
                       to_string(s.strategy), duration(s.checkpoint_interval_s), duration(s.checkpoint_stall_s),
                       duration(s.restart_s), 100 * s.ettr, 100 * s.goodput, s.days_to_train,
                       fmt::format("{:.1f}-{:.1f}", s.monte_carlo.p10_days, s.monte_carlo.p90_days), s.chip_hours,
                       money(s.cost_usd), s.energy_mwh, i == r.headline ? "<- headline" : "");
  }
  out += "\n";
  for (const auto& s : r.strategies) {
    for (const auto& n : s.notes) out += fmt::format("  {}: {}\n", to_string(s.strategy), n);
  }
  out += fmt::format("energy is facility energy: IT x PUE {:.2f}{}\n", r.pue,
                     r.pue_from_preset ? "" : " (the preset has no pue: 1.0 assumed)");
  for (const auto& w : r.warnings) out += fmt::format("warning: {}\n", w);
  if (!r.price_usd_per_chip_hour) {
    out += "cost needs a price: --set price_usd_per_chip_hour=VALUE\n";
  }
  // No trailing blanks (the headline marker column is empty on most rows).
  std::string trimmed;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    size_t last = end;
    while (last > start && out[last - 1] == ' ') --last;
    trimmed.append(out, start, last - start);
    if (end < out.size()) trimmed += '\n';
    start = end + 1;
  }
  return trimmed;
}

}  // namespace tahoma
