// compute_bench --only overhead: see compute_bench.cc's header.
#include "overhead.h"

namespace tandem::compute {

void Overhead(const Flags& f, Tandem& t) {
  const std::string example = fs::absolute(f.examples + "/xgboost-native").string();
  const std::string data = fs::absolute(f.examples + "/data").string();
  const std::string trainer = fs::absolute(f.trainer).string();
  auto parsed = jobs::JobSpec::Parse(Slurp(example + "/job.yaml"));
  if (!parsed.ok()) Die("job.yaml: " + parsed.status().ToString());
  jobs::JobSpec spec = *parsed;
  spec.source_dir = example;
  spec.inputs = {{"train", data + "/train.csv"}, {"validation", data + "/validation.csv"}};
  spec.environment["TANDEM_TRAIN_XGBOOST"] = trainer;
  spec.hyperparameters["nthread"] = 1;
  spec.hyperparameters["num_round"] = f.num_round;
  spec.hyperparameters.erase("early_stopping_rounds");  // every round runs: a fixed-length job

  // The direct run: a hand-made /opt/ml tree like examples/run_standalone.sh.
  const std::string ml = t.home() + "/standalone";
  for (const char* d : {"input/config", "input/data/train", "input/data/validation", "code"})
    fs::create_directories(ml + "/" + d);
  fs::copy_file(data + "/train.csv", ml + "/input/data/train/train.csv");
  fs::copy_file(data + "/validation.csv", ml + "/input/data/validation/validation.csv");
  Json hps = Json::object();
  std::vector<std::string> argv = {trainer};
  for (const auto& [k, v] : spec.hyperparameters) {
    std::string s = v.is_string() ? v.get<std::string>() : v.dump();
    hps[k] = s;
    argv.push_back("--" + k);
    argv.push_back(s);
  }
  WriteFile(ml + "/input/config/hyperparameters.json", hps.dump());
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin",
                                  "SM_MODEL_DIR=" + ml + "/model",
                                  "SM_OUTPUT_DIR=" + ml + "/output",
                                  "SM_OUTPUT_DATA_DIR=" + ml + "/output/data",
                                  "SM_INPUT_DIR=" + ml + "/input",
                                  "SM_INPUT_CONFIG_DIR=" + ml + "/input/config",
                                  "SM_CHANNELS=[\"train\",\"validation\"]",
                                  "SM_CHANNEL_TRAIN=" + ml + "/input/data/train",
                                  "SM_CHANNEL_VALIDATION=" + ml + "/input/data/validation",
                                  "SM_HPS=" + hps.dump(),
                                  "SM_NUM_CPUS=1",
                                  "SM_NUM_GPUS=0",
                                  "SM_CURRENT_HOST=algo-1",
                                  "SM_HOSTS=[\"algo-1\"]",
                                  "SM_MODULE_DIR=" + ml + "/code",
                                  "TRAINING_JOB_NAME=standalone",
                                  "OMP_NUM_THREADS=1"};

