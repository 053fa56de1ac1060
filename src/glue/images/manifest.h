// OCI image-spec v1.1 documents (and Docker's schema-2 equivalents, which
// registries accept on push): media types, descriptors, image manifests,
// indexes (manifest lists) and image configs, parsed from JSON into structs
// with clear errors and size limits, and serialized deterministically (keys
// sorted, no whitespace) so the same struct always has the same digest.
//
// Parsing keeps what tandem uses; unknown fields are ignored (the store keeps
// the pushed bytes unchanged, so nothing is lost by parsing).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace tandem::images {

namespace media_types {
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerTarZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciEmptyJson = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerTarGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayerTarGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}  // namespace media_types

// Limits (docs/limits.md): a manifest or index is at most 4 MiB (what
// CNCF distribution accepts), an image config at most 8 MiB.
inline constexpr size_t kMaxManifestBytes = 4 << 20;
inline constexpr size_t kMaxConfigBytes = 8 << 20;

enum class ManifestKind { kImage, kIndex };

// True for the four manifest media types (OCI/Docker image manifest, OCI
// index, Docker manifest list).
bool IsManifestMediaType(std::string_view media_type);
bool IsIndexMediaType(std::string_view media_type);

// How a layer is compressed, from its media type.
enum class LayerCompression { kNone, kGzip, kZstd };
// tar, tar+gzip (OCI and Docker, foreign included) and tar+zstd; any other
// media type is InvalidArgument naming it. Whether zstd can be unpacked is
// the unpacker's business (it must refuse it clearly if it cannot).
StatusOr<LayerCompression> LayerCompressionOf(std::string_view media_type);

struct Platform {
  std::string architecture{};
  std::string os{};
  std::string variant{};  // "" if absent
  friend bool operator==(const Platform&, const Platform&) = default;
};

struct Descriptor {
  std::string media_type{};
  std::string digest{};  // sha256:<hex>
  int64_t size = 0;
  std::map<std::string, std::string> annotations{};
  std::string artifact_type{};         // "" if absent
  std::optional<Platform> platform{};  // index entries
  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

// An image manifest (OCI or Docker schema 2).
struct Manifest {
  int schema_version = 2;
  std::string media_type;  // may be "" in an OCI manifest that omits it
  std::string artifact_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
};

// An image index (OCI) or manifest list (Docker).
struct Index {
  int schema_version = 2;
  std::string media_type;
  std::string artifact_type;
  std::vector<Descriptor> manifests;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
};

// The image config: what runs and how.
struct ImageConfig {
  std::string architecture = "amd64";
  std::string os = "linux";
  std::string created;  // RFC 3339, "" if absent (reproducible builds omit it)
  std::string user;
  std::vector<std::string> env;  // "KEY=value"
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string rootfs_type = "layers";
  std::vector<std::string> diff_ids;  // sha256 of each uncompressed layer
};

// A manifest of either kind, as the store sees it on push: its kind, its
// effective media type (the body's mediaType, else inferred) and the
// descriptors it references (config and layers, or child manifests).
struct ParsedManifest {
  ManifestKind kind = ManifestKind::kImage;
  std::string media_type;
  std::vector<Descriptor> references;  // blobs (image) or manifests (index)
};

// Parses a manifest body. `content_type` is the media type the client sent
// ("" if none); when both it and the body's mediaType are present they must
// agree. Errors are InvalidArgument saying what is wrong (too large, not
// JSON, schemaVersion not 2, unknown media type, a descriptor without a
// valid digest or size, ...); larger than kMaxManifestBytes is
// ResourceExhausted.
StatusOr<ParsedManifest> ParseAnyManifest(std::string_view bytes, std::string_view content_type);
StatusOr<Manifest> ParseManifest(std::string_view bytes);
// The media type of a stored manifest: the body's mediaType, else an OCI
// index if it has "manifests", else an OCI image manifest (ParseAnyManifest
// refuses pushes for which this would differ from the Content-Type).
StatusOr<std::string> ManifestMediaType(std::string_view bytes);
StatusOr<Index> ParseIndex(std::string_view bytes);
StatusOr<ImageConfig> ParseImageConfig(std::string_view bytes);
StatusOr<Descriptor> ParseDescriptor(const Json& j, std::string_view where);

// Deterministic serialization (sorted keys, compact): the bytes whose sha256
// is the document's digest.
Json DescriptorToJson(const Descriptor& d);
std::string SerializeManifest(const Manifest& m);
std::string SerializeIndex(const Index& index);
std::string SerializeImageConfig(const ImageConfig& config);

}  // namespace tandem::images
