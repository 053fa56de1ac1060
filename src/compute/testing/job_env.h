// Test fixture for services built on the job service: the glue on a fresh
// home (compute/testing/glue_env.h) and a started JobService on the real
// local substrate (sandboxed when bubblewrap is present).
#pragma once

#include <memory>
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

  std::unique_ptr<jobs::JobService> jobs_;
};

}  // namespace tandem::compute::testing
