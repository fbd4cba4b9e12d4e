// Hardware model (docs/design.md section 3): a chip, its scale-up domain and the scale-out fabric that
// joins domains. Loaded from data/systems/*.yaml (or any YAML path), with `extends:` + `scale:` and
// command-line `--set key.path=value` overrides. All bandwidths are per chip, per direction.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include "tahoma/units.h"

namespace tahoma {

enum class Precision { kFp32, kBf16, kFp16, kFp8, kFp4 };
inline constexpr std::array<Precision, 5> kAllPrecisions = {Precision::kFp32, Precision::kBf16, Precision::kFp16,
                                                            Precision::kFp8, Precision::kFp4};
const char* to_string(Precision p);
std::optional<Precision> parse_precision(std::string_view s);
// Bytes per element of a matmul operand stored in this precision (fp4 packs two per byte).
double bytes_per_element(Precision p);

// Geometry of the matrix engine used for tile and wave quantization: an output tile of tile_m x tile_n
// (a tensor-core CTA tile or a systolic array), reduced in steps of tile_k, with `units` tiles in flight.
struct MatrixUnit {
  int tile_m = 128;
  int tile_n = 128;
  int tile_k = 64;
  int units = 1;
};

struct Chip {
  std::string name;
  std::array<std::optional<FlopsPerSecond>, 5> peak_flops{};  // dense, indexed by Precision
  double matmul_efficiency = 0.8;                             // achievable fraction of peak on large, well-shaped GEMMs
  // Achieved GEMM rate at a datatype relative to what matmul_efficiency gives the other datatypes
  // (1 = the same fraction of that datatype's peak), indexed by Precision. Below 1 where a faster
  // tensor-core rate leaves the per-tile epilogue and scale-factor handling, which do not speed up,
  // a larger share of each GEMM (Blackwell's FP4).
  std::array<double, 5> precision_efficiency{1.0, 1.0, 1.0, 1.0, 1.0};
  [[nodiscard]] double efficiency_at(Precision p) const { return precision_efficiency[static_cast<size_t>(p)]; }
  MatrixUnit matrix_unit;
  FlopsPerSecond vector_flops{0};  // non-matrix (elementwise) throughput, fp32
  Bytes hbm_capacity{0};
  BytesPerSecond hbm_bandwidth{0};
  double memory_efficiency = 0.8;  // achievable fraction of HBM bandwidth in streaming kernels
  Bytes sram{0};
  // The chip's link to its host's DRAM, per direction (PCIe, NVLink-C2C), and the host DRAM per
  // chip: where offloaded activations go. 0 = not in the preset (offloading is then refused).
  BytesPerSecond host_bandwidth{0};
  Bytes host_memory{0};
  Watts tdp{0};
  Watts idle_power{0};
  Watts power_limit{0};            // configured cap below the TDP (0 = none), e.g. a 500 W H100
  int ranks_per_chip = 1;          // framework ranks (devices) per chip
  double comm_interference = 0.0;  // compute lost while an overlapped collective holds SMs (NCCL)
  // The per-op launch cost and the expert-GEMM dispatch are software: they live in the stack
  // (include/tahoma/stack.h, data/stacks/), which names one runtime per chip family.

