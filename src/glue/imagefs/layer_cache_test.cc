#include "glue/imagefs/layer_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "glue/imagefs/testing/test_image.h"
#include "glue/store/sha256.h"

namespace tandem::imagefs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::MemorySource;
using testing::TDir;
using testing::TestImageSpec;
using testing::TFile;
using testing::TSymlink;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t Count(const fs::path& dir) {
  return static_cast<size_t>(
      std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

class LayerCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("layer-cache-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<LayerCache> Open(uint64_t max_bytes = 1ULL << 30) {
    LayerCacheOptions o;
    o.dir = dir_.string();
    o.max_bytes = max_bytes;
    auto cache = LayerCache::Open(o, clock_);
    EXPECT_TRUE(cache.ok()) << cache.status();
    return cache.ok() ? std::move(*cache) : nullptr;
  }

  static TestImageSpec Base() {
    TestImageSpec s;
    s.layers.push_back({TDir("usr"), TDir("usr/bin"), TFile("usr/bin/train", "#!/bin/sh\n", 0755),
                        TSymlink("bin", "usr/bin"), TFile("etc/secret", "s"),
                        TFile("data/old", "o")});
    s.env = {"PATH=/usr/bin", "A=1"};
    s.entrypoint = {"/usr/bin/train"};
    s.working_dir = "/work";
    return s;
  }

  fs::path dir_;
  FakeClock clock_;
  MemorySource source_;
};

TEST_F(LayerCacheTest, PreparesAComposedReadOnlyRoot) {
  TestImageSpec spec = Base();
  spec.layers.push_back({TFile("etc/.wh.secret", ""), TFile("data/.wh..wh..opq", ""),
                         TFile("data/new", "n"), TFile("usr/bin/helper", "h")});
  const std::string digest = source_.Add(spec);
  auto cache = Open();
  auto image = cache->Prepare(digest, source_);
  ASSERT_TRUE(image.ok()) << image.status();
  const fs::path root = image->rootfs();
  EXPECT_EQ(ReadAll(root / "usr/bin/train"), "#!/bin/sh\n");
  EXPECT_EQ(ReadAll(root / "usr/bin/helper"), "h");
  EXPECT_EQ(fs::read_symlink(root / "bin"), "usr/bin");
  EXPECT_FALSE(fs::exists(root / "etc/secret"));
  EXPECT_FALSE(fs::exists(root / "data/old"));
  EXPECT_EQ(ReadAll(root / "data/new"), "n");
  EXPECT_EQ(image->config().env, spec.env);
  EXPECT_EQ(image->config().entrypoint, spec.entrypoint);
  EXPECT_EQ(image->config().working_dir, "/work");
  EXPECT_TRUE(fs::is_directory(root / "work")) << "a missing WorkingDir is made, as Docker does";
  for (const char* mount : {"dev", "proc", "tmp", "opt"}) {
    EXPECT_TRUE(fs::is_directory(root / mount)) << mount;
  }
  EXPECT_EQ(image->digest(), digest);

  // Cached: the second Prepare fetches nothing.
  const int fetches = source_.blob_fetches();
  auto again = cache->Prepare(digest, source_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(source_.blob_fetches(), fetches);
  EXPECT_EQ(again->rootfs(), image->rootfs());
}

TEST_F(LayerCacheTest, LayersAreSharedAcrossImages) {
  TestImageSpec a = Base();
  TestImageSpec b = Base();
  a.layers.push_back({TFile("a", "1")});
  b.layers.push_back({TFile("b", "2")});
  const std::string da = source_.Add(a);
  const std::string db = source_.Add(b);
  auto cache = Open();
  ASSERT_TRUE(cache->Prepare(da, source_).ok());
  const int after_a = source_.blob_fetches();  // config + 2 layers
  EXPECT_EQ(after_a, 3);
  ASSERT_TRUE(cache->Prepare(db, source_).ok());
  EXPECT_EQ(source_.blob_fetches(), after_a + 2) << "the base layer is not fetched again";
  auto usage = cache->Usage();
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->layers, 3u);
  EXPECT_EQ(usage->images, 2u);
}

TEST_F(LayerCacheTest, ConcurrentPullsOfOneImageCoalesce) {
  const std::string digest = source_.Add(Base());
  auto cache = Open();
  LayerCacheOptions o;
  o.dir = dir_.string();
  // Several caches on one directory stand for several processes: the
  // coalescing is by flock, which conflicts between open files either way.
  std::vector<std::unique_ptr<LayerCache>> caches;
  for (int i = 0; i < 6; ++i) caches.push_back(std::move(*LayerCache::Open(o, clock_)));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto image = caches[static_cast<size_t>(i)]->Prepare(digest, source_);
      if (image.ok() && fs::exists(fs::path(image->rootfs()) / "usr/bin/train")) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(source_.blob_fetches(), 2) << "config and layer fetched once";
  EXPECT_EQ(Count(dir_ / "images"), 1u);
  EXPECT_EQ(Count(dir_ / "tmp"), 0u);
}

TEST_F(LayerCacheTest, ConcurrentPullsAcrossProcessesCoalesce) {
  TestImageSpec spec = Base();
  spec.layers.push_back({TFile("big", std::string(4 << 20, 'x'))});  // unpacking takes a while
  const std::string digest = source_.Add(spec);
  { ASSERT_NE(Open(), nullptr); }
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child's own cache object and its copy of the source: only the
      // files and their flocks are shared. Exit status: blobs it fetched,
      // 100 on failure.
      LayerCacheOptions o;
      o.dir = dir_.string();
      auto cache = LayerCache::Open(o, clock_);
      if (!cache.ok()) ::_exit(100);
      auto image = (*cache)->Prepare(digest, source_);
      bool ok = image.ok() && fs::exists(fs::path(image->rootfs()) / "big");
      ::_exit(ok ? source_.blob_fetches() : 100);
    }
    children.push_back(pid);
  }
  int fetches = 0;
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_NE(WEXITSTATUS(status), 100) << "a child failed to prepare the image";
    fetches += WEXITSTATUS(status);
  }
  EXPECT_EQ(fetches, 3) << "config and two layers, fetched by one process only";
  EXPECT_EQ(Count(dir_ / "images"), 1u);
  EXPECT_EQ(Count(dir_ / "layers"), 2u);
}

