#include "compute/substrates/local/warm_pool.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/log.h"
#include "common/spread_directory.h"
#include "compute/substrates/runner/launch.h"
#include "compute/substrates/runner/launcher.h"
#include "compute/substrates/runner/proc_stats.h"
#include "compute/substrates/runner/protocol.h"

namespace tandem::compute::local {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxFailuresInARow = 3;
constexpr int kRefillDelayMs = 15;
constexpr char kIntentSuffix[] = ".dest";
// A slot is made with an empty input/data, which its sandbox binds
// read-only at /opt/ml/input/data: staging moves a job's input channels into
// it, and the job sees them there and cannot change them.
constexpr char kSlotInput[] = "input";
constexpr char kSlotData[] = "data";

// errno, 0 when made.
int MakeSlot(const std::string& slot) {
  for (const std::string& d :
       {slot, slot + "/" + kSlotInput, slot + "/" + kSlotInput + "/" + kSlotData}) {
    if (mkdir(d.c_str(), 0755) != 0) {
      int err = errno;
      rmdir((slot + "/" + kSlotInput).c_str());
      rmdir(slot.c_str());
      return err;
    }
  }
  return 0;
}

// Removes a slot if it is still as made (empty but for input/data).
void RemoveSlot(const std::string& slot) {
  rmdir((slot + "/" + kSlotInput + "/" + kSlotData).c_str());
  rmdir((slot + "/" + kSlotInput).c_str());
  rmdir(slot.c_str());
}

// The entries of directory `dir` (no . and ..); false if unreadable.
bool ListDir(const std::string& dir, std::vector<std::string>* names) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names->push_back(std::move(n));
  }
  closedir(d);
  return true;
}

// Moves every entry of `from` into `to`; where `to` already has a directory
// of that name, into it, recursively (what a dead control plane's slot puts
// back). False if something could not move (it stays where it is).
bool MergeBack(const std::string& from, const std::string& to, std::string* error) {
  std::vector<std::string> names;
  if (!ListDir(from, &names)) return true;
  bool ok = true;
  for (const std::string& n : names) {
    const std::string src = from + "/" + n, dst = to + "/" + n;
    struct stat s, d;
    if (lstat(dst.c_str(), &d) != 0) {
      if (::rename(src.c_str(), dst.c_str()) != 0) {
        *error = src + ": " + std::strerror(errno);
        ok = false;
      }
    } else if (S_ISDIR(d.st_mode) && lstat(src.c_str(), &s) == 0 && S_ISDIR(s.st_mode)) {
      ok = MergeBack(src, dst, error) && ok;
    } else {
      *error = dst + " exists";
      ok = false;
    }
  }
  return ok;
}

// The renames (and removals of emptied directories) of one staging, undone
// in reverse order when a later step fails.
class StagingLog {
 public:
  ~StagingLog() {
    if (!committed_) Undo();
  }
  // errno, 0 when renamed.
  int Rename(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) return errno;
    steps_.push_back({from, to, 0});
    return 0;
  }
  int Rmdir(const std::string& dir, mode_t mode) {
    if (rmdir(dir.c_str()) != 0) return errno;
    steps_.push_back({dir, "", mode});
    return 0;
  }
  void Commit() { committed_ = true; }

 private:
  struct Step {
    std::string from, to;  // to empty: `from` was an empty directory removed
    mode_t mode;
  };
  void Undo() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      if (it->to.empty()) {
        mkdir(it->from.c_str(), it->mode);
      } else {
        ::rename(it->to.c_str(), it->from.c_str());
      }
    }
  }
  std::vector<Step> steps_;
  bool committed_ = false;
};

}  // namespace

// ---- WarmSandbox ---------------------------------------------------------------

WarmSandbox::~WarmSandbox() { close(fd_); }

