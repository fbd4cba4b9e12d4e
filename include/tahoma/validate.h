// Validation against published, measured training runs (the schema of validation/README.md): each
// simulable row becomes a scenario with the row's own system, overrides, model dimensions, layout,
// precision and recompute; the predicted tokens/s per chip is compared with the measured one.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tahoma/step.h"

namespace tahoma {

// One CSV file as header -> cell maps (RFC 4180: quoted fields, "" escapes, no line breaks inside).
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
  std::vector<int> lines;  // source line of each row
};
CsvTable read_csv(const std::string& path);

struct ValidationRow {
  std::string id;
  std::string system;
  std::string family;  // hardware family of the system preset
  int chips = 0;
  bool simulated = false;
  std::string skip_reason;               // why not simulated
  std::vector<std::string> assumptions;  // layout or settings chosen because the row left them empty
  double measured = 0;                   // tokens/s per chip
  double predicted = 0;
  double error_pct = 0;  // (predicted - measured) / measured * 100
  bool fits = true;
  std::optional<Scenario> scenario;
  std::optional<StepResult> result;
};

struct FamilySummary {
  std::string family;
  int simulated = 0;
  double mape_pct = 0;
  double max_abs_err_pct = 0;
};

struct ValidationSummary {
  int simulated = 0;
  int skipped = 0;
  double mape_pct = 0;
  double median_abs_err_pct = 0;
  double max_abs_err_pct = 0;
  std::string max_row;
  double mean_signed_err_pct = 0;  // bias: positive = optimistic
  std::vector<FamilySummary> families;
};

struct ValidationReport {
  std::string file;
  std::vector<ValidationRow> rows;
  ValidationSummary summary;
};

struct ValidationFilter {
  std::optional<std::string> only;                 // one row id
  std::optional<std::string> family;               // one hardware family (case-insensitive prefix match)
  StepEngine engine = StepEngine::kEvents;         // how each step is composed
  NetworkMode network = NetworkMode::kAnalytical;  // how its messages are timed
};

// Simulates every selected row. Throws InputError when the file or a row is malformed (naming the
// line and column): a cell not of its column's type or range, a simulable row without the model's
// dimensions or a positive measurement, an unknown system preset or override. A well-formed row that
// cannot be simulated is reported with its reason, not thrown: marked simulable=no, an architecture
// or arch_overrides key Tahoma does not model, or a layout the model or system cannot hold. A UTF-8
// byte-order mark at the start of the file is ignored.
ValidationReport validate_file(const std::string& path, const ValidationFilter& filter = {});

}  // namespace tahoma
