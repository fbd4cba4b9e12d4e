#include "tahoma/hw.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <type_traits>

#include "internal/yaml_reader.h"
#include "tahoma/error.h"

namespace tahoma {

using internal::YamlMap;

const char* to_string(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
    case Precision::kFp8: return "fp8";
    case Precision::kFp4: return "fp4";
  }
  return "?";
}

std::optional<Precision> parse_precision(std::string_view s) {
  for (Precision p : kAllPrecisions) {
    if (s == to_string(p)) return p;
  }
  return std::nullopt;
}

double bytes_per_element(Precision p) {
  switch (p) {
    case Precision::kFp32: return 4.0;
    case Precision::kBf16:
    case Precision::kFp16: return 2.0;
    case Precision::kFp8: return 1.0;
    case Precision::kFp4: return 0.5;
  }
  return 2.0;
}

namespace {


// Physical ranges of the system fields (hw.h lists them): wide enough for any real part from a
// 2016 GPU to a rack of the 2030s, narrow enough that every derived time stays finite and
// representable.
constexpr double kMinFlops = 1e9, kMaxFlops = 1e21;           // 1 GFLOP/s .. 1 ZFLOP/s per chip
constexpr double kMinHbm = 1e6, kMaxHbm = 1e15;               // 1 MB .. 1 PB per chip
constexpr double kMinBandwidth = 1e8, kMaxBandwidth = 1e15;   // 100 MB/s .. 1 PB/s
constexpr double kMaxLatency = 0.1;                           // 0 .. 100 ms
constexpr double kMinWatts = 1.0, kMaxWatts = 1e5;            // 1 W .. 100 kW per chip
constexpr double kMinPowerLimitFraction = 0.1;                // a power cap of at least 10% of TDP
constexpr int kMaxRanksPerChip = 64;
constexpr int kMaxTile = 4096;
constexpr int kMaxMatrixUnits = 1'000'000;

// Multiplies the quantity at node[key] (text with a unit; key is a map key or a list index) by
// `factor`, rewriting it in SI units.
template <class Key>
void scale_quantity(YAML::Node node, const Key& key, Dimension dim, const char* si_unit, double factor,
                    const std::string& file, const std::string& path) {
  if (!node || !node[key] || node[key].IsNull()) return;
  if (!node[key].IsScalar()) {
    throw InputError(file, fmt::format("{}.{}", path, key),
                     fmt::format("expected a value with a unit, got {}", internal::shape_of(node[key])));
  }
  double v = 0;
  try {
    v = parse_quantity(node[key].Scalar(), dim);
  } catch (const std::invalid_argument& e) {
    throw InputError(file, fmt::format("{}.{}", path, key), e.what());
  }
  node[key] = fmt::format("{:.17g} {}", v * factor, si_unit);
}

void apply_scale(YAML::Node& base, const YAML::Node& scale_node, const std::string& file) {
  YamlMap scale(scale_node, file, "scale");
  scale.declare({"compute", "hbm_bandwidth", "hbm_capacity", "scale_up_bandwidth", "scale_out_bandwidth"});
  const double compute = scale.number("compute", 1.0, 1e-6, 1e6);
  const double hbm_bw = scale.number("hbm_bandwidth", 1.0, 1e-6, 1e6);
  const double hbm_cap = scale.number("hbm_capacity", 1.0, 1e-6, 1e6);
  const double up_bw = scale.number("scale_up_bandwidth", 1.0, 1e-6, 1e6);
  const double out_bw = scale.number("scale_out_bandwidth", 1.0, 1e-6, 1e6);
  scale.finish();
  YAML::Node chip = base["chip"];
  if (chip && chip.IsMap()) {
    if (YAML::Node peaks = chip["peak_flops"]; peaks && peaks.IsMap()) {
      for (auto kv : peaks)
        scale_quantity(peaks, internal::key_text(kv.first, file, "chip.peak_flops"), Dimension::kFlopsPerSecond,
                       "FLOP/s", compute, file, "chip.peak_flops");
    }
    scale_quantity(chip, "vector_flops", Dimension::kFlopsPerSecond, "FLOP/s", compute, file, "chip");
    scale_quantity(chip, "hbm_bandwidth", Dimension::kBytesPerSecond, "B/s", hbm_bw, file, "chip");
    scale_quantity(chip, "hbm_capacity", Dimension::kBytes, "B", hbm_cap, file, "chip");
  }
  if (YAML::Node up = base["scale_up"]; up && up.IsMap()) {
    if (YAML::Node levels = up["levels"]; levels && levels.IsSequence()) {
      for (auto level : levels) {
        if (!level.IsMap()) continue;  // parse_scale_up names the wrong shape
        scale_quantity(level, "bandwidth", Dimension::kBytesPerSecond, "B/s", up_bw, file, "scale_up.levels");
      }
    }
    if (YAML::Node links = up["link_bandwidth"]; links && links.IsSequence()) {
      for (size_t idx = 0; idx < links.size(); ++idx) {
        scale_quantity(links, idx, Dimension::kBytesPerSecond, "B/s", up_bw, file, "scale_up.link_bandwidth");
      }
    }
  }
  if (YAML::Node out = base["scale_out"]; out && out.IsMap())
    scale_quantity(out, "bandwidth", Dimension::kBytesPerSecond, "B/s", out_bw, file, "scale_out");
}

// A system's `scale:` (only beside `extends:`) scales the resolved parent before the file's own
// keys override it (internal::resolve_extends).
void inherit_scaled(YAML::Node* parent, YAML::Node& own, const std::string& file) {
  if (!own["scale"]) return;
  if (parent == nullptr) throw InputError(file, "scale", "only allowed together with 'extends'");
  apply_scale(*parent, own["scale"], file);
  own.remove("scale");
}

// Accessors of one chip member for the field table, in SI units.
template <auto Member>
double get_member(const Chip& c) {
  if constexpr (std::is_arithmetic_v<std::remove_cvref_t<decltype(c.*Member)>>) {
    return static_cast<double>(c.*Member);
  } else {
    return (c.*Member).value();
  }
}
template <auto Member>
void set_member(Chip& c, double v) {
  using T = std::remove_cvref_t<decltype(c.*Member)>;
  if constexpr (std::is_same_v<T, int>) {
    c.*Member = static_cast<int>(v);
  } else if constexpr (std::is_arithmetic_v<T>) {
    c.*Member = v;
  } else {
    c.*Member = T(v);
  }
}
std::optional<double> required(const Chip&) {
  return std::nullopt;
}

const std::vector<ChipField>& chip_field_table() {
  using K = ChipFieldKind;
  using D = Dimension;
  static const std::vector<ChipField> fields = {
      {"matmul_efficiency", "matmul_efficiency", "sustained fraction of peak on large, well-shaped GEMMs (calibrated)",
       K::kNumber, D::kBytes, 0.01, 1.0, false, [](const Chip&) -> std::optional<double> { return 0.8; },
       &get_member<&Chip::matmul_efficiency>, &set_member<&Chip::matmul_efficiency>},
      {"vector_flops", "vector_flops_per_s", "non-matrix (elementwise) throughput, fp32", K::kQuantity,
       D::kFlopsPerSecond, kMinFlops, kMaxFlops, true, [](const Chip&) -> std::optional<double> { return 0.0; },
       &get_member<&Chip::vector_flops>, &set_member<&Chip::vector_flops>},
      {"hbm_capacity", "hbm_bytes", "HBM per chip", K::kQuantity, D::kBytes, kMinHbm, kMaxHbm, false, &required,
       &get_member<&Chip::hbm_capacity>, &set_member<&Chip::hbm_capacity>},
      {"hbm_bandwidth", "hbm_bytes_per_s", "HBM bandwidth per chip", K::kQuantity, D::kBytesPerSecond, kMinBandwidth,
       kMaxBandwidth, false, &required, &get_member<&Chip::hbm_bandwidth>, &set_member<&Chip::hbm_bandwidth>},
      {"memory_efficiency", "memory_efficiency", "achievable fraction of HBM bandwidth in streaming kernels",
       K::kNumber, D::kBytes, 0.01, 1.0, false, [](const Chip&) -> std::optional<double> { return 0.8; },
       &get_member<&Chip::memory_efficiency>, &set_member<&Chip::memory_efficiency>},
      {"sram", "sram_bytes", "on-chip SRAM (L2, SBUF, VMEM)", K::kQuantity, D::kBytes, 0.0, kMaxHbm, false,
       [](const Chip&) -> std::optional<double> { return 0.0; }, &get_member<&Chip::sram>, &set_member<&Chip::sram>},
      {"host_bandwidth", "host_bytes_per_s", "link to the host's DRAM per direction (PCIe, NVLink-C2C); 0 = none",
       K::kQuantity, D::kBytesPerSecond, kMinBandwidth, kMaxBandwidth, true, [](const Chip&) -> std::optional<double> { return 0.0; },
       &get_member<&Chip::host_bandwidth>, &set_member<&Chip::host_bandwidth>},
      {"host_memory", "host_memory_bytes", "host DRAM per chip, where offloaded activations go", K::kQuantity,
       D::kBytes, 0.0, kMaxHbm, false, [](const Chip&) -> std::optional<double> { return 0.0; }, &get_member<&Chip::host_memory>,
       &set_member<&Chip::host_memory>},
      {"tdp", "tdp_watts", "rated board power", K::kQuantity, D::kWatts, kMinWatts, kMaxWatts, true,
       [](const Chip&) -> std::optional<double> { return 0.0; }, &get_member<&Chip::tdp>, &set_member<&Chip::tdp>},
      // E: idle at a quarter of TDP when the preset does not say (H100 SXM idles near 70-100 W of 700).
      {"idle_power", "idle_watts", "power when idle (default: 25% of TDP)", K::kQuantity, D::kWatts, 0.0, kMaxWatts,
       false, [](const Chip& c) { return std::optional<double>(c.tdp.value() * 0.25); },
       &get_member<&Chip::idle_power>, &set_member<&Chip::idle_power>},
      {"power_limit", "power_limit_watts", "configured power cap below the TDP; 0 = none", K::kQuantity, D::kWatts,
       kMinWatts, kMaxWatts, true, [](const Chip&) -> std::optional<double> { return 0.0; }, &get_member<&Chip::power_limit>,
       &set_member<&Chip::power_limit>},
      {"ranks_per_chip", "ranks_per_chip", "framework ranks (devices) per chip", K::kInteger, D::kBytes, 1,
       kMaxRanksPerChip, false, [](const Chip&) -> std::optional<double> { return 1.0; }, &get_member<&Chip::ranks_per_chip>,
       &set_member<&Chip::ranks_per_chip>},
      {"comm_interference", "comm_interference", "compute lost while an overlapped collective holds SMs (NCCL)",
       K::kNumber, D::kBytes, 0.0, 0.9, false, [](const Chip&) -> std::optional<double> { return 0.0; },
       &get_member<&Chip::comm_interference>, &set_member<&Chip::comm_interference>},
  };
  return fields;
}

// One scalar field from the preset, range-checked by the table.
double read_chip_field(YamlMap& m, const ChipField& f, const Chip& so_far) {
  const std::string key(f.key);
  const std::optional<double> fallback = f.fallback(so_far);
  switch (f.kind) {
    case ChipFieldKind::kNumber: return m.number(key, fallback, f.min, f.max);
    case ChipFieldKind::kInteger:
      return m.integer(key, fallback ? std::optional<int>(static_cast<int>(*fallback)) : std::nullopt,
                       static_cast<int>(f.min), static_cast<int>(f.max));
    case ChipFieldKind::kQuantity: return m.quantity(key, f.dim, fallback, f.min, f.max, f.zero_ok);
  }
  return 0.0;
}

Chip parse_chip(YamlMap m) {
  std::vector<std::string> keys = {"name", "peak_flops", "matrix_unit", "precision_efficiency"};
  for (const auto& f : chip_field_table()) keys.emplace_back(f.key);
  m.declare(keys);
  for (const char* moved : {"kernel_overhead", "grouped_gemm_dispatch"}) {
    if (m.has(moved)) {
      throw m.error(moved, "is software, not hardware: it moved to the stack presets (data/stacks/*.yaml); "
                           "choose a stack with --stack or a scenario's stack: key");
    }
  }
  Chip c;
  c.name = m.string("name");
  YamlMap peaks = m.map("peak_flops");
  peaks.declare({"fp32", "bf16", "fp16", "fp8", "fp4"});
  bool any = false;
  for (Precision p : kAllPrecisions) {
    if (peaks.has(to_string(p))) {
      const FlopsPerSecond f(
          peaks.quantity(to_string(p), Dimension::kFlopsPerSecond, std::nullopt, kMinFlops, kMaxFlops));
      c.peak_flops[static_cast<size_t>(p)] = f;
      any = true;
    }
  }
  peaks.finish();
  if (!any) throw m.error("peak_flops", "needs at least one datatype (fp32, bf16, fp16, fp8, fp4)");
  for (const auto& f : chip_field_table()) f.set(c, read_chip_field(m, f, c));
  if (m.has("precision_efficiency")) {
    YamlMap pe = m.map("precision_efficiency");
    pe.declare({"fp32", "bf16", "fp16", "fp8", "fp4"});
    for (Precision p : kAllPrecisions) {
      if (pe.has(to_string(p)))
        c.precision_efficiency[static_cast<size_t>(p)] = pe.number(to_string(p), 1.0, 0.05, 1.0);
    }
    pe.finish();
  }
  YamlMap mu = m.map("matrix_unit");
  mu.declare({"tile_m", "tile_n", "tile_k", "units"});
  c.matrix_unit.tile_m = mu.integer("tile_m", 128, 1, kMaxTile);
  c.matrix_unit.tile_n = mu.integer("tile_n", 128, 1, kMaxTile);
  c.matrix_unit.tile_k = mu.integer("tile_k", 64, 1, kMaxTile);
  c.matrix_unit.units = mu.integer("units", 1, 1, kMaxMatrixUnits);
  mu.finish();
  if (c.power_limit.value() > 0 && c.tdp.value() > 0 && c.power_limit.value() < kMinPowerLimitFraction * c.tdp.value()) {
    throw m.error("power_limit",
                  fmt::format("{} W is below {:g}% of the {} W TDP (expected 0 for none, or a cap from {:g} W up: "
                              "chips do not run at a smaller fraction of their rated power)",
                              c.power_limit.value(), kMinPowerLimitFraction * 100, c.tdp.value(),
                              kMinPowerLimitFraction * c.tdp.value()));
  }
  m.finish();
  return c;
}

ScaleUp parse_scale_up(YamlMap m) {
  m.declare({"name", "chips", "topology", "in_network_reduction", "efficiency", "levels", "dims", "link_bandwidth",
             "latency"});
  ScaleUp s;
  s.name = m.string("name", "");
  s.chips = m.integer("chips", std::nullopt, 1, kMaxChips);
  s.topology =
      m.choice<ScaleUpTopology>("topology", {{"switch", ScaleUpTopology::kSwitch}, {"torus", ScaleUpTopology::kTorus}});
  s.in_network_reduction = m.boolean("in_network_reduction", false);
  s.efficiency = m.number("efficiency", 0.8, 0.01, 1.0);
  if (s.topology == ScaleUpTopology::kSwitch) {
    const auto levels = m.sequence("levels");
    if (levels.empty()) throw m.error("levels", "a switch needs at least one level");
    int prev = 1;
    for (size_t idx = 0; idx < levels.size(); ++idx) {
      YamlMap lm(levels[idx], m.file(), m.key_path(fmt::format("levels.{}", idx)));
      lm.declare({"name", "chips", "bandwidth", "latency"});
      SwitchLevel level;
      level.name = lm.string("name", fmt::format("level{}", idx));
      level.chips = lm.integer("chips", std::nullopt, 1, kMaxChips);
      level.bandwidth = BytesPerSecond(
          lm.quantity("bandwidth", Dimension::kBytesPerSecond, std::nullopt, kMinBandwidth, kMaxBandwidth));
      level.latency = Seconds(lm.quantity("latency", Dimension::kSeconds, 1e-6, 0.0, kMaxLatency));
      lm.finish();
      if (level.chips <= prev && !(idx == 0 && level.chips == 1)) {
        throw lm.error("chips", fmt::format("{} must exceed the previous level's {} (levels nest, innermost first)",
                                            level.chips, prev));
      }
      if (level.chips % prev != 0)
        throw lm.error("chips", fmt::format("{} is not a multiple of the inner level's {}", level.chips, prev));
      prev = level.chips;
      s.levels.push_back(level);
    }
    if (prev != s.chips)
      throw m.error("levels", fmt::format("the outermost level has {} chips but scale_up.chips is {}", prev, s.chips));
  } else {
    // Every factor is at most chips (2^24): the product is exact in double up to 2^53, and a
    // product beyond that is beyond chips anyway.
    double product = 1;
    for (const auto& d : m.sequence("dims")) {
      const int v = d.IsScalar() ? d.as<int>(0) : 0;
      if (v < 1 || v > s.chips) {
        throw m.error("dims", fmt::format("{} is not a dimension (expected positive integers whose product is "
                                          "scale_up.chips, e.g. [4, 4, 4])",
                                          d.IsScalar() ? "'" + d.Scalar() + "'" : internal::shape_of(d)));
      }
      product *= v;
      s.dims.push_back(v);
    }
    if (s.dims.empty()) throw m.error("dims", "a torus needs dims, e.g. [4, 4, 4]");
    if (product != s.chips) {
      throw m.error("dims", fmt::format("product {:.0f} differs from scale_up.chips {}", product, s.chips));
    }
    for (const auto& b : m.sequence("link_bandwidth")) {
      try {
        if (!b.IsScalar()) throw std::invalid_argument("expected a bandwidth, got " + internal::shape_of(b));
        const double bw = parse_quantity(b.Scalar(), Dimension::kBytesPerSecond);
        if (!(bw >= kMinBandwidth && bw <= kMaxBandwidth)) {
          throw std::invalid_argument(fmt::format("'{}' is outside the physical range {} to {}", b.Scalar(),
                                                  format_bandwidth(BytesPerSecond(kMinBandwidth)),
                                                  format_bandwidth(BytesPerSecond(kMaxBandwidth))));
        }
        s.link_bandwidth.emplace_back(bw);
      } catch (const std::invalid_argument& e) {
        throw m.error("link_bandwidth", e.what());
      }
    }
    if (s.link_bandwidth.size() != s.dims.size()) {
      throw m.error("link_bandwidth", fmt::format("needs one bandwidth per dim ({} dims)", s.dims.size()));
    }
    s.latency = Seconds(m.quantity("latency", Dimension::kSeconds, 1e-6, 0.0, kMaxLatency));
  }
  m.finish();
  return s;
}

ScaleOut parse_scale_out(YamlMap m) {
  m.declare({"name", "bandwidth", "topology", "oversubscription", "latency", "efficiency"});
  ScaleOut s;
  s.name = m.string("name", "");
  s.bandwidth = BytesPerSecond(
      m.quantity("bandwidth", Dimension::kBytesPerSecond, std::nullopt, kMinBandwidth, kMaxBandwidth));
  s.topology = m.choice<ScaleOutTopology>(
      "topology", {{"fat_tree", ScaleOutTopology::kFatTree}, {"rail_optimized", ScaleOutTopology::kRailOptimized}},
      ScaleOutTopology::kFatTree);
  s.oversubscription = m.number("oversubscription", 1.0, 1.0, 64.0);
  s.latency = Seconds(m.quantity("latency", Dimension::kSeconds, 5e-6, 0.0, kMaxLatency));
  s.efficiency = m.number("efficiency", 0.85, 0.01, 1.0);
  m.finish();
  return s;
}

}  // namespace

