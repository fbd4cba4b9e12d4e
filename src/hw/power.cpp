// Power of a chip and of the system around it (docs/energy.md; docs/model.md 7.8): one model for
// training steps (step.cpp) and serving runs (serve/energy.cpp).
#include <algorithm>
#include <cmath>

#include "tahoma/hw.h"

namespace tahoma {
namespace {

// E: the share of a chip's dynamic power range (cap - idle) that HBM traffic at the sustained
// bandwidth draws. HBM costs about 4 pJ/bit at the stack (O'Connor et al., MICRO 2017, "Fine-Grained
// DRAM": 3.9 pJ/bit for HBM2), so an H100 streaming 3.35 TB/s spends ~110 W in the DRAM and about as
// much again moving the data on chip: ~0.4 of its 525 W dynamic range. Decode-heavy serving draws
// well below TDP (Patel et al., ISCA 2024, "Splitwise").
constexpr double kHbmPowerShare = 0.4;
// E: energy per bit of the chip's off-package links (SerDes and their PHYs), both directions of every
// scale-up link and of the scale-out port, while they transfer: 5 pJ/bit, the order of long-reach
// 100G-class SerDes (an estimate; no vendor publishes a per-bit figure for NVLink 4/5, NeuronLink or
// ICI). The links sit inside the chip's TDP, so this is a share of the dynamic range, not extra power.
constexpr double kLinkJoulesPerBit = 5e-12;
// E: at most this share of the dynamic range goes to the links, whatever the bandwidth.
constexpr double kMaxLinkPowerShare = 0.25;

double clamp01(double x) {
  return std::isfinite(x) ? std::clamp(x, 0.0, 1.0) : 0.0;
}

}  // namespace

Watts chip_power(const Chip& chip, const ScaleUp& scale_up, const ScaleOut& scale_out, const ChipActivity& a,
                 double busy) {
  if (chip.tdp.value() <= 0) return Watts(0);
  const double cap = chip.power_limit.value() > 0 ? std::min(chip.tdp, chip.power_limit).value() : chip.tdp.value();
  const double idle = std::min(chip.idle_power.value(), cap);
  const double dynamic = cap - idle;
  if (dynamic <= 0) return Watts(cap);
  const double link_bits_per_s = 2.0 * 8.0 * (scale_up_injection(scale_up).value() + scale_out.bandwidth.value());
  const double link_share = std::min(kMaxLinkPowerShare, kLinkJoulesPerBit * link_bits_per_s / dynamic);
  const double activity =
      std::min(1.0, clamp01(a.compute) + kHbmPowerShare * clamp01(a.memory) + link_share * clamp01(a.network));
  return Watts(idle + dynamic * clamp01(busy) * activity);
}

Watts chip_power(const System& system, const ChipActivity& activity, double busy) {
  return chip_power(system.chip, system.scale_up, system.scale_out, activity, busy);
}

PowerPerChip power_per_chip(const System& system, Watts chip) {
  PowerPerChip p;
  p.chip_w = chip.value();
  p.host_w = system.host_power_per_chip.value();
  p.network_w = system.network_power_per_chip.value();
  p.it_w = p.chip_w + p.host_w + p.network_w;
  p.pue = system.pue.value_or(1.0);
  p.facility_w = p.it_w * p.pue;
  return p;
}

}  // namespace tahoma
