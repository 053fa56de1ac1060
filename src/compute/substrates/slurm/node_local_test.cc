// The Slurm substrate with `shared_fs: false` against the real single-node
// cluster (scripts/test-servers/slurm): the batch script carries the job to
// tandem-slurm-node, which stages it from the object store into a node
// directory under a different root than the control plane's, runs it (in an
// image, too) and returns the results through the store. The control plane's
// directories must not change until the control plane itself unpacks them.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/ids.h"
#include "common/testing/test_server.h"
#include "common/uri.h"
#include "compute/jobs/spec.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/slurm/node_job.h"
#include "compute/substrates/slurm/substrate.h"
#include "glue/images/embedded_image_store.h"
#include "glue/store/archive.h"
#include "glue/imagefs/testing/test_image.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::compute::slurm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int64_t kTimeoutMicros = 120'000'000;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every file and directory under `dir` with its size (a change detector).
std::map<std::string, uintmax_t> Listing(const std::string& dir) {
  std::map<std::string, uintmax_t> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::end(it); it.increment(ec)) {
    if (ec) break;
    out[it->path().string()] = it->is_regular_file() ? it->file_size() : 0;
  }
  return out;
}

class SlurmNodeLocalTest : public ::testing::Test {
 protected:
  void Open(const std::string& uri_text, SlurmSubstrateOptions::Sandbox sandbox =
                                             SlurmSubstrateOptions::Sandbox::kOff) {
    auto uri = ParseUri(uri_text);
    ASSERT_TRUE(uri.ok()) << uri.status();
    conf_ = uri->query["conf"];
    ASSERT_FALSE(conf_.empty()) << "no conf= in " << uri_text;
    root_ = fs::path(conf_).parent_path().parent_path().string() + "/noshare-" +
            NewUlid(Clock::Real());
    cp_ = root_ + "/control-plane";  // what only the control plane may write
    node_ = root_ + "/node";         // the node's job directories
    fs::create_directories(cp_);
    auto store = store::ObjectStore::Open("file://" + root_ + "/store");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    images_ = std::make_unique<images::EmbeddedImageStore>(*store_, nullptr, nullptr);
    SlurmSubstrateOptions o;
    o.slurm_conf = conf_;
    o.sandbox = sandbox;
    o.grace_seconds = 1;
    o.query_interval_ms = 200;
    o.shared_fs = false;
    o.store = store_.get();
    o.node_dir = node_;
    auto s = SlurmSubstrate::Create(o);
    ASSERT_TRUE(s.ok()) << s.status();
    substrate_ = *std::move(s);
    ProcessSlurmCommandsOptions copts;
    copts.slurm_conf = conf_;
    commands_ = NewProcessSlurmCommands(copts);
    ASSERT_TRUE(store_->PutString("datasets/train.csv", "x,y\n1,2\n3,4\n").ok());
  }

  void TearDown() override {
    std::error_code ec;
    if (!root_.empty()) fs::remove_all(root_, ec);
  }

  // The job's code in the store under code/<id>/, and the request as the job
  // service builds it on the control plane (an empty /opt/ml tree there).
  jobs::LaunchRequest Request(const std::string& id, const std::string& script) {
    const std::string src = root_ + "/src-" + id;
    fs::create_directories(src);
    std::ofstream(src + "/train.sh") << script;
    EXPECT_TRUE(store::PackDirectory(src, src + ".tar.gz").ok());
    EXPECT_TRUE(store_->PutFile("code/" + id + ".tar.gz", src + ".tar.gz").ok());
    auto spec = jobs::JobSpec::Parse("name: " + id + "\nentry_point: train.sh\nsource_dir: code/" +
                                     id + ".tar.gz\ninputs: {train: datasets/train.csv}\n");
    EXPECT_TRUE(spec.ok()) << spec.status();
    specs_[id] = *spec;
    std::string dir = cp_ + "/" + id;
    std::string ml = dir + "/ml";
    for (const char* sub : {"/code", "/model", "/output", "/input/data/train"}) {
      fs::create_directories(ml + sub);
    }
    jobs::LaunchRequest r;
    r.job_id = id;
    r.job_dir = ml;
    r.log_path = dir + "/job.log";
    r.argv = {"/bin/sh", ml + "/code/train.sh"};
    r.env = {{"PATH", "/usr/bin:/bin"},
             {"SM_MODEL_DIR", ml + "/model"},
             {"SM_CHANNEL_TRAIN", ml + "/input/data/train"},
             {"SM_OUTPUT_DATA_DIR", ml + "/output/data"}};
    r.working_dir = ml + "/code";
    r.max_runtime_seconds = 120;
    r.spec = &specs_[id];
    return r;
  }