Status WarmSandbox::Stage(const std::string& job_dir) {
  struct stat st;
  if (stat(job_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return NotFoundError("job_dir " + job_dir + " is not a directory");
  }
  std::vector<std::string> names;
  if (!ListDir(job_dir, &names)) {
    return InternalError("cannot list " + job_dir + ": " + std::strerror(errno));
  }
  // Where the entries belong if we die before the slot has the job's path.
  const std::string intent = slot_ + kIntentSuffix;
  if (std::string e = runner::WriteFileAtomic(intent, job_dir); !e.empty()) {
    return InternalError("cannot stage into warm slot: " + e);
  }
  auto failed = [&](const std::string& what, int err) {
    return FailedPreconditionError("cannot " + what + " (warm slot " + slot_ + "): " +
                                   std::strerror(err));
  };
  Status status = OkStatus();
  {
    StagingLog log;  // undone unless committed
    int err = 0;
    // input/: its data/ entries (the channels) into the slot's input/data,
    // which the waiting sandbox binds read-only; the rest into the slot's
    // input/. The job's emptied input/data and input/ go.
    const std::string input = job_dir + "/" + kSlotInput, data = input + "/" + kSlotData;
    const std::string slot_input = slot_ + "/" + kSlotInput;
    struct stat in_st {}, data_st {};
    const bool has_input = lstat(input.c_str(), &in_st) == 0;
    if (has_input && !S_ISDIR(in_st.st_mode)) {
      status = FailedPreconditionError(input + " is not a directory");
    }
    std::vector<std::string> channels, input_names;
    if (status.ok() && has_input && lstat(data.c_str(), &data_st) == 0) {
      if (!S_ISDIR(data_st.st_mode) || !ListDir(data, &channels)) {
        status = FailedPreconditionError(data + " is not a readable directory");
      }
      for (size_t i = 0; status.ok() && i < channels.size(); ++i) {
        if ((err = log.Rename(data + "/" + channels[i], slot_input + "/" + kSlotData + "/" +
                                                            channels[i])) != 0) {
          status = failed("move input channel " + channels[i], err);
        }
      }
      if (status.ok() && (err = log.Rmdir(data, data_st.st_mode & 07777)) != 0) {
        status = failed("remove the emptied " + data, err);
      }
    }
    if (status.ok() && has_input) {
      if (!ListDir(input, &input_names)) status = failed("list " + input, errno);
      for (size_t i = 0; status.ok() && i < input_names.size(); ++i) {
        if ((err = log.Rename(input + "/" + input_names[i], slot_input + "/" + input_names[i])) !=
            0) {
          status = failed("move " + input + "/" + input_names[i], err);
        }
      }
      if (status.ok() && (err = log.Rmdir(input, in_st.st_mode & 07777)) != 0) {
        status = failed("remove the emptied " + input, err);
      }
    }
    for (size_t i = 0; status.ok() && i < names.size(); ++i) {
      if (names[i] == kSlotInput) continue;
      if ((err = log.Rename(job_dir + "/" + names[i], slot_ + "/" + names[i])) != 0) {
        status = failed("move " + job_dir + "'s entries into the slot", err);
      }
    }
    if (status.ok()) {
      chmod(slot_.c_str(), st.st_mode & 07777);
      if (has_input) chmod(slot_input.c_str(), in_st.st_mode & 07777);
      if (data_st.st_mode != 0) {
        chmod((slot_input + "/" + kSlotData).c_str(), data_st.st_mode & 07777);
      }
      // The slot, now holding the entries, replaces the empty job directory.
      if ((err = log.Rename(slot_, job_dir)) != 0) {
        status = failed("rename the slot over " + job_dir, err);
      }
    }
    if (status.ok()) log.Commit();
  }
  unlink(intent.c_str());
  return status;
}

WarmSandbox::Outcome WarmSandbox::Run(const std::string& state_dir, std::string* error) {
  const std::string message = "run " + state_dir;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    *error = "pipe: " + std::string(std::strerror(errno));
    return Outcome::kNotRun;
  }
  const int sent = runner::SendMessage(fd_, message, pipe_fds[1]);
  close(pipe_fds[1]);
  if (sent != 0) {
    close(pipe_fds[0]);
    *error = "the warm sandbox is gone: " + std::string(std::strerror(sent));
    return Outcome::kNotRun;
  }
  std::string got = runner::ReadStartReply(pipe_fds[0]);
  close(pipe_fds[0]);
  if (got.empty() || got[0] == 'E') {
    *error = got.empty() ? "the warm sandbox closed without taking the attempt" : got.substr(1);
    return Outcome::kNotRun;
  }
  if (got.size() >= 2 && got[1] == '1') return Outcome::kStarted;
  *error = runner::RunnerLogTail(state_dir);
  return Outcome::kRunnerFailed;
}

// ---- WarmPool ------------------------------------------------------------------

