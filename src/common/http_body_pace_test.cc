#include "common/http_body_pace.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace tandem::http {
namespace {

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

std::string Message(const Status& s) { return std::string(s.message()); }

TEST(BodyPaceTest, QuotaIsRateTimesWindowRoundedUp) {
  EXPECT_EQ(BodyPace(1024, 20'000).quota(), 20 * 1024);
  EXPECT_EQ(BodyPace(500, 20'000).quota(), 10'000);
  EXPECT_EQ(BodyPace(3, 100).quota(), 1);  // 0.3 bytes: at least one
  EXPECT_EQ(BodyPace(0, 20'000).quota(), 0);
  EXPECT_EQ(BodyPace(1024, 0).quota(), 0);
  EXPECT_EQ(BodyPace(-5, 20'000).quota(), 0);
}

TEST(BodyPaceTest, SteadyBodyAtTheMinimumRatePassesEveryWindow) {
  BodyPace pace(1000, 10'000);  // 10,000 bytes per 10 s
  pace.Start(100 * kSec, 0, kNever);
  EXPECT_EQ(pace.next_check_us(), 110 * kSec);
  int64_t received = 0;
  for (int window = 1; window <= 6; ++window) {
    received += 10'000;
    const int64_t now = pace.next_check_us();
    ASSERT_TRUE(pace.Check(now, received).ok()) << "window " << window;
    EXPECT_EQ(pace.next_check_us(), now + 10 * kSec) << "a new window begins at the check";
  }
}

TEST(BodyPaceTest, ADripIsRefusedAtTheEndOfTheFirstWindowNamingTheRate) {
  BodyPace pace(1024, 20'000);
  pace.Start(0, 0, 600 * kSec);
  EXPECT_EQ(pace.next_check_us(), 20 * kSec);
  Status s = pace.Check(20 * kSec, 7);  // 7 bytes in 20 s
  ASSERT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(Message(s).find("request body too slow: 7 bytes in the last 20 s"), std::string::npos)
      << s;
  EXPECT_NE(Message(s).find("minimum is 1024 bytes/s (20480 bytes per 20 s)"), std::string::npos)
      << s;
}

TEST(BodyPaceTest, AFastStartEarnsNoCreditForALaterStall) {
  BodyPace pace(1000, 10'000);
  pace.Start(0, 0, kNever);
  ASSERT_TRUE(pace.Check(10 * kSec, 5'000'000).ok());  // 5 MB in the first window
  // ...then nothing for a whole window: refused, whatever came before.
  Status s = pace.Check(20 * kSec, 5'000'000);
  ASSERT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(Message(s).find("0 bytes in the last 10 s"), std::string::npos) << s;
}

TEST(BodyPaceTest, BytesAlreadyBufferedAtTheStartDoNotCount) {
  BodyPace pace(1000, 10'000);
  pace.Start(0, 64'000, kNever);  // came with the header
  EXPECT_EQ(pace.Check(10 * kSec, 64'000 + 9'999).code(), StatusCode::kDeadlineExceeded);
  pace.Start(0, 64'000, kNever);
  EXPECT_TRUE(pace.Check(10 * kSec, 64'000 + 10'000).ok());
}

TEST(BodyPaceTest, ALateCheckNeedsOnlyTheWindowsQuota) {
  // A loaded server checks late; the client is not asked for more for it.
  BodyPace pace(1000, 10'000);
  pace.Start(0, 0, kNever);
  EXPECT_TRUE(pace.Check(13 * kSec, 10'000).ok());
  EXPECT_EQ(pace.next_check_us(), 23 * kSec);
}

TEST(BodyPaceTest, ACheckBeforeTheWindowEndsChangesNothing) {
  BodyPace pace(1000, 10'000);
  pace.Start(0, 0, kNever);
  EXPECT_TRUE(pace.Check(5 * kSec, 0).ok());
  EXPECT_EQ(pace.next_check_us(), 10 * kSec);
  EXPECT_EQ(pace.Check(10 * kSec, 0).code(), StatusCode::kDeadlineExceeded);
}

TEST(BodyPaceTest, TheRequestDeadlineCapsTheWindowsAndWins) {
  BodyPace pace(1000, 10'000);
  pace.Start(0, 0, 25 * kSec);
  ASSERT_TRUE(pace.Check(10 * kSec, 10'000).ok());
  ASSERT_TRUE(pace.Check(20 * kSec, 1'000'000).ok());
  EXPECT_EQ(pace.next_check_us(), 25 * kSec) << "the deadline comes before the window's end";
  Status s = pace.Check(25 * kSec, 2'000'000);  // fast enough, but too late
  ASSERT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(Message(s).find("request not received in time: 2000000 body bytes in 25 s"),
            std::string::npos)
      << s;
}

TEST(BodyPaceTest, WithoutAMinimumRateOnlyTheDeadlineCounts) {
  BodyPace pace(0, 20'000);
  pace.Start(0, 0, 600 * kSec);
  EXPECT_EQ(pace.next_check_us(), 600 * kSec);
  EXPECT_TRUE(pace.Check(599 * kSec, 0).ok());
  EXPECT_EQ(pace.Check(600 * kSec, 0).code(), StatusCode::kDeadlineExceeded);
  BodyPace unbounded(0, 0);
  unbounded.Start(0, 0, kNever);
  EXPECT_EQ(unbounded.next_check_us(), kNever);
}

TEST(BodyPaceTest, HugeWindowDoesNotOverflow) {
  BodyPace pace(1, std::numeric_limits<int64_t>::max() / 1000);
  pace.Start(kSec, 0, kNever);
  EXPECT_EQ(pace.next_check_us(), kNever);
}

}  // namespace
}  // namespace tandem::http
