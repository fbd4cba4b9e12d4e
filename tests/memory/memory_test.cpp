// Memory per chip: activation bytes against Korthikanti et al. 2022 (Eq. 2, 3, 4 and the
// recompute variants), ZeRO sharding (Rajbhandari et al. 2020), pipeline in-flight counts and extremes.
#include "tahoma/memory.h"

#include <gtest/gtest.h>

#include <cmath>

#include "../test_util.h"

namespace tahoma {
namespace {

// A GPT-style layer as in Korthikanti et al.: plain 2-matrix MLP, f = 4h, a_kv = a, d = h / a.
Model gpt(int hidden = 1024, int heads = 16, int layers = 8) {
  Model m;
  m.name = "gpt-test";
  m.layers = layers;
  m.hidden = hidden;
  m.heads = heads;
  m.kv_heads = heads;
  m.head_dim = hidden / heads;
  m.ffn_hidden = 4 * hidden;
  m.vocab = 51200;
  m.mlp = MlpType::kPlain;
  m.tied_embeddings = true;
  return m;
}

struct Dims {
  double s, b, h, a;
};

class ActivationTest : public ::testing::Test {
 protected:
  ActivationTest() : model_(gpt()) {
    training_.seq = 2048;
    plan_.micro_batch = 2;
    plan_.flash_attention = false;
    plan_.recompute = Recompute::kNone;
    plan_.sequence_parallel = true;
  }
  [[nodiscard]] Dims dims() const { return {2048.0, 2.0, 1024.0, 16.0}; }
  Model model_;
  Training training_;
  Plan plan_;
};

TEST_F(ActivationTest, KorthikantiEq2NoParallelism) {
  const auto [s, b, h, a] = dims();
  const double expected = s * b * h * (34.0 + 5.0 * a * s / h);
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(), expected);
}

TEST_F(ActivationTest, KorthikantiEq2HoldsForOtherShapes) {
  for (auto [hidden, heads, seq, mb] :
       {std::tuple{4096, 32, 4096, 1}, std::tuple{12288, 96, 2048, 1}, std::tuple{768, 12, 1024, 8}}) {
    const Model m = gpt(hidden, heads);
    Training t;
    t.seq = seq;
    Plan p = plan_;
    p.micro_batch = mb;
    const double s = seq, b = mb, h = hidden, a = heads;
    EXPECT_DOUBLE_EQ(activation_bytes_per_layer(m, p, t, true).value(), s * b * h * (34.0 + 5.0 * a * s / h)) << hidden;
  }
}

TEST_F(ActivationTest, TensorAndSequenceParallelDivideByT) {
  const double base = activation_bytes_per_layer(model_, plan_, training_, true).value();
  for (int t : {2, 4, 8, 16}) {
    plan_.tp = t;
    // Eq. 4 with sequence parallelism: s*b*h/t * (34 + 5*a*s/h).
    EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(), base / t) << t;
  }
}

TEST_F(ActivationTest, TensorParallelWithoutSequenceParallelIsEq3) {
  const auto [s, b, h, a] = dims();
  plan_.sequence_parallel = false;
  for (int t : {2, 4, 8}) {
    plan_.tp = t;
    const double expected = s * b * h * (10.0 + 24.0 / t + 5.0 * a * s / (h * t));
    EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(), expected) << t;
  }
}

TEST_F(ActivationTest, SelectiveRecomputeRemovesExactlyTheAttentionTerm) {
  const auto [s, b, h, a] = dims();
  plan_.recompute = Recompute::kSelective;
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(), 34.0 * s * b * h);
  plan_.tp = 8;
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(), 34.0 * s * b * h / 8);
  // Eq. 5 (selective with TP and SP) is s*b*h*34/t: the same.
}

TEST_F(ActivationTest, FullRecomputeKeepsTheLayerInput) {
  const auto [s, b, h, a] = dims();
  plan_.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(), 2.0 * s * b * h);
  plan_.tp = 8;
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(), 2.0 * s * b * h / 8);
}

TEST_F(ActivationTest, FlashAttentionReplacesTheQuadraticTerm) {
  const auto [s, b, h, a] = dims();
  plan_.flash_attention = true;
  // The s^2 softmax and dropout buffers are gone; the kernel keeps an fp32 log-sum-exp per row.
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(),
                   34.0 * s * b * h + 4.0 * s * b * a);
  // Doubling the sequence now doubles the bytes (linear), where Eq. 2 grows faster.
  const double one = activation_bytes_per_layer(model_, plan_, training_, true).value();
  training_.seq *= 2;
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(), 2.0 * one);
}

TEST_F(ActivationTest, ContextParallelSplitsTheSequence) {
  plan_.flash_attention = true;
  const double one = activation_bytes_per_layer(model_, plan_, training_, true).value();
  plan_.cp = 4;
  EXPECT_DOUBLE_EQ(activation_bytes_per_layer(model_, plan_, training_, true).value(), one / 4);
}

