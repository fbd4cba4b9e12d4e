// Compute cost of one op on one chip (DESIGN.md section 6):
//   time = max(flops / (peak * eff), bytes / (hbm_bw * eff_mem)) + kernel overhead,
// with GEMM efficiency = chip's achievable fraction x tile quantization x wave quantization.
#pragma once

#include "tahoma/hw.h"
#include "tahoma/lower.h"

namespace tahoma {

struct OpCost {
  Seconds time{0};
  double efficiency = 0;  // achieved fraction of the datatype's peak
  bool memory_bound = false;
};

// Fraction of useful work when each dimension is padded to a multiple of its tile size.
double tile_efficiency(double m, double n, double k, const MatrixUnit& mu);
// Fraction of the matrix units busy when `tiles` output tiles run in waves of `units`.
double wave_efficiency(double tiles, int units);

class ComputeModel {
 public:
  ComputeModel(const Chip& chip, Precision precision) : chip_(chip), precision_(precision) {}
  [[nodiscard]] OpCost cost(const ComputeOp& op) const;

  // FlashAttention reaches ~70-75% of the GEMM rate on the same chip (Dao 2023, FlashAttention-2,
  // Fig. 5-7: ~230 of 312 TFLOP/s forward on A100; Shah et al. 2024, FlashAttention-3: ~740 of
  // 989 on H100), so attention runs at this fraction of the matmul efficiency.
  static constexpr double kAttentionEfficiency = 0.75;

 private:
  const Chip& chip_;
  Precision precision_;
};

}  // namespace tahoma
