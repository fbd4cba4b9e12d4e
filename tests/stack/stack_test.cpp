// Software-stack presets (data/stacks/, include/tahoma/stack.h): every preset loads, extends
// merges, bad files name file and key, and a stack changes what it should in a step.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "tahoma/scenario.h"
#include "tahoma/stack.h"
#include "tahoma/step.h"
#include "../test_util.h"

namespace tahoma {
namespace {

using testing::TempDir;

TEST(Stack, EveryPresetLoads) {
  const auto presets = list_stack_presets();
  EXPECT_GE(presets.size(), 13u);
  for (const auto& p : presets) {
    EXPECT_EQ(p.description.rfind("(invalid", 0), std::string::npos) << p.name << ": " << p.description;
    EXPECT_EQ(load_stack(p.name).name, p.name);
  }
}

TEST(Stack, ExtendsMergesTheParent) {
  const Stack bridge = load_stack("megatron-bridge-26.02");  // extends 25.11 -> nemo -> megatron-lm-2024
  EXPECT_TRUE(bridge.tp_comm_overlap);
  EXPECT_FALSE(bridge.tp_comm_overlap_fp4);
  EXPECT_FALSE(bridge.grad_reduce_fp32);
  EXPECT_DOUBLE_EQ(bridge.kernel_overhead.value(), 4e-6);
  EXPECT_DOUBLE_EQ(bridge.grouped_gemm_dispatch.value(), 33e-6);
  const Stack old = load_stack("megatron-lm-2021");
  EXPECT_FALSE(old.flash_attention);
  EXPECT_FALSE(old.sequence_parallel);
}

TEST(Stack, BadFileNamesFileAndKey) {
  TempDir dir;
  const std::string base = dir.write("base.yaml",
                                     "name: base\nflash_attention: true\nsequence_parallel: true\ntp_comm_overlap: false\n"
                                     "ep_comm_overlap: false\ngrad_reduce_dtype: fp32\nselective_recompute: core-attention\n"
                                     "micro_batching: gradient-accumulation\nkernel_overhead: 4 us\ngrouped_gemm: per-gemm\n"
                                     "grouped_gemm_dispatch: 0 us\ncp_comm: ring\n");
  EXPECT_EQ(load_stack(base).name, "base");
  const std::string typo = dir.write("typo.yaml", "extends: base.yaml\nname: typo\nflash_atention: false\n");
  std::string msg = testing::input_error([&] { (void)load_stack(typo); });
  EXPECT_CONTAINS(msg, "typo.yaml");
  EXPECT_CONTAINS(msg, "flash_atention");
  const std::string dtype = dir.write("dtype.yaml", "extends: base.yaml\nname: d\ngrad_reduce_dtype: fp16\n");
  msg = testing::input_error([&] { (void)load_stack(dtype); });
  EXPECT_CONTAINS(msg, "grad_reduce_dtype");
  EXPECT_CONTAINS(msg, "fp32, bf16");
  const std::string slow = dir.write("slow.yaml", "extends: base.yaml\nname: s\nkernel_overhead: 2 ms\n");
  msg = testing::input_error([&] { (void)load_stack(slow); });
  EXPECT_CONTAINS(msg, "kernel_overhead");
  const std::string missing = dir.write("missing.yaml", "name: m\n");
  msg = testing::input_error([&] { (void)load_stack(missing); });
  EXPECT_CONTAINS(msg, "missing.yaml");
}

// The field table (stack.h) is the reader's schema: every knob it lists is required in a stack
// without a parent, a knob with `defaults_to` takes that knob's value, and every value a preset
// resolves to survives get -> set unchanged.
// A stack file stating every knob of `ref`'s kind with ref's values.
std::string stack_file_text(const Stack& ref) {
  std::string full = fmt::format("name: t\nkind: {}\n", to_string(ref.kind));
  for (const auto& f : stack_fields()) {
    if (f.section != ref.kind) continue;
    const StackValue v = f.get(ref);
    switch (f.kind) {
      case StackFieldKind::kSeconds: full += fmt::format("{}: {:.17g} s\n", f.key, std::get<double>(v)); break;
      case StackFieldKind::kBytes: full += fmt::format("{}: {:.17g} B\n", f.key, std::get<double>(v)); break;
      case StackFieldKind::kInteger:
      case StackFieldKind::kNumber: full += fmt::format("{}: {:.17g}\n", f.key, std::get<double>(v)); break;
      case StackFieldKind::kBool: full += fmt::format("{}: {}\n", f.key, std::get<bool>(v) ? "true" : "false"); break;
      case StackFieldKind::kChoice: full += fmt::format("{}: {}\n", f.key, std::get<std::string>(v)); break;
    }
  }
  return full;
}

class StackFields : public ::testing::TestWithParam<std::string> {};

TEST_P(StackFields, TableIsTheReadersSchema) {
  TempDir dir;
  const Stack ref = load_stack(GetParam());
  const std::string full = stack_file_text(ref);
  const Stack copy = load_stack(dir.write("full.yaml", full));
  EXPECT_EQ(copy.kind, ref.kind);
  for (const auto& f : stack_fields()) EXPECT_EQ(f.get(copy), f.get(ref)) << f.key;
  for (const auto& f : stack_fields()) {
    if (f.section != ref.kind) {
      // The other kind's knobs are rejected by name.
      const std::string file = dir.write("other.yaml", full + std::string(f.key) + ": 1\n");
      EXPECT_CONTAINS(testing::input_error([&] { (void)load_stack(file); }), std::string(f.key));
      continue;
    }
    // Drop the knob's line: required knobs name themselves, defaulted ones take their source's value.
    std::string without;
    for (size_t pos = 0; pos < full.size();) {
      const size_t end = full.find('\n', pos);
      const std::string line = full.substr(pos, end - pos + 1);
      if (line.rfind(std::string(f.key) + ":", 0) != 0) without += line;
      pos = end + 1;
    }
    const std::string file = dir.write(std::string(f.key) + ".yaml", without);
    if (f.defaults_to.empty()) {
      EXPECT_CONTAINS(testing::input_error([&] { (void)load_stack(file); }), std::string(f.key));
    } else {
      const Stack s = load_stack(file);
      const auto* source = &*std::find_if(stack_fields().begin(), stack_fields().end(),
                                          [&](const StackField& g) { return g.key == f.defaults_to; });
      EXPECT_EQ(f.get(s), source->get(s)) << f.key;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TrainingAndServing, StackFields,
                         ::testing::Values("megatron-bridge-26.02", "maxtext", "vllm", "tensorrt-llm"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

TEST(StackPresets, EveryPresetRoundTripsThroughTheTable) {
  for (const auto& p : list_stack_presets()) {
    const Stack s = load_stack(p.name);
    Stack rebuilt;
    for (const auto& f : stack_fields()) f.set(rebuilt, f.get(s));
    for (const auto& f : stack_fields()) EXPECT_EQ(f.get(rebuilt), f.get(s)) << p.name << " " << f.key;
    for (const auto& f : stack_fields()) {
      if (f.kind == StackFieldKind::kChoice) {
        const std::string name = std::get<std::string>(f.get(s));
        EXPECT_NE(std::find(f.choices.begin(), f.choices.end(), name), f.choices.end()) << f.key << " " << name;
      }
    }
  }
}

TEST(Stack, FrameworkColumnsPickAStack) {
  EXPECT_EQ(stack_for_framework("megatron-lm", "2021", "dgx-a100")->stack, "megatron-lm-2021");
  EXPECT_EQ(stack_for_framework("megatron-bridge", "25.11", "dgx-b200")->stack, "megatron-bridge-25.11");
  EXPECT_EQ(stack_for_framework("megatron-bridge", "26.02", "dgx-b200")->stack, "megatron-bridge-26.02");
  EXPECT_EQ(stack_for_framework("nemo", "24.07", "dgx-h100")->stack, "nemo-24.07");
  EXPECT_EQ(stack_for_framework("maxtext", "", "tpu-v6e")->stack, "maxtext-trillium-recipes");
  EXPECT_EQ(stack_for_framework("maxtext", "", "tpu-v5p")->stack, "maxtext");
  EXPECT_FALSE(stack_for_framework("metaseq", "", "dgx-a100").has_value());
  EXPECT_LT(compare_versions("24.07", "25.4"), 0);
  EXPECT_EQ(compare_versions("v0.1.4", "0.1.4"), 0);
}

Scenario with_stack(const char* stack) {
  ScenarioInput in;
  in.system = "dgx-h100";
  in.chips = 64;
  in.model = "llama3-70b";
  in.seq = 4096;
  in.global_batch = 256;
  in.tp = 8;
  in.pp = 2;
  if (stack != nullptr) in.stack = stack;
  return resolve_scenario(in);
}

TEST(Stack, SystemDefaultKeepsTodaysResults) {
  const Scenario sc = with_stack(nullptr);
  EXPECT_EQ(sc.stack.name, "megatron-lm-2024");
  EXPECT_TRUE(sc.plan.flash_attention);
  EXPECT_TRUE(sc.plan.grad_reduce_fp32);
  EXPECT_FALSE(sc.plan.tp_comm_overlap);
}

TEST(Stack, Bf16GradReductionLowersDataParallelTime) {
  const StepOptions closed{StepEngine::kClosedForm};
  const StepResult fp32 = simulate_step(with_stack("megatron-lm-2024"), closed);
  const StepResult bf16 = simulate_step(with_stack("megatron-bridge-26.02"), closed);
  EXPECT_LT(bf16.breakdown.dp_comm.value() + bf16.breakdown.tp_comm.value(),
            fp32.breakdown.dp_comm.value() + fp32.breakdown.tp_comm.value());
  EXPECT_LT(bf16.step_time, fp32.step_time);
}

TEST(Stack, UnfusedAttentionIsSlower) {
  const StepOptions closed{StepEngine::kClosedForm};
  const StepResult fused = simulate_step(with_stack("megatron-lm-2022"), closed);  // unfused, sp on
  ScenarioInput in;
  const Scenario flash = with_stack("megatron-lm-2024");
  EXPECT_FALSE(with_stack("megatron-lm-2022").plan.flash_attention);
  EXPECT_GT(fused.step_time, simulate_step(flash, closed).step_time);
}

TEST(Stack, FlagsStillWin) {
  ScenarioInput in;
  in.system = "dgx-h100";
  in.chips = 8;
  in.model = "llama3-8b";
  in.seq = 4096;
  in.global_batch = 8;
  in.stack = "megatron-lm-2021";
  in.flash_attention = true;
  const Scenario sc = resolve_scenario(in);
  EXPECT_TRUE(sc.plan.flash_attention);
  EXPECT_FALSE(sc.plan.sequence_parallel);
}

TEST(Stack, UnknownStackNamesTheFlag) {
  const std::string msg = testing::input_error([] { (void)with_stack("nosuch"); });
  EXPECT_CONTAINS(msg, "--stack");
  EXPECT_CONTAINS(msg, "nosuch");
}

}  // namespace
}  // namespace tahoma
