#include "common/subprocess_core.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace tandem::subprocess {
namespace {

constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

// What the child writes to the status pipe when it cannot exec.
struct ChildFailure {
  int stage;
  int error;
};

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The candidates execvp would try for `name`, in order.
std::vector<std::string> Candidates(const SpawnOptions& o) {
  const std::string& name = o.program.empty() ? o.argv[0] : o.program;
  if (!o.search_path || name.find('/') != std::string::npos) return {name};
  std::string path;
  bool found = false;
  if (o.env) {
    for (const std::string& kv : *o.env) {
      if (kv.rfind("PATH=", 0) == 0) {
        path = kv.substr(5);
        found = true;
      }
    }
  } else if (const char* p = std::getenv("PATH"); p != nullptr) {
    path = p;
    found = true;
  }
  if (!found) path = kDefaultPath;
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    out.push_back((dir.empty() ? "." : dir) + "/" + name);
    start = end + 1;
  }
  return out;
}

std::string Describe(SpawnStage stage, int error, const SpawnOptions& o) {
  const std::string program = !o.program.empty() ? o.program : o.argv.empty() ? "" : o.argv[0];
  switch (stage) {
    case SpawnStage::kArguments:
      return "cannot start a process without a program (empty argv)";
    case SpawnStage::kFork:
      return "cannot start " + program + ": " + std::strerror(error);
    case SpawnStage::kChdir:
      return "cannot start " + program + ": cannot change to working directory '" + o.cwd +
             "': " + std::strerror(error);
    case SpawnStage::kExec:
      if (error == ENOENT) {
        return "cannot start " + program + ": no such program" +
               (o.search_path && program.find('/') == std::string::npos ? " on PATH" : "");
      }
      return "cannot start " + program + ": " + std::strerror(error);
    case SpawnStage::kRedirect:
    case SpawnStage::kNone:
      break;
  }
  return "cannot start " + program + ": " + std::strerror(error);
}

void Fail(SpawnFailure* f, SpawnStage stage, int error, std::string message) {
  if (f == nullptr) return;
  f->stage = stage;
  f->error = error;
  f->message = std::move(message);
}

// A descriptor the parent opened for the child; closed when the call ends.
struct OwnedFds {
  std::vector<int> fds;
  ~OwnedFds() {
    for (int fd : fds) ::close(fd);
  }
};

