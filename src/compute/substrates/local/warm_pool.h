// A pool of warm sandboxes (runner/warm.h) for the local substrate: a
// background thread keeps `size` of them started through the substrate's
// pre-forked launcher, each on its own fresh, empty slot directory under
// <dir>/<pool id>/ (pool id = the control plane's pid and start time).
// Submit takes one, stages the attempt into its slot and sends it the
// attempt: the job starts without waiting for bubblewrap. A pool that is
// empty, a warm sandbox that died and a slot that cannot be staged all leave
// the attempt to the normal launch; nothing of the job ran in a warm sandbox
// then.
//
// Staging (WarmSandbox::Stage): the job directory's entries are renamed into
// the slot, then the slot is renamed over the (now empty) job directory. The
// sandbox's /opt/ml is bound to the slot directory itself, so from then on
// it is the job's directory, under the job directory's path. The slot dir is
// therefore never reused: it becomes that one job's directory. An intent
// file (<slot>.dest, naming the job directory) is written first, so that a
// control plane killed between the two renames does not lose staged files:
// RecoverDeadPools (run when a pool starts) moves them back.
//
// Input channels: a slot is made with an empty input/data, which the
// sandbox binds read-only at /opt/ml/input/data before any job exists (as a
// sandbox started for a job binds the job's input/data). Staging renames the
// job's input/data/<channel> entries into it from outside (a bind shows the
// bound directory's later entries) and the rest of input/ into the slot's
// input/, so the job reads its channels there and cannot write, remove or
// rename them (they may be hard links to the store's blobs). A job without
// an input/ gets the slot's empty input/data.
//
// Thread-safety: WarmPool's methods are thread-safe; a WarmSandbox belongs
// to the one caller that took it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "compute/substrates/runner/warm.h"

namespace tandem::compute::runner {
class Launcher;
}  // namespace tandem::compute::runner

namespace tandem::compute::local {

// One ready warm sandbox, for one job attempt.
class WarmSandbox {
 public:
  WarmSandbox(int socket_fd, std::string slot) : fd_(socket_fd), slot_(std::move(slot)) {}
  // Closes the socket: a warm runner that got no job ends its sandbox and
  // removes its (empty) slot.
  ~WarmSandbox();
  WarmSandbox(const WarmSandbox&) = delete;
  WarmSandbox& operator=(const WarmSandbox&) = delete;

  // Makes `job_dir` (an existing directory on the slot's filesystem) the
  // sandbox's slot, keeping its entries and path, its input channels in the
  // read-only input/data. On failure nothing moved (the entries are put
  // back) and the sandbox must not be used.
  Status Stage(const std::string& job_dir);

  enum class Outcome {
    kStarted,       // the attempt's runner is ready
    kNotRun,        // nothing of the attempt ran (refused, or the sandbox died): start it another way
    kRunnerFailed,  // the runner took the attempt but could not start it; see `error`
  };
  // Hands the attempt of `state_dir` (its request written, its job_dir
  // staged) to the warm runner and waits until it is ready or has failed.
  Outcome Run(const std::string& state_dir, std::string* error);

  const std::string& slot() const { return slot_; }

 private:
  friend class WarmPool;
  const int fd_;
  const std::string slot_;
};

struct WarmPoolOptions {
  std::string dir;  // on the job directories' filesystem
  int size = 2;     // warm sandboxes kept ready
  runner::WarmSpec spec;  // all but slot_dir
};

class WarmPool {
 public:
  // The launcher to use; after `dead` (one that could not be reached) it is
  // replaced by a new one.
  using LauncherFn =
      std::function<std::shared_ptr<runner::Launcher>(const runner::Launcher* dead)>;
  // Creates <dir>/<pool id>, recovers dead pools' leftovers and starts the
  // thread. InvalidArgument for a relative dir or a size < 1.
  static StatusOr<std::unique_ptr<WarmPool>> Start(WarmPoolOptions options, LauncherFn launcher);
  // Ends the unused warm sandboxes and removes this pool's directory.
  ~WarmPool();
  WarmPool(const WarmPool&) = delete;
  WarmPool& operator=(const WarmPool&) = delete;

  // A ready warm sandbox, or null when none is (the pool refills meanwhile).
  std::unique_ptr<WarmSandbox> Take();
  // How many are ready now; whether the pool gave up (failures in a row).
  int ready();
  bool disabled();
  // For tests: no refilling while paused.
  void PauseForTest(bool paused);
  // Leftovers of pools under `dir` whose control plane is gone: staged
  // entries are moved back into their job directory, the rest removed.
  static void RecoverDeadPools(const std::string& dir);

 private:
  struct Starting {
    int fd;
    std::string slot;
  };
  WarmPool(WarmPoolOptions options, LauncherFn launcher, std::string pool_dir, int wake_fd);
  void Loop();
  // Starts one warm runner: a fresh slot, a socket pair, the launcher's
  // "warm" message. False (and the reason logged) if it could not.
  bool StartOne(std::vector<Starting>* starting);
  void Failed(const std::string& why);
  void Wake();

  const WarmPoolOptions options_;
  const LauncherFn launcher_;
  const std::string pool_dir_;
  const int wake_fd_;  // eventfd: a sandbox was taken, or stop
  uint64_t next_slot_ = 0;  // only the loop thread names slots
  absl::Mutex mu_;
  std::deque<std::unique_ptr<WarmSandbox>> ready_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool disabled_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  int failures_in_a_row_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace tandem::compute::local
