// The pre-forked launcher ("zygote"): one long-lived `tandem-job-runner
// --launcher` per local substrate, started once, that forks a job attempt's
// runner on one message. Starting a job then costs one fork of a small,
// already loaded process instead of a fork of the (large, multi-threaded)
// control plane, an exec of the runner, its dynamic loading and a second fork
// to detach -- and the control plane waits for one process, not three.
//
// Protocol, over a SOCK_SEQPACKET socketpair (the launcher's end is its
// descriptor 3; it exits when the other end closes):
//   client -> launcher: one message "run <STATE_DIR>" (an absolute path, no
//     NUL or newline, at most kMaxMessage bytes) carrying exactly one
//     descriptor (SCM_RIGHTS): the write end of a reply pipe.
//   launcher -> reply pipe: 'F' just before it forks the runner, or
//     "E<message>" for a malformed message (or a failed fork) and nothing else.
//   runner -> reply pipe: '1' once it is ready (attempt.h). The runner (a new
//     session, stderr appended to STATE_DIR/runner.log, SIGCHLD back to
//     default) then runs the attempt; the launcher reaps it (SIGCHLD ignored).
//   client -> launcher: "warm <json>" (a WarmSpec, warm.h) carrying exactly one
//     descriptor, the launcher's end of a warm socket: it forks a warm runner
//     serving that socket, or writes "E<why>" on it.
// So the client knows: '1' = started; 'F' without '1' before EOF = the runner
// failed (runner.log says why); neither = the launcher died before forking,
// nothing ran and the runner may be started another way. A message without
// exactly one descriptor gets no reply (there is nowhere to send one); it is
// reported on the launcher's stderr and dropped. Malformed messages never stop
// the launcher.
//
// Absl-free like the rest of the runner: errors are messages ("" = success).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace tandem::compute::runner {

inline constexpr size_t kMaxLauncherMessage = 4096;

// The launcher's loop on `socket_fd`: returns 0 when the client end closes.
int ServeLaunches(int socket_fd);

// One message from `fd` into `buf` (kMaxLauncherMessage + 1 bytes) with the
// descriptors passed along (close-on-exec, appended to `fds`); EINTR is
// retried. Returns recvmsg's result; `*flags` gets its msg_flags.
ssize_t ReceiveMessage(int fd, char* buf, std::vector<int>* fds, int* flags);

// Sends `message` on `socket_fd` with descriptor `fd` attached (none if
// fd < 0); EINTR is retried. Returns 0 or the errno of the failure.
int SendMessage(int socket_fd, const std::string& message, int fd);

// Reads `fd` until the start reply "F1" or end of file: what came (a runner
// that failed to start says "F" then "E<why>", a refusal "E<why>").
std::string ReadStartReply(int fd);

// The client end, owned by one local substrate. Thread-safe: Launch may be
// called concurrently (each call has its own reply pipe).
class Launcher {
 public:
  // Starts `runner_path --launcher` (empty environment, stdin/stdout
  // /dev/null, stderr inherited). nullptr and `*error` if it cannot start.
  static std::unique_ptr<Launcher> Start(const std::string& runner_path, std::string* error);
  ~Launcher();  // closes the socket (the launcher exits) and reaps it
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  enum class Outcome {
    kStarted,       // the runner is ready
    kRunnerFailed,  // the runner was forked but did not start the job; see `error`
    kRefused,       // the launcher refused the message; see `error`
    kLauncherGone,  // nothing was forked: the launcher is dead or dying
  };
  // Forks the runner of `state_dir` and waits until it is ready or has failed.
  Outcome Launch(const std::string& state_dir, std::string* error);

  // Asks for a warm runner (warm.h) serving `warm_fd` (sent, not closed);
  // "" once sent: its answer comes on the other end of the warm socket.
  std::string StartWarm(const std::string& spec_json, int warm_fd);

  // For tests: sends `message` with `pass_fd` (-1: none) as a raw launcher
  // message and returns what came back on the reply pipe until EOF (no pipe
  // when pass_fd is -1 and `with_reply` is false: "").
  std::string SendRawForTest(const std::string& message, bool with_reply);

  pid_t pid() const { return pid_; }

 private:
  Launcher(pid_t pid, int socket_fd) : pid_(pid), socket_fd_(socket_fd) {}
  // Sends `message` with `fd` attached (-1: none); "" on success.
  std::string Send(const std::string& message, int fd);

  const pid_t pid_;
  const int socket_fd_;
};

}  // namespace tandem::compute::runner
