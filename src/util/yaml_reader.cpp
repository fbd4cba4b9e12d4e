#include "internal/yaml_reader.h"

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>

#ifndef TAHOMA_DATA_DIR
#define TAHOMA_DATA_DIR "data"
#endif

namespace tahoma::internal {

namespace fs = std::filesystem;

std::string shape_of(const YAML::Node& n) {
  if (!n || n.IsNull()) return "nothing";
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  return "'" + n.Scalar() + "'";
}

std::string key_text(const YAML::Node& key, const std::string& where, const std::string& path) {
  if (key.IsScalar()) return key.Scalar();
  throw InputError(where, path.empty() ? "(top level)" : path,
                   fmt::format("a key must be a plain name, not {} (expected key: value)", shape_of(key)));
}

namespace {

// A number in SI base units of `dim` with its unit, for range messages.
std::string with_unit(double v, Dimension dim) {
  switch (dim) {
    case Dimension::kBytes: return format_bytes(Bytes(v));
    case Dimension::kSeconds: return fmt::format("{:g} s", v);
    case Dimension::kFlopsPerSecond: return v < 1e20 ? format_flops_rate(FlopsPerSecond(v)) : fmt::format("{:g} FLOP/s", v);
    case Dimension::kBytesPerSecond: return format_bandwidth(BytesPerSecond(v));
    case Dimension::kWatts: return fmt::format("{:g} W", v);
  }
  return fmt::format("{:g}", v);
}

}  // namespace

YamlMap::YamlMap(YAML::Node node, std::string file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {
  if (node_ && !node_.IsMap()) {
    throw InputError(where(node_), path_.empty() ? "(top level)" : path_,
                     fmt::format("expected a mapping of key: value, got {}", shape_of(node_)));
  }
}

std::string YamlMap::where_of(const std::string& key) const {
  return where(node_ && node_[key] ? node_[key] : node_);
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

YamlMap& YamlMap::declare(const std::vector<std::string>& keys) {
  known_.insert(keys.begin(), keys.end());
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
      for (const auto& kv : node_) present.push_back(key_text(kv.first, where(kv.first), path_));
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
  if (!n.IsScalar()) throw error(key, fmt::format("expected a value with a unit, got {}", shape_of(n)));
  try {
    return parse_quantity(n.Scalar(), dim);
  } catch (const std::invalid_argument& e) {
    throw error(key, e.what());
  }
}

double YamlMap::quantity(const std::string& key, Dimension dim, std::optional<double> fallback, double min, double max,
                         bool zero_ok) {
  const bool present = has(key);
  const double v = quantity(key, dim, fallback);
  if (!present) return v;
  if (zero_ok && v == 0) return v;
  if (!(v >= min && v <= max)) {
    throw error(key, fmt::format("{} is outside the physical range {} to {}{} (expected a value in that range)",
                                 node_[key].Scalar(), with_unit(min, dim), with_unit(max, dim),
                                 zero_ok ? ", or 0 for none" : ""));
  }
  return v;
}

int YamlMap::integer(const std::string& key, std::optional<int> fallback, int min, int max) {
  const YAML::Node n = get(key, !fallback.has_value());
  if (!n || n.IsNull()) return *fallback;
  if (!n.IsScalar()) throw error(key, fmt::format("expected an integer, got {}", shape_of(n)));
  const std::string& text = n.Scalar();
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size()) {
    throw error(key, fmt::format("'{}' is not an integer (expected a whole number from {} to {})", text, min, max));
  }
  if (errno == ERANGE || v < min || v > max) {
    throw error(key, fmt::format("{} is out of range (expected a whole number from {} to {})", text, min, max));
  }
  return static_cast<int>(v);
}

double YamlMap::number(const std::string& key, std::optional<double> fallback, double min, double max) {
  const YAML::Node n = get(key, !fallback.has_value());
  if (!n || n.IsNull()) return *fallback;
  if (!n.IsScalar()) throw error(key, fmt::format("expected a number, got {}", shape_of(n)));
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
  if (!n.IsScalar()) throw error(key, fmt::format("expected a string, got {}", shape_of(n)));
  return n.Scalar();
}

bool YamlMap::boolean(const std::string& key, std::optional<bool> fallback) {
  const YAML::Node n = get(key, !fallback.has_value());
  if (!n || n.IsNull()) return *fallback;
  if (!n.IsScalar()) throw error(key, fmt::format("expected true or false, got {}", shape_of(n)));
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
  if (!n.IsSequence()) throw error(key, fmt::format("expected a list, got {}", shape_of(n)));
  for (const auto& item : n) out.push_back(item);
  return out;
}

std::vector<std::string> YamlMap::strings(const std::string& key) {
  std::vector<std::string> out;
  size_t idx = 0;
  for (const YAML::Node& item : sequence(key)) {
    if (!item.IsScalar()) {
      throw InputError(where(item), key_path(fmt::format("{}.{}", key, idx)),
                       fmt::format("expected a string, got {}", shape_of(item)));
    }
    out.push_back(item.Scalar());
    ++idx;
  }
  return out;
}

void YamlMap::finish() const {
  if (!node_) return;
  std::vector<std::string> known(known_.begin(), known_.end());
  for (const auto& kv : node_) {
    const std::string key = key_text(kv.first, where(kv.first), path_);
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

namespace {

void apply_override_unchecked(YAML::Node& root, const std::string& assignment, const std::string& where) {
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
    } else if (cur.IsScalar()) {
      throw InputError(where, path, fmt::format("'{}' holds a value, not a mapping of keys", part));
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
  } else if (leaf.IsScalar()) {
    throw InputError(where, path, fmt::format("'{}' holds a value, not a mapping of keys", leaf.Scalar()));
  } else {
    leaf[parts.back()] = value;
  }
}

}  // namespace

void apply_override(YAML::Node& root, const std::string& assignment, const std::string& where) {
  try {
    apply_override_unchecked(root, assignment, where);
  } catch (const YAML::Exception& e) {
    throw InputError(where, assignment.substr(0, assignment.find('=')),
                     fmt::format("cannot be set ({}; expected a path of mapping keys and list indices)", e.msg));
  }
}

YAML::Node merge(const YAML::Node& base, const YAML::Node& over) {
  if (!base || !over || !base.IsMap() || !over.IsMap()) return YAML::Clone(over ? over : base);
  YAML::Node out = YAML::Clone(base);
  for (const auto& kv : over) {
    const std::string key = key_text(kv.first, "", "");
    out[key] = merge(out[key], kv.second);
  }
  return out;
}

namespace {

std::string at_line(const std::string& file, const YAML::Mark& mark) {
  return mark.line >= 0 ? fmt::format("{}:{}", file, mark.line + 1) : file;
}

// Walks the loaded tree: every mapping key a plain scalar and unique, nesting and size bounded.
void check_tree(const YAML::Node& node, const std::string& file, const std::string& path, int depth, long& nodes) {
  if (++nodes > kMaxYamlNodes) {
    throw InputError(file, path.empty() ? "(top level)" : path,
                     fmt::format("more than {} values (aliases expanded); expected a small configuration file",
                                 kMaxYamlNodes));
  }
  if (depth > kMaxYamlDepth) {
    throw InputError(at_line(file, node.Mark()), path,
                     fmt::format("nested more than {} levels deep (expected a configuration file)", kMaxYamlDepth));
  }
  auto child_path = [&](const std::string& part) { return path.empty() ? part : path + "." + part; };
  if (node.IsMap()) {
    std::map<std::string, int> seen;  // key -> line
    for (const auto& kv : node) {
      const std::string key = key_text(kv.first, at_line(file, kv.first.Mark()), path);
      const int line = kv.first.Mark().line + 1;
      if (const auto it = seen.find(key); it != seen.end()) {
        throw InputError(at_line(file, kv.first.Mark()), child_path(key),
                         fmt::format("duplicate key (first at line {}, again at line {}; expected each key once)",
                                     it->second, line));
      }
      seen.emplace(key, line);
      check_tree(kv.second, file, child_path(key), depth + 1, nodes);
    }
  } else if (node.IsSequence()) {
    size_t idx = 0;
    for (const auto& item : node) check_tree(item, file, child_path(std::to_string(idx++)), depth + 1, nodes);
  }
}

}  // namespace

std::string read_input_file(const std::string& path) {
  static std::optional<std::string> stdin_text;  // "-" may be read by more than one loader
  if (path == "-" && stdin_text) return *stdin_text;
  std::error_code ec;
  if (path != "-" && fs::is_directory(path, ec)) throw InputError(path, "", "is a directory (expected a file)");
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw InputError(path, "", fmt::format("cannot open file: {}", std::strerror(errno)));
  std::string text;
  char buf[65536];
  bool failed = false;
  for (;;) {
    const size_t n = std::fread(buf, 1, sizeof buf, f);
    if (n > 0) {
      if (text.size() + n > kMaxInputFileBytes) {
        if (f != stdin) std::fclose(f);
        throw InputError(path, "",
                         fmt::format("larger than {} MiB (expected a YAML, JSON or CSV file; is it a device?)",
                                     kMaxInputFileBytes >> 20));
      }
      text.append(buf, n);
    }
    if (n < sizeof buf) {
      failed = std::ferror(f) != 0;
      break;
    }
  }
  if (f != stdin) std::fclose(f);
  if (failed) throw InputError(path, "", "cannot read file");
  if (path == "-") stdin_text = text;
  return text;
}

YAML::Node load_yaml_file(const std::string& path) {
  const std::string text = read_input_file(path);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(at_line(path, e.mark), "", "YAML syntax error: " + e.msg);
  }
  long nodes = 0;
  try {
    check_tree(root, path, "", 0, nodes);
  } catch (const YAML::Exception& e) {
    throw InputError(at_line(path, e.mark), "", "unreadable YAML: " + e.msg);
  }
  return root;
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

namespace {

YAML::Node resolve_extends_at(const std::string& kind, const std::string& name_or_path, const std::string& what,
                              const std::string& base_dir, std::string& file, const InheritHook& inherit, int depth) {
  if (depth > kMaxExtendsDepth) {
    throw InputError(what, "", fmt::format("chain deeper than {} files (a cycle?)", kMaxExtendsDepth));
  }
  file = resolve_preset(kind, name_or_path, what, base_dir);
  YAML::Node node = load_yaml_file(file);
  if (!node.IsMap()) {
    throw InputError(file, "(top level)", fmt::format("expected a mapping of key: value, got {}", shape_of(node)));
  }
  if (!node["extends"]) {
    if (inherit) inherit(nullptr, node, file);
    return node;
  }
  YamlMap top(node, file, "");
  const std::string parent_name = top.string("extends");
  std::string parent_file;
  YAML::Node base = resolve_extends_at(kind, parent_name, top.where_of("extends") + ": extends", directory_of(file),
                                       parent_file, inherit, depth + 1);
  if (inherit) inherit(&base, node, file);  // the loaded node still knows its lines
  YAML::Node own = YAML::Clone(node);
  own.remove("extends");
  return merge(base, own);
}

}  // namespace

YAML::Node resolve_extends(const std::string& kind, const std::string& name_or_path, const std::string& what,
                           const std::string& base_dir, std::string& file, const InheritHook& inherit) {
  return resolve_extends_at(kind, name_or_path, what, base_dir, file, inherit, 0);
}

std::string directory_of(const std::string& file) {
  return fs::path(file).parent_path().string();
}

std::string resolve_preset(const std::string& kind, const std::string& name_or_path, const std::string& what,
                           const std::string& base_dir) {
  std::error_code ec;
  if (name_or_path.empty()) throw InputError(what, "", fmt::format("empty name (expected a {} preset or a file path)", kind.substr(0, kind.size() - 1)));
  const fs::path given(name_or_path);
  const fs::path candidate = given.is_relative() && !base_dir.empty() ? fs::path(base_dir) / given : given;
  if (fs::is_regular_file(candidate, ec)) return candidate.string();
  const fs::path preset = fs::path(data_dir()) / kind / (name_or_path + ".yaml");
  if (fs::is_regular_file(preset, ec)) return preset.string();
  const auto names = preset_names(kind);
  const std::string hint = nearest(name_or_path, names);
  std::string msg =
      fmt::format("'{}' is neither a {} preset nor a readable file", name_or_path, kind.substr(0, kind.size() - 1));
  if (given.is_relative() && !base_dir.empty()) {
    msg += fmt::format(" (a relative path is read from {}, the directory of the file that names it)", base_dir);
  }
  msg += hint.empty() ? fmt::format(" (see `tahoma list {}`)", kind) : fmt::format("; did you mean '{}'?", hint);
  throw InputError(what, "", msg);
}

}  // namespace tahoma::internal
