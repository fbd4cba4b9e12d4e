// The table of scenario fields (STYLE.md 3, "one declaration per field"): each training and plan
// setting a user can give is declared once, with its YAML/JSON key, CLI flag, help, kind, range or
// names, where its default comes from and how the reproduce command prints it. The scenario reader
// (src/plan/scenario.cpp), the CLI flags (src/cli/field_options.h), plan_json and simulate_command
// (src/report/report.cpp) walk this table; a new knob is one line in plan_fields.cpp plus its physics.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tahoma/scenario.h"

namespace tahoma {

// The YAML mapping a field sits in (training: or plan:) and the struct it resolves into.
enum class FieldSection { kTraining, kPlan };

enum class FieldKind {
  kInt,     // an integer, at least `min` when read from YAML (validate_plan checks the rest)
  kBool,    // true/false; on the command line `--flag true|false`
  kSwitch,  // a bool whose command-line flag takes no value and only turns it on
  kNumber,  // a real number within [min, max]
  kChoice,  // one of `choices`
};

// Where the value comes from when neither the scenario file nor a flag sets it.
enum class FieldDefault {
  kBuiltIn,  // Plan{} / Training{}
  kStack,    // the software stack (apply_stack_defaults, apply_selective_recompute)
};

// How simulate_command (the search's "reproduce the winner") prints the field.
enum class Reproduce {
  kWithWork,   // printed by the command's head with the system and model (seq, batch, precision)
  kAlways,     // the layout: always printed
  kIfChanged,  // printed when it differs from its default (the built-in one, then the stack's)
  kNever,      // derived from the rest (dp = ranks / (tp*pp*cp))
};

// The unresolved value in a ScenarioInput (unset = keep the file's or the default).
using FieldInput = std::variant<std::optional<int> ScenarioInput::*, std::optional<bool> ScenarioInput::*,
                                std::optional<double> ScenarioInput::*, std::optional<std::string> ScenarioInput::*>;
// A resolved value: int for kInt, bool for kBool/kSwitch, double for kNumber, the name for kChoice.
using FieldValue = std::variant<int, bool, double, std::string>;

struct PlanField {
  std::string_view key;   // YAML key under `section`, JSON key and validate_plan's key
  std::string_view flag;  // command-line flag, e.g. "--tp-comm-overlap"
  std::string_view help;  // the flag's --help line
  FieldSection section;
  FieldKind kind;
  FieldDefault default_from;
  Reproduce reproduce;
  double min = 0, max = 0;           // kInt (min only, from YAML) and kNumber (both)
  std::vector<std::string> choices;  // kChoice, in the order error messages list them
  FieldInput input;                  // the optional in ScenarioInput
  // The resolved value in Training or Plan, and its assignment from a checked input value.
  FieldValue (*get)(const Training&, const Plan&);
  void (*set)(const FieldValue&, Training&, Plan&);
};

// Every field, in --help order.
std::span<const PlanField> plan_fields();
// The field with this YAML/JSON key or this flag, or nullptr.
const PlanField* find_plan_field_by_key(std::string_view key);
const PlanField* find_plan_field_by_flag(std::string_view flag);

// Whether the field is set in `in`; copying the field from `from` into `to` where `to` leaves it unset.
bool is_set(const PlanField& f, const ScenarioInput& in);
void fill_under(const PlanField& f, ScenarioInput& to, const ScenarioInput& from);
// Stores `value` (from a YAML file) into the field's optional in `in`.
void store(const PlanField& f, const FieldValue& value, ScenarioInput& in);
// The field's value in `in` as a FieldValue, when set (choices as given, unchecked).
std::optional<FieldValue> input_value(const PlanField& f, const ScenarioInput& in);

// "true", "4", "all-gather", "1.3": a value as the command line and the table print it.
std::string to_text(const FieldValue& v);

}  // namespace tahoma
