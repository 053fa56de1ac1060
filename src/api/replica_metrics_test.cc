// SummarizeReplicaMetrics against the model server's own exposition.
#include "api/replica_metrics.h"

#include "gtest/gtest.h"
#include "serving/engine/metrics.h"

namespace tandem::api {
namespace {

TEST(ReplicaMetricsTest, SummarizesOneModelFromARealExposition) {
  serving::engine::ServingMetrics metrics;
  serving::engine::ModelMetrics& tour = metrics.ForModel("tour");
  serving::engine::ModelMetrics& shadow = metrics.ForModel("tour-shadow");
  tour.success = 7;
  tour.failures[static_cast<int>(serving::engine::FailureReason::kBadRequest)] = 2;
  tour.version = 3;
  tour.request_seconds.Observe(0.0004);
  tour.request_seconds.Observe(0.002);
  tour.request_seconds.Observe(100);  // beyond every bound: +Inf
  shadow.success = 1000;              // another model: not counted
  shadow.request_seconds.Observe(0.5);
  metrics.in_flight = 4;
  metrics.ready = 1;

  auto s = SummarizeReplicaMetrics(metrics.Render(), "tour");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)["requests"], 9);
  EXPECT_EQ((*s)["failures"], 2);
  EXPECT_EQ((*s)["version"], 3);
  EXPECT_EQ((*s)["in_flight"], 4);
  EXPECT_EQ((*s)["ready"], true);
  const Json& lat = (*s)["latency"];
  EXPECT_EQ(lat["count"], 3);
  EXPECT_EQ(lat["bounds"], Json(tour.request_seconds.bounds()));
  ASSERT_EQ(lat["cumulative"].size(), tour.request_seconds.bounds().size() + 1);
  std::vector<uint64_t> expected = tour.request_seconds.CumulativeCounts();
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(lat["cumulative"][i].get<double>(), static_cast<double>(expected[i])) << i;
  }
}

TEST(ReplicaMetricsTest, AModelNotServedHasZeroes) {
  serving::engine::ServingMetrics metrics;
  metrics.ForModel("tour").success = 5;
  auto s = SummarizeReplicaMetrics(metrics.Render(), "other");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)["requests"], 0);
  EXPECT_EQ((*s)["version"], 0);
  EXPECT_TRUE((*s)["latency"]["cumulative"].empty());
}

TEST(ReplicaMetricsTest, MalformedLinesAreErrorsNamingTheLine) {
  auto no_value = SummarizeReplicaMetrics("tandem_replica_ready\n", "m");
  EXPECT_EQ(no_value.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_value.status().message().find("tandem_replica_ready"), std::string::npos);
  auto bad_number =
      SummarizeReplicaMetrics("tandem_inference_requests_total{model=\"m\"} x1\n", "m");
  EXPECT_EQ(bad_number.status().code(), StatusCode::kInvalidArgument);
  auto unclosed = SummarizeReplicaMetrics("tandem_inference_requests_total{model=\"m\" 1\n", "m");
  EXPECT_EQ(unclosed.status().code(), StatusCode::kInvalidArgument);
  auto no_inf = SummarizeReplicaMetrics(
      "tandem_inference_request_duration_seconds_bucket{model=\"m\",le=\"0.1\"} 1\n", "m");
  EXPECT_EQ(no_inf.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_inf.status().message().find("+Inf"), std::string::npos);
}

TEST(ReplicaMetricsTest, TimestampsAndCommentsAreIgnored) {
  auto s = SummarizeReplicaMetrics(
      "# HELP x y\n# TYPE tandem_inference_requests_total counter\n"
      "tandem_inference_requests_total{model=\"m\"} 12 1700000000000\n",
      "m");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)["requests"], 12);
}

}  // namespace
}  // namespace tandem::api
