// pg_bench: the SQL-backed glue on PostgreSQL vs SQLite, side by side in one
// run, through the same code (SqlModelRegistry, SqlEventBus, sql::Database):
//
//   registry  model-version creations/s (each one write transaction with its
//             event appended to the SQL bus outbox in the same transaction),
//             1 and 4 threads, all on one model (every transaction contends
//             for its version counter) or one model per thread.
//   bus       publish -> receive latency: 1 producer paced at --rate events/s,
//             2 consumers long-polling one queue, each thread with its own
//             EventBus (as separate processes would be).
//
// Every scenario gets a fresh database: a temp SQLite file, or a database
// created on the PostgreSQL server given by --pg (dropped afterwards).
//
// Usage: pg_bench --pg postgres://user@host:port/db [--versions N] [--events N]
//                 [--rate R] [--repeat N] [--server-pid PID] [--only CELLS]
//
// --only runs the named cells only: rest4one, rest4each, rest16one,
// rest16each, lib1one, lib4one, lib4each, bus (comma-separated).
//
// Each registry cell runs `repeat` times (default 3), SQLite and PostgreSQL
// alternating, and reports the medians and each run's ratio.
// Each registry table row also gives the CPU seconds this process used for
// each side (clients, control plane, and SQLite, which runs inside it) and
// the PostgreSQL server's (--server-pid: its postmaster and every backend,
// running or exited) while the creations ran (the timed part only: not the
// database's creation, the control plane's start or the checks after it),
// the versions each write transaction carried (group commit's batch size,
// median of the runs) and the machine's 1-minute load average.
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/control_plane.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/http_client.h"
#include "glue/bus/event_bus.h"
#include "glue/bus/pattern.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "glue/sql/postgres_database.h"

