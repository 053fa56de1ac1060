// Learns when processes that are not our children exit, without polling: one
// thread waits (epoll) on a pidfd per watched process and calls `on_exit`
// after any of them is gone. The local substrate watches each job's
// tandem-job-runner with it (the runner writes result.json, then exits), so
// the job service finalizes a job as soon as it ends instead of on its next
// poll.
//
// Thread-safety: all methods are thread-safe; `on_exit` runs on the
// watcher's thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace tandem::compute::local {

class ExitWatcher {
 public:
  // Internal error if the kernel lacks epoll/eventfd/pidfd (Linux >= 5.3).
  static StatusOr<std::unique_ptr<ExitWatcher>> Create(std::function<void()> on_exit);
  ~ExitWatcher();  // stops the thread; on_exit is not called afterwards
  ExitWatcher(const ExitWatcher&) = delete;
  ExitWatcher& operator=(const ExitWatcher&) = delete;

  // Watches process `pid` if it is still the one that started at
  // `start_ticks` (/proc/<pid>/stat field 22); `key` names it, and a key
  // already watched is not watched twice. False if the process is gone (or
  // cannot be watched): the caller should look at it now rather than wait.
  bool Watch(const std::string& key, int pid, uint64_t start_ticks);

  // How many processes are watched now.
  size_t watching() const;
  // Whether `key` is watched: its process had not exited when last seen (a
  // key is dropped before on_exit is called for its exit).
  bool Watching(const std::string& key) const;

 private:
  ExitWatcher(std::function<void()> on_exit, int epoll_fd, int stop_fd);
  void Run();

  const std::function<void()> on_exit_;
  const int epoll_fd_;
  const int stop_fd_;  // an eventfd: written by the destructor
  mutable absl::Mutex mu_;
  std::set<std::string> keys_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::string> by_fd_ ABSL_GUARDED_BY(mu_);  // pidfd -> key
  std::thread thread_;
};

}  // namespace tandem::compute::local
