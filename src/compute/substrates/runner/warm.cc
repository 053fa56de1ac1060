#include "compute/substrates/runner/warm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "common/subprocess_core.h"
#include "compute/jobs/contract.h"
#include "compute/substrates/runner/attempt.h"
#include "compute/substrates/runner/launcher.h"
#include "compute/substrates/runner/sandbox.h"

namespace tandem::compute::runner {
namespace {

constexpr int kSandboxReadyTimeoutMs = 60'000;  // bubblewrap on a loaded machine
constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// The running executable's file name ("tandem-job-runner").
std::string OwnName() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return "tandem-job-runner";
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(self.rfind('/') + 1);
}

// The warm runner's state between its sandbox's start and a job (or none).
class WarmRunner {
 public:
  WarmRunner(const WarmSpec& spec, int warm_fd) : spec_(spec), warm_fd_(warm_fd) {}

  [[noreturn]] void Serve() {
    std::string error;
    signal_fd_ = SetUpRunnerSignals(&error);
    if (signal_fd_ < 0) Refuse(error);
    if (stat(spec_.slot_dir.c_str(), &slot_) != 0 || !S_ISDIR(slot_.st_mode)) {
      Refuse("slot " + spec_.slot_dir + " is not a directory");
    }
    StartSandbox();
    WriteAll(warm_fd_, "W");
    WaitForJob();
  }

 private:
  // Before the sandbox waits: says why on the warm socket and exits.
  [[noreturn]] void Refuse(const std::string& why) {
    WriteAll(warm_fd_, "E" + why);
    End(2);
  }

