// OCI manifests, indexes, image configs and image references (what registry
// clients push to /v2/): the input is a Content-Type line, then the body.
// Parsing never crashes; what parses re-serializes to something that parses
// to the same references, and a parsed reference formats back to itself.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "glue/images/manifest.h"
#include "glue/images/reference.h"

namespace im = tandem::images;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view content_type = nl == std::string_view::npos ? "" : in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? in : in.substr(nl + 1);

  if (auto ref = im::ParseReference(content_type); ref.ok()) {
    auto again = im::ParseReference(ref->ToString());
    if (!again.ok() || !(*again == *ref)) __builtin_trap();
  }
  (void)im::ValidateTagOrDigest(content_type);
  (void)im::LayerCompressionOf(content_type);

  auto any = im::ParseAnyManifest(body, content_type);
  (void)im::ManifestMediaType(body);
  if (auto m = im::ParseManifest(body); m.ok()) {
    auto back = im::ParseManifest(im::SerializeManifest(*m));
    if (!back.ok() || back->layers.size() != m->layers.size() ||
        back->config.digest != m->config.digest) {
      __builtin_trap();
    }
  }
  if (auto index = im::ParseIndex(body); index.ok()) {
    auto back = im::ParseIndex(im::SerializeIndex(*index));
    if (!back.ok() || back->manifests != index->manifests) __builtin_trap();
  }
  if (auto config = im::ParseImageConfig(body); config.ok()) {
    auto back = im::ParseImageConfig(im::SerializeImageConfig(*config));
    if (!back.ok() || back->diff_ids != config->diff_ids || back->env != config->env) {
      __builtin_trap();
    }
  }
  return 0;
}
