// The REST API end to end in one process: a real server on a free port, the
// real glue backends in a temp home, and the HTTP client.
#include "api/control_plane.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "api/testing/running_control_plane.h"
#include "common/testing/run_tool.h"
#include "common/testing/test_server.h"
#include "common/uri.h"
#include "common/version.h"

namespace tandem::api {
namespace {
namespace fs = std::filesystem;

class ControlPlaneTest : public testing::RunningControlPlaneTest {
 protected:
  // Calls the API; returns {status, parsed body}.
  std::pair<int, Json> Call(const std::string& method, const std::string& path,
                            const std::string& body = "") {
    http::ClientRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = body;
    if (!body.empty()) req.headers["Content-Type"] = "application/json";
    auto res = client_.Do(Authorized(req));
    EXPECT_TRUE(res.ok()) << res.status();
    if (!res.ok()) return {0, nullptr};
    Json j = Json::parse(res->body, nullptr, false);
    return {res->status, j.is_discarded() ? Json(res->body) : j};
  }
};

TEST_F(ControlPlaneTest, Health) {
  auto [code, body] = Call("GET", "/api/v1/health");
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["version"], std::string(Version()));
}

TEST_F(ControlPlaneTest, ModelLifecycleEmitsEventsInOrder) {
  auto [c1, m] = Call("POST", "/api/v1/models", R"({"name":"fraud","owner_team":"risk"})");
  ASSERT_EQ(c1, 201) << m;
  auto [c2, v1] = Call("POST", "/api/v1/models/fraud/versions",
                       R"({"source":"sha256:)" + std::string(64, 'a') +
                           R"(","lineage":{"job_id":"j1","metrics":{"auc":0.9}}})");
  ASSERT_EQ(c2, 201) << v1;
  EXPECT_EQ(v1["version"], "1");
  auto [c3, v2] =
      Call("POST", "/api/v1/models/fraud/versions", R"({"source":"file:///models/fraud/2"})");
  ASSERT_EQ(c3, 201) << v2;
  EXPECT_EQ(v2["version"], "2");
  auto [c4, aliased] = Call("PUT", "/api/v1/models/fraud/aliases/champion", R"({"version":1})");
  ASSERT_EQ(c4, 200) << aliased;
  auto [c5, resolved] = Call("GET", "/api/v1/resolve/fraud@champion");
  ASSERT_EQ(c5, 200) << resolved;
  EXPECT_EQ(resolved["version"], "1");
  EXPECT_EQ(resolved["lineage"]["job_id"], "j1");
  auto [c6, by_number] = Call("GET", "/api/v1/resolve/fraud/2");
  ASSERT_EQ(c6, 200) << by_number;
  EXPECT_EQ(by_number["version"], "2");

  // The registry's events (each write is also audited: source tandem.audit).
  auto [c7, events] = Call("GET", "/api/v1/events?after=0&limit=100&pattern=" +
                                      PercentEncode(R"({"source":["tandem.registry"]})", "-._~"));
  ASSERT_EQ(c7, 200);
  std::vector<std::string> types;
  for (const auto& e : events["events"]) types.push_back(e["detail-type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"Model Created", "Model Version Created",
                                             "Model Version Created", "Model Alias Changed"}));
  EXPECT_EQ(events["events"][3]["detail"]["alias"], "champion");
}

