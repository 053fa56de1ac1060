#include "glue/images/testing/test_image.h"

#include <algorithm>
#include <cstring>

#include "glue/store/sha256.h"
#include "glue/store/testing/test_data.h"

namespace tandem::images::testing {

TestImage MakeTestImage(uint32_t seed, int layers, size_t layer_bytes,
                        std::string_view media_type) {
  bool docker = media_type == media_types::kDockerManifest;
  TestImage image;
  ImageConfig config;
  config.cmd = {"/bin/sh", "-c", "echo " + std::to_string(seed)};
  for (int i = 0; i < layers; ++i) {
    TestBlob layer;
    layer.bytes = store::RandomBytes(layer_bytes, seed * 1000 + i);
    layer.digest = store::Sha256Digest(layer.bytes);
    config.diff_ids.push_back(layer.digest);
    image.manifest.layers.push_back(
        {.media_type = std::string(docker ? media_types::kDockerLayerTarGzip
                                          : media_types::kOciLayerTarGzip),
         .digest = layer.digest,
         .size = static_cast<int64_t>(layer.bytes.size())});
    image.layers.push_back(std::move(layer));
  }
  image.config.bytes = SerializeImageConfig(config);
  image.config.digest = store::Sha256Digest(image.config.bytes);
  image.manifest.media_type = std::string(media_type);
  image.manifest.config = {
      .media_type = std::string(docker ? media_types::kDockerConfig : media_types::kOciConfig),
      .digest = image.config.digest,
      .size = static_cast<int64_t>(image.config.bytes.size())};
  image.manifest_bytes = SerializeManifest(image.manifest);
  image.manifest_digest = store::Sha256Digest(image.manifest_bytes);
  return image;
}

store::ReadFn ReaderOf(const std::string& bytes, size_t chunk) {
  auto pos = std::make_shared<size_t>(0);
  return [&bytes, pos, chunk](char* buf, size_t n) -> StatusOr<size_t> {
    size_t take = std::min({n, chunk, bytes.size() - *pos});
    std::memcpy(buf, bytes.data() + *pos, take);
    *pos += take;
    return take;
  };
}

Status PushBlobs(ImageStore& store, std::string_view repo, const TestImage& image) {
  RETURN_IF_ERROR(store.PutBlob(repo, ReaderOf(image.config.bytes), image.config.digest).status());
  for (const TestBlob& layer : image.layers) {
    RETURN_IF_ERROR(store.PutBlob(repo, ReaderOf(layer.bytes), layer.digest).status());
  }
  return OkStatus();
}

StatusOr<std::string> PushImage(ImageStore& store, std::string_view repo,
                                std::string_view tag_or_digest, const TestImage& image) {
  RETURN_IF_ERROR(PushBlobs(store, repo, image));
  return store.PutManifest(repo, tag_or_digest, image.manifest.media_type, image.manifest_bytes);
}

}  // namespace tandem::images::testing
