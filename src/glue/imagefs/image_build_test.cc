// Reproducible layers and images (layer_writer.h, image_build.h) and the OCI
// layout they are written to (oci_layout.h).
#include "glue/imagefs/image_build.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/yaml.h"
#include "glue/imagefs/layer_cache.h"

namespace tandem::imagefs {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ImageBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("image-build-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "src/pkg");
    std::ofstream(dir_ / "src/pkg/mod.py") << "X = 1\n";
    std::ofstream(dir_ / "src/train") << "#!/bin/sh\necho hi\n";
    fs::permissions(dir_ / "src/train", fs::perms::owner_all, fs::perm_options::add);
    fs::create_symlink("mod.py", dir_ / "src/pkg/link.py");
  }
  void TearDown() override { fs::remove_all(dir_); }

  StatusOr<BuildSpec> Spec(const std::string& yaml) {
    auto j = ParseYaml(yaml);
    if (!j.ok()) return j.status();
    return BuildSpec::FromJson(*j, (dir_ / "src").string());
  }

  std::string Build(const std::string& yaml, const std::string& out, int64_t mtime = 0) {
    auto spec = Spec(yaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    auto layout = OciLayout::Open((dir_ / out).string(), true);
    EXPECT_TRUE(layout.ok()) << layout.status();
    auto desc = BuildImage(*spec, std::nullopt, *layout, "t", mtime);
    EXPECT_TRUE(desc.ok()) << desc.status();
    return desc.ok() ? desc->digest : "";
  }

  fs::path dir_;
};

constexpr char kSpec[] = R"(
layers:
  - {src: pkg, dest: /usr/lib/python3/dist-packages/pkg}
  - {src: train, dest: /usr/local/bin/train}
env: {B: "2", A: "1"}
workdir: /opt/program
entrypoint: [/usr/local/bin/train]
labels: {team: growth}
)";

TEST_F(ImageBuildTest, TheSameInputsGiveTheSameDigest) {
  const std::string first = Build(kSpec, "a");
  ASSERT_FALSE(first.empty());
  // Other mtimes and atimes on the host, another output directory: the same.
  ::utimensat(AT_FDCWD, (dir_ / "src/pkg/mod.py").c_str(), nullptr, 0);
  EXPECT_EQ(Build(kSpec, "b"), first);
  // Other content, or another SOURCE_DATE_EPOCH: another digest.
  EXPECT_NE(Build(kSpec, "c", 1700000000), first);
  std::ofstream(dir_ / "src/pkg/mod.py") << "X = 2\n";
  EXPECT_NE(Build(kSpec, "d"), first);
}

