#include "serving/fleet/deployment_spec.h"

#include <gtest/gtest.h>

namespace tandem::serving::fleet {
namespace {

TEST(DeploymentSpecTest, ParsesFullYaml) {
  auto s = ParseDeploymentSpec(R"(
name: fraud-api
team: risk
model: fraud@champion
replicas: {min: 2, max: 5}
autoscaling: {target_in_flight_per_replica: 8, scale_down_stabilization_s: 60}
disruption_budget: {min_available: 1}
port: 9000
batching: {max_batch_size: 32, max_queue_delay_us: 500, queue_size: 256}
resources: {cpus: 1}
)");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "fraud-api");
  EXPECT_EQ(s->team, "risk");
  EXPECT_EQ(s->model, "fraud@champion");
  EXPECT_EQ(s->min_replicas, 2);
  EXPECT_EQ(s->max_replicas, 5);
  EXPECT_DOUBLE_EQ(s->target_in_flight_per_replica, 8);
  EXPECT_EQ(s->scale_down_stabilization_s, 60);
  EXPECT_EQ(s->min_available, 1);
  EXPECT_EQ(s->port, 9000);
  EXPECT_EQ(s->max_batch_size, 32);
  EXPECT_EQ(s->max_queue_delay_us, 500);
  EXPECT_EQ(s->queue_size, 256);
  // Round trip through JSON.
  auto again = DeploymentSpecFromJson(s->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), s->ToJson());
  EXPECT_FALSE(s->NeedsRestart(*again));
  again->model = "fraud/3";
  EXPECT_TRUE(s->NeedsRestart(*again));
}

TEST(DeploymentSpecTest, DefaultsAndMinRaisesMax) {
  auto s = ParseDeploymentSpec("{\"name\": \"a\", \"model\": \"m/1\", \"replicas\": {\"min\": 3}}");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->min_replicas, 3);
  EXPECT_EQ(s->max_replicas, 3);
  EXPECT_EQ(s->max_batch_size, 0);  // automatic batching
  EXPECT_EQ(s->port, 0);
  auto explicit_auto = ParseDeploymentSpec("name: a\nmodel: m@x\nbatching: {max_batch_size: 0}\n");
  ASSERT_TRUE(explicit_auto.ok()) << explicit_auto.status();
  EXPECT_EQ(explicit_auto->max_batch_size, 0);
}

void ExpectError(const std::string& text, const std::string& needle) {
  auto s = ParseDeploymentSpec(text);
  ASSERT_FALSE(s.ok()) << text;
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.status().message()).find(needle), std::string::npos)
      << s.status() << " lacks " << needle;
}

TEST(DeploymentSpecTest, RefusesBadFieldsNamingThem) {
  ExpectError("name: a\nmodel: m@x\nreplica: 2\n", "'replica'");
  ExpectError("model: m@x\n", "'name'");
  ExpectError("name: a\n", "'model'");
  ExpectError("name: Bad_Name\nmodel: m@x\n", "'name'");
  ExpectError("name: a\nmodel: '@@'\n", "'model'");
  ExpectError("name: a\nmodel: m@x\nreplicas: 2\n", "'replicas'");
  ExpectError("name: a\nmodel: m@x\nreplicas: {min: two}\n", "'replicas.min'");
  ExpectError("name: a\nmodel: m@x\nreplicas: {min: 3, max: 2}\n", "'replicas.max'");
  ExpectError("name: a\nmodel: m@x\nreplicas: {mix: 3}\n", "'replicas.mix'");
  ExpectError("name: a\nmodel: m@x\nport: 70000\n", "'port'");
  ExpectError("name: a\nmodel: m@x\nautoscaling: {target_cpu: 3}\n", "'autoscaling.target_cpu'");
  ExpectError("name: a\nmodel: m@x\nautoscaling: {target_in_flight_per_replica: x}\n",
              "'autoscaling.target_in_flight_per_replica'");
  ExpectError("name: a\nmodel: m@x\nbatching: {max_batch_size: -1}\n", "'batching.max_batch_size'");
  ExpectError("name: a\nmodel: m@x\nbatching: {max_batch_size: 65537}\n",
              "'batching.max_batch_size'");
  ExpectError("name: a\nmodel: m@x\ndisruption_budget: {min_available: -1}\n",
              "'disruption_budget.min_available'");
  ExpectError("name: a\nmodel: m@x\nresources: 4\n", "'resources'");
  ExpectError("- a\n- b\n", "mapping");
  ExpectError("name: [unclosed\n", "");
}

TEST(DeploymentSpecTest, ImageIsOptionalEmptyOrAReference) {
  auto absent = ParseDeploymentSpec("name: a\nmodel: m@champion\n");
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->image.has_value());  // the lineage's image, else the host
  EXPECT_FALSE(absent->ToJson().contains("image"));
  auto host = ParseDeploymentSpec("name: a\nmodel: m@champion\nimage: \"\"\n");
  ASSERT_TRUE(host.ok()) << host.status();
  ASSERT_TRUE(host->image.has_value());
  EXPECT_EQ(*host->image, "");
  auto again = DeploymentSpecFromJson(host->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->image, host->image);  // "" survives the round trip

  const std::string pinned = "team/serve@sha256:" + std::string(64, 'a');
  auto s = ParseDeploymentSpec("name: a\nmodel: m@champion\nimage: team/serve:1\nimage_pinned: " +
                               pinned + "\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s->image, "team/serve:1");
  EXPECT_EQ(s->image_pinned, pinned);
  again = DeploymentSpecFromJson(s->ToJson());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->image_pinned, pinned);
  EXPECT_FALSE(s->NeedsRestart(*again));
  again->image_pinned = "team/serve@sha256:" + std::string(64, 'b');
  EXPECT_TRUE(s->NeedsRestart(*again));  // a new image restarts the replicas
  // Replicas get --image with the pinned reference only.
  std::vector<std::string> argv;
  AppendReplicaFlags(*s, argv);
  EXPECT_EQ(argv, (std::vector<std::string>{"--image", pinned}));
  argv.clear();
  AppendReplicaFlags(*host, argv);
  EXPECT_TRUE(argv.empty());
}

TEST(DeploymentSpecTest, RefusesBadImagesNamingTheField) {
  for (const char* bad : {"image: \"Team/Bad Name\"\n", "image: [a]\n",
                          "image_pinned: team/serve:1\n", "image_pinned: \"team/x@sha256:zz\"\n"}) {
    auto s = ParseDeploymentSpec(std::string("name: a\nmodel: m@champion\n") + bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.status().message().find("image"), std::string::npos) << s.status();
  }
}

TEST(DeploymentSpecTest, TokenDigestsAre64LowercaseHexDigits) {
  const std::string good(64, 'a');
  auto s = ParseDeploymentSpec("name: d\nmodel: m/1\nauth: {token_sha256: [" + good + ", " +
                               std::string(32, '0') + std::string(32, 'f') + "]}\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->auth_token_sha256.size(), 2u);
  for (const std::string& bad : {std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'A'),
                                 std::string(63, 'a') + "g", std::string("\"\"")}) {
    auto r = ParseDeploymentSpec("name: d\nmodel: m/1\nauth: {token_sha256: [" + bad + "]}\n");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("64 lowercase hex digits"), std::string_view::npos)
        << r.status();
  }
}

}  // namespace
}  // namespace tandem::serving::fleet
