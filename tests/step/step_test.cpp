// The training-step model end to end: identities that must hold exactly (breakdown sums, token
// accounting), physical monotonicity (more bandwidth is never slower, more chips give more
// tokens/s), the extremes (1 chip, 1,048,576 chips) and determinism.
#include "tahoma/step.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "../test_util.h"
#include "tahoma/report.h"

namespace tahoma {
namespace {

ScenarioInput input(const char* system, int chips, const char* model, int seq, int global_batch, int tp = 1,
                    int pp = 1) {
  ScenarioInput in;
  in.system = system;
  in.chips = chips;
  in.model = model;
  in.seq = seq;
  in.global_batch = global_batch;
  in.tp = tp;
  in.pp = pp;
  return in;
}

ScenarioInput million_chips() {
  ScenarioInput in = input("trn3-ultraserver", 1048576, "llama3.1-405b", 8192, 16384, 8, 16);
  in.account_for_embedding_and_loss = true;
  return in;
}

void expect_rel(double actual, double expected, double tol) {
  EXPECT_NEAR(actual, expected, tol * std::abs(expected)) << "actual " << actual << " expected " << expected;
}

// Identities every result must satisfy.
void check_invariants(const Scenario& sc, const StepResult& r) {
  SCOPED_TRACE(sc.system.name + " x" + std::to_string(sc.system.total_chips()) + " " + sc.model.name);
  ASSERT_TRUE(std::isfinite(r.step_time.value()));
  ASSERT_GT(r.step_time.value(), 0.0);
  const StepBreakdown& b = r.breakdown;
  expect_rel((b.compute + b.exposed_comm + b.bubble + b.optimizer).value(), r.step_time.value(), 1e-9);
  expect_rel((b.tp_comm + b.cp_comm + b.pp_comm + b.dp_comm + b.ep_comm).value(), b.exposed_comm.value(), 1e-9);
  for (const Seconds part :
       {b.compute, b.exposed_comm, b.bubble, b.optimizer, b.tp_comm, b.cp_comm, b.pp_comm, b.dp_comm, b.ep_comm}) {
    EXPECT_GE(part.value(), 0.0);
    EXPECT_TRUE(std::isfinite(part.value()));
  }
  EXPECT_GT(b.compute.value(), 0.0);
  expect_rel(r.tokens_per_s * r.step_time.value(), static_cast<double>(sc.training.global_batch) * sc.training.seq,
             1e-9);
  expect_rel(r.tokens_per_s_per_chip * sc.system.total_chips(), r.tokens_per_s, 1e-9);
  EXPECT_GT(r.mfu, 0.0);
  EXPECT_LT(r.mfu, 1.0);
  EXPECT_GT(r.hfu, 0.0);
  EXPECT_LT(r.hfu, 1.0);
  // No more FLOPs than the chips can do at their achievable rate.
  EXPECT_LE(r.hfu, sc.system.chip.matmul_efficiency + 1e-9);
  EXPECT_EQ(r.microbatches, num_microbatches(sc.plan, sc.training));
  EXPECT_TRUE(std::isfinite(r.memory.total.value()));
  EXPECT_GT(r.power_watts_per_chip, 0.0);
  EXPECT_LE(r.power_watts_per_chip, sc.system.chip.tdp.value() + 1e-9);
  // Energy (docs/energy.md): IT adds the host and network power, facility multiplies IT by PUE.
  const double chips_s = sc.system.total_chips() * r.step_time.value();
  expect_rel(r.energy_joules_per_step, r.power_watts_per_chip * chips_s, 1e-12);
  expect_rel(r.it_power_watts_per_chip,
             r.power_watts_per_chip + (sc.system.host_power_per_chip + sc.system.network_power_per_chip).value(), 1e-12);
  expect_rel(r.energy_facility_joules_per_step, r.energy_it_joules_per_step * sc.system.pue.value_or(1.0), 1e-12);
  for (double share : {r.activity.compute, r.activity.memory, r.activity.network}) {
    EXPECT_GE(share, 0.0);
    EXPECT_LE(share, 1.0);
  }
  // The model FLOPs of a step over the step time and peak give the MFU.
  const double peak = sc.system.chip.peak(sc.training.precision)->value() * sc.system.total_chips();
  expect_rel(r.mfu, r.model_flops_per_token * r.tokens_per_s / peak, 1e-12);
}

TEST(Step, OneChip) {
  ScenarioInput in = input("dgx-h100", 1, "llama3-8b", 2048, 4);
  in.micro_batch = 1;
  const Scenario sc = resolve_scenario(in);
  EXPECT_EQ(sc.plan.dp, 1);
  const StepResult r = simulate_step(sc);
  check_invariants(sc, r);
  EXPECT_EQ(r.microbatches, 4);
  // One chip: no communication and no bubble.
  EXPECT_EQ(r.breakdown.exposed_comm.value(), 0.0);
  EXPECT_EQ(r.breakdown.bubble.value(), 0.0);
  // An 8B model in bf16 on one H100: MFU of a well-shaped dense step is in the tens of percent.
  EXPECT_GT(r.mfu, 0.3);
  EXPECT_LT(r.mfu, 0.75);
}

TEST(Step, MillionChips) {
  const Scenario sc = resolve_scenario(million_chips());
  EXPECT_EQ(sc.plan.dp, 8192);
  const StepResult r = simulate_step(sc);
  check_invariants(sc, r);
  EXPECT_EQ(r.microbatches, 2);
  EXPECT_GT(r.breakdown.bubble.value(), 0.0);
  EXPECT_GT(r.breakdown.dp_comm.value(), 0.0);  // 2 micro-batches cannot hide the 8192-way reduction
  // Its speed is measured in bench/bench_step.cpp, not here.
}

TEST(Step, PartialScaleUpDomainIsFlagged) {
  ScenarioInput in = million_chips();
  in.chips = 16384;  // 113.8 Trn3 UltraServers
  in.global_batch = 2048;
  EXPECT_EQ(simulate_step(resolve_scenario(in)).warnings.size(), 1u);
  in.chips = 144 * 128;  // whole UltraServers: 18,432 chips, dp 144
  in.global_batch = 144 * 16;
  EXPECT_TRUE(simulate_step(resolve_scenario(in)).warnings.empty());
}

TEST(Step, PresetsSatisfyInvariants) {
  std::vector<ScenarioInput> cases = {
      input("dgx-a100", 1024, "gpt3-175b", 2048, 1536, 8, 8),
      input("dgx-h100", 64, "llama3-70b", 8192, 64, 8, 4),
      input("gb200-nvl72", 72, "llama3-8b", 8192, 72, 1, 1),
      input("tpu-v5p", 256, "llama2-70b", 4096, 256, 8, 4),
      input("trn1", 16, "llama2-7b", 4096, 32, 8, 1),
      input("trn2-ultraserver", 64, "llama3-70b", 8192, 64, 8, 4),
      input("dgx-h100", 64, "mixtral-8x7b", 4096, 64, 1, 1),
      input("gb300-nvl72", 288, "deepseek-v3", 4096, 288, 1, 1),
  };
  cases.push_back(input("dgx-h100", 16, "llama3-8b", 16384, 8, 8, 1));
  cases.back().cp = 2;
  cases.push_back(input("trn1", 1, "llama3-8b", 2048, 8, 2, 1));  // two NeuronCores of one chip
  cases.push_back(input("tpu-v7", 64, "llama3-70b", 8192, 32, 2, 4));
  cases.back().cp = 2;
  cases.push_back(input("dgx-h100", 16, "llama3-8b", 4096, 64, 2, 2));
  cases.back().vpp = 4;
  cases.back().precision = "fp8";
  cases[6].ep = 8;
  cases[7].ep = 8;
  cases[7].zero = 1;
  for (auto& c : cases) {
    const Scenario sc = resolve_scenario(c);
    check_invariants(sc, simulate_step(sc));
  }
}

TEST(Step, RecomputeAndZeroVariants) {
  for (const char* rc : {"none", "selective", "full"}) {
    for (int zero : {0, 1, 2, 3}) {
      ScenarioInput in = input("dgx-h100", 32, "llama3-8b", 4096, 64, 4, 2);
      in.recompute = rc;
      in.zero = zero;
      const Scenario sc = resolve_scenario(in);
      SCOPED_TRACE(std::string(rc) + " zero " + std::to_string(zero));
      check_invariants(sc, simulate_step(sc));
    }
  }
}

TEST(Step, FullRecomputeCostsAnExtraForward) {
  ScenarioInput sel = input("dgx-h100", 8, "llama3-8b", 4096, 32, 8, 1);
  sel.recompute = "selective";
  ScenarioInput full = sel;
  full.recompute = "full";
  const StepResult rs = simulate_step(resolve_scenario(sel));
  const StepResult rf = simulate_step(resolve_scenario(full));
  EXPECT_GT(rf.step_time.value(), rs.step_time.value());
  EXPECT_GT(rf.hardware_flops_per_step.value(), rs.hardware_flops_per_step.value());
  EXPECT_DOUBLE_EQ(rf.model_flops_per_token, rs.model_flops_per_token);  // the model's FLOPs do not change
  // Forward is about a third of forward + backward: full recompute adds ~25-35% time.
  EXPECT_GT(rf.step_time.value() / rs.step_time.value(), 1.15);
  EXPECT_LT(rf.step_time.value() / rs.step_time.value(), 1.45);
  EXPECT_LT(rf.memory.activations.value(), rs.memory.activations.value());
}

TEST(Step, MoreBandwidthIsNeverSlower) {
  struct Case {
    ScenarioInput in;
    std::vector<std::string> faster;
  };
  std::vector<Case> cases;
  for (const char* ov :
       {"chip.hbm_bandwidth=6.7TB/s", "scale_up.levels.0.bandwidth=900GB/s", "scale_out.bandwidth=800Gb/s"}) {
    cases.push_back({input("dgx-h100", 64, "llama3-70b", 8192, 128, 8, 4), {ov}});
    cases.push_back({input("dgx-h100", 64, "llama3-8b", 4096, 64, 2, 1), {ov}});
  }
  for (const char* ov : {"chip.hbm_bandwidth=9.8TB/s", "scale_up.levels.0.bandwidth=1152GB/s",
                         "scale_up.levels.1.bandwidth=640GB/s", "scale_up.levels.2.bandwidth=256GB/s"}) {
    cases.push_back({million_chips(), {ov}});
    cases.push_back({input("trn3-ultraserver", 1152, "llama3.1-405b", 8192, 288, 8, 9), {ov}});
  }
  for (const char* ov :
       {"chip.hbm_bandwidth=5.8TB/s", "scale_up.link_bandwidth.0=256GB/s", "scale_up.link_bandwidth.2=128GB/s"}) {
    cases.push_back({input("trn2-ultraserver", 512, "llama3-70b", 8192, 128, 16, 4), {ov}});
  }
  for (auto& c : cases) {
    const Scenario base = resolve_scenario(c.in);
    ScenarioInput faster_in = c.in;
    faster_in.overrides = c.faster;
    const Scenario fast = resolve_scenario(faster_in);
    const double t_base = simulate_step(base).step_time.value();
    const double t_fast = simulate_step(fast).step_time.value();
    EXPECT_LE(t_fast, t_base * (1 + 1e-12))
        << *c.in.system << " x" << *c.in.chips << " " << *c.in.model << " " << c.faster[0];
  }
}

TEST(Step, MoreComputeIsNeverSlower) {
  ScenarioInput in = input("dgx-h100", 64, "llama3-70b", 8192, 128, 8, 4);
  const double base = simulate_step(resolve_scenario(in)).step_time.value();
  in.overrides = {"chip.peak_flops.bf16=1979TFLOP/s"};
  const double fast = simulate_step(resolve_scenario(in)).step_time.value();
  EXPECT_LT(fast, base);
}

TEST(Step, MoreChipsWithTheSameReplicaGiveMoreTokensPerSecond) {
  double prev = 0;
  for (int replicas : {1, 2, 8, 64, 512}) {
    // Each replica: tp 8 x pp 4 on 32 H100s, 16 sequences per step.
    const ScenarioInput in = input("dgx-h100", 32 * replicas, "llama3-70b", 8192, 16 * replicas, 8, 4);
    const Scenario sc = resolve_scenario(in);
    EXPECT_EQ(sc.plan.dp, replicas);
    const StepResult r = simulate_step(sc);
    EXPECT_GT(r.tokens_per_s, prev) << replicas;
    prev = r.tokens_per_s;
  }
}

TEST(Step, PerChipThroughputDoesNotGrowWithDataParallelism) {
  double prev = 1e300;
  for (int replicas : {1, 4, 16, 256}) {
    const ScenarioInput in = input("trn3-ultraserver", 128 * replicas, "llama3.1-405b", 8192, 16 * replicas, 8, 16);
    ScenarioInput e = in;
    e.account_for_embedding_and_loss = true;
    const StepResult r = simulate_step(resolve_scenario(e));
    EXPECT_LE(r.tokens_per_s_per_chip, prev * (1 + 1e-12)) << replicas;
    prev = r.tokens_per_s_per_chip;
  }
}

TEST(Step, BubbleIsAtMostTheIdealFraction) {
  // 1F1B flow shop (the closed form): bubble <= (p-1)/(v*m) of the steady-state time, equal for
  // uniform stages. The event engine, which runs Megatron's interleaved order rather than the
  // formula's (fill + drain) / v, agrees on the step within 10% (6.5% at v = 2, m = 8).
  for (int vpp : {1, 2}) {
    for (int global_batch : {64, 256, 1024}) {  // 8, 32, 128 micro-batches
      ScenarioInput in = input("dgx-a100", 512, "gpt3-175b", 2048, global_batch, 8, 8);
      in.vpp = vpp;
      const Scenario sc = resolve_scenario(in);
      StepOptions closed;
      closed.engine = StepEngine::kClosedForm;
      const StepResult r = simulate_step(sc, closed);
      const StepResult ev = simulate_step(sc);
      EXPECT_NEAR(ev.step_time.value(), r.step_time.value(), 0.1 * r.step_time.value()) << vpp << " " << global_batch;
      const StepBreakdown& b = r.breakdown;
      const double steady = (b.compute + b.tp_comm + b.cp_comm + b.ep_comm + b.pp_comm).value();
      const double m = r.microbatches;
      const double ideal = (sc.plan.pp - 1) / (vpp * m) * steady;
      EXPECT_LE(b.bubble.value(), ideal * (1 + 1e-9)) << vpp << " " << global_batch;
      // GPT-3's stages are nearly uniform (96 layers, small vocab): the bubble is close to ideal.
      EXPECT_GE(b.bubble.value(), 0.7 * ideal) << vpp << " " << global_batch;
    }
  }
}

TEST(Step, InterleavingShrinksTheBubble) {
  ScenarioInput in = input("dgx-a100", 512, "gpt3-175b", 2048, 128, 8, 8);
  const StepResult plain = simulate_step(resolve_scenario(in));
  in.vpp = 2;
  const StepResult inter = simulate_step(resolve_scenario(in));
  EXPECT_LT(inter.breakdown.bubble.value(), 0.6 * plain.breakdown.bubble.value());
}

TEST(Step, MoreMicrobatchesAmortizeTheBubble) {
  double prev = 0;
  for (int gb : {8, 32, 128}) {
    const StepResult r = simulate_step(resolve_scenario(input("dgx-a100", 64, "gpt3-13b", 2048, gb, 8, 8)));
    EXPECT_GT(r.tokens_per_s, prev);
    prev = r.tokens_per_s;
  }
}

TEST(Step, ModelFlopsPerTokenClosedForm) {
  // PaLM: 6N + 6 L a s (dqk + dv), N = active matrix parameters without the input embedding.
  const Model m = load_model("llama3-8b");
  const double n = count_params(m).total - static_cast<double>(m.vocab) * m.hidden;
  EXPECT_DOUBLE_EQ(model_flops_per_token(m, 8192), 6 * n + 6.0 * 32 * 32 * 8192 * (128 + 128));
  // Tied embeddings: the one table is the LM head and counts.
  const Model g = load_model("gpt3-175b");
  EXPECT_DOUBLE_EQ(model_flops_per_token(g, 2048), 6 * count_params(g).total + 6.0 * 96 * 96 * 2048 * 256);
  // MoE: active parameters only.
  const Model x = load_model("mixtral-8x7b");
  EXPECT_DOUBLE_EQ(model_flops_per_token(x, 4096),
                   6 * (count_params(x).active - 32000.0 * 4096) + 6.0 * 32 * 32 * 4096 * 256);
}

TEST(Step, DoesNotFitIsAResultNotAnError) {
  ScenarioInput in = input("dgx-h100", 8, "llama3.1-405b", 8192, 8, 8, 1);
  in.zero = 0;
  const Scenario sc = resolve_scenario(in);
  const StepResult r = simulate_step(sc);
  EXPECT_FALSE(r.memory.fits);
  EXPECT_GT(r.memory.total.value(), r.memory.capacity.value());
  // 405B parameters x 18 bytes / 8 GPUs is ~0.9 TB per GPU.
  EXPECT_GT(r.memory.total.value(), 800e9);
  check_invariants(sc, r);
}

TEST(Step, CommunicationSummary) {
  ScenarioInput in = input("dgx-h100", 64, "llama3-70b", 8192, 64, 8, 4);
  in.zero = 1;
  const StepResult r = simulate_step(resolve_scenario(in));
  bool tp = false, pp = false, dp_rs = false, dp_ag = false;
  for (const auto& c : r.comm) {
    EXPECT_GT(c.calls_per_step, 0) << c.name;
    EXPECT_GT(c.bytes_per_step.value(), 0.0) << c.name;
    EXPECT_GE(c.time_per_step.value(), 0.0) << c.name;
    EXPECT_FALSE(c.algorithm.empty()) << c.name;
    if (c.group == "tp") {
      tp = true;
      EXPECT_EQ(c.group_size, 8);
    }
    if (c.group == "pp") pp = true;
    if (c.name == "dp.reduce_scatter") {
      dp_rs = true;
      EXPECT_EQ(c.group_size, 2);
      EXPECT_EQ(c.calls_per_step, 20);  // one bucket per layer: 80 layers on 4 stages
    }
    if (c.name == "dp.all_gather") dp_ag = true;
  }
  EXPECT_TRUE(tp && pp && dp_rs && dp_ag);
}

TEST(Step, Fp8DoublesThePeakAndSpeedsUp) {
  ScenarioInput in = input("dgx-h100", 8, "llama3-8b", 8192, 32, 1, 1);
  const StepResult bf16 = simulate_step(resolve_scenario(in));
  in.precision = "fp8";
  const StepResult fp8 = simulate_step(resolve_scenario(in));
  EXPECT_LT(fp8.step_time.value(), bf16.step_time.value());
  EXPECT_GT(fp8.step_time.value(), 0.5 * bf16.step_time.value());  // attention, memory ops stay
  // MFU is against the fp8 peak: lower than in bf16 for the same work.
  EXPECT_LT(fp8.mfu, bf16.mfu);
}

TEST(Step, Deterministic) {
  for (const ScenarioInput& in : {million_chips(), input("dgx-h100", 64, "mixtral-8x7b", 4096, 64, 2, 2)}) {
    ScenarioInput c = in;
    const Scenario a = resolve_scenario(c);
    const Scenario b = resolve_scenario(c);
    const std::string ja = result_json(a, simulate_step(a)).dump();
    const std::string jb = result_json(b, simulate_step(b)).dump();
    EXPECT_EQ(ja, jb);
  }
}

TEST(Step, ResultJsonHasStableKeys) {
  const Scenario sc = resolve_scenario(input("dgx-h100", 8, "llama3-8b", 4096, 32, 2, 1));
  const StepResult r = simulate_step(sc);
  const nlohmann::json j = result_json(sc, r);
  for (const char* key : {"step_time_s", "tokens_per_s", "tokens_per_s_per_chip", "mfu", "hfu", "fits", "memory",
                          "breakdown", "config", "communication", "energy"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_DOUBLE_EQ(j["step_time_s"].get<double>(), r.step_time.value());
  EXPECT_DOUBLE_EQ(j["memory"]["peak_bytes_per_chip"].get<double>(), r.memory.total.value());
  EXPECT_EQ(j["config"]["plan"]["dp"].get<int>(), 4);
  EXPECT_EQ(j["config"]["system"]["name"].get<std::string>(), "dgx-h100");
  EXPECT_EQ(j["config"]["chips"].get<int>(), 8);
}

}  // namespace
}  // namespace tahoma

namespace tahoma {
namespace {

// Overlapped data-parallel traffic is charged its interference: exactly the chip's fraction of the
// hidden part, and nothing when the chip declares none.
TEST(Step, HiddenCommunicationCostsItsInterference) {
  ScenarioInput in = input("dgx-h100", 64, "llama3-8b", 4096, 64);
  in.zero = 3;
  in.overrides = {"chip.comm_interference=0"};
  StepOptions closed;
  closed.engine = StepEngine::kClosedForm;
  const StepResult quiet = simulate_step(resolve_scenario(in), closed);
  in.overrides = {"chip.comm_interference=0.2"};
  const StepResult noisy = simulate_step(resolve_scenario(in), closed);
  // The event engine charges the same fraction of what its run hid (a little more or less is hidden).
  in.overrides = {"chip.comm_interference=0"};
  const StepResult ev_quiet = simulate_step(resolve_scenario(in));
  in.overrides = {"chip.comm_interference=0.2"};
  const StepResult ev_noisy = simulate_step(resolve_scenario(in));
  EXPECT_GT(ev_noisy.step_time, ev_quiet.step_time);
  EXPECT_NEAR((ev_noisy.step_time - ev_quiet.step_time).value(), (noisy.step_time - quiet.step_time).value(),
              0.05 * (noisy.step_time - quiet.step_time).value());
  double hidden = 0;
  for (const auto& c : quiet.comm) {
    if (c.group == "dp") hidden += c.time_per_step.value();
  }
  hidden -= quiet.breakdown.dp_comm.value();
  ASSERT_GT(hidden, 0.0);
  EXPECT_NEAR(noisy.step_time.value() - quiet.step_time.value(), 0.2 * hidden, 1e-9 * quiet.step_time.value());
  EXPECT_NEAR(noisy.breakdown.dp_comm.value() - quiet.breakdown.dp_comm.value(), 0.2 * hidden, 1e-12);
}

}  // namespace
}  // namespace tahoma

namespace tahoma {
namespace {

// TP overlap hides the layer's TP collectives behind its GEMMs: never slower, and on a TP-heavy
// layout strictly faster; bf16 gradient reduction halves the DP gradient bytes and buffer.
TEST(Step, TpOverlapAndBf16GradientsAreNeverSlower) {
  ScenarioInput in = input("dgx-h100", 64, "llama3-70b", 4096, 64, 8, 1);
  in.zero = 1;
  const Scenario base_sc = resolve_scenario(in);
  const StepResult base = simulate_step(base_sc);
  in.tp_comm_overlap = true;
  const StepResult overlapped = simulate_step(resolve_scenario(in));
  EXPECT_LT(overlapped.step_time, base.step_time);
  EXPECT_LT(overlapped.breakdown.tp_comm, base.breakdown.tp_comm);
  in.tp_comm_overlap = false;
  in.grad_reduce_dtype = "bf16";
  const StepResult bf16 = simulate_step(resolve_scenario(in));
  EXPECT_LE(bf16.step_time, base.step_time);
  EXPECT_NEAR(bf16.memory.gradients.value(), 0.5 * base.memory.gradients.value(), 1e-6 * base.memory.gradients.value());
  double base_rs = 0, bf16_rs = 0;
  for (const auto& c : base.comm) {
    if (c.name == "dp.reduce_scatter") base_rs = c.bytes_per_step.value();
  }
  for (const auto& c : bf16.comm) {
    if (c.name == "dp.reduce_scatter") bf16_rs = c.bytes_per_step.value();
  }
  EXPECT_NEAR(bf16_rs, 0.5 * base_rs, 1e-6 * base_rs);
  in.grad_reduce_dtype = "fp16x";
  EXPECT_THROW((void)resolve_scenario(in), InputError);
}

}  // namespace
}  // namespace tahoma

namespace tahoma {
namespace {

// Block recompute of N layers per rank sits between selective and full recompute, in time and in
// memory, and reaches full recompute at N = all layers.
TEST(Step, PartialRecomputeInterpolates) {
  ScenarioInput in = input("dgx-h100", 64, "llama3-70b", 8192, 64, 8, 4);
  in.recompute = "selective";
  const StepResult selective = simulate_step(resolve_scenario(in));
  in.recompute = "full";
  const StepResult full = simulate_step(resolve_scenario(in));
  in.recompute_num_layers = 5;  // of 20 per rank
  const StepResult part = simulate_step(resolve_scenario(in));
  EXPECT_GT(part.step_time, selective.step_time);
  EXPECT_LT(part.step_time, full.step_time);
  EXPECT_LT(part.memory.activations, selective.memory.activations);
  EXPECT_GT(part.memory.activations, full.memory.activations);
  in.recompute_num_layers = 20;
  EXPECT_NEAR(simulate_step(resolve_scenario(in)).step_time.value(), full.step_time.value(), 1e-12);
  in.recompute = "selective";
  in.recompute_num_layers = 5;
  EXPECT_THROW((void)resolve_scenario(in), InputError);
}

// ---- --network flow: the step's pipeline sends and data-parallel buckets as flows ----

StepResult simulate_flow(const Scenario& sc) {
  StepOptions o;
  o.network = NetworkMode::kFlow;
  return simulate_step(sc, o);
}

// Nothing shares a link: one replica (no data parallelism) whose pipeline sends stay inside one
// NVL72 switch. Flow and analytical time the same messages alike (the collective-level 2%).
TEST(StepFlow, AgreesWithAnalyticalWhenNothingIsShared) {
  const Scenario sc = resolve_scenario(input("gb200-nvl72", 32, "llama3-8b", 8192, 32, 8, 4));
  ASSERT_EQ(sc.plan.dp, 1);
  const StepResult a = simulate_step(sc);
  const StepResult f = simulate_flow(sc);
  check_invariants(sc, f);
  EXPECT_EQ(f.network, "flow");
  expect_rel(f.step_time.value(), a.step_time.value(), 0.02);
}

// Sharing only ever takes bandwidth away: a step is never faster than with every message alone on
// its links (up to the 2% the two modes may differ by for one message), and layouts whose
// data-parallel rings and pipeline sends meet on the NICs are slower.
TEST(StepFlow, SharingLinksIsNeverFasterThanMessagesAlone) {
  ScenarioInput trn3 = input("trn3-ultraserver", 16384, "llama3.1-405b", 8192, 2048, 8, 16);
  trn3.account_for_embedding_and_loss = true;
  bool slower = false;
  // 1,024 GB200s on 72-GPU racks: replicas of 16 straddle racks, so pipeline sends and the DP rings
  // meet on the NICs, which only the flow network sees (2.7% slower).
  for (const ScenarioInput& in :
       {trn3, input("gb200-nvl72", 1024, "llama3-70b", 8192, 256, 4, 4),
        input("dgx-h100", 64, "llama3-70b", 8192, 128, 8, 4), input("dgx-h100", 64, "llama3-8b", 4096, 64, 2, 1),
        input("trn2-ultraserver", 512, "llama3-70b", 8192, 128, 16, 4)}) {
    const Scenario sc = resolve_scenario(in);
    const StepResult a = simulate_step(sc);
    const StepResult f = simulate_flow(sc);
    check_invariants(sc, f);
    EXPECT_GE(f.step_time.value(), a.step_time.value() * 0.98) << *in.system;
    slower = slower || f.step_time.value() > a.step_time.value() * 1.01;
  }
  EXPECT_TRUE(slower);
}

TEST(StepFlow, MoreBandwidthIsNeverSlower) {
  struct Case {
    ScenarioInput in;
    const char* faster;
  };
  std::vector<Case> cases;
  for (const char* ov : {"scale_up.levels.0.bandwidth=900GB/s", "scale_out.bandwidth=800Gb/s"}) {
    cases.push_back({input("dgx-h100", 64, "llama3-70b", 8192, 128, 8, 4), ov});
    cases.push_back({input("dgx-h100", 64, "llama3-8b", 4096, 64, 2, 1), ov});
  }
  for (const char* ov : {"scale_up.levels.1.bandwidth=640GB/s", "scale_out.bandwidth=400Gb/s"}) {
    cases.push_back({input("trn3-ultraserver", 1152, "llama3.1-405b", 8192, 288, 8, 9), ov});
  }
  for (auto& c : cases) {
    ScenarioInput fast_in = c.in;
    fast_in.overrides = {c.faster};
    const double base = simulate_flow(resolve_scenario(c.in)).step_time.value();
    const double fast = simulate_flow(resolve_scenario(fast_in)).step_time.value();
    EXPECT_LE(fast, base * (1 + 1e-9)) << *c.in.system << " " << *c.in.model << " " << c.faster;
  }
}

// Scale by symmetry: the flow network sees one period of the traffic, so a million chips are
// simulated like a thousand, and the same input gives the same bytes.
TEST(StepFlow, MillionChipsAndDeterminism) {
  const Scenario sc = resolve_scenario(million_chips());
  const StepResult r = simulate_flow(sc);
  check_invariants(sc, r);
  EXPECT_GT(r.breakdown.dp_comm.value(), 0.0);
  EXPECT_EQ(result_json(sc, r).dump(), result_json(sc, simulate_flow(sc)).dump());
}

// Bounded work on any layout: 1,024-rank stages (TP 16 x CP 64) and 4,096-rank DP x CP groups on a
// million chips would start tens of millions of flows. The step stays within
// FlowAdapter::kMaxStepFlows: every k-th pair of a pipeline send runs (exact on this non-blocking
// fabric), the buckets past their share keep their analytical time, and the warnings say both.
TEST(StepFlow, AnyLayoutOnAMillionChipsIsBoundedAndSaysWhatItApproximated) {
  ScenarioInput in = input("trn3-ultraserver", 1048576, "llama3.1-405b", 8192, 16384, 16, 16);
  in.cp = 64;
  in.account_for_embedding_and_loss = true;
  const Scenario sc = resolve_scenario(in);
  const StepResult a = simulate_step(sc);
  const StepResult f = simulate_flow(sc);
  check_invariants(sc, f);
  EXPECT_GE(f.step_time.value(), a.step_time.value() * 0.98);
  int sends = 0, buckets = 0;
  for (const std::string& w : f.warnings) {
    sends += w.find("pipeline send has more than") != std::string::npos;
    buckets += w.find("keep their analytical time") != std::string::npos;
  }
  EXPECT_EQ(sends, 1);
  EXPECT_GE(buckets, 1);
  // A small layout approximates nothing.
  const StepResult small = simulate_flow(resolve_scenario(input("dgx-h100", 64, "llama3-70b", 8192, 128, 8, 4)));
  for (const std::string& w : small.warnings) {
    EXPECT_EQ(w.find("flow network:"), std::string::npos) << w;
  }
}

TEST(StepFlow, NeedsTheEventEngine) {
  StepOptions o;
  o.network = NetworkMode::kFlow;
  o.engine = StepEngine::kClosedForm;
  EXPECT_THROW(simulate_step(resolve_scenario(input("dgx-h100", 8, "llama3-8b", 4096, 8, 8)), o), InputError);
}

// ---- Mixture of experts, expert parallelism, context parallelism ----

const CommSummary* find_comm(const StepResult& r, const std::string& name) {
  for (const auto& c : r.comm) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// Expert groups are contiguous in rank order (Megatron's tp-cp-ep-dp-pp): with a pipeline, EP 8 on
// DGX H100 stays inside one NVLink node, so its all-to-all is priced on NVLink, not InfiniBand.
TEST(StepMoe, ExpertGroupsStayInsideTheNode) {
  ScenarioInput in = input("dgx-h100", 64, "mixtral-8x7b", 4096, 64, 1, 4);
  in.ep = 8;
  const Scenario sc = resolve_scenario(in);
  const StepResult r = simulate_step(sc);
  check_invariants(sc, r);
  const CommSummary* d = find_comm(r, "dispatch");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->group_size, 8);
  const CollectiveModel cm(sc.system);
  const Bytes per_call = d->bytes_per_step / d->calls_per_step;
  const double node = cm.cost(CollectiveKind::kAllToAll, per_call, GroupShape{{{8, 1}}}).time.value();
  EXPECT_NEAR(d->time_per_step.value() / d->calls_per_step, node, 1e-9 * node);
  // Expert gradients are reduced over the expert's own replicas: dp * cp / ep = 16 / 8 = 2.
  const CommSummary* e = find_comm(r, "dp.reduce_scatter.experts");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->group_size, 2);
  EXPECT_EQ(find_comm(r, "dp.reduce_scatter")->group_size, 16);
}

TEST(StepMoe, MoreExpertParallelismShardsTheExperts) {
  double last = 1e30;
  for (int ep : {1, 2, 4, 8}) {
    ScenarioInput in = input("dgx-h100", 64, "mixtral-8x7b", 4096, 64, 1, 4);
    in.ep = ep;
    in.zero = 0;
    const StepResult r = simulate_step(resolve_scenario(in));
    EXPECT_LT(r.memory.weights.value(), last) << ep;
    last = r.memory.weights.value();
  }
}

TEST(StepMoe, ImbalanceIsNeverFasterAndOverlapNeverSlower) {
  ScenarioInput in = input("dgx-h100", 64, "deepseek-v3", 4096, 256, 1, 8);
  in.uneven_pipeline = true;  // 61 layers on 8 stages
  in.ep = 8;
  in.recompute = "full";
  in.precision = "fp8";
  const double base = simulate_step(resolve_scenario(in)).step_time.value();
  ScenarioInput skewed = in;
  skewed.moe_imbalance = 1.5;
  const StepResult s = simulate_step(resolve_scenario(skewed));
  EXPECT_GT(s.step_time.value(), base);
  ScenarioInput overlapped = in;
  overlapped.ep_comm_overlap = true;
  const StepResult o = simulate_step(resolve_scenario(overlapped));
  EXPECT_LT(o.step_time.value(), base);
  EXPECT_LT(o.breakdown.ep_comm.value(), simulate_step(resolve_scenario(in)).breakdown.ep_comm.value());
  ScenarioInput below = in;
  below.moe_imbalance = 0.5;
  EXPECT_THROW(resolve_scenario(below), InputError);
}

// NVFP4 quantization reads each 16-bit GEMM input four times (amax, amax of the Hadamard-transformed
// copy, row-wise and column-wise casts) and writes two 4-bit copies with their scales: 9.125 B per
// element against FP8's 4 B, in the same cast ops.
TEST(StepPrecision, Nvfp4CastsMoveMoreBytesThanFp8) {
  ScenarioInput in = input("gb200-nvl72", 8, "llama3-8b", 4096, 8);
  in.precision = "fp8";
  const Scenario s8 = resolve_scenario(in);
  in.precision = "fp4";
  const Scenario s4 = resolve_scenario(in);
  auto cast_bytes = [](const Scenario& sc) {
    double b = 0;
    for (const auto& op : lower(sc.model, sc.plan, sc.training).dense_layer.compute) {
      if (op.name.ends_with(".cast") || op.name.ends_with(".grad_cast")) b += op.bytes.value();
    }
    return b;
  };
  ASSERT_GT(cast_bytes(s8), 0.0);
  EXPECT_NEAR(cast_bytes(s4) / cast_bytes(s8), 9.125 / 4.0, 1e-12);
}

// torchtitan's op-level selective recompute (stack torchtitan; --selective-recompute op-level)
// recomputes every second matmul of a layer in execution order (wq, wk, wv, wo, w1, w3, w2 -> wk,
// wo, w3) and the cheap ops, never the attention kernel: on Llama 3 8B the recomputed GEMM FLOPs
// are exactly (kv_dim + h + ffn) / (2 h + 2 kv_dim + 3 ffn) of the forward GEMM FLOPs, Megatron's
// core-attention policy recomputes nothing with flash attention, and op-level keeps fewer bytes.
TEST(StepRecompute, OpLevelRecomputesEverySecondMatmul) {
  ScenarioInput in = input("dgx-h100", 8, "llama3-8b", 8192, 8);
  in.recompute = "selective";
  in.selective_recompute = "op-level";
  const Scenario op = resolve_scenario(in);
  in.selective_recompute = "core-attention";
  const Scenario core = resolve_scenario(in);
  auto gemm_flops = [](const Scenario& sc, Phase phase) {
    double f = 0;
    for (const auto& c : lower(sc.model, sc.plan, sc.training).dense_layer.compute) {
      if (c.kind == OpKind::kGemm && c.phase == phase) f += c.flops.value();
    }
    return f;
  };
  const double h = 4096, kv = 8 * 128, ffn = 14336;
  EXPECT_NEAR(gemm_flops(op, Phase::kRecompute) / gemm_flops(op, Phase::kForward),
              (kv + h + ffn) / (2 * h + 2 * kv + 3 * ffn), 1e-9);
  EXPECT_EQ(gemm_flops(core, Phase::kRecompute), 0.0);
  EXPECT_DOUBLE_EQ(gemm_flops(op, Phase::kForward), gemm_flops(core, Phase::kForward));
  for (const auto& c : lower(op.model, op.plan, op.training).dense_layer.compute) {
    EXPECT_FALSE(c.kind == OpKind::kAttention && c.phase == Phase::kRecompute);
  }
  const StepResult a = simulate_step(op), b = simulate_step(core);
  EXPECT_GT(a.step_time, b.step_time);
  EXPECT_LT(a.memory.activations.value(), b.memory.activations.value());
  // The torchtitan stack means op-level; the plan JSON names it.
  ScenarioInput titan = input("dgx-h100", 8, "llama3-8b", 8192, 8);
  titan.stack = "torchtitan";
  titan.recompute = "selective";
  EXPECT_EQ(resolve_scenario(titan).plan.selective_recompute, SelectiveRecompute::kOpLevel);
  EXPECT_EQ(plan_json(resolve_scenario(titan).plan)["selective_recompute"], "op-level");
}

// Transformer Engine runs a grouped GEMM as one GEMM per local expert, each costing the stack's
// dispatch time (added on top, docs/model.md 3.5): Qwen3-30B-A3B at ep 8 has 16 local experts, so
// each MoE layer of a micro-batch launches 16 x (2 forward + 4 backward) GEMMs. One grouped kernel
// pays none of it.
TEST(StepMoe, ExpertGemmsLaunchedOneByOnePayTheirDispatch) {
  ScenarioInput in = input("dgx-b200", 8, "qwen3-30b-a3b", 4096, 64);
  in.ep = 8;
  in.micro_batch = 1;
  in.precision = "fp8";
  const Scenario sc = resolve_scenario(in);
  const StepResult r = simulate_step(sc);
  const double gemms = 16.0 * 6.0 * sc.model.layers * r.microbatches;
  EXPECT_NEAR(r.breakdown.host_bound.value(), gemms * sc.stack.grouped_gemm_dispatch.value(), 1e-9);
  EXPECT_GT(sc.stack.grouped_gemm_dispatch.value(), 0.0);
  EXPECT_LE(r.breakdown.host_bound.value(), r.breakdown.compute.value());

  ScenarioInput single = in;
  single.grouped_gemm = "single-launch";
  const StepResult s = simulate_step(resolve_scenario(single));
  EXPECT_EQ(s.breakdown.host_bound.value(), 0.0);
  EXPECT_LT(s.step_time.value(), r.step_time.value());

  ScenarioInput wider = input("dgx-b200", 16, "qwen3-30b-a3b", 4096, 128);
  wider.ep = 16;
  wider.micro_batch = 1;
  wider.precision = "fp8";
  const StepResult w = simulate_step(resolve_scenario(wider));
  EXPECT_NEAR(w.breakdown.host_bound.value(), r.breakdown.host_bound.value() / 2, 1e-9);

  ScenarioInput bad = in;
  bad.grouped_gemm = "fused";
  EXPECT_THROW(resolve_scenario(bad), InputError);
}

// Offloaded checkpoints cross the host link beside the compute: hidden while the link keeps up,
// and past that the chip waits max(0, 2 x checkpoint / bandwidth - layer compute) per layer and
// micro-batch (out in the forward pass, back in the backward pass).
TEST(StepOffload, TheHostLinkHidesBehindComputeUntilItIsTheBottleneck) {
  ScenarioInput in = input("tpu-v6e", 256, "llama3.1-8b", 8192, 1024);
  in.micro_batch = 4;
  in.zero = 3;
  in.recompute = "full";
  const StepResult kept = simulate_step(resolve_scenario(in));
  in.offload_activations = true;
  const Scenario sc = resolve_scenario(in);
  const StepResult fast = simulate_step(sc);
  EXPECT_EQ(fast.breakdown.offload_bound.value(), 0.0);  // 32 GB/s moves 0.27 GB per layer in ~8 ms
  EXPECT_NEAR(fast.step_time.value(), kept.step_time.value(), 1e-9);
  EXPECT_LT(fast.memory.total.value(), kept.memory.total.value());
  EXPECT_GT(fast.memory.host_offload.value(), 0.0);

  // A link 250x slower (128 MB/s, near the 100 MB/s the system loader accepts): the copy dominates. Compute is the same kernels plus the exposed copy, and
  // the exposed copy is the whole copy less at most the kernels it ran beside.
  ScenarioInput slow = in;
  slow.overrides = {"chip.host_bandwidth=128MB/s"};
  StepOptions closed;
  closed.engine = StepEngine::kClosedForm;
  const StepResult s = simulate_step(resolve_scenario(slow), closed);
  const StepResult k = simulate_step(resolve_scenario(in), closed);
  const double checkpoint = 2.0 * 4 * 8192 * 4096;  // bf16 layer input of the micro-batch
  const double copy = 2.0 * checkpoint / 128e6 * sc.model.layers * s.microbatches;
  EXPECT_NEAR(s.breakdown.compute.value() - s.breakdown.offload_bound.value(), k.breakdown.compute.value(), 1e-6);
  EXPECT_LE(s.breakdown.offload_bound.value(), copy * (1 + 1e-12));
  EXPECT_GE(s.breakdown.offload_bound.value(), copy - k.breakdown.compute.value());
  EXPECT_GT(s.step_time.value(), copy);

  // More host bandwidth is never slower.
  double previous = 1e300;
  for (const char* bw : {"100MB/s", "256MB/s", "1GB/s", "32GB/s", "1TB/s"}) {
    ScenarioInput b = in;
    b.overrides = {std::string("chip.host_bandwidth=") + bw};
    const double t = simulate_step(resolve_scenario(b)).step_time.value();
    EXPECT_LE(t, previous * (1 + 1e-12)) << bw;
    previous = t;
  }
}

TEST(StepOffload, NeedsFullRecomputeAndAHostLink) {
  ScenarioInput in = input("tpu-v6e", 256, "llama3.1-8b", 8192, 1024);
  in.offload_activations = true;
  in.recompute = "selective";
  EXPECT_THROW(resolve_scenario(in), InputError);
  in.recompute = "full";
  in.recompute_num_layers = 4;  // the other layers would keep selective activations on the chip
  EXPECT_THROW(resolve_scenario(in), InputError);
  ScenarioInput gb = input("gb200-nvl72", 72, "llama3.1-8b", 8192, 72);
  gb.offload_activations = true;
  gb.recompute = "full";
  EXPECT_NO_THROW(resolve_scenario(gb));  // every preset has a host link (NVLink-C2C here)
  gb.overrides = {"chip.host_bandwidth=0GB/s"};  // 0 = no host link: offloading is refused
  EXPECT_THROW(resolve_scenario(gb), InputError);
}

// XLA compiles an MoE layer's experts into one ragged-dot kernel: a TPU pays no per-GEMM dispatch.
TEST(StepMoe, CompiledStacksPayNoPerGemmDispatch) {
  ScenarioInput in = input("tpu-v5p", 64, "mixtral-8x7b", 4096, 64);
  in.ep = 4;
  const StepResult r = simulate_step(resolve_scenario(in));
  EXPECT_EQ(r.breakdown.host_bound.value(), 0.0);
}

// A capacity factor caps and pads every expert at capacity: the busiest rank's imbalance no longer
// changes the work (tokens beyond capacity are dropped), while dropless routing pays for it.
TEST(StepMoe, CapacityFactorBoundsTheImbalance) {
  ScenarioInput in = input("dgx-h100", 64, "mixtral-8x7b", 4096, 64, 1, 4);
  in.ep = 8;
  Scenario dropless = resolve_scenario(in);
  Scenario capped = dropless;
  capped.model.moe->capacity_factor = 1.25;
  Scenario capped_skewed = capped;
  capped_skewed.training.moe_imbalance = 1.2;
  Scenario dropless_skewed = dropless;
  dropless_skewed.training.moe_imbalance = 1.2;
  EXPECT_EQ(simulate_step(capped_skewed).step_time, simulate_step(capped).step_time);
  EXPECT_GT(simulate_step(capped).step_time, simulate_step(dropless).step_time);  // padding costs
  EXPECT_GT(simulate_step(dropless_skewed).step_time, simulate_step(dropless).step_time);
}

// Sliding-window layers: the blocked kernel computes the 128-key blocks that intersect each query
// block's window (lower.h): with w = 4096, s = 32768, n = 256 query blocks and K = 33 key blocks,
// (33*34/2 + 223*33 - 128) / 256^2 of the scores, against 1/2 for full causal attention.
TEST(StepMoe, SlidingWindowCutsAttention) {
  ScenarioInput in = input("dgx-h100", 8, "llama3-8b", 32768, 8, 8, 1);
  in.recompute = "selective";
  Scenario full = resolve_scenario(in);
  Scenario windowed = full;
  windowed.model.sliding_window = 4096;
  windowed.model.window_fraction = 1.0;
  const StageProgram a = lower(full.model, full.plan, full.training);
  const StageProgram b = lower(windowed.model, windowed.plan, windowed.training);
  auto attention = [](const StageProgram& p) {
    double f = 0;
    for (const auto& op : p.dense_layer.compute) {
      if (op.kind == OpKind::kAttention) f += op.flops.value();
    }
    return f;
  };
  EXPECT_NEAR(attention(b) / attention(a), (33.0 * 34 / 2 + 223.0 * 33 - 128) / (256.0 * 256) / 0.5, 1e-9);
  // More than the exact window work (w - w^2/2s of the sequence per query): the blocks are whole.
  const double w = 4096.0 / 32768.0;
  EXPECT_GT(attention(b) / attention(a), (w - w * w / 2) / 0.5);
  EXPECT_LT(simulate_step(windowed).step_time.value(), simulate_step(full).step_time.value());
  // A window of at least the sequence is full causal attention; the fraction never falls as w grows.
  EXPECT_DOUBLE_EQ(windowed_attention_fraction(32768, 32768), 0.5);
  EXPECT_DOUBLE_EQ(windowed_attention_fraction(1e6, 32768), 0.5);
  double last = 0;
  for (double win = 1; win <= 40000; win *= 1.7) {
    const double f = windowed_attention_fraction(win, 32768);
    EXPECT_GE(f, last);
    EXPECT_LE(f, 0.5);
    last = f;
  }
  // The MFU's model FLOPs count the window exactly (min(w, s) keys per query, not the blocks).
  EXPECT_LT(model_flops_per_token(windowed.model, 32768), model_flops_per_token(full.model, 32768));
}

// A parallel attention + MLP block (PaLM Sec. 2) has one norm and, with TP, one reduction per phase
// instead of two: never slower than the sequential block, and the same FLOPs in its GEMMs.
TEST(StepFeatures, ParallelBlockIsNeverSlower) {
  for (const int tp : {1, 8}) {
    ScenarioInput in = input("dgx-h100", 8, "llama3-8b", 4096, 8, tp, 1);
    Scenario seq = resolve_scenario(in);
    Scenario par = seq;
    par.model.parallel_block = true;
    EXPECT_LE(simulate_step(par).step_time.value(), simulate_step(seq).step_time.value()) << "tp " << tp;
    const StageProgram a = lower(seq.model, seq.plan, seq.training);
    const StageProgram b = lower(par.model, par.plan, par.training);
    EXPECT_EQ(b.dense_layer.comm.size() * 2, a.dense_layer.comm.size());
    EXPECT_LE(memory_per_chip(par.model, par.plan, par.training, par.system).activations.value(),
              memory_per_chip(seq.model, seq.plan, seq.training, seq.system).activations.value());
  }
}

// MTP (DeepSeek-V3 Sec. 2.2) adds per depth one block, a 2h x h projection and the head to the
// model FLOPs and to the last stage's work.
TEST(StepFeatures, MultiTokenPredictionAddsItsWork) {
  ScenarioInput in = input("gb200-nvl72", 64, "deepseek-v3", 4096, 256, 1, 4);
  in.ep = 16;
  in.uneven_pipeline = true;
  Scenario with = resolve_scenario(in);
  ASSERT_EQ(with.model.mtp_depth, 1);
  Scenario without = with;
  without.model.mtp_depth = 0;
  const Model& m = with.model;
  const ParamCount pc = count_params(m);
  const double extra = 6.0 * (pc.mtp_active_per_module + static_cast<double>(m.vocab) * m.hidden) +
                       6.0 * m.heads * 4096.0 * (m.mla->qk_nope_head_dim + m.mla->qk_rope_head_dim + m.mla->v_head_dim);
  expect_rel(model_flops_per_token(with.model, 4096) - model_flops_per_token(without.model, 4096), extra, 1e-12);
  const StepResult a = simulate_step(with, {StepEngine::kClosedForm});
  const StepResult b = simulate_step(without, {StepEngine::kClosedForm});
  EXPECT_GT(a.step_time.value(), b.step_time.value());
  EXPECT_GT(a.hardware_flops_per_step.value(), b.hardware_flops_per_step.value());
  const int last = with.plan.pp - 1;
  // The last stage holds the module: its projection and attention (split over TP), its shared
  // expert and router, and its share of the routed experts.
  const double delta = params_per_rank(with.model, with.plan, last) - params_per_rank(without.model, without.plan, last);
  EXPECT_GT(delta, (2.0 * m.hidden * m.hidden + pc.attention_per_layer) / with.plan.tp);
  EXPECT_LT(delta, pc.mtp_per_module);
  EXPECT_EQ(params_per_rank(with.model, with.plan, 0), params_per_rank(without.model, without.plan, 0));
}

// Zero-bubble's bubble is at most 1F1B's and DualPipe's at most zero-bubble's here; with one stage
// no schedule has a bubble.
TEST(StepFeatures, SchedulesBubbles) {
  ScenarioInput in = input("dgx-h100", 64, "llama3-70b", 4096, 128, 4, 4);
  const Scenario base = resolve_scenario(in);
  auto with = [&](PipelineSchedule s, int pp) {
    ScenarioInput i = in;
    i.pp = pp;
    i.pp_schedule = to_string(s);
    return resolve_scenario(i);
  };
  for (const StepEngine engine : {StepEngine::kClosedForm, StepEngine::kEvents}) {
    const double one = simulate_step(with(PipelineSchedule::k1F1B, 4), {engine}).breakdown.bubble.value();
    const double zb = simulate_step(with(PipelineSchedule::kZeroBubble, 4), {engine}).breakdown.bubble.value();
    EXPECT_LT(zb, one);
    for (const PipelineSchedule s : {PipelineSchedule::kGPipe, PipelineSchedule::k1F1B, PipelineSchedule::kZeroBubble,
                                     PipelineSchedule::kDualPipe}) {
      EXPECT_NEAR(simulate_step(with(s, 1), {engine}).breakdown.bubble.value(), 0.0, 1e-9) << to_string(s);
    }
  }
  const double dp = simulate_step(with(PipelineSchedule::kDualPipe, 4), {StepEngine::kClosedForm}).breakdown.bubble.value();
  const double zb = simulate_step(with(PipelineSchedule::kZeroBubble, 4), {StepEngine::kClosedForm}).breakdown.bubble.value();
  EXPECT_LE(dp, zb);
  // Bad input: an unknown name, and a chunked layout under a one-chunk schedule.
  ScenarioInput bad = in;
  bad.pp_schedule = "zb";
  EXPECT_CONTAINS(tahoma::testing::input_error([&] { resolve_scenario(bad); }), "zero-bubble");
  bad.pp_schedule = "zero-bubble";
  bad.vpp = 2;
  EXPECT_CONTAINS(tahoma::testing::input_error([&] { resolve_scenario(bad); }), "--pp-schedule");
  (void)base;
}


// DeepSeek-V3's 61 layers on 16 chunks: stages differ by one layer, and every layer is placed once.
TEST(StepMoe, UnevenPipelineStagesHoldEveryLayerOnce) {
  ScenarioInput in = input("gb200-nvl72", 256, "deepseek-v3", 4096, 4096, 1, 4);
  in.vpp = 4;
  in.ep = 64;
  in.account_for_embedding_and_loss = true;
  EXPECT_THROW(resolve_scenario(in), InputError);  // 63 slots on 16 chunks
  in.uneven_pipeline = true;
  const Scenario sc = resolve_scenario(in);
  int total = 0;
  for (int s = 0; s < sc.plan.pp; ++s) {
    EXPECT_EQ(first_layer_of_stage(sc.model, sc.plan, s), total);
    total += layers_on_stage(sc.model, sc.plan, s);
  }
  EXPECT_EQ(total, 61);
  check_invariants(sc, simulate_step(sc));
}

TEST(StepCp, AllGatherVariantExposesWhatTheRingHides) {
  ScenarioInput in = input("dgx-h100", 64, "llama3-70b", 65536, 16, 8, 1);
  in.cp = 8;
  in.recompute = "full";
  const StepResult ring = simulate_step(resolve_scenario(in));
  in.cp_comm = "all-gather";
  const StepResult gather = simulate_step(resolve_scenario(in));
  EXPECT_GT(gather.breakdown.cp_comm.value(), ring.breakdown.cp_comm.value());
  EXPECT_NE(find_comm(gather, "cp.kv_all_gather"), nullptr);
  EXPECT_EQ(find_comm(ring, "cp.kv_all_gather"), nullptr);
  in.cp_comm = "tree";
  EXPECT_THROW(resolve_scenario(in), InputError);
}

// ---- The event engine: extrapolation, bounds, overflow, breakdown (issue 13) ----

StepResult simulate_events(const Scenario& sc, bool every_microbatch, NetworkMode network = NetworkMode::kAnalytical) {
  StepOptions o;
  o.every_microbatch = every_microbatch;
  o.network = network;
  return simulate_step(sc, o);
}

void expect_same_step(const StepResult& extrapolated, const StepResult& full, double tol) {
  expect_rel(extrapolated.step_time.value(), full.step_time.value(), tol);
  const StepBreakdown &a = extrapolated.breakdown, &b = full.breakdown;
  const double slack = tol * full.step_time.value();
  const std::pair<const char*, std::pair<Seconds, Seconds>> parts[] = {
      {"compute", {a.compute, b.compute}},       {"bubble", {a.bubble, b.bubble}},
      {"optimizer", {a.optimizer, b.optimizer}}, {"exposed", {a.exposed_comm, b.exposed_comm}},
      {"tp", {a.tp_comm, b.tp_comm}},            {"cp", {a.cp_comm, b.cp_comm}},
      {"pp", {a.pp_comm, b.pp_comm}},            {"dp", {a.dp_comm, b.dp_comm}},
      {"ep", {a.ep_comm, b.ep_comm}},            {"host", {a.host_bound, b.host_bound}}};
  for (const auto& [name, pair] : parts) {
    EXPECT_NEAR(pair.first.value(), pair.second.value(), slack) << name;
  }
}

struct EventCase {
  const char* what;
  ScenarioInput in;
  NetworkMode network = NetworkMode::kAnalytical;
};

std::vector<EventCase> event_cases() {
  std::vector<EventCase> cases;
  cases.push_back({"1f1b", input("dgx-h100", 64, "llama3-8b", 4096, 256, 8, 4)});  // m = 128
  ScenarioInput inter = input("dgx-h100", 64, "llama3-8b", 4096, 256, 8, 4);
  inter.vpp = 2;
  cases.push_back({"interleaved", inter});
  ScenarioInput inter4 = input("dgx-h100", 64, "llama3-8b", 4096, 400, 8, 4);  // m = 200, 4 chunks
  inter4.vpp = 4;
  cases.push_back({"interleaved, 4 chunks", inter4});
  ScenarioInput uneven = input("gb200-nvl72", 1024, "deepseek-v3", 4096, 10240, 1, 16);  // m = 160
  uneven.ep = 64;
  uneven.dp = 64;
  uneven.uneven_pipeline = true;
  uneven.precision = "fp8";
  cases.push_back({"uneven pipeline, MoE", uneven});
  ScenarioInput moe = input("dgx-h100", 64, "mixtral-8x7b", 4096, 1280, 1, 4);  // m = 80, 1F1B with EP
  moe.ep = 8;
  cases.push_back({"moe", moe});
  ScenarioInput fsdp = input("dgx-h100", 64, "llama3-8b", 4096, 512, 8, 1);  // m = 64, ZeRO-3 per layer
  fsdp.zero = 3;
  cases.push_back({"zero-3 without pipeline", fsdp});
  ScenarioInput odd = input("dgx-h100", 64, "llama3-8b", 4096, 194, 8, 4);  // m = 97, not a multiple of pp
  cases.push_back({"1f1b, m = 97", odd});
  cases.push_back({"flow network", input("dgx-h100", 64, "llama3-70b", 8192, 192, 8, 4), NetworkMode::kFlow});
  return cases;
}

// A long step is extrapolated from three short runs a schedule period apart (docs/model.md, "Event
// engine"); the result equals simulating every micro-batch, step and every part of the breakdown.
TEST(StepEvents, ExtrapolationEqualsTheFullSimulation) {
  for (const EventCase& c : event_cases()) {
    SCOPED_TRACE(c.what);
    const Scenario sc = resolve_scenario(c.in);
    const StepResult full = simulate_events(sc, true, c.network);
    const StepResult fast = simulate_events(sc, false, c.network);
    check_invariants(sc, fast);
    expect_same_step(fast, full, 1e-6);
    EXPECT_LT(fast.tasks, full.tasks);  // it did extrapolate
  }
}

// The tasks simulated do not grow with the micro-batch count: 16x the batch, the same tasks.
TEST(StepEvents, TasksAreBoundedIndependentOfMicrobatches) {
  for (const bool interleaved : {false, true}) {
    ScenarioInput in = input("dgx-h100", 64, "llama3-8b", 4096, 512, 8, 4);
    if (interleaved) in.vpp = 2;
    const StepResult small = simulate_step(resolve_scenario(in));
    in.global_batch = 512 * 16;
    const Scenario big_sc = resolve_scenario(in);
    const StepResult big = simulate_step(big_sc);
    check_invariants(big_sc, big);
    EXPECT_EQ(big.microbatches, 16 * small.microbatches);
    EXPECT_EQ(big.tasks, small.tasks) << interleaved;
    EXPECT_LT(big.tasks, 20000);
  }
}

// One million micro-batches (the batch that once ran out of memory) simulate in bounded work.
TEST(StepEvents, AMillionMicrobatches) {
  const Scenario sc = resolve_scenario(input("dgx-h100", 64, "llama3-8b", 4096, 1000000, 8, 4));
  const StepResult r = simulate_step(sc);
  check_invariants(sc, r);
  EXPECT_LT(r.tasks, 20000);
  expect_rel(r.step_time.value(), simulate_step_closed_form(sc).step_time.value(), 0.05);
}

// The graph a run needs is bounded and refused beyond the limit with what to reduce; a trace
// needs the whole graph.
TEST(StepEvents, GraphLimitIsAnInputError) {
  const Scenario sc = resolve_scenario(input("dgx-h100", 64, "llama3-8b", 4096, 1000000, 8, 4));
  const std::string full = testing::input_error([&] { simulate_events(sc, true); });
  EXPECT_CONTAINS(full, "20 million");
  EXPECT_CONTAINS(full, "--engine closed-form");
  std::ostringstream trace;
  StepOptions o;
  o.trace = &trace;
  const std::string traced = testing::input_error([&] { simulate_step(sc, o); });
  EXPECT_CONTAINS(traced, "--trace");
  EXPECT_CONTAINS(traced, "20 million");
  EXPECT_TRUE(trace.str().empty());
}

// Steps the engine cannot represent in int64 picoseconds (about 106 days) are input errors that
// name the inputs, never an abort or a wrapped sum printing 0 s; the closed form never prints inf.
TEST(StepEvents, UnrepresentableStepsAreInputErrors) {
  const ScenarioInput base = input("dgx-h100", 8, "llama3-8b", 4096, 64, 8, 1);
  {
    // A closed form of about 86 days (16,777,216 sequences, the batch limit, on one chip): a double,
    // but more than a quarter of the engine's int64-picosecond horizon.
    ScenarioInput in = input("dgx-h100", 1, "llama3-8b", 4096, 16777216);
    const Scenario sc = resolve_scenario(in);
    const StepResult cf = simulate_step_closed_form(sc);
    EXPECT_TRUE(std::isfinite(cf.step_time.value()));
    EXPECT_GT(cf.step_time.value(), 106.75 * 86400 / 4);
    const std::string msg = testing::input_error([&] { simulate_step(sc); });
    EXPECT_CONTAINS(msg, "beyond what the event engine represents");
    EXPECT_CONTAINS(msg, "--engine closed-form");
  }
  // Extreme hardware values: refused where they are parsed, or by the step; never an abort.
  for (const char* ov : {"chip.power_limit=0.001W", "scale_up.levels.0.latency=1e8s", "chip.power_limit=1W"}) {
    SCOPED_TRACE(ov);
    ScenarioInput in = base;
    in.global_batch = 256;
    in.overrides = {ov};
    try {
      const Scenario sc = resolve_scenario(in);
      const StepResult r = simulate_step(sc);
      EXPECT_TRUE(std::isfinite(r.step_time.value()) && r.step_time.value() > 0);
      EXPECT_TRUE(std::isfinite(r.mfu));
    } catch (const InputError& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
  {
    ScenarioInput in = base;
    in.overrides = {"chip.peak_flops.bf16=1e-300FLOP/s"};
    std::string msg;
    try {
      const Scenario sc = resolve_scenario(in);
      StepOptions closed;
      closed.engine = StepEngine::kClosedForm;
      msg = testing::input_error([&] { simulate_step(sc, closed); });
      EXPECT_CONTAINS(msg, "chip.peak_flops");
      msg = testing::input_error([&] { simulate_step(sc); });
    } catch (const InputError& e) {
      msg = e.what();  // refused where it was parsed: also fine
    }
    EXPECT_FALSE(msg.empty());
  }
  {
    ScenarioInput in = input("dgx-h100", 64, "mixtral-8x7b", 4096, 64, 1, 4);
    in.ep = 8;
    in.moe_imbalance = std::numeric_limits<double>::infinity();
    EXPECT_THROW(simulate_step(resolve_scenario(in)), InputError);
  }
}

// The events breakdown is attributed on the stage that bounds the step, so it tells the same story
// as the closed form: each part within 10% of the step (they compose the same layer prices; they
// differ where the schedule, not a formula, decides).
TEST(StepEvents, BreakdownAgreesWithTheClosedForm) {
  std::vector<ScenarioInput> ins;
  // Not ZeRO-3 without a pipeline: there a layer's compute waits for its TP collective and its
  // prefetched gather at once, and the event breakdown charges the overlap to whichever ended
  // last (the gather) where the closed form adds both.
  for (const EventCase& c : event_cases()) {
    if (c.network == NetworkMode::kAnalytical && c.in.zero.value_or(1) != 3) ins.push_back(c.in);
  }
  ScenarioInput uneven4 = input("gb200-nvl72", 256, "deepseek-v3", 4096, 4096, 1, 4);
  uneven4.vpp = 4;
  uneven4.ep = 64;
  uneven4.account_for_embedding_and_loss = true;
  uneven4.uneven_pipeline = true;
  ins.push_back(uneven4);
  ins.push_back(input("dgx-h100", 64, "llama3-70b", 8192, 128, 8, 4));
  for (const ScenarioInput& in : ins) {
    const Scenario sc = resolve_scenario(in);
    SCOPED_TRACE(*in.system + " " + *in.model + " pp " + std::to_string(sc.plan.pp));
    const StepResult ev = simulate_step(sc);
    StepOptions closed;
    closed.engine = StepEngine::kClosedForm;
    const StepResult cf = simulate_step(sc, closed);
    const double slack = 0.10 * cf.step_time.value();
    const StepBreakdown &a = ev.breakdown, &b = cf.breakdown;
    EXPECT_NEAR(a.compute.value(), b.compute.value(), slack) << "compute";
    EXPECT_NEAR(a.bubble.value(), b.bubble.value(), slack) << "bubble";
    EXPECT_NEAR(a.exposed_comm.value(), b.exposed_comm.value(), slack) << "exposed";
    EXPECT_NEAR(a.ep_comm.value(), b.ep_comm.value(), slack) << "ep";
    EXPECT_NEAR(a.tp_comm.value(), b.tp_comm.value(), slack) << "tp";
    EXPECT_NEAR(a.dp_comm.value(), b.dp_comm.value(), slack) << "dp";
    EXPECT_NEAR(a.optimizer.value(), b.optimizer.value(), slack) << "optimizer";
  }
}

// PUE scales the facility energy exactly and changes neither the step time nor the chips' power; a
// preset without pue behaves as 1.0 (docs/energy.md).
TEST(Energy, PueScalesFacilityEnergyOnly) {
  ScenarioInput in = input("trn2-ultraserver", 64, "llama3-8b", 4096, 64);
  in.overrides = {"pue=1.0"};
  const StepResult one = simulate_step(resolve_scenario(in));
  in.overrides = {"pue=2.5"};
  const StepResult more = simulate_step(resolve_scenario(in));
  EXPECT_DOUBLE_EQ(one.step_time.value(), more.step_time.value());
  EXPECT_DOUBLE_EQ(one.power_watts_per_chip, more.power_watts_per_chip);
  EXPECT_DOUBLE_EQ(one.energy_it_joules_per_step, more.energy_it_joules_per_step);
  expect_rel(more.energy_facility_joules_per_step, 2.5 * one.energy_facility_joules_per_step, 1e-12);
  EXPECT_DOUBLE_EQ(one.energy_facility_joules_per_step, one.energy_it_joules_per_step);
  // Host and network power add to IT energy and nothing else.
  in.overrides = {"pue=1.0", "host_power_per_chip=0W", "network_power_per_chip=0W"};
  const StepResult bare = simulate_step(resolve_scenario(in));
  EXPECT_DOUBLE_EQ(bare.energy_it_joules_per_step, bare.energy_joules_per_step);
  EXPECT_DOUBLE_EQ(bare.step_time.value(), one.step_time.value());
}

}  // namespace
}  // namespace tahoma
