// Writing image layers reproducibly: the same files give the same bytes, so
// the same digest, on every run and machine with this libarchive.
//
//   - entries sorted by path; the parent directories of each destination
//     first (mode 0755);
//   - mtime SOURCE_DATE_EPOCH (or the given epoch; 0 by default), uid/gid 0,
//     no user/group names, no atime/ctime, no xattrs/ACLs (pax restricted);
//   - gzip without timestamp or file name in its header;
//   - regular files, directories and symlinks (target kept as is); a hard
//     link becomes a second regular file; fifos, sockets and devices are
//     refused (InvalidArgument naming them). Modes keep rwx bits only
//     (no setuid/setgid/sticky).
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace tandem::imagefs {

// One host file or directory and where it goes in the image.
struct LayerSource {
  std::string host_path;  // a file or a directory (its contents go to dest)
  std::string dest;       // absolute path in the image, e.g. /usr/local/bin
  int mode = -1;          // for a file: its mode (e.g. 0755); -1 = the host file's
};

struct WrittenLayer {
  std::string digest;   // sha256 of the tar+gzip blob
  std::string diff_id;  // sha256 of the uncompressed tar
  uint64_t size = 0;    // bytes of the blob
};

// Writes the layer of `sources` (in that order; a later one overrides an
// earlier one at the same path) to `out_path` (temp file + rename).
StatusOr<WrittenLayer> WriteLayer(const std::vector<LayerSource>& sources,
                                  const std::string& out_path, int64_t mtime = 0);

// SOURCE_DATE_EPOCH from the environment, else 0; InvalidArgument if it is
// set and not a non-negative integer.
StatusOr<int64_t> SourceDateEpoch();

}  // namespace tandem::imagefs
