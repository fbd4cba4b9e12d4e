// `--format csv` (issue 17 item 5, tahoma/csv.h): RFC 4180 quoting, one row per result, and every
// column equal to the JSON value at its dotted key, for simulate, search, compare, collective,
// validate (training and serving files) and serve, run as a user runs them.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../test_util.h"
#include "tahoma/csv.h"

namespace tahoma {
namespace {

using Table = std::vector<std::vector<std::string>>;

// An RFC 4180 reader: quoted fields with doubled quotes, commas and line breaks inside, CRLF ends.
Table parse_csv(const std::string& text) {
  Table rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      ++i;
    } else {
      if (c == '\n' || c == '\r') ADD_FAILURE() << "a bare line break outside quotes at byte " << i;
      field += c;
    }
  }
  EXPECT_FALSE(quoted) << "unterminated quoted field";
  EXPECT_TRUE(field.empty() && row.empty()) << "the last row has no CRLF";
  return rows;
}

std::string run(const std::string& args) {
  testing::TempDir dir;
  const auto out = dir.path() / "stdout";
  const std::string cmd = std::string("'") + TAHOMA_BINARY + "' " + args + " >'" + out.string() + "' 2>/dev/null";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The JSON value at a dotted key as the CSV writes it.
std::string cell_of(const nlohmann::json& j, const std::string& dotted) {
  const nlohmann::json* at = &j;
  std::size_t start = 0;
  while (true) {
    const auto dot = dotted.find('.', start);
    // A key may itself hold a dot ("llama3.1-405b" as a map key): try the longest match first.
    const std::string key = dotted.substr(start);
    if (at->is_object() && at->contains(key)) {
      at = &(*at)[key];
      break;
    }
    if (dot == std::string::npos) return "<missing " + dotted + ">";
    const std::string part = dotted.substr(start, dot - start);
    if (!at->is_object() || !at->contains(part)) return "<missing " + dotted + ">";
    at = &(*at)[part];
    start = dot + 1;
  }
  if (at->is_null()) return "";
  if (at->is_string()) return at->get<std::string>();
  if (at->is_array()) {
    for (const auto& e : *at)
      if (e.is_object() || e.is_array()) return at->dump();
    std::string joined;
    for (const auto& e : *at) {
      if (!joined.empty()) joined += "; ";
      joined += e.is_string() ? e.get<std::string>() : e.dump();
    }
    return joined;
  }
  return at->dump();
}

// Each CSV row's cells against the JSON element it stands for (`pick` maps a row index to it).
template <class Pick>
void expect_columns_match(const Table& csv, std::size_t expected_rows, Pick pick) {
  ASSERT_GE(csv.size(), 2u);
  ASSERT_EQ(csv.size() - 1, expected_rows);
  const auto& header = csv.front();
  for (std::size_t r = 1; r < csv.size(); ++r) {
    ASSERT_EQ(csv[r].size(), header.size()) << "row " << r;
    const nlohmann::json& element = pick(r - 1);
    for (std::size_t c = 0; c < header.size(); ++c) {
      if (header[c] == "rank" || header[c] == "system") continue;  // the lead columns, checked apart
      const std::string want = cell_of(element, header[c]);
      // A column another row brought (the union of keys) is empty here.
      EXPECT_EQ(csv[r][c], want.rfind("<missing", 0) == 0 ? "" : want) << "row " << r << " column " << header[c];
    }
  }
}

TEST(CsvOutput, FieldQuoting) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("tp, cp"), "\"tp, cp\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field(""), "");
}

TEST(CsvOutput, FlattensObjectsJoinsScalarListsKeepsRecordsAsJson) {
  const auto j = nlohmann::json::parse(
      R"({"a": 1, "b": {"c": "x,y", "d": null, "e": true}, "f": [1, 2], "g": [{"h": 1}], "i": 0.1, "k": []})");
  EXPECT_EQ(csv_from_json("simulate", j),
            "a,b.c,b.d,b.e,f,g,i,k\r\n1,\"x,y\",,true,1; 2,\"[{\"\"h\"\":1}]\",0.1,\r\n");
}

TEST(CsvOutput, RowsAreTheUnionOfKeysInFirstAppearanceOrder) {
  const auto j = nlohmann::json::parse(R"({"rows": [{"a": 1}, {"b": 2, "a": 3}]})");
  EXPECT_EQ(csv_from_json("validate", j), "a,b\r\n1,\r\n3,2\r\n");
}

