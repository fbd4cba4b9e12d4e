// Calibration as data and code (docs/model.md section 8.2): every fitted constant names the
// presets that share it, the published rows that form its group and the rule that re-derives it
// from them (data/calibration.yaml). `tahoma calibrate FILE.csv` re-derives each one;
// `tahoma validate --cv source` predicts every row with the constants re-derived without the rows of
// its own source (leave-one-source-out), the error to expect on a run Tahoma was never tuned on.
#pragma once

#include <string>
#include <vector>

#include "tahoma/validate.h"

namespace tahoma {

// The rules a constant may follow.
enum class CalibrationRule {
  // The value at which the median of measured / predicted tokens/s over the group's rows is 1
  // (rows on power-capped parts excluded: the cap is modelled by Chip::clock_fraction).
  kMedianRatio,
};

struct CalibrationConstant {
  std::string name;  // the group: "NVIDIA Hopper"
  std::string key;   // the preset key it sets: "chip.matmul_efficiency"
  CalibrationRule rule = CalibrationRule::kMedianRatio;
  std::vector<std::string> presets;  // presets that ship the value; rows on them form the group
  bool dense_only = false;           // the group's rows are its dense-model rows (`rows: dense`)
  double min = 0, max = 1;           // the range the rule searches
  int decimals = 2;                  // the precision the presets ship
  std::string why;                   // what the constant stands for (docs)
};

// data/calibration.yaml (or `path`), schema-checked: exit-2 InputError naming file and key.
std::vector<CalibrationConstant> load_calibration(const std::string& path = "");

// The value a preset ships for a calibratable key.
double shipped_value(const CalibrationConstant& c, const std::string& preset);

struct CalibrationResult {
  CalibrationConstant constant;
  double shipped = 0;           // the value in the group's first preset
  bool consistent = true;       // every preset of the group ships the same value
  double derived = 0;           // the rule's output, rounded to the shipped precision
  double exact = 0;             // the rule's output before rounding
  int rows = 0;                 // rows the rule used
  double mape_shipped_pct = 0;  // the group's in-sample MAPE with the shipped value
  double mape_derived_pct = 0;  // ... and with the derived one
  std::string note;             // e.g. "no rows: inherits ..." or "clamped to the range"
};

struct CalibrationOptions {
  ValidationFilter filter;     // engine and network of the simulations (rows are chosen by the rule)
  std::string constants_path;  // "" = data/calibration.yaml
};

// Re-derives every constant by its rule from the rows of `csv_path`.
std::vector<CalibrationResult> calibrate(const std::string& csv_path, const CalibrationOptions& options = {});

// The source a row belongs to for cross-validation: the first word of its `source` cell (the
// repository, site or first author), so the pages of one publisher are one source.
std::string source_key(const std::string& source_cell);

// Leave-one-source-out: for every source, re-derives the constants whose groups hold its rows
// without them (a group left with no rows takes the median of the other groups' values of its
// key: what a family with no published run would get), predicts the source's rows with them, and
// stores each row's cv_predicted and cv_error_pct in `report`, then re-summarizes it.
void cross_validate(const std::string& csv_path, ValidationReport& report, const CalibrationOptions& options = {});

}  // namespace tahoma