// A version creation's audit event commits with the version (one
// transaction): audited exactly once, with its status; a refused or failed
// creation is audited by the wrapper as before; a client cannot suppress
// its audit event by sending the handler's internal headers.
TEST_F(ControlPlaneTest, VersionCreationIsAuditedOnceInItsOwnTransaction) {
  auto audits = [&]() {
    auto [code, events] =
        Call("GET", "/api/v1/events?after=0&limit=1000&pattern=" +
                        PercentEncode(R"({"source":["tandem.audit"]})", "-._~"));
    EXPECT_EQ(code, 200) << events;
    std::vector<Json> out;
    for (const auto& e : events["events"]) {
      if (e["detail"]["route"] == "/api/v1/models/{name}/versions") out.push_back(e["detail"]);
    }
    return out;
  };
  auto [c1, v1] = Call("POST", "/api/v1/models/audited/versions", R"({"source":"file:///a/1"})");
  ASSERT_EQ(c1, 201) << v1;
  std::vector<Json> a = audits();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["status"], 201);
  EXPECT_EQ(a[0]["decision"], "allowed");
  EXPECT_EQ(a[0]["path"], "/api/v1/models/audited/versions");
  EXPECT_EQ(a[0]["method"], "POST");
  EXPECT_FALSE(a[0]["principal"].get<std::string>().empty());

  // A creation that fails in its transaction (the model is missing and may
  // not be created): the wrapper publishes the audit event, with the error.
  auto [c2, e2] = Call("POST", "/api/v1/models/absent/versions",
                       R"({"source":"file:///a/9","create_model_if_missing":false})");
  EXPECT_EQ(c2, 404) << e2;
  a = audits();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[1]["status"], 404);
  EXPECT_EQ(a[1]["path"], "/api/v1/models/absent/versions");

  // Forged internal headers are stripped: still audited once, as allowed.
  http::ClientRequest forged;
  forged.method = "POST";
  forged.url = base_ + "/api/v1/models/audited/versions";
  forged.body = R"({"source":"file:///a/2"})";
  forged.headers = {{"Content-Type", "application/json"},
                    {kAuditCommittedHeader, "true"},
                    {kAuditHeader, R"({"source":"forged","detail-type":"Forged","id":"x"})"}};
  auto r = client_.Do(Authorized(forged));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201) << r->body;
  a = audits();
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[2]["status"], 201);
  auto [c4, forged_events] =
      Call("GET", "/api/v1/events?after=0&limit=1000&pattern=" +
                      PercentEncode(R"({"source":["forged"]})", "-._~"));
  ASSERT_EQ(c4, 200);
  EXPECT_TRUE(forged_events["events"].empty()) << forged_events;
}

TEST_F(ControlPlaneTest, ErrorsCarryCanonicalCodes) {
  auto [c1, e1] = Call("GET", "/api/v1/models/nope");
  EXPECT_EQ(c1, 404);
  EXPECT_EQ(e1["error"]["code"], "NOT_FOUND");
  EXPECT_NE(e1["error"]["message"].get<std::string>().find("nope"), std::string::npos);

  auto [c2, e2] = Call("POST", "/api/v1/models", R"({"name": "bad name!"})");
  EXPECT_EQ(c2, 400);
  EXPECT_EQ(e2["error"]["code"], "INVALID_ARGUMENT");

  auto [c3, e3] = Call("POST", "/api/v1/models", "{not json");
  EXPECT_EQ(c3, 400);
  EXPECT_NE(e3["error"]["message"].get<std::string>().find("malformed JSON"), std::string::npos);

  Call("POST", "/api/v1/models", R"({"name":"dup"})");
  auto [c4, e4] = Call("POST", "/api/v1/models", R"({"name":"dup"})");
  EXPECT_EQ(c4, 409);
  EXPECT_EQ(e4["error"]["code"], "ALREADY_EXISTS");

  auto [c5, e5] = Call("GET", "/api/v1/models/dup/versions/zero");
  EXPECT_EQ(c5, 400);
  auto [c6, e6] = Call("PUT", "/api/v1/models/dup/aliases/champion", R"({"version":7})");
  EXPECT_EQ(c6, 404);
  auto [c7, e7] = Call("GET", "/api/v1/resolve/dup@@x");
  EXPECT_EQ(c7, 400);
  auto [c8, e8] = Call("POST", "/api/v1/models", R"({"name":"x","colour":"red"})");
  EXPECT_EQ(c8, 400);
  EXPECT_NE(e8["error"]["message"].get<std::string>().find("colour"), std::string::npos);
  auto [c9, e9] = Call("GET", "/api/v1/models?max_results=0");
  EXPECT_EQ(c9, 400);
}

