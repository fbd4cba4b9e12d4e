// Calibration as data and code: every shipped constant is its rule's output on the shipped data set,
// the rule is what it says (the median ratio crosses 1 there), leave-one-source-out predicts a source
// with the constants derived from the others only, and a bad constants file is an input error.
#include "tahoma/calibrate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "../test_util.h"

namespace tahoma {
namespace {

using testing::input_error;
using testing::TempDir;

std::string shipped_csv() {
  return testing::data_path("../validation/published_runs.csv");
}

// The rule's output on the shipped set, computed once for the tests that need it.
const std::vector<CalibrationResult>& shipped_results() {
  static const std::vector<CalibrationResult> results = calibrate(shipped_csv());
  return results;
}

// Release only (see tests/CMakeLists.txt): these re-simulate the data set dozens of times.
#ifdef TAHOMA_SANITIZED
#define SKIP_UNDER_SANITIZER() GTEST_SKIP() << "re-simulates the data set; Release builds only"
#else
#define SKIP_UNDER_SANITIZER() (void)0
#endif

// A test fails when a preset ships anything but its rule's output (issue 14 item 4): a model change
// that moves the predictions must re-derive the constants (`tahoma calibrate`), not keep old ones.
TEST(Calibration, ShippedConstantsAreTheirRulesOutput) {
  SKIP_UNDER_SANITIZER();
  const auto& results = shipped_results();
  ASSERT_FALSE(results.empty());
  for (const auto& r : results) {
    SCOPED_TRACE(r.constant.name);
    EXPECT_TRUE(r.consistent) << "the presets of one group must ship one value";
    EXPECT_GT(r.rows, 0) << "a calibrated constant needs rows";
    EXPECT_NEAR(r.derived, r.shipped, 1e-9) << "run `tahoma calibrate validation/published_runs.csv` and ship "
                                            << r.derived << " in " << r.constant.presets.front();
    // The rule: at the unrounded value the median of measured / predicted over the group is 1, so
    // the value one rounding step up over-predicts the median row and one step down under-predicts.
    EXPECT_GE(r.exact, r.constant.min);
    EXPECT_LE(r.exact, r.constant.max);
  }
}

// The median-ratio rule, checked by hand on one group: at the derived value the median of
// measured/predicted is within the search tolerance of 1, above 1 below it and below 1 above it.
TEST(Calibration, MedianRatioCrossesOneAtTheDerivedValue) {
  SKIP_UNDER_SANITIZER();
  const auto constants = load_calibration();
  const auto ampere = std::find_if(constants.begin(), constants.end(),
                                   [](const CalibrationConstant& c) { return c.name == "NVIDIA Ampere"; });
  ASSERT_NE(ampere, constants.end());
  auto median_ratio_at = [&](double value) {
    ValidationFilter f;
    f.systems = {ampere->presets.begin(), ampere->presets.end()};
    f.skip_row = [](const std::map<std::string, std::string>& row) { return row.at("arch") != "dense"; };
    for (const auto& p : ampere->presets) f.system_sets[p] = {"chip.matmul_efficiency=" + std::to_string(value)};
    std::vector<double> ratios;
    for (const auto& row : validate_file(shipped_csv(), f).rows) {
      if (row.simulated && !row.power_capped) ratios.push_back(row.measured / row.predicted);
    }
    std::sort(ratios.begin(), ratios.end());
    const size_t n = ratios.size();
    return n % 2 == 1 ? ratios[n / 2] : 0.5 * (ratios[n / 2 - 1] + ratios[n / 2]);
  };
  const auto& results = shipped_results();
  const auto r = std::find_if(results.begin(), results.end(),
                              [](const CalibrationResult& x) { return x.constant.name == "NVIDIA Ampere"; });
  ASSERT_NE(r, results.end());
  EXPECT_NEAR(median_ratio_at(r->exact), 1.0, 0.002);
  EXPECT_GT(median_ratio_at(r->exact - 0.02), 1.0);
  EXPECT_LT(median_ratio_at(r->exact + 0.02), 1.0);
}

TEST(Calibration, SourceKeyIsTheFirstWord) {
  EXPECT_EQ(source_key("github.com/pytorch/torchtitan docs/performance.md (commit 04133643)"),
            "github.com/pytorch/torchtitan");
  EXPECT_EQ(source_key("Narayanan et al. 2021, 'Efficient Large-Scale ...'"), "Narayanan");
  EXPECT_EQ(source_key("  docs.nvidia.com/nemo; more"), "docs.nvidia.com/nemo");
  EXPECT_EQ(source_key(""), "");
}

// Leave-one-source-out on the Ampere rows (three sources): each source's rows are predicted with
// the value the rule derives from the other sources' rows alone, which a calibration on a file
// without that source reproduces.
TEST(Calibration, LeaveOneSourceOutUsesOnlyTheOtherSources) {
  SKIP_UNDER_SANITIZER();
  const CsvTable table = read_csv(shipped_csv());
  TempDir dir;
  auto csv_of = [&](const std::function<bool(const std::map<std::string, std::string>&)>& keep) {
    std::string text;
    for (size_t i = 0; i < table.header.size(); ++i) text += (i ? "," : "") + table.header[i];
    text += "\n";
    for (const auto& row : table.rows) {
      if (!keep(row)) continue;
      for (size_t i = 0; i < table.header.size(); ++i) {
        std::string cell = row.at(table.header[i]);
        std::string quoted = "\"";
        for (char ch : cell) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        text += (i ? "," : "") + quoted + "\"";
      }
      text += "\n";
    }
    return text;
  };
  auto ampere = [](const std::map<std::string, std::string>& row) { return row.at("system") == "dgx-a100"; };
  const std::string all = dir.write("ampere.csv", csv_of(ampere));
  ValidationReport rep = validate_file(all);
  cross_validate(all, rep);
  ASSERT_TRUE(rep.summary.cv_mape_pct.has_value());
  std::set<std::string> sources;
  for (const auto& row : rep.rows) {
    if (!row.simulated) continue;
    EXPECT_GT(row.cv_predicted, 0) << row.id;
    sources.insert(source_key(row.source));
  }
  ASSERT_GE(sources.size(), 2u);
  const std::string held_out = *sources.begin();
  const std::string others = dir.write(
      "others.csv", csv_of([&](const auto& row) { return ampere(row) && source_key(row.at("source")) != held_out; }));
  double value = 0;
  for (const auto& r : calibrate(others)) {
    if (r.constant.name == "NVIDIA Ampere") value = r.derived;
  }
  ASSERT_GT(value, 0);
  ValidationFilter f;
  f.system_sets["dgx-a100"] = {"chip.matmul_efficiency=" + std::to_string(value)};
  f.skip_row = [&](const std::map<std::string, std::string>& row) { return source_key(row.at("source")) != held_out; };
  int checked = 0;
  for (const auto& row : validate_file(all, f).rows) {
    if (!row.simulated) continue;
    const auto cv =
        std::find_if(rep.rows.begin(), rep.rows.end(), [&](const ValidationRow& r) { return r.id == row.id; });
    ASSERT_NE(cv, rep.rows.end());
    EXPECT_NEAR(cv->cv_predicted, row.predicted, 1e-9 * row.predicted) << row.id;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(CalibrationInput, BadConstantsFilesAreInputErrors) {
  TempDir dir;
  auto load = [&](const std::string& text) { return load_calibration(dir.write("c.yaml", text)); };
  const std::string ok =
      "constants:\n  - name: G\n    key: chip.matmul_efficiency\n    rule: median-ratio\n    presets: [dgx-a100]\n"
      "    range: [0.2, 1.0]\n";
  EXPECT_EQ(load(ok).size(), 1u);
  EXPECT_NE(input_error([&] { load(ok + "    colour: red\n"); }).find("colour"), std::string::npos);
  EXPECT_NE(input_error([&] { load("constants: 5\n"); }).find("constants"), std::string::npos);
  EXPECT_NE(input_error([&] { load("constants:\n  - [a, b]\n"); }).find("constants.0"), std::string::npos);
  std::string bad_rule = ok;
  bad_rule.replace(bad_rule.find("median-ratio"), 12, "mean-ratio");
  EXPECT_NE(input_error([&] { load(bad_rule); }).find("rule"), std::string::npos);
  std::string bad_key = ok;
  bad_key.replace(bad_key.find("chip.matmul_efficiency"), 22, "chip.tdp");
  EXPECT_NE(input_error([&] { load(bad_key); }).find("key"), std::string::npos);
  std::string bad_range = ok;
  bad_range.replace(bad_range.find("[0.2, 1.0]"), 10, "[0.9, 0.1]");
  EXPECT_NE(input_error([&] { load(bad_range); }).find("range"), std::string::npos);
}

}  // namespace
}  // namespace tahoma
