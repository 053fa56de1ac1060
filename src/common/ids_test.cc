#include "common/ids.h"

#include <regex>
#include <set>

#include "gtest/gtest.h"

namespace tandem {
namespace {

TEST(IdsTest, UuidV7Format) {
  FakeClock clock;
  std::string id = NewUuidV7(clock);
  EXPECT_TRUE(std::regex_match(
      id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << id;
}

TEST(IdsTest, SortableWithinAndAcrossMilliseconds) {
  FakeClock clock;
  std::vector<std::string> uuids, ulids;
  for (int i = 0; i < 2000; ++i) {
    uuids.push_back(NewUuidV7(clock));
    ulids.push_back(NewUlid(clock));
    if (i % 100 == 0) clock.Advance(1000);
  }
  EXPECT_TRUE(std::is_sorted(uuids.begin(), uuids.end()));
  EXPECT_TRUE(std::is_sorted(ulids.begin(), ulids.end()));
  EXPECT_EQ(std::set<std::string>(uuids.begin(), uuids.end()).size(), uuids.size());
  EXPECT_EQ(std::set<std::string>(ulids.begin(), ulids.end()).size(), ulids.size());
}

TEST(IdsTest, UlidEncodesTime) {
  FakeClock clock(1'700'000'000'123'000);
  std::string id = NewUlid(clock);
  EXPECT_EQ(id.size(), 26u);
  EXPECT_EQ(UlidMillis(id), 1'700'000'000'123);
  EXPECT_EQ(UlidMillis("short"), -1);
}

}  // namespace
}  // namespace tandem
