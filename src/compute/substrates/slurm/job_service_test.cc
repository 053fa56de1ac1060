// One training job end to end through the JobService on the Slurm substrate
// (real slurmctld/slurmd from scripts/test-servers/slurm): staging, the
// SageMaker contract on the node (sandboxed when bubblewrap is present),
// metrics from the log, the model uploaded to the store and registered --
// with the job directory shared with the node, and node-local
// (shared_fs: false: code and channel come from the store, the node's
// directory is under another root, the results come back through the store).
#include <filesystem>
#include <fstream>

#include "common/ids.h"
#include "common/testing/test_server.h"
#include "common/uri.h"
#include "compute/jobs/service.h"
#include "compute/substrates/slurm/substrate.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/store/archive.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tandem::compute::slurm {
namespace {

namespace fs = std::filesystem;

void TrainingJobEndToEnd(const std::string& uri_text, bool shared_fs) {
  auto uri = ParseUri(uri_text);
  ASSERT_TRUE(uri.ok()) << uri.status();
  std::string conf = uri->query["conf"];
  // The home must be on a filesystem the node sees: next to the cluster.
  std::string home =
      fs::path(conf).parent_path().parent_path().string() + "/home-" + NewUlid(Clock::Real());
  fs::create_directories(home + "/src");
  std::ofstream(home + "/train.csv") << "1,2\n3,4\n";
  std::ofstream(home + "/src/train.sh")
      << "#!/bin/sh\nset -e\n"
         "echo \"epoch 1 loss=0.50\"\n"
         "echo \"epoch 2 loss=0.25\"\n"
         "test \"$SM_NUM_CPUS\" = 1\n"
         "cp \"$SM_CHANNEL_TRAIN/train.csv\" \"$SM_MODEL_DIR/seen.csv\"\n"
         "echo weights > \"$SM_MODEL_DIR/model.txt\"\n";
  fs::permissions(home + "/src/train.sh", fs::perms::owner_all | fs::perms::others_exec |
                                              fs::perms::others_read | fs::perms::group_exec |
                                              fs::perms::group_read);
  {
    auto db = sql::Database::Open("sqlite://" + home + "/tandem.db");
    ASSERT_TRUE(db.ok()) << db.status();
    auto store = store::ObjectStore::Open("file://" + home + "/store");
    ASSERT_TRUE(store.ok()) << store.status();
    auto bus = bus::SqlEventBus::Attach(**db, Clock::Real());
    ASSERT_TRUE(bus.ok()) << bus.status();
    auto reg = registry::ModelRegistry::Open(**db, *(*bus)->outbox(), Clock::Real());
    ASSERT_TRUE(reg.ok()) << reg.status();

    SlurmSubstrateOptions sopts;
    sopts.slurm_conf = conf;
    sopts.grace_seconds = 2;
    const std::string node_dir = home + "-node";
    if (!shared_fs) {
      sopts.shared_fs = false;
      sopts.store = store->get();
      sopts.node_dir = node_dir;
    }
    auto substrate = SlurmSubstrate::Create(sopts);
    ASSERT_TRUE(substrate.ok()) << substrate.status();
    jobs::JobServiceOptions opts;
    opts.home = home;
    opts.db = db->get();
    opts.outbox = (*bus)->outbox();
    opts.store = store->get();
    opts.registry = reg->get();
    opts.substrate = *std::move(substrate);
    opts.cost = [](const jobs::JobSpec& spec, const jobs::Metering& m) {
      return m.wall_seconds * spec.resources.cpus;
    };
    opts.warm_pool_cost = [](const jobs::JobSpec&, double s) { return s; };
    opts.stop_grace_seconds = 2;
    auto svc = jobs::JobService::Open(std::move(opts));
    ASSERT_TRUE(svc.ok()) << svc.status();
    ASSERT_TRUE((*svc)->Recover().ok());
    (*svc)->Start();

    jobs::JobSpec spec;
    spec.name = "slurm-e2e";
    spec.team = "growth";
    spec.entry_point = "train.sh";
    spec.source_dir = home + "/src";
    spec.resources.cpus = 1;
    spec.max_runtime_seconds = 120;
    spec.inputs["train"] = home + "/train.csv";
    if (!shared_fs) {  // the node sees only the store
      ASSERT_TRUE(store::PackDirectory(home + "/src", home + "/src.tar.gz").ok());
      ASSERT_TRUE((*store)->PutFile("code/slurm-e2e.tar.gz", home + "/src.tar.gz").ok());
      ASSERT_TRUE((*store)->PutFile("datasets/train.csv", home + "/train.csv").ok());
      spec.source_dir = "code/slurm-e2e.tar.gz";
      spec.inputs["train"] = "datasets/train.csv";
    }
    spec.metric_definitions.push_back({"loss", "loss=([0-9.]+)"});
    spec.register_model = jobs::RegisterSpec{"slurm-demo", "champion", {}};
    auto submitted = (*svc)->Submit(spec);
    ASSERT_TRUE(submitted.ok()) << submitted.status();
    auto done = (*svc)->WaitFor(
        submitted->id, [](const jobs::JobRecord& r) { return IsTerminal(r.state); }, 120'000);
    ASSERT_TRUE(done.ok()) << done.status();
    const jobs::JobRecord& r = *done;
    ASSERT_EQ(r.state, jobs::JobState::kCompleted) << r.failure_reason << " " << r.ToJson().dump();
    EXPECT_EQ(r.handle.substrate, "slurm");
    EXPECT_EQ(r.details.value("substrate", ""), "slurm");
    EXPECT_EQ(r.final_metrics.at("loss"), 0.25);
    EXPECT_GT(r.metering.wall_seconds, 0);
    EXPECT_GT(r.started_micros, 0);
    auto stat = (*store)->Stat(r.model_key);
    ASSERT_TRUE(stat.ok()) << stat.status();
    EXPECT_EQ(stat->digest, r.model_digest);
    auto version = (*reg)->GetVersionByAlias("slurm-demo", "champion");
    EXPECT_TRUE(version.ok()) << version.status();
    if (!shared_fs) {
      EXPECT_TRUE(fs::is_directory(node_dir));          // the node worked there
      EXPECT_FALSE(fs::exists(node_dir + "/" + r.id + "-1"));  // and cleaned up
    }
    (*svc)->Shutdown();
  }
  std::error_code ec;
  fs::remove_all(home, ec);
  fs::remove_all(home + "-node", ec);
}

TEST(SlurmJobService, TrainingJobEndToEnd) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri_text);
  TrainingJobEndToEnd(uri_text, /*shared_fs=*/true);
}

TEST(SlurmJobService, TrainingJobEndToEndWithoutASharedFilesystem) {
  TANDEM_REQUIRE_TEST_SERVER("slurm", uri_text);
  TrainingJobEndToEnd(uri_text, /*shared_fs=*/false);
}

}  // namespace
}  // namespace tandem::compute::slurm