namespace tandem {
namespace {

// A fresh database URI for one scenario and how to remove it.
struct Fresh {
  std::string uri;
  std::function<void()> cleanup;
};

StatusOr<Fresh> MakeFresh(const std::string& backend, const std::string& pg_server) {
  static int counter = 0;
  ++counter;
  if (backend == "sqlite") {
    std::string tmpl = "/tmp/tandem_pg_bench_XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return InternalError("mkdtemp failed");
    return Fresh{"sqlite://" + tmpl + "/bench.db", [tmpl] { std::filesystem::remove_all(tmpl); }};
  }
  std::string name = "tandem_bench_" + std::to_string(getpid()) + "_" + std::to_string(counter);
  ASSIGN_OR_RETURN(auto admin, sql::PostgresDatabase::OpenUri(pg_server));
  RETURN_IF_ERROR(admin->ExecAutocommit("CREATE DATABASE " + name));
  ASSIGN_OR_RETURN(std::string uri, sql::WithDatabaseName(pg_server, name));
  return Fresh{uri, [pg_server, name] {
                 auto a = sql::PostgresDatabase::OpenUri(pg_server);
                 if (a.ok()) (void)(*a)->ExecAutocommit("DROP DATABASE " + name + " WITH (FORCE)");
               }};
}

// CPU seconds this process (clients, control plane, SQLite) used so far.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A process's CPU ticks from /proc/PID/stat: its own (utime + stime), and
// with `children` those of its exited, reaped children (cutime + cstime).
// Sets `ppid`. False if the process is gone.
bool StatTicks(int pid, bool children, long long& ticks, int& ppid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return false;
  char buf[1024] = {0};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string stat(buf, n);
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 4 > stat.size()) return false;
  // Fields after the command: state is field 3, then ppid (4) .. cstime (17).
  std::vector<long long> fields;
  const char* p = stat.c_str() + paren + 4;
  char* end = nullptr;
  while (*p != '\0' && fields.size() < 14) {
    fields.push_back(std::strtoll(p, &end, 10));
    if (end == p) break;
    p = end;
  }
  if (fields.size() < 14) return false;
  ppid = static_cast<int>(fields[0]);
  // fields[0] is field 4 (ppid): utime..cstime are fields[10..13].
  ticks = fields[10] + fields[11] + (children ? fields[12] + fields[13] : 0);
  return true;
}

// CPU seconds of the PostgreSQL server `pid` (the postmaster) so far: its
// own, its exited backends' and its running backends' (so that a window
// between two calls counts the backends of connections still open, e.g. a
// control plane's pool); 0 if unknown (no --server-pid). A backend that exits
// between the two calls is counted once: alive at the first, reaped by the
// second (the caller waits a moment for that).
double ServerCpuSeconds(int pid) {
  if (pid <= 0) return 0;
  long long total = 0;
  int ppid = 0;
  if (!StatTicks(pid, /*children=*/true, total, ppid)) return 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    long long ticks = 0;
    int parent = 0;
    if (StatTicks(std::atoi(name.c_str()), /*children=*/false, ticks, parent) && parent == pid) {
      total += ticks;
    }
  }
  return static_cast<double>(total) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The 1-minute load average ("?" if unknown).
std::string LoadAverage() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return "?";
  char buf[64] = {0};
  double one = 0;
  bool ok = std::fgets(buf, sizeof buf, f) != nullptr && std::sscanf(buf, "%lf", &one) == 1;
  std::fclose(f);
  if (!ok) return "?";
  char out[32];
  std::snprintf(out, sizeof out, "%.1f", one);
  return out;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

// The PostgreSQL server's postmaster (--server-pid; 0: unknown).
int g_server_pid = 0;

// What one registry run measured: creations/s (negative on error), how
// many versions each write transaction carried on average (a batch's
// versions share its created time; 0 if unknown), and the CPU seconds this
// process and the PostgreSQL server used while the creations ran (not the
// database's creation, the control plane's start, the checks after).
struct RunResult {
  double rate = -1;
  double per_tx = 0;
  double cpu = 0, server_cpu = 0;
};

// The CPU clocks of a run's timed part: started at construction (the
// server's first, so this process's figure leaves out its /proc scans).
struct CpuWindow {
  double server0 = ServerCpuSeconds(g_server_pid), self0 = CpuSeconds();
  void End(RunResult& r) const {
    r.cpu = CpuSeconds() - self0;
    r.server_cpu = ServerCpuSeconds(g_server_pid) - server0;
  }
};

// Every version of model `name`, oldest first; false (and says why) on error.
bool ListVersions(registry::ModelRegistry& reg, const std::string& name,
                  std::vector<registry::ModelVersion>& out) {
  registry::VersionSearch search;
  search.max_results = registry::kMaxPageResults;
  do {
    auto page = reg.SearchVersions(name, search);
    if (!page.ok()) {
      std::fprintf(stderr, "list %s: %s\n", name.c_str(), page.status().ToString().c_str());
      return false;
    }
    for (auto& v : page->items) out.push_back(std::move(v));
    search.page_token = page->next_page_token;
  } while (!search.page_token.empty());
  return true;
}

// Versions per write transaction over the models of a run: a group-committed
// batch stamps its versions with one created time, so distinct (model, time)
// pairs count the transactions (two batches in the same microsecond would
// count once: rare).
double VersionsPerTransaction(registry::ModelRegistry& reg, int threads, bool one_model) {
  std::set<std::pair<std::string, int64_t>> batches;
  size_t versions = 0;
  for (int t = 0; t < (one_model ? 1 : threads); ++t) {
    std::string name = one_model ? "bench-model" : "bench-model-" + std::to_string(t);
    std::vector<registry::ModelVersion> vs;
    if (!ListVersions(reg, name, vs)) return 0;
    versions += vs.size();
    for (const auto& v : vs) batches.insert({name, v.created_micros});
  }
  return batches.empty() ? 0 : static_cast<double>(versions) / static_cast<double>(batches.size());
}

// Version creations per second; negative on error.
RunResult RegistryRun(const std::string& uri, int threads, int total, bool one_model) {
  auto db = sql::Database::Open(uri);
  if (!db.ok()) return {};
  auto bus = bus::SqlEventBus::Attach(**db, Clock::Real());
  if (!bus.ok()) return {};
  auto reg = registry::ModelRegistry::Open(**db, *(*bus)->outbox(), Clock::Real());
  if (!reg.ok()) return {};
  std::atomic<int> failures{0};
  CpuWindow window;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      registry::CreateVersionRequest req;
      req.name = one_model ? "bench-model" : "bench-model-" + std::to_string(t);
      req.source = "sha256:" + std::string(64, 'a');
      req.lineage.job_id = "job-" + std::to_string(t);
      req.lineage.metrics = {{"auc", 0.9}};
      req.tags = {{"thread", std::to_string(t)}};
      for (int i = t; i < total; i += threads) {
        auto v = (*reg)->CreateVersion(req);
        if (!v.ok()) {
          if (failures++ == 0) std::fprintf(stderr, "create: %s\n", v.status().ToString().c_str());
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RunResult out;
  window.End(out);
  if (failures > 0) return {};
  out.rate = total / s;
  out.per_tx = VersionsPerTransaction(**reg, threads, one_model);
  return out;
}

// After a REST run: every model's versions are exactly 1..n (none lost or
// given twice) and there is exactly one audit event per request. False
// (and says why) otherwise.
bool CheckRestRun(registry::ModelRegistry& reg, bus::EventBus& bus, int threads, int total,
                  bool one_model) {
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < total; ++i) {
    int t = i % threads;
    expected[one_model ? "bench-model" : "bench-model-" + std::to_string(t)]++;
  }
  for (const auto& [name, n] : expected) {
    std::vector<registry::ModelVersion> vs;
    if (!ListVersions(reg, name, vs)) return false;
    std::vector<int64_t> got;
    for (const auto& v : vs) got.push_back(v.version);
    std::sort(got.begin(), got.end());
    bool exact = static_cast<int64_t>(got.size()) == n;
    for (size_t i = 0; exact && i < got.size(); ++i) exact = got[i] == static_cast<int64_t>(i) + 1;
    if (!exact) {
      std::fprintf(stderr, "check %s: %zu versions, not exactly 1..%lld\n", name.c_str(),
                   got.size(), static_cast<long long>(n));
      return false;
    }
  }
  auto pattern = bus::Pattern::Parse(Json{{"source", {"tandem.audit"}}});
  if (!pattern.ok()) return false;
  std::set<std::string> ids;
  int64_t audits = 0;
  for (int64_t after = 0;;) {
    auto page = bus.Tail(bus::TailOptions{.after_seq = after, .limit = 1000, .pattern = *pattern});
    if (!page.ok()) {
      std::fprintf(stderr, "check audit: %s\n", page.status().ToString().c_str());
      return false;
    }
    if (page->last_seq <= after) break;
    after = page->last_seq;
    for (const auto& e : page->events) {
      ++audits;
      ids.insert(e.event.id);
    }
  }
  if (audits != total || static_cast<int64_t>(ids.size()) != total) {
    std::fprintf(stderr, "check audit: %lld audit events (%zu ids) for %d requests\n",
                 static_cast<long long>(audits), ids.size(), total);
    return false;
  }
  return true;
}

// Version creations per second through the control plane's REST API
// (POST /api/v1/models/{name}/versions), `threads` HTTP clients with
// keep-alive; the control plane runs in this process on a free loopback
// port with `uri` as its database (and so its bus). Negative on error.
RunResult RestRun(const std::string& uri, int threads, int total, bool one_model) {
  std::string home = "/tmp/tandem_pg_bench_home_XXXXXX";
  if (mkdtemp(home.data()) == nullptr) return {};
  auto config = LoadConfig(home, "", {{"TANDEM_PORT", "0"}, {"TANDEM_DATABASE", uri}});
  if (!config.ok()) {
    std::fprintf(stderr, "config: %s\n", config.status().ToString().c_str());
    return {};
  }
  config->listen_host = "127.0.0.1";
  auto cp = api::ControlPlane::Open(*config, Clock::Real());
  if (!cp.ok()) {
    std::fprintf(stderr, "control plane: %s\n", cp.status().ToString().c_str());
    return {};
  }
  // Every route needs a token: the benchmark calls as the platform admin.
  auto token = (*cp)->services().identity->BootstrapAdmin();
  if (!token.ok()) {
    std::fprintf(stderr, "admin token: %s\n", token.status().ToString().c_str());
    return {};
  }
  auto port = (*cp)->Start();
  if (!port.ok()) return {};
  const std::string base = "http://127.0.0.1:" + std::to_string(*port) + "/api/v1/models/";
  std::atomic<int> failures{0};
  CpuWindow window;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      http::Client client;
      const std::string url =
          base + (one_model ? "bench-model" : "bench-model-" + std::to_string(t)) + "/versions";
      const std::string body =
          Json{{"source", "sha256:" + std::string(64, 'a')},
               {"lineage", {{"job_id", "job-" + std::to_string(t)}, {"metrics", {{"auc", 0.9}}}}},
               {"tags", {{"thread", std::to_string(t)}}}}
              .dump();
      http::ClientRequest post;
      post.method = "POST";
      post.url = url;
      post.body = body;
      post.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + *token}};
      for (int i = t; i < total; i += threads) {
        auto r = client.Do(post);
        if (!r.ok() || r->status != 201) {
          if (failures++ == 0) {
            std::fprintf(stderr, "POST: %s\n",
                         r.ok() ? r->body.c_str() : r.status().ToString().c_str());
          }
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RunResult out;
  window.End(out);
  if (failures == 0 && !CheckRestRun(*(*cp)->services().registry, *(*cp)->services().bus, threads,
                                     total, one_model)) {
    failures++;
  }
  const double per_tx =
      failures > 0 ? 0 : VersionsPerTransaction(*(*cp)->services().registry, threads, one_model);
  (*cp)->Stop(1000);
  cp->reset();
  std::filesystem::remove_all(home);
  if (failures > 0) return {};
  out.rate = total / s;
  out.per_tx = per_tx;
  return out;
}

struct Latency {
  double p50 = 0, p99 = 0, max = 0;
  int64_t events = 0;
  bool ok = false;
};

Latency BusRun(const std::string& uri, int events, int rate) {
  Latency out;
  Clock& clock = Clock::Real();
  auto open = [&]() -> std::unique_ptr<bus::EventBus> {
    auto b = bus::EventBus::Open(uri);
    return b.ok() ? std::move(*b) : nullptr;
  };
  auto admin = open();
  if (admin == nullptr || !admin->CreateQueue("bench").ok() ||
      !admin->PutRule("bench", Json::parse(R"({"source": ["bench"]})"), "bench").ok()) {
    return out;
  }
  std::atomic<int64_t> received{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::vector<double> lat;
  std::vector<std::thread> consumers;
  for (int c = 0; c < 2; ++c) {
    consumers.emplace_back([&] {
      auto bus = open();
      if (bus == nullptr) failed = true;
      std::vector<double> local;
      while (!failed && received.load() < events) {
        auto msgs = bus->Receive("bench", bus::ReceiveOptions{.max_messages = 10, .wait_ms = 200});
        if (!msgs.ok()) {
          std::fprintf(stderr, "receive: %s\n", msgs.status().ToString().c_str());
          failed = true;
          break;
        }
        int64_t now = clock.NowMicros();
        for (const auto& m : *msgs) {
          local.push_back((now - m.event.detail["pub_us"].get<int64_t>()) / 1000.0);
          ++received;
          if (!bus->DeleteMessage("bench", m.receipt_handle).ok()) failed = true;
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      lat.insert(lat.end(), local.begin(), local.end());
    });
  }
  std::thread producer([&] {
    auto bus = open();
    if (bus == nullptr) {
      failed = true;
      return;
    }
    const int64_t t0 = clock.NowMicros();
    for (int i = 0; i < events && !failed; ++i) {
      int64_t due = t0 + int64_t{i} * 1'000'000 / rate;
      int64_t now = clock.NowMicros();
      if (due > now) clock.SleepMicros(due - now);
      bus::Event e;
      e.source = "bench";
      e.detail_type = "Bench";
      e.detail = {{"idx", i}, {"pub_us", clock.NowMicros()}};
      if (!bus->Publish(e).ok()) failed = true;
    }
  });
  producer.join();
  for (auto& c : consumers) c.join();
  out.ok = !failed;
  out.events = received.load();
  out.p50 = Percentile(lat, 0.5);
  out.p99 = Percentile(lat, 0.99);
  out.max = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  return out;
}

int Main(int argc, char** argv) {
  std::string pg;
  int versions = 2000, events = 1000, rate = 200, server_pid = 0, repeat = 3;
  // --only: the cells to run (empty: all), e.g. "rest4one,lib4one,bus".
  std::set<std::string> only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--pg") {
      pg = argv[i + 1];
    } else if (a == "--versions") {
      versions = std::atoi(argv[i + 1]);
    } else if (a == "--events") {
      events = std::atoi(argv[i + 1]);
    } else if (a == "--rate") {
      rate = std::atoi(argv[i + 1]);
    } else if (a == "--repeat") {
      repeat = std::atoi(argv[i + 1]);
    } else if (a == "--server-pid") {
      server_pid = std::atoi(argv[i + 1]);
      g_server_pid = server_pid;
    } else if (a == "--only") {
      std::string list = argv[i + 1];
      for (size_t b = 0; b <= list.size();) {
        size_t e = std::min(list.find(',', b), list.size());
        if (e > b) only.insert(list.substr(b, e - b));
        b = e + 1;
      }
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (pg.empty() || versions <= 0 || events <= 0 || rate <= 0 || repeat <= 0) {
    std::fprintf(stderr,
                 "usage: pg_bench --pg postgres://... [--versions N] [--events N] [--rate R] "
                 "[--repeat N] [--server-pid PID] [--only rest4one,rest16each,lib1one,bus,...]\n");
    return 2;
  }
  const std::vector<std::string> backends = {"sqlite", "postgres"};
  int rc = 0;
  std::printf(
      "## registry through the REST API: version creations/s (%d versions per run, "
      "POST /api/v1/models/{name}/versions; medians of %d runs)\n\n",
      versions, repeat);
  // One table of version creations/s: each (threads, one model?) case on
  // SQLite then PostgreSQL, `repeat` times alternating, each run on a fresh
  // database; medians (CPU seconds: medians per run). False if a database
  // could not be created.
  using Runner = RunResult (*)(const std::string&, int, int, bool);
  auto wanted = [&](const std::string& cell) { return only.empty() || only.count(cell) > 0; };
  auto table = [&](const char* who, const char* tag, std::vector<int> thread_counts,
                   bool single_thread_shared_only, Runner run) {
    std::printf(
        "| %s | models | sqlite | postgres | postgres/sqlite | ratio per run | cpu s sqlite "
        "| cpu s postgres | cpu s pg server | versions/tx sqlite | versions/tx postgres | load |\n"
        "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n",
        who);
    for (int threads : thread_counts) {
      for (bool one_model : {true, false}) {
        if (single_thread_shared_only && threads == 1 && !one_model) continue;
        if (!wanted(tag + std::to_string(threads) + (one_model ? "one" : "each"))) continue;
        std::vector<double> r[2], cpu[2], server_cpu, per_tx[2];
        std::string ratios;
        for (int rep = 0; rep < repeat; ++rep) {
          double got[2] = {0, 0};
          for (int b = 0; b < 2; ++b) {
            auto fresh = MakeFresh(backends[b], pg);
            if (!fresh.ok()) {
              std::fprintf(stderr, "%s\n", fresh.status().ToString().c_str());
              return false;
            }
            RunResult res = run(fresh->uri, threads, versions, one_model);
            got[b] = res.rate;
            per_tx[b].push_back(res.per_tx);
            cpu[b].push_back(res.cpu);
            fresh->cleanup();
            if (b == 1 && server_pid > 0) server_cpu.push_back(res.server_cpu);
            if (got[b] < 0) rc = 1;
            r[b].push_back(got[b]);
          }
          char one[32];
          std::snprintf(one, sizeof one, "%s%.2f", rep == 0 ? "" : " / ", got[1] / got[0]);
          ratios += one;
        }
        const double sqlite = Percentile(r[0], 0.5), postgres = Percentile(r[1], 0.5);
        std::printf(
            "| %d | %s | %.0f | %.0f | %.2f | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n",
            threads, one_model ? "one shared" : "one each", sqlite, postgres, postgres / sqlite,
            ratios.c_str(), Percentile(cpu[0], 0.5), Percentile(cpu[1], 0.5),
            Percentile(server_cpu, 0.5), Percentile(per_tx[0], 0.5), Percentile(per_tx[1], 0.5),
            LoadAverage().c_str());
        std::fflush(stdout);
      }
    }
    return true;
  };
  if (!table("clients", "rest", {4, 16}, false, &RestRun)) return 1;
  std::printf("\n## registry library calls: version creations/s (%d versions per run)\n\n",
              versions);
  if (!table("threads", "lib", {1, 4}, true, &RegistryRun)) return 1;
  if (!wanted("bus")) return rc;
  std::printf(
      "\n## bus: publish -> receive latency, %d events at %d/s, 2 consumers, bus per thread\n\n",
      events, rate);
  std::printf("| backend | received | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n");
  for (const auto& b : backends) {
    auto fresh = MakeFresh(b, pg);
    if (!fresh.ok()) return 1;
    Latency l = BusRun(fresh->uri, events, rate);
    fresh->cleanup();
    if (!l.ok) rc = 1;
    std::printf("| %s | %lld | %.2f | %.2f | %.2f |\n", b.c_str(), static_cast<long long>(l.events),
                l.p50, l.p99, l.max);
    std::fflush(stdout);
  }
  return rc;
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) { return tandem::Main(argc, argv); }
