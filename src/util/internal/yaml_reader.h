// Schema-checked reading of a YAML mapping: each key is read once with its type and unit; finish()
// rejects keys nobody read, suggesting the nearest valid one. Errors name file, line and key path.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tahoma/error.h"
#include "tahoma/units.h"

namespace tahoma::internal {

class YamlMap {
 public:
  // `file` names the source ("data/systems/x.yaml"); `path` the key path of `node` ("" at the root).
  YamlMap(YAML::Node node, std::string file, std::string path);

  [[nodiscard]] bool has(const std::string& key) const;
  [[nodiscard]] double quantity(const std::string& key, Dimension dim, std::optional<double> fallback = {});
  // A quantity within [min, max] (SI base units of `dim`); 0 is also accepted when `zero_ok` (the
  // documented "none" of optional fields). The message states the range with units.
  [[nodiscard]] double quantity(const std::string& key, Dimension dim, std::optional<double> fallback, double min,
                                double max, bool zero_ok = false);
  [[nodiscard]] int integer(const std::string& key, std::optional<int> fallback = {}, int min = 1,
                            int max = kMaxInteger);
  [[nodiscard]] double number(const std::string& key, std::optional<double> fallback, double min, double max);
  [[nodiscard]] std::string string(const std::string& key, std::optional<std::string> fallback = {});
  [[nodiscard]] bool boolean(const std::string& key, std::optional<bool> fallback = {});
  template <class E>
  [[nodiscard]] E choice(const std::string& key, const std::vector<std::pair<std::string, E>>& options,
                         std::optional<E> fallback = {});
  [[nodiscard]] YamlMap map(const std::string& key);
  [[nodiscard]] std::vector<YAML::Node> sequence(const std::string& key);
  // A list of plain strings (scalars), e.g. system_overrides.
  [[nodiscard]] std::vector<std::string> strings(const std::string& key);
  // Where `key` sits: "FILE:LINE" of its value, or FILE when absent.
  [[nodiscard]] std::string where_of(const std::string& key) const;

  // The largest integer any key accepts unless it states its own limit.
  static constexpr int kMaxInteger = 1'000'000'000;
  void ignore(const std::string& key) { used_.insert(key); }
  // Declares every key this mapping may hold, before any is read: a missing required key is then
  // never blamed on a valid neighbour, and unknown keys get the full list of suggestions.
  YamlMap& declare(std::initializer_list<const char*> keys);
  YamlMap& declare(const std::vector<std::string>& keys);

  // Throws InputError for every key present but never read.
  void finish() const;

  [[nodiscard]] InputError error(const std::string& key, const std::string& problem) const;
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  [[nodiscard]] YAML::Node get(const std::string& key, bool required);
  [[nodiscard]] std::string where(const YAML::Node& n) const;

  YAML::Node node_;
  std::string file_;
  std::string path_;
  std::set<std::string> used_;
  std::set<std::string> known_;
};

// "a mapping", "a list", "a value" or "nothing": what a node is, for messages about the wrong shape.
std::string shape_of(const YAML::Node& n);

template <class E>
E YamlMap::choice(const std::string& key, const std::vector<std::pair<std::string, E>>& options,
                  std::optional<E> fallback) {
  const YAML::Node n = get(key, !fallback.has_value());
  if (!n || n.IsNull()) return *fallback;
  std::vector<std::string> names;
  for (const auto& [name, value] : options) names.push_back(name);
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
  if (!n.IsScalar()) throw error(key, "expected one of: " + list + ", got " + shape_of(n));
  const std::string s = n.Scalar();
  for (const auto& [name, value] : options) {
    if (name == s) return value;
  }
  std::string hint = nearest(s, names);
  throw error(key, "'" + s + "' is not one of: " + list + (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
}

// Parses "a.b.c=value" and sets that scalar in `root`, creating maps as needed. Sequences are
// addressed by index ("scale_up.levels.1.bandwidth=400GB/s"). Throws InputError on a bad path.
void apply_override(YAML::Node& root, const std::string& assignment, const std::string& where);

// Deep merge: maps merge key by key, anything else in `over` replaces `base`.
YAML::Node merge(const YAML::Node& base, const YAML::Node& over);

// Loads a YAML file, turning every yaml-cpp error into InputError with the line. Rejects what the
// schema readers cannot hold: duplicate keys (both lines named), keys that are not plain scalars (a
// mapping or list used as a key), nesting deeper than kMaxYamlDepth and trees (aliases expanded)
// larger than kMaxYamlNodes.
YAML::Node load_yaml_file(const std::string& path);
inline constexpr int kMaxYamlDepth = 64;
inline constexpr long kMaxYamlNodes = 1'000'000;

// The text of a mapping key (a scalar), or InputError at `where` naming `path` when it is not one.
std::string key_text(const YAML::Node& key, const std::string& where, const std::string& path);

// The whole text of an input file, read with a bound so that a device (/dev/zero), a FIFO or a
// runaway file cannot exhaust memory; "-" is standard input (read once, then the same text again).
// Throws InputError naming the file: a directory, unreadable, or larger than kMaxInputFileBytes.
std::string read_input_file(const std::string& path);
inline constexpr std::size_t kMaxInputFileBytes = std::size_t{64} << 20;  // 64 MiB: 10^5 x the largest preset

// The data directory: $TAHOMA_DATA if set, else the source tree's data/ (compiled in).
std::string data_dir();

// Resolves a preset name or a path. A relative path is taken relative to `base_dir` (the directory
// of the file that names it; "" = the current directory); an absolute path as is; otherwise
// DATA/<kind>/<name>.yaml must exist, else InputError listing the nearest preset names.
std::string resolve_preset(const std::string& kind, const std::string& name_or_path, const std::string& what,
                           const std::string& base_dir = "");

// A preset of `kind` (resolve_preset) with its `extends:` chain merged in: the parent, fully
// resolved, then the file's own keys over it (merge). A relative `extends:` path is read from the
// directory of the file that names it; a chain deeper than kMaxExtendsDepth files (a cycle) is an
// InputError. `inherit(parent, own, file)` runs for every file of the chain before the merge (`own`
// as loaded, so messages keep its lines; `parent` null where the file extends nothing): it may
// change the parent by the file's own keys and remove them (a system's `scale:`). `file` receives
// the path of the named preset.
using InheritHook = std::function<void(YAML::Node* parent, YAML::Node& own, const std::string& file)>;
YAML::Node resolve_extends(const std::string& kind, const std::string& name_or_path, const std::string& what,
                           const std::string& base_dir, std::string& file, const InheritHook& inherit = nullptr);
inline constexpr int kMaxExtendsDepth = 8;

// The directory holding `file` ("" for a bare file name), against which the paths it names resolve.
std::string directory_of(const std::string& file);

// Preset names under DATA/<kind>/ (sorted).
std::vector<std::string> preset_names(const std::string& kind);

// Every preset of `kind` as {name, description}, the description read by `describe(name)`; a preset
// that does not load says why in its description instead of failing the whole list.
template <class Info, class Describe>
std::vector<Info> list_presets(const std::string& kind, Describe describe) {
  std::vector<Info> out;
  for (const auto& name : preset_names(kind)) {
    Info info{name, ""};
    try {
      info.description = describe(name);
    } catch (const Error& e) {
      info.description = std::string("(invalid: ") + e.what() + ")";
    }
    out.push_back(info);
  }
  return out;
}

}  // namespace tahoma::internal
