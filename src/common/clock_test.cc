#include "common/clock.h"

#include <thread>

#include "gtest/gtest.h"

namespace tandem {
namespace {

TEST(ClockTest, FakeClockAdvancesOnlyWhenTold) {
  FakeClock clock(1'000'000);
  EXPECT_EQ(clock.NowMicros(), 1'000'000);
  clock.Advance(500);
  EXPECT_EQ(clock.NowMicros(), 1'000'500);
  EXPECT_EQ(clock.NowMillis(), 1'000);
}

TEST(ClockTest, FakeMonotonicTimeMovesWithAdvance) {
  FakeClock clock(5'000'000);
  EXPECT_EQ(clock.MonotonicMicros(), FakeClock::kMonotonicStart);
  clock.Advance(2'500);
  EXPECT_EQ(clock.MonotonicMicros(), FakeClock::kMonotonicStart + 2'500);
  EXPECT_EQ(clock.NowMicros(), 5'002'500);
  clock.AdvanceSeconds(1);
  EXPECT_EQ(clock.MonotonicMillis(), (FakeClock::kMonotonicStart + 1'002'500) / 1000);
}

TEST(ClockTest, DeadlineFollowsTheClocksMonotonicTime) {
  FakeClock clock;
  Deadline d = Deadline::InMillis(clock, 1'500);
  EXPECT_FALSE(d.Expired());
  EXPECT_EQ(d.RemainingMicros(), 1'500'000);
  EXPECT_EQ(d.SliceMillis(100), 100);
  clock.Advance(1'499'500);
  EXPECT_EQ(d.SliceMillis(100), 1);  // rounded up: never a busy zero-length wait early
  EXPECT_FALSE(d.Expired());
  clock.Advance(500);
  EXPECT_TRUE(d.Expired());
  EXPECT_EQ(d.SliceMillis(100), 0);
  EXPECT_TRUE(Deadline::In(clock, 0).Expired());
}

TEST(ClockTest, FakeSleepWakesWhenAdvancedPastDeadline) {
  FakeClock clock(0);
  bool woke = false;
  std::thread t([&] {
    clock.SleepMicros(1000);
    woke = true;
  });
  while (clock.sleepers() == 0) std::this_thread::yield();
  clock.Advance(999);
  EXPECT_EQ(clock.sleepers(), 1);
  clock.Advance(1);
  t.join();
  EXPECT_TRUE(woke);
}

TEST(ClockTest, Rfc3339) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339Millis(1'700'000'000'123'456), "2023-11-14T22:13:20.123Z");
}

TEST(ClockTest, RealClockMovesForward) {
  int64_t a = Clock::Real().NowMicros();
  int64_t b = Clock::Real().NowMicros();
  EXPECT_LE(a, b);
  EXPECT_GT(a, 1'600'000'000'000'000);
  int64_t m1 = Clock::Real().MonotonicMicros();
  int64_t m2 = Clock::Real().MonotonicMicros();
  EXPECT_LE(m1, m2);
}

}  // namespace
}  // namespace tandem