  // Waits for Slurm's final record of the job without polling the substrate.
  std::string SlurmRecord(const jobs::JobHandle& h) {
    auto parsed = SlurmSubstrate::ParseHandle(h);
    EXPECT_TRUE(parsed.ok());
    int64_t deadline = Clock::Real().NowMicros() + kTimeoutMicros;
    std::string last;
    while (Clock::Real().NowMicros() < deadline) {
      auto r = commands_->Run(
          {"squeue", "-h", "-t", "all", "-j", parsed->slurm_id, "-O", kSqueueFormat});
      if (r.ok() && r->exit_code == 0) {
        auto s = ParseSqueue(r->out, parsed->slurm_id);
        if (s.ok() && *s && (*s)->state != "RUNNING" && (*s)->state != "COMPLETING" &&
            (*s)->state != "PENDING" && (*s)->state != "CONFIGURING") {
          return (*s)->state + " " + std::to_string((*s)->exit_code);
        }
        if (s.ok() && *s) last = (*s)->state;
      }
      Clock::Real().SleepMicros(100'000);
    }
    return "still " + last;
  }

  jobs::ExitInfo WaitEnd(const jobs::JobHandle& h) {
    int64_t deadline = Clock::Real().NowMicros() + kTimeoutMicros;
    while (Clock::Real().NowMicros() < deadline) {
      auto p = substrate_->Poll(h);
      EXPECT_TRUE(p.ok()) << p.status();
      if (!p.ok()) break;
      if (p->has_value()) return **p;
      Clock::Real().SleepMicros(50'000);
    }
    ADD_FAILURE() << "job " << h.id << " did not end";
    return jobs::ExitInfo{};
  }

  std::string conf_, root_, cp_, node_;
  std::unique_ptr<store::ObjectStore> store_;
  std::unique_ptr<images::ImageStore> images_;
  std::map<std::string, jobs::JobSpec> specs_;
  std::unique_ptr<SlurmSubstrate> substrate_;
  std::unique_ptr<SlurmCommands> commands_;
};

TEST_F(SlurmNodeLocalTest, NodeStagesRunsAndReturnsTheModelWithoutTouchingTheControlPlane) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  auto h = substrate_->Submit(Request("ok", R"sh(
echo "model dir: $SM_MODEL_DIR"
echo "cwd: $(pwd)"
wc -l < "$SM_CHANNEL_TRAIN/train.csv"
cat "$SM_CHANNEL_TRAIN/train.csv" > "$SM_MODEL_DIR/model.txt"
mkdir -p "$SM_OUTPUT_DATA_DIR" && echo extra > "$SM_OUTPUT_DATA_DIR/extra.txt"
)sh"));
  ASSERT_TRUE(h.ok()) << h.status();
  // The batch script carries the job; it names no control-plane path.
  auto parsed = SlurmSubstrate::ParseHandle(*h);
  ASSERT_TRUE(parsed.ok());
  const auto before = Listing(cp_);
  EXPECT_EQ(SlurmRecord(*h), "COMPLETED 0");
  // The node is done and has uploaded its results; nothing of the control
  // plane's changed (only the control plane's own Poll unpacks them).
  EXPECT_EQ(Listing(cp_), before);
  EXPECT_FALSE(fs::exists(cp_ + "/ok/ml/model/model.txt"));
  EXPECT_TRUE(store_->Stat(NodeBundleKey("ok", 1)).ok());

  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited) << e.message;
  EXPECT_EQ(e.exit_code, 0) << e.message;
  EXPECT_GT(e.metering.wall_seconds, 0);
  EXPECT_GT(e.started_micros, 0);
  EXPECT_EQ(Slurp(cp_ + "/ok/ml/model/model.txt"), "x,y\n1,2\n3,4\n");
  EXPECT_EQ(Slurp(cp_ + "/ok/ml/output/data/extra.txt"), "extra\n");
  std::string log = Slurp(cp_ + "/ok/job.log");
  const std::string node_ml = node_ + "/ok-1/ml";
  EXPECT_THAT(log, HasSubstr("model dir: " + node_ml + "/model"));
  EXPECT_THAT(log, HasSubstr("cwd: " + node_ml + "/code"));
  EXPECT_THAT(log, HasSubstr("3\n"));
  // The node cleaned up after itself; the bundle is gone from the store.
  EXPECT_FALSE(fs::exists(node_ + "/ok-1"));
  EXPECT_FALSE(store_->Stat(NodeBundleKey("ok", 1)).ok());
  // A second Poll gives the same answer.
  auto again = substrate_->Poll(*h);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->exit_code, 0);
}

