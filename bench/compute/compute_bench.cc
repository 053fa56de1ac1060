// compute_bench: the compute tier's benchmarks, side by side with a
// local single-node Slurm cluster (scripts/slurm-local) in one run.
//
//   cold-start  submit -> first line of user code of a trivial native job
//               (a shell script whose only line is `exec first_line`, which
//               prints CLOCK_REALTIME ns). Interleaved per run: the job
//               service (JobService::Submit, the path behind POST
//               /api/v1/jobs), the bare LocalSubstrate (Submit ->
//               StartedMicros and -> first line), and Slurm (fork of
//               `sbatch` -> first line). p50/p95 over --runs. Then the job
//               service again (resources.cpus 0.1) while a thread submits
//               trivial jobs at --load-rate per second (0: skipped).
//   overhead    tandem-train-xgboost on examples/data (examples/xgboost-native,
//               nthread=1) run directly in a hand-made /opt/ml tree vs as a
//               job through the service: wall (direct: fork -> exit; job:
//               Submit -> Completed, and the runner's metered wall) and CPU
//               (direct: rusage of the child; job: the metered process
//               tree, plus the CPU the control plane spent). --rounds
//               pairs (a direct run, then the job) after one warm-up pair;
//               the figure is the median of the per-pair overheads (so
//               load drifting during the run cancels), with p25..p75 and
//               the overhead of the medians beside it (overhead.cc).
//               --num-round boosting rounds, all run (no early stopping; default 300: ~1 s of training on this
//               2-core machine when quiet, the 1-second job issue 16's
//               goal 3 names).
//   throughput  --jobs trivial jobs submitted at once -> all ended, jobs/s;
//               tandem with resources.cpus 0.1 and 1, Slurm with 1 CPU each.
//
// Usage: compute_bench [--only cold-start|overhead|throughput] [--runs 50]
//          [--rounds 10] [--num-round 300] [--jobs 200] [--slurm-conf PATH] [--trainer PATH]
//          [--examples DIR] [--first-line PATH] [--dir /tmp] [--load-rate 50]
#include "bench_util.h"
#include "overhead.h"

extern char** environ;

namespace tandem::compute {
namespace {

// --- Slurm: sbatch/squeue against SLURM_CONF --------------------------------

class Slurm {
 public:
  Slurm(std::string conf, std::string dir) : conf_(std::move(conf)), dir_(std::move(dir)) {
    setenv("SLURM_CONF", conf_.c_str(), 1);
    fs::create_directories(dir_);
  }
  bool enabled() const { return !conf_.empty(); }

