// Compute cost of one op: tile and wave quantization in closed form, the roofline
// max(flops / (peak * eff), bytes / (bw * eff_mem)) + overhead, and small GEMMs being slow.
#include "tahoma/compute.h"
#include "tahoma/stack.h"

#include "tahoma/error.h"

#include <gtest/gtest.h>

#include <cmath>

#include "../test_util.h"

namespace tahoma {
namespace {

TEST(TileEfficiency, OneForMultiplesOfTheTile) {
  const MatrixUnit mu{128, 256, 64, 132};
  EXPECT_DOUBLE_EQ(tile_efficiency(128, 256, 64, mu), 1.0);
  EXPECT_DOUBLE_EQ(tile_efficiency(4096, 8192, 1024, mu), 1.0);
  EXPECT_DOUBLE_EQ(tile_efficiency(128 * 3, 256 * 5, 64 * 7, mu), 1.0);
}

TEST(TileEfficiency, ClosedFormOtherwise) {
  const MatrixUnit mu{128, 256, 64, 132};
  // m = 129 pads to 256, n = 300 to 512, k = 65 to 128.
  EXPECT_DOUBLE_EQ(tile_efficiency(129, 300, 65, mu), (129.0 * 300 * 65) / (256.0 * 512 * 128));
  // One dimension just below a multiple.
  EXPECT_DOUBLE_EQ(tile_efficiency(4095, 256, 64, mu), 4095.0 / 4096.0);
  // A tiny GEMM wastes most of the tile.
  EXPECT_DOUBLE_EQ(tile_efficiency(1, 1, 1, mu), 1.0 / (128.0 * 256 * 64));
  // Probe at the boundary: tile + 1 halves-ish, tile exactly is perfect.
  EXPECT_LT(tile_efficiency(129, 256, 64, mu), 0.51);
  EXPECT_DOUBLE_EQ(tile_efficiency(128, 256, 64, mu), 1.0);
}

TEST(WaveEfficiency, ClosedForm) {
  EXPECT_DOUBLE_EQ(wave_efficiency(132, 132), 1.0);
  EXPECT_DOUBLE_EQ(wave_efficiency(264, 132), 1.0);
  EXPECT_DOUBLE_EQ(wave_efficiency(133, 132), 133.0 / 264.0);  // a second, nearly empty wave
  EXPECT_DOUBLE_EQ(wave_efficiency(1, 108), 1.0 / 108.0);
  EXPECT_DOUBLE_EQ(wave_efficiency(1000, 108), 1000.0 / (10.0 * 108));
  EXPECT_DOUBLE_EQ(wave_efficiency(7, 1), 1.0);
}

class ComputeTest : public ::testing::Test {
 protected:
  void SetUp() override { system_ = load_system(dir_.write("s.yaml", testing::switch_system_yaml())); }
  testing::TempDir dir_;
  System system_;
};

ComputeOp gemm(double m, double n, double k, Precision p = Precision::kBf16) {
  const double bpe = bytes_per_element(p);
  return ComputeOp{"gemm",
                   OpKind::kGemm,
                   Phase::kForward,
                   m,
                   n,
                   k,
                   1,
                   Flops(2 * m * n * k),
                   Bytes((m * k + k * n) * bpe + m * n * 2.0)};
}

TEST_F(ComputeTest, LargeGemmRunsAtPeakTimesEfficiency) {
  // The test chip: 100 TFLOP/s, matmul efficiency 1, default 128x128x64 tile, 1 unit, no overhead.
  const ComputeModel cm(system_.chip, Precision::kBf16);
  const ComputeOp op = gemm(4096, 4096, 4096);
  const OpCost c = cm.cost(op);
  EXPECT_FALSE(c.memory_bound);
  EXPECT_DOUBLE_EQ(c.time.value(), 2.0 * 4096 * 4096 * 4096 / 100e12);
  EXPECT_DOUBLE_EQ(c.efficiency, 1.0);
}

TEST_F(ComputeTest, TileQuantizationSlowsTheGemm) {
  const ComputeModel cm(system_.chip, Precision::kBf16);
  const ComputeOp op = gemm(4096 + 1, 4096, 4096);
  const double eff = tile_efficiency(4097, 4096, 4096, system_.chip.matrix_unit);
  EXPECT_DOUBLE_EQ(cm.cost(op).time.value(), op.flops.value() / (100e12 * eff));
}

TEST_F(ComputeTest, MemoryBoundOpIsBytesOverBandwidthPlusOverhead) {
  System s = load_system("dgx-h100");
  const Seconds overhead = load_stack("megatron-lm-2024").kernel_overhead;  // the stack's per-op cost
  const ComputeModel cm(s.chip, Precision::kBf16, overhead);
  const ComputeOp op{"norm", OpKind::kMemory, Phase::kForward, 0, 0, 0, 1, Flops(0), Bytes(1e9)};
  const OpCost c = cm.cost(op);
  EXPECT_TRUE(c.memory_bound);
  EXPECT_DOUBLE_EQ(c.time.value(), 1e9 / (3.35e12 * 0.8) + 4e-6);
  EXPECT_DOUBLE_EQ(c.time.value(), 1e9 / (s.chip.hbm_bandwidth.value() * s.chip.memory_efficiency) + overhead.value());
}

TEST_F(ComputeTest, SmallGemmIsSlowerPerFlop) {
  const System s = load_system("dgx-h100");
  const ComputeModel cm(s.chip, Precision::kBf16);
  double prev_time_per_flop = 1e300;
  for (double n : {64.0, 256.0, 1024.0, 8192.0}) {
    const ComputeOp op = gemm(n, n, n);
    const OpCost c = cm.cost(op);
    const double per_flop = c.time.value() / op.flops.value();
    EXPECT_LT(per_flop, prev_time_per_flop) << n;
    prev_time_per_flop = per_flop;
    EXPECT_LE(c.efficiency, s.chip.matmul_efficiency + 1e-12);
  }
  const OpCost small = cm.cost(gemm(64, 64, 64));
  const OpCost large = cm.cost(gemm(8192, 8192, 8192));
  EXPECT_LT(small.efficiency, 0.1);
  EXPECT_GT(large.efficiency, 0.9 * s.chip.matmul_efficiency);  // a large GEMM runs near the calibrated rate
}

TEST_F(ComputeTest, WaveQuantizationOnH100) {
  // 132 SMs, 128x256 tiles: 12 x 11 = 132 output tiles fill one wave, 7 x 19 = 133 need two.
  const System s = load_system("dgx-h100");
  const ComputeModel cm(s.chip, Precision::kBf16);
  const ComputeOp full = gemm(128 * 12, 256 * 11, 8192);
  const ComputeOp plus_one = gemm(128 * 7, 256 * 19, 8192);
  ASSERT_FALSE(cm.cost(full).memory_bound);
  ASSERT_FALSE(cm.cost(plus_one).memory_bound);
  const double t_full = cm.cost(full).time.value();
  const double t_plus = cm.cost(plus_one).time.value();
  // FLOPs grow by 133/132 but the second wave is nearly empty: time = flops / (peak * eff * 133/264).
  EXPECT_NEAR(t_plus / t_full, 2.0, 1e-9);
}

TEST_F(ComputeTest, PrecisionPicksThePeak) {
  const System s = load_system("dgx-h100");
  const ComputeOp op = gemm(8192, 8192, 8192, Precision::kFp8);
  const ComputeOp op16 = gemm(8192, 8192, 8192, Precision::kBf16);
  const double t8 = ComputeModel(s.chip, Precision::kFp8).cost(op).time.value();
  const double t16 = ComputeModel(s.chip, Precision::kBf16).cost(op16).time.value();
  EXPECT_NEAR(t16 / t8, 1979.0 / 989.0, 1e-9);
}

// precision_efficiency scales the GEMM rate of its datatype only: on GB300 (FP4 at 3x the FP8 peak,
// precision_efficiency fp4 0.65) an NVFP4 GEMM runs 3 x 0.65 = 1.95x an FP8 one, and attention in
// fp4 training stays in bf16 at bf16's efficiency.
TEST_F(ComputeTest, PrecisionEfficiencyScalesItsDatatypeOnly) {
  const System s = load_system("gb300-nvl72");
  ASSERT_EQ(s.chip.efficiency_at(Precision::kFp4), 0.65);
  ASSERT_EQ(s.chip.efficiency_at(Precision::kFp8), 1.0);
  const double overhead = 0;  // no stack: no per-op launch cost
  const double t8 =
      ComputeModel(s.chip, Precision::kFp8).cost(gemm(8192, 8192, 8192, Precision::kFp8)).time.value() - overhead;
  const double t4 =
      ComputeModel(s.chip, Precision::kFp4).cost(gemm(8192, 8192, 8192, Precision::kFp4)).time.value() - overhead;
  EXPECT_NEAR(t8 / t4, 3.0 * 0.65, 1e-9);
  ComputeOp attn = gemm(4096, 4096, 128);
  attn.kind = OpKind::kAttention;
  EXPECT_EQ(ComputeModel(s.chip, Precision::kFp4).cost(attn).time,
            ComputeModel(s.chip, Precision::kBf16).cost(attn).time);
  // Out-of-range or unknown datatypes are refused with the field named.
  EXPECT_THROW(load_system("gb300-nvl72", {"chip.precision_efficiency.fp4=1.5"}), InputError);
  try {
    load_system("gb300-nvl72", {"chip.precision_efficiency.fp6=0.5"});
    ADD_FAILURE() << "fp6 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("precision_efficiency"), std::string::npos) << e.what();
  }
}

TEST_F(ComputeTest, AttentionRunsAtAFractionOfTheGemmRateAndStaysIn16Bit) {
  const ComputeModel bf16(system_.chip, Precision::kBf16);
  ComputeOp att{"attention", OpKind::kAttention, Phase::kForward, 4096, 4096, 128, 32, Flops(1e12), Bytes(1e6)};
  EXPECT_DOUBLE_EQ(bf16.cost(att).time.value(), 1e12 / (100e12 * ComputeModel::kAttentionEfficiency));
  // In fp8 training the attention kernel still runs at the bf16 rate.
  const System h100 = load_system("dgx-h100");
  const double t_bf16 = ComputeModel(h100.chip, Precision::kBf16).cost(att).time.value();
  const double t_fp8 = ComputeModel(h100.chip, Precision::kFp8).cost(att).time.value();
  EXPECT_DOUBLE_EQ(t_fp8, t_bf16);
}

TEST_F(ComputeTest, VectorFlopsBoundElementwise) {
  // The test chip has no vector_flops: elementwise ops are priced by bytes only.
  const ComputeModel cm(system_.chip, Precision::kBf16);
  const ComputeOp op{"gelu", OpKind::kMemory, Phase::kForward, 0, 0, 0, 1, Flops(1e12), Bytes(1e9)};
  EXPECT_DOUBLE_EQ(cm.cost(op).time.value(), 1e9 / 1e12);
  // With a slow vector unit, arithmetic dominates.
  const System slow = load_system(
      dir_.write("v.yaml", testing::switch_system_yaml(8, "100 GB/s", "1 us", "  vector_flops: 1 TFLOP/s\n")));
  const OpCost c = ComputeModel(slow.chip, Precision::kBf16).cost(op);
  EXPECT_FALSE(c.memory_bound);
  EXPECT_DOUBLE_EQ(c.time.value(), 1.0);
}

TEST_F(ComputeTest, MonotoneInFlopsAndBytes) {
  const System s = load_system("trn3-ultraserver");
  const ComputeModel cm(s.chip, Precision::kBf16);
  double prev = 0;
  for (double m : {128.0, 1024.0, 8192.0, 65536.0}) {
    const double t = cm.cost(gemm(m, 4096, 4096)).time.value();
    EXPECT_GT(t, prev);
    prev = t;
  }
}

}  // namespace
}  // namespace tahoma
