#include "tahoma/units.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tahoma {
namespace {

struct UnitDef {
  std::string_view symbol;
  Dimension dim;
  double factor;  // to SI base unit of dim
};

// Longest symbols first within a family is not required: matching is exact on the whole suffix.
constexpr std::array kUnits = {
    UnitDef{"B", Dimension::kBytes, 1.0},
    UnitDef{"KB", Dimension::kBytes, 1e3},
    UnitDef{"MB", Dimension::kBytes, 1e6},
    UnitDef{"GB", Dimension::kBytes, 1e9},
    UnitDef{"TB", Dimension::kBytes, 1e12},
    UnitDef{"PB", Dimension::kBytes, 1e15},
    UnitDef{"KiB", Dimension::kBytes, 1024.0},
    UnitDef{"MiB", Dimension::kBytes, 1048576.0},
    UnitDef{"GiB", Dimension::kBytes, 1073741824.0},
    UnitDef{"TiB", Dimension::kBytes, 1099511627776.0},
    UnitDef{"B/s", Dimension::kBytesPerSecond, 1.0},
    UnitDef{"KB/s", Dimension::kBytesPerSecond, 1e3},
    UnitDef{"MB/s", Dimension::kBytesPerSecond, 1e6},
    UnitDef{"GB/s", Dimension::kBytesPerSecond, 1e9},
    UnitDef{"TB/s", Dimension::kBytesPerSecond, 1e12},
    UnitDef{"GiB/s", Dimension::kBytesPerSecond, 1073741824.0},
    UnitDef{"TiB/s", Dimension::kBytesPerSecond, 1099511627776.0},
    UnitDef{"Mb/s", Dimension::kBytesPerSecond, 1e6 / 8},
    UnitDef{"Gb/s", Dimension::kBytesPerSecond, 1e9 / 8},
    UnitDef{"Tb/s", Dimension::kBytesPerSecond, 1e12 / 8},
    UnitDef{"Mbps", Dimension::kBytesPerSecond, 1e6 / 8},
    UnitDef{"Gbps", Dimension::kBytesPerSecond, 1e9 / 8},
    UnitDef{"Tbps", Dimension::kBytesPerSecond, 1e12 / 8},
    UnitDef{"s", Dimension::kSeconds, 1.0},
    UnitDef{"ms", Dimension::kSeconds, 1e-3},
    UnitDef{"us", Dimension::kSeconds, 1e-6},
    UnitDef{"ns", Dimension::kSeconds, 1e-9},
    UnitDef{"ps", Dimension::kSeconds, 1e-12},
    UnitDef{"FLOP/s", Dimension::kFlopsPerSecond, 1.0},
    UnitDef{"GFLOP/s", Dimension::kFlopsPerSecond, 1e9},
    UnitDef{"TFLOP/s", Dimension::kFlopsPerSecond, 1e12},
    UnitDef{"PFLOP/s", Dimension::kFlopsPerSecond, 1e15},
    UnitDef{"EFLOP/s", Dimension::kFlopsPerSecond, 1e18},
    UnitDef{"GFLOPS", Dimension::kFlopsPerSecond, 1e9},
    UnitDef{"TFLOPS", Dimension::kFlopsPerSecond, 1e12},
    UnitDef{"PFLOPS", Dimension::kFlopsPerSecond, 1e15},
    UnitDef{"W", Dimension::kWatts, 1.0},
    UnitDef{"kW", Dimension::kWatts, 1e3},
    UnitDef{"MW", Dimension::kWatts, 1e6},
};

const char* example(Dimension dim) {
  switch (dim) {
    case Dimension::kBytes: return "bytes, e.g. '144 GB' or '96 GiB'";
    case Dimension::kSeconds: return "a time, e.g. '1.5 us' or '10 ms'";
    case Dimension::kFlopsPerSecond: return "a compute rate, e.g. '989 TFLOP/s'";
    case Dimension::kBytesPerSecond: return "a bandwidth, e.g. '450 GB/s' or '400 Gb/s'";
    case Dimension::kWatts: return "a power, e.g. '700 W'";
  }
  return "a value with a unit";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

double parse_quantity(std::string_view text, Dimension dim) {
  const std::string_view s = trim(text);
  size_t pos = 0;
  while (pos < s.size() && (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.' || s[pos] == '-' ||
                            s[pos] == '+' || s[pos] == 'e' || s[pos] == 'E')) {
    // Stop at an 'e'/'E' that starts a unit (EFLOP/s) rather than an exponent.
    if ((s[pos] == 'e' || s[pos] == 'E') &&
        (pos + 1 >= s.size() ||
         !(std::isdigit(static_cast<unsigned char>(s[pos + 1])) || s[pos + 1] == '-' || s[pos + 1] == '+'))) {
      break;
    }
    ++pos;
  }
  double value = 0;
  const std::string number(s.substr(0, pos));
  try {
    size_t used = 0;
    value = std::stod(number, &used);
    if (used != number.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw std::invalid_argument(fmt::format("'{}' is not a number with a unit (expected {})", text, example(dim)));
  }
  const std::string_view unit = trim(s.substr(pos));
  if (unit.empty()) {
    throw std::invalid_argument(fmt::format("'{}' has no unit (expected {})", text, example(dim)));
  }
  for (const auto& u : kUnits) {
    if (u.symbol == unit) {
      if (u.dim != dim) {
        throw std::invalid_argument(fmt::format("'{}' has the wrong kind of unit (expected {})", text, example(dim)));
      }
      if (value < 0 || !std::isfinite(value)) {
        throw std::invalid_argument(fmt::format("'{}' must be a non-negative finite value", text));
      }
      const double si = value * u.factor;
      if (!std::isfinite(si) || si > kMaxQuantity) {
        throw std::invalid_argument(
            fmt::format("'{}' is absurdly large (expected at most {:g} in SI base units)", text, kMaxQuantity));
      }
      return si;
    }
  }
  throw std::invalid_argument(fmt::format("'{}': unknown unit '{}' (expected {})", text, unit, example(dim)));
}

namespace {
std::string with_prefix(double v, const char* unit) {
  static constexpr std::array<const char*, 7> kPrefix = {"", "K", "M", "G", "T", "P", "E"};
  size_t idx = 0;
  // Choose the prefix after rounding to 3 significant digits, so 999.7e9 B prints as "1 TB".
  auto rounded = [](double x) { return std::stod(fmt::format("{:.3g}", x)); };
  while (std::abs(rounded(v)) >= 1000.0 && idx + 1 < kPrefix.size()) {
    v /= 1000.0;
    ++idx;
  }
  return fmt::format("{:.3g} {}{}", v, kPrefix[idx], unit);
}
}  // namespace

std::string format_bytes(Bytes b) {
  return with_prefix(b.value(), "B");
}
std::string format_bandwidth(BytesPerSecond b) {
  return with_prefix(b.value(), "B/s");
}
std::string format_flops_rate(FlopsPerSecond f) {
  return with_prefix(f.value(), "FLOP/s");
}
std::string format_seconds(Seconds s) {
  const double v = s.value();
  if (v >= 0.9995) return fmt::format("{:.3g} s", v);
  if (v >= 0.9995e-3) return fmt::format("{:.3g} ms", v * 1e3);
  return fmt::format("{:.3g} us", v * 1e6);
}

}  // namespace tahoma
