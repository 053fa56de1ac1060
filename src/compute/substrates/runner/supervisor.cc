#include "compute/substrates/runner/supervisor.h"

#include <fcntl.h>
#include <sys/file.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sstream>

#include "common/subprocess_core.h"
#include "compute/jobs/contract.h"
#include "compute/substrates/runner/proc_stats.h"
#include "compute/substrates/runner/sandbox.h"
#include "compute/substrates/runner/warm.h"

namespace tandem::compute::runner {
namespace {

constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";
constexpr int64_t kKillRepeatMicros = 500'000;  // re-send SIGKILL to stragglers
constexpr int64_t kFinalDrainMicros = 2'000'000;

void WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // a full disk loses log output, never the job
    data += w;
    n -= static_cast<size_t>(w);
  }
}

std::string MiB(int64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

int64_t MonotonicMicros() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

Supervisor::Supervisor(RunnerRequest request, std::string state_dir, int signal_fd)
    : req_(std::move(request)), state_dir_(std::move(state_dir)), signal_fd_(signal_fd) {}

Supervisor::~Supervisor() {
  if (log_fd_ >= 0) close(log_fd_);
  if (pipe_fd_ >= 0) close(pipe_fd_);
  if (image_lock_fd_ >= 0) close(image_lock_fd_);
  for (const auto& [child, fd] : secret_fds_) close(fd);
  if (started_sandbox_) {
    if (started_sandbox_->output_fd >= 0) close(started_sandbox_->output_fd);
    if (started_sandbox_->control_fd >= 0) close(started_sandbox_->control_fd);
  }
}

void Supervisor::UseStartedSandbox(const StartedSandbox& sandbox) { started_sandbox_ = sandbox; }

std::string Supervisor::Prepare() {
  const jobs::LaunchRequest& l = req_.launch;
  log_fd_ = open(l.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd_ < 0) {
    return "cannot open log " + l.log_path + ": " + std::strerror(errno);
  }
  for (const auto& [k, v] : l.env) envp_.push_back(k + "=" + v);
  for (const auto& [k, v] : l.secret_env) envp_.push_back(k + "=" + v);
  if (!l.secret_files.empty() && !req_.sandbox) {
    return "file secrets need the sandbox (bubblewrap): " + std::string(jobs::kSecretsDir) +
           " exists only inside it";
  }
  // tandem's helper programs are this runner's siblings (PREFIX/libexec/tandem);
  // the job names them under jobs::kHelperDir.
  const std::string helpers = OwnDirectory();
  if (!req_.image_rootfs.empty() && !req_.sandbox) {
    return "a job in an image needs the sandbox (bubblewrap)";
  }
  if (!req_.image_lock.empty()) {
    // Held shared until this runner exits: the layer cache never evicts an
    // image whose lock it cannot take exclusively.
    image_lock_fd_ = open(req_.image_lock.c_str(), O_RDONLY | O_CLOEXEC);
    if (image_lock_fd_ < 0 || flock(image_lock_fd_, LOCK_SH) != 0) {
      return "cannot lock image " + req_.image_lock + ": " + std::strerror(errno);
    }
  }
  if (req_.sandbox && started_sandbox_) {
    if (!req_.image_rootfs.empty() || !l.secret_files.empty()) {
      return "a job in an image or with file secrets cannot run in a sandbox started before it";
    }
    WaiterCommand command{l.argv, envp_,
                          l.working_dir.empty() ? std::string(jobs::kSandboxBase) : l.working_dir};
    waiter_command_ = WaiterCommandToJson(command);
    exec_path_ = l.argv[0];
  } else if (req_.sandbox) {
    SandboxSpec spec{req_.bwrap_path, l.job_dir, l.working_dir, l.network, l.argv, helpers};
    spec.rootfs = req_.image_rootfs;
    ClassifyHiddenPaths(req_.hidden_paths, &spec.hidden_dirs, &spec.hidden_files);
    // Each file secret through a memfd bubblewrap copies into the sandbox's
    // memory: the value is never a file on the host's disk.
    int child_fd = 3;
    for (const auto& [name, value] : l.secret_files) {
      int fd = memfd_create("tandem-secret", MFD_CLOEXEC);
      if (fd < 0) return "memfd_create: " + std::string(std::strerror(errno));
      secret_fds_.push_back({child_fd, fd});
      size_t done = 0;
      while (done < value.size()) {
        ssize_t n = write(fd, value.data() + done, value.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return "writing a secret to its memfd: " + std::string(std::strerror(errno));
        done += static_cast<size_t>(n);
      }
      lseek(fd, 0, SEEK_SET);
      spec.secret_files.push_back({child_fd++, name});
    }
    if (!spec.secret_files.empty()) spec.host_run = InspectHostDir(req_.image_rootfs.empty() ? "/run" : req_.image_rootfs + "/run");
    argv_ = BwrapCommand(spec, req_.image_rootfs.empty() ? InspectHostOpt()
                                                         : InspectHostOpt(req_.image_rootfs + "/opt"));
    exec_path_ = req_.bwrap_path;
  } else {
    argv_ = l.argv;
    const std::string prefix = std::string(jobs::kHelperDir) + "/";
    if (!argv_.empty() && argv_[0].starts_with(prefix)) {
      if (helpers.empty()) return "cannot tell where tandem's helper programs are";
      argv_[0] = helpers + "/" + argv_[0].substr(prefix.size());
    }
    // argv[0] against the job's PATH (not ours), as execvp would; a name not
    // found stays as it is, and the exec fails with ENOENT naming it.
    exec_path_ = argv_.empty() ? std::string() : argv_[0];
    if (!exec_path_.empty() && exec_path_.find('/') == std::string::npos) {
      auto path = l.env.find("PATH");
      exec_path_ =
          subprocess::FindOnPath(argv_[0], path != l.env.end() ? path->second : kDefaultPath)
              .value_or(argv_[0]);
    }
  }
  return "";
}

std::optional<Supervisor::ExecFailure> Supervisor::LaunchInStartedSandbox() {
  StartedSandbox& s = *started_sandbox_;
  job_pid_ = s.pid;
  pipe_fd_ = s.output_fd;
  s.output_fd = -1;
  fcntl(pipe_fd_, F_SETFL, O_NONBLOCK);
  // The command, then EOF: the waiter execs it at once.
  const char* data = waiter_command_.data();
  size_t left = waiter_command_.size();
  while (left > 0) {
    ssize_t n = send(s.control_fd, data, left, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      // The sandbox died before its job started: like an exec that failed.
      kill(-s.pid, SIGKILL);
      return ExecFailure{2, err == 0 ? EPIPE : err};
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  shutdown(s.control_fd, SHUT_WR);
  fcntl(s.control_fd, F_SETFL, O_NONBLOCK);
  started_micros_ = WallMicros();
  start_mono_ = MonotonicMicros();
  // `started` and job.json are written by Run: StartJob comes before
  // "ready", and the control plane waits for that.
  start_files_pending_ = true;
  return std::nullopt;
}

void Supervisor::WriteStartFiles() {
  ProcessIdentity job{job_pid_, 0, job_pid_};
  if (auto st = ReadProcStat(job_pid_)) job.start_ticks = st->start_ticks;
  for (const auto& [file, contents] :
       {std::pair<const char*, std::string>{kStartedFile, std::to_string(started_micros_)},
        {kJobFile, ProcessIdentityToJson(job).dump()}}) {
    if (std::string e = WriteFileAtomic(state_dir_ + "/" + file, contents); !e.empty()) {
      std::fprintf(stderr, "tandem-job-runner: %s\n", e.c_str());
    }
  }
}

void Supervisor::ReadExecStatus() {
  int& fd = started_sandbox_->control_fd;
  char buf[64];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      exec_status_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) return;
    break;  // EOF: the command was exec'd (or the sandbox is gone)
  }
  close(fd);
  fd = -1;
  if (exec_status_.size() > 1 && exec_status_[0] == 'E') {
    int err = std::atoi(exec_status_.c_str() + 1);
    bool chdir_failed = exec_status_.find(" chdir") != std::string::npos;
    exec_failure_ = std::string(chdir_failed ? "cannot enter working directory " +
                                                   (req_.launch.working_dir.empty()
                                                        ? std::string(jobs::kSandboxBase)
                                                        : req_.launch.working_dir)
                                             : "cannot execute " + exec_path_) +
                    ": " + std::strerror(err);
  }
}

std::optional<Supervisor::ExecFailure> Supervisor::Launch() {
  if (started_sandbox_) return LaunchInStartedSandbox();
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return ExecFailure{2, errno};
  subprocess::SpawnOptions options;
  options.program = exec_path_;
  options.argv = argv_;
  options.env = envp_;
  if (!req_.sandbox) options.cwd = req_.launch.working_dir;
  options.new_process_group = true;
  options.kill_with_parent = true;
  options.out = subprocess::Redirect::Fd(out[1]);
  options.err = subprocess::Redirect::Fd(out[1]);
  options.keep_fds = secret_fds_;
  subprocess::SpawnFailure failure;
  pid_t pid = subprocess::SpawnProcess(options, &failure);
  close(out[1]);
  for (const auto& [child, fd] : secret_fds_) close(fd);  // bubblewrap has its copies
  secret_fds_.clear();
  if (pid < 0) {
    close(out[0]);
    return ExecFailure{failure.stage == subprocess::SpawnStage::kChdir ? 1 : 2, failure.error};
  }
  setpgid(pid, pid);  // also in the child; whichever runs first wins
  job_pid_ = pid;
  pipe_fd_ = out[0];
  fcntl(pipe_fd_, F_SETFL, O_NONBLOCK);
  // The exec succeeded; user code is starting now.
  started_micros_ = WallMicros();
  start_mono_ = MonotonicMicros();
  ProcessIdentity job{pid, 0, pid};
  if (auto st = ReadProcStat(pid)) job.start_ticks = st->start_ticks;
  // Without these the control plane sees the job as not started and cannot
  // reap its processes after a runner crash: say so in the runner's log (the
  // substrate reports it), and run the job anyway.
  for (const auto& [file, contents] :
       {std::pair<const char*, std::string>{kStartedFile, std::to_string(started_micros_)},
        {kJobFile, ProcessIdentityToJson(job).dump()}}) {
    if (std::string e = WriteFileAtomic(state_dir_ + "/" + file, contents); !e.empty()) {
      std::fprintf(stderr, "tandem-job-runner: %s\n", e.c_str());
    }
  }
  return std::nullopt;
}

void Supervisor::StartJob() {
  if (launched_) return;
  launched_ = true;
  launch_failure_at_start_ = Launch();
}

jobs::ExitInfo Supervisor::Run() {
  StartJob();
  if (auto failure = launch_failure_at_start_) {
    KillAndReapAll();
    jobs::ExitInfo e;
    e.kind = jobs::ExitKind::kExited;
    e.exit_code = 127;
    const std::string& what = failure->stage == 1 ? req_.launch.working_dir : exec_path_;
    e.message =
        std::string(failure->stage == 1 ? "cannot enter working directory " : "cannot execute ") +
        what + ": " + std::strerror(failure->error);
    std::string line = "[tandem] " + e.message + "\n";
    WriteAll(log_fd_, line.data(), line.size());
    e.started_micros = e.ended_micros = WallMicros();
    return e;
  }
  if (start_files_pending_) WriteStartFiles();
  int64_t now = MonotonicMicros();
  if (req_.launch.max_runtime_seconds > 0) {
    runtime_deadline_ = start_mono_ + req_.launch.max_runtime_seconds * 1'000'000;
  }
  next_sample_ = now;
  Loop();
  end_mono_ = MonotonicMicros();
  ended_micros_ = WallMicros();
  KillAndReapAll();
  ReadLog(/*final=*/true);
  if (started_sandbox_ && started_sandbox_->control_fd >= 0) {
    fcntl(started_sandbox_->control_fd, F_SETFL, 0);  // everything is dead: EOF is due
    ReadExecStatus();
  }
  return Result();
}

void Supervisor::Loop() {
  const int64_t interval = std::max<int64_t>(req_.sample_interval_ms, 10) * 1000;
  while (!job_exited_) {
    int64_t now = MonotonicMicros();
    if (now >= next_sample_) {
      Sample(now);
      next_sample_ = now + interval;
      if (reason_ && reason_ != jobs::ExitKind::kOutOfMemory && now < kill_deadline_) {
        // Processes born after the SIGTERM (e.g. user code that bubblewrap
        // had not started yet) get it too, once each.
        SignalTree(SIGTERM);
      }
    }
    if (!reason_ && runtime_deadline_ > 0 && now >= runtime_deadline_) {
      Terminate(jobs::ExitKind::kTimedOut,
                "max_runtime_seconds (" + std::to_string(req_.launch.max_runtime_seconds) +
                    " s) exceeded",
                req_.grace_seconds * 1'000'000, now);
    }
    if (kill_deadline_ > 0 && now >= kill_deadline_) {
      SignalTree(SIGKILL);
      kill_deadline_ = now + kKillRepeatMicros;
    }
    int64_t wake = next_sample_;
    if (!reason_ && runtime_deadline_ > 0) wake = std::min(wake, runtime_deadline_);
    if (kill_deadline_ > 0) wake = std::min(wake, kill_deadline_);
    int timeout_ms = static_cast<int>(std::max<int64_t>(0, (wake - now + 999) / 1000));
    const int control = started_sandbox_ ? started_sandbox_->control_fd : -1;
    // A negative descriptor is skipped by poll.
    pollfd fds[3] = {{signal_fd_, POLLIN, 0}, {pipe_fd_, POLLIN, 0}, {control, POLLIN, 0}};
    if (poll(fds, 3, timeout_ms) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) HandleSignals();
    if (pipe_fd_ >= 0 && fds[1].revents != 0) ReadLog(/*final=*/false);
    if (control >= 0 && fds[2].revents != 0) ReadExecStatus();
  }
}

void Supervisor::HandleSignals() {
  signalfd_siginfo si;
  while (read(signal_fd_, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
    if (si.ssi_signo == SIGCHLD) {
      ReapAvailable();
    } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      int64_t grace = req_.grace_seconds;
      if (si.ssi_code == SI_QUEUE && si.ssi_int >= 0) grace = si.ssi_int;
      Terminate(jobs::ExitKind::kStopped, "stopped", grace * 1'000'000, MonotonicMicros());
    }
  }
}

void Supervisor::ReapAvailable() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == job_pid_) {
      job_exited_ = true;
      job_status_ = status;
    }
  }
}

