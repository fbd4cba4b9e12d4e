#include "tahoma/csv.h"

#include <map>

namespace tahoma {
namespace {

using Row = std::vector<std::pair<std::string, std::string>>;

// The preset contents a simulate result embeds under `config` (reproducibility, STYLE.md 5).
const std::vector<std::string> kPresetPaths = {"config.system", "config.model", "config.stack"};

bool skipped(const std::string& path, const std::vector<std::string>& skip) {
  for (const auto& s : skip) {
    if (path == s || (path.size() > s.size() && path.compare(0, s.size(), s) == 0 && path[s.size()] == '.')) return true;
  }
  return false;
}

std::string scalar_text(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();  // numbers and booleans exactly as the JSON output writes them
}

void flatten_into(const nlohmann::json& v, const std::string& path, const std::vector<std::string>& skip, Row& out) {
  if (!path.empty() && skipped(path, skip)) return;
  if (v.is_object()) {
    for (const auto& [key, child] : v.items()) flatten_into(child, path.empty() ? key : path + "." + key, skip, out);
    return;
  }
  if (v.is_array()) {
    std::string joined;
    for (const auto& e : v) {
      if (e.is_object() || e.is_array()) {  // a list of records: one cell holding its JSON
        out.emplace_back(path, v.dump());
        return;
      }
      if (!joined.empty()) joined += "; ";
      joined += scalar_text(e);
    }
    out.emplace_back(path, joined);
    return;
  }
  out.emplace_back(path.empty() ? "value" : path, scalar_text(v));
}

std::string render(const std::vector<Row>& rows) {
  std::vector<std::string> columns;
  std::map<std::string, std::size_t> index;
  for (const auto& row : rows) {
    for (const auto& [key, text] : row) {
      if (index.emplace(key, columns.size()).second) columns.push_back(key);
    }
  }
  std::string out;
  auto add_line = [&out](const std::vector<std::string>& fields) {
    for (std::size_t col = 0; col < fields.size(); ++col) {
      if (col > 0) out += ',';
      out += csv_field(fields[col]);
    }
    out += "\r\n";
  };
  add_line(columns);
  for (const auto& row : rows) {
    std::vector<std::string> cells(columns.size());
    for (const auto& [key, text] : row) cells[index.at(key)] = text;
    add_line(cells);
  }
  return out;
}

Row ranked(const nlohmann::json& result, std::size_t rank, const Row& lead) {
  Row row = lead;
  row.emplace_back("rank", std::to_string(rank));
  for (auto& cell : flatten_for_csv(result)) row.push_back(std::move(cell));
  return row;
}

}  // namespace

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::vector<std::pair<std::string, std::string>> flatten_for_csv(const nlohmann::json& value,
                                                                  const std::vector<std::string>& skip) {
  Row out;
  flatten_into(value, "", skip, out);
  return out;
}

std::string csv_from_json(std::string_view command, const nlohmann::json& result) {
  std::vector<Row> rows;
  const std::vector<std::string> skip =
      command == "simulate" || command == "demo" ? kPresetPaths : std::vector<std::string>{};
  auto list = [&](const char* key) -> const nlohmann::json* {
    if (!result.is_object()) return nullptr;
    const auto it = result.find(key);
    return it != result.end() && it->is_array() ? &*it : nullptr;
  };
  if (command == "compare" && list("systems") != nullptr) {
    for (const auto& system : *list("systems")) {
      const Row lead = {{"system", scalar_text(system.value("system", nlohmann::json()))}};
      const auto it = system.find("results");
      if (it == system.end() || !it->is_array()) continue;
      for (std::size_t idx = 0; idx < it->size(); ++idx) rows.push_back(ranked((*it)[idx], idx + 1, lead));
    }
  } else if (command == "search" && list("results") != nullptr) {
    const auto& results = *list("results");
    for (std::size_t idx = 0; idx < results.size(); ++idx) rows.push_back(ranked(results[idx], idx + 1, {}));
  } else if ((command == "collective" || command == "validate") && list("rows") != nullptr) {
    for (const auto& r : *list("rows")) rows.push_back(flatten_for_csv(r, skip));
  } else if (result.is_array()) {
    for (const auto& r : result) rows.push_back(flatten_for_csv(r, skip));
  } else {
    rows.push_back(flatten_for_csv(result, skip));
  }
  return render(rows);
}

}  // namespace tahoma