std::span<const ChipField> chip_fields() {
  return chip_field_table();
}

System load_system(const std::string& name_or_path, const std::vector<std::string>& overrides,
                   const std::string& base_dir) {
  std::string file;
  YAML::Node node = internal::resolve_extends("systems", name_or_path, "system", base_dir, file, inherit_scaled);
  for (const auto& o : overrides) internal::apply_override(node, o, "--set " + o);
  const std::string where = overrides.empty() ? file : file + " (with --set overrides)";
  YamlMap m(node, where, "");
  m.declare({"name", "description", "family", "stack", "chip", "scale_up", "scale_out", "price_usd_per_chip_hour",
             "price_usd_per_chip_hour_committed", "host_power_per_chip", "network_power_per_chip", "pue"});
  System s;
  s.name = m.string("name");
  s.description = m.string("description", "");
  s.family = m.string("family", "");
  s.default_stack = m.string("stack", "");
  s.chip = parse_chip(m.map("chip"));
  s.scale_up = parse_scale_up(m.map("scale_up"));
  s.scale_out = parse_scale_out(m.map("scale_out"));
  if (m.has("price_usd_per_chip_hour")) s.price_usd_per_chip_hour = m.number("price_usd_per_chip_hour", 0.0, 0.0, 1e4);
  if (m.has("price_usd_per_chip_hour_committed")) {
    s.price_usd_per_chip_hour_committed = m.number("price_usd_per_chip_hour_committed", 0.0, 0.0, 1e4);
  }
  s.host_power_per_chip = Watts(m.quantity("host_power_per_chip", Dimension::kWatts, 0.0, 0.0, kMaxWatts));
  s.network_power_per_chip = Watts(m.quantity("network_power_per_chip", Dimension::kWatts, 0.0, 0.0, kMaxWatts));
  if (m.has("pue")) s.pue = m.number("pue", 1.0, 1.0, 3.0);
  m.finish();
  return s;
}