class MemoryTest : public ::testing::Test {
 protected:
  static System chips(const char* name, int n) {
    System s = load_system(name);
    s.chips = n;
    return s;
  }
  // Llama 3 8B at 4,096 tokens, data parallel over one DGX H100, with full recompute.
  struct Setup {
    Model m;
    System s;
    Training t;
    Plan p;
  };
  static Setup full_recompute_on_one_node() {
    Setup x{load_model("llama3-8b"), chips("dgx-h100", 8), Training{}, Plan{}};
    x.t.seq = 4096;
    x.t.global_batch = 8;
    x.p.dp = 8;
    x.p.recompute = Recompute::kFull;
    return x;
  }
};

TEST_F(MemoryTest, ParamsPerRankOfAnUnpipelinedUntiedModelIsTotalOverTp) {
  const Model m = load_model("llama3-8b");
  for (int t : {1, 2, 8}) {
    Plan p;
    p.tp = t;
    EXPECT_NEAR(params_per_rank(m, p, 0), count_params(m).total / t, 1e-6 * count_params(m).total) << t;
  }
}

TEST_F(MemoryTest, PipelineStagesSplitTheLayers) {
  const Model m = load_model("llama3-8b");
  const ParamCount pc = count_params(m);
  Plan p;
  p.pp = 4;
  const double table = static_cast<double>(m.vocab) * m.hidden;
  const double layer = pc.attention_per_layer + pc.dense_mlp_per_layer;
  EXPECT_DOUBLE_EQ(params_per_rank(m, p, 0), 8 * layer + table);  // + input embedding
  EXPECT_DOUBLE_EQ(params_per_rank(m, p, 1), 8 * layer);
  EXPECT_DOUBLE_EQ(params_per_rank(m, p, 3), 8 * layer + table);  // + LM head
}

TEST_F(MemoryTest, ZeroStagesShardOptimizerThenGradientsThenWeights) {
  const Model m = load_model("llama3-8b");
  const System s = chips("dgx-h100", 8);
  Training t;
  t.seq = 2048;
  t.global_batch = 64;
  Plan p;
  p.dp = 8;
  MemoryBreakdown z[4];
  for (int stage = 0; stage <= 3; ++stage) {
    p.zero = stage;
    z[stage] = memory_per_chip(m, p, t, s);
  }
  const double params = params_per_rank(m, p, 0);
  // ZeRO-0: bf16 weights (2 B), fp32 gradients (4 B), fp32 master + Adam m, v (12 B) per parameter.
  EXPECT_DOUBLE_EQ(z[0].weights.value(), 2 * params);
  EXPECT_DOUBLE_EQ(z[0].gradients.value(), 4 * params);
  EXPECT_DOUBLE_EQ(z[0].optimizer.value(), 12 * params);
  // Stage 1 shards the optimizer states over dp.
  EXPECT_DOUBLE_EQ(z[1].optimizer.value(), z[0].optimizer.value() / 8);
  EXPECT_DOUBLE_EQ(z[1].gradients.value(), z[0].gradients.value());
  EXPECT_DOUBLE_EQ(z[1].weights.value(), z[0].weights.value());
  // Stage 2 also the gradients.
  EXPECT_DOUBLE_EQ(z[2].gradients.value(), z[0].gradients.value() / 8);
  EXPECT_DOUBLE_EQ(z[2].weights.value(), z[0].weights.value());
  // Stage 3 also the weights.
  EXPECT_DOUBLE_EQ(z[3].weights.value(), z[0].weights.value() / 8);
  EXPECT_DOUBLE_EQ(z[3].optimizer.value(), z[1].optimizer.value());
  // Activations do not depend on ZeRO.
  for (int stage = 1; stage <= 3; ++stage) EXPECT_DOUBLE_EQ(z[stage].activations.value(), z[0].activations.value());
  // Monotone: each stage needs no more memory.
  for (int stage = 1; stage <= 3; ++stage) EXPECT_LT(z[stage].total.value(), z[stage - 1].total.value());
}

TEST_F(MemoryTest, TotalIsTheSumAndFitsComparesWithCapacity) {
  const Model m = load_model("llama3-8b");
  const System s = chips("dgx-h100", 8);
  Training t;
  t.seq = 8192;
  t.global_batch = 64;
  Plan p;
  p.tp = 2;
  p.dp = 4;
  const MemoryBreakdown mb = memory_per_chip(m, p, t, s);
  EXPECT_DOUBLE_EQ(mb.total.value(),
                   (mb.weights + mb.gradients + mb.optimizer + mb.activations + mb.logits + mb.workspace).value());
  EXPECT_DOUBLE_EQ(mb.workspace.value(), kWorkspaceBytes);
  EXPECT_DOUBLE_EQ(mb.capacity.value(), 80e9);
  EXPECT_EQ(mb.fits, mb.total <= mb.capacity);
  // Single stage: the logits of one micro-batch, fp32, vocab split over TP.
  EXPECT_DOUBLE_EQ(mb.logits.value(), 4.0 * 1 * 8192 * 128256 / 2);
}

