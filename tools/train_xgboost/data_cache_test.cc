#include "train_xgboost/data_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace tandem::train_xgboost {
namespace {

namespace fs = std::filesystem;

class DataCacheTest : public ::testing::Test {
 protected:
  DataCacheTest()
      : dir_(fs::temp_directory_path() /
             ("train_xgboost_cache_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
  }
  ~DataCacheTest() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = (dir_ / "data" / name).string();
    std::ofstream(p, std::ios::trunc) << text;
    return p;
  }
  std::string cache() const { return (dir_ / "cache").string(); }
  size_t CacheFiles() const {
    if (!fs::exists(cache())) return 0;
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(cache())) n += e.is_regular_file() ? 1 : 0;
    return n;
  }

  fs::path dir_;
};

void ExpectSame(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.num_rows, b.num_rows);
  ASSERT_EQ(a.num_features, b.num_features);
  EXPECT_EQ(a.variable_width, b.variable_width);
  EXPECT_EQ(a.labels, b.labels);
  ASSERT_EQ(a.features.size(), b.features.size());
  for (size_t i = 0; i < a.features.size(); ++i) {
    if (std::isnan(a.features[i])) {
      EXPECT_TRUE(std::isnan(b.features[i])) << i;
    } else {
      EXPECT_EQ(a.features[i], b.features[i]) << i;
    }
  }
}

TEST_F(DataCacheTest, SecondReadComesFromTheCacheAndIsIdentical) {
  std::string csv = Write("train.csv", "1,0.5,,3\n0,-2,4,nan\n1,7.25,1e-3,2\n");
  auto parsed = ReadChannel(csv, "");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto first = ReadChannelCached(csv, "", cache());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->from_cache);
  EXPECT_EQ(CacheFiles(), 1u);
  auto second = ReadChannelCached(csv, "", cache());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->from_cache);
  ExpectSame(*parsed, second->data);
  EXPECT_EQ(CacheFiles(), 1u);
}

TEST_F(DataCacheTest, NoDirectoryMeansNoCache) {
  std::string csv = Write("train.csv", "1,2\n0,3\n");
  for (int i = 0; i < 2; ++i) {
    auto r = ReadChannelCached(csv, "", "");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->from_cache);
  }
}

TEST_F(DataCacheTest, AChangedChannelIsParsedAgain) {
  std::string csv = Write("train.csv", "1,2\n0,3\n");
  ASSERT_TRUE(ReadChannelCached(csv, "", cache()).ok());
  Write("train.csv", "1,2\n0,3\n1,9\n");
  auto r = ReadChannelCached(csv, "", cache());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->from_cache);
  EXPECT_EQ(r->data.num_rows, 3u);
  // Same size, new contents and modification time.
  Write("train.csv", "1,2\n0,3\n1,8\n");
  struct timespec times[2] = {{0, UTIME_NOW}, {12345, 678}};
  ASSERT_EQ(::utimensat(AT_FDCWD, csv.c_str(), times, 0), 0);
  r = ReadChannelCached(csv, "", cache());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->from_cache);
  EXPECT_EQ(r->data.features.back(), 8.0f);
  r = ReadChannelCached(csv, "", cache());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->from_cache);
  EXPECT_EQ(r->data.features.back(), 8.0f);
}

TEST_F(DataCacheTest, TheContentTypeIsPartOfTheKey) {
  std::string txt = Write("train.txt", "1,2\n0,3\n");
  auto svm = ChannelCachePath(txt, "", cache());
  auto csv = ChannelCachePath(txt, "text/csv", cache());
  ASSERT_TRUE(svm.ok() && csv.ok());
  EXPECT_NE(*svm, *csv);
  auto r = ReadChannelCached(txt, "text/csv", cache());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data.num_features, 1u);
  // The same file as LibSVM (its extension's format) does not parse: the
  // CSV's cache entry must not answer for it.
  EXPECT_FALSE(ReadChannelCached(txt, "", cache()).ok());
}

TEST_F(DataCacheTest, DamagedCacheFilesAreIgnoredAndRewritten) {
  std::string csv = Write("train.csv", "1,0.5,2\n0,1.5,3\n");
  auto want = ReadChannel(csv, "");
  ASSERT_TRUE(want.ok());
  ASSERT_TRUE(ReadChannelCached(csv, "", cache()).ok());
  auto file = ChannelCachePath(csv, "", cache());
  ASSERT_TRUE(file.ok());
  auto size = fs::file_size(*file);
  for (auto damage : {size - 1, size / 2, uintmax_t{3}, uintmax_t{0}}) {
    fs::resize_file(*file, damage);
    auto r = ReadChannelCached(csv, "", cache());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->from_cache) << damage;
    ExpectSame(*want, r->data);
    EXPECT_EQ(fs::file_size(*file), size) << "rewritten";
  }
  // A header claiming more rows than the file holds (a size that overflows
  // if multiplied naively) is rejected, not allocated.
  {
    std::fstream f(*file, std::ios::in | std::ios::out | std::ios::binary);
    uint64_t rows = (uint64_t{1} << 62) + 1;
    f.seekp(16);  // magic, key size: then rows
    f.write(reinterpret_cast<const char*>(&rows), sizeof rows);
  }
  {
    auto r = ReadChannelCached(csv, "", cache());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->from_cache);
    ExpectSame(*want, r->data);
  }
  // Garbage of the right size.
  std::ofstream(*file, std::ios::trunc) << std::string(size, 'x');
  auto r = ReadChannelCached(csv, "", cache());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->from_cache);
  ExpectSame(*want, r->data);
}

TEST_F(DataCacheTest, BadInputIsReportedAndNotCached) {
  std::string bad = Write("bad.csv", "1,2\n0,abc\n");
  auto r = ReadChannelCached(bad, "", cache());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("bad.csv:2"), std::string::npos) << r.status();
  EXPECT_EQ(CacheFiles(), 0u);
  auto missing = ReadChannelCached((dir_ / "nope.csv").string(), "", cache());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(CacheFiles(), 0u);
}

TEST_F(DataCacheTest, AnUnwritableCacheStillReads) {
  std::string csv = Write("train.csv", "1,2\n0,3\n");
  std::string blocker = (dir_ / "file").string();
  std::ofstream(blocker) << "not a directory";
  for (int i = 0; i < 2; ++i) {
    auto r = ReadChannelCached(csv, "", blocker + "/cache");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->from_cache);
    EXPECT_EQ(r->data.num_rows, 2u);
  }
}

TEST_F(DataCacheTest, DirectoryChannelsAreKeyedByEveryFile) {
  Write("a.csv", "1,2\n");
  Write("b.csv", "0,3\n");
  std::string channel = (dir_ / "data").string();
  ASSERT_TRUE(ReadChannelCached(channel, "", cache()).ok());
  auto hit = ReadChannelCached(channel, "", cache());
  ASSERT_TRUE(hit.ok());
  EXPECT_TRUE(hit->from_cache);
  EXPECT_EQ(hit->data.num_rows, 2u);
  Write("c.csv", "1,4\n");
  auto r = ReadChannelCached(channel, "", cache());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->from_cache);
  EXPECT_EQ(r->data.num_rows, 3u);
}

}  // namespace
}  // namespace tandem::train_xgboost
