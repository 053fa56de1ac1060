#include "compute/substrates/runner/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/subprocess_core.h"
#include "compute/substrates/runner/attempt.h"
#include "compute/substrates/runner/launch.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/runner/warm.h"

namespace tandem::compute::runner {
namespace {

constexpr char kHello = 'R';             // the launcher's first message: it is serving
constexpr int kHelloTimeoutMs = 30'000;  // a loaded machine can take seconds to exec

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away: nobody to tell
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Why `text` is not "run <absolute path>", or "".
std::string CheckMessage(std::string_view text, std::string* state_dir) {
  constexpr std::string_view kVerb = "run ";
  if (!text.starts_with(kVerb)) return "launcher message must be \"run <state dir>\"";
  std::string_view path = text.substr(kVerb.size());
  if (path.empty() || path[0] != '/') return "launcher message: the state dir must be absolute";
  if (path.find('\0') != std::string_view::npos || path.find('\n') != std::string_view::npos) {
    return "launcher message: the state dir has a NUL or newline";
  }
  struct stat st;
  std::string p(path);
  if (stat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return "launcher message: " + p + " is not a directory";
  }
  *state_dir = std::move(p);
  return "";
}

// In the forked child: becomes the attempt's runner. Never returns.
[[noreturn]] void BecomeRunner(int socket_fd, const std::string& state_dir, int reply_fd) {
  close(socket_fd);
  signal(SIGCHLD, SIG_DFL);  // the launcher ignores it to reap its children
  signal(SIGPIPE, SIG_DFL);
  setsid();  // outlives the control plane's session, as an exec'd runner does
  const std::string log = state_dir + "/" + kRunnerLogFile;
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    WriteAll(reply_fd, "Ecannot open " + log + ": " + std::strerror(errno));
    _exit(2);
  }
  if (fd != STDERR_FILENO) {
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  int code = RunAttempt(state_dir, reply_fd);
  std::fflush(nullptr);
  _exit(code);
}

// "warm <json>" with the warm socket `warm_fd` (warm.h): forks a warm
// runner, or says why not on that socket.
void ServeWarm(int socket_fd, std::string_view json_text, bool truncated, int warm_fd) {
  WarmSpec spec;
  std::string error;
  if (truncated) {
    error = "launcher message longer than " + std::to_string(kMaxLauncherMessage) + " bytes";
  } else {
    Json j = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    error = j.is_discarded() ? "warm message: not valid JSON" : WarmSpecFromJson(j, &spec);
  }
  if (error.empty()) {
    pid_t pid = fork();
    if (pid == 0) {
      close(socket_fd);
      signal(SIGPIPE, SIG_DFL);
      BecomeWarmRunner(spec, warm_fd);
    }
    if (pid < 0) error = "fork: " + std::string(std::strerror(errno));
  }
  if (!error.empty()) WriteAll(warm_fd, "E" + error);
  close(warm_fd);
}

bool PeerClosed(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

}  // namespace

ssize_t ReceiveMessage(int fd, char* buf, std::vector<int>* fds, int* flags) {
  iovec iov{buf, kMaxLauncherMessage + 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  while ((n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  *flags = msg.msg_flags;
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int passed;
      std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds->push_back(passed);
    }
  }
  return n;
}

std::string ReadStartReply(int fd) {
  std::string got;
  char buf[512];
  while (!(got.size() >= 2 && got[0] == 'F' && got[1] == '1')) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

int ServeLaunches(int socket_fd) {
  struct stat st;
  if (fstat(socket_fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    std::fprintf(stderr, "tandem-job-runner --launcher: descriptor %d is not a socket\n",
                 socket_fd);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction reap {};
  reap.sa_handler = SIG_IGN;
  reap.sa_flags = SA_NOCLDWAIT;  // runners are reaped by the kernel
  sigaction(SIGCHLD, &reap, nullptr);
  if (send(socket_fd, &kHello, 1, MSG_NOSIGNAL) != 1) return 0;
  for (;;) {
    char buf[kMaxLauncherMessage + 1];
    std::vector<int> fds;
    int flags = 0;
    ssize_t n = ReceiveMessage(socket_fd, buf, &fds, &flags);
    if (n < 0) return 0;
    // A zero-length read is the client's end closing, or an empty message.
    if (n == 0 && fds.empty() && PeerClosed(socket_fd)) return 0;
    if (fds.size() != 1 || (flags & MSG_CTRUNC) != 0) {
      std::fprintf(stderr,
                   "tandem-job-runner --launcher: dropped a message with %zu descriptors "
                   "(exactly one reply pipe expected)\n",
                   fds.size());
      for (int fd : fds) close(fd);
      continue;
    }
    const int reply = fds[0];
    if (std::string_view(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))).starts_with("warm ")) {
      ServeWarm(socket_fd, std::string_view(buf + 5, static_cast<size_t>(n) - 5),
                (flags & MSG_TRUNC) != 0, reply);
      continue;
    }
    std::string state_dir;
    std::string error =
        (flags & MSG_TRUNC) != 0
            ? "launcher message longer than " + std::to_string(kMaxLauncherMessage) + " bytes"
            : CheckMessage(std::string_view(buf, static_cast<size_t>(n)), &state_dir);
    if (!error.empty()) {
      WriteAll(reply, "E" + error);
      close(reply);
      continue;
    }
    WriteAll(reply, "F");  // before the fork: 'F' always precedes the runner's '1'
    pid_t pid = fork();
    if (pid == 0) BecomeRunner(socket_fd, state_dir, reply);
    if (pid < 0) WriteAll(reply, "Efork: " + std::string(std::strerror(errno)));
    close(reply);
  }
}

std::unique_ptr<Launcher> Launcher::Start(const std::string& runner_path, std::string* error) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    *error = "socketpair: " + std::string(std::strerror(errno));
    return nullptr;
  }
  subprocess::SpawnOptions options;
  options.argv = {runner_path, "--launcher"};
  options.env = std::vector<std::string>{};
  options.err = subprocess::Redirect::Inherit();
  options.keep_fds = {{3, sv[1]}};
  subprocess::SpawnFailure failure;
  pid_t pid = subprocess::SpawnProcess(options, &failure);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    *error = failure.message;
    return nullptr;
  }
  std::unique_ptr<Launcher> launcher(new Launcher(pid, sv[0]));
  pollfd p{sv[0], POLLIN, 0};
  int ready = 0;
  while ((ready = poll(&p, 1, kHelloTimeoutMs)) < 0 && errno == EINTR) {
  }
  char hello = 0;
  if (ready <= 0 || recv(sv[0], &hello, 1, 0) != 1 || hello != kHello) {
    *error = runner_path + " --launcher " +
             (ready == 0 ? "did not answer in time" : "exited before serving");
    return nullptr;  // the destructor kills and reaps it
  }
  return launcher;
}

Launcher::~Launcher() {
  close(socket_fd_);    // the launcher sees EOF and exits
  kill(pid_, SIGKILL);  // or is made to: no launch is in flight when we are destroyed
  int status;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

int SendMessage(int socket_fd, const std::string& message, int fd) {
  iovec iov{const_cast<char*>(message.data()), message.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  while (sendmsg(socket_fd, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

std::string Launcher::Send(const std::string& message, int fd) {
  if (int err = SendMessage(socket_fd_, message, fd); err != 0) {
    return "sending to the launcher: " + std::string(std::strerror(err));
  }
  return "";
}

Launcher::Outcome Launcher::Launch(const std::string& state_dir, std::string* error) {
  const std::string message = "run " + state_dir;
  if (message.size() > kMaxLauncherMessage) {
    *error = "state dir path longer than " + std::to_string(kMaxLauncherMessage - 4) + " bytes";
    return Outcome::kRefused;
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    *error = "pipe: " + std::string(std::strerror(errno));
    return Outcome::kRefused;
  }
  std::string sent = Send(message, pipe_fds[1]);
  close(pipe_fds[1]);
  if (!sent.empty()) {
    close(pipe_fds[0]);
    *error = sent;
    return Outcome::kLauncherGone;
  }
  // 'F' [then '1' | "E<why>" | EOF], or "E<why>", or EOF: see launcher.h.
  std::string got = ReadStartReply(pipe_fds[0]);
  close(pipe_fds[0]);
  if (got.empty()) {
    *error = "the launcher closed the reply pipe without forking";
    return Outcome::kLauncherGone;
  }
  if (got[0] == 'E') {
    *error = got.substr(1);
    return Outcome::kRefused;
  }
  if (got.size() >= 2 && got[1] == '1') return Outcome::kStarted;
  *error = got.size() >= 2 && got[1] == 'E' ? got.substr(2) : RunnerLogTail(state_dir);
  return Outcome::kRunnerFailed;
}

std::string Launcher::StartWarm(const std::string& spec_json, int warm_fd) {
  const std::string message = "warm " + spec_json;
  if (message.size() > kMaxLauncherMessage) {
    return "warm spec longer than " + std::to_string(kMaxLauncherMessage - 5) + " bytes";
  }
  return Send(message, warm_fd);
}

std::string Launcher::SendRawForTest(const std::string& message, bool with_reply) {
  int pipe_fds[2] = {-1, -1};
  if (with_reply && pipe2(pipe_fds, O_CLOEXEC) != 0) return "pipe failed";
  std::string sent = Send(message, pipe_fds[1]);
  if (pipe_fds[1] >= 0) close(pipe_fds[1]);
  if (!sent.empty()) {
    if (pipe_fds[0] >= 0) close(pipe_fds[0]);
    return sent;
  }
  std::string got;
  if (pipe_fds[0] < 0) return got;
  char buf[512];
  for (;;) {
    ssize_t n = read(pipe_fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  return got;
}

}  // namespace tandem::compute::runner
