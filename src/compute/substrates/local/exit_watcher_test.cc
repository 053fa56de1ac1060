#include "compute/substrates/local/exit_watcher.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>

#include "absl/synchronization/mutex.h"
#include "compute/substrates/runner/proc_stats.h"
#include "gtest/gtest.h"

namespace tandem::compute::local {
namespace {

// A child blocked reading a pipe: it exits when the pipe's write end closes.
struct Child {
  pid_t pid = -1;
  int release_fd = -1;
  uint64_t start_ticks = 0;
};

Child StartChild() {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  Child c;
  c.pid = fork();
  if (c.pid == 0) {
    // Keep only the read end: another child's release end must not stay open here.
    int keep = fds[0];
    if (keep > 3) close_range(3, static_cast<unsigned>(keep) - 1, 0);
    close_range(static_cast<unsigned>(keep) + 1, ~0U, 0);
    char b;
    ssize_t n = read(fds[0], &b, 1);
    _exit(n == 0 ? 0 : 1);
  }
  close(fds[0]);
  c.release_fd = fds[1];
  auto st = runner::ReadProcStat(c.pid);
  EXPECT_TRUE(st.has_value());
  if (st) c.start_ticks = st->start_ticks;
  return c;
}

class Calls {
 public:
  void Add() {
    absl::MutexLock lock(&mu_);
    ++n_;
  }
  // Waits (on the condition, generous deadline) until at least `n` calls.
  bool WaitFor(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return n_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(30));
  }
  int count() {
    absl::MutexLock lock(&mu_);
    return n_;
  }

 private:
  absl::Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(ExitWatcherTest, CallsBackWhenAWatchedProcessExits) {
  Calls calls;
  auto w = ExitWatcher::Create([&] { calls.Add(); });
  ASSERT_TRUE(w.ok()) << w.status();
  Child a = StartChild(), b = StartChild();
  ASSERT_TRUE((*w)->Watch("a", a.pid, a.start_ticks));
  ASSERT_TRUE((*w)->Watch("b", b.pid, b.start_ticks));
  EXPECT_TRUE((*w)->Watch("a", a.pid, a.start_ticks));  // same key: not twice
  EXPECT_EQ((*w)->watching(), 2u);
  EXPECT_TRUE((*w)->Watching("a"));
  EXPECT_FALSE((*w)->Watching("c"));
  EXPECT_EQ(calls.count(), 0);

  close(a.release_fd);
  ASSERT_TRUE(calls.WaitFor(1));
  // Dropped before the call: whoever the call wakes sees it gone.
  EXPECT_FALSE((*w)->Watching("a"));
  EXPECT_TRUE((*w)->Watching("b"));
  int status = 0;
  ASSERT_EQ(waitpid(a.pid, &status, 0), a.pid);
  EXPECT_EQ((*w)->watching(), 1u);

  close(b.release_fd);
  ASSERT_TRUE(calls.WaitFor(2));
  ASSERT_EQ(waitpid(b.pid, &status, 0), b.pid);
  EXPECT_EQ((*w)->watching(), 0u);
}

TEST(ExitWatcherTest, RefusesAGoneOrDifferentProcess) {
  Calls calls;
  auto w = ExitWatcher::Create([&] { calls.Add(); });
  ASSERT_TRUE(w.ok()) << w.status();
  Child c = StartChild();
  // A different start time: the pid now names another process.
  EXPECT_FALSE((*w)->Watch("other", c.pid, c.start_ticks + 1));
  close(c.release_fd);
  int status = 0;
  ASSERT_EQ(waitpid(c.pid, &status, 0), c.pid);
  EXPECT_FALSE((*w)->Watch("gone", c.pid, c.start_ticks));
  EXPECT_EQ((*w)->watching(), 0u);
  EXPECT_EQ(calls.count(), 0);
}

TEST(ExitWatcherTest, DestroyingItWithWatchedProcessesIsClean) {
  Calls calls;
  Child c = StartChild();
  {
    auto w = ExitWatcher::Create([&] { calls.Add(); });
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Watch("c", c.pid, c.start_ticks));
  }
  close(c.release_fd);
  int status = 0;
  ASSERT_EQ(waitpid(c.pid, &status, 0), c.pid);
  EXPECT_EQ(calls.count(), 0);
}

}  // namespace
}  // namespace tandem::compute::local
