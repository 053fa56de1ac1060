// Starting a child process: the one implementation every launch site uses
// (through common/subprocess.h, or directly where absl must not be loaded:
// tandem-job-runner and tandem-slurm-step start per job and stay absl-free).
//
// Whatever the caller asks for, the child starts clean:
//  - it inherits no descriptor except 0, 1, 2 and the `keep_fds` mappings
//    (close_range(CLOSE_RANGE_CLOEXEC), or a walk up to RLIMIT_NOFILE on
//    kernels without it), so a control plane's sockets never leak into a job;
//  - its signal mask is empty and every signal has its default disposition
//    (a parent that ignores SIGPIPE or blocks SIGCHLD passes neither on);
//  - stdin, stdout and stderr are /dev/null unless redirected.
// Optional: a new session or process group, SIGKILL when the parent dies, a
// working directory, an exact environment, PATH search.
//
// Files named by redirections are opened by the parent before the fork, so a
// bad path is an error of the call, not a child that dies. Failures in the
// child before exec (chdir, exec) are reported back through a close-on-exec
// pipe, so a missing binary is an error naming it, never a pid that exits 127.
#pragma once

#include <shared_mutex>

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tandem::subprocess {

// Where one of the child's standard descriptors comes from.
struct Redirect {
  enum class Kind { kNull, kInherit, kFd, kFile };
  Kind kind = Kind::kNull;
  int fd = -1;         // kFd: a descriptor of the parent (left open in the parent)
  std::string path;    // kFile: opened by the parent (created 0644 for writing)
  bool append = true;  // kFile for stdout/stderr: O_APPEND, else O_TRUNC

  static Redirect Null() { return {}; }
  static Redirect Inherit() { return {Kind::kInherit, -1, "", true}; }
  static Redirect Fd(int fd) { return {Kind::kFd, fd, "", true}; }
  static Redirect File(std::string path, bool append = true) {
    return {Kind::kFile, -1, std::move(path), append};
  }
};

struct SpawnOptions {
  // argv[0] is the program: a path, or a bare name when `search_path`.
  std::vector<std::string> argv;
  // The file to execute when it is not argv[0] (e.g. a resolved path while
  // argv[0] stays the name the user wrote); "" means argv[0].
  std::string program;
  // Exact environment ("KEY=value" each); nullopt inherits the parent's.
  std::optional<std::vector<std::string>> env;
  // Resolve a bare argv[0] against PATH (the child's `env` PATH when given,
  // else the parent's, else /usr/local/bin:/usr/bin:/bin), like execvp.
  bool search_path = false;
  std::string cwd;                 // "" keeps the parent's
  bool new_session = false;        // setsid(): outlives the caller's group and terminal
  bool new_process_group = false;  // setpgid(0, 0) (ignored with new_session)
  bool kill_with_parent = false;   // PR_SET_PDEATHSIG = SIGKILL
  Redirect in, out, err;           // default /dev/null each
  // Further descriptors the child keeps: {child_fd, parent_fd}; child_fd >= 3.
  std::vector<std::pair<int, int>> keep_fds;
};

// What failed, for the error message.
enum class SpawnStage { kNone, kArguments, kRedirect, kFork, kChdir, kExec };

struct SpawnFailure {
  SpawnStage stage = SpawnStage::kNone;
  int error = 0;        // errno
  std::string message;  // names the program, the file or the directory
};

// A regular file we may execute.
bool IsExecutableFile(const std::string& path);
// The first executable `name` in the colon-separated `path_list` (an empty
// entry is the current directory), as execvp would find it.
std::optional<std::string> FindOnPath(const std::string& name, const std::string& path_list);

// Starts the child and returns its pid (> 0), or -1 with `*failure` set; the
// child is then already reaped. The caller waits for a returned pid.
[[nodiscard]] pid_t SpawnProcess(const SpawnOptions& options, SpawnFailure* failure);

// Held exclusively by SpawnProcess around fork(). Code that writes a file a
// child process may execute (a job's staged code) holds it shared while the
// file is open for writing, so that no child forked meanwhile inherits the
// descriptor: executing the file while any process has it open for writing
// fails with ETXTBSY ("Text file busy").
std::shared_mutex& ForkLock();

}  // namespace tandem::subprocess
