// Compute cost of one op on one chip (docs/design.md section 6):
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
  // `op_overhead`: the fixed cost of one launched op (the software stack's kernel_overhead: host
  // launch plus the kernel's ramp and tail), added to every op's time.
  ComputeModel(const Chip& chip, Precision precision, Seconds op_overhead = Seconds(0))
      : chip_(chip), precision_(precision), op_overhead_(op_overhead) {}
  [[nodiscard]] OpCost cost(const ComputeOp& op) const;

  // FlashAttention runs at a fraction of the chip's GEMM rate: forward ~0.7 of A100 peak vs ~0.85
  // for GEMMs (Dao 2023, FlashAttention-2, Sec. 4.1: 50-73% of peak forward) and ~740 of 989 TFLOP/s
  // on H100 (Shah et al. 2024, FlashAttention-3); the backward pass, with five matmuls, the
  // recomputed softmax and atomic dQ accumulation, reaches ~0.55 of A100 peak and ~0.5 of H100
  // peak (same sources): about 0.65 of the GEMM rate.
  static constexpr double kAttentionEfficiency = 0.75;
  static constexpr double kAttentionBackwardEfficiency = 0.65;

 private:
  const Chip& chip_;
  Precision precision_;
  Seconds op_overhead_;
};

}  // namespace tahoma
