// The progress line (src/cli/progress.h, issue 17 item 4) with an injected clock and terminal flag:
// nothing before a second of work or off a terminal, counts and a linear ETA, redraws rate-limited,
// the line erased at the end.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "progress.h"

namespace tahoma::cli {
namespace {

struct FakeTerminal {
  double now = 100.0;
  std::vector<std::string> writes;

  ProgressSink sink(bool terminal) {
    return ProgressSink{terminal, [this] { return now; }, [this](std::string_view t) { writes.emplace_back(t); }};
  }
};

TEST(ProgressText, CountsShareElapsedAndLinearEta) {
  // 1,000 of 4,000 in 10 s: 30 s left at the same rate.
  EXPECT_EQ(progress_text("searching", "layouts", 1000, 4000, 10.0),
            "searching 1,000 / 4,000 layouts   25%  10 s, about 30 s left");
  EXPECT_EQ(progress_text("validating", "rows", 0, 121, 2.0), "validating 0 / 121 rows    0%  2 s");
  EXPECT_EQ(progress_text("searching", "layouts", 24300, 24300, 5.0), "searching 24,300 / 24,300 layouts  100%  5 s");
  // Out-of-range counts are clamped, never a negative ETA.
  EXPECT_EQ(progress_text("x", "u", -5, 10, 1.0), "x 0 / 10 u    0%  1 s");
  EXPECT_EQ(progress_text("x", "u", 50, 10, 1.0), "x 10 / 10 u  100%  1 s");
}

TEST(ProgressText, HumanDurations) {
  EXPECT_EQ(human_duration(0.4), "0 s");
  EXPECT_EQ(human_duration(59.4), "59 s");
  EXPECT_EQ(human_duration(220), "3 min 40 s");
  EXPECT_EQ(human_duration(2 * 3600 + 5 * 60), "2 h 05 min");
  EXPECT_EQ(human_duration(1e9), "277777 h");
  EXPECT_EQ(human_duration(-1), "?");
}

TEST(ProgressLine, SilentForTheFirstSecond) {
  FakeTerminal t;
  ProgressLine line("searching", "layouts", t.sink(true));
  line.update(10, 100);
  t.now += ProgressSink{}.delay_s - 0.01;
  line.update(20, 100);
  EXPECT_TRUE(t.writes.empty());
  t.now += 0.01;
  line.update(25, 100);
  ASSERT_EQ(t.writes.size(), 1u);
  EXPECT_EQ(t.writes[0], "\rsearching 25 / 100 layouts   25%  1 s, about 3 s left");
}

TEST(ProgressLine, ASinkDelayOfZeroDrawsAtOnce) {
  FakeTerminal t;
  ProgressSink sink = t.sink(true);
  sink.delay_s = 0;
  ProgressLine line("searching", "layouts", sink);
  line.update(1, 4);
  ASSERT_EQ(t.writes.size(), 1u);
  EXPECT_EQ(t.writes[0].front(), '\r');
}

TEST(ProgressDelay, TheVariableIsReadOnlyWhenItIsAPlainNumberInRange) {
  EXPECT_EQ(progress_delay_from(nullptr, 1.0), 1.0);
  EXPECT_EQ(progress_delay_from("", 1.0), 1.0);
  EXPECT_EQ(progress_delay_from("0", 1.0), 0.0);
  EXPECT_EQ(progress_delay_from("2.5", 1.0), 2.5);
  EXPECT_EQ(progress_delay_from("3600", 1.0), 3600.0);
  for (const char* bad : {"-1", "3601", "nan", "inf", "1e999", "2s", " ", "x"}) {
    EXPECT_EQ(progress_delay_from(bad, 1.0), 1.0) << bad;
  }
}

TEST(ProgressLine, NothingOffATerminal) {
  FakeTerminal t;
  ProgressLine line("searching", "layouts", t.sink(false));
  EXPECT_FALSE(line.callback());  // the library skips its bookkeeping
  t.now += 10;
  line.update(1, 2);
  line.finish();
  EXPECT_TRUE(t.writes.empty());
}

TEST(ProgressLine, RedrawsAtMostEveryTenthOfASecond) {
  FakeTerminal t;
  ProgressLine line("v", "u", t.sink(true));
  t.now += 2;
  line.update(1, 10);
  line.update(2, 10);  // same instant: not redrawn
  t.now += ProgressLine::kRedrawS * 1.01;
  line.update(3, 10);
  EXPECT_EQ(t.writes.size(), 2u);
}

TEST(ProgressLine, ErasedAtTheEndAndShorterLinesBlankTheRest) {
  FakeTerminal t;
  {
    ProgressLine line("v", "u", t.sink(true));
    t.now += 200;
    line.update(1, 1000);  // "... about 55 h 23 min left"
    const std::size_t wide = t.writes.back().size();
    t.now += 1;
    line.update(999, 1000);  // a shorter line pads over the longer one
    EXPECT_EQ(t.writes.back().size(), wide);
    line.callback()(1000, 1000);  // done: the line is erased
    std::string erased(wide + 1, ' ');
    erased.front() = erased.back() = '\r';
    EXPECT_EQ(t.writes.back(), erased);
    EXPECT_FALSE(line.shown());
  }
  const std::size_t count = t.writes.size();
  EXPECT_EQ(count, 3u);  // the destructor has nothing left to erase
}

TEST(ProgressLine, DestructorErasesADrawnLine) {
  FakeTerminal t;
  {
    ProgressLine line("v", "u", t.sink(true));
    t.now += 1.5;
    line.update(5, 10);
    EXPECT_TRUE(line.shown());
  }
  ASSERT_EQ(t.writes.size(), 2u);
  EXPECT_EQ(t.writes[1].front(), '\r');
  EXPECT_EQ(t.writes[1].find_first_not_of(" \r"), std::string::npos);
}

}  // namespace
}  // namespace tahoma::cli