TEST_F(ControlPlaneTest, ArtifactsRoundTripAndRefuseBadKeys) {
  auto [c1, put] = Call("PUT", "/api/v1/artifacts/data/train.csv", "a,b\n1,2\n");
  ASSERT_EQ(c1, 201) << put;
  EXPECT_EQ(put["size"], 8);
  auto [c2, got] = Call("GET", "/api/v1/artifacts/data/train.csv");
  EXPECT_EQ(c2, 200);
  EXPECT_EQ(got, "a,b\n1,2\n");
  auto [c3, list] = Call("GET", "/api/v1/artifacts?prefix=data/");
  ASSERT_EQ(c3, 200);
  ASSERT_EQ(list["artifacts"].size(), 1u);
  EXPECT_EQ(list["artifacts"][0]["digest"], put["digest"]);
  auto [c4, blob] = Call("GET", "/api/v1/blobs/" + put["digest"].get<std::string>());
  EXPECT_EQ(c4, 200);
  EXPECT_EQ(blob, "a,b\n1,2\n");
  auto [c5, bad] = Call("PUT", "/api/v1/artifacts/a/../../etc/passwd", "x");
  EXPECT_EQ(c5 / 100, 4);
  auto [c6, missing] = Call("GET", "/api/v1/artifacts/none/here");
  EXPECT_EQ(c6, 404);
  auto [c7, deleted] = Call("DELETE", "/api/v1/artifacts/data/train.csv");
  EXPECT_EQ(c7, 200);
  auto [c8, gone] = Call("GET", "/api/v1/artifacts/data/train.csv");
  EXPECT_EQ(c8, 404);
}

// Percent-encoded bytes that are not UTF-8 (they would end up in JSON:
// responses, error messages, audit events) are a 400 on every route, before
// anything is done, and the refusal of a write is audited.
TEST_F(ControlPlaneTest, PathsAndQueriesThatAreNotUtf8Are400) {
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"PUT", "/api/v1/artifacts/data/%ff%fe"},
           {"GET", "/api/v1/artifacts/data/%ff"},
           {"DELETE", "/api/v1/artifacts/data/a%c0%afb"},  // overlong '/'
           {"GET", "/api/v1/artifacts?prefix=%ff"},
           {"PUT", "/api/v1/models/%ff/aliases/champion"},
           {"GET", "/api/v1/jobs/%ed%a0%80"},  // a surrogate
           {"GET", "/api/v1/jobs?name=%ff"}}) {
    auto [code, body] = Call(method, path, method == "PUT" ? R"({"version":1})" : "");
    EXPECT_EQ(code, 400) << method << " " << path << ": " << body;
    EXPECT_EQ(body["error"]["code"], "INVALID_ARGUMENT") << path;
    EXPECT_NE(body["error"]["message"].get<std::string>().find("UTF-8"), std::string::npos);
  }
  auto [c1, list] = Call("GET", "/api/v1/artifacts?prefix=data/");
  ASSERT_EQ(c1, 200);
  EXPECT_TRUE(list["artifacts"].empty()) << list;
  auto [c2, audit] = Call("GET", "/api/v1/audit?limit=1000");
  ASSERT_EQ(c2, 200);
  EXPECT_NE(audit.dump().find("/api/v1/artifacts/data/??"), std::string::npos) << audit;
  // UTF-8 beyond ASCII is fine.
  auto [c3, put] = Call("PUT", "/api/v1/artifacts/data/caf%c3%a9.csv", "x");
  EXPECT_EQ(c3, 201) << put;
  EXPECT_EQ(put["key"], "data/caf\xc3\xa9.csv");
}

