#include "serving/kube/render.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace tandem::serving::kube {
namespace {

fleet::DeploymentSpec Spec(const std::string& yaml) {
  auto s = fleet::ParseDeploymentSpec(yaml);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

const Json* Find(const std::vector<Json>& objects, const std::string& kind) {
  for (const Json& o : objects) {
    if (o["kind"] == kind) return &o;
  }
  return nullptr;
}

const char kFull[] = R"(
name: fraud-api
team: risk
model: fraud@champion
replicas: {min: 2, max: 5}
autoscaling: {target_in_flight_per_replica: 2.5, scale_down_stabilization_s: 60}
disruption_budget: {min_available: 1}
batching: {max_batch_size: 32, max_queue_delay_us: 500, queue_size: 256}
resources: {cpus: 0.5, memory_mb: 512}
shadow: {model: fraud@challenger, sample: 0.5}
)";

TEST(RenderTest, EveryObjectOfADeployment) {
  auto objects = RenderDeployment(Spec(kFull), RenderOptions{});
  ASSERT_TRUE(objects.ok()) << objects.status();
  std::vector<std::string> kinds;
  for (const Json& o : *objects) kinds.push_back(o["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"ConfigMap", "Deployment", "Service",
                                             "HorizontalPodAutoscaler", "PodDisruptionBudget"}));
  const Json selector = {{"app.kubernetes.io/name", "tandem-serving"},
                         {"app.kubernetes.io/instance", "fraud-api"}};
  for (const Json& o : *objects) {
    for (const auto& [k, v] : selector.items()) {
      EXPECT_EQ(o["metadata"]["labels"][k], v) << o["kind"];
    }
    EXPECT_EQ(o["metadata"]["labels"]["tandem.dev/team"], "risk");
  }
  const Json& d = *Find(*objects, "Deployment");
  EXPECT_EQ(d["spec"]["selector"]["matchLabels"], selector);
  EXPECT_EQ(d["spec"]["replicas"], 2);
  EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 1);
  EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 1);
  const Json& pod = d["spec"]["template"];
  for (const auto& [k, v] : selector.items()) EXPECT_EQ(pod["metadata"]["labels"][k], v);
  const Json& c = pod["spec"]["containers"][0];
  std::vector<std::string> args = c["args"];
  auto flag = [&](const std::string& f) {
    auto it = std::find(args.begin(), args.end(), f);
    return it == args.end() || it + 1 == args.end() ? std::string("<none>") : *(it + 1);
  };
  EXPECT_EQ(args[0], "serve");
  EXPECT_EQ(flag("--model"), "fraud@champion");
  EXPECT_EQ(flag("--name"), "fraud-api");
  EXPECT_EQ(flag("--replica-id"), "$(POD_NAME)");
  EXPECT_EQ(flag("--port"), "8080");
  EXPECT_EQ(flag("--max-batch-size"), "32");
  EXPECT_EQ(flag("--max-queue-delay-us"), "500");
  EXPECT_EQ(flag("--queue-size"), "256");
  EXPECT_EQ(flag("--image"), "<none>");  // no pinned image: handler workers on the host
  EXPECT_EQ(flag("--shadow"), "fraud@challenger");
  EXPECT_EQ(flag("--grace-ms"), "24000");  // 30 s grace - 5 s preStop - 1 s
  // The pod binds 0.0.0.0 (plain HTTP inside the cluster): said explicitly,
  // or `tandem serve` would refuse a non-loopback address without TLS.
  EXPECT_EQ(flag("--host"), "0.0.0.0");
  EXPECT_NE(std::find(args.begin(), args.end(), "--insecure"), args.end());
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"], "/v2/health/ready");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"], "/v2/health/live");
  EXPECT_EQ(c["startupProbe"]["failureThreshold"].get<int>() *
                c["startupProbe"]["periodSeconds"].get<int>(),
            300);
  EXPECT_EQ(c["lifecycle"]["preStop"]["sleep"]["seconds"], 5);
  EXPECT_EQ(pod["spec"]["terminationGracePeriodSeconds"], 30);
  EXPECT_EQ(c["resources"]["requests"]["cpu"], "500m");
  EXPECT_EQ(c["resources"]["requests"]["memory"], "512Mi");
  EXPECT_EQ(c["resources"]["limits"]["memory"], "512Mi");
  EXPECT_EQ(c["env"][1]["valueFrom"]["secretKeyRef"]["name"], "tandem-glue");

  const Json& h = *Find(*objects, "HorizontalPodAutoscaler");
  EXPECT_EQ(h["spec"]["minReplicas"], 2);
  EXPECT_EQ(h["spec"]["maxReplicas"], 5);
  EXPECT_EQ(h["spec"]["scaleTargetRef"]["name"], "fraud-api");
  EXPECT_EQ(h["spec"]["metrics"][0]["pods"]["metric"]["name"], kInFlightMetric);
  EXPECT_EQ(h["spec"]["metrics"][0]["pods"]["target"]["averageValue"], "2500m");
  EXPECT_EQ(h["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 60);

  const Json& p = *Find(*objects, "PodDisruptionBudget");
  EXPECT_EQ(p["spec"]["minAvailable"], 1);
  EXPECT_EQ(p["spec"]["selector"]["matchLabels"], selector);
  const Json& s = *Find(*objects, "Service");
  EXPECT_EQ(s["spec"]["selector"], selector);
  const Json& cm = *Find(*objects, "ConfigMap");
  EXPECT_EQ(cm["metadata"]["name"], "fraud-api-config");
  EXPECT_EQ(pod["spec"]["volumes"][0]["configMap"]["name"], "fraud-api-config");
}

TEST(RenderTest, APinnedImageReachesTheReplicas) {
  const std::string pinned = "risk/serve@sha256:" + std::string(64, 'c');
  auto objects =
      RenderDeployment(Spec("name: a\nmodel: m@x\nimage: risk/serve:1\nimage_pinned: " + pinned),
                       RenderOptions{});
  ASSERT_TRUE(objects.ok()) << objects.status();
  const Json& d = *Find(*objects, "Deployment");
  std::vector<std::string> args = d["spec"]["template"]["spec"]["containers"][0]["args"];
  auto it = std::find(args.begin(), args.end(), "--image");
  ASSERT_NE(it, args.end());
  ASSERT_NE(it + 1, args.end());
  EXPECT_EQ(*(it + 1), pinned);  // the digest, never the tag
}

TEST(RenderTest, TokenDigestsReachTheReplicasAndASpecWithoutThemIsRefused) {
  const std::string digest(64, 'a');
  auto objects = RenderDeployment(
      Spec("name: a\nmodel: m@x\nauth: {tokens: [fraud-key], token_sha256: [" + digest + "]}"),
      RenderOptions{});
  ASSERT_TRUE(objects.ok()) << objects.status();
  const Json& d = *Find(*objects, "Deployment");
  std::vector<std::string> args = d["spec"]["template"]["spec"]["containers"][0]["args"];
  auto it = std::find(args.begin(), args.end(), "--token-sha256");
  ASSERT_NE(it, args.end());
  ASSERT_NE(it + 1, args.end());
  EXPECT_EQ(*(it + 1), digest);
  // Token names alone (a spec file the control plane has not resolved) would
  // render replicas serving without authentication: refused, nothing rendered.
  auto unresolved = RenderDeployment(Spec("name: a\nmodel: m@x\nauth: {tokens: [fraud-key]}"),
                                     RenderOptions{});
  ASSERT_FALSE(unresolved.ok());
  EXPECT_EQ(unresolved.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(unresolved.status().message()).find("deployments render a"), std::string::npos)
      << unresolved.status();
}

TEST(RenderTest, NoAutoscalerWithoutATargetAndSurgeOnlyUnderAFullBudget) {
  auto objects = RenderDeployment(Spec("name: a\nmodel: m@x\nreplicas: {min: 2, max: "
                                       "2}\ndisruption_budget: {min_available: 2}\n"),
                                  RenderOptions{});
  ASSERT_TRUE(objects.ok()) << objects.status();
  EXPECT_EQ(Find(*objects, "HorizontalPodAutoscaler"), nullptr);
  const Json& d = *Find(*objects, "Deployment");
  EXPECT_EQ(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"], "1");
}

TEST(RenderTest, AutoscaledFromZeroStartsAtTheHpaMinimum) {
  auto objects = RenderDeployment(Spec("name: a\nmodel: m@x\nreplicas: {min: 0, max: 4}\n"
                                       "autoscaling: {target_in_flight_per_replica: 2}\n"),
                                  RenderOptions{});
  ASSERT_TRUE(objects.ok()) << objects.status();
  EXPECT_EQ((*Find(*objects, "Deployment"))["spec"]["replicas"], 1);
  EXPECT_EQ((*Find(*objects, "HorizontalPodAutoscaler"))["spec"]["minReplicas"], 1);
  // Without autoscaling, 0 replicas stays 0 (a parked deployment).
  objects = RenderDeployment(Spec("name: a\nmodel: m@x\nreplicas: {min: 0, max: 4}\n"), {});
  ASSERT_TRUE(objects.ok()) << objects.status();
  EXPECT_EQ((*Find(*objects, "Deployment"))["spec"]["replicas"], 0);
}

TEST(RenderTest, OptionsReachThePod) {
  RenderOptions o;
  o.ns = "ml";
  o.image = "registry.local/tandem-serving:1.0";
  o.host = "127.0.0.1";
  o.port = 18080;
  o.startup_seconds = 61;
  o.drain_seconds = 0;
  auto objects = RenderDeployment(Spec("name: a\nmodel: m/3\nport: 9000\n"), o);
  ASSERT_TRUE(objects.ok()) << objects.status();
  for (const Json& obj : *objects) EXPECT_EQ(obj["metadata"]["namespace"], "ml");
  const Json& c = (*Find(*objects, "Deployment"))["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(c["image"], o.image);
  EXPECT_EQ(c["ports"][0]["containerPort"], 18080);
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["port"], 18080);
  EXPECT_EQ(c["startupProbe"]["failureThreshold"], 31);
  EXPECT_FALSE(c.contains("lifecycle"));
}

TEST(RenderTest, RefusesWhatKubernetesCannotTake) {
  auto expect = [](const std::string& yaml, RenderOptions o, const std::string& needle) {
    auto r = RenderDeployment(Spec(yaml), o);
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status();
  };
  expect("name: a\nmodel: m@x\nresources: {cpu: 2x}\n", {}, "'resources.cpu'");
  expect("name: a\nmodel: m@x\nresources: {memory: 1GB}\n", {}, "'resources.memory'");
  expect("name: a\nmodel: m@x\nresources: {disk: 1}\n", {}, "resources.disk");
  expect("name: a\nmodel: m@x\nresources: {cpus: 1, cpu: 1}\n", {}, "one of");
  expect("name: a-\nmodel: m@x\n", {}, "deployment name");
  RenderOptions bad;
  bad.grace_seconds = 3;
  expect("name: a\nmodel: m@x\n", bad, "grace period");
  bad = {};
  bad.ns = "Bad_NS";
  expect("name: a\nmodel: m@x\n", bad, "namespace");
  bad = {};
  bad.image_pull_policy = "Sometimes";
  expect("name: a\nmodel: m@x\n", bad, "pull policy");
  bad = {};
  bad.tls_secret = "../etc";
  expect("name: a\nmodel: m@x\n", bad, "TLS secret");
}

TEST(RenderTest, ATlsSecretMakesTheReplicasServeHttps) {
  RenderOptions o;
  o.tls_secret = "fraud-api-tls";
  auto objects = RenderDeployment(Spec("name: a\nmodel: m@x\n"), o);
  ASSERT_TRUE(objects.ok()) << objects.status();
  const Json& pod = (*Find(*objects, "Deployment"))["spec"]["template"];
  const Json& c = pod["spec"]["containers"][0];
  std::vector<std::string> args = c["args"];
  auto flag = [&](const std::string& f) {
    auto it = std::find(args.begin(), args.end(), f);
    return it == args.end() || it + 1 == args.end() ? std::string("<none>") : *(it + 1);
  };
  // The Secret's files, not --insecure: a pod's address is not loopback.
  EXPECT_EQ(flag("--tls-cert"), "/etc/tandem-tls/tls.crt");
  EXPECT_EQ(flag("--tls-key"), "/etc/tandem-tls/tls.key");
  EXPECT_EQ(std::find(args.begin(), args.end(), "--insecure"), args.end());
  for (const char* p : {"startupProbe", "readinessProbe", "livenessProbe"}) {
    EXPECT_EQ(c[p]["httpGet"]["scheme"], "HTTPS") << p;
  }
  EXPECT_EQ(pod["metadata"]["annotations"]["prometheus.io/scheme"], "https");
  bool mounted = false;
  for (const Json& m : c["volumeMounts"]) {
    if (m["name"] == "tls") {
      mounted = true;
      EXPECT_EQ(m["mountPath"], "/etc/tandem-tls");
      EXPECT_EQ(m["readOnly"], true);
    }
  }
  EXPECT_TRUE(mounted);
  bool volume = false;
  for (const Json& v : pod["spec"]["volumes"]) {
    if (v["name"] == "tls") {
      volume = true;
      EXPECT_EQ(v["secret"]["secretName"], "fraud-api-tls");
      EXPECT_EQ(v["secret"]["defaultMode"], 0400);  // the key is readable by its owner only
    }
  }
  EXPECT_TRUE(volume);
  // Without one: plain HTTP probes, no TLS volume.
  auto plain = RenderDeployment(Spec("name: a\nmodel: m@x\n"), RenderOptions{});
  ASSERT_TRUE(plain.ok());
  const Json& pc = (*Find(*plain, "Deployment"))["spec"]["template"]["spec"]["containers"][0];
  EXPECT_FALSE(pc["readinessProbe"]["httpGet"].contains("scheme"));
  EXPECT_EQ(pc["volumeMounts"].size(), 3u);
}

TEST(RenderTest, QuantitiesAsGiven) {
  auto r = ContainerResources(Json{{"cpu", "250m"}, {"memory", "1Gi"}, {"gpus", 1}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["requests"]["cpu"], "250m");
  EXPECT_EQ((*r)["limits"]["memory"], "1Gi");
  EXPECT_EQ((*r)["limits"]["nvidia.com/gpu"], "1");
}

}  // namespace
}  // namespace tandem::serving::kube
