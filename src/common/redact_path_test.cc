#include "common/redact_path.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(ReplacePathTest, ReplacesTheDirectoryAndItsPrefixUses) {
  EXPECT_EQ(ReplacePath("cannot read /h/jobs/j1/ml/model/x: gone", "/h/jobs/j1/ml", "/opt/ml"),
            "cannot read /opt/ml/model/x: gone");
  EXPECT_EQ(ReplacePath("'/h/ml' is not a directory", "/h/ml/", "/opt/ml"),
            "'/opt/ml' is not a directory");
  EXPECT_EQ(ReplacePath("a /h/ml/x and /h/ml/y", "/h/ml", "/opt/ml"), "a /opt/ml/x and /opt/ml/y");
}

TEST(ReplacePathTest, AnEmptyReplacementLeavesNamesRelativeToTheDirectory) {
  EXPECT_EQ(ReplacePath("cannot parse /cache/m/3-ab/model.json: bad", "/cache/m/3-ab", ""),
            "cannot parse model.json: bad");
}

TEST(ReplacePathTest, OnlyWholeComponentsMatch) {
  EXPECT_EQ(ReplacePath("/h/ml2/x /h/ml-old /h/ml.bak /h/ml", "/h/ml", "S"),
            "/h/ml2/x /h/ml-old /h/ml.bak S");
}

TEST(ReplacePathTest, AnEmptyOrRootPathChangesNothing) {
  EXPECT_EQ(ReplacePath("/a/b", "", "x"), "/a/b");
  EXPECT_EQ(ReplacePath("/a/b", "/", "x"), "/a/b");
  EXPECT_EQ(ReplacePath("", "/a", "x"), "");
}

TEST(HidePathsUnderTest, HidesWholePathsUpToTheirEnd) {
  EXPECT_EQ(HidePathsUnder("open '/home/t/store/blobs/ab/cd': denied, and /home/t/x", "/home/t",
                           "<control-plane file>"),
            "open '<control-plane file>': denied, and <control-plane file>");
  EXPECT_EQ(HidePathsUnder("/home/tx/a stays", "/home/t", "H"), "/home/tx/a stays");
  EXPECT_EQ(HidePathsUnder("nothing here", "/home/t", "H"), "nothing here");
  EXPECT_EQ(HidePathsUnder("/x", "/", "H"), "/x");
}

}  // namespace
}  // namespace tandem