TEST(CsvOutputCli, SimulateIsOneRowAndQuotesThePlacement) {
  const std::string args = "simulate --system trn2 --chips 64 --model llama3-8b --seq 4096 --global-batch 64 --tp 4";
  const auto j = nlohmann::json::parse(run(args + " --format json"));
  const std::string text = run(args + " --format csv");
  // The placement "tp, cp, pp, dp (tp innermost)" holds commas: quoted.
  EXPECT_NE(text.find("\"tp, cp, pp, dp (tp innermost)\""), std::string::npos) << text;
  const Table csv = parse_csv(text);
  expect_columns_match(csv, 1, [&](std::size_t) -> const nlohmann::json& { return j; });
  const auto& header = csv.front();
  for (const char* key : {"tokens_per_s", "step_time_s", "mfu", "breakdown.compute_s", "memory.peak_bytes_per_chip",
                          "config.plan.tp", "config.plan.placement", "config.training.global_batch"}) {
    EXPECT_NE(std::find(header.begin(), header.end(), key), header.end()) << key;
  }
  for (const auto& h : header) EXPECT_NE(h.rfind("config.system.", 0), 0u) << "preset contents are left to JSON: " << h;
}

TEST(CsvOutputCli, SearchIsOneRowPerRankedLayout) {
  const std::string args = "search --system trn2 --chips 64 --model llama3-8b --seq 4096 --global-batch 64 --top 3";
  const auto j = nlohmann::json::parse(run(args + " --format json"));
  const Table csv = parse_csv(run(args + " --format csv"));
  ASSERT_EQ(j["results"].size(), 3u);
  expect_columns_match(csv, 3, [&](std::size_t i) -> const nlohmann::json& { return j["results"][i]; });
  EXPECT_EQ(csv[0][0], "rank");
  EXPECT_EQ(csv[3][0], "3");
}

TEST(CsvOutputCli, CompareIsOneRowPerSystemAndLayout) {
  const std::string args =
      "compare --systems trn2,tpu-v7 --chips 64 --model llama3-8b --seq 4096 --global-batch 64 --top 2";
  const auto j = nlohmann::json::parse(run(args + " --format json"));
  const Table csv = parse_csv(run(args + " --format csv"));
  std::vector<std::pair<std::string, const nlohmann::json*>> rows;
  for (const auto& s : j["systems"])
    for (const auto& r : s["results"]) rows.emplace_back(s["system"].get<std::string>(), &r);
  expect_columns_match(csv, rows.size(), [&](std::size_t i) -> const nlohmann::json& { return *rows[i].second; });
  EXPECT_EQ(csv[0][0], "system");
  EXPECT_EQ(csv[0][1], "rank");
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(csv[i + 1][0], rows[i].first);
}

TEST(CsvOutputCli, CollectiveIsOneRowPerSize) {
  const std::string args = "collective --system trn2 --op all-gather -b 1KB -e 1GB";
  const auto j = nlohmann::json::parse(run(args + " --format json"));
  const Table csv = parse_csv(run(args + " --format csv"));
  expect_columns_match(csv, j["rows"].size(), [&](std::size_t i) -> const nlohmann::json& { return j["rows"][i]; });
}

// One family of each shipped file (simulated and skipped rows both), so the check stays seconds long
// under the sanitizers; the whole files go through the same writer in ShippedSet and the docs checks.
TEST(CsvOutputCli, ValidateIsOneRowPerCsvRowTrainingAndServing) {
  for (const char* file : {"validation/published_runs.csv", "validation/published_serving.csv"}) {
    const std::string args = std::string("validate ") + TAHOMA_SOURCE_DIR + "/" + file + " --family Trainium";
    const auto j = nlohmann::json::parse(run(args + " --format json"));
    const Table csv = parse_csv(run(args + " --format csv"));
    expect_columns_match(csv, j["rows"].size(), [&](std::size_t i) -> const nlohmann::json& { return j["rows"][i]; });
  }
}

TEST(CsvOutputCli, ServeIsOneRow) {
  const std::string args = "serve --system trn2 --chips 16 --model llama3-8b --tp 4 --offline --requests 40";
  const auto j = nlohmann::json::parse(run(args + " --format json"));
  const Table csv = parse_csv(run(args + " --format csv"));
  expect_columns_match(csv, 1, [&](std::size_t) -> const nlohmann::json& { return j; });
  const auto& header = csv.front();
  for (const char* key : {"throughput.output_tokens_per_s_per_chip", "ttft_s.p99", "layout.tp"}) {
    EXPECT_NE(std::find(header.begin(), header.end(), key), header.end()) << key;
  }
}

}  // namespace
}  // namespace tahoma
