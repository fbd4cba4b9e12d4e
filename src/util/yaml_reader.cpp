#include "internal/yaml_reader.h"

#include <fmt/format.h>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#ifndef TAHOMA_DATA_DIR
#define TAHOMA_DATA_DIR "data"
#endif

namespace tahoma::internal {

namespace fs = std::filesystem;

YamlMap::YamlMap(YAML::Node node, std::string file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {
  if (node_ && !node_.IsMap()) {
    throw InputError(where(node_), path_.empty() ? "(top level)" : path_, "expected a mapping of key: value");
  }
}

std::string YamlMap::where(const YAML::Node& n) const {
  if (n && n.Mark().line >= 0) return fmt::format("{}:{}", file_, n.Mark().line + 1);
  return file_;
}

InputError YamlMap::error(const std::string& key, const std::string& problem) const {
  YAML::Node n = node_ ? node_[key] : YAML::Node();
  return InputError(where(n ? n : node_), key_path(key), problem);
}

bool YamlMap::has(const std::string& key) const {
  return node_ && node_[key] && !node_[key].IsNull();
}

YamlMap& YamlMap::declare(std::initializer_list<const char*> keys) {
  for (const char* k : keys) known_.insert(k);
  return *this;
}

YAML::Node YamlMap::get(const std::string& key, bool required) {
  used_.insert(key);
  known_.insert(key);
  if (!has(key)) {
    if (!required) return {};
    // A misspelling of the required key is the likelier mistake: say so.
    std::vector<std::string> present;
    if (node_) {
      for (const auto& kv : node_) present.push_back(kv.first.as<std::string>());
    }
    for (const auto& p : present) {
      if (known_.count(p) == 0 && nearest(p, {key}) == key) {
        throw InputError(where(node_[p]), key_path(p), "unknown key; did you mean '" + key + "'?");
      }
    }
    throw InputError(where(node_), key_path(key), "missing (required)");
  }
  return node_[key];
}

double YamlMap::quantity(const std::string& key, Dimension dim, std::optional<double> fallback) {
  const YAML::Node n = get(key, !fallback.has_value());
  if (!n || n.IsNull()) return *fallback;
  if (!n.IsScalar()) throw error(key, "expected a value with a unit");
  try {
    return parse_quantity(n.Scalar(), dim);
  } catch (const std::invalid_argument& e) {
    throw error(key, e.what());
  }
}

int YamlMap::integer(const std::string& key, std::optional<int> fallback, int min) {
  const YAML::Node n = get(key, !fallback.has_value());
  if (!n || n.IsNull()) return *fallback;
  long long v = 0;
  try {
    size_t used = 0;
    v = std::stoll(n.Scalar(), &used);
    if (used != n.Scalar().size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw error(key, fmt::format("'{}' is not an integer", n.Scalar()));
  }
  if (v < min) throw error(key, fmt::format("{} must be at least {}", v, min));
  if (v > 1'000'000'000LL) throw error(key, fmt::format("{} is implausibly large", v));
  return static_cast<int>(v);
}

double YamlMap::number(const std::string& key, std::optional<double> fallback, double min, double max) {
  const YAML::Node n = get(key, !fallback.has_value());
  if (!n || n.IsNull()) return *fallback;
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(n.Scalar(), &used);
    if (used != n.Scalar().size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw error(key, fmt::format("'{}' is not a number (a plain number without unit is expected here)", n.Scalar()));
  }
  if (!(v >= min && v <= max)) throw error(key, fmt::format("{} is outside [{}, {}]", v, min, max));
  return v;
}

std::string YamlMap::string(const std::string& key, std::optional<std::string> fallback) {
  const YAML::Node n = get(key, !fallback.has_value());
  if (!n || n.IsNull()) return *fallback;
  if (!n.IsScalar()) throw error(key, "expected a string");
  return n.Scalar();
}

bool YamlMap::boolean(const std::string& key, std::optional<bool> fallback) {
  const YAML::Node n = get(key, !fallback.has_value());
  if (!n || n.IsNull()) return *fallback;
  const std::string& s = n.Scalar();
  if (s == "true") return true;
  if (s == "false") return false;
  throw error(key, fmt::format("'{}' is not a boolean (expected true or false)", s));
}

YamlMap YamlMap::map(const std::string& key) {
  const YAML::Node n = get(key, false);
  return YamlMap(n && !n.IsNull() ? n : YAML::Node(YAML::NodeType::Map), file_, key_path(key));
}

std::vector<YAML::Node> YamlMap::sequence(const std::string& key) {
  const YAML::Node n = get(key, false);
  std::vector<YAML::Node> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence()) throw error(key, "expected a list");
  for (const auto& item : n) out.push_back(item);
  return out;
}

void YamlMap::finish() const {
  if (!node_) return;
  std::vector<std::string> known(known_.begin(), known_.end());
  for (const auto& kv : node_) {
    const std::string key = kv.first.as<std::string>();
    if (known_.count(key) != 0) continue;
    const std::string hint = nearest(key, known);
    std::string msg = "unknown key";
    if (!hint.empty()) {
      msg += "; did you mean '" + hint + "'?";
    } else {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      msg += " (valid keys here: " + list + ")";
    }
    throw InputError(where(kv.first), key_path(key), msg);
  }
}

void apply_override(YAML::Node& root, const std::string& assignment, const std::string& where) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError(where, assignment, "expected KEY.PATH=VALUE, e.g. chip.hbm_capacity=288GB");
  }
  const std::string path = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  // yaml-cpp nodes are handles: descend by rebinding through a vector of handles.
  std::vector<YAML::Node> chain{root};
  for (size_t idx = 0; idx + 1 < parts.size(); ++idx) {
    YAML::Node cur = chain.back();
    const std::string& part = parts[idx];
    if (part.empty()) throw InputError(where, path, "empty path component");
    if (cur.IsSequence()) {
      size_t item = 0;
      try {
        item = std::stoul(part);
      } catch (const std::exception&) {
        throw InputError(where, path, fmt::format("'{}' indexes a list: expected a number", part));
      }
      if (item >= cur.size())
        throw InputError(where, path, fmt::format("index {} out of range ({} items)", item, cur.size()));
      chain.push_back(cur[item]);
    } else {
      if (!cur[part]) cur[part] = YAML::Node(YAML::NodeType::Map);
      chain.push_back(cur[part]);
    }
  }
  YAML::Node leaf = chain.back();
  if (leaf.IsSequence()) {
    size_t item = 0;
    try {
      item = std::stoul(parts.back());
    } catch (const std::exception&) {
      throw InputError(where, path, "expected a list index");
    }
    if (item >= leaf.size()) throw InputError(where, path, "index out of range");
    leaf[item] = value;
  } else {
    leaf[parts.back()] = value;
  }
}

YAML::Node merge(const YAML::Node& base, const YAML::Node& over) {
  if (!base || !over || !base.IsMap() || !over.IsMap()) return YAML::Clone(over ? over : base);
  YAML::Node out = YAML::Clone(base);
  for (const auto& kv : over) {
    const std::string key = kv.first.as<std::string>();
    out[key] = merge(out[key], kv.second);
  }
  return out;
}

YAML::Node load_yaml_file(const std::string& path) {
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw InputError(path, "", "cannot open file");
  } catch (const YAML::ParserException& e) {
    throw InputError(fmt::format("{}:{}", path, e.mark.line + 1), "", "YAML syntax error: " + e.msg);
  }
}

std::string data_dir() {
  if (const char* env = std::getenv("TAHOMA_DATA"); env != nullptr && *env != '\0') return env;
  return TAHOMA_DATA_DIR;
}

std::vector<std::string> preset_names(const std::string& kind) {
  std::vector<std::string> names;
  const fs::path dir = fs::path(data_dir()) / kind;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string resolve_preset(const std::string& kind, const std::string& name_or_path, const std::string& what) {
  std::error_code ec;
  if (fs::is_regular_file(name_or_path, ec)) return name_or_path;
  const fs::path preset = fs::path(data_dir()) / kind / (name_or_path + ".yaml");
  if (fs::is_regular_file(preset, ec)) return preset.string();
  const auto names = preset_names(kind);
  const std::string hint = nearest(name_or_path, names);
  std::string msg =
      fmt::format("'{}' is neither a {} preset nor a readable file", name_or_path, kind.substr(0, kind.size() - 1));
  msg += hint.empty() ? fmt::format(" (see `tahoma list {}`)", kind) : fmt::format("; did you mean '{}'?", hint);
  throw InputError(what, "", msg);
}

}  // namespace tahoma::internal
