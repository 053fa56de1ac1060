#include "compute/notebooks/activity.h"

#include <gtest/gtest.h>

namespace tandem::compute::notebooks {
namespace {

TEST(ParseIso8601Micros, JupyterFormats) {
  auto a = ParseIso8601Micros("1970-01-01T00:00:01.250000Z");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, 1'250'000);
  auto b = ParseIso8601Micros("2026-11-30T09:01:02+00:00");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b % 1'000'000, 0);
  EXPECT_EQ(*ParseIso8601Micros("2026-11-30T09:01:03Z") - *b, 1'000'000);
}

TEST(ParseIso8601Micros, RejectsGarbageAndOtherZones) {
  EXPECT_EQ(ParseIso8601Micros("yesterday").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseIso8601Micros("2026-11-30T09:01:02+02:00").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ParseNotebookActivity, TakesLatestOfServerAndKernels) {
  Json status = {{"last_activity", "1970-01-01T00:00:10Z"}, {"kernels", 2}, {"terminals", 1}};
  Json kernels =
      Json::array({{{"execution_state", "idle"}, {"last_activity", "1970-01-01T00:00:30Z"}},
                   {{"execution_state", "busy"}, {"last_activity", "1970-01-01T00:00:20Z"}}});
  auto a = ParseNotebookActivity(status, kernels);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->last_activity_micros, 30'000'000);
  EXPECT_EQ(a->kernels, 2);
  EXPECT_EQ(a->busy_kernels, 1);
  EXPECT_EQ(a->terminals, 1);
}

TEST(ParseNotebookActivity, RejectsWhatJupyterDoesNotSend) {
  EXPECT_EQ(ParseNotebookActivity(Json::object(), Json::array()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseNotebookActivity({{"last_activity", "1970-01-01T00:00:10Z"}}, Json::object())
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(IsIdle, CullsOnlyAfterTheTimeoutWithoutBusyKernels) {
  NotebookActivity a;
  a.last_activity_micros = 100'000'000;
  EXPECT_FALSE(IsIdle(a, 0, 159'000'000, 60));
  EXPECT_TRUE(IsIdle(a, 0, 160'000'000, 60));
  a.busy_kernels = 1;  // a long computation is activity
  EXPECT_FALSE(IsIdle(a, 0, 999'000'000, 60));
  a.busy_kernels = 0;
  EXPECT_FALSE(IsIdle(a, 0, 999'000'000, 0));             // 0 = never cull
  EXPECT_FALSE(IsIdle(a, 150'000'000, 160'000'000, 60));  // started later than the activity
}

}  // namespace
}  // namespace tandem::compute::notebooks
