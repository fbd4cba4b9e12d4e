// The progress line of long commands (issue 17 item 4): on stderr, only when it is a terminal and
// --quiet is off, first drawn after a second of work, counts and an estimate of the time left,
// cleared when the work ends. Never on stdout, so never inside JSON or CSV output. Private to the
// cli folder (and the Python module, which runs the same command line in process).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "tahoma/progress.h"

namespace tahoma::cli {

// Where the line goes; injectable so tests need neither a terminal nor a clock.
struct ProgressSink {
  bool terminal = false;                         // no terminal: nothing is ever written
  std::function<double()> now_s;                 // monotonic seconds
  std::function<void(std::string_view)> write;   // raw text, '\r' included
  double delay_s = 1.0;                          // work before the line is first drawn
};

// The sink of this process: standard error when it is a terminal (isatty) and `quiet` is false.
// TAHOMA_PROGRESS_DELAY (seconds, 0 to 3600, like git's GIT_PROGRESS_DELAY) sets the delay before
// the line first shows; an unset, malformed or out-of-range value keeps the default of 1 s.
ProgressSink stderr_sink(bool quiet);

// The delay that TAHOMA_PROGRESS_DELAY's value `text` asks for, or `fallback` when it is null, not a
// plain decimal number, or outside [0, 3600].
double progress_delay_from(const char* text, double fallback);

// "searching  1,234 / 24,300 layouts   5%  12 s, about 3 min 40 s left": `verb`, the counts with
// thousands separators, the share done, the time so far and, once anything is done, the time left
// at the mean rate so far (linear estimate).
std::string progress_text(std::string_view verb, std::string_view unit, long long done, long long total,
                          double elapsed_s);

// "3 min 40 s", "12 s", "2 h 05 min": a duration for a person.
std::string human_duration(double seconds);

// One progress line for one piece of work. update() may be called from any thread; the line is drawn
// after the sink's delay_s of work, redrawn at most every kRedrawS, and erased by finish() (or the destructor)
// once it has been drawn. A sink that is not a terminal makes every call a no-op.
class ProgressLine {
 public:
  static constexpr double kRedrawS = 0.1;

  ProgressLine(std::string verb, std::string unit, ProgressSink sink);
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  ~ProgressLine();

  void update(long long done, long long total);
  void finish();
  // A callback for library code (tahoma/progress.h) that feeds this line; empty when the sink is
  // not a terminal, so the library skips its bookkeeping. The line must outlive the work.
  [[nodiscard]] ProgressFn callback();
  [[nodiscard]] bool shown() const;

 private:
  void erase_locked();

  std::string verb_, unit_;
  ProgressSink sink_;
  double start_s_ = 0, last_draw_s_ = -1;
  std::size_t drawn_width_ = 0;
  bool finished_ = false;
  mutable std::mutex mu_;
};

}  // namespace tahoma::cli
