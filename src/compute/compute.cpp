#include "tahoma/compute.h"

#include <algorithm>
#include <cmath>

namespace tahoma {

double tile_efficiency(double m, double n, double k, const MatrixUnit& mu) {
  auto padded = [](double x, int tile) { return std::ceil(x / tile) * tile; };
  if (m <= 0 || n <= 0 || k <= 0) return 1.0;
  return (m * n * k) / (padded(m, mu.tile_m) * padded(n, mu.tile_n) * padded(k, mu.tile_k));
}

double wave_efficiency(double tiles, int units) {
  if (tiles <= 0 || units <= 1) return 1.0;
  const double waves = std::ceil(tiles / units);
  return tiles / (waves * units);
}

OpCost ComputeModel::cost(const ComputeOp& op) const {
  OpCost c;
  const double mem_bw = chip_.hbm_bandwidth.value() * chip_.memory_efficiency;
  const double t_mem = op.bytes.value() / mem_bw;
  double t_compute = 0.0;
  double peak = 0.0;
  if (op.kind == OpKind::kMemory) {
    // Elementwise ops stream their bytes; their arithmetic is far below the vector-unit rate.
    peak = chip_.vector_flops.value();
    t_compute = peak > 0 ? op.flops.value() / peak : 0.0;
  } else {
    // Attention kernels stay in 16-bit even in fp8 training (Transformer Engine default).
    Precision p = precision_;
    if (op.kind == OpKind::kAttention && (p == Precision::kFp8 || p == Precision::kFp4)) p = Precision::kBf16;
    if (!chip_.peak(p)) p = Precision::kBf16;  // no tensor-core rate for it: runs in bf16
    const auto rate = chip_.peak(p);
    peak = rate ? rate->value() : 1.0;
    const MatrixUnit& mu = chip_.matrix_unit;
    const double tiles = std::ceil(op.m / mu.tile_m) * std::ceil(op.n / mu.tile_n) * op.count;
    double eff = chip_.matmul_efficiency * chip_.efficiency_at(p) * tile_efficiency(op.m, op.n, op.k, mu) *
                 wave_efficiency(tiles, mu.units);
    if (op.kind == OpKind::kAttention) {
      eff *= op.phase == Phase::kBackward ? kAttentionBackwardEfficiency : kAttentionEfficiency;
    }
    t_compute = op.flops.value() / (peak * eff);
  }
  c.memory_bound = t_mem > t_compute;
  const double busy = std::max(t_mem, t_compute);
  c.time = Seconds(busy + op_overhead_.value());
  c.efficiency = (peak > 0 && c.time.value() > 0) ? op.flops.value() / (peak * c.time.value()) : 0.0;
  return c;
}

}  // namespace tahoma