void Supervisor::ReadLog(bool final) {
  if (pipe_fd_ < 0) return;
  char buf[65536];
  int64_t deadline = MonotonicMicros() + kFinalDrainMicros;
  for (;;) {
    ssize_t n = read(pipe_fd_, buf, sizeof(buf));
    if (n > 0) {
      AppendLog(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && final) {
      // Everything is dead, so a writer can only be something that escaped
      // the tree; wait for it a little, not forever.
      int64_t left = deadline - MonotonicMicros();
      pollfd p{pipe_fd_, POLLIN, 0};
      if (left > 0 && poll(&p, 1, static_cast<int>(left / 1000) + 1) > 0) continue;
    }
    if (n == 0 || final) {
      close(pipe_fd_);
      pipe_fd_ = -1;
    }
    return;
  }
}

void Supervisor::AppendLog(const char* data, size_t n) {
  int64_t room = std::max<int64_t>(0, req_.log_limit_bytes - log_written_);
  size_t keep = static_cast<size_t>(std::min<int64_t>(room, static_cast<int64_t>(n)));
  if (keep > 0) {
    WriteAll(log_fd_, data, keep);
    log_written_ += static_cast<int64_t>(keep);
  }
  if (keep < n) {
    log_discarded_ += static_cast<int64_t>(n - keep);
    if (!truncated_) {
      truncated_ = true;
      std::string line = "\n[tandem] log truncated after " + std::to_string(log_written_) +
                         " bytes; further output is discarded\n";
      WriteAll(log_fd_, line.data(), line.size());
    }
  }
}

void Supervisor::Sample(int64_t now) {
  std::vector<ProcStat> tree = Descendants(getpid());
  int64_t rss = 0;
  int live = 0;
  for (const ProcStat& p : tree) {
    if (p.state == 'Z') continue;
    rss += ResidentBytes(p);
    ++live;
  }
  const int64_t limit = req_.launch.resources.memory_mb << 20;
  if (limit > 0 && rss > limit && live > 1) {
    // Forked workers share pages; count each shared page once before killing.
    int64_t pss = 0;
    for (const ProcStat& p : tree) {
      if (p.state != 'Z') pss += ProportionalBytes(p.pid);
    }
    rss = std::min(rss, pss);
  }
  peak_rss_ = std::max(peak_rss_, rss);
  if (limit > 0 && rss > limit && reason_ != jobs::ExitKind::kOutOfMemory) {
    reason_ = jobs::ExitKind::kOutOfMemory;
    reason_message_ = "memory limit exceeded: " + MiB(rss) + " used, limit " +
                      std::to_string(req_.launch.resources.memory_mb) + " MiB";
    SignalTree(SIGKILL);
    kill_deadline_ = now + kKillRepeatMicros;
  }
}

void Supervisor::Terminate(jobs::ExitKind reason, std::string message, int64_t grace_micros,
                           int64_t now) {
  if (reason_) return;  // the first reason to end the job wins
  reason_ = reason;
  reason_message_ = std::move(message);
  SignalTree(SIGTERM);
  kill_deadline_ = now + std::max<int64_t>(grace_micros, 0);
}

void Supervisor::SignalTree(int sig) {
  // Under bubblewrap, the job pid is bwrap and its child is bwrap as pid 1 of
  // the sandbox: a SIGTERM would end them, and with them (SIGKILL) the whole
  // sandbox without a chance to shut down cleanly. Only SIGKILL goes to them.
  const bool spare_bwrap = req_.sandbox && sig != SIGKILL;
  // SIGKILL: the process group while its leader (the job) is unreaped, so its
  // pgid cannot have been reused; then every descendant, wherever it moved.
  // SIGTERM goes to each descendant once and only once (this runner is a
  // subreaper, so orphans stay descendants): a group signal on top of it
  // would reach the job twice, and a shell's TERM trap would run twice.
  if (job_pid_ > 0 && !job_exited_ && !spare_bwrap && sig != SIGTERM) kill(-job_pid_, sig);
  for (const ProcStat& p : Descendants(getpid())) {
    if (p.state == 'Z') continue;
    if (spare_bwrap && (p.pid == job_pid_ || p.ppid == job_pid_)) continue;
    if (sig == SIGTERM && !termed_.insert({p.pid, p.start_ticks}).second) continue;
    kill(p.pid, sig);
  }
}

void Supervisor::KillAndReapAll() {
  for (;;) {
    SignalTree(SIGKILL);
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) break;  // ECHILD: the tree is empty
    if (pid == job_pid_ && !job_exited_) {
      job_exited_ = true;
      job_status_ = status;
    }
  }
}

