// GET /api/v1/status against a real control plane in a temp home.
#include "api/testing/running_control_plane.h"

namespace tandem::api {
namespace {

class StatusApiTest : public testing::RunningControlPlaneTest {
 protected:
  Json Status() {
    http::ClientRequest req;
    req.url = base_ + "/api/v1/status";
    auto res = client_.Do(Authorized(req));
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

}  // namespace
}  // namespace tandem::api
