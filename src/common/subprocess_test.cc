#include "common/subprocess.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace tandem::subprocess {
namespace {

using ::testing::HasSubstr;

// Runs `options` to its end (Run); returns what it printed and how it ended.
RunResult Capture(SpawnOptions options) {
  StatusOr<RunResult> r = Run(std::move(options));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : RunResult{};
}

SpawnOptions Shell(const std::string& script) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", script};
  return o;
}

TEST(SubprocessTest, ChildInheritsNoDescriptorWithoutCloexec) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);  // deliberately not close-on-exec
  constexpr int kHigh = 57;
  ASSERT_EQ(::dup2(p[0], kHigh), kHigh);
  std::ostringstream script;
  for (int fd : {p[0], p[1], kHigh}) {
    script << "if [ -e /proc/self/fd/" << fd << " ]; then echo leaked " << fd << "; fi; ";
  }
  script << "echo done";
  RunResult o = Capture(Shell(script.str()));
  EXPECT_EQ(o.out, "done\n");
  EXPECT_TRUE(o.exit.ok()) << o.exit.ToString();
  ::close(p[0]);
  ::close(p[1]);
  ::close(kHigh);
}

TEST(SubprocessTest, KeptDescriptorsArePlacedAndOthersNot) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  SpawnOptions o = Shell("echo kept >&4; [ -e /proc/self/fd/3 ] && echo three; true");
  o.keep_fds = {{4, p[1]}};
  RunResult out = Capture(o);
  ::close(p[1]);
  char buf[64] = {};
  ASSERT_GT(::read(p[0], buf, sizeof(buf) - 1), 0);
  ::close(p[0]);
  EXPECT_EQ(std::string(buf), "kept\n");
  EXPECT_EQ(out.out, "");
}

TEST(SubprocessTest, ChildHasCleanSignalMaskAndDefaultDispositions) {
  sigset_t block, saved;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &saved), 0);
  struct sigaction ignore {
  }, old_pipe{}, old_hup{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old_pipe), 0);
  ASSERT_EQ(::sigaction(SIGHUP, &ignore, &old_hup), 0);
  // glibc's own signal 32, ignored the way a parent outside glibc (a CI
  // runner written in Go) can leave it: glibc's sigaction cannot reset it.
  unsigned long ign32[4] = {1 /* SIG_IGN */, 0, 0, 0}, old32[4] = {};
  ASSERT_EQ(::syscall(SYS_rt_sigaction, 32, ign32, old32, 8), 0);

  SpawnOptions o;
  o.argv = {"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"};
  o.search_path = true;
  RunResult out = Capture(o);

  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);
  ::syscall(SYS_rt_sigaction, 32, old32, nullptr, 8);
  EXPECT_EQ(out.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST(SubprocessTest, MissingBinaryIsAClearError) {
  SpawnOptions o;
  o.argv = {"/nonexistent/tandem-no-such-program", "x"};
  StatusOr<pid_t> pid = Spawn(o);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(pid.status().message()),
              HasSubstr("/nonexistent/tandem-no-such-program: no such program"));

  o.argv = {"tandem-no-such-program"};
  o.search_path = true;
  pid = Spawn(o);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(pid.status().message()), HasSubstr("no such program on PATH"));
}

TEST(SubprocessTest, BadArgumentsDirectoriesAndFilesAreErrors) {
  EXPECT_EQ(Spawn(SpawnOptions{}).status().code(), StatusCode::kInvalidArgument);

  SpawnOptions o = Shell("true");
  o.cwd = "/nonexistent/dir";
  StatusOr<pid_t> pid = Spawn(o);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(pid.status().message()), HasSubstr("'/nonexistent/dir'"));

  o = Shell("true");
  o.err = Redirect::File("/nonexistent/dir/log");
  pid = Spawn(o);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(pid.status().message()), HasSubstr("/nonexistent/dir/log"));

  o = Shell("true");
  o.keep_fds = {{1, 0}};
  EXPECT_EQ(Spawn(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(SubprocessTest, EnvironmentWorkingDirectoryAndPathSearch) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo \"$FOO|$HOME|$(pwd)\""};
  o.search_path = true;
  o.env = std::vector<std::string>{"FOO=bar", "PATH=/usr/bin:/bin"};
  o.cwd = "/";
  RunResult out = Capture(o);
  EXPECT_EQ(out.out, "bar||/\n");
  EXPECT_TRUE(out.exit.ok());
}

TEST(SubprocessTest, ExitStatusAndSignals) {
  RunResult out = Capture(Shell("exit 3"));
  EXPECT_EQ(out.exit.exit_code, 3);
  EXPECT_EQ(out.exit.ToString(), "exit 3");
  out = Capture(Shell("kill -9 $$"));
  EXPECT_EQ(out.exit.signal, 9);
  EXPECT_FALSE(out.exit.ok());
}

TEST(SubprocessTest, NewSessionAndStdinFromFile) {
  SpawnOptions o;
  o.argv = {"/bin/cat", "/proc/self/stat"};
  o.new_session = true;
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  o.out = Redirect::Fd(p[1]);
  StatusOr<pid_t> pid = Spawn(o);
  ::close(p[1]);
  ASSERT_TRUE(pid.ok()) << pid.status();
  std::string stat;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof(buf))) > 0) stat.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  ASSERT_TRUE(Wait(*pid).ok());
  // Fields after "(comm)": state ppid pgrp session.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string state;
  pid_t ppid = 0, pgrp = 0, session = 0;
  rest >> state >> ppid >> pgrp >> session;
  EXPECT_EQ(session, *pid);
  EXPECT_EQ(pgrp, *pid);

  std::string input = ::testing::TempDir() + "/subprocess_stdin";
  {
    SpawnOptions w = Shell("printf 'from file'");
    w.out = Redirect::File(input, /*append=*/false);
    StatusOr<pid_t> writer = Spawn(w);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(Wait(*writer)->ok());
  }
  SpawnOptions r;
  r.argv = {"/bin/cat"};
  r.in = Redirect::File(input);
  EXPECT_EQ(Capture(r).out, "from file");
  std::filesystem::remove(input);
}

TEST(SubprocessTest, RunCollectsStdoutAndStderrApartOrMerged) {
  StatusOr<RunResult> r = subprocess::Run(Shell("echo out; echo err >&2; exit 3"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit.exit_code, 3);

  RunOptions merged;
  merged.merge_stderr = true;
  r = subprocess::Run(Shell("echo out; echo err >&2"), merged);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "out\nerr\n");
  EXPECT_EQ(r->err, "");
  EXPECT_TRUE(r->exit.ok());

  RunOptions capped;
  capped.max_output_bytes = 4;
  r = subprocess::Run(Shell("head -c 100000 /dev/zero"), capped);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LE(r->out.size(), 8192u);  // at most one read past the cap
  EXPECT_TRUE(r->exit.ok());        // the rest was drained, the child not blocked
}

TEST(SubprocessTest, RunKillsAChildPastItsTimeoutAndReportsMissingPrograms) {
  RunOptions o;
  o.timeout_ms = 50;
  StatusOr<RunResult> r = subprocess::Run(Shell("exec sleep 600"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("/bin/sh did not finish within 50 ms"));

  SpawnOptions missing;
  missing.argv = {"/nonexistent/tandem-no-such-program"};
  r = subprocess::Run(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tandem::subprocess
