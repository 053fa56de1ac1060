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
//
// Cold-start mode (issue 16 goal 1, run by rest_cold.sh): with --cold-start
// RUNS and --first-line-dir DIR (a source tree whose train.sh is
// `exec ./first_line`, see first_line.cc), RUNS jobs one after another, each
// timed from just before its POST /api/v1/jobs to the FIRST_LINE its user code
// printed (read back through GET /api/v1/jobs/{id}/logs), first on an idle
// control plane and then while a second client thread submits trivial jobs
// (--source-dir, resources.cpus --cpus) through REST at --load-rate per
// second (at most 20 of them unfinished at a time, so a machine that cannot
// keep the rate builds no queue: the rate printed is the one achieved).
// Prints Markdown rows (p50/p95) for POST -> first line, POST -> 201 and
// POST -> record started, the load reached, and the CPU-seconds of the control
// plane (--pid, with its reaped children) and of this process.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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
  int cold_runs = 0;  // > 0: cold-start mode
  std::string first_line_dir;
  double load_rate = 50;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "jobs_rest_bench: %s\n", what.c_str());
  std::exit(1);
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// utime + stime of `pid` in seconds (0 if unknown); with `children`, also
// the CPU of its reaped children (cutime + cstime).
double ProcessCpuSeconds(long pid, bool children = false) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string f;
  long long ticks = 0;
  for (int i = 3; fields >> f; ++i) {  // field 3 is the state
    if (i == 14 || i == 15 || (children && (i == 16 || i == 17))) ticks += std::atoll(f.c_str());
    if (i == 17) break;
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
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

// --- cold-start mode ----------------------------------------------------------

int64_t WallNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

double Pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double SelfCpuSeconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

bool Terminal(const std::string& state) {
  return state == "Completed" || state == "Failed" || state == "Stopped";
}

// POSTs one job; its id (dies on refusal).
std::string PostJob(http::Client& c, const Flags& f, const std::string& team,
                    const std::string& name, const std::string& src, double cpus) {
  Json spec = {{"name", name},          {"team", team},
               {"entry_point", "train.sh"}, {"source_dir", src},
               {"max_runtime_seconds", 120}, {"resources", {{"cpus", cpus}}}};
  auto res = c.Do(Request(f, "POST", "/api/v1/jobs", spec.dump()));
  if (!res.ok()) Die("POST /api/v1/jobs: " + res.status().ToString());
  if (res->status != 201) Die("POST /api/v1/jobs: HTTP " + std::to_string(res->status) + " " + res->body);
  auto j = ParseJson(res->body);
  if (!j.ok() || !j->contains("id")) Die("POST /api/v1/jobs: no id in " + res->body);
  return (*j)["id"].get<std::string>();
}

struct ColdTimes {
  std::vector<double> to_first_line, to_created, to_started;  // ms
  // The record's launch_us (service.cc), ms: queued -> a worker took it, the
  // claim, staging, the launch.
  std::vector<double> to_worker, claim, staging, launch;
};

// One cold job: POST -> 201, -> record started, -> FIRST_LINE of its log.
void ColdRun(http::Client& c, const Flags& f, const std::string& team, int i, ColdTimes& out) {
  const int64_t t0 = WallNs();
  std::string id = PostJob(c, f, team, "cold-" + std::to_string(i), f.first_line_dir, f.cpus);
  out.to_created.push_back(static_cast<double>(WallNs() - t0) / 1e6);
  Json rec = GetJson(c, f, "/api/v1/jobs/" + id);
  for (double deadline = Now() + 120; !Terminal(rec.value("state", ""));) {
    if (Now() > deadline) Die("cold job " + id + " did not end within 120 s");
    // A long poll: answered as soon as the state moves on.
    rec = GetJson(c, f, "/api/v1/jobs/" + id + "?state=" + rec.value("state", "") +
                            "&wait_ms=10000");
  }
  if (rec.value("state", "") != "Completed") Die("cold job " + id + " ended " + rec.dump());
  auto log = c.Do(Request(f, "GET", "/api/v1/jobs/" + id + "/logs"));
  if (!log.ok() || log->status != 200) Die("GET logs of " + id + " failed");
  size_t p = log->body.find("FIRST_LINE ");
  if (p == std::string::npos) Die("no FIRST_LINE in the log of " + id + ": " + log->body);
  const int64_t first = std::atoll(log->body.c_str() + p + 11);
  out.to_first_line.push_back(static_cast<double>(first - t0) / 1e6);
  out.to_started.push_back(
      static_cast<double>(rec.value("started_micros", int64_t{0}) * 1000 - t0) / 1e6);
  if (rec.contains("launch_us")) {
    const Json& l = rec["launch_us"];
    out.to_worker.push_back(l.value("to_worker", 0.0) / 1e3);
    out.claim.push_back(l.value("claim", 0.0) / 1e3);
    out.staging.push_back(l.value("staging", 0.0) / 1e3);
    out.launch.push_back(l.value("launch", 0.0) / 1e3);
  }
}

// Trivial jobs through REST at `rate` per second on its own thread (at most
// kMaxOutstanding unfinished: a tick with that many is skipped).
class RestLoad {
 public:
  RestLoad(const Flags& f, std::string team, double rate) : f_(f), team_(std::move(team)) {
    t0_ = Now();
    thread_ = std::thread([this, rate] {
      http::Client c;
      auto next = std::chrono::steady_clock::now();
      const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(1.0 / rate));
      int64_t ended = 0;
      for (int i = 0; !stop_.load(); ++i) {
        // The ended count (one status GET) every 10 ticks, or when at the cap.
        if (i % 10 == 0 || submitted_ - ended >= kMaxOutstanding) ended = Ended(c);
        if (submitted_ - ended < kMaxOutstanding) {
          PostJob(c, f_, team_, "load-" + std::to_string(i), f_.source_dir, f_.cpus);
          ++submitted_;
        } else {
          ++skipped_;
        }
        next += period;
        std::this_thread::sleep_until(next);
      }
    });
  }
  // Stops submitting; the rate achieved (jobs/s) and the ticks skipped.
  std::pair<double, int> Stop() {
    stop_ = true;
    thread_.join();
    return {static_cast<double>(submitted_) / (Now() - t0_), skipped_};
  }
  // Waits until every load job ended; how many did not complete.
  int64_t WaitAll() {
    http::Client c;
    for (double deadline = Now() + 300; Ended(c) < submitted_;) {
      if (Now() > deadline) Die("load jobs did not end within 300 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    Json status = GetJson(c, f_, "/api/v1/status");
    return submitted_ - status["jobs"]["by_team"][team_].value("Completed", int64_t{0});
  }

 private:
  static constexpr int64_t kMaxOutstanding = 20;
  int64_t Ended(http::Client& c) {
    Json status = GetJson(c, f_, "/api/v1/status");
    const Json& by_team = status["jobs"]["by_team"];
    int64_t n = 0;
    if (by_team.contains(team_)) {
      for (const char* s : {"Completed", "Failed", "Stopped"}) n += by_team[team_].value(s, 0);
    }
    return n;
  }
  const Flags& f_;
  std::string team_;
  double t0_ = 0;
  std::atomic<bool> stop_{false};
  int64_t submitted_ = 0;  // the load thread's until Stop
  int skipped_ = 0;
  std::thread thread_;
};

int ColdStart(const Flags& f) {
  const std::string suffix = NewUlid(Clock::Real()).substr(16);
  const std::string load_before = LoadAvg();
  const double cp0 = ProcessCpuSeconds(f.pid, true), self0 = SelfCpuSeconds(), t0 = Now();
  http::Client c;
  ColdTimes idle, loaded;
  for (int i = 0; i < f.cold_runs; ++i) ColdRun(c, f, "cold-" + suffix, i, idle);
  const std::string load_mid = LoadAvg();
  std::pair<double, int> rate{0, 0};
  int64_t load_failed = 0;
  if (f.load_rate > 0) {
    RestLoad load(f, "load-" + suffix, f.load_rate);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let it reach its rate
    for (int i = 0; i < f.cold_runs; ++i) ColdRun(c, f, "cold-" + suffix, f.cold_runs + i, loaded);
    rate = load.Stop();
    load_failed = load.WaitAll();
  }
  const double wall = Now() - t0;
  const double cp = ProcessCpuSeconds(f.pid, true) - cp0, self = SelfCpuSeconds() - self0;
  auto row = [&](const char* what, const char* when, const std::vector<double>& v) {
    if (v.empty()) return;
    std::printf("| %s | %s | %s | %.1f | %.1f |\n", f.label.c_str(), when, what, Pct(v, 0.5),
                Pct(v, 0.95));
  };
  for (const auto& [when, t] : {std::pair<const char*, const ColdTimes*>{"idle", &idle},
                                {"loaded", &loaded}}) {
    row("**POST -> first line**", when, t->to_first_line);
    row("POST -> 201 back", when, t->to_created);
    row("POST -> record started", when, t->to_started);
    row("record launch_us: queued -> worker", when, t->to_worker);
    row("record launch_us: claim", when, t->claim);
    row("record launch_us: staging", when, t->staging);
    row("record launch_us: launch.json + substrate Submit", when, t->launch);
  }
  std::printf("| %s | note | load %.1f jobs/s achieved (%d ticks skipped at 20 unfinished, %lld "
              "not Completed); load average %s -> %s -> %s; CPU s: control plane %.2f (with "
              "reaped children), bench %.2f, over %.1f s wall | | |\n",
              f.label.c_str(), rate.first, rate.second, static_cast<long long>(load_failed),
              load_before.c_str(), load_mid.c_str(), LoadAvg().c_str(), cp, self, wall);
  return load_failed == 0 ? 0 : 1;
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
    else if (a == "--cold-start") f.cold_runs = std::atoi(next().c_str());
    else if (a == "--first-line-dir") f.first_line_dir = next();
    else if (a == "--load-rate") f.load_rate = std::atof(next().c_str());
    else Die("unknown flag '" + a + "' (see the header of jobs_rest_bench.cc)");
  }
  if (f.server.empty() || f.source_dir.empty()) Die("--server and --source-dir are required");
  if (f.jobs < 1 || f.clients < 1 || f.cpus <= 0) Die("--jobs, --clients, --cpus must be > 0");
  if (f.cold_runs > 0) {
    if (f.first_line_dir.empty()) Die("--cold-start needs --first-line-dir");
    if (f.load_rate < 0) Die("--load-rate must be >= 0");
    return ColdStart(f);
  }
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
