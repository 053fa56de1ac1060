// Unit tests of the runner's pieces: /proc parsing, the bubblewrap command
// line and the state-file protocol.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "compute/substrates/runner/proc_stats.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/runner/sandbox.h"
#include "gtest/gtest.h"

namespace tandem::compute::runner {
namespace {

TEST(ProcStatTest, ParsesCommWithSpacesAndParens) {
  std::string text =
      "4242 (my (weird) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 "
      "987654 10000000 321 18446744073709551615";
  auto st = ParseProcStat(text);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->pgid, 4242);
  EXPECT_EQ(st->start_ticks, 987654u);
  EXPECT_EQ(st->rss_pages, 321);
}

TEST(ProcStatTest, RejectsTruncatedText) {
  EXPECT_FALSE(ParseProcStat("12 (x) S 1 2").has_value());
  EXPECT_FALSE(ParseProcStat("garbage").has_value());
}

TEST(ProcStatTest, SelfIsLiveAndAForkedChildIsADescendant) {
  auto self = ReadProcStat(getpid());
  ASSERT_TRUE(self.has_value());
  EXPECT_TRUE(IsSameLiveProcess(getpid(), self->start_ticks));
  EXPECT_FALSE(IsSameLiveProcess(getpid(), self->start_ticks + 1));
  EXPECT_GT(ResidentBytes(*self), 0);
  EXPECT_GT(ProportionalBytes(getpid()), 0);

  int p[2];
  ASSERT_EQ(pipe(p), 0);
  int q[2];  // the grandchild's pid comes back through q
  ASSERT_EQ(pipe(q), 0);
  pid_t child = fork();
  if (child == 0) {
    close(p[1]);
    close(q[0]);
    pid_t grandchild = fork();
    if (grandchild == 0) {
      char c;
      ssize_t n = read(p[0], &c, 1);  // wait until the test is done looking
      _exit(n == 1 ? 0 : 1);
    }
    ssize_t w = write(q[1], &grandchild, sizeof grandchild);
    char c;
    ssize_t n = read(p[0], &c, 1);
    int status = 0;
    waitpid(grandchild, &status, 0);
    _exit(n == 1 && w == sizeof grandchild ? 0 : 1);
  }
  close(p[0]);
  close(q[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(read(q[0], &grandchild, sizeof grandchild), static_cast<ssize_t>(sizeof grandchild));
  close(q[0]);
  auto d = Descendants(getpid());
  auto has = [&](pid_t pid) {
    return std::any_of(d.begin(), d.end(), [&](const ProcStat& s) { return s.pid == pid; });
  };
  EXPECT_TRUE(has(child));
  EXPECT_TRUE(has(grandchild));
  EXPECT_FALSE(has(getpid()));
  ASSERT_EQ(write(p[1], "xx", 2), 2);
  close(p[1]);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_FALSE(ReadProcStat(child).has_value());
}

TEST(SandboxTest, CommandWithoutNetworkAndTmpfsOpt) {
  SandboxSpec spec{"/usr/bin/bwrap", "/data/jobs/j1", "", false, {"python3", "train.py"}, ""};
  HostOpt host{{{"conda", false, ""}, {"link", true, "/elsewhere"}}};
  std::vector<std::string> c = BwrapCommand(spec, host);
  auto has = [&](std::vector<std::string> seq) {
    return std::search(c.begin(), c.end(), seq.begin(), seq.end()) != c.end();
  };
  EXPECT_EQ(c.front(), "/usr/bin/bwrap");
  EXPECT_TRUE(has({"--unshare-net"}));
  EXPECT_TRUE(has({"--ro-bind", "/", "/"}));
  EXPECT_TRUE(has({"--tmpfs", "/opt"}));
  EXPECT_TRUE(has({"--ro-bind-try", "/opt/conda", "/opt/conda"}));
  EXPECT_TRUE(has({"--symlink", "/elsewhere", "/opt/link"}));
  EXPECT_TRUE(has({"--bind", "/data/jobs/j1", "/opt/ml", "--ro-bind-try",
                   "/data/jobs/j1/input/data", "/opt/ml/input/data", "--chdir", "/opt/ml", "--",
                   "python3", "train.py"}));
  EXPECT_EQ(std::count(c.begin(), c.end(), "/opt/tandem-libexec"), 0);  // no helper dir given
  // The job directory is bound after the read-only root, so it stays writable.
  auto root = std::find(c.begin(), c.end(), "--ro-bind");
  auto bind = std::find(c.begin(), c.end(), "--bind");
  EXPECT_LT(root, bind);
}

TEST(SandboxTest, HiddenPathsAreCoveredBeforeTheJobDirectoryIsBound) {
  SandboxSpec spec{"bwrap", "/var/lib/tandem/jobs/j1/attempt-1/ml", "", false, {"/bin/true"}, ""};
  spec.hidden_dirs = {"/var/lib/tandem", "/srv/store"};
  spec.hidden_files = {"/srv/db/tandem.db"};
  std::vector<std::string> c = BwrapCommand(spec, HostOpt{});
  auto at = [&](std::vector<std::string> seq) {
    return std::search(c.begin(), c.end(), seq.begin(), seq.end()) - c.begin();
  };
  const auto end = static_cast<std::ptrdiff_t>(c.size());
  EXPECT_LT(at({"--tmpfs", "/var/lib/tandem"}), end);
  EXPECT_LT(at({"--tmpfs", "/srv/store"}), end);
  EXPECT_LT(at({"--ro-bind", "/dev/null", "/srv/db/tandem.db"}), end);
  // After the read-only root, before the job's own directory (bound from the host's view).
  EXPECT_LT(at({"--ro-bind", "/", "/"}), at({"--tmpfs", "/var/lib/tandem"}));
  EXPECT_LT(at({"--tmpfs", "/var/lib/tandem"}),
            at({"--bind", "/var/lib/tandem/jobs/j1/attempt-1/ml", "/opt/ml"}));
}

TEST(SandboxTest, ClassifyHiddenPathsKeepsExistingAbsolutePathsOnly) {
  std::vector<std::string> dirs, files;
  ClassifyHiddenPaths({"/", "", "relative", "/proc/self/status", "/etc", "/no/such/path"}, &dirs,
                      &files);
  EXPECT_EQ(dirs, std::vector<std::string>{"/etc"});
  EXPECT_EQ(files, std::vector<std::string>{"/proc/self/status"});
  // Under a hidden directory: hidden already, no mount point inside it.
  dirs.clear();
  files.clear();
  ClassifyHiddenPaths({"/etc/ssl", "/etc", "/etc/passwd", "/proc/self"}, &dirs, &files);
  EXPECT_EQ(dirs, (std::vector<std::string>{"/etc", "/proc/self"}));
  EXPECT_TRUE(files.empty());
}

TEST(SandboxTest, HelpersAtAFixedPathAndHostOptMlShadowed) {
  SandboxSpec spec{"bwrap", "/j",          "/opt/ml/code",
                   true,    {"/bin/true"}, "/tmp/co/build/libexec/tandem"};
  HostOpt host{{{"ml", false, ""}, {"tandem-libexec", false, ""}, {"tools", false, ""}}};
  std::vector<std::string> c = BwrapCommand(spec, host);
  auto has = [&](std::vector<std::string> seq) {
    return std::search(c.begin(), c.end(), seq.begin(), seq.end()) != c.end();
  };
  EXPECT_EQ(std::count(c.begin(), c.end(), "--unshare-net"), 0);
  EXPECT_NE(std::find(c.begin(), c.end(), "/opt/ml/code"), c.end());
  // The host's /opt/ml and /opt/tandem-libexec give way to the job's own.
  EXPECT_TRUE(has({"--ro-bind-try", "/opt/tools", "/opt/tools"}));
  for (const char* bind : {"--ro-bind", "--ro-bind-try"}) {
    EXPECT_FALSE(has({bind, "/opt/ml", "/opt/ml"}));
    EXPECT_FALSE(has({bind, "/opt/tandem-libexec", "/opt/tandem-libexec"}));
  }
  // The helpers come from the host's /tmp, after the sandbox's own /tmp and /opt.
  EXPECT_TRUE(has({"--ro-bind", "/tmp/co/build/libexec/tandem", "/opt/tandem-libexec"}));
  auto at = [&](std::vector<std::string> seq) {
    return std::search(c.begin(), c.end(), seq.begin(), seq.end()) - c.begin();
  };
  EXPECT_LT(at({"--tmpfs", "/tmp"}), at({"--ro-bind", "/tmp/co/build/libexec/tandem"}));
  EXPECT_LT(at({"--tmpfs", "/opt"}), at({"--ro-bind", "/tmp/co/build/libexec/tandem"}));
}

TEST(SandboxTest, AnImageRootInsteadOfTheHosts) {
  SandboxSpec spec{"bwrap", "/j", "/", false, {"train"}, "", "/cache/images/ab/rootfs"};
  HostOpt image_opt{{{"program", false, ""}}, "/cache/images/ab/rootfs/opt"};
  std::vector<std::string> c = BwrapCommand(spec, image_opt);
  auto has = [&](std::vector<std::string> seq) {
    return std::search(c.begin(), c.end(), seq.begin(), seq.end()) != c.end();
  };
  EXPECT_TRUE(has({"--ro-bind", "/cache/images/ab/rootfs", "/"}));
  EXPECT_FALSE(has({"--ro-bind", "/", "/"})) << "nothing of the host's root";
  EXPECT_TRUE(has({"--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/opt"}));
  // The image's own /opt entries stay visible beside /opt/ml.
  EXPECT_TRUE(has({"--ro-bind-try", "/cache/images/ab/rootfs/opt/program", "/opt/program"}));
  EXPECT_TRUE(has({"--bind", "/j", "/opt/ml", "--ro-bind-try", "/j/input/data",
                   "/opt/ml/input/data", "--chdir", "/", "--", "train"}));
}

TEST(ProtocolTest, RequestRoundTrips) {
  RunnerRequest r;
  r.launch.job_id = "j-1";
  r.launch.attempt = 2;
  r.launch.job_dir = "/a";
  r.launch.log_path = "/a.log";
  r.launch.argv = {"x", "y z"};
  r.launch.env = {{"K", "V"}};
  r.launch.resources.memory_mb = 64;
  r.launch.network = true;
  r.launch.image_digest = "sha256:" + std::string(64, 'a');
  r.launch.image_repository = "team/train";
  r.image_rootfs = "/cache/images/aa/rootfs";
  r.image_lock = "/cache/images/aa/in-use.lock";
  r.sandbox = true;
  r.bwrap_path = "/usr/bin/bwrap";
  r.log_limit_bytes = 1234;
  RunnerRequest back;
  ASSERT_EQ(RunnerRequestFromJson(RunnerRequestToJson(r), &back), "");
  EXPECT_EQ(back.launch.argv, r.launch.argv);
  EXPECT_EQ(back.launch.env, r.launch.env);
  EXPECT_EQ(back.launch.resources, r.launch.resources);
  EXPECT_TRUE(back.launch.network);
  EXPECT_EQ(back.launch.image_digest, r.launch.image_digest);
  EXPECT_EQ(back.launch.image_repository, "team/train");
  EXPECT_EQ(back.image_rootfs, r.image_rootfs);
  EXPECT_EQ(back.image_lock, r.image_lock);
  EXPECT_EQ(back.log_limit_bytes, 1234);
}

TEST(ProtocolTest, BadRequestsNameTheProblem) {
  RunnerRequest out;
  EXPECT_NE(RunnerRequestFromJson(Json{{"job_id", "x"}}, &out).find("attempt"), std::string::npos);
  Json j = RunnerRequestToJson(RunnerRequest{});
  EXPECT_NE(RunnerRequestFromJson(j, &out).find("argv is empty"), std::string::npos);
  j["argv"] = "not-a-list";
  EXPECT_NE(RunnerRequestFromJson(j, &out), "");
}

TEST(ProtocolTest, ExitInfoRoundTripsAndKindsParse) {
  jobs::ExitInfo e;
  e.kind = jobs::ExitKind::kOutOfMemory;
  e.exit_code = 0;
  e.signal = 9;
  e.message = "memory";
  e.metering = {1.5, 0.25, 4096};
  e.started_micros = 10;
  e.ended_micros = 20;
  jobs::ExitInfo back;
  ASSERT_EQ(ExitInfoFromJson(ExitInfoToJson(e), &back), "");
  EXPECT_EQ(back.kind, jobs::ExitKind::kOutOfMemory);
  EXPECT_EQ(back.signal, 9);
  EXPECT_EQ(back.metering.peak_rss_bytes, 4096);
  EXPECT_EQ(back.ended_micros, 20);
  Json bad = ExitInfoToJson(e);
  bad["kind"] = "Bogus";
  EXPECT_NE(ExitInfoFromJson(bad, &back).find("Bogus"), std::string::npos);
  EXPECT_FALSE(ParseExitKind("Bogus").has_value());
  for (jobs::ExitKind k :
       {jobs::ExitKind::kExited, jobs::ExitKind::kSignaled, jobs::ExitKind::kTimedOut,
        jobs::ExitKind::kOutOfMemory, jobs::ExitKind::kStopped, jobs::ExitKind::kLost}) {
    EXPECT_EQ(ParseExitKind(jobs::ExitKindName(k)), k);
  }
  ProcessIdentity p;
  EXPECT_NE(ProcessIdentityFromJson(Json{{"pid", 0}, {"start_ticks", 1}, {"pgid", 0}}, &p), "");
  ASSERT_EQ(ProcessIdentityFromJson(ProcessIdentityToJson({7, 8, 9}), &p), "");
  EXPECT_EQ(p.start_ticks, 8u);
}

TEST(ProtocolTest, AtomicWriteAndReadErrors) {
  std::string dir = "/tmp/tandem-protocol-test-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  Json j;
  ASSERT_EQ(WriteFileAtomic(dir + "/f.json", "{\"a\":1}"), "");
  ASSERT_EQ(ReadJsonFile(dir + "/f.json", &j), "");
  EXPECT_EQ(j["a"], 1);
  EXPECT_FALSE(ReadFile(dir + "/missing").has_value());
  EXPECT_NE(ReadJsonFile(dir + "/missing", &j).find("missing"), std::string::npos);
  ASSERT_EQ(WriteFileAtomic(dir + "/bad.json", "{nope"), "");
  EXPECT_NE(ReadJsonFile(dir + "/bad.json", &j).find("bad.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(WriteFileAtomic(dir + "/no/such/dir/f", "x"), "");
  std::filesystem::remove_all(dir);
}

// Secret values travel apart from request.json (which persists): in a 0600
// file the runner deletes as it reads it.
TEST(ProtocolTest, SecretsNeverInTheRequestAndTakenOnce) {
  std::string dir = "/tmp/tandem-secrets-protocol-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  struct Options {
    int64_t log_limit_bytes = 1 << 20, grace_seconds = 1, sample_interval_ms = 100;
    std::vector<std::string> hidden_paths = {"/var/lib/tandem"};
  } options;
  jobs::LaunchRequest launch;
  launch.job_id = "j-1";
  launch.job_dir = "/a";
  launch.log_path = "/a.log";
  launch.argv = {"x"};
  launch.secret_env = {{"DB_PASSWORD", "hunter2-env"}};
  launch.secret_files = {{"key.json", "hunter2-file"}};
  ASSERT_EQ(WriteRunnerRequest(dir, launch, "/usr/bin/bwrap", options), "");
  std::string request = ReadFile(dir + "/" + kRequestFile).value_or("");
  EXPECT_EQ(request.find("hunter2"), std::string::npos) << request;
  EXPECT_NE(request.find("/var/lib/tandem"), std::string::npos);  // hidden paths do travel
  struct stat st;
  ASSERT_EQ(stat((dir + "/" + kSecretsFile).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  jobs::LaunchRequest taken;
  ASSERT_EQ(TakeSecretsFile(dir, &taken), "");
  EXPECT_EQ(taken.secret_env, launch.secret_env);
  EXPECT_EQ(taken.secret_files, launch.secret_files);
  EXPECT_FALSE(std::filesystem::exists(dir + "/" + kSecretsFile));
  jobs::LaunchRequest again;  // a second runner start finds none
  ASSERT_EQ(TakeSecretsFile(dir, &again), "");
  EXPECT_TRUE(again.secret_env.empty());

  launch.secret_env.clear();  // no secrets: no file at all
  launch.secret_files.clear();
  ASSERT_EQ(WriteRunnerRequest(dir, launch, "", options), "");
  EXPECT_FALSE(std::filesystem::exists(dir + "/" + kSecretsFile));
  std::filesystem::remove_all(dir);
}

TEST(SandboxTest, FileSecretsComeFromDescriptorsIntoAPrivateRun) {
  SandboxSpec spec{"bwrap", "/j", "", false, {"/bin/true"}, ""};
  spec.secret_files = {{3, "db.txt"}, {4, "key.json"}};
  spec.host_run = HostOpt{{{"lock", false, ""}, {"secrets", false, ""}, {"shm", true, "/dev/shm"}},
                          "/run"};
  std::vector<std::string> c = BwrapCommand(spec, HostOpt{});
  auto has = [&](std::vector<std::string> seq) {
    return std::search(c.begin(), c.end(), seq.begin(), seq.end()) != c.end();
  };
  EXPECT_TRUE(has({"--tmpfs", "/run"}));
  EXPECT_TRUE(has({"--ro-bind-try", "/run/lock", "/run/lock"}));
  EXPECT_TRUE(has({"--symlink", "/dev/shm", "/run/shm"}));
  EXPECT_FALSE(has({"--ro-bind-try", "/run/secrets", "/run/secrets"}));
  EXPECT_TRUE(has({"--perms", "0400", "--ro-bind-data", "3", "/run/secrets/db.txt"}));
  EXPECT_TRUE(has({"--perms", "0400", "--ro-bind-data", "4", "/run/secrets/key.json"}));
  SandboxSpec none{"bwrap", "/j", "", false, {"/bin/true"}, ""};
  std::vector<std::string> n = BwrapCommand(none, HostOpt{});
  EXPECT_EQ(std::count(n.begin(), n.end(), "/run"), 0);  // the host's /run as it is
}

}  // namespace
TEST(SandboxTest, AnImageJobHidesNothingOfTheHostAndTakesRunFromTheImage) {
  // In an image nothing of the host is visible but what is bound, and the
  // image's read-only root has no mount points for host paths: hidden paths
  // are not mounted over; file secrets re-expose the image's /run entries.
  SandboxSpec spec{"bwrap", "/j", "", false, {"train"}, "", "/cache/images/ab/rootfs"};
  spec.hidden_dirs = {"/var/lib/tandem"};
  spec.hidden_files = {"/etc/tandem.key"};
  spec.secret_files = {{3, "db.txt"}};
  spec.host_run = HostOpt{{{"lock", false, ""}}, "/cache/images/ab/rootfs/run"};
  std::vector<std::string> c = BwrapCommand(spec, HostOpt{});
  auto has = [&](std::vector<std::string> seq) {
    return std::search(c.begin(), c.end(), seq.begin(), seq.end()) != c.end();
  };
  EXPECT_TRUE(has({"--ro-bind", "/cache/images/ab/rootfs", "/"}));
  EXPECT_FALSE(has({"--tmpfs", "/var/lib/tandem"}));
  EXPECT_FALSE(has({"--ro-bind", "/dev/null", "/etc/tandem.key"}));
  EXPECT_TRUE(has({"--ro-bind-try", "/cache/images/ab/rootfs/run/lock", "/run/lock"}));
  EXPECT_TRUE(has({"--perms", "0400", "--ro-bind-data", "3", "/run/secrets/db.txt"}));
  // The same job on the host hides them.
  spec.rootfs.clear();
  c = BwrapCommand(spec, HostOpt{});
  EXPECT_TRUE(has({"--tmpfs", "/var/lib/tandem"}));
  EXPECT_TRUE(has({"--ro-bind", "/dev/null", "/etc/tandem.key"}));
}

}  // namespace tandem::compute::runner