// Resolves a redirection of child descriptor `target` to a parent descriptor,
// or -1 for kInherit. Opens kNull/kFile (close-on-exec) into `owned`.
int Source(const Redirect& r, int target, OwnedFds& owned, std::string* error) {
  switch (r.kind) {
    case Redirect::Kind::kInherit:
      return -1;
    case Redirect::Kind::kFd:
      if (r.fd < 0) {
        *error = "redirection of descriptor " + std::to_string(target) + " names no descriptor";
        return -2;
      }
      return r.fd;
    case Redirect::Kind::kNull:
    case Redirect::Kind::kFile: {
      const std::string path = r.kind == Redirect::Kind::kNull ? "/dev/null" : r.path;
      int flags = target == 0 ? O_RDONLY : O_WRONLY;
      if (target != 0 && r.kind == Redirect::Kind::kFile) {
        flags |= O_CREAT | (r.append ? O_APPEND : O_TRUNC);
      }
      int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
      if (fd < 0) {
        *error = "cannot open '" + path + "' for descriptor " + std::to_string(target) + ": " +
                 std::strerror(errno);
        return -2;
      }
      owned.fds.push_back(fd);
      return fd;
    }
  }
  return -1;
}

}  // namespace

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::optional<std::string> FindOnPath(const std::string& name, const std::string& path_list) {
  size_t start = 0;
  while (start <= path_list.size()) {
    size_t end = path_list.find(':', start);
    if (end == std::string::npos) end = path_list.size();
    std::string dir = path_list.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (IsExecutableFile(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

std::shared_mutex& ForkLock() {
  static std::shared_mutex* lock = new std::shared_mutex();  // never destroyed
  return *lock;
}

pid_t SpawnProcess(const SpawnOptions& options, SpawnFailure* failure) {
  if (options.argv.empty() || options.argv[0].empty()) {
    Fail(failure, SpawnStage::kArguments, EINVAL,
         Describe(SpawnStage::kArguments, EINVAL, options));
    return -1;
  }
  // Everything the child needs is prepared here: between fork and exec it
  // makes only async-signal-safe calls.
  OwnedFds owned;
  std::vector<std::pair<int, int>> maps;  // {child_fd, parent_fd}
  const Redirect* stdio[3] = {&options.in, &options.out, &options.err};
  for (int target = 0; target < 3; ++target) {
    std::string error;
    int src = Source(*stdio[target], target, owned, &error);
    if (src == -2) {
      Fail(failure, SpawnStage::kRedirect, errno, "cannot start " + options.argv[0] + ": " + error);
      return -1;
    }
    if (src >= 0) maps.emplace_back(target, src);
  }
  for (const auto& [child_fd, parent_fd] : options.keep_fds) {
    if (child_fd < 3 || parent_fd < 0) {
      Fail(failure, SpawnStage::kArguments, EINVAL,
           "cannot start " + options.argv[0] + ": kept descriptor " + std::to_string(child_fd) +
               " <- " + std::to_string(parent_fd) + " is not a descriptor above stderr");
      return -1;
    }
    maps.emplace_back(child_fd, parent_fd);
  }
  int high = 2;  // the highest descriptor the child keeps
  for (const auto& m : maps) high = std::max(high, m.first);
  struct rlimit lim {};
  int fd_limit = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
                     ? static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 1 << 20))
                     : 1 << 16;

  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<std::string> env_strings;
  if (options.env) {
    env_strings = *options.env;
  } else {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) env_strings.emplace_back(*e);
  }
  std::vector<char*> envp = CStrings(env_strings);
  std::vector<std::string> candidates = Candidates(options);
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  std::vector<int> moved(maps.size(), -1);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);

  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    Fail(failure, SpawnStage::kFork, e, Describe(SpawnStage::kFork, e, options));
    return -1;
  }
  const pid_t parent = ::getpid();
  // Block every signal around fork so that no handler of ours runs in the
  // child before its dispositions are reset.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  // No other thread holds a file open for writing that a child might exec
  // while we fork (ForkLock): the child would keep that descriptor until its
  // own exec, and exec of the file meanwhile fails with ETXTBSY.
  ForkLock().lock();
  pid_t pid = ::fork();
  if (pid == 0) {
    int report = status_pipe[1];
    auto die = [&](SpawnStage stage, int error) {
      ChildFailure f{static_cast<int>(stage), error};
      ssize_t ignored = ::write(report, &f, sizeof(f));
      (void)ignored;
      ::_exit(127);
    };
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig == SIGKILL || sig == SIGSTOP) continue;
      // The raw system call: glibc's sigaction refuses its internal
      // signals (32, 33), which a parent may still have ignored and which
      // exec would pass on. An all-zero kernel sigaction is SIG_DFL with
      // no flags and an empty mask whatever the architecture's layout.
      unsigned long dfl[4] = {0, 0, 0, 0};
      ::syscall(SYS_rt_sigaction, sig, dfl, nullptr, 8);  // 64-bit kernel sigset
    }
    if (options.new_session) {
      ::setsid();
    } else if (options.new_process_group) {
      ::setpgid(0, 0);
    }
    if (options.kill_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
    }
    // Move every source and the report pipe above the kept range, then
    // place the sources (dup2 clears close-on-exec on the target).
    if (report <= high) {
      report = ::fcntl(report, F_DUPFD_CLOEXEC, high + 1);
      if (report < 0) ::_exit(127);
    }
    const size_t n = maps.size();
    for (size_t i = 0; i < n; ++i) {
      moved[i] = ::fcntl(maps[i].second, F_DUPFD_CLOEXEC, high + 1);
      if (moved[i] < 0) die(SpawnStage::kRedirect, errno);
    }
    for (size_t i = 0; i < n; ++i) {
      if (::dup2(moved[i], maps[i].first) < 0) die(SpawnStage::kRedirect, errno);
    }
    // Nothing else crosses exec: descriptors 3..high that are not targets,
    // and everything above, become close-on-exec.
    for (int fd = 3; fd <= high; ++fd) {
      bool target = false;
      for (size_t i = 0; i < n; ++i) target = target || maps[i].first == fd;
      if (!target) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (::syscall(SYS_close_range, high + 1, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = high + 1; fd < fd_limit; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (cwd != nullptr && ::chdir(cwd) != 0) die(SpawnStage::kChdir, errno);
    ::sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
    int exec_error = ENOENT;
    for (std::string& c : candidates) {
      ::execve(c.c_str(), argv.data(), envp.data());
      // As execvp: a permission problem beats "not found" further on PATH.
      if (errno != ENOENT && errno != ENOTDIR) exec_error = errno;
      if (errno != ENOENT && errno != ENOTDIR && errno != EACCES) break;
    }
    die(SpawnStage::kExec, exec_error);
  }
  int fork_error = errno;
  ForkLock().unlock();
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  ::close(status_pipe[1]);
  if (pid < 0) {
    ::close(status_pipe[0]);
    Fail(failure, SpawnStage::kFork, fork_error, Describe(SpawnStage::kFork, fork_error, options));
    return -1;
  }
  ChildFailure f{};
  ssize_t got;
  do {
    got = ::read(status_pipe[0], &f, sizeof(f));
  } while (got < 0 && errno == EINTR);
  ::close(status_pipe[0]);
  if (got != static_cast<ssize_t>(sizeof(f))) return pid;  // EOF: exec succeeded
  int ignored;
  while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
  }
  auto stage = static_cast<SpawnStage>(f.stage);
  Fail(failure, stage, f.error, Describe(stage, f.error, options));
  return -1;
}

}  // namespace tandem::subprocess
