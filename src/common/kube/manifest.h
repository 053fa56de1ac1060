// Writing rendered Kubernetes objects out: YAML as a multi-document stream
// (what `kubectl apply -f` and `podman kube play` read) or JSON as a v1
// List (what `kubectl apply -f` also reads).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace tandem::kube {

enum class ManifestFormat { kYaml, kJson };

// "yaml" or "json"; anything else -> InvalidArgument.
StatusOr<ManifestFormat> ParseManifestFormat(const std::string& text);

// One value as block YAML whose strings read back as strings ("8080",
// "true" and "" are quoted; names and paths are plain).
std::string ToBlockYaml(const Json& value);

// The objects as `---`-separated YAML documents, or one JSON List.
std::string WriteManifest(const std::vector<Json>& objects, ManifestFormat format);

}  // namespace tandem::kube