  std::vector<double> d_wall, d_cpu, j_wall, j_metered_wall, j_cpu, cp_cpu;
  // Per job, ms per step of Submit -> Completed seen here (the job's record:
  // details.launch_us and the attempt's finalize_us), in order of first sight.
  std::vector<std::string> step_names;
  std::map<std::string, std::vector<double>> steps;
  auto add_step = [&](const std::string& name, double ms) {
    if (steps.find(name) == steps.end()) step_names.push_back(name);
    steps[name].push_back(ms);
  };
  auto* local_sub = dynamic_cast<local::LocalSubstrate*>(&t.service().substrate());
  const int64_t warm_before = local_sub != nullptr ? local_sub->warm_starts() : 0;
  const std::string load_before = LoadAvg();
  const double self_cpu0 = SelfCpuSeconds(), child_cpu0 = ChildrenCpuSeconds();
  // This process's CPU over the counted rounds: the control plane's, whenever
  // it ran (work done after a job's Completed lands in the next direct run's
  // window, which cp_cpu does not see), plus the bench's forks of direct runs.
  double counted_cpu0 = 0;
  // Round 0 warms the page cache and both paths; it is not counted.
  for (int i = 0; i <= f.rounds; ++i) {
    fs::remove_all(ml + "/model");
    fs::remove_all(ml + "/output");
    fs::create_directories(ml + "/model");
    fs::create_directories(ml + "/output/data");
    ChildResult r = Run(argv, env, ml + "/code");
    if (r.status != 0) Die("direct trainer run failed (status " + std::to_string(r.status) + ")");
    d_wall.push_back(r.wall_seconds);
    d_cpu.push_back(r.cpu_seconds);

    spec.name = "overhead-" + std::to_string(i);
    double cpu0 = SelfCpuSeconds();
    double t0 = SteadySeconds();
    const int64_t submit_us = WallNs() / 1000;
    std::string id = t.Submit(spec);
    jobs::JobRecord rec = t.Wait(id);
    j_wall.push_back(SteadySeconds() - t0);
    const int64_t seen_us = WallNs() / 1000;
    cp_cpu.push_back(SelfCpuSeconds() - cpu0);
    if (rec.state != jobs::JobState::kCompleted) Die("training job failed: " + rec.failure_reason);
    j_metered_wall.push_back(rec.metering.wall_seconds);
    j_cpu.push_back(rec.metering.cpu_seconds);
    if (i > 0) {
      add_step("submit: validation", (rec.queued_micros - submit_us) / 1e3);
      const Json launch = rec.details.value("launch_us", Json::object());
      for (const auto& [k, v] : launch.items()) add_step("launch: " + k, v.get<double>() / 1e3);
      add_step("job (runner-metered wall)", 1e3 * rec.metering.wall_seconds);
      const Json end = rec.details["attempts"].back().value("finalize_us", Json::object());
      for (const auto& [k, v] : end.items()) add_step("end: " + k, v.get<double>() / 1e3);
      add_step("end: record, cleanup, waiter woken", (seen_us - rec.ended_micros) / 1e3);
    }
    if (i == 0) {
      for (auto* v : {&d_wall, &d_cpu, &j_wall, &j_metered_wall, &j_cpu, &cp_cpu}) v->clear();
      counted_cpu0 = SelfCpuSeconds();
    }
  }
  // Per pair (a direct run and the job right after it, so both saw about the
  // same machine): the job's excess over the direct run; the median of those
  // is the figure, robust to load drifting during the run.
  auto pct = [](double job, double direct) { return 100.0 * (job - direct) / direct; };
  std::vector<double> r_wall, r_metered, r_cpu, r_cpu_cp;
  for (size_t i = 0; i < d_wall.size(); ++i) {
    r_wall.push_back(pct(j_wall[i], d_wall[i]));
    r_metered.push_back(pct(j_metered_wall[i], d_wall[i]));
    r_cpu.push_back(pct(j_cpu[i], d_cpu[i]));
    r_cpu_cp.push_back(pct(j_cpu[i] + cp_cpu[i], d_cpu[i]));
  }
  double dw = Pct(d_wall, 0.5), dc = Pct(d_cpu, 0.5);
  std::printf(
      "### Overhead: tandem-train-xgboost, %d boosting rounds, nthread=1 (%d pairs direct, job; "
      "medians)\n\n",
      f.num_round, f.rounds);
  std::printf("load average before: %s, after: %s\n\n", load_before.c_str(), LoadAvg().c_str());
  std::printf(
      "| measure | direct | as a job | overhead (median of pairs) | pairs p25..p75 | of "
      "medians |\n|---|---|---|---|---|---|\n");
  auto row = [&](const char* what, double direct, const std::vector<double>& job,
                 const std::vector<double>& ratios) {
    std::printf("| %s | %.3f | %.3f | %+.1f%% | %+.1f .. %+.1f%% | %+.1f%% |\n", what, direct,
                Pct(job, 0.5), Pct(ratios, 0.5), Pct(ratios, 0.25), Pct(ratios, 0.75),
                pct(Pct(job, 0.5), direct));
  };
  row("wall s (direct: fork->exit; job: Submit->Completed)", dw, j_wall, r_wall);
  row("wall s (job: runner-metered process tree)", dw, j_metered_wall, r_metered);
  row("CPU s (user code: rusage / metered tree)", dc, j_cpu, r_cpu);
  std::vector<double> j_cpu_cp;
  for (size_t i = 0; i < j_cpu.size(); ++i) j_cpu_cp.push_back(j_cpu[i] + cp_cpu[i]);
  row("CPU s (+ control plane in-process)", dc, j_cpu_cp, r_cpu_cp);
  std::vector<double> tail;  // the metered tree's end -> Completed seen here
  for (size_t i = 0; i < j_wall.size(); ++i) tail.push_back(1000 * (j_wall[i] - j_metered_wall[i]));
  std::printf(
      "\njob wall outside the metered tree (Submit->launch + end->Completed), ms: p50 %.1f, p25 "
      "%.1f, p75 %.1f; control plane CPU per job, ms: p50 %.1f\n",
      Pct(tail, 0.5), Pct(tail, 0.25), Pct(tail, 0.75), 1000 * Pct(cp_cpu, 0.5));
  std::printf(
      "control plane CPU per job over the whole counted rounds (incl. work after Completed and "
      "the bench's forks), ms: mean %.1f\n",
      1000 * (SelfCpuSeconds() - counted_cpu0) / std::max(1, f.rounds));
  std::printf("CPU-seconds used by this section: %.2f in-process + %.2f children (direct runs)\n\n",
              SelfCpuSeconds() - self_cpu0, ChildrenCpuSeconds() - child_cpu0);
  // Where a job's wall went, step by step (medians over the jobs; "launch:"
  // from the record's launch_us, "end:" from its attempt's finalize_us; what
  // is not listed: Running recorded -> user code's exec, and rounding).
  std::printf("| step of Submit -> Completed (per job) | p50 ms | p25 | p75 |\n|---|---|---|---|\n");
  for (const auto& name : step_names) {
    const auto& v = steps[name];
    std::printf("| %s | %.1f | %.1f | %.1f |\n", name.c_str(), Pct(v, 0.5), Pct(v, 0.25),
                Pct(v, 0.75));
  }
  std::printf("\n");
  if (local_sub != nullptr) {
    std::printf("(of these %d jobs, started in a warm sandbox: %lld)\n\n", f.rounds + 1,
                static_cast<long long>(local_sub->warm_starts() - warm_before));
  }
  std::fflush(stdout);
}

}  // namespace tandem::compute
