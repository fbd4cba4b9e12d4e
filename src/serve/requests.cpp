// Request generation (docs/serving.md 2): offline, closed-loop concurrency, Poisson arrivals and
// trace replay. Random draws come from std::mt19937_64, whose output sequence the C++ standard fixes
// ([rand.eng.mers]), with this file's own transforms (the std:: distributions differ between
// standard libraries), so the same seed gives the same requests everywhere.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <numbers>
#include <random>
#include <sstream>

#include "tahoma/error.h"
#include "tahoma/serve.h"

namespace tahoma {
namespace {

// Longest trace line and file read (bounded memory).
constexpr std::size_t kMaxTraceLine = 1 << 16;
// Arrival times beyond this (seconds from the first request) would overflow int64 nanoseconds.
constexpr double kMaxArrivalSeconds = 1e9;

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  // Uniform on [0, 1) from the top 53 bits.
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  // Standard normal by Box-Muller (Box and Muller 1958), one value per call.
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // Exponential with mean 1 (inverse transform).
  double exponential() { return -std::log(1.0 - uniform()); }

 private:
  std::mt19937_64 gen_;
};

int draw_length(const LengthDist& d, Rng& rng, int max_len) {
  double x = d.mean;
  switch (d.kind) {
    case LengthDistKind::kFixed: break;
    case LengthDistKind::kUniform: x = d.mean * (1.0 + d.spread * (2.0 * rng.uniform() - 1.0)); break;
    case LengthDistKind::kNormal: x = d.mean * (1.0 + d.spread * rng.normal()); break;
    case LengthDistKind::kLognormal:
      // ln X ~ N(mu, sigma^2) with E[X] = exp(mu + sigma^2 / 2) = mean.
      x = std::exp(std::log(static_cast<double>(d.mean)) - d.spread * d.spread / 2 + d.spread * rng.normal());
      break;
  }
  return static_cast<int>(std::clamp(std::round(x), 1.0, static_cast<double>(max_len)));
}

void check_dist(const LengthDist& d, const char* flag, int max_context) {
  if (d.mean < 1 || d.mean >= max_context) {
    throw InputError(flag, "",
                     fmt::format("{} tokens is outside [1, {}) (the model's context is {} tokens; shorten the "
                                 "request or pick a model with a longer max_seq)",
                                 d.mean, max_context, max_context));
  }
  if (!std::isfinite(d.spread) || d.spread < 0 || d.spread > 10) {
    throw InputError("--length-spread", "", fmt::format("{} is outside [0, 10]", d.spread));
  }
  if (d.kind == LengthDistKind::kUniform && d.spread > 1) {
    throw InputError("--length-spread", "", "a uniform spread is a half-width fraction of the mean in [0, 1]");
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\"");
  const auto e = s.find_last_not_of(" \t\r\"");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Days since 1970-01-01 of a proleptic Gregorian date (the civil-calendar formula: years start in
// March so the leap day is last; 146097 days per 400-year era).
long long days_from_civil(long long y, long long m, long long d) {
  y -= m <= 2 ? 1 : 0;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const long long yoe = y - era * 400;
  const long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// Seconds of "2023-11-16 18:15:46.6805900" (Azure trace TIMESTAMP; 'T' also accepted) or a number.
std::optional<double> parse_time(const std::string& text) {
  const std::string s = trim(text);
  if (s.empty()) return std::nullopt;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  double sec = 0;
  char sep = 0;
  if (s.size() >= 19 && s[4] == '-' && std::sscanf(s.c_str(), "%d-%d-%d%c%d:%d:%lf", &y, &mo, &d, &sep, &h, &mi, &sec) == 7) {
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || !(sec >= 0 && sec < 61))
      return std::nullopt;
    return static_cast<double>(days_from_civil(y, mo, d)) * 86400.0 + h * 3600.0 + mi * 60.0 + sec;
  }
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

std::optional<long long> parse_count(const std::string& text) {
  const std::string s = trim(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end == s.c_str() || *end != '\0' || !std::isfinite(v) || v != std::floor(v)) return std::nullopt;
  if (v < 0 || v > 1e9) return std::nullopt;
  return static_cast<long long>(v);
}

// Which header names mean which column (case-insensitive).
constexpr std::array kArrivalNames = {"arrival_time", "arrival_time_s", "arrival", "timestamp", "time", "arrival_s"};
constexpr std::array kInputNames = {"input_tokens", "contexttokens", "input", "input_len", "prompt_tokens",
                                    "context_tokens"};
constexpr std::array kOutputNames = {"output_tokens", "generatedtokens", "output", "output_len",
                                     "completion_tokens", "generated_tokens"};

template <std::size_t N>
int find_column(const std::vector<std::string>& header, const std::array<const char*, N>& names) {
  for (const char* name : names) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream ss(line);
  while (std::getline(ss, cell, ',')) out.push_back(trim(cell));
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

struct Row {
  double time;
  long long input, output;
};

void check_row(const std::string& where, const Row& r, int max_context) {
  if (r.input < 1 || r.output < 1) {
    throw InputError(where, "", fmt::format("input and output tokens must be >= 1 (got {} and {})", r.input, r.output));
  }
  if (r.input + r.output > max_context) {
    throw InputError(where, "",
                     fmt::format("input {} + output {} tokens exceed the model's context of {} tokens", r.input,
                                 r.output, max_context));
  }
}

}  // namespace

const char* to_string(LengthDistKind k) {
  switch (k) {
    case LengthDistKind::kFixed: return "fixed";
    case LengthDistKind::kUniform: return "uniform";
    case LengthDistKind::kNormal: return "normal";
    case LengthDistKind::kLognormal: return "lognormal";
  }
  return "?";
}

std::optional<LengthDistKind> parse_length_dist(std::string_view s) {
  for (auto k : {LengthDistKind::kFixed, LengthDistKind::kUniform, LengthDistKind::kNormal, LengthDistKind::kLognormal})
    if (s == to_string(k)) return k;
  return std::nullopt;
}

const char* to_string(ArrivalKind k) {
  switch (k) {
    case ArrivalKind::kOffline: return "offline";
    case ArrivalKind::kConcurrency: return "concurrency";
    case ArrivalKind::kPoisson: return "poisson";
    case ArrivalKind::kTrace: return "trace";
  }
  return "?";
}

std::vector<Request> read_trace(const std::string& path, long long max_rows, int max_context) {
  std::ifstream in(path);
  if (!in) throw InputError(path, "", "cannot open the trace file (expected a readable CSV or JSONL file)");
  std::vector<Row> rows;
  std::string line;
  long long line_no = 0;
  std::vector<std::string> header;
  int col_t = -1, col_in = -1, col_out = -1;
  bool jsonl = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.size() > kMaxTraceLine) throw InputError(fmt::format("{}:{}", path, line_no), "", "line too long");
    if (trim(line).empty()) continue;
    const std::string where = fmt::format("{}:{}", path, line_no);
    if (header.empty() && !jsonl) {
      if (trim(line).front() == '{') {
        jsonl = true;
      } else {
        for (auto& h : split_csv(line)) header.push_back(lower(h));
        col_t = find_column(header, kArrivalNames);
        col_in = find_column(header, kInputNames);
        col_out = find_column(header, kOutputNames);
        if (col_t < 0 || col_in < 0 || col_out < 0) {
          throw InputError(where, "header",
                           "a trace CSV needs columns arrival_time (or TIMESTAMP), input_tokens (or ContextTokens) "
                           "and output_tokens (or GeneratedTokens)");
        }
        continue;
      }
    }
    Row r{};
    if (jsonl) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        throw InputError(where, "", "not a JSON object (expected one request per line)");
      }
      if (!j.is_object()) throw InputError(where, "", "not a JSON object (expected one request per line)");
      auto get = [&](const auto& names, const char* what) -> std::string {
        for (const auto& [k, v] : j.items()) {
          for (const char* n : names) {
            if (lower(k) == n) return v.is_string() ? v.template get<std::string>() : v.dump();
          }
        }
        throw InputError(where, what, "missing (expected arrival_time, input_tokens and output_tokens)");
      };
      const auto t = parse_time(get(kArrivalNames, "arrival_time"));
      const auto a = parse_count(get(kInputNames, "input_tokens"));
      const auto b = parse_count(get(kOutputNames, "output_tokens"));
      if (!t || !a || !b) throw InputError(where, "", "a time >= 0 and whole token counts expected");
      r = {*t, *a, *b};
    } else {
      const auto cells = split_csv(line);
      const int need = std::max({col_t, col_in, col_out});
      if (static_cast<int>(cells.size()) <= need) throw InputError(where, "", "too few columns");
      const auto t = parse_time(cells[static_cast<std::size_t>(col_t)]);
      if (!t) throw InputError(where, header[static_cast<std::size_t>(col_t)], "not a time (seconds >= 0 or a timestamp)");
      const auto a = parse_count(cells[static_cast<std::size_t>(col_in)]);
      const auto b = parse_count(cells[static_cast<std::size_t>(col_out)]);
      if (!a || !b) throw InputError(where, "", "token counts must be whole numbers in [0, 1e9]");
      r = {*t, *a, *b};
    }
    check_row(where, r, max_context);
    rows.push_back(r);
    if (static_cast<long long>(rows.size()) > std::min(max_rows, kMaxRequests)) {
      if (max_rows < kMaxRequests) {
        rows.pop_back();
        break;
      }
      throw InputError(path, "", fmt::format("more than {} requests (the cap on one run)", kMaxRequests));
    }
  }
  if (rows.empty()) throw InputError(path, "", "the trace has no requests");
  // Times relative to the earliest row; rows in time order (stable for equal times).
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.time < b.time; });
  const double t0 = rows.front().time;
  std::vector<Request> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    const double t = r.time - t0;
    if (t > kMaxArrivalSeconds) throw InputError(path, "", "the trace spans more than 1e9 s");
    out.push_back({std::llround(t * 1e9), static_cast<int>(r.input), static_cast<int>(r.output)});
  }
  return out;
}

