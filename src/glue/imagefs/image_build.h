// `tandem images build`: an image from a YAML spec, reproducibly (the same
// inputs give the same manifest digest; layer_writer.h says how).
//
//   from: scratch                    # or an image reference (its layers come first)
//   layers:                          # each item is one layer
//     - {src: ./program, dest: /opt/program}        # a directory's contents
//     - {src: ./train, dest: /usr/local/bin/train}  # a file
//     - files:                                      # several sources, one layer
//         - {src: ./lib/mymod, dest: /usr/lib/python3/dist-packages/mymod}
//   env: {PATH: /usr/local/bin:/usr/bin:/bin}       # or a list of KEY=value
//   workdir: /opt/program
//   entrypoint: [/usr/bin/python3, /opt/program/main.py]
//   cmd: [train]
//   labels: {team: growth}
//   user: "1000"
//
// `src` is relative to the spec file's directory. The config has no
// `created` time and no history, so nothing time-dependent enters a digest;
// layer mtimes are SOURCE_DATE_EPOCH (0 by default). Env keys override the
// base image's; an entrypoint without a cmd clears the base's cmd (Docker's
// rule).
//
// Thread-safety: free functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "glue/images/manifest.h"
#include "glue/imagefs/layer_writer.h"
#include "glue/imagefs/oci_layout.h"

namespace tandem::imagefs {

struct BuildSpec {
  std::string from = "scratch";
  std::vector<std::vector<LayerSource>> layers;
  std::vector<std::pair<std::string, std::string>> env;
  std::optional<std::string> workdir;
  std::optional<std::string> user;
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::map<std::string, std::string> labels;

  // Parses the spec (YAML/JSON), resolving `src` against `base_dir`.
  // InvalidArgument naming the field (unknown fields included).
  static StatusOr<BuildSpec> FromJson(const Json& j, const std::string& base_dir);
};

// The base image, when `from` is not scratch: its manifest and config (its
// layer blobs must already be in the layout the build writes to).
struct BaseImage {
  images::Manifest manifest;
  images::ImageConfig config;
};

// Writes the new layers, the config and the manifest into `layout` and adds
// the manifest to its index under `ref_name` (its ref-name annotation; ""
// for none). Returns the manifest's descriptor.
StatusOr<images::Descriptor> BuildImage(const BuildSpec& spec, const std::optional<BaseImage>& base,
                                        OciLayout& layout, const std::string& ref_name,
                                        int64_t mtime);

}  // namespace tandem::imagefs
