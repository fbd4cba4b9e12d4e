// Declarative golden scenarios (STYLE.md 10): each tests/scenarios/*.yaml holds a `scenario:` block
// (the keys of data/scenarios/*.yaml) and an `expect:` block of result metrics, addressed by their
// dotted path in the JSON result, with either {value, rel_tol}, {min, max} or an exact scalar.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "../test_util.h"
#include "tahoma/report.h"

namespace tahoma {
namespace {

namespace fs = std::filesystem;

fs::path golden_dir() {
  return fs::path(TAHOMA_SOURCE_DIR) / "tests" / "scenarios";
}

// The scenarios listed in tests/CMakeLists.txt (TAHOMA_GOLDEN_SCENARIOS, comma-separated stems).
std::vector<std::string> golden_files() {
  std::vector<std::string> files;
  const std::string list = TAHOMA_GOLDEN_SCENARIOS;
  size_t start = 0;
  while (start < list.size()) {
    const size_t comma = list.find(',', start);
    const std::string stem = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!stem.empty()) files.push_back((golden_dir() / (stem + ".yaml")).string());
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return files;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// The value at dotted `path` ("memory.peak_bytes_per_chip") of `j`, or null.
const nlohmann::json* lookup(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json* cur = &j;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST(GoldenFiles, AtLeastSix) {
  EXPECT_GE(golden_files().size(), 6u);
}

TEST(GoldenFiles, EveryFileOnDiskIsListedInCMake) {
  const auto listed = golden_files();
  std::set<std::string> known(listed.begin(), listed.end());
  for (const auto& entry : fs::directory_iterator(golden_dir())) {
    if (entry.path().extension() != ".yaml") continue;
    EXPECT_TRUE(known.count(entry.path().string())) << entry.path().filename() << " is not in tests/CMakeLists.txt";
  }
  for (const auto& f : listed) EXPECT_TRUE(fs::exists(f)) << f;
}

TEST_P(Golden, MatchesExpectations) {
  const std::string file = GetParam();
  const YAML::Node doc = YAML::LoadFile(file);
  for (const auto& kv : doc) {
    const std::string key = kv.first.as<std::string>();
    ASSERT_TRUE(key == "scenario" || key == "expect" || key == "description") << file << ": unknown key " << key;
  }
  ASSERT_TRUE(doc["scenario"] && doc["scenario"].IsMap()) << file << ": needs a scenario: block";
  ASSERT_TRUE(doc["expect"] && doc["expect"].IsMap() && doc["expect"].size() > 0) << file << ": needs an expect: block";

  testing::TempDir dir;
  const std::string scenario_file = dir.write(fs::path(file).filename().string(), YAML::Dump(doc["scenario"]) + "\n");
  ScenarioInput in;
  in.file = scenario_file;
  const Scenario sc = resolve_scenario(in);
  const StepResult r = simulate_step(sc);
  const nlohmann::json result = result_json(sc, r);

  for (const auto& kv : doc["expect"]) {
    const std::string metric = kv.first.as<std::string>();
    const YAML::Node spec = kv.second;
    SCOPED_TRACE(fs::path(file).filename().string() + ": " + metric);
    const nlohmann::json* actual = lookup(result, metric);
    ASSERT_NE(actual, nullptr) << "no metric '" << metric << "' in the result";
    if (spec.IsScalar()) {
      if (actual->is_boolean()) {
        EXPECT_EQ(actual->get<bool>(), spec.as<bool>());
      } else if (actual->is_string()) {
        EXPECT_EQ(actual->get<std::string>(), spec.as<std::string>());
      } else {
        EXPECT_EQ(actual->get<double>(), spec.as<double>());
      }
      continue;
    }
    ASSERT_TRUE(spec.IsMap()) << "expected a scalar, {value, rel_tol} or {min, max}";
    for (const auto& field : spec) {
      const std::string f = field.first.as<std::string>();
      ASSERT_TRUE(f == "value" || f == "rel_tol" || f == "min" || f == "max") << "unknown field " << f;
    }
    ASSERT_TRUE(actual->is_number()) << *actual;
    const double v = actual->get<double>();
    if (spec["value"]) {
      ASSERT_TRUE(spec["rel_tol"]) << "value needs rel_tol";
      const double expected = spec["value"].as<double>();
      const double tol = spec["rel_tol"].as<double>();
      EXPECT_LE(std::abs(v - expected), tol * std::abs(expected))
          << "actual " << v << ", expected " << expected << " within " << tol * 100 << "%";
    } else {
      ASSERT_TRUE(spec["min"] || spec["max"]) << "a band needs min and/or max";
      if (spec["min"]) {
        EXPECT_GE(v, spec["min"].as<double>());
      }
      if (spec["max"]) {
        EXPECT_LE(v, spec["max"].as<double>());
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Golden, ::testing::ValuesIn(golden_files()), test_name);

}  // namespace
}  // namespace tahoma