TEST_F(MemoryTest, FirstPipelineStageHoldsPMicrobatches) {
  // 1F1B: stage 0 keeps min(m, p) micro-batches of its L/p layers (Narayanan et al. 2021).
  const Model m = gpt(2048, 16, 16);
  const System s = chips("dgx-h100", 8);
  Training t;
  t.seq = 2048;
  t.global_batch = 16;
  Plan p;
  p.pp = 4;
  p.dp = 2;
  p.recompute = Recompute::kSelective;
  const double per_layer = activation_bytes_per_layer(m, p, t, false).value();
  const MemoryBreakdown mb = memory_per_chip(m, p, t, s);  // m = 8 micro-batches
  ASSERT_EQ(mb.stage, 0);
  EXPECT_DOUBLE_EQ(mb.activations.value(), per_layer * 4 * (16 / 4));
  // With fewer micro-batches than stages, only m are in flight.
  t.global_batch = 4;  // m = 2
  EXPECT_DOUBLE_EQ(memory_per_chip(m, p, t, s).activations.value(), per_layer * 2 * (16 / 4));
}

TEST_F(MemoryTest, FullRecomputeAddsOneRecomputedLayer) {
  const auto [m, s, t, p] = full_recompute_on_one_node();
  const MemoryBreakdown full = memory_per_chip(m, p, t, s);
  Plan sel = p;
  sel.recompute = Recompute::kSelective;
  const double inputs = activation_bytes_per_layer(m, p, t, false).value() * 32;
  EXPECT_DOUBLE_EQ(full.activations.value(), inputs + activation_bytes_per_layer(m, sel, t, false).value());
  EXPECT_LT(full.activations.value(), memory_per_chip(m, sel, t, s).activations.value());
}

// Offloaded checkpoints: HBM keeps two layer inputs (the one in transit and the one in use), host
// memory the other layers' inputs; nothing is lost or double counted.
TEST_F(MemoryTest, OffloadMovesAllButTwoCheckpointsToHostMemory) {
  auto [m, s, t, p] = full_recompute_on_one_node();
  const MemoryBreakdown kept = memory_per_chip(m, p, t, s);
  Plan off = p;
  off.offload_activations = true;
  const MemoryBreakdown moved = memory_per_chip(m, off, t, s);
  const double input = activation_bytes_per_layer(m, p, t, false).value();
  EXPECT_DOUBLE_EQ(moved.host_offload.value(), input * (32 - 2));
  EXPECT_NEAR(moved.activations.value() + moved.host_offload.value(), kept.activations.value(), 1e-3);
  EXPECT_DOUBLE_EQ(kept.host_offload.value(), 0.0);
  EXPECT_DOUBLE_EQ(moved.total.value(), kept.total.value() - moved.host_offload.value());
  EXPECT_DOUBLE_EQ(moved.host_capacity.value(), s.chip.host_memory.value());
  EXPECT_TRUE(moved.fits);
  // Host memory is a limit too, when the preset knows it.
  s.chip.host_memory = Bytes(moved.host_offload.value() / 2);
  EXPECT_FALSE(memory_per_chip(m, off, t, s).fits);
  s.chip.host_memory = Bytes(0);  // unknown: not checked
  EXPECT_TRUE(memory_per_chip(m, off, t, s).fits);
}

TEST_F(MemoryTest, RanksPerChipMultiplyTheRankFootprint) {
  const Model m = load_model("llama2-7b");
  Training t;
  t.seq = 4096;
  t.global_batch = 32;
  Plan p;
  p.tp = 8;
  p.dp = 4;
  const System trn1 = load_system("trn1");  // 2 ranks per chip
  const MemoryBreakdown mb = memory_per_chip(m, p, t, trn1);
  const double params = params_per_rank(m, p, 0);
  EXPECT_DOUBLE_EQ(mb.weights.value(), 2 * 2 * params);
}

TEST_F(MemoryTest, OneChipAndAMillionChipsAreFinite) {
  {
    const Model m = load_model("gpt3-125m");
    Training t;
    t.seq = 2048;
    t.global_batch = 8;
    Plan p;
    p.dp = 1;
    const MemoryBreakdown mb = memory_per_chip(m, p, t, chips("dgx-h100", 1));
    EXPECT_TRUE(std::isfinite(mb.total.value()));
    EXPECT_GT(mb.total.value(), kWorkspaceBytes);
    EXPECT_TRUE(mb.fits);
  }
  {
    const Model m = load_model("llama3.1-405b");
    Training t;
    t.seq = 8192;
    t.global_batch = 16384;
    Plan p;
    p.tp = 8;
    p.pp = 16;
    p.dp = 8192;
    p.account_for_embedding_and_loss = true;
    const MemoryBreakdown mb = memory_per_chip(m, p, t, chips("trn3-ultraserver", 1048576));
    EXPECT_TRUE(std::isfinite(mb.total.value()));
    EXPECT_GT(mb.total.value(), kWorkspaceBytes);
    EXPECT_GT(mb.optimizer.value(), 0.0);
    EXPECT_LT(mb.optimizer.value(), mb.weights.value());  // sharded 8192 ways
  }
}

}  // namespace
}  // namespace tahoma