TEST_F(SlurmNodeLocalTest, CrashingJobKeepsItsFailureReasonAndExitCode) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  auto h = substrate_->Submit(Request("crash", R"sh(
echo "about to crash" >&2
printf 'ValueError: bad depth\n' > "$SM_MODEL_DIR/../output/failure"
exit 3
)sh"));
  ASSERT_TRUE(h.ok()) << h.status();
  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited) << e.message;
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(Slurp(cp_ + "/crash/ml/output/failure"), "ValueError: bad depth\n");
  EXPECT_THAT(Slurp(cp_ + "/crash/job.log"), HasSubstr("about to crash"));
  EXPECT_EQ(SlurmRecord(*h), "FAILED 3");
}

TEST_F(SlurmNodeLocalTest, StagingFailureOnTheNodeIsReportedWithItsReason) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  jobs::LaunchRequest r = Request("nostage", "echo never\n");
  // The channel vanished between submission and staging on the node.
  ASSERT_TRUE(store_->Delete("datasets/train.csv").ok());
  auto h = substrate_->Submit(r);
  ASSERT_TRUE(h.ok()) << h.status();
  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kLost) << e.message;
  EXPECT_THAT(e.message, HasSubstr("staging on the Slurm node failed"));
  EXPECT_THAT(e.message, HasSubstr("datasets/train.csv"));
  EXPECT_EQ(Slurp(cp_ + "/nostage/job.log").find("never"), std::string::npos);
}

TEST_F(SlurmNodeLocalTest, StoppedJobIsCancelledAndItsResultComesBack) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  auto h = substrate_->Submit(Request("stop",
                                      "trap 'echo got TERM; exit 143' TERM\n"
                                      "echo waiting\nsleep 100 & wait\n"));
  ASSERT_TRUE(h.ok()) << h.status();
  auto parsed = SlurmSubstrate::ParseHandle(*h);
  ASSERT_TRUE(parsed.ok());
  // Running on the node (the control plane sees no runner files).
  int64_t deadline = Clock::Real().NowMicros() + kTimeoutMicros;
  while (Clock::Real().NowMicros() < deadline) {
    auto r = commands_->Run(
        {"squeue", "-h", "-t", "all", "-j", parsed->slurm_id, "-O", kSqueueFormat});
    auto s = r.ok() ? ParseSqueue(r->out, parsed->slurm_id)
                    : StatusOr<std::optional<SlurmJobState>>(r.status());
    if (s.ok() && *s && (*s)->state == "RUNNING") break;
    Clock::Real().SleepMicros(100'000);
  }
  Clock::Real().SleepMicros(1'500'000);  // staged and started
  ASSERT_TRUE(substrate_->Stop(*h, 5).ok());
  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kStopped) << e.message;
  EXPECT_THAT(Slurp(cp_ + "/stop/job.log"), HasSubstr("got TERM"));
  EXPECT_EQ(SlurmRecord(*h).substr(0, 9), "CANCELLED");
}

