// tar.gz packing and safe unpacking of model/artifact directories.
//
// Model directories come from user jobs and are untrusted, so both directions
// are defensive:
//  - PackDirectory keeps regular files, directories and symlinks whose target
//    stays inside the directory (kept as symlinks). A symlink pointing outside
//    (absolute, or escaping via "..") is refused with InvalidArgument naming
//    it; other file types (fifos, sockets, devices) are refused too. Entries
//    are written in sorted order with fixed owner/mtime so the same tree packs
//    to the same bytes.
//  - UnpackArchive refuses absolute paths, ".." components, links whose target
//    resolves outside the target, hardlinks to anything but an earlier regular
//    file of the archive, devices/fifos/sockets; strips setuid/setgid/sticky;
//    bounds entry count, per-entry and total uncompressed size and the
//    compression ratio (UnpackLimits). It extracts
//    into a temp directory beside `target_dir` and renames it into place only
//    on success, so a refused or corrupt archive leaves nothing behind.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace tandem::store {

struct UnpackLimits {
  uint64_t max_total_bytes = 10ULL << 30;  // sum of regular-file sizes
  uint64_t max_entry_bytes = 10ULL << 30;  // one regular file
  uint64_t max_entries = 100'000;
  // Compression bombs: beyond ratio_free_bytes unpacked, the files may not
  // add up to more than max_ratio times the archive's own size (gzip reaches
  // ~1000:1 on zeros; models and code are far below 100:1). Checked against
  // each entry's declared size before its data is written.
  uint64_t max_ratio = 100;  // 0: no ratio limit
  uint64_t ratio_free_bytes = 64ULL << 20;
};

// Packs the contents of `dir` (paths relative to it) into a gzip'd tar at
// `out_path` (written via a temp file + rename). InvalidArgument for refused
// entries, NotFound if `dir` does not exist.
Status PackDirectory(const std::string& dir, const std::string& out_path);

// gzip levels: zlib's default, and its fastest (about 3x less CPU than the
// default on a JSON model, for an archive about a quarter larger).
inline constexpr int kDefaultGzipLevel = 6;
inline constexpr int kFastestGzipLevel = 1;

// As above at gzip level `gzip_level` (1..9, else InvalidArgument and
// nothing written). The same tree and level give the same bytes.
Status PackDirectory(const std::string& dir, const std::string& out_path, int gzip_level);

// As above; with `durable` false the archive is not fsync'd before it is
// renamed to `out_path`: for a caller that hands it straight to a store that
// makes it durable itself (ObjectStore::AdoptBlobFile fsyncs the file before
// placing it), which saves flushing the same bytes twice.
Status PackDirectory(const std::string& dir, const std::string& out_path, int gzip_level,
                     bool durable);

// Extracts `archive_path` into `target_dir`, which must not exist or be an
// empty directory (else AlreadyExists). Violations: InvalidArgument (unsafe
// entry) or ResourceExhausted (limits), naming the entry; corrupt/truncated
// input: DataLoss. Messages call the archive `shown_as` (what the user sent:
// a store key, a model version; empty: `archive_path`) and name extracted
// files relative to `target_dir`, so they can be shown to users who must
// not learn the control plane's paths.
Status UnpackArchive(const std::string& archive_path, const std::string& target_dir,
                     const UnpackLimits& limits = {}, const std::string& shown_as = "");

}  // namespace tandem::store
