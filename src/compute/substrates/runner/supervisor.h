// The heart of tandem-job-runner: runs one job as a process group under the
// calling process, which must be a child subreaper (so orphaned descendants
// stay in the tree) with SIGCHLD, SIGTERM and SIGINT blocked and delivered
// through `signal_fd` (a signalfd). It captures the job's stdout+stderr to a
// bounded log, samples the tree's memory, enforces max_runtime_seconds and the
// memory limit, obeys SIGTERM (Stop; a sigqueue'd int value is the grace in
// seconds), kills whatever the job leaves behind, reaps everything and meters
// the whole tree. Not thread-safe: one Supervisor per runner process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "compute/substrates/runner/protocol.h"

namespace tandem::compute::runner {

// A sandbox started before the job (warm.h): bubblewrap's pid (a child of
// this process, leading its own process group), the read end of its
// stdout+stderr and the stream socket to the waiter inside it. The
// Supervisor owns the descriptors once given them.
struct StartedSandbox {
  pid_t pid = 0;
  int output_fd = -1;
  int control_fd = -1;
};

class Supervisor {
 public:
  Supervisor(RunnerRequest request, std::string state_dir, int signal_fd);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs the job in `sandbox` instead of starting bubblewrap (call before
  // Prepare): the job's command is sent to the waiter; an image or file
  // secrets are refused by Prepare (they are bound when bubblewrap starts).
  void UseStartedSandbox(const StartedSandbox& sandbox);

  // Opens the log and builds the command. Returns an error message naming
  // the offending path, or "" on success.
  std::string Prepare();

  // Starts the job now, before Run (which then only supervises it); a
  // failure to start is reported by Run.
  void StartJob();

  // Starts the job (unless StartJob did) and blocks until it and all its
  // descendants are gone.
  // Writes the `started` marker and job.json into the state directory.
  jobs::ExitInfo Run();

 private:
  struct ExecFailure {
    int stage = 0;  // 1 = chdir, 2 = exec
    int error = 0;
  };

  std::optional<ExecFailure> Launch();
  std::optional<ExecFailure> LaunchInStartedSandbox();
  void WriteStartFiles();  // `started` and job.json
  void ReadExecStatus();
  void Loop();
  void HandleSignals();
  void ReapAvailable();
  void ReadLog(bool final);
  void AppendLog(const char* data, size_t n);
  void Sample(int64_t now);
  void Terminate(jobs::ExitKind reason, std::string message, int64_t grace_micros, int64_t now);
  void SignalTree(int sig);
  void KillAndReapAll();
  jobs::ExitInfo Result() const;

  RunnerRequest req_;
  std::string state_dir_;
  int signal_fd_;
  std::string exec_path_;
  std::vector<std::string> argv_;
  std::vector<std::string> envp_;
  // File secrets for bubblewrap: {child descriptor, memfd}; closed once spawned.
  std::vector<std::pair<int, int>> secret_fds_;

  bool launched_ = false;
  bool start_files_pending_ = false;
  std::optional<ExecFailure> launch_failure_at_start_;
  std::optional<StartedSandbox> started_sandbox_;
  std::string waiter_command_;    // JSON for the waiter (started sandbox only)
  std::string exec_status_;       // what the waiter wrote after the command
  std::optional<std::string> exec_failure_;  // the waiter could not exec the command

  int log_fd_ = -1;   // the log file
  int pipe_fd_ = -1;  // read end of the job's stdout+stderr
  int image_lock_fd_ = -1;  // the image's in-use lock, held shared (images only)
  int64_t log_written_ = 0;
  int64_t log_discarded_ = 0;
  bool truncated_ = false;

  int job_pid_ = 0;
  bool job_exited_ = false;
  int job_status_ = 0;

  std::optional<jobs::ExitKind> reason_;  // set when we decided to end the job
  std::string reason_message_;
  int64_t kill_deadline_ = 0;  // monotonic micros; 0 = none
  int64_t runtime_deadline_ = 0;
  int64_t next_sample_ = 0;
  int64_t peak_rss_ = 0;
  std::set<std::pair<int, uint64_t>> termed_;  // (pid, start) that got SIGTERM

  int64_t started_micros_ = 0;
  int64_t ended_micros_ = 0;
  int64_t start_mono_ = 0;
  int64_t end_mono_ = 0;
  std::optional<jobs::ExitInfo> launch_failure_;
};

// Monotonic microseconds (CLOCK_MONOTONIC).
int64_t MonotonicMicros();

// "SIGSEGV" for 11; "signal 77" if unknown.
std::string SignalName(int sig);

}  // namespace tandem::compute::runner