TEST_F(SlurmNodeLocalTest, JobInAnImageIsPulledIntoTheNodesLayerCache) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri, SlurmSubstrateOptions::Sandbox::kAuto);
  ASSERT_NE(substrate_, nullptr);
  if (!substrate_->sandboxed()) GTEST_SKIP() << "bubblewrap is not installed";
  auto shell = imagefs::testing::HostShellLayer();
  ASSERT_TRUE(shell.ok()) << shell.status();
  imagefs::testing::TestImageSpec image;
  image.layers.push_back(*shell);
  image.layers.push_back(
      {imagefs::testing::TFile("usr/local/bin/train",
                               "#!/bin/sh\nread marker < /etc/image-marker\n"
                               "echo \"in image: $marker\"\n"
                               "echo \"$marker\" > /opt/ml/model/marker.txt\n",
                               0755),
       imagefs::testing::TFile("etc/image-marker", "inside-the-image\n")});
  image.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  auto digest = imagefs::testing::PushTestImage(*images_, "team/train", "1", image);
  ASSERT_TRUE(digest.ok()) << digest.status();

  jobs::LaunchRequest r = Request("img", "unused\n");
  r.argv = {"train"};
  r.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"SM_MODEL_DIR", "/opt/ml/model"}};
  r.working_dir = "/";
  r.image_repository = "team/train";
  r.image_digest = *digest;
  auto h = substrate_->Submit(r);
  ASSERT_TRUE(h.ok()) << h.status();
  const auto before = Listing(cp_);
  EXPECT_EQ(SlurmRecord(*h), "COMPLETED 0");
  EXPECT_EQ(Listing(cp_), before);
  jobs::ExitInfo e = WaitEnd(*h);
  EXPECT_EQ(e.kind, jobs::ExitKind::kExited) << e.message;
  EXPECT_EQ(e.exit_code, 0) << e.message << " log: " << Slurp(cp_ + "/img/job.log");
  EXPECT_THAT(Slurp(cp_ + "/img/job.log"), HasSubstr("in image: inside-the-image"));
  EXPECT_EQ(Slurp(cp_ + "/img/ml/model/marker.txt"), "inside-the-image\n");
  // The image was unpacked in the node's layer cache, not the control plane's.
  EXPECT_TRUE(fs::is_directory(node_ + "/cache/images"));
}

TEST_F(SlurmNodeLocalTest, BadRequestsAreRefusedBeforeAnythingIsQueued) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri);
  Open(uri);
  ASSERT_NE(substrate_, nullptr);
  jobs::LaunchRequest r = Request("nospec", "echo\n");
  r.spec = nullptr;
  auto h = substrate_->Submit(r);
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("needs the job's spec"));
  r = Request("secret", "echo\n");
  r.secret_env = {{"DB_PASSWORD", "x"}};
  h = substrate_->Submit(r);
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("secrets"));
  // Without a store there is no way back for the results.
  SlurmSubstrateOptions o;
  o.slurm_conf = conf_;
  o.sandbox = SlurmSubstrateOptions::Sandbox::kOff;
  o.shared_fs = false;
  auto s = SlurmSubstrate::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("object store"));
  o.store = store_.get();
  o.node_dir = "relative/dir";
  s = SlurmSubstrate::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("node_dir"));
}

}  // namespace
}  // namespace tandem::compute::slurm
