#include "progress.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tahoma::cli {
namespace {

// 24300 -> "24,300".
std::string grouped(long long n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t idx = 0; idx < digits.size(); ++idx) {
    if (idx > 0 && (digits.size() - idx) % 3 == 0) out += ',';
    out += digits[idx];
  }
  if (n < 0) out.insert(out.begin(), '-');
  return out;
}

}  // namespace

double progress_delay_from(const char* text, double fallback) {
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(value) || value < 0 || value > 3600) return fallback;
  return value;
}

ProgressSink stderr_sink(bool quiet) {
  ProgressSink sink;
  sink.delay_s = progress_delay_from(std::getenv("TAHOMA_PROGRESS_DELAY"), sink.delay_s);
  sink.terminal = !quiet && ::isatty(STDERR_FILENO) != 0;
  sink.now_s = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  sink.write = [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  };
  return sink;
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  if (s < 60) return fmt::format("{} s", s);
  if (s < 3600) return fmt::format("{} min {:02} s", s / 60, s % 60);
  if (s < 100 * 3600) return fmt::format("{} h {:02} min", s / 3600, (s % 3600) / 60);
  return fmt::format("{} h", s / 3600);
}

std::string progress_text(std::string_view verb, std::string_view unit, long long done, long long total,
                          double elapsed_s) {
  done = std::clamp(done, 0LL, std::max(total, 0LL));
  const double share = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
  std::string text = fmt::format("{} {} / {} {}  {:3.0f}%  {}", verb, grouped(done), grouped(total), unit,
                                 100.0 * share, human_duration(elapsed_s));
  if (done > 0 && done < total) {
    const double left = elapsed_s * static_cast<double>(total - done) / static_cast<double>(done);
    text += fmt::format(", about {} left", human_duration(left));
  }
  return text;
}

ProgressLine::ProgressLine(std::string verb, std::string unit, ProgressSink sink)
    : verb_(std::move(verb)), unit_(std::move(unit)), sink_(std::move(sink)) {
  if (sink_.terminal && sink_.now_s) start_s_ = sink_.now_s();
}

ProgressLine::~ProgressLine() { finish(); }

void ProgressLine::update(long long done, long long total) {
  if (!sink_.terminal) return;
  std::lock_guard lock(mu_);
  if (finished_) return;
  const double now = sink_.now_s();
  const double elapsed = now - start_s_;
  if (done >= total) {  // this piece is done: erase the line (a next piece draws it again)
    erase_locked();
    return;
  }
  if (elapsed < sink_.delay_s || (last_draw_s_ >= 0 && now - last_draw_s_ < kRedrawS)) return;
  const std::string text = progress_text(verb_, unit_, done, total, elapsed);
  // '\r', the line, and blanks over what a longer earlier line left behind.
  std::string out(1, '\r');
  out += text;
  if (text.size() < drawn_width_) out += std::string(drawn_width_ - text.size(), ' ');
  sink_.write(out);
  drawn_width_ = std::max(drawn_width_, text.size());
  last_draw_s_ = now;
}

void ProgressLine::erase_locked() {
  if (drawn_width_ > 0) {
    std::string blank(drawn_width_ + 2, ' ');
    blank.front() = blank.back() = '\r';
    sink_.write(blank);
  }
  drawn_width_ = 0;
}

void ProgressLine::finish() {
  std::lock_guard lock(mu_);
  if (finished_) return;
  finished_ = true;
  erase_locked();
}

ProgressFn ProgressLine::callback() {
  if (!sink_.terminal) return {};
  return [this](long long done, long long total) { update(done, total); };
}

bool ProgressLine::shown() const {
  std::lock_guard lock(mu_);
  return drawn_width_ > 0;
}

}  // namespace tahoma::cli