  [[nodiscard]] std::optional<FlopsPerSecond> peak(Precision p) const { return peak_flops[static_cast<size_t>(p)]; }
  // Sustained clock under a power cap as a fraction of the rated clock: f/f0 = cap/TDP. Under
  // sustained tensor-core load the chip already runs at its power limit with the voltage near its
  // floor, so dynamic power C*V^2*f falls linearly with f (not with f^3, the DVFS regime above the
  // floor). Measured: an H100 SXM capped from 700 to 600 W loses 10-15% of transformer training
  // throughput, fp8 15-20% (factryze.ai Scale Atlas, "Power capping"); linear predicts 14%.
  [[nodiscard]] double clock_fraction() const;
};

// The table of the chip's scalar fields (STYLE.md 3, "one declaration per field"): the preset
// reader, `--set chip.KEY=VALUE` (an override is read by the same reader), the system JSON and
// `list fields` walk it. The maps (peak_flops, precision_efficiency, matrix_unit) are read beside it.
enum class ChipFieldKind { kNumber, kInteger, kQuantity };
struct ChipField {
  std::string_view key;       // YAML key under chip:
  std::string_view json_key;  // key in the system JSON's chip object (SI units in the name)
  std::string_view help;
  ChipFieldKind kind;
  Dimension dim = Dimension::kBytes;  // kQuantity
  double min = 0, max = 0;            // the physical range; kQuantity also takes 0 when zero_ok
  bool zero_ok = false;               // 0 is the documented "none" (not in the preset)
  // The value when the preset omits the key (nullopt: required); it may depend on earlier fields.
  std::optional<double> (*fallback)(const Chip&);
  double (*get)(const Chip&);
  void (*set)(Chip&, double);
};
std::span<const ChipField> chip_fields();

// The share of a chip one rank owns when the chip runs `ranks_per_chip` ranks (NeuronCores of a
// Trainium1, the two TensorCore devices of an Ironwood): peak rates, HBM bandwidth and capacity and
// matrix units divided evenly.
Chip per_rank(const Chip& chip);

enum class ScaleUpTopology { kSwitch, kTorus };

// One level of a switched scale-up domain. Levels nest, innermost first: a level-i group holds
// `chips` chips. `bandwidth` is per chip per direction toward peers whose smallest common group is
// this level (so a sled level may include rack-switch links that also reach sled peers).
struct SwitchLevel {
  std::string name;
  int chips = 1;
  BytesPerSecond bandwidth{0};
  Seconds latency{0};
};

struct ScaleUp {
  std::string name;
  int chips = 1;  // chips per domain
  ScaleUpTopology topology = ScaleUpTopology::kSwitch;
  std::vector<SwitchLevel> levels;             // switch topology
  std::vector<int> dims;                       // torus topology, innermost first
  std::vector<BytesPerSecond> link_bandwidth;  // torus: per link per direction, per dim
  Seconds latency{0};                          // torus: per hop
  bool in_network_reduction = false;           // NVLS / SHARP-style switch reduction
  double efficiency = 0.8;                     // achieved fraction of link bandwidth
};

enum class ScaleOutTopology { kFatTree, kRailOptimized };

struct ScaleOut {
  std::string name;
  BytesPerSecond bandwidth{0};  // per chip per direction
  ScaleOutTopology topology = ScaleOutTopology::kFatTree;
  double oversubscription = 1.0;
  Seconds latency{0};
  double efficiency = 0.85;
};

struct System {
  std::string name;
  std::string description;
  std::string family;  // "NVIDIA Hopper", "Google TPU", "AWS Trainium", ...
  std::string default_stack;  // the software stack (data/stacks/) a scenario without one runs
  Chip chip;
  ScaleUp scale_up;
  ScaleOut scale_out;
  std::optional<double> price_usd_per_chip_hour;            // on-demand list price
  std::optional<double> price_usd_per_chip_hour_committed;  // committed-use (1-year) price, where published
  // Power outside the chips, per chip (docs/energy.md): the hosts (CPUs, DRAM, NICs, fans, power
  // conversion in the server) and the network (scale-up switches, scale-out switches and optics).
  // Drawn whenever the system runs, whatever the step keeps busy; 0 = not in the preset.
  Watts host_power_per_chip{0};
  Watts network_power_per_chip{0};
  // Facility power usage effectiveness (total facility power / IT power) of the data centres that
  // run this system: cooling and power-conversion overhead on top of the chips, hosts and network.
  // 1.0 (none) .. 3.0; a preset without `pue` runs at 1.0 and says so.
  std::optional<double> pue;
  int chips = 0;  // set by the scenario; 0 = one scale-up domain

