// CSV renderings of the JSON results (`--format csv`, issue 17 item 5; columns in docs/csv.md).
// RFC 4180: a header row, then one row per result, CRLF line ends, a field quoted when it holds a
// comma, a double quote (doubled inside) or a line break. Column names are the JSON keys, nested
// keys as dotted paths (`breakdown.compute_s`), so a CSV column and a JSON value can never disagree.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tahoma {

// One field as RFC 4180 writes it: as is, or in double quotes with inner quotes doubled.
std::string csv_field(std::string_view text);

// The scalars of `value` as (dotted key, cell text): objects are walked, an array of scalars is one
// cell joined by "; ", an array of records is one cell holding its JSON (so a command's columns
// do not depend on what its lists hold); null is an empty cell, a number is
// written as the JSON output writes it. Keys under a path in `skip` are left out.
std::vector<std::pair<std::string, std::string>> flatten_for_csv(const nlohmann::json& value,
                                                                  const std::vector<std::string>& skip = {});

// The rows of the JSON result of `command` (what `tahoma COMMAND --format json` prints) as CSV:
//  - compare: one row per ranked layout of each system, led by `system` and `rank`;
//  - search (and search --serve): one row per ranked layout (`results`), led by `rank`;
//  - collective and validate (training and serving files): one row per element of `rows`;
//  - a JSON array (list, demo): one row per element;
//  - anything else (simulate, serve, run, show, calibrate): one row. simulate's and demo's
//    `config.system`, `config.model` and `config.stack` (the presets; `tahoma show` prints them) are
//    left out, the layout (`config.plan.*`) and training (`config.training.*`) stay.
// Columns are the union of the rows' keys in the order they first appear.
std::string csv_from_json(std::string_view command, const nlohmann::json& result);

}  // namespace tahoma
