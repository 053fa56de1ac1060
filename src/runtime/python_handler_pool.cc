#include "runtime/python_handler_pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/json.h"
#include "common/log.h"
#include "common/subprocess.h"

extern char** environ;

namespace tandem::runtime {
namespace {

constexpr uint32_t kRequestMagic = 0x514E4454;   // "TDNQ"
constexpr uint32_t kResponseMagic = 0x524E4454;  // "TDNR"
constexpr uint32_t kKindPredict = 1;
constexpr uint32_t kStatusOk = 0, kStatusError = 1, kStatusReady = 2;
constexpr int kChildFd = 3;
constexpr uint32_t kMaxMessage = 1 << 20;

#pragma pack(push, 1)
struct FrameHeader {
  uint32_t magic;
  uint32_t kind_or_status;
  uint64_t id;
  uint32_t a;
  uint32_t b;
};
#pragma pack(pop)
static_assert(sizeof(FrameHeader) == 24);

// Why an I/O step stopped: done, timed out, or the peer is gone.
enum class Io { kOk, kTimeout, kClosed };

// How long one poll()/wait blocks before the deadline is checked again.
constexpr int64_t kSliceMs = 100;

bool WaitFd(int fd, short events, const Deadline& deadline) {
  pollfd p{fd, events, 0};
  while (true) {
    if (deadline.Expired()) return false;
    int r = ::poll(&p, 1, deadline.SliceMillis(kSliceMs));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;  // let the read/write report the error
  }
}

Io WriteAll(int fd, iovec* iov, int iovcnt, const Deadline& deadline) {
  while (iovcnt > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(iovcnt);
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return Io::kClosed;
      if (!WaitFd(fd, POLLOUT, deadline)) return Io::kTimeout;
      continue;
    }
    auto left = static_cast<size_t>(n);
    while (iovcnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --iovcnt;
    }
    if (iovcnt > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return Io::kOk;
}

Io ReadExact(int fd, void* buf, size_t len, const Deadline& deadline) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = ::recv(fd, p, len, 0);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return Io::kClosed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Io::kClosed;
    if (!WaitFd(fd, POLLIN, deadline)) return Io::kTimeout;
  }
  return Io::kOk;
}

std::string DescribeWait(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    return absl::StrCat("killed by signal ", WTERMSIG(status), " (",
                        abbrev ? absl::StrCat("SIG", abbrev) : "unknown", ")");
  }
  return "ended";
}