std::vector<Request> make_requests(const RequestSpec& spec, int max_context) {
  if (spec.kind == ArrivalKind::kTrace) {
    return read_trace(spec.trace_file, spec.count_given ? spec.count : kMaxRequests, max_context);
  }
  if (spec.count < 1 || spec.count > kMaxRequests) {
    throw InputError("--requests", "", fmt::format("{} is outside [1, {}]", spec.count, kMaxRequests));
  }
  check_dist(spec.input, "--input-len", max_context);
  check_dist(spec.output, "--output-len", max_context);
  if (static_cast<long long>(spec.input.mean) + spec.output.mean > max_context) {
    throw InputError("--input-len", "",
                     fmt::format("input {} + output {} tokens exceed the model's context of {} tokens",
                                 spec.input.mean, spec.output.mean, max_context));
  }
  if (spec.kind == ArrivalKind::kPoisson) {
    if (!std::isfinite(spec.rate) || spec.rate <= 0 || spec.rate > kMaxRate) {
      throw InputError("--rate", "", fmt::format("{} requests/s is outside (0, {:g}]", spec.rate, kMaxRate));
    }
    if (static_cast<double>(spec.count) / spec.rate > kMaxArrivalSeconds / 2) {
      throw InputError("--rate", "", "the arrivals would span more than 5e8 s; raise the rate or lower --requests");
    }
  }
  if (spec.kind == ArrivalKind::kConcurrency && (spec.concurrency < 1 || spec.concurrency > kMaxConcurrency)) {
    throw InputError("--concurrency", "", fmt::format("{} is outside [1, {}]", spec.concurrency, kMaxConcurrency));
  }
  // Separate streams for lengths and arrivals, so a rate change keeps the same lengths.
  Rng lengths(spec.seed);
  Rng arrivals(spec.seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<Request> out;
  out.reserve(static_cast<std::size_t>(spec.count));
  double t = 0;
  for (long long i = 0; i < spec.count; ++i) {
    Request r;
    r.input = draw_length(spec.input, lengths, max_context - 1);
    r.output = draw_length(spec.output, lengths, max_context - r.input);
    if (spec.kind == ArrivalKind::kPoisson) {
      t += arrivals.exponential() / spec.rate;  // exponential gaps: a Poisson process
      r.arrival_ns = std::llround(t * 1e9);
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace tahoma
