// Hardware presets and their aggregates: every preset loads, and the headline totals match the
// vendors' published system figures (AWS Trn3/Trn2 UltraServer launch numbers, docs/hardware.md).
#include "tahoma/hw.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>

#include "../test_util.h"
#include "tahoma/error.h"

namespace tahoma {
namespace {

const std::vector<std::string> kSystems = {
    "dgx-a100",        "dgx-h100",    "dgx-h200",         "hgx-h800",         "dgx-b200",
    "dgx-b300",        "gb200-nvl72", "gb300-nvl72",      "tpu-v3",           "tpu-v4",
    "tpu-v5e",         "tpu-v5p",     "tpu-v6e",          "tpu-v7",           "trn1",
    "trn1n",           "trn2",        "trn2-ultraserver", "trn3-ultraserver", "trn3-ultraserver-gen1",
    "trn4-ultraserver"};

double rel_err(double actual, double expected) {
  return std::abs(actual - expected) / std::abs(expected);
}

TEST(SystemPresets, EveryPresetFileLoadsAndIsSane) {
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(testing::data_path("systems"))) {
    if (entry.path().extension() == ".yaml") files.insert(entry.path().stem().string());
  }
  for (const auto& name : kSystems) EXPECT_TRUE(files.count(name)) << "missing preset " << name;
  for (const auto& name : files) {
    SCOPED_TRACE(name);
    System s;
    ASSERT_NO_THROW(s = load_system(name));
    EXPECT_EQ(s.name, name) << "preset name must equal its file name";
    EXPECT_FALSE(s.description.empty());
    EXPECT_TRUE(s.chip.peak(Precision::kBf16).has_value()) << "every training chip runs bf16";
    EXPECT_GT(s.chip.hbm_capacity.value(), 1e9);
    EXPECT_GT(s.chip.hbm_bandwidth.value(), 1e11);
    EXPECT_GT(s.scale_up.chips, 1);
    EXPECT_GT(scale_up_injection(s.scale_up).value(), 0.0);
    EXPECT_GT(s.scale_out.bandwidth.value(), 0.0);
    EXPECT_GE(s.chip.ranks_per_chip, 1);
    EXPECT_GT(s.chip.matmul_efficiency, 0.3);
    EXPECT_LE(s.chip.matmul_efficiency, 1.0);
    // Peaks never fall as precision narrows (fp32 <= bf16 <= fp8 <= fp4 where present).
    const auto bf16 = s.chip.peak(Precision::kBf16);
    if (auto fp32 = s.chip.peak(Precision::kFp32)) {
      EXPECT_LE(fp32->value(), bf16->value());
    }
    if (auto fp8 = s.chip.peak(Precision::kFp8)) {
      EXPECT_GE(fp8->value(), bf16->value());
      if (auto fp4 = s.chip.peak(Precision::kFp4)) {
        EXPECT_GE(fp4->value(), fp8->value());
      }
    }
  }
}

// Issue 14 item 5: every shipped chip has a host, so every preset gives its link to host DRAM
// (--offload-activations needs it) and the host DRAM per chip. The link is far slower than HBM
// (PCIe or NVLink-C2C against HBM), which bounds a mistyped unit.
TEST(SystemPresets, EveryPresetHasAHostLink) {
  for (const auto& name : kSystems) {
    SCOPED_TRACE(name);
    const System s = load_system(name);
    EXPECT_GT(s.chip.host_bandwidth.value(), 0.0) << "no chip.host_bandwidth";
    EXPECT_GT(s.chip.host_memory.value(), 0.0) << "no chip.host_memory";
    EXPECT_LT(s.chip.host_bandwidth.value(), s.chip.hbm_bandwidth.value());
    EXPECT_GE(s.chip.host_bandwidth.value(), 1e9) << "a host link is at least 1 GB/s";
    EXPECT_GE(s.chip.host_memory.value(), 1e9) << "host DRAM is at least 1 GB per chip";
  }
  // Spot values, each from the sources named in the preset.
  EXPECT_DOUBLE_EQ(load_system("tpu-v7").chip.host_memory.value(), 240e9);     // 960 GB per 4-chip VM
  EXPECT_DOUBLE_EQ(load_system("tpu-v5p").chip.host_memory.value(), 112e9);    // 448 GB per 4-chip VM
  EXPECT_DOUBLE_EQ(load_system("trn1n").chip.host_memory.value(),               // extends trn1:
                   load_system("trn1").chip.host_memory.value());               // 512 GiB / 16
  EXPECT_DOUBLE_EQ(load_system("gb200-nvl72").chip.host_bandwidth.value(), 225e9);  // C2C shared by 2 GPUs
}

// The chip field table (hw.h) is the reader's schema: each field's range is enforced on a preset
// and on --set, with the key named; the system JSON carries every field.
TEST(ChipFields, RangesAreEnforcedByTheTable) {
  for (const auto& f : chip_fields()) {
    std::string too_big;
    switch (f.kind) {
      case ChipFieldKind::kNumber: too_big = fmt::format("{}", f.max * 2 + 1); break;
      case ChipFieldKind::kInteger: too_big = fmt::format("{}", static_cast<long long>(f.max) + 1); break;
      case ChipFieldKind::kQuantity: {
        const char* unit = f.dim == Dimension::kBytes            ? "B"
                           : f.dim == Dimension::kBytesPerSecond ? "B/s"
                           : f.dim == Dimension::kWatts          ? "W"
                           : f.dim == Dimension::kSeconds        ? "s"
                                                                 : "FLOP/s";
        too_big = fmt::format("{:g} {}", f.max * 10, unit);
        break;
      }
    }
    const std::string set = fmt::format("chip.{}={}", f.key, too_big);
    const std::string msg = testing::input_error([&] { (void)load_system("dgx-h100", {set}); });
    EXPECT_CONTAINS(msg, std::string(f.key));
  }
}

TEST(ChipFields, SetChangesExactlyThatField) {
  const System base = load_system("dgx-h100");
  for (const auto& f : chip_fields()) {
    if (f.kind != ChipFieldKind::kNumber) continue;
    const double v = (f.min + f.max) / 2;
    const System s = load_system("dgx-h100", {fmt::format("chip.{}={}", f.key, v)});
    EXPECT_DOUBLE_EQ(f.get(s.chip), v) << f.key;
    for (const auto& g : chip_fields()) {
      if (g.key != f.key) {
        EXPECT_DOUBLE_EQ(g.get(s.chip), g.get(base.chip)) << f.key << " moved " << g.key;
      }
    }
  }
}

TEST(SystemPresets, ListedWithDescriptions) {
  const auto list = list_system_presets();
  std::vector<std::string> names;
  for (const auto& p : list) {
    names.push_back(p.name);
    EXPECT_EQ(p.description.find("(invalid"), std::string::npos) << p.name << ": " << p.description;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const auto& name : kSystems) EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
}

TEST(SystemTotals, Trn3UltraServerMatchesAwsFigures) {
  // AWS launch: 144 Trainium3, 362 FP8 PFLOP/s, 20.7 TB HBM3e, 706 TB/s (hardware.md [P1], [A4]).
  const System s = load_system("trn3-ultraserver");
  const SystemTotals t = totals(s);
  EXPECT_EQ(t.chips, 144);
  ASSERT_TRUE(t.peak_flops[static_cast<size_t>(Precision::kFp8)].has_value());
  EXPECT_LT(rel_err(t.peak_flops[static_cast<size_t>(Precision::kFp8)]->value(), 362e15), 0.01);
  EXPECT_LT(rel_err(t.hbm.value(), 20.7e12), 0.01);
  EXPECT_LT(rel_err(t.hbm_bandwidth.value(), 705.6e12), 0.01);
}

TEST(SystemTotals, Trn3OverTrn2ComputeRatio) {
  // AWS: "4.4x the compute" of the Trn2 UltraServer; 362 / 83.2 = 4.35.
  const SystemTotals t3 = totals(load_system("trn3-ultraserver"));
  const SystemTotals t2 = totals(load_system("trn2-ultraserver"));
  EXPECT_EQ(t2.chips, 64);
  const double fp8_3 = t3.peak_flops[static_cast<size_t>(Precision::kFp8)]->value();
  const double fp8_2 = t2.peak_flops[static_cast<size_t>(Precision::kFp8)]->value();
  EXPECT_LT(rel_err(fp8_2, 83.2e15), 0.01);
  EXPECT_LT(rel_err(fp8_3 / fp8_2, 4.35), 0.03);
  // "almost 4x" the memory bandwidth: 705.6 / 185.6 = 3.8.
  EXPECT_LT(rel_err(t3.hbm_bandwidth.value() / t2.hbm_bandwidth.value(), 3.8), 0.03);
}

TEST(SystemTotals, Trn4IsTrn3ScaledExactly) {
  const System t3 = load_system("trn3-ultraserver");
  const System t4 = load_system("trn4-ultraserver");
  for (Precision p : kAllPrecisions) {
    SCOPED_TRACE(to_string(p));
    ASSERT_EQ(t3.chip.peak(p).has_value(), t4.chip.peak(p).has_value());
    if (t3.chip.peak(p)) {
      EXPECT_DOUBLE_EQ(t4.chip.peak(p)->value(), 6.0 * t3.chip.peak(p)->value());
    }
  }
  EXPECT_DOUBLE_EQ(t4.chip.hbm_bandwidth.value(), 4.0 * t3.chip.hbm_bandwidth.value());
  EXPECT_DOUBLE_EQ(t4.chip.hbm_capacity.value(), 2.0 * t3.chip.hbm_capacity.value());
  // Not scaled: the fabric.
  EXPECT_EQ(t4.scale_up.chips, t3.scale_up.chips);
  ASSERT_EQ(t4.scale_up.levels.size(), t3.scale_up.levels.size());
  for (size_t idx = 0; idx < t3.scale_up.levels.size(); ++idx) {
    EXPECT_DOUBLE_EQ(t4.scale_up.levels[idx].bandwidth.value(), t3.scale_up.levels[idx].bandwidth.value());
  }
  EXPECT_DOUBLE_EQ(t4.scale_out.bandwidth.value(), t3.scale_out.bandwidth.value());
  EXPECT_EQ(t4.name, "trn4-ultraserver");
}

TEST(SystemTotals, ScaleWithChipCount) {
  System s = load_system("dgx-h100");
  EXPECT_EQ(s.total_chips(), 8);  // chips = 0 means one scale-up domain
  s.chips = 1024;
  const SystemTotals t = totals(s);
  EXPECT_EQ(t.chips, 1024);
  EXPECT_DOUBLE_EQ(t.peak_flops[static_cast<size_t>(Precision::kBf16)]->value(), 1024 * 989e12);
  EXPECT_DOUBLE_EQ(t.hbm.value(), 1024 * 80e9);
  EXPECT_DOUBLE_EQ(t.hbm_bandwidth.value(), 1024 * 3.35e12);
  EXPECT_DOUBLE_EQ(t.scale_out_bandwidth.value(), 1024 * 50e9);
  EXPECT_FALSE(t.peak_flops[static_cast<size_t>(Precision::kFp4)].has_value());  // Hopper has no FP4
}

TEST(SystemTotals, RanksPerChip) {
  System s = load_system("trn1");
  EXPECT_EQ(s.chip.ranks_per_chip, 2);
  EXPECT_EQ(s.total_ranks(), 32);
  s.chips = 64;
  EXPECT_EQ(s.total_ranks(), 128);
}

TEST(ScaleUpInjection, SwitchIsWidestLevelTorusCountsLinks) {
  // Switch: the widest level.
  const System trn3 = load_system("trn3-ultraserver");
  EXPECT_DOUBLE_EQ(scale_up_injection(trn3.scale_up).value(), 576e9);
  // Torus of 4x4: 2 links per direction in each dimension of size > 2.
  const System trn1 = load_system("trn1");
  EXPECT_DOUBLE_EQ(scale_up_injection(trn1.scale_up).value(), 4 * 48e9);
  // A dimension of 2 has one neighbour; a dimension of 1 none.
  ScaleUp t;
  t.topology = ScaleUpTopology::kTorus;
  t.dims = {2, 1, 8};
  t.link_bandwidth = {BytesPerSecond(10), BytesPerSecond(100), BytesPerSecond(1000)};
  EXPECT_DOUBLE_EQ(scale_up_injection(t).value(), 10.0 + 0.0 + 2 * 1000.0);
}

TEST(Precisions, NamesAndBytes) {
  for (Precision p : kAllPrecisions) EXPECT_EQ(parse_precision(to_string(p)), p);
  EXPECT_FALSE(parse_precision("fp6").has_value());
  EXPECT_DOUBLE_EQ(bytes_per_element(Precision::kFp32), 4.0);
  EXPECT_DOUBLE_EQ(bytes_per_element(Precision::kBf16), 2.0);
  EXPECT_DOUBLE_EQ(bytes_per_element(Precision::kFp16), 2.0);
  EXPECT_DOUBLE_EQ(bytes_per_element(Precision::kFp8), 1.0);
  EXPECT_DOUBLE_EQ(bytes_per_element(Precision::kFp4), 0.5);
}

TEST(SystemPresets, KnownVendorNumbers) {
  // A few anchor values, each from the vendor's spec sheet.
  const System h100 = load_system("dgx-h100");
  EXPECT_DOUBLE_EQ(h100.chip.peak(Precision::kBf16)->value(), 989e12);
  EXPECT_DOUBLE_EQ(h100.scale_up.levels.at(0).bandwidth.value(), 450e9);
  EXPECT_TRUE(h100.scale_up.in_network_reduction);
  const System a100 = load_system("dgx-a100");
  EXPECT_DOUBLE_EQ(a100.chip.peak(Precision::kFp16)->value(), 312e12);
  EXPECT_FALSE(a100.chip.peak(Precision::kFp8).has_value());
  const System trn1n = load_system("trn1n");
  EXPECT_DOUBLE_EQ(trn1n.scale_out.bandwidth.value(), 100e9 / 8);  // 100 Gb/s, extends trn1
  EXPECT_DOUBLE_EQ(trn1n.chip.hbm_bandwidth.value(), load_system("trn1").chip.hbm_bandwidth.value());
}


// Issue 13: every system field has a documented physical range (hw.h); outside it is an input
// error naming the key and stating the range, at the limit it loads.
TEST(PhysicalRanges, OutsideIsRefusedAtTheLimitAccepted) {
  testing::TempDir dir;
  const std::string file = dir.write("s.yaml", testing::switch_system_yaml(8, "100 GB/s", "1 us", "  tdp: 700 W\n"));
  struct Case {
    const char* set;
    const char* says;
  };
  for (const Case& c : {Case{"chip.power_limit=0.001W", "chip.power_limit: 0.001W is outside the physical range 1 W"},
                        Case{"chip.power_limit=50W", "below 10% of the 700 W TDP"},
                        Case{"chip.peak_flops.bf16=1e-300FLOP/s", "chip.peak_flops.bf16: 1e-300FLOP/s is outside"},
                        Case{"chip.peak_flops.bf16=1e22FLOP/s", "1e+21 FLOP/s"},
                        Case{"scale_up.levels.0.latency=1e8s", "scale_up.levels.0.latency: 1e8s is outside the physical range 0 s to 0.1 s"},
                        Case{"scale_out.latency=1s", "scale_out.latency"},
                        Case{"chip.hbm_capacity=0.5MB", "1 MB to 1 PB"},
                        Case{"chip.hbm_bandwidth=10MB/s", "chip.hbm_bandwidth: 10MB/s is outside"},
                        Case{"chip.kernel_overhead=2us", "moved to the stack presets"},
                        Case{"chip.ranks_per_chip=65", "from 1 to 64"},
                        Case{"chip.tdp=1MW", "chip.tdp"},
                        Case{"scale_out.bandwidth=1Mb/s", "100 MB/s to 1 PB/s"}}) {
    const std::string msg = testing::input_error([&] { (void)load_system(file, {c.set}); });
    EXPECT_CONTAINS(msg, c.says);
  }
  // At the limits, and 0 for the optional fields that document it as "none".
  const System s = load_system(file, {"chip.power_limit=70W", "scale_up.levels.0.latency=100ms",
                                      "chip.host_bandwidth=0GB/s", "chip.vector_flops=0FLOP/s",
                                      "chip.ranks_per_chip=64", "chip.peak_flops.bf16=1e21FLOP/s"});
  EXPECT_DOUBLE_EQ(s.chip.clock_fraction(), 0.1);
  EXPECT_DOUBLE_EQ(s.scale_up.levels.at(0).latency.value(), 0.1);
}

TEST(PhysicalRanges, TorusDimsThatOverflowAreRefused) {
  testing::TempDir dir;
  std::string yaml = testing::switch_system_yaml();
  const auto from = yaml.find("  topology: switch");
  yaml = yaml.substr(0, from) +
         "  topology: torus\n  dims: [2147483647, 2147483647, 2147483647]\n  link_bandwidth: [1 GB/s, 1 GB/s, 1 GB/s]\n" +
         yaml.substr(yaml.find("scale_out:"));
  const std::string msg = testing::input_error([&] { (void)load_system(dir.write("t.yaml", yaml)); });
  EXPECT_CONTAINS(msg, "scale_up.dims: '2147483647' is not a dimension");
}

// Power (docs/energy.md): bounded by idle and the cap, monotone in every share, PUE exact.
TEST(Power, NeverAboveTheCapNorBelowIdle) {
  for (const auto& name : kSystems) {
    System s = load_system(name);
    const double cap = s.chip.tdp.value();
    for (double c : {0.0, 0.3, 1.0, 5.0}) {
      for (double m : {0.0, 0.5, 1.0, 9.0}) {
        for (double n : {0.0, 1.0, 1e9}) {
          const double w = chip_power(s, {c, m, n}).value();
          EXPECT_LE(w, cap + 1e-9) << name;
          EXPECT_GE(w, s.chip.idle_power.value() - 1e-9) << name;
        }
      }
    }
    const double all = chip_power(s, {1.0, 1.0, 1.0}).value();
    EXPECT_DOUBLE_EQ(all, cap) << name;  // fully busy draws the cap exactly
  }
  System capped = load_system("dgx-h100", {"chip.power_limit=500W"});
  EXPECT_DOUBLE_EQ(chip_power(capped, {1.0, 1.0, 1.0}).value(), 500.0);
  EXPECT_LE(chip_power(capped, {0.9, 0.9, 0.9}).value(), 500.0);
  EXPECT_DOUBLE_EQ(chip_power(load_system("dgx-h100", {"chip.tdp=0W"}), {1, 1, 1}).value(), 0.0);
}

TEST(Power, MoreBusyNeverLowersPower) {
  const System s = load_system("trn2-ultraserver");
  const std::vector<double> steps = {0.0, 0.05, 0.2, 0.5, 0.8, 1.0, 1.5};
  for (double a : steps) {
    for (double b : steps) {
      for (size_t i = 1; i < steps.size(); ++i) {
        const double lo = steps[i - 1], hi = steps[i];
        EXPECT_LE(chip_power(s, {lo, a, b}).value(), chip_power(s, {hi, a, b}).value());
        EXPECT_LE(chip_power(s, {a, lo, b}).value(), chip_power(s, {a, hi, b}).value());
        EXPECT_LE(chip_power(s, {a, b, lo}).value(), chip_power(s, {a, b, hi}).value());
        EXPECT_LE(chip_power(s, {a, b, 0.5}, lo).value(), chip_power(s, {a, b, 0.5}, hi).value());
      }
    }
  }
  // Memory traffic alone: 0.4 of the dynamic range at full HBM bandwidth.
  const double idle = s.chip.idle_power.value(), dyn = s.chip.tdp.value() - idle;
  EXPECT_NEAR(chip_power(s, {0, 1, 0}).value(), idle + 0.4 * dyn, 1e-9);
  EXPECT_DOUBLE_EQ(chip_power(s, {0, 0, 0}).value(), idle);
}

TEST(Power, PueScalesFacilityPowerExactlyAndDefaultsToOne) {
  const System with = load_system("trn2", {"pue=1.37"});
  const PowerPerChip p = power_per_chip(with, Watts(400));
  EXPECT_DOUBLE_EQ(p.it_w, 400 + with.host_power_per_chip.value() + with.network_power_per_chip.value());
  EXPECT_DOUBLE_EQ(p.facility_w, p.it_w * 1.37);
  const System bare = load_system("trn2", {"pue=1.0", "host_power_per_chip=0W", "network_power_per_chip=0W"});
  const PowerPerChip q = power_per_chip(bare, Watts(400));
  EXPECT_DOUBLE_EQ(q.facility_w, 400.0);
  System none = load_system("trn2");
  none.pue.reset();  // a preset without pue counts 1.0
  EXPECT_DOUBLE_EQ(power_per_chip(none, Watts(400)).facility_w, power_per_chip(none, Watts(400)).it_w);
  EXPECT_DOUBLE_EQ(power_per_chip(none, Watts(400)).pue, 1.0);
}

// Every system sold as a cloud service has an on-demand price (issue 16 item 6). The others: trn2,
// trn2-ultraserver, gb200/gb300-nvl72, tpu-v5e and tpu-v7 are sold but no list price was verified
// (docs/energy.md, "Prices"); trn3/trn4, dgx-b300, hgx-h800 and tpu-v3/v4 are not (or no longer) listed.
TEST(Prices, EveryVerifiedCloudPresetHasAPrice) {
  const std::vector<std::string> priced = {"dgx-a100", "dgx-h100", "dgx-h200", "dgx-b200",
                                           "tpu-v5p",  "tpu-v6e",  "trn1",     "trn1n"};
  for (const auto& name : priced) {
    const System s = load_system(name);
    ASSERT_TRUE(s.price_usd_per_chip_hour.has_value()) << name;
    EXPECT_GT(*s.price_usd_per_chip_hour, 0.0) << name;
    if (s.price_usd_per_chip_hour_committed) {
      EXPECT_LT(*s.price_usd_per_chip_hour_committed, *s.price_usd_per_chip_hour) << name;
    }
  }
  EXPECT_DOUBLE_EQ(*load_system("tpu-v6e").price_usd_per_chip_hour_committed, 1.89);
  for (const auto& name : kSystems) EXPECT_TRUE(load_system(name).pue.has_value()) << name << " has no pue";
}

TEST(Prices, BadPricePueAndOverheadValuesAreInputErrors) {
  for (const std::string set : {"pue=0.5", "pue=3.5", "pue=nan", "pue=-1", "price_usd_per_chip_hour=-1",
                                "price_usd_per_chip_hour=nan", "price_usd_per_chip_hour_committed=-2",
                                "host_power_per_chip=-5W", "network_power_per_chip=infW"}) {
    const std::string msg = testing::input_error([&] { (void)load_system("trn2", {set}); });
    EXPECT_CONTAINS(msg, set.substr(0, set.find('='))) << set;
  }
}

}  // namespace
}  // namespace tahoma
