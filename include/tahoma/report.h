// Reporting (STYLE.md 12: stats are data; only report/ formats them): JSON documents and
// fixed-width tables for systems, models, scenarios and step results.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tahoma/step.h"

namespace tahoma {

nlohmann::json system_json(const System& system);  // resolved preset + totals
nlohmann::json model_json(const Model& model);
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

}  // namespace tahoma
