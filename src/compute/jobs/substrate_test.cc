#include "compute/jobs/substrate.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/subprocess_core.h"

namespace tandem::compute::jobs {
namespace {

TEST(ResolveBwrapTest, DisabledFindsNothing) {
  auto r = ResolveBwrap(/*enabled=*/false, /*required=*/false, "/usr/bin/bwrap");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "");
}

TEST(ResolveBwrapTest, MissingConfiguredBwrapIsAnErrorOnlyWhenRequired) {
  auto optional = ResolveBwrap(true, /*required=*/false, "/nonexistent/bwrap");
  ASSERT_TRUE(optional.ok()) << optional.status();
  EXPECT_EQ(*optional, "");
  auto required = ResolveBwrap(true, /*required=*/true, "/nonexistent/bwrap");
  ASSERT_FALSE(required.ok());
  EXPECT_EQ(required.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(required.status().message().find("/nonexistent/bwrap"), std::string::npos);
}

TEST(ResolveBwrapTest, ConfiguredOrOnPath) {
  if (!std::filesystem::exists("/usr/bin/bwrap")) GTEST_SKIP() << "no /usr/bin/bwrap";
  auto configured = ResolveBwrap(true, true, "/usr/bin/bwrap");
  ASSERT_TRUE(configured.ok()) << configured.status();
  EXPECT_EQ(*configured, "/usr/bin/bwrap");
  auto searched = ResolveBwrap(true, true, "");
  ASSERT_TRUE(searched.ok()) << searched.status();
  EXPECT_TRUE(subprocess::IsExecutableFile(*searched)) << *searched;
}

}  // namespace
}  // namespace tandem::compute::jobs
