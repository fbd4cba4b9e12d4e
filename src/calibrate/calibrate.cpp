#include "tahoma/calibrate.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include "internal/yaml_reader.h"
#include "tahoma/error.h"
#include "tahoma/hw.h"

namespace tahoma {

namespace {

// The keys a constant may set, and how to read a resolved preset's value of each.
struct CalibratableKey {
  const char* key;
  double (*read)(const System&);
};
constexpr CalibratableKey kKeys[] = {
    {"chip.matmul_efficiency", [](const System& s) { return s.chip.matmul_efficiency; }},
};

const CalibratableKey* find_key(const std::string& key) {
  for (const auto& k : kKeys) {
    if (key == k.key) return &k;
  }
  return nullptr;
}

double round_to(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

// One pass over the group's rows with `value` for the key on every preset of the group; `skip`
// leaves rows out (cross-validation).
ValidationReport run_group(const std::string& csv, const CalibrationConstant& c, double value,
                           const CalibrationOptions& options,
                           const std::function<bool(const std::map<std::string, std::string>&)>& skip) {
  ValidationFilter f = options.filter;
  f.only.reset();
  f.family.reset();
  f.systems = {c.presets.begin(), c.presets.end()};
  f.skip_row = [&c, skip](const std::map<std::string, std::string>& row) {
    if (c.dense_only) {
      const auto arch = row.find("arch");
      if (arch == row.end() || arch->second != "dense") return true;
    }
    return skip && skip(row);
  };
  const std::string set = fmt::format("{}={:.17g}", c.key, value);
  for (const auto& p : c.presets) f.system_sets[p] = {set};
  return validate_file(csv, f);
}

// The rows a rule may use: simulated, on a part run at its rated power.
std::vector<const ValidationRow*> rule_rows(const ValidationReport& r) {
  std::vector<const ValidationRow*> out;
  for (const auto& row : r.rows) {
    if (row.simulated && !row.power_capped && row.predicted > 0) out.push_back(&row);
  }
  return out;
}

double median_ratio(const ValidationReport& r) {
  std::vector<double> ratios;
  for (const ValidationRow* row : rule_rows(r)) ratios.push_back(row->measured / row->predicted);
  return median_of(ratios);
}

struct Derivation {
  double exact = 0;
  int rows = 0;
  std::string note;
};

// The median-ratio rule: predicted tokens/s grows with the constant, so measured / predicted
// falls; bisection finds where its median crosses 1, to a tenth of the shipped precision.
Derivation derive(const std::string& csv, const CalibrationConstant& c, const CalibrationOptions& options,
                  const std::function<bool(const std::map<std::string, std::string>&)>& skip) {
  Derivation d;
  double lo = c.min, hi = c.max;
  const ValidationReport at_hi = run_group(csv, c, hi, options, skip);
  d.rows = static_cast<int>(rule_rows(at_hi).size());
  if (d.rows == 0) {
    d.note = "no rows";
    return d;
  }
  if (median_ratio(at_hi) >= 1) {
    d.exact = hi;
    d.note = "clamped to the top of its range";
    return d;
  }
  if (median_ratio(run_group(csv, c, lo, options, skip)) <= 1) {
    d.exact = lo;
    d.note = "clamped to the bottom of its range";
    return d;
  }
  const double tolerance = 0.1 * std::pow(10.0, -c.decimals);
  while (hi - lo > tolerance) {
    const double mid = 0.5 * (lo + hi);
    (median_ratio(run_group(csv, c, mid, options, skip)) > 1 ? lo : hi) = mid;
  }
  d.exact = 0.5 * (lo + hi);
  return d;
}

CalibrationRule parse_rule(const std::string& name, internal::YamlMap& m) {
  if (name == "median-ratio") return CalibrationRule::kMedianRatio;
  throw m.error("rule", fmt::format("'{}' is not a calibration rule (expected median-ratio)", name));
}

}  // namespace

std::vector<CalibrationConstant> load_calibration(const std::string& path) {
  const std::string file = path.empty() ? internal::data_dir() + "/calibration.yaml" : path;
  const YAML::Node root = internal::load_yaml_file(file);
  if (!root.IsMap()) {
    throw InputError(file, "(top level)",
                     fmt::format("expected a mapping with 'constants', got {}", internal::shape_of(root)));
  }
  internal::YamlMap top(root, file, "");
  top.declare({"constants"});
  std::vector<CalibrationConstant> out;
  const auto items = top.sequence("constants");
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string path_i = fmt::format("constants.{}", i);
    if (!items[i].IsMap()) {
      throw InputError(file, path_i, fmt::format("expected a mapping, got {}", internal::shape_of(items[i])));
    }
    internal::YamlMap m(items[i], file, path_i);
    m.declare({"name", "key", "rule", "rows", "presets", "range", "decimals", "why"});
    CalibrationConstant c;
    c.name = m.string("name");
    c.key = m.string("key");
    if (!find_key(c.key)) {
      throw m.error("key", fmt::format("'{}' is not a calibratable key (expected chip.matmul_efficiency)", c.key));
    }
    c.rule = parse_rule(m.string("rule"), m);
    const std::string rows = m.string("rows", "all");
    if (rows != "all" && rows != "dense") throw m.error("rows", fmt::format("'{}' is not all or dense", rows));
    c.dense_only = rows == "dense";
    c.presets = m.strings("presets");
    if (c.presets.empty()) throw m.error("presets", "expected at least one preset");
    for (const auto& preset : c.presets) {
      try {
        (void)load_system(preset);
      } catch (const InputError& e) {
        throw m.error("presets", fmt::format("'{}' does not load: {}", preset, e.what()));
      }
    }
    const auto range = m.sequence("range");
    if (range.size() != 2 || !range[0].IsScalar() || !range[1].IsScalar()) {
      throw m.error("range", "expected [min, max]");
    }
    try {
      c.min = range[0].as<double>();
      c.max = range[1].as<double>();
    } catch (const YAML::Exception&) {
      throw m.error("range", "expected two numbers [min, max]");
    }
    if (!(c.min > 0 && c.min < c.max && c.max <= 1)) throw m.error("range", "expected 0 < min < max <= 1");
    c.decimals = m.integer("decimals", 2, 0, 6);
    c.why = m.string("why", "");
    m.finish();
    out.push_back(std::move(c));
  }
  top.finish();
  return out;
}

double shipped_value(const CalibrationConstant& c, const std::string& preset) {
  return find_key(c.key)->read(load_system(preset));
}

std::vector<CalibrationResult> calibrate(const std::string& csv_path, const CalibrationOptions& options) {
  const auto constants = load_calibration(options.constants_path);
  // Read (and check) the file once before the groups run in parallel: a malformed file fails here,
  // and standard input ("-") is read by this thread and then served from its cache.
  (void)read_csv(csv_path);
  std::vector<CalibrationResult> out(constants.size());
  tbb::parallel_for(size_t{0}, constants.size(), [&](size_t i) {
    const CalibrationConstant& c = constants[i];
    CalibrationResult& r = out[i];
    r.constant = c;
    r.shipped = shipped_value(c, c.presets.front());
    for (const auto& p : c.presets) r.consistent = r.consistent && shipped_value(c, p) == r.shipped;
    const Derivation d = derive(csv_path, c, options, nullptr);
    r.rows = d.rows;
    r.note = d.note;
    r.exact = d.rows == 0 ? r.shipped : d.exact;
    r.derived = d.rows == 0 ? r.shipped : round_to(d.exact, c.decimals);
    if (d.rows > 0) {
      r.mape_shipped_pct = run_group(csv_path, c, r.shipped, options, nullptr).summary.mape_pct;
      r.mape_derived_pct = run_group(csv_path, c, r.derived, options, nullptr).summary.mape_pct;
    }
  });
  return out;
}

std::string source_key(const std::string& source_cell) {
  const size_t begin = source_cell.find_first_not_of(" \t\"");
  if (begin == std::string::npos) return "";
  const size_t end = source_cell.find_first_of(" \t,;", begin);
  return source_cell.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

void cross_validate(const std::string& csv_path, ValidationReport& report, const CalibrationOptions& options) {
  const auto constants = load_calibration(options.constants_path);
  std::vector<std::string> sources;
  for (const auto& row : report.rows) {
    if (row.simulated) sources.push_back(source_key(row.source));
  }
  std::sort(sources.begin(), sources.end());
  sources.erase(std::unique(sources.begin(), sources.end()), sources.end());

  // Per held-out source: the value of every constant without its rows, then its rows predicted.
  std::vector<std::map<std::string, double>> cv_predicted(sources.size());  // row id -> tokens/s
  // Progress counts folds (held-out sources); the validations inside a fold report nothing.
  const ProgressFn progress = options.filter.progress;
  CalibrationOptions fold_options = options;
  fold_options.filter.progress = {};
  std::mutex progress_mu;
  long long folds_done = 0;
  const auto folds = static_cast<long long>(sources.size());
  if (progress) progress(0, folds);
  tbb::parallel_for(size_t{0}, sources.size(), [&](size_t s) {
    const std::string& held_out = sources[s];
    auto in_source = [&](const std::map<std::string, std::string>& row) {
      const auto it = row.find("source");
      return it != row.end() && source_key(it->second) == held_out;
    };
    // The constants whose groups hold the source's rows are re-derived without them.
    std::set<std::string> touched;
    for (const auto& row : report.rows) {
      if (row.simulated && source_key(row.source) == held_out) touched.insert(row.system);
    }
    std::vector<double> value(constants.size());
    std::vector<bool> orphan(constants.size(), false);
    for (size_t i = 0; i < constants.size(); ++i) {
      const CalibrationConstant& c = constants[i];
      value[i] = shipped_value(c, c.presets.front());
      const bool holds =
          std::any_of(c.presets.begin(), c.presets.end(), [&](const std::string& p) { return touched.count(p) > 0; });
      if (!holds) continue;
      const Derivation d = derive(csv_path, c, fold_options, in_source);
      if (d.rows == 0) {
        orphan[i] = true;
      } else {
        value[i] = round_to(d.exact, c.decimals);
      }
    }
    // A group left without rows takes the median of the other groups' values of its key.
    for (size_t i = 0; i < constants.size(); ++i) {
      if (!orphan[i]) continue;
      std::vector<double> others;
      for (size_t j = 0; j < constants.size(); ++j) {
        if (j != i && !orphan[j] && constants[j].key == constants[i].key) others.push_back(value[j]);
      }
      if (!others.empty()) value[i] = round_to(median_of(others), constants[i].decimals);
    }
    ValidationFilter f = fold_options.filter;
    f.only.reset();
    f.family.reset();
    f.skip_row = [&](const std::map<std::string, std::string>& row) { return !in_source(row); };
    for (size_t i = 0; i < constants.size(); ++i) {
      for (const auto& p : constants[i].presets) {
        f.system_sets[p].push_back(fmt::format("{}={:.17g}", constants[i].key, value[i]));
      }
    }
    for (const auto& row : validate_file(csv_path, f).rows) {
      if (row.simulated) cv_predicted[s][row.id] = row.predicted;
    }
    if (progress) {
      const std::lock_guard lock(progress_mu);
      progress(++folds_done, folds);
    }
  });
  for (auto& row : report.rows) {
    if (!row.simulated) continue;
    const auto s = std::lower_bound(sources.begin(), sources.end(), source_key(row.source)) - sources.begin();
    const auto it = cv_predicted[static_cast<size_t>(s)].find(row.id);
    if (it == cv_predicted[static_cast<size_t>(s)].end()) continue;
    row.cv_predicted = it->second;
    row.cv_error_pct = (row.cv_predicted - row.measured) / row.measured * 100.0;
  }
  summarize(report);
}

}  // namespace tahoma