StatusOr<std::unique_ptr<WarmPool>> WarmPool::Start(WarmPoolOptions options, LauncherFn launcher) {
  if (options.dir.empty() || options.dir[0] != '/') {
    return InvalidArgumentError("warm sandbox dir \"" + options.dir + "\" must be absolute");
  }
  if (options.size < 1) return InvalidArgumentError("a warm pool needs a size >= 1");
  RecoverDeadPools(options.dir);
  runner::ProcessIdentity self{getpid(), 0, 0};
  if (auto st = runner::ReadProcStat(self.pid)) self.start_ticks = st->start_ticks;
  const std::string pool_dir =
      options.dir + "/" + std::to_string(self.pid) + "-" + std::to_string(self.start_ticks);
  std::error_code ec;
  fs::create_directories(pool_dir, ec);
  if (ec) return InternalError("cannot create " + pool_dir + ": " + ec.message());
  SpreadSubdirectories(pool_dir);  // one per sandbox
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) return InternalError("eventfd: " + std::string(std::strerror(errno)));
  std::unique_ptr<WarmPool> pool(
      new WarmPool(std::move(options), std::move(launcher), pool_dir, wake));
  pool->thread_ = std::thread([p = pool.get()] { p->Loop(); });
  return pool;
}

WarmPool::WarmPool(WarmPoolOptions options, LauncherFn launcher, std::string pool_dir, int wake_fd)
    : options_(std::move(options)),
      launcher_(std::move(launcher)),
      pool_dir_(std::move(pool_dir)),
      wake_fd_(wake_fd) {}

WarmPool::~WarmPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  std::deque<std::unique_ptr<WarmSandbox>> ready;
  {
    absl::MutexLock lock(&mu_);
    ready.swap(ready_);
  }
  std::vector<std::string> slots;
  for (const auto& w : ready) slots.push_back(w->slot());
  ready.clear();  // their runners end their sandboxes
  // Empty slots only (rmdir): a slot bound in a dying sandbox goes too.
  for (const std::string& s : slots) RemoveSlot(s);
  rmdir(pool_dir_.c_str());
  close(wake_fd_);
}

void WarmPool::Wake() {
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

std::unique_ptr<WarmSandbox> WarmPool::Take() {
  std::unique_ptr<WarmSandbox> taken;
  std::vector<std::unique_ptr<WarmSandbox>> dead;
  {
    absl::MutexLock lock(&mu_);
    while (!ready_.empty() && taken == nullptr) {
      std::unique_ptr<WarmSandbox> w = std::move(ready_.front());
      ready_.pop_front();
      // A live warm runner has said nothing more and not closed its end.
      pollfd p{w->fd_, POLLIN | POLLRDHUP, 0};
      if (poll(&p, 1, 0) == 0) {
        taken = std::move(w);
      } else {
        dead.push_back(std::move(w));
      }
    }
  }
  for (auto& w : dead) RemoveSlot(w->slot());
  Wake();  // refill
  return taken;
}

int WarmPool::ready() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(ready_.size());
}

void WarmPool::PauseForTest(bool paused) {
  {
    absl::MutexLock lock(&mu_);
    paused_ = paused;
  }
  Wake();
}

bool WarmPool::disabled() {
  absl::MutexLock lock(&mu_);
  return disabled_;
}

void WarmPool::Failed(const std::string& why) {
  absl::MutexLock lock(&mu_);
  if (++failures_in_a_row_ >= kMaxFailuresInARow && !disabled_) {
    disabled_ = true;
    LogWarn("warm sandboxes failed to start " + std::to_string(kMaxFailuresInARow) +
                " times in a row; jobs start their own sandbox (slower cold starts)",
            {{"dir", pool_dir_}, {"error", why}});
  }
}

