// Readers of validation CSV cells shared by the training (validate.cpp) and serving (serving.cpp)
// validators: typed cells with the column named in every message, the system overrides, the model
// dimensions and the arch_overrides column (validation/README.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tahoma/workload.h"

namespace tahoma::validate_rows {

using Row = std::map<std::string, std::string>;

// Why a well-formed row cannot be simulated (its layout does not fit the model or the system, or
// the step cannot be computed): the row is reported as skipped with this reason. A malformed row
// (a cell that is not of its column's type or range) is an InputError instead.
struct RowSkip {
  std::string reason;
};

// An optional whole-number cell (empty = nullopt); InputError naming the column otherwise.
std::optional<int> int_cell(const Row& row, const std::string& key, const std::string& where);
// The raw cell ("" when absent).
std::string cell(const Row& row, const std::string& key);
// A non-negative finite number (empty = 0).
double number_cell(const Row& row, const std::string& key, const std::string& where);
// The system_overrides cell as `--set` overrides of the system preset.
std::vector<std::string> system_overrides(const std::string& text, const std::string& where);
// The model from the dimension columns.
Model row_model(const Row& row, const std::string& where);
// --family: the row's hardware family contains `wanted`, case-insensitively ("hopper", "AWS").
bool family_matches(const std::string& family, const std::string& wanted);
// Applies arch_overrides; returns why the row cannot be simulated, or nothing.
std::optional<std::string> apply_arch_overrides(Model& m, const std::string& text, const std::string& where);

}  // namespace tahoma::validate_rows