TEST_F(ImageBuildTest, TheImageIsRunnableByTheLayerCache) {
  const std::string digest = Build(kSpec, "layout");
  auto layout = OciLayout::Open((dir_ / "layout").string(), false);
  ASSERT_TRUE(layout.ok());
  auto source = LayoutSource(*layout);
  FakeClock clock;
  LayerCacheOptions o;
  o.dir = (dir_ / "cache").string();
  auto cache = LayerCache::Open(o, clock);
  ASSERT_TRUE(cache.ok()) << cache.status();
  auto image = (*cache)->Prepare(digest, *source);
  ASSERT_TRUE(image.ok()) << image.status();
  const fs::path root = image->rootfs();
  EXPECT_TRUE(fs::exists(root / "usr/lib/python3/dist-packages/pkg/mod.py"));
  EXPECT_EQ(fs::read_symlink(root / "usr/lib/python3/dist-packages/pkg/link.py"), "mod.py");
  EXPECT_EQ(fs::status(root / "usr/local/bin/train").permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);
  EXPECT_EQ(image->config().env, (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(image->config().entrypoint, (std::vector<std::string>{"/usr/local/bin/train"}));
  EXPECT_EQ(image->config().working_dir, "/opt/program");
  EXPECT_EQ(image->config().labels.at("team"), "growth");
}

TEST_F(ImageBuildTest, ABaseImagesSettingsAreInheritedAndOverridden) {
  auto spec = Spec("env: [A=new, C=3]\nentrypoint: [/bin/x]\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  BaseImage base;
  base.config.env = {"A=old", "B=kept"};
  base.config.cmd = {"serve"};
  base.config.working_dir = "/base";
  auto layout = OciLayout::Open((dir_ / "l").string(), true);
  ASSERT_TRUE(layout.ok());
  auto desc = BuildImage(*spec, base, *layout, "", 0);
  ASSERT_TRUE(desc.ok()) << desc.status();
  auto manifest = images::ParseManifest(*layout->ReadBlob(desc->digest, 1 << 20));
  ASSERT_TRUE(manifest.ok());
  auto config = images::ParseImageConfig(*layout->ReadBlob(manifest->config.digest, 1 << 20));
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->env, (std::vector<std::string>{"A=new", "B=kept", "C=3"}));
  EXPECT_TRUE(config->cmd.empty()) << "an entrypoint without a cmd clears the base's cmd";
  EXPECT_EQ(config->working_dir, "/base");
  EXPECT_TRUE(config->created.empty());
}

TEST_F(ImageBuildTest, BadSpecsNameTheField) {
  EXPECT_THAT(std::string(Spec("layerz: []\n").status().message()), HasSubstr("layerz"));
  EXPECT_THAT(std::string(Spec("layers: [{src: pkg}]\n").status().message()),
              HasSubstr("'layers[0]' needs both 'src' and 'dest'"));
  EXPECT_THAT(std::string(Spec("layers: [{src: pkg, dest: rel}]\n").status().message()),
              HasSubstr("layers[0].dest"));
  EXPECT_THAT(std::string(Spec("workdir: rel\n").status().message()), HasSubstr("workdir"));
  EXPECT_THAT(std::string(Spec("env: [NOEQUALS]\n").status().message()), HasSubstr("NOEQUALS"));
  // A missing source or a fifo is refused when the layer is written.
  auto missing = Spec("layers: [{src: nope, dest: /x}]\n");
  ASSERT_TRUE(missing.ok());
  auto layout = OciLayout::Open((dir_ / "l").string(), true);
  ASSERT_TRUE(layout.ok());
  auto built = BuildImage(*missing, std::nullopt, *layout, "", 0);
  ASSERT_FALSE(built.ok());
  EXPECT_THAT(std::string(built.status().message()), HasSubstr("nope"));
  ASSERT_EQ(::mkfifo((dir_ / "src/pkg/fifo").c_str(), 0644), 0);
  auto fifo = BuildImage(*Spec(kSpec), std::nullopt, *layout, "", 0);
  ASSERT_FALSE(fifo.ok());
  EXPECT_THAT(std::string(fifo.status().message()), HasSubstr("fifo"));
  EXPECT_TRUE(layout->Manifests()->empty()) << "nothing was added to the index";
}

TEST_F(ImageBuildTest, LayoutIndexNamesAndErrors) {
  Build(kSpec, "l");
  auto layout = OciLayout::Open((dir_ / "l").string(), false);
  ASSERT_TRUE(layout.ok());
  EXPECT_TRUE(layout->FindManifest("t").ok());
  EXPECT_TRUE(layout->FindManifest("").ok()) << "the only one";
  EXPECT_EQ(layout->FindManifest("other").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(OciLayout::Open((dir_ / "nothing").string(), false).status().code(),
            absl::StatusCode::kNotFound);
  // A blob that does not match its digest is DataLoss when read.
  auto manifests = layout->Manifests();
  ASSERT_TRUE(manifests.ok());
  const std::string digest = (*manifests)[0].digest;
  std::ofstream(layout->BlobPath(digest), std::ios::trunc) << "tampered";
  EXPECT_EQ(layout->ReadBlob(digest, 1 << 20).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tandem::imagefs
