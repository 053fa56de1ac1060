#include "glue/images/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::images {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace mt = media_types;

std::string D(char c) { return "sha256:" + std::string(64, c); }

Manifest SampleManifest() {
  Manifest m;
  m.media_type = std::string(mt::kOciManifest);
  m.config = {.media_type = std::string(mt::kOciConfig), .digest = D('c'), .size = 123};
  m.layers.push_back({.media_type = std::string(mt::kOciLayerTarGzip),
                      .digest = D('1'),
                      .size = 1000,
                      .annotations = {{"org.opencontainers.image.title", "layer1"}}});
  m.layers.push_back(
      {.media_type = std::string(mt::kOciLayerTar), .digest = D('2'), .size = 2000});
  m.annotations["b"] = "2";
  m.annotations["a"] = "1";
  return m;
}

TEST(ManifestTest, ManifestRoundTripIsDeterministic) {
  Manifest m = SampleManifest();
  std::string bytes = SerializeManifest(m);
  // Sorted keys, compact.
  EXPECT_THAT(bytes, HasSubstr("{\"annotations\":{\"a\":\"1\",\"b\":\"2\"},\"config\":"));
  EXPECT_EQ(SerializeManifest(m), bytes);
  auto back = ParseManifest(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->media_type, mt::kOciManifest);
  EXPECT_EQ(back->config, m.config);
  EXPECT_EQ(back->layers, m.layers);
  EXPECT_EQ(back->annotations, m.annotations);
  EXPECT_EQ(SerializeManifest(*back), bytes);
}

TEST(ManifestTest, IndexRoundTrip) {
  Index index;
  index.media_type = std::string(mt::kOciIndex);
  index.manifests.push_back({.media_type = std::string(mt::kOciManifest),
                             .digest = D('a'),
                             .size = 500,
                             .platform = Platform{"amd64", "linux", ""}});
  std::string bytes = SerializeIndex(index);
  auto back = ParseIndex(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->manifests, index.manifests);
  EXPECT_EQ(SerializeIndex(*back), bytes);
}

TEST(ManifestTest, ImageConfigRoundTrip) {
  ImageConfig c;
  c.env = {"PATH=/usr/bin", "A=b"};
  c.entrypoint = {"/bin/sh", "-c"};
  c.cmd = {"train"};
  c.working_dir = "/opt/program";
  c.user = "1000:1000";
  c.labels = {{"team", "fraud"}};
  c.diff_ids = {D('e')};
  std::string bytes = SerializeImageConfig(c);
  auto back = ParseImageConfig(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->env, c.env);
  EXPECT_EQ(back->entrypoint, c.entrypoint);
  EXPECT_EQ(back->cmd, c.cmd);
  EXPECT_EQ(back->working_dir, c.working_dir);
  EXPECT_EQ(back->user, c.user);
  EXPECT_EQ(back->labels, c.labels);
  EXPECT_THAT(back->diff_ids, ElementsAre(D('e')));
  EXPECT_EQ(back->created, "");
  EXPECT_EQ(SerializeImageConfig(*back), bytes);
}

TEST(ManifestTest, DockerConfigAsDockerWritesIt) {
  std::string docker = R"({"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
    "config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":null,"Labels":null},
    "rootfs":{"type":"layers","diff_ids":[")" + D('f') + R"("]},"history":[{}]})";
  auto c = ParseImageConfig(docker);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->cmd, ElementsAre("sh"));
  EXPECT_TRUE(c->entrypoint.empty());
  EXPECT_EQ(c->created, "2024-01-01T00:00:00Z");
}

TEST(ManifestTest, ParseAnyDetectsKindAndReferences) {
  std::string bytes = SerializeManifest(SampleManifest());
  auto p = ParseAnyManifest(bytes, mt::kOciManifest);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, ManifestKind::kImage);
  EXPECT_EQ(p->media_type, mt::kOciManifest);
  ASSERT_EQ(p->references.size(), 3u);
  EXPECT_EQ(p->references[0].digest, D('c'));

  // No mediaType in the body: the Content-Type says, or the shape does.
  Manifest m = SampleManifest();
  m.media_type.clear();
  auto q = ParseAnyManifest(SerializeManifest(m), "");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->media_type, mt::kOciManifest);
  Index index;
  index.manifests.push_back(
      {.media_type = std::string(mt::kOciManifest), .digest = D('a'), .size = 5});
  auto r = ParseAnyManifest(SerializeIndex(index), "application/json");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->kind, ManifestKind::kIndex);
  EXPECT_EQ(r->media_type, mt::kOciIndex);
  // A Docker list must say so in its body too (stored manifests carry no
  // separate media type).
  auto s = ParseAnyManifest(SerializeIndex(index), std::string(mt::kDockerManifestList));
  EXPECT_THAT(s.status().message(), HasSubstr("needs the body's mediaType"));
  index.media_type = std::string(mt::kDockerManifestList);
  s = ParseAnyManifest(SerializeIndex(index), std::string(mt::kDockerManifestList));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->media_type, mt::kDockerManifestList);

  // Docker schema 2 with a charset parameter on the Content-Type.
  m.media_type = std::string(mt::kDockerManifest);
  auto d = ParseAnyManifest(SerializeManifest(m), std::string(mt::kDockerManifest) +
                                                      "; charset=utf-8");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->media_type, mt::kDockerManifest);
}

