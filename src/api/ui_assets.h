// The web console's bundle (web/, built by esbuild at build time), compiled
// into the binary by ui_embed.cmake so that `tandem up` serves it with no
// node and no network.
#pragma once

#include <span>
#include <string_view>

namespace tandem::api {

struct UiAsset {
  std::string_view path;  // relative to /ui/: "index.html", "assets/main-HASH.js"
  std::string_view data;
};

// Every file of the bundle (generated: ui_assets.cc in the build directory).
std::span<const UiAsset> UiAssets();

}  // namespace tandem::api