  // Submits `script`; stdout goes to `out`. Returns the job id.
  std::string Submit(const std::string& script, const std::string& out) {
    ChildResult r = Run({"sbatch", "--parsable", "--chdir=" + dir_, "--cpus-per-task=1",
                         "--output=" + out, script});
    if (r.status != 0) Die("sbatch failed (status " + std::to_string(r.status) + ")");
    std::string id = r.out.substr(0, r.out.find_first_of(";\n"));
    return id;
  }
  // Jobs not yet gone from the queue (pending, running or completing).
  int Queued() {
    ChildResult r = Run({"squeue", "-h", "-o", "%i"});
    return static_cast<int>(std::count(r.out.begin(), r.out.end(), '\n'));
  }
  // Waits until `out` holds a full line and the queue is empty.
  void WaitDone(const std::string& out) {
    for (double deadline = SteadySeconds() + 120; SteadySeconds() < deadline;) {
      std::string text = Slurp(out);
      if (!text.empty() && text.back() == '\n' && Queued() == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Die("slurm job writing " + out + " did not finish in 120 s");
  }
  // Waits until every file in `outs` holds a full line and the queue is
  // empty, polling every 100 ms (squeue is an RPC to slurmctld: polling it
  // hard would slow the scheduler down).
  void WaitAll(const std::vector<std::string>& outs) {
    size_t done = 0;
    for (double deadline = SteadySeconds() + 3600; SteadySeconds() < deadline;) {
      while (done < outs.size()) {
        std::string text = Slurp(outs[done]);
        if (text.empty() || text.back() != '\n') break;
        ++done;
      }
      if (done == outs.size() && Queued() == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    Die("slurm jobs did not finish in an hour");
  }

 private:
  std::string conf_;
  std::string dir_;
};

// --- benchmarks -------------------------------------------------------------

jobs::JobSpec TrivialSpec(const std::string& name, const std::string& src, double cpus) {
  jobs::JobSpec spec;
  spec.name = name;
  spec.team = "bench";
  spec.entry_point = "train.sh";
  spec.source_dir = src;
  spec.resources.cpus = cpus;
  spec.max_runtime_seconds = 120;
  return spec;
}

struct SubstrateTimes {
  std::vector<double> submit_returns, to_exec, to_user;  // ms
};

// One trivial job on a bare substrate, on a prepared tree (no staging).
void RunOnSubstrate(jobs::Substrate& sub, const std::string& base, const std::string& src,
                    const std::string& tag, SubstrateTimes& out) {
  std::string job_dir = base + "/" + tag;
  fs::create_directories(job_dir + "/code");
  fs::copy_file(src + "/first_line", job_dir + "/code/first_line");
  fs::copy_file(src + "/train.sh", job_dir + "/code/train.sh");
  jobs::LaunchRequest req;
  req.job_id = tag;
  req.job_dir = job_dir;
  req.log_path = job_dir + ".log";
  std::string code = sub.sandboxed() ? "/opt/ml/code" : job_dir + "/code";
  req.argv = {code + "/train.sh"};
  req.working_dir = code;
  req.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}};
  req.resources.cpus = 1;
  req.max_runtime_seconds = 120;
  int64_t t0 = WallNs();
  auto h = sub.Submit(req);
  if (!h.ok()) Die("substrate submit: " + h.status().ToString());
  out.submit_returns.push_back(static_cast<double>(WallNs() - t0) / 1e6);
  for (double deadline = SteadySeconds() + 60;;) {
    auto p = sub.Poll(*h);
    if (!p.ok()) Die("substrate poll: " + p.status().ToString());
    if (p->has_value()) break;
    if (SteadySeconds() > deadline) Die("substrate job did not end in 60 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::optional<int64_t> started = sub.StartedMicros(*h);
  if (started) out.to_exec.push_back(static_cast<double>(*started * 1000 - t0) / 1e6);
  int64_t first = FirstLineNs(Slurp(req.log_path));
  if (first == 0) Die("no FIRST_LINE in " + req.log_path);
  out.to_user.push_back(static_cast<double>(first - t0) / 1e6);
}

// One job through the service: Submit -> first line, and -> the record's
// started_micros (ms).
void RunOnService(Tandem& t, const jobs::JobSpec& spec, std::vector<double>& to_user,
                  std::vector<double>& to_started) {
  int64_t t0 = WallNs();
  std::string id = t.Submit(spec);
  jobs::JobRecord rec = t.Wait(id);
  if (rec.state != jobs::JobState::kCompleted) Die("cold job failed: " + rec.failure_reason);
  int64_t first = FirstLineNs(t.Log(id));
  if (first == 0) Die("no FIRST_LINE in the log of " + id);
  to_user.push_back(static_cast<double>(first - t0) / 1e6);
  to_started.push_back(static_cast<double>(rec.started_micros * 1000 - t0) / 1e6);
}

// Submits trivial jobs (resources.cpus 0.1) at `rate` per second on its own
// thread until Stop, which waits for them all to end. At most kMaxOutstanding
// of them are unfinished at a time (a tick with that many is skipped), so a
// machine that cannot keep the rate builds no queue: the rate reported is
// the one achieved.
class BackgroundLoad {
 public:
  BackgroundLoad(Tandem& t, std::string src, double rate) : t_(t), src_(std::move(src)) {
    if (rate <= 0) return;
    t0_ = SteadySeconds();
    thread_ = std::thread([this, rate] {
      auto next = std::chrono::steady_clock::now();
      const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(1.0 / rate));
      std::deque<std::string> outstanding;
      for (int i = 0; !stop_.load(); ++i) {
        while (!outstanding.empty()) {
          auto r = t_.service().Get(outstanding.front());
          if (!r.ok()) Die("background job: " + r.status().ToString());
          if (!IsTerminal(r->state)) break;
          outstanding.pop_front();
        }
        if (outstanding.size() < kMaxOutstanding) {
          ids_.push_back(t_.Submit(TrivialSpec("load-" + std::to_string(i), src_, 0.1)));
          outstanding.push_back(ids_.back());
        }
        next += period;
        std::this_thread::sleep_until(next);
      }
    });
  }
  // Jobs submitted per second while it ran, and how many did not complete.
  std::pair<double, int> Stop() {
    if (!thread_.joinable()) return {0, 0};
    stop_ = true;
    thread_.join();
    double rate = static_cast<double>(ids_.size()) / (SteadySeconds() - t0_);
    int failed = 0;
    for (const auto& id : ids_) failed += t_.Wait(id).state != jobs::JobState::kCompleted;
    return {rate, failed};
  }
  ~BackgroundLoad() { Stop(); }

 private:
  static constexpr size_t kMaxOutstanding = 20;
  Tandem& t_;
  std::string src_;
  double t0_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<std::string> ids_;
  std::thread thread_;
};

void ColdStart(const Flags& f, Tandem& t, Slurm& slurm) {
  const std::string base = t.home() + "/cold";
  const std::string src = base + "/src";
  fs::create_directories(src);
  fs::copy_file(f.first_line, src + "/first_line", fs::copy_options::overwrite_existing);
  WriteFile(src + "/train.sh", "#!/bin/sh\nexec ./first_line\n", true);
  const std::string slurm_script = base + "/slurm.sh";
  WriteFile(slurm_script, "#!/bin/sh\nexec " + fs::absolute(f.first_line).string() + "\n", true);
  jobs::Substrate& sub = t.service().substrate();
  const bool sandboxed = sub.sandboxed();
  // The same substrate without bubblewrap, to show what the sandbox costs.
  std::unique_ptr<local::LocalSubstrate> bare;
  if (sandboxed) {
    local::LocalSubstrateOptions o;
    o.sandbox = local::LocalSubstrateOptions::Sandbox::kOff;
    o.state_root = base + "/.runner-bare";
    auto s = local::LocalSubstrate::Create(o);
    if (!s.ok()) Die("unsandboxed substrate: " + s.status().ToString());
    bare = *std::move(s);
  }
  // The same sandboxed substrate starting each runner directly (fork+exec
  // from this process) instead of through its pre-forked launcher.
  std::unique_ptr<local::LocalSubstrate> direct;
  {
    local::LocalSubstrateOptions o;
    o.prefork_launcher = false;
    o.state_root = base + "/.runner-direct";
    auto s = local::LocalSubstrate::Create(o);
    if (!s.ok()) Die("substrate without launcher: " + s.status().ToString());
    direct = *std::move(s);
  }

  // The same sandboxed substrate without warm sandboxes: each job starts
  // its own bubblewrap.
  std::unique_ptr<local::LocalSubstrate> cold;
  if (sandboxed) {
    local::LocalSubstrateOptions o;
    o.state_root = base + "/.runner-cold";
    auto s = local::LocalSubstrate::Create(o);
    if (!s.ok()) Die("substrate without warm sandboxes: " + s.status().ToString());
    cold = *std::move(s);
  }

  std::vector<double> svc, svc_state, sl;
  SubstrateTimes st, bt, dt, ct;
  const std::string load_before = LoadAvg();
  for (int i = 0; i < f.runs; ++i) {
    // (a) the job service.
    RunOnService(t, TrivialSpec("cold-" + std::to_string(i), src, 1), svc, svc_state);

    // (b) the bare substrate, sandboxed as the service runs it, and without.
    RunOnSubstrate(sub, base, src, "sub-" + std::to_string(i), st);
    if (bare) RunOnSubstrate(*bare, base, src, "bare-" + std::to_string(i), bt);
    RunOnSubstrate(*direct, base, src, "direct-" + std::to_string(i), dt);
    if (cold) RunOnSubstrate(*cold, base, src, "cold-" + std::to_string(i), ct);

    // (c) Slurm.
    if (slurm.enabled()) {
      std::string out = base + "/slurm-" + std::to_string(i) + ".out";
      int64_t t0 = WallNs();
      slurm.Submit(slurm_script, out);
      slurm.WaitDone(out);
      int64_t first = FirstLineNs(Slurp(out));
      if (first == 0) Die("no FIRST_LINE in " + out);
      sl.push_back(static_cast<double>(first - t0) / 1e6);
    }
  }
  // The job service again while it also runs trivial jobs at --load-rate.
  std::vector<double> loaded, loaded_state;
  std::pair<double, int> load{0, 0};
  if (f.load_rate > 0) {
    fs::create_directories(base + "/load");
    WriteFile(base + "/load/train.sh", "#!/bin/sh\necho done\n", true);
    BackgroundLoad bg(t, base + "/load", f.load_rate);
    for (int i = 0; i < f.runs; ++i) {
      RunOnService(t, TrivialSpec("cold-loaded-" + std::to_string(i), src, 0.1), loaded,
                   loaded_state);
    }
    load = bg.Stop();
  }
  std::printf("### Cold start: submit -> first line of user code (%d runs, interleaved, %s)\n\n",
              f.runs, sandboxed ? "sandboxed with bubblewrap" : "unsandboxed");
  std::printf("load average before: %s, after: %s\n\n", load_before.c_str(), LoadAvg().c_str());
  std::printf(
      "| path | p50 ms | p95 ms | slurm/this p50 | slurm/this p95 |\n|---|---|---|---|---|\n");
  auto row = [&](const char* name, const std::vector<double>& v) {
    if (v.empty()) return;
    std::printf("| %s | %.1f | %.1f |", name, Pct(v, 0.5), Pct(v, 0.95));
    if (!sl.empty()) {
      std::printf(" %.0fx | %.0fx |\n", Pct(sl, 0.5) / Pct(v, 0.5), Pct(sl, 0.95) / Pct(v, 0.95));
    } else {
      std::printf(" - | - |\n");
    }
  };
  row("**tandem job service: Submit -> first line**", svc);
  row("tandem job service: Submit -> record started", svc_state);
  row("LocalSubstrate: Submit returns", st.submit_returns);
  row("LocalSubstrate: Submit -> exec (StartedMicros)", st.to_exec);
  row("LocalSubstrate: Submit -> first line", st.to_user);
  row("LocalSubstrate without warm sandboxes: Submit returns", ct.submit_returns);
  row("LocalSubstrate without warm sandboxes: Submit -> exec (StartedMicros)", ct.to_exec);
  row("LocalSubstrate without warm sandboxes: Submit -> first line", ct.to_user);
  row("LocalSubstrate unsandboxed: Submit -> first line", bt.to_user);
  row("LocalSubstrate, runner fork+exec'd without the launcher: Submit returns",
      dt.submit_returns);
  row("LocalSubstrate, runner fork+exec'd without the launcher: Submit -> first line", dt.to_user);
  row("Slurm: sbatch -> first line", sl);
  if (!loaded.empty()) {
    char what[160];
    std::snprintf(what, sizeof what,
                  "**tandem job service, while running %.1f trivial jobs/s: Submit -> first "
                  "line**",
                  load.first);
    row(what, loaded);
    row("tandem job service, same load: Submit -> record started", loaded_state);
    std::printf("\n(background jobs not completed: %d)\n", load.second);
  }
  if (auto* pool = dynamic_cast<local::LocalSubstrate*>(&sub)) {
    std::printf("\n(jobs started in a warm sandbox by the service's substrate: %lld)\n",
                static_cast<long long>(pool->warm_starts()));
  }
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  std::printf("(CPU-seconds of this process so far, the control plane's side: %.2f)\n",
              static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                  static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6);
  std::printf("\n");
  std::fflush(stdout);
}

void Throughput(const Flags& f, Tandem& t, Slurm& slurm) {
  const std::string base = t.home() + "/throughput";
  const std::string src = base + "/src";
  fs::create_directories(src);
  WriteFile(src + "/train.sh", "#!/bin/sh\necho done\n", true);
  const std::string load_before = LoadAvg();
  std::printf("### Throughput: %d trivial jobs (`echo done`) submitted at once -> all ended\n\n",
              f.jobs);
  std::printf("| system | concurrency | seconds | jobs/s | failed |\n|---|---|---|---|---|\n");
  for (double cpus : {0.1, 1.0}) {
    double t0 = SteadySeconds();
    std::vector<std::string> ids;
    for (int i = 0; i < f.jobs; ++i) {
      ids.push_back(t.Submit(TrivialSpec("tp-" + std::to_string(i), src, cpus)));
    }
    int failed = 0;
    for (const auto& id : ids) {
      jobs::JobRecord rec = t.Wait(id);
      if (rec.state == jobs::JobState::kCompleted) continue;
      ++failed;
      std::fprintf(stderr, "compute_bench: job %s ended %s (%s); its log:\n%s\n", id.c_str(),
                   std::string(jobs::JobStateName(rec.state)).c_str(), rec.failure_reason.c_str(),
                   t.Log(id).c_str());
    }
    double s = SteadySeconds() - t0;
    std::printf("| tandem job service, resources.cpus %.1f | %.0f | %.2f | %.1f | %d |\n", cpus,
                t.service().capacity_cpus() / cpus, s, f.jobs / s, failed);
    std::fflush(stdout);
  }
  if (slurm.enabled()) {
    const std::string script = base + "/slurm.sh";
    WriteFile(script, "#!/bin/sh\necho done\n", true);
    double t0 = SteadySeconds();
    std::vector<std::string> outs;
    for (int i = 0; i < f.jobs; ++i) {
      outs.push_back(base + "/slurm-" + std::to_string(i) + ".out");
      slurm.Submit(script, outs.back());
    }
    double submitted = SteadySeconds() - t0;
    slurm.WaitAll(outs);
    double s = SteadySeconds() - t0;
    int failed = 0;
    for (const auto& out : outs) failed += Slurp(out) != "done\n";
    std::printf(
        "| Slurm, sbatch --cpus-per-task=1 (submits took %.1f s) | %.0f | %.2f | %.1f | %d |\n",
        submitted, t.service().capacity_cpus(), s, f.jobs / s, failed);
  }
  std::printf("\nload average before: %s, after: %s\n\n", load_before.c_str(), LoadAvg().c_str());
  std::fflush(stdout);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--only")
      f.only = next();
    else if (a == "--runs")
      f.runs = std::atoi(next().c_str());
    else if (a == "--rounds")
      f.rounds = std::atoi(next().c_str());
    else if (a == "--num-round")
      f.num_round = std::atoi(next().c_str());
    else if (a == "--jobs")
      f.jobs = std::atoi(next().c_str());
    else if (a == "--load-rate")
      f.load_rate = std::atof(next().c_str());
    else if (a == "--slurm-conf")
      f.slurm_conf = next();
    else if (a == "--trainer")
      f.trainer = next();
    else if (a == "--examples")
      f.examples = next();
    else if (a == "--first-line")
      f.first_line = next();
    else if (a == "--dir")
      f.dir = next();
    else
      Die("unknown flag '" + a + "' (see the header of compute_bench.cc)");
  }
  if (f.only != "" && f.only != "cold-start" && f.only != "overhead" && f.only != "throughput")
    Die("--only must be cold-start, overhead or throughput, got '" + f.only + "'");
  if (f.runs < 1 || f.rounds < 1 || f.jobs < 1 || f.num_round < 1)
    Die("--runs, --rounds, --num-round and --jobs must be >= 1");
  if (f.first_line.empty()) {
    f.first_line =
        (fs::path(fs::read_symlink("/proc/self/exe")).parent_path() / "compute_bench_first_line")
            .string();
  }
  return f;
}

int Main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // a run cut short keeps what it printed
  Flags f = ParseFlags(argc, argv);
  const std::string home = f.dir + "/compute-bench-" + NewUlid(Clock::Real());
  std::printf("compute_bench: %ld CPUs, load average %s, home %s\n\n",
              sysconf(_SC_NPROCESSORS_ONLN), LoadAvg().c_str(), home.c_str());
  int rc = 0;
  {
    Tandem t(home);
    Slurm slurm(f.slurm_conf, home + "/slurm");
    if (f.only.empty() || f.only == "cold-start") {
      if (!fs::exists(f.first_line)) Die("first_line program not found: " + f.first_line);
      ColdStart(f, t, slurm);
    }
    if (f.only.empty() || f.only == "overhead") {
      if (f.trainer.empty() || !fs::exists(f.trainer)) {
        std::printf("### Overhead: skipped (tandem-train-xgboost not found: '%s')\n\n",
                    f.trainer.c_str());
      } else {
        Overhead(f, t);
      }
    }
    if (f.only.empty() || f.only == "throughput") Throughput(f, t, slurm);
  }
  std::error_code ec;
  fs::remove_all(home, ec);
  return rc;
}

}  // namespace
}  // namespace tandem::compute

int main(int argc, char** argv) { return tandem::compute::Main(argc, argv); }