std::vector<PresetInfo> list_system_presets() {
  return internal::list_presets<PresetInfo>("systems", [](const std::string& n) { return load_system(n).description; });
}

double Chip::clock_fraction() const {
  if (power_limit.value() <= 0 || tdp.value() <= 0 || power_limit >= tdp) return 1.0;
  return power_limit.value() / tdp.value();
}

Chip per_rank(const Chip& chip) {
  Chip r = chip;
  const double n = chip.ranks_per_chip;
  const double clock = chip.clock_fraction();
  for (auto& peak : r.peak_flops) {
    if (peak) *peak = *peak * (clock / n);
  }
  r.vector_flops = chip.vector_flops * (clock / n);
  r.hbm_bandwidth = chip.hbm_bandwidth / n;
  r.hbm_capacity = chip.hbm_capacity / n;
  r.sram = chip.sram / n;
  r.host_bandwidth = chip.host_bandwidth / n;
  r.host_memory = chip.host_memory / n;
  r.matrix_unit.units = std::max(1, chip.matrix_unit.units / chip.ranks_per_chip);
  r.ranks_per_chip = 1;
  return r;
}

BytesPerSecond scale_up_injection(const ScaleUp& s) {
  BytesPerSecond sum{0};
  if (s.topology == ScaleUpTopology::kSwitch) {
    // The innermost level's figure already includes outer switch links that reach its peers;
    // injection is the widest level (a chip cannot send faster than its widest path).
    for (const auto& level : s.levels) sum = sum < level.bandwidth ? level.bandwidth : sum;
  } else {
    for (size_t d = 0; d < s.dims.size(); ++d) {
      const int links = s.dims[d] > 2 ? 2 : (s.dims[d] == 2 ? 1 : 0);  // a ring of 2 has one neighbour
      sum += s.link_bandwidth[d] * links;
    }
  }
  return sum;
}

SystemTotals totals(const System& system) {
  SystemTotals t;
  t.chips = system.total_chips();
  const double n = t.chips;
  for (Precision p : kAllPrecisions) {
    if (auto f = system.chip.peak(p)) t.peak_flops[static_cast<size_t>(p)] = *f * n;
  }
  t.hbm = system.chip.hbm_capacity * n;
  t.hbm_bandwidth = system.chip.hbm_bandwidth * n;
  t.scale_up_bandwidth = scale_up_injection(system.scale_up) * n;
  t.scale_out_bandwidth = system.scale_out.bandwidth * n;
  return t;
}

}  // namespace tahoma
