#include "common/helper_programs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace tandem {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(HelperProgramsTest, InstalledProgramLooksOnlyBesideItself) {
  HelperSearch s{"", "/opt/tandem/bin/tandem", "/home/dev/tandem/build"};
  EXPECT_THAT(HelperDirs(s), ElementsAre("/opt/tandem/libexec/tandem"));
  // A build directory that is a string prefix but not a parent does not count.
  s.executable = "/home/dev/tandem/build2/bin/tandem";
  EXPECT_THAT(HelperDirs(s), ElementsAre("/home/dev/tandem/build2/libexec/tandem"));
}

TEST(HelperProgramsTest, BuildTreeProgramsAlsoLookInTheirBuildTree) {
  HelperSearch s{"", "/tmp/co/build/src/compute/transform/transform_service_test", "/tmp/co/build"};
  EXPECT_THAT(HelperDirs(s), ElementsAre("/tmp/co/build/src/compute/libexec/tandem",
                                         "/tmp/co/build/libexec/tandem"));
  // build/bin/tandem: the layout already leads there, no duplicate.
  s.executable = "/tmp/co/build/bin/tandem";
  EXPECT_THAT(HelperDirs(s), ElementsAre("/tmp/co/build/libexec/tandem"));
}

TEST(HelperProgramsTest, OverrideIsTheOnlyPlace) {
  HelperSearch s{"/srv/helpers", "/tmp/co/build/bin/tandem", "/tmp/co/build"};
  EXPECT_THAT(HelperDirs(s), ElementsAre("/srv/helpers"));
  auto found = FindHelperProgram("tandem-transform", s);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(found.status().message()),
              HasSubstr("/srv/helpers/tandem-transform from TANDEM_LIBEXEC_DIR"));
}

TEST(HelperProgramsTest, FindsAnExecutableAndNamesEveryPlaceTried) {
  char tmpl[] = "/tmp/tandem-helpers-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  fs::path root = tmpl;
  fs::create_directories(root / "bin");
  fs::create_directories(root / "libexec/tandem");
  std::ofstream(root / "libexec/tandem/tandem-transform") << "#!/bin/sh\n";
  std::ofstream(root / "libexec/tandem/not-executable") << "";
  fs::permissions(root / "libexec/tandem/tandem-transform", fs::perms::owner_all);
  HelperSearch s{"", (root / "bin/tandem").string(), "/no/build"};

  auto found = FindHelperProgram("tandem-transform", s);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, (root / "libexec/tandem/tandem-transform").string());

  for (const char* name : {"not-executable", "missing"}) {
    auto missing = FindHelperProgram(name, s);
    ASSERT_FALSE(missing.ok()) << name;
    EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(std::string(missing.status().message()),
                HasSubstr((root / "libexec/tandem" / name).string()));
    EXPECT_THAT(std::string(missing.status().message()), HasSubstr("PREFIX/libexec/tandem"));
  }
  fs::remove_all(root);
}

TEST(HelperProgramsTest, CurrentSearchKnowsThisProgram) {
  HelperSearch s = CurrentHelperSearch();
  EXPECT_TRUE(fs::equivalent(s.executable, "/proc/self/exe"));
  EXPECT_FALSE(s.build_dir.empty());
  // This test lives in the build tree, so the build tree's helpers are searched.
  EXPECT_EQ(HelperDirs(HelperSearch{"", s.executable, s.build_dir}).back(),
            (fs::path(s.build_dir) / "libexec/tandem").lexically_normal().string());
}

}  // namespace
}  // namespace tandem
