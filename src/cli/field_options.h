// One CLI11 option per field of the scenario-field table (tahoma/plan_fields.h), in its order.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <type_traits>
#include <variant>

#include "tahoma/plan_fields.h"

namespace tahoma::cli {

// The flag of field `f`, writing into `in`: `--flag VALUE`, or a bare `--flag` for a switch.
// Choice names show in --help and are checked when the scenario resolves, where a misspelling
// gets a suggestion.
inline CLI::Option* add_field_option(CLI::App* cmd, ScenarioInput& in, const PlanField& f) {
  const std::string flag(f.flag), help(f.help);
  if (f.kind == FieldKind::kSwitch) {
    auto* target = &(in.*std::get<std::optional<bool> ScenarioInput::*>(f.input));
    return cmd->add_flag_callback(flag, [target] { *target = true; }, help);
  }
  CLI::Option* opt = std::visit([&](auto m) { return cmd->add_option(flag, in.*m, help); }, f.input);
  if (f.kind == FieldKind::kChoice) {
    std::string names;
    for (const auto& c : f.choices) names += (names.empty() ? "" : ",") + c;
    opt->type_name("TEXT:{" + names + "}");
  }
  return opt;
}

// Every field's flag (simulate and search).
inline void add_field_options(CLI::App* cmd, ScenarioInput& in) {
  for (const auto& f : plan_fields()) add_field_option(cmd, in, f);
}

}  // namespace tahoma::cli
