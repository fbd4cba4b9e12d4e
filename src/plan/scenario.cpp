#include "tahoma/scenario.h"

#include <fmt/format.h>

#include <map>
#include <set>
#include <utility>

#include "internal/yaml_reader.h"
#include "tahoma/error.h"
#include "tahoma/plan_fields.h"

namespace tahoma {

using internal::YamlMap;

namespace {

// The command-line flag of each field validate_plan may name: the table's, and --chips.
std::optional<std::string> flag_of(const std::string& key) {
  if (key == "chips") return "--chips";
  if (const PlanField* f = find_plan_field_by_key(key)) return std::string(f->flag);
  return std::nullopt;
}

// A field read from a scenario file: its value, checked against the field's kind and range.
FieldValue read_field(YamlMap& m, const PlanField& f) {
  const std::string key(f.key);
  switch (f.kind) {
    case FieldKind::kInt:
      return m.integer(key, std::nullopt, static_cast<int>(f.min));
    case FieldKind::kBool:
    case FieldKind::kSwitch:
      return m.boolean(key);
    case FieldKind::kNumber:
      return m.number(key, std::nullopt, f.min, f.max);
    case FieldKind::kChoice:
      return m.string(key);
  }
  return 0;
}

// The problem with `name` as a value of choice field `f`, or "" when it is one of its names.
std::string choice_problem(const PlanField& f, const std::string& name) {
  std::string list;
  for (const auto& c : f.choices) {
    if (c == name) return "";
    list += (list.empty() ? "" : ", ") + c;
  }
  const std::string hint = nearest(name, f.choices);
  return fmt::format("'{}' is not one of: {}{}", name, list, hint.empty() ? "" : "; did you mean '" + hint + "'?");
}

// Where each field of the merged scenario came from, so an error names the flag the user typed or
// the line of the scenario file that set it.
struct Origins {
  std::string file;                                                 // "" without a scenario file
  std::map<std::string, std::pair<std::string, std::string>> in_file;  // field -> (FILE:LINE, key path)
  std::set<std::string> from_flag;