// Reaps `pid`, giving it `grace` (of `clock`'s time) to exit on its own
// before SIGKILL.
std::string Reap(Clock& clock, pid_t pid, std::chrono::milliseconds grace) {
  const Deadline deadline = Deadline::InMillis(clock, grace.count());
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return DescribeWait(status);
    if (r < 0 && errno != EINTR) return "already reaped";
    if (deadline.Expired()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return DescribeWait(status);
}

float JsonFloat(const Json& v) { return v.is_number() ? v.get<float>() : NAN; }

std::vector<std::vector<float>> JsonMatrix(const Json& m) {
  std::vector<std::vector<float>> out;
  if (!m.is_array()) return out;
  for (const Json& row : m) {
    std::vector<float> r;
    if (row.is_array()) {
      for (const Json& v : row) r.push_back(JsonFloat(v));
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

class PythonHandlerPool::Impl {
 public:
  struct Worker {
    pid_t pid = -1;
    int fd = -1;
  };
  enum class SlotState { kIdle, kBusy, kDead };

  Impl(std::string handler, std::string model_dir, PythonPoolOptions options)
      : handler_(std::move(handler)),
        model_dir_(std::move(model_dir)),
        opts_(std::move(options)),
        clock_(opts_.clock != nullptr ? *opts_.clock : Clock::Real()) {
    if (opts_.sandbox) image_opt_ = ImageOptEntries(opts_.sandbox->rootfs);
    slots_.resize(static_cast<size_t>(opts_.workers));
    states_.assign(slots_.size(), SlotState::kDead);
  }

  ~Impl() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    sup_cv_.SignalAll();
    idle_cv_.SignalAll();
    if (supervisor_.joinable()) supervisor_.join();
    for (Worker& w : slots_) {
      if (w.fd >= 0) ::close(w.fd);  // EOF: the worker's loop returns
      w.fd = -1;
    }
    for (Worker& w : slots_) {
      if (w.pid > 0) Reap(clock_, w.pid, std::chrono::milliseconds(2000));
      w.pid = -1;
    }
  }

  // Starts every worker (sequentially, so a broken handler fails fast).
  Status StartAll() {
    for (size_t i = 0; i < slots_.size(); ++i) {
      auto w = Spawn(i == 0);
      if (!w.ok()) return w.status();
      absl::MutexLock lock(&mu_);
      slots_[i] = *w;
      states_[i] = SlotState::kIdle;
      idle_.push_back(i);
      ++live_;
    }
    supervisor_ = std::thread([this] { Supervise(); });
    return OkStatus();
  }

  Status Predict(const float* rows, size_t n_rows, size_t n_cols, std::vector<float>& out,
                 size_t* n_out) {
    if (n_rows > UINT32_MAX || n_cols > UINT32_MAX) {
      return InvalidArgumentError("request too large for the handler channel");
    }
    const Deadline deadline = Deadline::InMillis(clock_, opts_.timeout.count());
    ASSIGN_OR_RETURN(size_t slot, Acquire(deadline));
    Worker w = slots_[slot];
    const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    FrameHeader req{kRequestMagic, kKindPredict, id, static_cast<uint32_t>(n_rows),
                    static_cast<uint32_t>(n_cols)};
    iovec iov[2] = {{&req, sizeof(req)},
                    {const_cast<float*>(rows), n_rows * n_cols * sizeof(float)}};
    Io io = WriteAll(w.fd, iov, iov[1].iov_len > 0 ? 2 : 1, deadline);
    FrameHeader resp{};
    if (io == Io::kOk) io = ReadExact(w.fd, &resp, sizeof(resp), deadline);
    if (io != Io::kOk) return Lost(slot, w, io);
    if (resp.magic != kResponseMagic || resp.id != id ||
        (resp.kind_or_status == kStatusError && resp.a > kMaxMessage)) {
      Kill(slot, w);
      return InternalError(absl::StrCat("handler worker pid ", w.pid,
                                        " broke the channel protocol; it was restarted"));
    }
    if (resp.kind_or_status == kStatusError) {
      std::string msg(resp.a, '\0');
      io = ReadExact(w.fd, msg.data(), msg.size(), deadline);
      if (io != Io::kOk) return Lost(slot, w, io);
      Release(slot);
      return InternalError(absl::StrCat("handler ", handler_, " raised ", msg));
    }
    if (resp.a != n_rows) {
      Kill(slot, w);
      return InternalError("handler worker answered with the wrong number of rows");
    }
    out.resize(static_cast<size_t>(resp.a) * resp.b);
    io = ReadExact(w.fd, out.data(), out.size() * sizeof(float), deadline);
    if (io != Io::kOk) return Lost(slot, w, io);
    Release(slot);
    *n_out = resp.b;
    return OkStatus();
  }

  PythonPoolStats Stats() {
    absl::MutexLock lock(&mu_);
    return {opts_.workers, live_, restarts_, timeouts_};
  }

  const std::string handler_, model_dir_;
  const PythonPoolOptions opts_;
  Clock& clock_;
  HandlerTestData test_data_;
  int reported_features_ = -1;

 private:
  std::vector<OptEntry> image_opt_;  // the image's /opt (sandboxed pools)
  // Starts one worker and waits for its "ready" frame. `first` records the
  // handler's test data and reported width.
  // " in image sha256:..." for a sandboxed pool, else "".
  std::string Where() const {
    return opts_.sandbox ? absl::StrCat(" in image ", opts_.sandbox->image) : "";
  }

  StatusOr<Worker> Spawn(bool first) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return InternalError(absl::StrCat("socketpair: ", std::strerror(errno)));
    }
    for (int fd : sv) {
      int size = 1 << 20;
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    std::vector<std::string> args;
    std::vector<std::string> env;
    if (opts_.sandbox) {
      // Inside the image: its root at /, the package at /opt/ml/model.
      WorkerPaths inside = SandboxedPaths(handler_, model_dir_);
      args = WorkerBwrapCommand(*opts_.sandbox, handler_, model_dir_, image_opt_,
                                {opts_.interpreter, "-c", PythonWorkerScript(), inside.handler,
                                 inside.model_dir, std::to_string(kChildFd)});
      env = WorkerEnvironment(*opts_.sandbox, opts_.env);
    } else {
      args = {opts_.interpreter, "-c",       PythonWorkerScript(),
              handler_,          model_dir_, std::to_string(kChildFd)};
      bool has_omp = false;
      for (char** e = environ; *e != nullptr; ++e) {
        std::string kv(*e);
        std::string key = kv.substr(0, kv.find('='));
        if (opts_.env.contains(key)) continue;
        has_omp |= key == "OMP_NUM_THREADS";
        env.push_back(std::move(kv));
      }
      for (const auto& [k, v] : opts_.env) env.push_back(k + "=" + v);
      if (!has_omp && !opts_.env.contains("OMP_NUM_THREADS")) env.push_back("OMP_NUM_THREADS=1");
    }
    // Workers keep the server's stdout/stderr (handler output and tracebacks
    // land in its log) and the socket, nothing else.
    subprocess::SpawnOptions spawn;
    spawn.argv = std::move(args);
    spawn.env = std::move(env);
    spawn.out = subprocess::Redirect::Inherit();
    spawn.err = subprocess::Redirect::Inherit();
    spawn.keep_fds = {{kChildFd, sv[1]}};
    StatusOr<pid_t> spawned = subprocess::Spawn(spawn);
    ::close(sv[1]);
    if (!spawned.ok()) {
      ::close(sv[0]);
      return FailedPreconditionError(absl::StrCat("cannot start Python interpreter ",
                                                  opts_.interpreter, Where(), ": ",
                                                  spawned.status().message()));
    }
    const pid_t pid = *spawned;
    ::fcntl(sv[0], F_SETFL, ::fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    Worker w{pid, sv[0]};
    Status ready = AwaitReady(w, first);
    if (!ready.ok()) {
      ::close(w.fd);
      std::string how = Reap(clock_, w.pid, std::chrono::milliseconds(2000));
      return Annotate(ready, absl::StrCat("Python handler worker (", opts_.interpreter, " ",
                                          handler_, Where(), ") ", how));
    }
    return w;
  }

  Status AwaitReady(const Worker& w, bool first) {
    const Deadline deadline = Deadline::InMillis(clock_, opts_.start_timeout.count());
    FrameHeader h{};
    Io io = ReadExact(w.fd, &h, sizeof(h), deadline);
    if (io == Io::kTimeout) {
      return DeadlineExceededError(
          absl::StrCat("did not load within ", opts_.start_timeout.count(), " ms"));
    }
    if (io == Io::kClosed) return FailedPreconditionError("ended before loading the handler");
    if (h.magic != kResponseMagic || h.a > kMaxMessage) {
      return InternalError("broke the channel protocol at start-up");
    }
    std::string body(h.a, '\0');
    if (ReadExact(w.fd, body.data(), body.size(), deadline) != Io::kOk) {
      return FailedPreconditionError("ended while reporting its start-up");
    }
    if (h.kind_or_status == kStatusError) return InvalidArgumentError(body);
    if (h.kind_or_status != kStatusReady) return InternalError("sent no ready frame");
    if (first) {
      auto info = ParseJson(body);
      if (!info.ok()) return InternalError("sent an unreadable ready frame");
      if (auto it = info->find("n_features"); it != info->end() && it->is_number_integer()) {
        reported_features_ = it->get<int>();
      }
      if (auto it = info->find("test_data"); it != info->end() && it->is_object()) {
        test_data_.inputs = JsonMatrix((*it)["inputs"]);
        test_data_.outputs = JsonMatrix((*it)["outputs"]);
      }
    }
    return OkStatus();
  }

  StatusOr<size_t> Acquire(const Deadline& deadline) {
    absl::MutexLock lock(&mu_);
    while (idle_.empty() && !stopping_ && !deadline.Expired()) {
      idle_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(deadline.SliceMillis(kSliceMs)));
    }
    if (idle_.empty() && !stopping_) {
      if (live_ == 0) {
        return UnavailableError(
            absl::StrCat("no Python handler worker is running for ", handler_, ": ", last_error_));
      }
      return DeadlineExceededError(absl::StrCat("all ", opts_.workers,
                                                " Python handler workers stayed busy for ",
                                                opts_.timeout.count(), " ms"));
    }
    if (stopping_) return UnavailableError("the Python handler pool is shutting down");
    size_t slot = idle_.front();
    idle_.pop_front();
    states_[slot] = SlotState::kBusy;
    return slot;
  }

  void Release(size_t slot) {
    {
      absl::MutexLock lock(&mu_);
      states_[slot] = SlotState::kIdle;
      idle_.push_back(slot);
    }
    idle_cv_.Signal();
  }

  // Marks a busy slot dead and hands it to the supervisor.
  void MarkDead(size_t slot, const std::string& why) {
    {
      absl::MutexLock lock(&mu_);
      states_[slot] = SlotState::kDead;
      slots_[slot] = Worker{};
      dead_.push_back(slot);
      --live_;
      last_error_ = why;
    }
    sup_cv_.Signal();
  }

  void Kill(size_t slot, Worker w) {
    ::kill(w.pid, SIGKILL);
    ::close(w.fd);
    MarkDead(slot, absl::StrCat("worker pid ", w.pid, " ", Reap(clock_, w.pid, {})));
  }

  Status Lost(size_t slot, Worker w, Io io) {
    if (io == Io::kTimeout) {
      ::kill(w.pid, SIGKILL);
      ::close(w.fd);
      Reap(clock_, w.pid, {});
      {
        absl::MutexLock lock(&mu_);
        ++timeouts_;
      }
      MarkDead(slot, absl::StrCat("worker pid ", w.pid, " timed out"));
      return DeadlineExceededError(absl::StrCat("handler ", handler_, " did not answer within ",
                                                opts_.timeout.count(), " ms; worker pid ", w.pid,
                                                " was killed and is being restarted"));
    }
    ::close(w.fd);
    std::string how = Reap(clock_, w.pid, std::chrono::milliseconds(2000));
    MarkDead(slot, absl::StrCat("worker pid ", w.pid, " ", how));
    LogWarn("Python handler worker died",
            {{"handler", handler_}, {"pid", std::to_string(w.pid)}, {"how", how}});
    return InternalError(absl::StrCat("Python handler worker pid ", w.pid,
                                      " died while handling the request (", how,
                                      "); it is being restarted"));
  }

  // Idle workers never send anything: readable or hung up means dead.
  void CollectDeadIdle(std::vector<Worker>& gone) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto it = idle_.begin(); it != idle_.end();) {
      pollfd p{slots_[*it].fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) {
        gone.push_back(slots_[*it]);
        states_[*it] = SlotState::kDead;
        slots_[*it] = Worker{};
        dead_.push_back(*it);
        --live_;
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void Supervise() ABSL_LOCKS_EXCLUDED(mu_) {
    auto backoff = std::chrono::milliseconds(100);
    mu_.Lock();
    while (!stopping_) {
      std::vector<Worker> gone;
      CollectDeadIdle(gone);
      if (!gone.empty()) {
        mu_.Unlock();
        for (Worker& w : gone) {
          ::close(w.fd);
          std::string how = Reap(clock_, w.pid, std::chrono::milliseconds(2000));
          LogWarn("idle Python handler worker died",
                  {{"handler", handler_}, {"pid", std::to_string(w.pid)}, {"how", how}});
          absl::MutexLock relock(&mu_);
          last_error_ = absl::StrCat("worker pid ", w.pid, " ", how);
        }
        mu_.Lock();
      }
      if (dead_.empty()) {
        sup_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(250));
        continue;
      }
      size_t slot = dead_.front();
      dead_.pop_front();
      mu_.Unlock();
      auto w = Spawn(false);
      mu_.Lock();
      if (w.ok()) {
        slots_[slot] = *w;
        states_[slot] = SlotState::kIdle;
        idle_.push_back(slot);
        ++live_;
        ++restarts_;
        backoff = std::chrono::milliseconds(100);
        idle_cv_.Signal();
      } else {
        last_error_ = std::string(w.status().message());
        LogWarn("restarting a Python handler worker failed",
                {{"handler", handler_}, {"error", last_error_}});
        dead_.push_back(slot);
        const absl::Time until = absl::Now() + absl::FromChrono(backoff);
        while (!stopping_ && !sup_cv_.WaitWithDeadline(&mu_, until)) {
        }
        backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
      }
    }
    mu_.Unlock();
  }

  absl::Mutex mu_;
  absl::CondVar idle_cv_, sup_cv_;
  // Element i is written under mu_ and read by the one caller that holds
  // slot i busy (Acquire) without it.
  std::vector<Worker> slots_;
  std::vector<SlotState> states_ ABSL_GUARDED_BY(mu_);
  std::deque<size_t> idle_ ABSL_GUARDED_BY(mu_);
  std::deque<size_t> dead_ ABSL_GUARDED_BY(mu_);
  int live_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t restarts_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t timeouts_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> next_id_{1};
  std::thread supervisor_;
};

StatusOr<std::unique_ptr<PythonHandlerPool>> PythonHandlerPool::Start(
    const std::string& handler_path, const std::string& model_dir, PythonPoolOptions options) {
  if (options.workers <= 0) {
    options.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  if (options.timeout.count() <= 0 || options.start_timeout.count() <= 0) {
    return InvalidArgumentError("Python handler timeouts must be positive");
  }
  if (options.sandbox) {
    const WorkerSandbox& sb = *options.sandbox;
    if (sb.bwrap_path.empty() || sb.bwrap_path[0] != '/') {
      return FailedPreconditionError(
          "Python handler workers in an image need bubblewrap (bwrap), which was not found");
    }
    struct stat st;
    if (sb.rootfs.empty() || ::stat(sb.rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return FailedPreconditionError(absl::StrCat("the root filesystem of image ", sb.image,
                                                  " is not a directory: '", sb.rootfs, "'"));
    }
  }
  auto impl = std::make_unique<Impl>(handler_path, model_dir, std::move(options));
  RETURN_IF_ERROR(impl->StartAll());
  return std::unique_ptr<PythonHandlerPool>(new PythonHandlerPool(std::move(impl)));
}

PythonHandlerPool::PythonHandlerPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PythonHandlerPool::~PythonHandlerPool() = default;

Status PythonHandlerPool::Predict(const float* rows, size_t n_rows, size_t n_cols,
                                  std::vector<float>& out, size_t* n_out) const {
  return impl_->Predict(rows, n_rows, n_cols, out, n_out);
}

const HandlerTestData& PythonHandlerPool::test_data() const { return impl_->test_data_; }
int PythonHandlerPool::reported_features() const { return impl_->reported_features_; }
PythonPoolStats PythonHandlerPool::stats() const { return impl_->Stats(); }
const PythonPoolOptions& PythonHandlerPool::options() const { return impl_->opts_; }

}  // namespace tandem::runtime
