// jobs_rest_bench: trivial training jobs through the REST API of a running
// `tandem up` (run by rest_run.sh): --jobs specs submitted at once by
// --clients threads (POST /api/v1/jobs, one keep-alive connection each), then
// GET /api/v1/status every 50 ms until every job of the run's team has ended.
// Prints one Markdown row: submit seconds (all 201s back), total seconds
// (first POST -> all ended), jobs/s, jobs that did not end Completed or ran
// more than one attempt, and the control plane's CPU per job (utime+stime of
// --pid over the run; the runners and sandboxes are other processes).
//
// Usage: jobs_rest_bench --server URL --token T --source-dir DIR [--jobs 200]
//          [--clients 8] [--cpus 0.1] [--pid PID] [--label TEXT]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/ids.h"
#include "common/json.h"

namespace tandem::compute {
namespace {

struct Flags {
  std::string server, token, source_dir, label = "tandem up, POST /api/v1/jobs";
  int jobs = 200;
  int clients = 8;
  double cpus = 0.1;
  long pid = 0;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "jobs_rest_bench: %s\n", what.c_str());
  std::exit(1);
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// utime + stime of `pid` in seconds (0 if unknown).
double ProcessCpuSeconds(long pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string f;
  long long utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {  // field 3 is the state
    if (i == 14) utime = std::atoll(f.c_str());
    if (i == 15) {
      stime = std::atoll(f.c_str());
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

http::ClientRequest Request(const Flags& f, const std::string& method, const std::string& path,
                            std::string body = "") {
  http::ClientRequest r;
  r.method = method;
  r.url = f.server + path;
  r.headers["authorization"] = "Bearer " + f.token;
  if (!body.empty()) r.headers["content-type"] = "application/json";
  r.body = std::move(body);
  r.timeout_ms = 120'000;
  return r;
}

Json GetJson(http::Client& c, const Flags& f, const std::string& path) {
  auto res = c.Do(Request(f, "GET", path));
  if (!res.ok()) Die("GET " + path + ": " + res.status().ToString());
  if (res->status != 200) Die("GET " + path + ": HTTP " + std::to_string(res->status));
  auto j = ParseJson(res->body);
  if (!j.ok()) Die("GET " + path + ": " + j.status().ToString());
  return *j;
}

int Main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--server") f.server = next();
    else if (a == "--token") f.token = next();
    else if (a == "--source-dir") f.source_dir = next();
    else if (a == "--jobs") f.jobs = std::atoi(next().c_str());
    else if (a == "--clients") f.clients = std::atoi(next().c_str());
    else if (a == "--cpus") f.cpus = std::atof(next().c_str());
    else if (a == "--pid") f.pid = std::atol(next().c_str());
    else if (a == "--label") f.label = next();
    else Die("unknown flag '" + a + "' (see the header of jobs_rest_bench.cc)");
  }
  if (f.server.empty() || f.source_dir.empty()) Die("--server and --source-dir are required");
  if (f.jobs < 1 || f.clients < 1 || f.cpus <= 0) Die("--jobs, --clients, --cpus must be > 0");
  const std::string team = "rest-" + NewUlid(Clock::Real()).substr(16);

  const double cpu0 = ProcessCpuSeconds(f.pid);
  const std::string load_before = LoadAvg();
  const double t0 = Now();
  std::atomic<int> next{0}, refused{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < f.clients; ++c) {
    clients.emplace_back([&] {
      http::Client client;
      for (int i = next++; i < f.jobs; i = next++) {
        Json spec = {{"name", "rest-" + std::to_string(i)},
                     {"team", team},
                     {"entry_point", "train.sh"},
                     {"source_dir", f.source_dir},
                     {"max_runtime_seconds", 120},
                     {"resources", {{"cpus", f.cpus}}}};
        auto res = client.Do(Request(f, "POST", "/api/v1/jobs", spec.dump()));
        if (!res.ok() || res->status != 201) {
          ++refused;
          std::fprintf(stderr, "jobs_rest_bench: POST %d: %s\n", i,
                       res.ok() ? (std::to_string(res->status) + " " + res->body).c_str()
                                : res.status().ToString().c_str());
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  const double submitted = Now() - t0;
  if (refused > 0) Die(std::to_string(refused.load()) + " submissions refused");

  http::Client poll;
  int64_t ended = 0;
  for (double deadline = Now() + 600; ended < f.jobs; std::this_thread::sleep_for(
                                                          std::chrono::milliseconds(50))) {
    if (Now() > deadline) Die("jobs did not end within 600 s");
    Json status = GetJson(poll, f, "/api/v1/status");
    const Json& by_team = status["jobs"]["by_team"];
    ended = 0;
    if (by_team.contains(team)) {
      for (const char* s : {"Completed", "Failed", "Stopped"}) ended += by_team[team].value(s, 0);
    }
  }
  const double total = Now() - t0;
  const double cpu = ProcessCpuSeconds(f.pid) - cpu0;

  // Every job Completed in its first attempt (nothing lost, nothing re-run).
  int bad = 0, seen = 0;
  std::string token;
  do {
    Json page = GetJson(poll, f, "/api/v1/jobs?team=" + team + "&max_results=1000" +
                                     (token.empty() ? "" : "&page_token=" + token));
    for (const auto& j : page["jobs"]) {
      ++seen;
      if (j.value("state", "") != "Completed" || j.value("attempt", 0) != 1) {
        ++bad;
        std::fprintf(stderr, "jobs_rest_bench: job %s ended %s (attempt %d)\n",
                     j.value("id", "?").c_str(), j.value("state", "?").c_str(),
                     j.value("attempt", 0));
      }
    }
    token = page.value("next_page_token", "");
  } while (!token.empty());
  bad += f.jobs - seen;

  char cp[32] = "-";
  if (f.pid > 0) std::snprintf(cp, sizeof cp, "%.1f ms", cpu * 1000 / f.jobs);
  std::printf("| %s, resources.cpus %.1f | %d | %.2f | %.2f | **%.1f** | %d | %s | %s -> %s |\n",
              f.label.c_str(), f.cpus, f.jobs, submitted, total, f.jobs / total, bad, cp,
              load_before.c_str(), LoadAvg().c_str());
  return bad == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tandem::compute

int main(int argc, char** argv) { return tandem::compute::Main(argc, argv); }
