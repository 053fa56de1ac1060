// Applying one OCI image layer (a tar, plain or gzip'd) to an empty
// directory, safely: layers come from whoever pushed the image.
//
//  - Entry paths are taken inside the layer: a leading '/' is dropped (as
//    GNU tar and Docker do; "/" is the root, "/etc/x" is "etc/x"), "./a" is
//    "a", and a ".." component is refused (InvalidArgument naming the
//    entry). Hard link targets likewise.
//  - Nothing is ever written through a symlink: every parent directory is
//    opened component by component with O_NOFOLLOW (fs_at.h), so an entry
//    below a symlink the layer planted is refused. Symlinks themselves are
//    kept with any target (an absolute target means the image's root at run
//    time); they are never followed here.
//  - Hard links must name a regular file of the same layer (resolved the same
//    way); anything else is refused.
//  - Device nodes, fifos and sockets are skipped (counted in `skipped`): an
//    unprivileged node cannot create them and a job has no use for them.
//  - setuid/setgid/sticky bits are stripped; the owner always gets rw (rwx on
//    directories) so the cache can read and later remove the tree. Owners
//    (uid/gid) are not applied: everything belongs to the node's user.
//  - OCI whiteouts are not written: `.wh.<name>` is recorded in `whiteouts`
//    and `.wh..wh..opq` in `opaque_dirs` (paths relative to the layer root),
//    for composition to apply to the layers below (compose.h). A whiteout
//    naming "", "." or ".." is refused.
//  - Limits (store::UnpackLimits): entry count, per-entry and total size and
//    the ratio of unpacked bytes to the layer blob's size (compression bombs).
//    ResourceExhausted naming the entry.
//  - Corrupt or truncated input: DataLoss.
//
// The caller unpacks into a staging directory and publishes it with a rename
// (layer_cache.h), so a refused layer leaves nothing behind.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "glue/store/archive.h"

namespace tandem::imagefs {

struct LayerContents {
  std::vector<std::string> whiteouts;    // paths hidden in the layers below
  std::vector<std::string> opaque_dirs;  // directories whose lower contents are hidden
  uint64_t entries = 0;
  uint64_t bytes = 0;    // regular-file bytes written
  uint64_t skipped = 0;  // devices, fifos, sockets
};

// Unpacks `layer_path` into the existing empty directory `dir`.
StatusOr<LayerContents> UnpackLayer(const std::string& layer_path, const std::string& dir,
                                    const store::UnpackLimits& limits = {});

// "sha256:<hex>" of the layer's uncompressed tar stream (its OCI diff_id);
// DataLoss for a corrupt stream.
StatusOr<std::string> UncompressedDigest(const std::string& layer_path);

}  // namespace tandem::imagefs