TEST_F(ControlPlaneTest, CorruptedBlobIsDataLossNotServed) {
  auto [c1, put] = Call("PUT", "/api/v1/artifacts/m.bin", "precious bytes");
  ASSERT_EQ(c1, 201);
  std::string hex = put["digest"].get<std::string>().substr(7);
  // Find the blob file on disk and flip a byte.
  for (const auto& entry : fs::recursive_directory_iterator(home_ / "store")) {
    if (entry.is_regular_file() &&
        entry.path().filename().string().find(hex) != std::string::npos) {
      std::FILE* f = std::fopen(entry.path().c_str(), "r+b");
      ASSERT_NE(f, nullptr);
      std::fputc('X', f);
      std::fclose(f);
    }
  }
  auto [c2, err] = Call("GET", "/api/v1/artifacts/m.bin");
  EXPECT_EQ(c2, 500);
  EXPECT_EQ(err["error"]["code"], "DATA_LOSS");
}

TEST_F(ControlPlaneTest, RulesRouteEventsIntoQueues) {
  auto [c1, q] = Call("PUT", "/api/v1/queues/promotions", R"({"visibility_timeout_ms": 1000})");
  ASSERT_EQ(c1, 200) << q;
  auto [c2, r] =
      Call("PUT", "/api/v1/rules/aliases",
           R"({"pattern":{"detail-type":["Model Alias Changed"]},"target":"promotions"})");
  ASSERT_EQ(c2, 200) << r;
  Call("POST", "/api/v1/models/m/versions", R"({"source":"file:///m/1"})");
  Call("PUT", "/api/v1/models/m/aliases/champion", R"({"version":1})");
  auto [c3, got] = Call("POST", "/api/v1/queues/promotions/receive", R"({"max_messages":10})");
  ASSERT_EQ(c3, 200) << got;
  ASSERT_EQ(got["messages"].size(), 1u);
  EXPECT_EQ(got["messages"][0]["event"]["detail"]["alias"], "champion");
  std::string receipt = got["messages"][0]["receipt_handle"];
  auto [c4, ack] =
      Call("POST", "/api/v1/queues/promotions/ack", Json{{"receipt_handle", receipt}}.dump());
  EXPECT_EQ(c4, 200) << ack;
  auto [c5, bad] = Call("PUT", "/api/v1/rules/broken",
                        R"({"pattern":{"source":"not-a-list"},"target":"promotions"})");
  EXPECT_EQ(c5, 400);
  auto [c6, nq] = Call("POST", "/api/v1/queues/nope/receive", "{}");
  EXPECT_EQ(c6, 404);
}

// Prometheus samples by series ("name{labels}" exactly as exposed).
std::map<std::string, double> ParseSamples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// GET /metrics is Prometheus text (promtool accepts it) and counts what
// happened: jobs by state and team, launches, queue depths and age, requests
// per route (matched or not), deployments.
TEST_F(ControlPlaneTest, MetricsCountWhatHappened) {
  auto [cq, q] = Call("PUT", "/api/v1/queues/promotions", "{}");
  ASSERT_EQ(cq, 200) << q;
  auto [cr, r] = Call("PUT", "/api/v1/rules/pings",
                      R"({"pattern":{"detail-type":["Ping"]},"target":"promotions"})");
  ASSERT_EQ(cr, 200) << r;
  auto [ce, e] =
      Call("POST", "/api/v1/events", R"({"source":"t","detail-type":"Ping","detail":{}})");
  ASSERT_EQ(ce, 201) << e;
  auto [cj, job] =
      Call("POST", "/api/v1/jobs", R"({"name":"m","team":"risk","entry_point":"/bin/true"})");
  ASSERT_EQ(cj, 201) << job;
  std::string state;
  for (int i = 0; i < 600 && state != "Completed" && state != "Failed"; ++i) {
    state = Call("GET", "/api/v1/jobs/" + job["id"].get<std::string>()).second.value("state", "");
    if (state != "Completed") std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(state, "Completed");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Call("GET", "/api/v1/health").first, 200);
  ASSERT_EQ(Call("GET", "/api/v1/no/such/route").first, 404);

  http::ClientRequest req;
  req.url = base_ + "/metrics";
  auto res = client_.Do(req);
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->headers["content-type"].rfind("text/plain; version=0.0.4", 0), 0u);
  auto m = ParseSamples(res->body);
  EXPECT_EQ(m[R"(tandem_jobs{state="Completed",team="risk"})"], 1) << res->body;
  EXPECT_EQ(m["tandem_scheduler_queue_length"], 0);
  EXPECT_EQ(m["tandem_job_launch_latency_seconds_count"], 1);
  EXPECT_EQ(m[R"(tandem_queue_messages{queue="promotions",state="visible"})"], 1) << res->body;
  EXPECT_EQ(m[R"(tandem_queue_messages{queue="promotions",state="in_flight"})"], 0);
  EXPECT_TRUE(m.count(R"(tandem_queue_oldest_message_age_seconds{queue="promotions"})"));
  EXPECT_EQ(m["tandem_outbox_pending_events"], 0);
  EXPECT_EQ(m["tandem_deployments"], 0);
  EXPECT_EQ(m[R"(tandem_http_requests_total{method="GET",route="/api/v1/health",code="200"})"], 3)
      << res->body;
  EXPECT_EQ(m[R"(tandem_http_requests_total{method="",route="",code="404"})"], 1) << res->body;
  EXPECT_EQ(m[R"(tandem_http_request_duration_seconds_count{method="GET",route="/api/v1/health"})"],
            3);
  EXPECT_EQ(m[R"(tandem_http_request_errors_total{method="GET",route="/api/v1/health"})"], 0);

  TANDEM_REQUIRE_TOOL(::tandem::testing::HaveTool("promtool"), "promtool (prometheus)");
  fs::path file = home_ / "metrics.txt";
  std::ofstream(file) << res->body;
  Status checked = ::tandem::testing::PromtoolCheckMetrics(file.string());
  EXPECT_TRUE(checked.ok()) << checked;
}