TEST_F(LayerCacheTest, DiffIdMismatchIsRefusedAndLeavesNothing) {
  TestImageSpec spec = Base();
  spec.corrupt_diff_id = true;
  const std::string digest = source_.Add(spec);
  auto cache = Open();
  auto image = cache->Prepare(digest, source_);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(image.status().message(), HasSubstr("the image config says"));
  EXPECT_EQ(Count(dir_ / "layers"), 0u);
  EXPECT_EQ(Count(dir_ / "images"), 0u);
  EXPECT_EQ(Count(dir_ / "tmp"), 0u);
}

TEST_F(LayerCacheTest, BlobNotMatchingItsDigestIsDataLoss) {
  TestImageSpec spec = Base();
  const std::string digest = source_.Add(spec);
  // Swap the layer's bytes for others under the same digest.
  std::string manifest = *source_.ManifestBytes(digest);
  auto m = images::ParseManifest(manifest);
  ASSERT_TRUE(m.ok());
  source_.PutBlob(m->layers[0].digest, testing::MakeTar({TFile("evil", "x")}, true));
  auto cache = Open();
  auto image = cache->Prepare(digest, source_);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Count(dir_ / "layers"), 0u);
}

TEST_F(LayerCacheTest, MaliciousLayerIsRefusedWithNothingCached) {
  TestImageSpec spec;
  spec.layers.push_back({TSymlink("escape", "/tmp"), TFile("escape/pwned", "x")});
  const std::string digest = source_.Add(spec);
  auto cache = Open();
  auto image = cache->Prepare(digest, source_);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(), HasSubstr("escape/pwned"));
  EXPECT_FALSE(fs::exists("/tmp/pwned"));
  EXPECT_EQ(Count(dir_ / "layers"), 0u);
  EXPECT_EQ(Count(dir_ / "tmp"), 0u);
}

TEST_F(LayerCacheTest, UnknownAndMalformedDigests) {
  auto cache = Open();
  auto missing = cache->Prepare(store::Sha256Digest("nothing"), source_);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto bad = cache->Prepare("sha256:xyz", source_);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LayerCacheTest, CrashLeftoversAreCleanedOnOpen) {
  {
    auto cache = Open();
    ASSERT_NE(cache, nullptr);
  }
  fs::create_directories(dir_ / "tmp/.tmp-crashed/root/usr");
  std::ofstream(dir_ / "tmp/.tmp-crashed.blob") << "partial";
  fs::create_directories(dir_ / "layers" / std::string(64, 'a') / "root");  // no layer.json
  auto cache = Open(1);  // a tiny budget makes Open walk the layers
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(Count(dir_ / "tmp"), 0u);
  EXPECT_EQ(Count(dir_ / "layers"), 0u);
}

TEST_F(LayerCacheTest, EvictsLeastRecentlyUsedImagesNotInUse) {
  TestImageSpec a, b, c;
  a.layers.push_back({TFile("a", std::string(1000, 'a'))});
  b.layers.push_back({TFile("b", std::string(1000, 'b'))});
  c.layers.push_back({TFile("c", std::string(1000, 'c'))});
  const std::string da = source_.Add(a);
  const std::string db = source_.Add(b);
  const std::string dc = source_.Add(c);
  auto cache = Open(2500);  // room for two images
  { ASSERT_TRUE(cache->Prepare(da, source_).ok()); }
  clock_.AdvanceSeconds(1);
  auto leased_b = cache->Prepare(db, source_);
  ASSERT_TRUE(leased_b.ok());
  clock_.AdvanceSeconds(1);
  { ASSERT_TRUE(cache->Prepare(dc, source_).ok()); }
  EXPECT_EQ(Count(dir_ / "images"), 2u);
  EXPECT_FALSE(fs::exists(dir_ / "images" / da.substr(7))) << "a was the least recently used";
  EXPECT_TRUE(fs::exists(dir_ / "images" / db.substr(7)));
  // b is leased (a job runs in it): adding a again evicts c, never b, although
  // b was used before c.
  clock_.AdvanceSeconds(1);
  { ASSERT_TRUE(cache->Prepare(da, source_).ok()); }
  EXPECT_TRUE(fs::exists(fs::path(leased_b->rootfs()) / "b"));
  EXPECT_FALSE(fs::exists(dir_ / "images" / dc.substr(7)));
  auto usage = cache->Usage();
  ASSERT_TRUE(usage.ok());
  EXPECT_LE(usage->layer_bytes, 2500u);
}

}  // namespace
}  // namespace tandem::imagefs
