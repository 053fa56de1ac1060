// Composing an image's root filesystem from its unpacked layers, bottom to
// top, with the OCI/overlayfs rules: a layer's whiteouts and opaque
// directories first hide what the layers below put there, then its entries
// are laid over the result (a directory merges into a directory; anything
// else replaces what was there, a whole directory included). Regular files
// are hard links to the layer's copy (no data is copied; the cache binds the
// result read-only), symlinks are recreated, directories made with the
// layer's mode. Every path is walked with O_NOFOLLOW (fs_at.h): a symlink in
// a lower layer is never followed.
//
// Why a flattened tree and not an overlay mount: bubblewrap 0.8's
// --overlay-src needs unprivileged overlayfs, and an OCI whiteout would have
// to become an overlayfs whiteout (a 0/0 character device), which an
// unprivileged node cannot create; hard links make the flattened tree cost
// one directory skeleton per image, and it is bound at / in ~1 ms.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <string>

#include "common/status.h"
#include "glue/imagefs/unpack.h"

namespace tandem::imagefs {

// Applies the unpacked layer at `layer_dir` (described by `contents`) onto
// the root filesystem at `rootfs`.
Status ApplyLayer(const std::string& rootfs, const std::string& layer_dir,
                  const LayerContents& contents);

}  // namespace tandem::imagefs