  [[nodiscard]] int total_chips() const { return chips > 0 ? chips : scale_up.chips; }
  [[nodiscard]] int total_ranks() const { return total_chips() * chip.ranks_per_chip; }
};

// What a stretch of work keeps busy on one chip, each a share of its time in [0, 1] (docs/energy.md):
// the matrix units at their sustained rate, HBM at its sustained bandwidth, the chip's links.
struct ChipActivity {
  double compute = 0;
  double memory = 0;
  double network = 0;
};

// One chip's mean power (docs/energy.md, docs/model.md 7.8): idle plus the dynamic range (the cap,
// min(tdp, power_limit), minus idle) times `busy` (the share of time the chip works at all) times
// min(1, compute + 0.4 memory + link share x network). Never above the cap, never below idle, and
// never lower when any share grows. 0 for a chip without a tdp.
Watts chip_power(const Chip& chip, const ScaleUp& scale_up, const ScaleOut& scale_out, const ChipActivity& activity,
                 double busy = 1.0);
Watts chip_power(const System& system, const ChipActivity& activity, double busy = 1.0);

// A system's power per chip at a given chip power: IT (chip + host + network) and facility (IT x PUE;
// a preset without `pue` counts 1.0).
struct PowerPerChip {
  double chip_w = 0;
  double host_w = 0;
  double network_w = 0;
  double it_w = 0;
  double pue = 1.0;
  double facility_w = 0;
};
PowerPerChip power_per_chip(const System& system, Watts chip);

// The most chips a system or scenario may have: 2^24 (16.8 M, 16x the largest cluster Tahoma is
// benchmarked on), so chips x ranks_per_chip (at most 64) fits an int.
inline constexpr int kMaxChips = 16'777'216;

// Loads a system by preset name or YAML path, applying `extends:`/`scale:` and then each override
// ("chip.hbm_capacity=288GB"). A relative path (in `name_or_path` when `base_dir` is given, and in
// every `extends:`) is read from the directory of the file that names it. Throws InputError naming
// file and key for any bad input, including a value outside its field's physical range:
//   peak_flops.*, vector_flops          1 GFLOP/s .. 1 ZFLOP/s (vector_flops also 0 = none)
//   hbm_capacity                        1 MB .. 1 PB;  sram, host_memory 0 .. 1 PB
//   hbm_bandwidth, every link, scale-out bandwidth, host_bandwidth   100 MB/s .. 1 PB/s
//                                       (host_bandwidth also 0 = none)
//   every latency                       0 .. 100 ms
//   tdp, power_limit                    0 (none) or 1 W .. 100 kW; power_limit at least 10% of tdp
//   ranks_per_chip 1 .. 64;  matrix-unit tiles 1 .. 4096;  chips (any level) 1 .. kMaxChips
System load_system(const std::string& name_or_path, const std::vector<std::string>& overrides = {},
                   const std::string& base_dir = "");

// Preset names found in the data directory, sorted, with their one-line descriptions.
struct PresetInfo {
  std::string name;
  std::string description;
};
std::vector<PresetInfo> list_system_presets();

// Aggregates over `system.total_chips()` chips.
struct SystemTotals {
  int chips = 0;
  std::array<std::optional<FlopsPerSecond>, 5> peak_flops{};
  Bytes hbm{0};
  BytesPerSecond hbm_bandwidth{0};
  BytesPerSecond scale_up_bandwidth{0};  // sum over chips of per-chip per-direction injection
  BytesPerSecond scale_out_bandwidth{0};
};
SystemTotals totals(const System& system);

// Per-chip per-direction injection bandwidth into the scale-up domain: the widest switch level
// (levels already count the outer links that reach their peers), or the sum over torus links.
BytesPerSecond scale_up_injection(const ScaleUp& s);

}  // namespace tahoma
