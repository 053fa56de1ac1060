#include "cli/progress.h"

#include <sstream>

#include "gtest/gtest.h"

namespace tandem::cli {
namespace {

TEST(ProgressTest, PlainOutputIsOneLinePerStateChange) {
  FakeClock clock;
  std::ostringstream out;
  {
    Progress p(out, /*tty=*/false, "job 01abc", clock);
    p.Update("Pending");
    p.Tick();
    clock.AdvanceSeconds(1.5);
    p.Update("Pending");  // unchanged: nothing
    p.Tick();
    p.Update("Running");
    clock.AdvanceSeconds(61);
    p.Clear();
    p.Update("Running");
    p.Done("Completed");
    p.Update("Failed");  // after Done: ignored
  }
  EXPECT_EQ(out.str(),
            "[0.0s] job 01abc: Pending\n"
            "[1.5s] job 01abc: Running\n"
            "[1m02s] job 01abc: Completed\n");
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(ProgressTest, DoneDoesNotRepeatTheLastLine) {
  FakeClock clock;
  std::ostringstream out;
  Progress p(out, false, "job 01abc", clock);
  p.Update("Running");
  p.Update("Completed");
  p.Done("Completed");
  EXPECT_EQ(out.str(), "[0.0s] job 01abc: Running\n[0.0s] job 01abc: Completed\n");
}

TEST(ProgressTest, DoneIsPrintedWhenNothingWasYet) {
  FakeClock clock;
  std::ostringstream out;
  Progress(out, false, "job 01abc", clock).Done("Completed");
  EXPECT_EQ(out.str(), "[0.0s] job 01abc: Completed\n");
}

TEST(ProgressTest, TerminalRedrawsOneLineInPlace) {
  FakeClock clock;
  std::ostringstream out;
  {
    Progress p(out, /*tty=*/true, "job x", clock);
    p.Update("Running");
    clock.AdvanceSeconds(2);
    p.Tick();
    p.Clear();
    out << "LOG\n";
    p.Update("Completing");
    p.Done("Completed");
  }
  std::string s = out.str();
  EXPECT_EQ(s.find('\n'), s.find("LOG") + 3) << s;  // only the log and the final line end lines
  EXPECT_NE(s.find("\r| 0.0s  job x: Running"), std::string::npos) << s;
  EXPECT_NE(s.find("\r/ 2.0s  job x: Running"), std::string::npos) << s;
  EXPECT_TRUE(s.ends_with("job x: Completed after 2.0s\n")) << s;
}

TEST(ProgressTest, UnfinishedTerminalLineIsEndedOnDestruction) {
  FakeClock clock;
  std::ostringstream out;
  { Progress(out, true, "x", clock).Update("waiting"); }
  EXPECT_TRUE(out.str().ends_with("x: waiting\n")) << out.str();
}

TEST(ProgressTest, FormatsElapsed) {
  EXPECT_EQ(Progress::FormatElapsed(0), "0.0s");
  EXPECT_EQ(Progress::FormatElapsed(-5), "0.0s");
  EXPECT_EQ(Progress::FormatElapsed(12'345'678), "12.3s");
  EXPECT_EQ(Progress::FormatElapsed(125'000'000), "2m05s");
  EXPECT_EQ(Progress::FormatElapsed(3'720'000'000), "1h02m");
}

}  // namespace
}  // namespace tandem::cli