jobs::ExitInfo Supervisor::Result() const {
  jobs::ExitInfo e;
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  e.metering.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  e.metering.peak_rss_bytes = std::max<int64_t>(peak_rss_, int64_t{ru.ru_maxrss} * 1024);
  e.metering.wall_seconds = static_cast<double>(end_mono_ - start_mono_) / 1e6;
  e.started_micros = started_micros_;
  e.ended_micros = ended_micros_;
  if (WIFEXITED(job_status_)) {
    e.exit_code = WEXITSTATUS(job_status_);
    e.kind = jobs::ExitKind::kExited;
    e.message = "exit status " + std::to_string(e.exit_code);
    // bubblewrap reports a command killed by signal N as exit status 128+N.
    if (req_.sandbox && e.exit_code > 128 && e.exit_code <= 128 + 64) {
      e.kind = jobs::ExitKind::kSignaled;
      e.signal = e.exit_code - 128;
      e.message = "killed by " + SignalName(e.signal);
    }
  } else if (WIFSIGNALED(job_status_)) {
    e.kind = jobs::ExitKind::kSignaled;
    e.signal = WTERMSIG(job_status_);
    e.message = "killed by " + SignalName(e.signal);
  }
  if (exec_failure_ && e.kind == jobs::ExitKind::kExited) e.message = *exec_failure_;
  if (reason_) {
    e.kind = *reason_;
    e.message = reason_message_;
  }
  if (truncated_) {
    e.message += " (log truncated after " + std::to_string(log_written_) + " bytes, " +
                 std::to_string(log_discarded_) + " discarded)";
  }
  return e;
}

}  // namespace tandem::compute::runner
