// Test fixtures for services built on the job service: the glue on a fresh
// home (compute/testing/glue_env.h) and a started JobService on the real
// local substrate (sandboxed when bubblewrap is present); for the job
// service's own tests, jobs running a script from a source dir.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "compute/jobs/service.h"
#include "compute/substrates/local/substrate.h"
#include "compute/testing/glue_env.h"
#include "gtest/gtest.h"

namespace tandem::compute::testing {

class JobServiceTestEnv : public GlueTestEnv {
 protected:
  // Options for a job service on this glue and a local substrate of `cpus`
  // CPUs that gives a stopped job `grace_seconds` before SIGKILL; the test
  // may adjust them before StartJobs. ASSERTs (check HasFatalFailure()).
  // With `warm_dir`, the substrate keeps one warm sandbox there.
  jobs::JobServiceOptions JobOptions(double cpus, int grace_seconds,
                                     const std::string& warm_dir = "") {
    jobs::JobServiceOptions opts;
    local::LocalSubstrateOptions lopts;
    lopts.capacity_cpus = cpus;
    lopts.grace_seconds = grace_seconds;
    lopts.warm_dir = warm_dir;
    lopts.warm_sandboxes = 1;
    auto substrate = local::LocalSubstrate::Create(lopts);
    EXPECT_TRUE(substrate.ok()) << substrate.status();
    if (!substrate.ok()) return opts;
    opts.home = home_;
    opts.db = db_.get();
    opts.outbox = bus_->outbox();
    opts.store = store_.get();
    opts.registry = registry_.get();
    opts.substrate = *std::move(substrate);
    return opts;
  }

  // Opens jobs_ with `opts`, recovers and starts it. ASSERTs.
  void StartJobs(jobs::JobServiceOptions opts) {
    ASSERT_NE(opts.substrate, nullptr) << "no substrate (see the failure above)";
    auto svc = jobs::JobService::Open(std::move(opts));
    ASSERT_TRUE(svc.ok()) << svc.status();
    jobs_ = *std::move(svc);
    ASSERT_TRUE(jobs_->Recover().ok());
    jobs_->Start();
  }

  // Stops the job service before its home goes.
  void TearDown() override {
    jobs_.reset();
    RemoveHome();
  }

  // Submits `spec` and waits (up to 60 s) for its end; the ended record, or
  // an empty one after a failed EXPECT.
  jobs::JobRecord RunToEnd(const jobs::JobSpec& spec) {
    auto submitted = jobs_->Submit(spec);
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    if (!submitted.ok()) return {};
    auto done = jobs_->WaitFor(
        submitted->id, [](const jobs::JobRecord& r) { return IsTerminal(r.state); }, 60'000);
    EXPECT_TRUE(done.ok()) << done.status();
    return done.ok() ? *done : jobs::JobRecord{};
  }

  std::unique_ptr<jobs::JobService> jobs_;
};

// The job service's own tests: jobs whose source is a dir of the home with
// an executable `train.sh`.
class ScriptJobTestEnv : public JobServiceTestEnv {
 protected:
  // A source dir `dir_name` of the home with an executable `train.sh`
  // running `body` (under `set -e`); its path.
  std::string Script(const std::string& dir_name, const std::string& body) {
    std::string dir = home_ + "/" + dir_name;
    std::filesystem::create_directories(dir);
    WriteExecutable(dir + "/train.sh", "#!/bin/sh\nset -e\n" + body + "\n");
    return dir;
  }

  // A job `name` of team growth running `train.sh` from `source_dir` on one
  // CPU for at most 120 s.
  static jobs::JobSpec Spec(const std::string& name, const std::string& source_dir) {
    jobs::JobSpec spec;
    spec.name = name;
    spec.team = "growth";
    spec.entry_point = "train.sh";
    spec.source_dir = source_dir;
    spec.resources.cpus = 1;
    spec.max_runtime_seconds = 120;
    return spec;
  }
};

}  // namespace tandem::compute::testing