  [[nodiscard]] InputError relocate(const InputError& e) const {
    const std::string& key = e.key_path();
    if (from_flag.count(key) != 0) return InputError("command line", flag_of(key).value_or(key), e.problem());
    if (const auto it = in_file.find(key); it != in_file.end()) {
      return InputError(it->second.first, it->second.second, e.problem());
    }
    // A default value (or a combination): name the field and, where there is one, its flag.
    const auto flag = flag_of(key);
    return InputError(file.empty() ? "command line" : file, flag && file.empty() ? *flag : key, e.problem());
  }
};

}  // namespace

Scenario resolve_scenario(const ScenarioInput& in, bool check_plan) {
  Scenario sc;
  ScenarioInput v = in;  // file values first, flags override
  std::string where = "command line";
  Origins origins;
  std::string file_dir;  // relative system: and model: paths in the file are read from here
  bool system_from_file = false, model_from_file = false, stack_from_file = false;
  size_t file_overrides = 0;
  if (in.file) {
    where = *in.file;
    origins.file = *in.file;
    file_dir = internal::directory_of(*in.file);
    YamlMap root(internal::load_yaml_file(*in.file), *in.file, "");
    root.declare({"system", "stack", "system_overrides", "chips", "model", "training", "plan"});
    if (root.has("stack") && !v.stack) {
      v.stack = root.string("stack");
      stack_from_file = true;
      origins.in_file["stack"] = {root.where_of("stack"), "stack"};
    }
    if (root.has("system")) {
      sc.system_ref = root.string("system");
      system_from_file = true;
    }
    sc.system_overrides = root.strings("system_overrides");
    file_overrides = sc.system_overrides.size();
    for (const char* key : {"system", "system_overrides", "model"}) {
      if (root.has(key)) origins.in_file[key] = {root.where_of(key), key};
    }
    std::optional<int> chips;
    if (root.has("chips")) {
      chips = root.integer("chips", std::nullopt, 1, kMaxChips);
      origins.in_file["chips"] = {root.where_of("chips"), "chips"};
    }
    if (root.has("model")) {
      sc.model_ref = root.string("model");
      model_from_file = true;
    }
    // The training: and plan: mappings hold the table's fields (tahoma/plan_fields.h).
    ScenarioInput file_values;
    for (const auto& [section, name] : {std::pair{FieldSection::kTraining, "training"}, {FieldSection::kPlan, "plan"}}) {
      YamlMap m = root.map(name);
      std::vector<std::string> keys;
      for (const auto& f : plan_fields()) {
        if (f.section == section) keys.emplace_back(f.key);
      }
      m.declare(keys);
      for (const auto& f : plan_fields()) {
        const std::string key(f.key);
        if (f.section != section || !m.has(key)) continue;
        origins.in_file[key] = {m.where_of(key), m.key_path(key)};
        store(f, read_field(m, f), file_values);
      }
      m.finish();
    }
    root.finish();
    // Fill the file's values under the flags.
    if (!v.chips) v.chips = chips;
    for (const auto& f : plan_fields()) fill_under(f, v, file_values);
  }
  if (in.system) {
    sc.system_ref = *in.system;
    system_from_file = false;
  }
  if (in.model) {
    sc.model_ref = *in.model;
    model_from_file = false;
  }
  // The fields the command line set (they override the file's).
  if (in.chips) origins.from_flag.insert("chips");
  for (const auto& f : plan_fields()) {
    if (is_set(f, in)) origins.from_flag.insert(std::string(f.key));
  }
  for (const auto& o : in.overrides) sc.system_overrides.push_back(o);
  if (sc.system_ref.empty())
    throw InputError(where, "system", "missing: give --system NAME (see `tahoma list systems`)");
  if (sc.model_ref.empty()) throw InputError(where, "model", "missing: give --model NAME (see `tahoma list models`)");

  // A system or model the scenario file names (or overrides it lists) that fails to load is blamed
  // on the file first: the loader's own file and key follow.
  const bool overrides_in_file = file_overrides > 0;
  auto from_file = [&](bool named_in_file, const std::string& key, auto&& load) {
    if (!named_in_file) return load();
    try {
      return load();
    } catch (const InputError& e) {
      // An error inside an override names "--set" or "(with --set overrides)": blame the list.
      const bool in_override = e.where().rfind("--set", 0) == 0 || e.where().find("with --set") != std::string::npos;
      const std::string blamed = in_override && overrides_in_file ? "system_overrides" : key;
      throw InputError(origins.in_file.count(blamed) != 0 ? origins.in_file.at(blamed).first : where, blamed, e.what());
    }
  };
  sc.system = from_file(system_from_file || overrides_in_file, system_from_file ? "system" : "system_overrides", [&] {
    return load_system(sc.system_ref, sc.system_overrides, system_from_file ? file_dir : "");
  });
  if (v.chips) {
    if (*v.chips < 1 || *v.chips > kMaxChips) {
      throw origins.relocate(InputError(where, "chips",
                                        fmt::format("{} is out of range (expected 1 to {} chips)", *v.chips, kMaxChips)));
    }
    sc.system.chips = *v.chips;
  } else {
    sc.system.chips = sc.system.scale_up.chips;
  }
  sc.model = from_file(model_from_file, "model", [&] { return load_model(sc.model_ref, model_from_file ? file_dir : ""); });
  sc.stack_ref = v.stack ? *v.stack : sc.system.default_stack;
  if (!sc.stack_ref.empty()) {
    try {
      sc.stack = load_stack(sc.stack_ref, stack_from_file ? file_dir : "");
    } catch (const InputError& e) {
      if (e.where() != "stack") throw;  // a problem inside the stack file names that file and key
      // The name itself is unknown: blame the flag, the scenario's key or the system's `stack:`.
      if (stack_from_file) throw InputError(origins.in_file.at("stack").first, "stack", e.problem());
      if (v.stack) throw InputError("--stack", "", e.problem());
      throw InputError(sc.system_ref, "stack", e.problem());
    }
    if (sc.stack.kind != StackKind::kTraining) {
      const std::string problem = fmt::format(
          "'{}' is a serving stack (kind: serving); a training step needs a training stack (tahoma list stacks), or "
          "run it with tahoma serve",
          sc.stack_ref);
      if (v.stack && !stack_from_file) throw InputError("--stack", "", problem);
      throw InputError(sc.stack.file, "kind", problem);
    }
  } else {
    sc.stack.name = "(none)";  // a system file that names no stack: the built-in defaults, no host costs
  }

  Training& t = sc.training;
  Plan& p = sc.plan;
  if (v.moe_imbalance && !(*v.moe_imbalance >= 1.0 && *v.moe_imbalance <= kMaxMoeImbalance)) {
    throw origins.relocate(InputError(
        where, "moe_imbalance",
        fmt::format("{} is outside [1, {}] (expected the MoE load imbalance moe_imbalance: the busiest rank's "
                    "tokens over the average; 1 = balanced)",
                    *v.moe_imbalance, kMaxMoeImbalance)));
  }
  // Every field given in the file or on the command line, checked against its names.
  auto apply = [&](FieldSection section) {
    for (const auto& f : plan_fields()) {
      if (f.section != section) continue;
      const auto value = input_value(f, v);
      if (!value) continue;
      if (f.kind == FieldKind::kChoice) {
        const std::string problem = choice_problem(f, std::get<std::string>(*value));
        if (!problem.empty()) throw origins.relocate(InputError(where, std::string(f.key), problem));
      }
      f.set(*value, t, p);
    }
  };
  apply(FieldSection::kTraining);
  apply_stack_defaults(sc.stack, t.precision, p);  // the plan's fields below override it
  apply(FieldSection::kPlan);
  // An explicit --offload-activations false keeps the stack from turning selective into offload.
  if (!v.offload_activations || *v.offload_activations) apply_selective_recompute(p);
  if (check_plan) {
    try {
      validate_plan(p, t, sc.model, sc.system, where);
    } catch (const InputError& e) {
      throw origins.relocate(e);
    }
  }
  return sc;
}

}  // namespace tahoma
