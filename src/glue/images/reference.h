// Image references as OCI tools write them: `repo:tag`, `repo@sha256:<hex>`,
// `repo:tag@sha256:<hex>`, each optionally prefixed by a registry host
// (`host:port/repo:tag`, `localhost/repo`). A reference with neither tag nor
// digest means tag `latest`.
//
// Names follow the OCI distribution grammar: path components
// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`, at most 255 bytes in all;
// tags `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; digests `sha256:<64 lowercase hex>`
// (the only algorithm tandem stores). The first component is a registry host
// when it contains `.` or `:` or is `localhost` (Docker's rule).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem::images {

inline constexpr size_t kMaxRepositoryBytes = 255;
inline constexpr size_t kMaxTagBytes = 128;
inline constexpr std::string_view kDefaultTag = "latest";

struct Reference {
  std::string registry;    // "host:port", "localhost", or "" (none given)
  std::string repository;  // "team/name"
  std::string tag;         // "" when only a digest was given
  std::string digest;      // "sha256:<hex>" or ""

  // What to resolve: the digest if there is one, else the tag.
  const std::string& TagOrDigest() const { return digest.empty() ? tag : digest; }
  // `[registry/]repository[:tag][@digest]`; parses back to the same value.
  std::string ToString() const;
  // The same without the registry host.
  std::string Name() const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

// Parses a reference. Errors are InvalidArgument naming the text and what is
// wrong with it (empty, upper case, bad component, tag too long, digest
// algorithm other than sha256, ...).
StatusOr<Reference> ParseReference(std::string_view text);

// A repository name without host (`team/name`): the grammar above.
Status ValidateRepository(std::string_view name);
// A tag: the grammar above.
Status ValidateTag(std::string_view tag);
// `sha256:<64 lowercase hex>`; another algorithm is InvalidArgument saying
// only sha256 is supported.
Status ValidateImageDigest(std::string_view digest);
// True if `s` looks like a digest (`<algorithm>:<encoded>`), i.e. should be
// treated as one rather than as a tag (tags cannot contain ':').
bool LooksLikeDigest(std::string_view s);
// A tag or a digest, as in `/v2/<name>/manifests/<reference>`.
Status ValidateTagOrDigest(std::string_view reference);

}  // namespace tandem::images
