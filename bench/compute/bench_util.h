// Helpers shared by compute_bench's benchmarks (compute_bench.cc, overhead.cc):
// flags, timing, child processes, and the in-process job service (Tandem).
#pragma once

// Without --slurm-conf the Slurm columns are skipped.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "compute/jobs/service.h"
#include "compute/substrates/local/substrate.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "glue/store/object_store.h"

namespace tandem::compute {

namespace fs = std::filesystem;

struct Flags {
  std::string only;
  int runs = 50;
  int rounds = 10;  // overhead pairs (direct, job)
  int num_round = 300;  // boosting rounds of the overhead job
  int jobs = 200;
  double load_rate = 50;  // background jobs/s during the loaded cold-start runs
  std::string slurm_conf;
  std::string trainer;
  std::string examples = "examples";
  std::string first_line;
  std::string dir = "/tmp";
};

[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "compute_bench: %s\n", what.c_str());
  std::exit(1);
}

inline int64_t WallNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU of the reaped children of this process (the direct runs; the job
// service's runners are not its children).
inline double ChildrenCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

inline double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

inline std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::string& path, const std::string& data, bool executable = false) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  if (executable)
    fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
}

// "FIRST_LINE <ns>" anywhere in `text` -> ns, else 0.
inline int64_t FirstLineNs(const std::string& text) {
  size_t p = text.find("FIRST_LINE ");
  if (p == std::string::npos) return 0;
  return std::strtoll(text.c_str() + p + 11, nullptr, 10);
}

struct ChildResult {
  int status = -1;
  std::string out;
  double wall_seconds = 0;
  double cpu_seconds = 0;
};

// Runs argv (PATH lookup) with `env` (empty: inherit) in `cwd`, capturing stdout.
inline ChildResult Run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                const std::string& cwd = "") {
  ChildResult r;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) Die("pipe failed");
  double t0 = SteadySeconds();
  pid_t pid = fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    dup2(fds[1], 1);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (env.empty()) {
      execvp(args[0], args.data());
    } else {
      for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
      envp.push_back(nullptr);
      execve(args[0], args.data(), envp.data());
    }
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  rusage ru{};
  wait4(pid, &r.status, 0, &ru);
  r.wall_seconds = SteadySeconds() - t0;
  r.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return r;
}

// --- tandem: the job service in-process over SQLite + a file store ---------

class Tandem {
 public:
  explicit Tandem(const std::string& home) : home_(home) {
    fs::create_directories(home);
    db_ = Check(sql::Database::Open("sqlite://" + home + "/tandem.db"), "database");
    store_ = Check(store::ObjectStore::Open("file://" + home + "/store"), "store");
    bus_ = Check(bus::SqlEventBus::Attach(*db_, Clock::Real()), "bus");
    registry_ =
        Check(registry::ModelRegistry::Open(*db_, *bus_->outbox(), Clock::Real()), "registry");
    local::LocalSubstrateOptions lopts;  // capacity: the machine's hardware threads
    // Warm sandboxes, as the control plane keeps them (api/control_plane.cc).
    lopts.warm_dir = home + "/sandboxes";
    lopts.warm_sandboxes = 8;
    jobs::JobServiceOptions opts;
    opts.home = home;
    opts.db = db_.get();
    opts.outbox = bus_->outbox();
    opts.store = store_.get();
    opts.registry = registry_.get();
    opts.substrate = Check(local::LocalSubstrate::Create(lopts), "local substrate");
    service_ = Check(jobs::JobService::Open(std::move(opts)), "job service");
    if (Status s = service_->Recover(); !s.ok()) Die("recover: " + s.ToString());
    service_->Start();
  }
  ~Tandem() { service_.reset(); }

  jobs::JobService& service() { return *service_; }
  const std::string& home() const { return home_; }

  std::string Submit(const jobs::JobSpec& spec) {
    auto r = service_->Submit(spec);
    if (!r.ok()) Die("submit " + spec.name + ": " + r.status().ToString());
    return r->id;
  }
  jobs::JobRecord Wait(const std::string& id) {
    auto r = service_->WaitFor(
        id, [](const jobs::JobRecord& j) { return IsTerminal(j.state); }, 600'000);
    if (!r.ok()) Die("wait " + id + ": " + r.status().ToString());
    return *r;
  }
  std::string Log(const std::string& id) {
    std::string out;
    for (int64_t off = 0;;) {
      auto c = service_->ReadLog(id, off);
      if (!c.ok()) Die("log " + id + ": " + c.status().ToString());
      out += c->data;
      if (c->data.empty()) break;
      off = c->next_offset;
    }
    return out;
  }

 private:
  template <typename T>
  static T Check(StatusOr<T> v, const std::string& what) {
    if (!v.ok()) Die(what + ": " + v.status().ToString());
    return *std::move(v);
  }

  std::string home_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<bus::SqlEventBus> bus_;
  std::unique_ptr<registry::ModelRegistry> registry_;
  std::unique_ptr<jobs::JobService> service_;
};

}  // namespace tandem::compute
