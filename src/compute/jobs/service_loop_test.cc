// The job service's loop has no fixed tick: it sleeps until an event (a
// submit, a worker's hand-back, a job's end reported by the substrate) or
// the earliest timer it computes (lease renewal, a running job's next log
// read, ...). With the real LocalSubstrate (which reports ends), SQLite and
// a file store; the loop's wake-ups are counted through
// JobService::loop_iterations().
#include <chrono>
#include <thread>

#include "compute/jobs/service.h"
#include "compute/testing/job_env.h"
#include "gtest/gtest.h"

namespace tandem::compute::jobs {
namespace {

class JobServiceLoopTest : public testing::ScriptJobTestEnv {
 protected:
  void SetUp() override {
    OpenGlue("/tmp/tandem-jobloop-");
    ASSERT_FALSE(HasFatalFailure());
  }

  // Options whose polls would never fire during a test: only events and the
  // loop's own timers can wake it.
  JobServiceOptions NoPolls() {
    JobServiceOptions opts = JobOptions(/*cpus=*/2, /*grace_seconds=*/1);
    opts.poll_interval_ms = 600'000;
    opts.safety_poll_ms = 600'000;
    opts.liveness_check_ms = 0;
    return opts;
  }
};

// Idle, the loop wakes for its timers only (here the 1-s safety poll and
// warm-pool expiry), not every poll_interval_ms: the loop this replaced woke
// every poll interval, 400 times in these 2 s.
TEST_F(JobServiceLoopTest, AnIdleServiceDoesNotTick) {
  JobServiceOptions opts = JobOptions(/*cpus=*/2, /*grace_seconds=*/1);
  opts.poll_interval_ms = 5;
  opts.safety_poll_ms = 1000;
  opts.liveness_check_ms = 0;
  StartJobs(std::move(opts));
  ASSERT_FALSE(HasFatalFailure());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the first passes
  const int64_t before = jobs_->loop_iterations();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int64_t woke = jobs_->loop_iterations() - before;
  EXPECT_LE(woke, 6) << "the idle loop woke " << woke << " times in 2 s";
}

// A submit wakes the loop (no poll would), and the job's end, reported by
// the substrate, is finalized at once.
TEST_F(JobServiceLoopTest, SubmitAndEndWakeTheLoopWithoutPolls) {
  StartJobs(NoPolls());
  ASSERT_FALSE(HasFatalFailure());
  auto s = jobs_->Submit(Spec("quick", Script("quick", "echo hi")));
  ASSERT_TRUE(s.ok()) << s.status();
  // Far below the 600-s polls: only the events can have moved it.
  auto done = jobs_->WaitFor(
      s->id, [](const JobRecord& r) { return IsTerminal(r.state); }, 60'000);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kCompleted) << done->failure_reason;
}

// The substrate ends a job at its max runtime; its report wakes the loop,
// which records MaxRuntimeExceeded without any poll.
TEST_F(JobServiceLoopTest, AJobPastItsMaxRuntimeEndsWithoutPolls) {
  StartJobs(NoPolls());
  ASSERT_FALSE(HasFatalFailure());
  JobSpec spec = Spec("slow", Script("slow", "sleep 60"));
  spec.max_runtime_seconds = 2;
  auto s = jobs_->Submit(spec);
  ASSERT_TRUE(s.ok()) << s.status();
  auto done = jobs_->WaitFor(
      s->id, [](const JobRecord& r) { return IsTerminal(r.state); }, 50'000);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, JobState::kFailed);
  EXPECT_NE(done->failure_reason.find("MaxRuntimeExceeded"), std::string::npos)
      << done->failure_reason;
}

// Timers the loop computes fire without a poll: a running job's log is read
// every metrics_interval_ms (its metric appears while it runs) and the
// leases are renewed every lease_ms / 3.
TEST_F(JobServiceLoopTest, TheLoopsOwnTimersFireWithoutPolls) {
  JobServiceOptions opts = NoPolls();
  opts.metrics_interval_ms = 100;
  opts.lease_ms = 1000;
  StartJobs(std::move(opts));
  ASSERT_FALSE(HasFatalFailure());
  JobSpec spec = Spec("metrics", Script("metrics", "echo loss=0.5\nsleep 30"));
  spec.metric_definitions.push_back({"loss", "loss=([0-9.]+)"});
  auto s = jobs_->Submit(spec);
  ASSERT_TRUE(s.ok()) << s.status();
  auto running = jobs_->WaitFor(
      s->id, [](const JobRecord& r) { return r.state == JobState::kRunning; }, 60'000);
  ASSERT_TRUE(running.ok()) << running.status();
  const int64_t lease0 = running->lease_expires_micros;
  bool seen = false;
  for (int i = 0; i < 300 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto m = jobs_->Metrics(s->id);
    ASSERT_TRUE(m.ok()) << m.status();
    seen = m->count("loss") > 0 && !m->at("loss").empty();
  }
  EXPECT_TRUE(seen) << "the running job's log was never read";
  auto renewed = jobs_->WaitFor(
      s->id, [&](const JobRecord& r) { return r.lease_expires_micros > lease0; }, 30'000);
  EXPECT_TRUE(renewed.ok()) << "the lease was never renewed: " << renewed.status();
  ASSERT_TRUE(jobs_->Stop(s->id).ok());
  auto stopped = jobs_->WaitFor(
      s->id, [](const JobRecord& r) { return IsTerminal(r.state); }, 60'000);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(stopped->state, JobState::kStopped);
}

// Submit launches a job itself when there is room and nothing queued; a job
// that must wait for room is not overtaken by a later, smaller one that
// would fit (strict FIFO, as the loop schedules), and capacity holds.
TEST_F(JobServiceLoopTest, SubmitsWithRoomLaunchAtOnceButNeverOvertakeAQueuedJob) {
  StartJobs(NoPolls());
  ASSERT_FALSE(HasFatalFailure());
  std::string src = Script("fifo", "sleep 1");
  JobSpec a = Spec("a", src), b = Spec("b", src), c = Spec("c", src);
  a.resources.cpus = 1.5;  // of 2
  b.resources.cpus = 1;    // must wait for a
  c.resources.cpus = 0.5;  // would fit beside a, but b is queued first
  auto sa = jobs_->Submit(a);
  ASSERT_TRUE(sa.ok()) << sa.status();
  auto ra = jobs_->WaitFor(
      sa->id, [](const JobRecord& r) { return r.state == JobState::kRunning; }, 60'000);
  ASSERT_TRUE(ra.ok()) << ra.status();
  auto sb = jobs_->Submit(b);
  ASSERT_TRUE(sb.ok()) << sb.status();
  auto sc = jobs_->Submit(c);
  ASSERT_TRUE(sc.ok()) << sc.status();
  auto done = [](const JobRecord& r) { return IsTerminal(r.state); };
  auto da = jobs_->WaitFor(sa->id, done, 60'000);
  auto db = jobs_->WaitFor(sb->id, done, 60'000);
  auto dc = jobs_->WaitFor(sc->id, done, 60'000);
  ASSERT_TRUE(da.ok() && db.ok() && dc.ok());
  EXPECT_EQ(db->state, JobState::kCompleted) << db->failure_reason;
  EXPECT_EQ(dc->state, JobState::kCompleted) << dc->failure_reason;
  // Both waited for a's end (its record is written before its room is
  // freed); c, had it overtaken b, would have run beside a.
  EXPECT_GE(db->started_micros, da->ended_micros);
  EXPECT_GE(dc->started_micros, da->ended_micros) << "c overtook the queued b";
  // Then, with nothing queued and room, a submit launches at once again.
  auto sd = jobs_->Submit(Spec("d", Script("d", "echo d")));
  ASSERT_TRUE(sd.ok()) << sd.status();
  auto dd = jobs_->WaitFor(sd->id, done, 60'000);
  ASSERT_TRUE(dd.ok()) << dd.status();
  EXPECT_EQ(dd->state, JobState::kCompleted) << dd->failure_reason;
}

}  // namespace
}  // namespace tandem::compute::jobs