bool WarmPool::StartOne(std::vector<Starting>* starting) {
  std::shared_ptr<runner::Launcher> launcher = launcher_(nullptr);
  if (launcher == nullptr) {
    Failed("no launcher");
    return false;
  }
  const std::string slot = pool_dir_ + "/" + std::to_string(next_slot_++);
  if (int err = MakeSlot(slot); err != 0) {
    Failed("mkdir " + slot + ": " + std::strerror(err));
    return false;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    RemoveSlot(slot);
    Failed("socketpair: " + std::string(std::strerror(errno)));
    return false;
  }
  runner::WarmSpec spec = options_.spec;
  spec.slot_dir = slot;
  const std::string json = runner::WarmSpecToJson(spec).dump();
  std::string error = launcher->StartWarm(json, sv[1]);
  if (!error.empty()) {
    // The launcher died (it also serves runners started the usual way):
    // a new one, and this sandbox asked of it.
    LogWarn("the job launcher is gone; starting a new one",
            {{"pid", std::to_string(launcher->pid())}, {"error", error}});
    launcher = launcher_(launcher.get());
    if (launcher != nullptr) error = launcher->StartWarm(json, sv[1]);
  }
  close(sv[1]);
  if (!error.empty()) {
    close(sv[0]);
    RemoveSlot(slot);
    Failed(error);
    return false;
  }
  starting->push_back({sv[0], slot});
  return true;
}

void WarmPool::Loop() {
  std::vector<Starting> starting;
  bool refill_delayed = false;
  for (;;) {
    int want = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
      if (!disabled_ && !paused_) {
        want = options_.size - static_cast<int>(ready_.size()) - static_cast<int>(starting.size());
      }
    }
    if (want > 0 && want < options_.size && !refill_delayed) {
      // A job was just taken: its start needs the CPU more than the next
      // job's sandbox does. Refill a little later (at once when empty).
      refill_delayed = true;
      want = 0;
    } else {
      refill_delayed = false;
    }
    for (int i = 0; i < want; ++i) {
      if (!StartOne(&starting)) break;
    }
    std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}};
    for (const Starting& s : starting) fds.push_back({s.fd, POLLIN, 0});
    // Nothing starting and a failed start: retry after a pause, not at once.
    const bool idle_after_failure = starting.empty() && want > 0;
    const int timeout = refill_delayed ? kRefillDelayMs : idle_after_failure ? 1000 : -1;
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      uint64_t n;
      ssize_t ignored = read(wake_fd_, &n, sizeof(n));
      (void)ignored;
    }
    std::vector<Starting> still;
    for (size_t i = 0; i < starting.size(); ++i) {
      if (fds[i + 1].revents == 0) {
        still.push_back(starting[i]);
        continue;
      }
      char buf[2048];
      ssize_t n = recv(starting[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 1 && buf[0] == 'W') {
        absl::MutexLock lock(&mu_);
        failures_in_a_row_ = 0;
        ready_.push_back(std::make_unique<WarmSandbox>(starting[i].fd, starting[i].slot));
        continue;
      }
      close(starting[i].fd);
      RemoveSlot(starting[i].slot);
      Failed(n > 1 && buf[0] == 'E' ? std::string(buf + 1, static_cast<size_t>(n - 1))
                                    : "the warm runner ended before its sandbox was ready");
    }
    starting.swap(still);
  }
  for (const Starting& s : starting) {
    close(s.fd);
    RemoveSlot(s.slot);
  }
}

void WarmPool::RecoverDeadPools(const std::string& dir) {
  std::vector<std::string> pools;
  if (!ListDir(dir, &pools)) return;
  for (const std::string& name : pools) {
    size_t dash = name.find('-');
    if (dash == std::string::npos) continue;
    const int pid = std::atoi(name.substr(0, dash).c_str());
    const uint64_t ticks = std::strtoull(name.c_str() + dash + 1, nullptr, 10);
    if (pid <= 0 || runner::IsSameLiveProcess(pid, ticks)) continue;
    const std::string pool = dir + "/" + name;
    std::vector<std::string> entries;
    ListDir(pool, &entries);
    bool keep = false;
    for (const std::string& e : entries) {
      if (!e.ends_with(kIntentSuffix)) continue;
      const std::string slot = pool + "/" + e.substr(0, e.size() - std::strlen(kIntentSuffix));
      std::optional<std::string> job_dir = runner::ReadFile(pool + "/" + e);
      struct stat st;
      std::string error;
      if (job_dir && !job_dir->empty() && stat(job_dir->c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
          !MergeBack(slot, *job_dir, &error)) {
        LogWarn("cannot move staged entries of a dead control plane back",
                {{"slot", slot}, {"job_dir", *job_dir}, {"error", error}});
        keep = true;  // nothing of it is deleted
      }
    }
    std::error_code ec;
    if (!keep) fs::remove_all(pool, ec);
  }
}

}  // namespace tandem::compute::local
