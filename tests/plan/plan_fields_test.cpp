// The scenario-field table (tahoma/plan_fields.h): every field is read from its YAML key, has its
// command-line flag, appears in the JSON, and a non-default value survives the reproduce command
// (the printed flags parsed back and resolved give the same plan).
#include "tahoma/plan_fields.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "../test_util.h"
#include "field_options.h"
#include "tahoma/report.h"

namespace tahoma {
namespace {

// A mid-size MoE run every field can be set on (16 H100s, Mixtral 8x7B: 32 layers, 8 experts).
const std::vector<std::string> kBase = {"--system", "dgx-h100", "--chips",         "16", "--model",
                                        "mixtral-8x7b", "--seq", "4096", "--global-batch", "64"};

// A non-default value per numeric field, and the other flags each needs to make a valid plan.
const std::map<std::string, std::string> kIntValue = {
    {"seq", "2048"}, {"global_batch", "128"}, {"tp", "2"},          {"pp", "2"},   {"vpp", "2"},
    {"dp", "8"},     {"cp", "2"},             {"ep", "2"},          {"etp", "1"},  {"micro_batch", "2"},
    {"zero", "2"},   {"recompute_num_layers", "4"}, {"moe_imbalance", "1.25"}};
const std::map<std::string, std::vector<std::string>> kNeeds = {
    {"vpp", {"--pp", "2"}},
    {"etp", {"--tp", "2", "--ep", "2"}},
    {"dp", {"--tp", "2"}},
    {"recompute_num_layers", {"--recompute", "full"}},
    {"offload_activations", {"--recompute", "full"}},
    {"account_for_embedding_and_loss", {"--pp", "2"}},
    {"pp_schedule", {"--pp", "2"}},
    {"ep_comm_overlap", {"--ep", "2"}},
};

// Parses `args` (without the program name) with the simulate command's scenario flags.
ScenarioInput parse(const std::vector<std::string>& args) {
  CLI::App app;
  ScenarioInput in;
  app.add_option("--system", in.system);
  app.add_option("--chips", in.chips);
  app.add_option("--model", in.model);
  app.add_option("--stack", in.stack);
  app.add_option("--set", in.overrides);
  cli::add_field_options(&app, in);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  app.parse(reversed);
  return in;
}

// A value of field `f` other than the one `base` resolves to, as command-line text.
std::string other_value(const PlanField& f, const Scenario& base) {
  const FieldValue now = f.get(base.training, base.plan);
  switch (f.kind) {
    case FieldKind::kBool:
    case FieldKind::kSwitch:
      return std::get<bool>(now) ? "false" : "true";
    case FieldKind::kChoice:
      for (const auto& c : f.choices) {
        if (c != std::get<std::string>(now)) return c;
      }
      break;
    default:
      if (const auto it = kIntValue.find(std::string(f.key)); it != kIntValue.end()) return it->second;
  }
  ADD_FAILURE() << f.key << ": no non-default value in the test";
  return "";
}

// The base flags with what field `f` needs, less any flag of `f` itself.
std::vector<std::string> flags_without(const PlanField& f) {
  std::vector<std::string> args = kBase;
  if (const auto it = kNeeds.find(std::string(f.key)); it != kNeeds.end())
    args.insert(args.end(), it->second.begin(), it->second.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == f.flag) {
      ++i;  // and its value
    } else {
      out.push_back(args[i]);
    }
  }
  return out;
}

// The flags that set `f` to `value` (with what it needs).
std::vector<std::string> flags_for(const PlanField& f, const std::string& value) {
  std::vector<std::string> args = flags_without(f);
  args.emplace_back(f.flag);
  if (f.kind != FieldKind::kSwitch) args.push_back(value);
  return args;
}

std::vector<std::string> split(const std::string& command) {
  std::istringstream words(command);
  std::vector<std::string> out;
  for (std::string w; words >> w;) out.push_back(w);
  return out;
}

TEST(PlanFields, KeysAndFlagsAreUnique) {
  std::set<std::string_view> keys, flags;
  for (const auto& f : plan_fields()) {
    EXPECT_TRUE(keys.insert(f.key).second) << f.key;
    EXPECT_TRUE(flags.insert(f.flag).second) << f.flag;
    EXPECT_EQ(find_plan_field_by_key(f.key), &f);
    EXPECT_EQ(find_plan_field_by_flag(f.flag), &f);
    EXPECT_FALSE(f.help.empty()) << f.key;
    if (f.kind == FieldKind::kChoice) {
      EXPECT_GE(f.choices.size(), 2U) << f.key;
    }
  }
}

TEST(PlanFields, EveryFieldReadsWritesAndReproduces) {
  const Scenario base = resolve_scenario(parse(kBase));
  testing::TempDir dir;
  for (const auto& f : plan_fields()) {
    SCOPED_TRACE(std::string(f.key));
    const std::string value = other_value(f, base);
    const std::vector<std::string> args = flags_for(f, value);

    // The flag exists and sets the field.
    const ScenarioInput from_flags = parse(args);
    ASSERT_TRUE(is_set(f, from_flags));
    const Scenario sc = resolve_scenario(from_flags);
    EXPECT_EQ(to_text(f.get(sc.training, sc.plan)), value);

    // The YAML key is accepted under its section and gives the same value.
    const std::string yaml = dir.write(std::string(f.key) + ".yaml",
                                       std::string(f.section == FieldSection::kPlan ? "plan" : "training") + ":\n  " +
                                           std::string(f.key) + ": " + value + "\n");
    ScenarioInput in_file = parse(flags_without(f));
    in_file.file = yaml;
    const Scenario from_yaml = resolve_scenario(in_file);
    EXPECT_EQ(to_text(f.get(from_yaml.training, from_yaml.plan)), value);

    // The JSON has the key, with the value.
    const nlohmann::json j = scenario_json(sc);
    const nlohmann::json& section = f.section == FieldSection::kPlan ? j["plan"] : j["training"];
    ASSERT_TRUE(section.contains(std::string(f.key)));
    EXPECT_EQ(to_text(f.get(sc.training, sc.plan)), section[std::string(f.key)].is_string()
                                                         ? section[std::string(f.key)].get<std::string>()
                                                         : section[std::string(f.key)].dump());

    // The reproduce command names the flag (a derived field excepted) and resolves to the same plan.
    const std::string command = simulate_command(sc, sc.plan);
    if (f.reproduce != Reproduce::kNever) {
      EXPECT_CONTAINS(command, std::string(f.flag));
    }
    const auto words = split(command);
    ASSERT_GE(words.size(), 2U);
    ASSERT_EQ(words[1], "simulate");
    const Scenario again = resolve_scenario(parse({words.begin() + 2, words.end()}));
    EXPECT_EQ(plan_json(again.plan), plan_json(sc.plan)) << command;
    EXPECT_EQ(scenario_json(again)["training"], j["training"]) << command;
  }
}

TEST(PlanFields, MisspelledChoiceNamesTheFieldAndSuggests) {
  const PlanField& f = *find_plan_field_by_key("cp_comm");
  ScenarioInput in = parse(kBase);
  in.cp_comm = "ringg";
  const std::string message = testing::input_error([&] { resolve_scenario(in); });
  EXPECT_CONTAINS(message, f.flag);
  EXPECT_CONTAINS(message, "did you mean 'ring'");
}

TEST(PlanFields, UnknownPlanKeyIsRejectedWithSuggestion) {
  testing::TempDir dir;
  ScenarioInput in = parse(kBase);
  in.file = dir.write("typo.yaml", "plan:\n  tp_comm_overlapp: true\n");
  const std::string message = testing::input_error([&] { resolve_scenario(in); });
  EXPECT_CONTAINS(message, "tp_comm_overlap");
}

}  // namespace
}  // namespace tahoma