  // Ends the sandbox (if any), removes the slot if it is still the empty
  // directory made for it, and exits.
  [[noreturn]] void End(int code) {
    if (sandbox_.pid > 0) {
      kill(-sandbox_.pid, SIGKILL);
      kill(sandbox_.pid, SIGKILL);
      int status;
      while (waitpid(sandbox_.pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    // Only if still as made (empty but for input/data): a staged job's
    // files stay.
    rmdir((spec_.slot_dir + "/input/data").c_str());
    rmdir((spec_.slot_dir + "/input").c_str());
    rmdir(spec_.slot_dir.c_str());
    _exit(code);
  }

  void StartSandbox() {
    int control[2], out[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) != 0 ||
        pipe2(out, O_CLOEXEC) != 0) {
      Refuse("socketpair/pipe: " + std::string(std::strerror(errno)));
    }
    SandboxSpec sb{spec_.bwrap_path,
                   spec_.slot_dir,
                   "",
                   spec_.network,
                   {std::string(jobs::kHelperDir) + "/" + OwnName(), "--sandbox-wait"},
                   OwnDirectory()};
    ClassifyHiddenPaths(spec_.hidden_paths, &sb.hidden_dirs, &sb.hidden_files);
    subprocess::SpawnOptions options;
    options.argv = BwrapCommand(sb, InspectHostOpt());
    options.env = std::vector<std::string>{};
    options.new_process_group = true;
    options.kill_with_parent = true;
    options.out = subprocess::Redirect::Fd(out[1]);
    options.err = subprocess::Redirect::Fd(out[1]);
    options.keep_fds = {{3, control[1]}};
    subprocess::SpawnFailure failure;
    pid_t pid = subprocess::SpawnProcess(options, &failure);
    close(out[1]);
    close(control[1]);
    if (pid < 0) Refuse(failure.message);
    setpgid(pid, pid);
    sandbox_ = StartedSandbox{pid, out[0], control[0]};
    // The waiter's 'W', or bubblewrap's complaint and its end.
    pollfd p{control[0], POLLIN, 0};
    int ready;
    while ((ready = poll(&p, 1, kSandboxReadyTimeoutMs)) < 0 && errno == EINTR) {
    }
    char c = 0;
    if (ready > 0 && read(control[0], &c, 1) == 1 && c == 'W') return;
    std::string said;
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    char buf[1024];
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n > 0) said.assign(buf, static_cast<size_t>(n));
    while (!said.empty() && said.back() == '\n') said.pop_back();
    Refuse(ready == 0 ? "the sandbox did not start in time"
                      : "the sandbox did not start: " + (said.empty() ? "no diagnostics" : said));
  }

  // Waits for "run", EOF, the sandbox's death or SIGTERM.
  [[noreturn]] void WaitForJob() {
    for (;;) {
      pollfd p[2] = {{warm_fd_, POLLIN, 0}, {signal_fd_, POLLIN, 0}};
      if (poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        End(2);
      }
      if (p[1].revents & POLLIN) {
        signalfd_siginfo si;
        while (read(signal_fd_, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
          if (si.ssi_signo != SIGCHLD) End(0);  // SIGTERM/SIGINT: no job to stop
        }
        int status;
        if (waitpid(sandbox_.pid, &status, WNOHANG) == sandbox_.pid) {
          sandbox_.pid = 0;  // died: the substrate sees this socket close
          End(2);
        }
      }
      if (p[0].revents != 0) Receive();
    }
  }

  [[noreturn]] void Receive() {
    char buf[kMaxLauncherMessage + 1];
    std::vector<int> fds;
    int flags = 0;
    ssize_t n = ReceiveMessage(warm_fd_, buf, &fds, &flags);
    if (n <= 0 || fds.size() != 1) End(0);  // the substrate closed (or misspoke): done
    const int reply = fds[0];
    std::string state_dir;
    std::string why = Accept(std::string_view(buf, static_cast<size_t>(n)), &state_dir);
    if (!why.empty()) {
      WriteAll(reply, "E" + why);
      close(reply);
      End(0);
    }
    close(warm_fd_);  // the substrate hears from this attempt's runner files only
    // From here on, the attempt's runner: diagnostics go to its runner.log.
    const std::string log = state_dir + "/" + kRunnerLogFile;
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0 && fd != STDERR_FILENO) {
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    if (std::string e = TakeSecretsFile(state_dir, &request_.launch); !e.empty()) {
      WriteAll(reply, "F");
      std::fprintf(stderr, "tandem-job-runner: %s\n", e.c_str());
      End(2);
    }
    StartedSandbox sandbox = sandbox_;
    int code = SuperviseAttempt(std::move(request_), state_dir, signal_fd_, reply, &sandbox);
    std::fflush(nullptr);
    _exit(code);
  }

  // Why the message cannot run in this sandbox, or "" (request_ read).
  std::string Accept(std::string_view text, std::string* state_dir) {
    constexpr std::string_view kVerb = "run ";
    if (!text.starts_with(kVerb)) return "warm runner message must be \"run <state dir>\"";
    std::string dir(text.substr(kVerb.size()));
    if (dir.empty() || dir[0] != '/' || dir.find('\0') != std::string::npos) {
      return "warm runner message: the state dir must be an absolute path";
    }
    Json json;
    if (std::string e = ReadJsonFile(dir + "/" + kRequestFile, &json); !e.empty()) return e;
    if (std::string e = RunnerRequestFromJson(json, &request_); !e.empty()) return e;
    const RunnerRequest& r = request_;
    if (!r.sandbox || r.bwrap_path != spec_.bwrap_path || !r.image_rootfs.empty() ||
        r.launch.network != spec_.network || r.hidden_paths != spec_.hidden_paths) {
      return "the attempt asks for another sandbox than this warm one";
    }
    struct stat st;
    if (stat(r.launch.job_dir.c_str(), &st) != 0 || st.st_dev != slot_.st_dev ||
        st.st_ino != slot_.st_ino) {
      return "the attempt's job_dir " + r.launch.job_dir + " is not this sandbox's slot";
    }
    *state_dir = std::move(dir);
    return "";
  }

  const WarmSpec spec_;
  const int warm_fd_;
  int signal_fd_ = -1;
  struct stat slot_ {};
  StartedSandbox sandbox_;
  RunnerRequest request_;
};

}  // namespace

Json WarmSpecToJson(const WarmSpec& w) {
  return Json{{"slot_dir", w.slot_dir},
              {"bwrap_path", w.bwrap_path},
              {"network", w.network},
              {"hidden_paths", w.hidden_paths}};
}

std::string WarmSpecFromJson(const Json& j, WarmSpec* out) {
  try {
    WarmSpec w;
    w.slot_dir = j.at("slot_dir").get<std::string>();
    w.bwrap_path = j.at("bwrap_path").get<std::string>();
    w.network = j.at("network").get<bool>();
    w.hidden_paths = j.at("hidden_paths").get<std::vector<std::string>>();
    if (w.slot_dir.empty() || w.slot_dir[0] != '/') return "warm spec: slot_dir must be absolute";
    if (w.bwrap_path.empty() || w.bwrap_path[0] != '/') {
      return "warm spec: bwrap_path must be absolute";
    }
    *out = std::move(w);
    return "";
  } catch (const Json::exception& e) {
    return std::string("warm spec: ") + e.what();
  }
}

void BecomeWarmRunner(const WarmSpec& spec, int warm_fd) {
  signal(SIGCHLD, SIG_DFL);  // the launcher ignores it to reap its children
  setsid();                  // outlives the control plane's session, as a runner does
  WarmRunner(spec, warm_fd).Serve();
}

std::string WaiterCommandToJson(const WaiterCommand& c) {
  return Json{{"argv", c.argv}, {"env", c.env}, {"cwd", c.cwd}}.dump();
}

int SandboxWait(int control_fd) {
  if (write(control_fd, "W", 1) != 1) return 127;
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = read(control_fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  WaiterCommand c;
  try {
    Json j = Json::parse(text);
    c.argv = j.at("argv").get<std::vector<std::string>>();
    c.env = j.at("env").get<std::vector<std::string>>();
    c.cwd = j.at("cwd").get<std::string>();
  } catch (const Json::exception&) {
    return 127;  // no command (the warm runner ended the sandbox): nothing to run
  }
  if (c.argv.empty()) return 127;
  if (chdir(c.cwd.c_str()) != 0) {
    int err = errno;
    dprintf(control_fd, "E%d chdir", err);
    std::fprintf(stderr, "[tandem] cannot enter working directory %s: %s\n", c.cwd.c_str(),
                 std::strerror(err));
    return 127;
  }
  std::string path = kDefaultPath;
  for (const std::string& e : c.env) {
    if (e.starts_with("PATH=")) path = e.substr(5);
  }
  std::string program = c.argv[0];
  if (program.find('/') == std::string::npos) {
    program = subprocess::FindOnPath(program, path).value_or(program);
  }
  std::vector<char*> argv, envp;
  for (std::string& a : c.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : c.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  fcntl(control_fd, F_SETFD, FD_CLOEXEC);  // a successful exec closes it: EOF
  execve(program.c_str(), argv.data(), envp.data());
  int err = errno;
  dprintf(control_fd, "E%d exec", err);
  std::fprintf(stderr, "[tandem] cannot execute %s: %s\n", c.argv[0].c_str(), std::strerror(err));
  return 127;
}

}  // namespace tandem::compute::runner