TEST(ManifestTest, BadManifestsSayWhy) {
  struct Case {
    std::string body, content_type, why;
  };
  std::string good = SerializeManifest(SampleManifest());
  std::string no_digest = good;
  no_digest.replace(no_digest.find(D('1')), 71, "sha256:xyz");
  std::vector<Case> cases = {
      {"not json", "", "not valid JSON"},
      {"[]", "", "JSON object"},
      {R"({"schemaVersion":1,"config":{}})", "", "schemaVersion must be 2"},
      {R"({"schemaVersion":2,"layers":[]})", "", "config is missing"},
      {R"({"schemaVersion":2,"mediaType":"text/plain"})", "", "not a manifest media type"},
      {good, "text/plain", "Content-Type 'text/plain' is not a manifest media type"},
      {good, std::string(mt::kDockerManifest), "does not match"},
      {R"({"schemaVersion":2,"config":{"mediaType":"a/b","digest":")" + D('a') +
           R"(","size":1},"layers":[]})",
       std::string(mt::kDockerManifest), "needs the body's mediaType"},
      {no_digest, "", "manifest.layers[0].digest"},
      {R"({"schemaVersion":2,"config":{"mediaType":"a/b","digest":")" + D('a') +
           R"(","size":-1},"layers":[]})",
       "", "manifest.config.size must be a non-negative integer"},
      {R"({"schemaVersion":2,"config":{"mediaType":"nope","digest":")" + D('a') +
           R"(","size":1},"layers":[]})",
       "", "manifest.config.mediaType"},
      {R"({"schemaVersion":2,"config":{"mediaType":"a/b","digest":")" + D('a') +
           R"(","size":1},"layers":{}})",
       "", "layers must be an array"},
      {R"({"schemaVersion":2,"manifests":[{"mediaType":"a/b","size":1}]})", "",
       "index.manifests[0].digest"},
  };
  for (const Case& c : cases) {
    auto p = ParseAnyManifest(c.body, c.content_type);
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_THAT(p.status().message(), HasSubstr(c.why)) << c.body;
  }
}

TEST(ManifestTest, OversizeManifestRefused) {
  std::string big = "{\"schemaVersion\":2,\"annotations\":{\"x\":\"" +
                    std::string(kMaxManifestBytes, 'x') + "\"}}";
  auto p = ParseAnyManifest(big, "");
  EXPECT_EQ(p.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(p.status().message(), HasSubstr("limit is 4194304"));
  EXPECT_EQ(ParseManifest(big).status().code(), StatusCode::kResourceExhausted);
}

TEST(ManifestTest, StoredMediaType) {
  Manifest m = SampleManifest();
  EXPECT_EQ(*ManifestMediaType(SerializeManifest(m)), mt::kOciManifest);
  m.media_type = std::string(mt::kDockerManifest);
  EXPECT_EQ(*ManifestMediaType(SerializeManifest(m)), mt::kDockerManifest);
  m.media_type.clear();
  EXPECT_EQ(*ManifestMediaType(SerializeManifest(m)), mt::kOciManifest);
  EXPECT_EQ(*ManifestMediaType(R"({"schemaVersion":2,"manifests":[]})"), mt::kOciIndex);
}

TEST(ManifestTest, LayerCompression) {
  EXPECT_EQ(*LayerCompressionOf(mt::kOciLayerTar), LayerCompression::kNone);
  EXPECT_EQ(*LayerCompressionOf(mt::kOciLayerTarGzip), LayerCompression::kGzip);
  EXPECT_EQ(*LayerCompressionOf(mt::kDockerLayerTarGzip), LayerCompression::kGzip);
  EXPECT_EQ(*LayerCompressionOf(mt::kOciLayerTarZstd), LayerCompression::kZstd);
  auto bad = LayerCompressionOf("application/x-rar");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("application/x-rar"));
}

TEST(ManifestTest, ImageConfigErrors) {
  EXPECT_THAT(ParseImageConfig("{}").status().message(), HasSubstr("rootfs"));
  EXPECT_THAT(ParseImageConfig(R"({"rootfs":{"type":"layers","diff_ids":["x"]}})")
                  .status()
                  .message(),
              HasSubstr("diff_ids[0]"));
  EXPECT_THAT(ParseImageConfig(R"({"config":{"Env":"A=b"},"rootfs":{"type":"layers"}})")
                  .status()
                  .message(),
              HasSubstr("config.config.Env must be an array of strings"));
}

}  // namespace
}  // namespace tandem::images
