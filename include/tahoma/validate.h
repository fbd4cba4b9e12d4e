// Validation against published, measured training runs (the schema of validation/README.md): each
// simulable row becomes a scenario with the row's own system, overrides, model dimensions, layout,
// precision and recompute; the predicted tokens/s per chip is compared with the measured one.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tahoma/progress.h"
#include "tahoma/step.h"

namespace tahoma {

// One CSV file as header -> cell maps (RFC 4180: quoted fields, "" escapes, no line breaks inside).
struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
  std::vector<int> lines;  // source line of each row
};
CsvTable read_csv(const std::string& path);

// A setting the row does not fix, or one Tahoma changed from the row, with the rule that chose it.
struct Assumption {
  std::string field;      // the CSV column or plan field: "tp", "recompute", "stack", "flash_attention"
  std::string published;  // the row's cell; empty when not published
  std::string used;       // the value simulated
  std::string rule;       // the convention, stack default or search that chose it
};

struct ValidationRow {
  std::string id;
  std::string system;
  std::string family;  // hardware family of the system preset
  std::string source;     // the `source` cell (the publication)
  std::string framework;  // the `framework` cell (the software stack)
  bool power_capped = false;  // the row's system_overrides cap the chip's power (tdp=...)
  int chips = 0;
  bool simulated = false;
  std::string skip_reason;               // why not simulated
  std::string stack;                     // the software stack simulated (from framework, framework_version)
  std::vector<Assumption> assumptions;   // every field the row does not fix or that was changed from it
  double measured = 0;                   // tokens/s per chip
  double predicted = 0;
  // Leave-one-source-out (`validate --cv source`): the prediction with every calibrated constant
  // re-derived without the rows of this row's source; negative when not computed.
  double cv_predicted = -1;
  double cv_error_pct = 0;
  double error_pct = 0;  // (predicted - measured) / measured * 100
  bool fits = true;
  std::optional<Scenario> scenario;
  std::optional<StepResult> result;
};

// A group of rows (a hardware family, or a framework): in-sample error and, with --cv, the
// leave-one-source-out error of the same rows.
struct FamilySummary {
  std::string family;
  int simulated = 0;
  double mape_pct = 0;
  double max_abs_err_pct = 0;
  std::optional<double> cv_mape_pct;
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
  std::vector<FamilySummary> frameworks;  // the same per `framework` cell
  // Leave-one-source-out (`--cv source`): MAPE over the same rows with the calibrated constants
  // re-derived without each row's source (docs/model.md section 8).
  std::optional<double> cv_mape_pct;
  std::optional<double> cv_median_abs_err_pct;
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
  // Only rows on these system presets (empty: every row), and not the rows skip_row accepts.
  std::set<std::string> systems;
  std::function<bool(const std::map<std::string, std::string>& row)> skip_row;
  // Extra `--set` overrides per system preset, after the row's own (calibration re-derives a
  // constant this way).
  std::map<std::string, std::vector<std::string>> system_sets;
  // (rows done, rows in the file) as the rows are simulated (tahoma/progress.h); cross_validate
  // reports (folds done, folds) instead.
  ProgressFn progress;
};

// Simulates every selected row. Throws InputError when the file or a row is malformed (naming the
// line and column): a cell not of its column's type or range, a simulable row without the model's
// dimensions or a positive measurement, an unknown system preset or override. A well-formed row that
// cannot be simulated is reported with its reason, not thrown: marked simulable=no, an architecture
// or arch_overrides key Tahoma does not model, or a layout the model or system cannot hold. A UTF-8
// byte-order mark at the start of the file is ignored.
ValidationReport validate_file(const std::string& path, const ValidationFilter& filter = {});
// The same on a table already read from `path` (the command reads it once to tell the schemas apart).
ValidationReport validate_table(const CsvTable& table, const std::string& path, const ValidationFilter& filter = {});

// Fills report.summary from its rows: in-sample error, and leave-one-source-out error where every
// simulated row has its cross-validated prediction (cv_predicted >= 0).
void summarize(ValidationReport& report);

// The median of `v` (the mean of the middle two for an even count; 0 when empty).
double median_of(std::vector<double> v);

}  // namespace tahoma
