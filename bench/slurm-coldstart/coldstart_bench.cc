// slurm_coldstart_bench: the Slurm substrate vs the local substrate on the
// same trivial job, interleaved run by run, in one process.
//
//   cold start   Submit() called -> user code started (the runner's `started`
//                marker, Substrate::StartedMicros)
//   first line   Submit() called -> the job's first output line, a
//                CLOCK_REALTIME timestamp printed by `date +%s%N`
//   end to end   Submit() called -> Poll() reports the end (polled every 10 ms)
//
// Both substrates run the same tandem-job-runner, unsandboxed (the node of
// a single-node cluster is this machine). Medians and p95 over --runs.
//
// Usage: slurm_coldstart_bench --slurm-conf PATH [--runs 20] [--dir DIR]
//   DIR must be visible to slurmd's jobs (default: /var/tmp).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/job_timing.h"
#include "compute/substrates/local/substrate.h"
#include "compute/substrates/slurm/substrate.h"

namespace tandem::compute {
namespace {

namespace fs = std::filesystem;

struct Sample {
  double cold_ms = 0, first_line_ms = 0, end_ms = 0;
};

using bench::Percentile;

int64_t FirstLineMicros(const std::string& log) {
  std::ifstream in(log);
  std::string line;
  if (!std::getline(in, line)) return 0;
  return std::strtoll(line.c_str(), nullptr, 10) / 1000;
}

StatusOr<Sample> RunOnce(jobs::Substrate& s, const std::string& root, const std::string& id) {
  std::string dir = root + "/" + id;
  fs::create_directories(dir + "/ml/code");
  jobs::LaunchRequest r;
  r.job_id = id;
  r.job_dir = dir + "/ml";
  r.log_path = dir + "/job.log";
  r.argv = {"/bin/sh", "-c", "date +%s%N"};
  r.env = {{"PATH", "/usr/bin:/bin"}};
  r.working_dir = dir + "/ml/code";
  r.max_runtime_seconds = 600;
  ASSIGN_OR_RETURN(bench::JobTiming t, bench::TimeJob(s, r, 10'000));
  double first_line_ms = static_cast<double>(FirstLineMicros(r.log_path) - t.submit_micros) / 1000;
  return Sample{t.cold_ms, first_line_ms, t.end_ms};
}

int Main(int argc, char** argv) {
  std::string conf, root = "/var/tmp";
  int runs = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--slurm-conf")
      conf = argv[i + 1];
    else if (a == "--runs")
      runs = std::atoi(argv[i + 1]);
    else if (a == "--dir")
      root = argv[i + 1];
  }
  if (conf.empty() || runs < 1) {
    std::fprintf(stderr, "usage: slurm_coldstart_bench --slurm-conf PATH [--runs N] [--dir DIR]\n");
    return 2;
  }
  root += "/tandem-slurm-coldstart-" + NewUlid(Clock::Real());
  fs::create_directories(root);
  local::LocalSubstrateOptions lo;
  lo.sandbox = local::LocalSubstrateOptions::Sandbox::kOff;
  auto local = local::LocalSubstrate::Create(lo);
  slurm::SlurmSubstrateOptions so;
  so.slurm_conf = conf;
  so.sandbox = slurm::SlurmSubstrateOptions::Sandbox::kOff;
  so.query_interval_ms = 1000;
  auto slurm = slurm::SlurmSubstrate::Create(so);
  if (!local.ok() || !slurm.ok()) {
    std::fprintf(stderr, "cannot create substrates: %s / %s\n",
                 std::string(local.status().message()).c_str(),
                 std::string(slurm.status().message()).c_str());
    return 1;
  }
  std::vector<Sample> ls, ss;
  for (int i = 0; i < runs; ++i) {
    auto a = RunOnce(**local, root, "local-" + std::to_string(i));
    auto b = RunOnce(**slurm, root, "slurm-" + std::to_string(i));
    if (!a.ok() || !b.ok()) {
      std::fprintf(stderr, "run %d failed: %s %s\n", i, std::string(a.status().message()).c_str(),
                   std::string(b.status().message()).c_str());
      return 1;
    }
    ls.push_back(*a);
    ss.push_back(*b);
    std::fprintf(stderr, "run %d: local %.1f/%.1f ms, slurm %.1f/%.1f ms (cold/end)\n", i,
                 a->cold_ms, a->end_ms, b->cold_ms, b->end_ms);
  }
  auto column = [](const std::vector<Sample>& v, double Sample::*f) {
    std::vector<double> out;
    for (const auto& s : v) out.push_back(s.*f);
    return out;
  };
  std::printf(
      "| %d runs interleaved | local p50 ms | local p95 ms | Slurm p50 ms | Slurm p95 ms "
      "| Slurm/local p50 |\n|---|---|---|---|---|---|\n",
      runs);
  struct Row {
    const char* name;
    double Sample::*field;
  };
  for (Row row : {Row{"cold start (Submit -> user code started)", &Sample::cold_ms},
                  Row{"Submit -> first output line", &Sample::first_line_ms},
                  Row{"end to end (Submit -> end seen by Poll)", &Sample::end_ms}}) {
    auto l = column(ls, row.field), s = column(ss, row.field);
    double lp50 = Percentile(l, 0.5), sp50 = Percentile(s, 0.5);
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.0fx |\n", row.name, lp50, Percentile(l, 0.95),
                sp50, Percentile(s, 0.95), lp50 > 0 ? sp50 / lp50 : 0);
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}

}  // namespace
}  // namespace tandem::compute

int main(int argc, char** argv) { return tandem::compute::Main(argc, argv); }
