// Validation against published serving measurements (validation/README.md, "Inference"): each
// simulable row becomes a `tahoma serve` run with the row's system, model, instance layout,
// precision, serving stack (from its `framework` column) and request pattern (its `scenario`), and
// the predicted output tokens/s per chip, TTFT and TPOT are compared with the measured ones.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tahoma/validate.h"

namespace tahoma {

struct ServingValidationRow {
  std::string id;
  std::string system;
  std::string family;
  std::string framework;
  std::string scenario;
  std::string stack;
  int chips = 0;
  bool simulated = false;
  bool servable = true;
  std::string skip_reason;
  std::vector<Assumption> assumptions;
  // Measured and predicted; a latency is compared only where the row publishes it (> 0).
  double measured_tokens_per_s_per_chip = 0, predicted_tokens_per_s_per_chip = 0, throughput_error_pct = 0;
  double measured_ttft_s = 0, predicted_ttft_s = 0, ttft_error_pct = 0;
  double measured_tpot_s = 0, predicted_tpot_s = 0, tpot_error_pct = 0;
  std::string statistic;  // the latency statistic compared ("p50")
  nlohmann::json layout;  // the serving layout and engine settings simulated
};

struct ServingSummary {
  int simulated = 0, skipped = 0;
  double throughput_mape_pct = 0, ttft_mape_pct = 0, tpot_mape_pct = 0;
  int ttft_rows = 0, tpot_rows = 0;
};

struct ServingGroupSummary {
  std::string name;
  ServingSummary summary;
};

struct ServingValidationReport {
  std::string file;
  std::vector<ServingValidationRow> rows;
  ServingSummary summary;
  std::vector<ServingGroupSummary> families, frameworks;
};

// Whether a CSV header is the serving schema (it has `scenario` and the output-token columns).
bool is_serving_csv(const CsvTable& table);
// Simulates every simulable row (`only`: one row id; `family`: one hardware family).
ServingValidationReport validate_serving_file(const std::string& path, const ValidationFilter& filter = {});
ServingValidationReport validate_serving_table(const CsvTable& table, const std::string& path,
                                               const ValidationFilter& filter = {});

std::string serving_validation_table(const ServingValidationReport& report);
nlohmann::json serving_validation_json(const ServingValidationReport& report);
// docs/validation-serving.md: the summaries and every row with its assumptions.
std::string serving_validation_markdown(const ServingValidationReport& report, const std::string& command);

}  // namespace tahoma
