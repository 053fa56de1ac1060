#include "cli/event_line.h"

#include "gtest/gtest.h"

namespace tandem::cli {
namespace {

Json Event(const char* source, const char* type, Json detail) {
  return {{"time", "2026-11-30T08:51:02Z"},
          {"source", source},
          {"detail-type", type},
          {"detail", std::move(detail)}};
}

TEST(EventLineTest, JobStateChange) {
  std::string line = EventLine(Event("tandem.compute", "Training Job State Change",
                                     {{"job_id", "01abc"},
                                      {"name", "churn"},
                                      {"team", "growth"},
                                      {"state", "Failed"},
                                      {"previous_state", "Running"},
                                      {"failure_reason", "exit 3"},
                                      {"metering", {{"cost", 1.5}}}}));
  EXPECT_EQ(line,
            "08:51:02      tandem.compute   Training Job State Change   job=01abc name=churn "
            "team=growth Failed (was Running) reason=\"exit 3\"");
}

TEST(EventLineTest, AliasChangeNamesModelVersionAndPrevious) {
  std::string line = EventLine(
      Event("tandem.registry", "Model Alias Changed",
            {{"name", "churn"}, {"alias", "champion"}, {"version", 2}, {"previous_version", 1}}));
  EXPECT_NE(line.find("model=churn alias=champion version=2 (was 1)"), std::string::npos) << line;
  EXPECT_EQ(line.find("  model"), line.find("Model Alias Changed") + 26) << line;
}

TEST(EventLineTest, SwapShowsDeploymentAndReplica) {
  std::string line = EventLine(Event("tandem.serving", "Model Swapped",
                                     {{"name", "churn"},
                                      {"target", "churn@champion"},
                                      {"version", 3},
                                      {"previous_version", nullptr},
                                      {"deployment", "web"},
                                      {"replica", 1}}));
  EXPECT_NE(line.find("deployment=web model=churn version=3 target=churn@champion replica=1"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("(was"), std::string::npos) << line;  // null previous_version
}

TEST(EventLineTest, UnknownDetailFallsBackToCompactJson) {
  std::string line = EventLine(Event("tandem.test", "Ping", {{"n", 1}}));
  EXPECT_TRUE(line.ends_with("{\"n\":1}")) << line;
  std::string big(400, 'x');
  line = EventLine(Event("tandem.test", "Ping", {{"blob", big}}));
  EXPECT_TRUE(line.ends_with("...")) << line;
  EXPECT_LT(line.size(), 240u);
  EXPECT_TRUE(EventLine(Event("tandem.test", "Ping", Json::object())).ends_with("Ping"));
}

}  // namespace
}  // namespace tandem::cli
