// Reporting (STYLE.md 12: stats are data; only report/ formats them): JSON documents and
// fixed-width tables for systems, models, scenarios and step results.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tahoma/calibrate.h"
#include "tahoma/search.h"
#include "tahoma/step.h"
#include "tahoma/validate.h"

namespace tahoma {

nlohmann::json system_json(const System& system);  // resolved preset + totals
nlohmann::json model_json(const Model& model);
nlohmann::json plan_json(const Plan& plan);
nlohmann::json stack_json(const Stack& stack);  // the resolved stack preset
std::string stack_table(const Stack& stack);
nlohmann::json scenario_json(const Scenario& scenario);  // the fully resolved config
nlohmann::json result_json(const Scenario& scenario, const StepResult& result);

std::string system_table(const System& system);
std::string model_table(const Model& model);
std::string result_table(const Scenario& scenario, const StepResult& result);

// One row of a side-by-side comparison (the headline demo).
struct ComparisonRow {
  Scenario scenario;
  StepResult result;
};
std::string comparison_table(const std::vector<ComparisonRow>& rows);

// `tahoma validate`: one line per row, a summary per hardware family, one summary line.
std::string validation_table(const ValidationReport& report);
nlohmann::json validation_json(const ValidationReport& report);
// docs/validation.md: the tables plus a discussion of the worst rows (what dominates their
// predicted step and what the row's source says the model may lack).
std::string validation_markdown(const ValidationReport& report, const std::string& command);

// `tahoma list algorithms`: the collective-algorithm registry.
std::string algorithms_table();
nlohmann::json algorithms_json();

// `tahoma list fields`: every scenario, stack and chip field with its key, flag or kind, and help.
std::string fields_table();
nlohmann::json fields_json();

// `tahoma calibrate`: each constant's group, rows, shipped and re-derived value and the group's error.
std::string calibration_table(const std::string& file, const std::vector<CalibrationResult>& results);
nlohmann::json calibration_json(const std::string& file, const std::vector<CalibrationResult>& results);

// `tahoma collective`: one row per size (bytes, time, algorithm and bus bandwidth, algorithm).
nlohmann::json collective_json(const System& system, const CollectiveRequest& request,
                               const std::vector<CollectiveRow>& rows);
std::string collective_table(const System& system, const CollectiveRequest& request,
                             const std::vector<CollectiveRow>& rows);

// `tahoma search`: what was considered and rejected, the best layouts, why the winner won.
nlohmann::json search_json(const Scenario& base, const SearchOptions& options, const SearchReport& report);
std::string search_table(const Scenario& base, const SearchOptions& options, const SearchReport& report);
// `tahoma compare`: each system's best layout side by side.
nlohmann::json compare_json(const std::vector<Scenario>& bases, const SearchOptions& options,
                            const std::vector<Comparison>& rows);
std::string compare_table(const std::vector<Scenario>& bases, const SearchOptions& options,
                          const std::vector<Comparison>& rows);
// The `tahoma simulate` command line that reproduces a layout of `base`.
std::string simulate_command(const Scenario& base, const Plan& plan);

}  // namespace tahoma
