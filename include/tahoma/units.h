// Strong types for physical quantities and their parsing from unit-bearing text.
// Every bandwidth in Tahoma is per direction. Internally SI base units (bytes, seconds, FLOP).
#pragma once

#include <cmath>
#include <compare>
#include <string>
#include <string_view>

namespace tahoma {

// A double tagged with its dimension, so that adding seconds to bytes or passing FLOP/s where
// bytes/s are expected fails to compile. Cross-dimension arithmetic is spelled out below.
template <class Tag>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr explicit Quantity(double v) : v_(v) {}
  [[nodiscard]] constexpr double value() const { return v_; }

  constexpr Quantity& operator+=(Quantity o) {
    v_ += o.v_;
    return *this;
  }
  constexpr Quantity& operator-=(Quantity o) {
    v_ -= o.v_;
    return *this;
  }
  constexpr Quantity& operator*=(double k) {
    v_ *= k;
    return *this;
  }
  friend constexpr Quantity operator+(Quantity a, Quantity b) { return Quantity(a.v_ + b.v_); }
  friend constexpr Quantity operator-(Quantity a, Quantity b) { return Quantity(a.v_ - b.v_); }
  friend constexpr Quantity operator*(Quantity a, double k) { return Quantity(a.v_ * k); }
  friend constexpr Quantity operator*(double k, Quantity a) { return Quantity(a.v_ * k); }
  friend constexpr Quantity operator/(Quantity a, double k) { return Quantity(a.v_ / k); }
  friend constexpr double operator/(Quantity a, Quantity b) { return a.v_ / b.v_; }
  friend constexpr auto operator<=>(Quantity a, Quantity b) = default;

 private:
  double v_ = 0.0;
};

struct BytesTag {};
struct SecondsTag {};
struct FlopsTag {};
struct FlopsPerSecondTag {};
struct BytesPerSecondTag {};
struct WattsTag {};

using Bytes = Quantity<BytesTag>;
using Seconds = Quantity<SecondsTag>;
using Flops = Quantity<FlopsTag>;
using FlopsPerSecond = Quantity<FlopsPerSecondTag>;
using BytesPerSecond = Quantity<BytesPerSecondTag>;
using Watts = Quantity<WattsTag>;

constexpr Seconds operator/(Flops f, FlopsPerSecond r) {
  return Seconds(f.value() / r.value());
}
constexpr Seconds operator/(Bytes b, BytesPerSecond r) {
  return Seconds(b.value() / r.value());
}
constexpr Flops operator*(FlopsPerSecond r, Seconds t) {
  return Flops(r.value() * t.value());
}
constexpr Bytes operator*(BytesPerSecond r, Seconds t) {
  return Bytes(r.value() * t.value());
}

inline Seconds max(Seconds a, Seconds b) {
  return a < b ? b : a;
}
inline Seconds min(Seconds a, Seconds b) {
  return a < b ? a : b;
}

enum class Dimension { kBytes, kSeconds, kFlopsPerSecond, kBytesPerSecond, kWatts };

// Parses "144 GiB", "4.9 TB/s", "200 Gb/s", "400Gbps", "1.5 us", "671 TFLOP/s", "1000 W" into SI
// base units of `dim`. Decimal prefixes are powers of 1000, binary (Ki, Mi, Gi, Ti) powers of 1024;
// a lowercase b is bits. Throws std::invalid_argument with a message naming the accepted units
// when the text has no unit, the wrong dimension, a negative or non-finite value, or a value beyond
// kMaxQuantity SI units (the schema readers then check each field's own physical range).
double parse_quantity(std::string_view text, Dimension dim);
inline constexpr double kMaxQuantity = 1e30;

// Human-readable rendering with a decimal prefix: "144.0 GB", "4.90 TB/s", "1.23 s".
std::string format_bytes(Bytes b);
std::string format_bandwidth(BytesPerSecond b);
std::string format_seconds(Seconds s);
std::string format_flops_rate(FlopsPerSecond f);

}  // namespace tahoma
