// GET /api/v1/status against a real control plane in a temp home.
#include "api/testing/running_control_plane.h"
#include "compute/jobs/service.h"

namespace tandem::api {
namespace {

class StatusApiTest : public testing::RunningControlPlaneTest {
 protected:
  Json Status(const std::string& token = "") {
    http::ClientRequest req;
    req.url = base_ + "/api/v1/status";
    req.headers["Authorization"] = "Bearer " + (token.empty() ? token_ : token);
    auto res = client_.Do(req);
    EXPECT_TRUE(res.ok()) << res.status();
    if (!res.ok()) return nullptr;
    EXPECT_EQ(res->status, 200) << res->body;
    return Json::parse(res->body);
  }
};

TEST_F(StatusApiTest, EmptyPlatform) {
  Json s = Status();
  EXPECT_EQ(s["jobs"]["total"], 0);
  EXPECT_EQ(s["jobs"]["by_state"]["Running"], 0);
  EXPECT_EQ(s["jobs"]["by_state"].size(), 7u);
  EXPECT_EQ(s["deployments"], Json::array());
  EXPECT_EQ(s["queues"], Json::array());
  EXPECT_EQ(s["spend"], Json::array());
  EXPECT_EQ(s["models"]["count"], 0);
  EXPECT_TRUE(s["time"].is_string());
}

TEST_F(StatusApiTest, CountsModelsAndQueueDepths) {
  const Services& svc = cp_->services();
  for (const char* name : {"a", "b", "c"}) {
    registry::CreateModelRequest req;
    req.name = name;
    ASSERT_TRUE(svc.registry->CreateModel(req).ok());
  }
  ASSERT_TRUE(svc.bus->CreateQueue("work").ok());
  bus::Event e;
  e.source = "tandem.test";
  e.detail_type = "Ping";
  e.detail = Json::object();
  ASSERT_TRUE(svc.bus->PutRule("all", Json{{"source", {"tandem.test"}}}, "work").ok());
  ASSERT_TRUE(svc.bus->Publish(e).ok());
  ASSERT_TRUE(svc.bus->Publish(e).ok());

  Json s = Status();
  EXPECT_EQ(s["models"]["count"], 3);
  ASSERT_EQ(s["queues"].size(), 1u);
  EXPECT_EQ(s["queues"][0]["name"], "work");
  EXPECT_EQ(s["queues"][0]["visible"], 2);
  EXPECT_EQ(s["queues"][0]["in_flight"], 0);
}

// Jobs by state count every team; jobs by team and spend show only the
// caller's teams (admins: all).
TEST_F(StatusApiTest, PerTeamCountsShowOnlyTheCallersTeams) {
  const Services& svc = cp_->services();
  auth::IdentityStore& id = *svc.identity;
  ASSERT_TRUE(id.CreateTeam("a").ok());
  ASSERT_TRUE(id.CreateTeam("b").ok());
  ASSERT_TRUE(id.CreatePrincipal("ann", "user", false).ok());
  ASSERT_TRUE(id.SetMember("a", "ann", auth::Role::kViewer).ok());
  auto ann = id.CreateToken("ann", "", 0);
  ASSERT_TRUE(ann.ok()) << ann.status();
  for (const char* team : {"a", "b", "b"}) {
    auto spec = compute::jobs::JobSpec::FromJson(
        Json{{"team", team}, {"entry_point", "/bin/true"}, {"resources", {{"cpus", 0.1}}}});
    ASSERT_TRUE(spec.ok()) << spec.status();
    ASSERT_TRUE(svc.jobs->Submit(*spec).ok());
  }
  Json admin = Status();
  EXPECT_EQ(admin["jobs"]["total"], 3);
  ASSERT_TRUE(admin["jobs"]["by_team"].contains("a"));
  ASSERT_TRUE(admin["jobs"]["by_team"].contains("b"));
  int64_t b_jobs = 0;
  for (const auto& [state, n] : admin["jobs"]["by_team"]["b"].items()) b_jobs += n.get<int64_t>();
  EXPECT_EQ(b_jobs, 2);

  Json viewer = Status(ann->second);
  EXPECT_EQ(viewer["jobs"]["total"], 3);  // numbers only, every team
  EXPECT_TRUE(viewer["jobs"]["by_team"].contains("a"));
  EXPECT_FALSE(viewer["jobs"]["by_team"].contains("b")) << viewer.dump();
  for (const Json& t : viewer["spend"]) EXPECT_EQ(t["team"], "a") << viewer.dump();
}

}  // namespace
}  // namespace tandem::api