// GET of a job as a long poll (?state=&wait_ms=): each answer is a change
// from the state asked about, so a client follows a job's life in one
// request per state; bad parameters are refused by name.
TEST_F(ControlPlaneTest, GetJobLongPollsUntilTheStateChanges) {
  auto [cj, job] =
      Call("POST", "/api/v1/jobs", R"({"name":"lp","team":"risk","entry_point":"/bin/true"})");
  ASSERT_EQ(cj, 201) << job;
  const std::string path = "/api/v1/jobs/" + job["id"].get<std::string>();
  for (const char* bad : {"?state=Bogus&wait_ms=10", "?wait_ms=10", "?state=Running",
                          "?state=Running&wait_ms=30001", "?state=Running&wait_ms=-1",
                          "?state=Running&wait_ms=ten"}) {
    auto [code, body] = Call("GET", path + bad);
    EXPECT_EQ(code, 400) << bad << " " << body;
  }
  std::string state = job["state"].get<std::string>();
  std::vector<std::string> seen = {state};
  for (int i = 0; i < 6 && state != "Completed" && state != "Failed"; ++i) {
    auto [code, body] = Call("GET", path + "?state=" + state + "&wait_ms=30000");
    ASSERT_EQ(code, 200) << body;
    EXPECT_NE(body["state"], state) << "answered before the state changed";
    state = body["state"].get<std::string>();
    seen.push_back(state);
  }
  ASSERT_EQ(state, "Completed") << ::testing::PrintToString(seen);
  EXPECT_LE(seen.size(), 4u) << ::testing::PrintToString(seen);  // Pending, Starting, Running, ..
  // Nothing changes any more: the job as it is once the wait is over.
  auto [cd, done] = Call("GET", path + "?state=Completed&wait_ms=100");
  ASSERT_EQ(cd, 200) << done;
  EXPECT_EQ(done["state"], "Completed");
  auto [ct, tr] = Call("GET", "/api/v1/transform-jobs/" + job["id"].get<std::string>() +
                                  "?state=Completed&wait_ms=100");
  EXPECT_EQ(ct, 404) << tr;  // a training job is no transform
}

}  // namespace
}  // namespace tandem::api
