// Staging a job's code and input channels into its /opt/ml tree.
//
// Sources (spec.source_dir and each spec.inputs value) are one of:
//   an absolute local path ("/data/train.csv") or `file://` URI,
//   an object-store digest ("sha256:<hex>"), or an object-store key
//   ("datasets/train.csv"; a key that names no object but prefixes some,
//   "datasets/train" with "datasets/train/a.csv", is a directory).
// Resolve* check at submit time that every source exists, naming the
// channel and the path; Stage* bring them in when the job starts. A job
// must never be able to change a user's file or a store blob through its
// inputs: local files are always copied (a user's file is theirs, and may
// change after the job started); store objects are copied too, unless the
// job sees its input channels through a read-only mount
// (InputStaging::kLinkStoreBlobs, Substrate::inputs_read_only): then each is
// a hard link to the store's blob file (ObjectStore::LinkBlobToFile), which
// the store verified when it was written -- no copy and no re-hash. Under a
// read-only mount neither writing, chmod, unlink nor rename reach the file,
// whatever the job's user inside the sandbox. A store that keeps no local
// file, or one on another filesystem, is copied as before.
// Symlinks in a local directory are kept only if they stay inside it; one
// pointing outside is refused (InvalidArgument naming it).
//
// Digests (for lineage and the warm-pool key): a store object's digest; a
// local file's sha256; a directory's sha256 over its sorted manifest of
// "relative-path\0sha256:<hex>\n" lines (symlinks as "-> target").
//
// Thread-safety: free functions; the store must be thread-safe.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "compute/jobs/spec.h"
#include "glue/store/object_store.h"

namespace tandem::compute::jobs {

struct Source {
  enum class Kind { kNone, kLocalFile, kLocalDir, kStoreKey, kStorePrefix, kStoreDigest };
  Kind kind = Kind::kNone;
  std::string location;  // absolute path, key, prefix (no trailing '/') or digest
};

// Resolves one source; `what` names it in errors ("input channel 'train'").
// Missing -> NotFound; malformed -> InvalidArgument.
StatusOr<Source> ResolveSource(const std::string& text, store::ObjectStore& store,
                               const std::string& what);

// Resolves spec.source_dir (kNone if empty; a local one must be a directory
// containing entry_point) and every input channel.
StatusOr<Source> ResolveCode(const JobSpec& spec, store::ObjectStore& store);
StatusOr<std::map<std::string, Source>> ResolveInputs(const JobSpec& spec,
                                                      store::ObjectStore& store);

// A cheap identity of a source for the warm-pool key: for local sources a
// sha256 over path, type, size and mtime of every entry (no content read);
// for store sources the digest. kNone -> "".
StatusOr<std::string> SourceFingerprint(const Source& source, store::ObjectStore& store);

// The digest of a source (see above); kNone -> "".
StatusOr<std::string> SourceDigest(const Source& source, store::ObjectStore& store);

// Code into `code_dir` (an empty directory): a local directory is copied; a
// store object is a tar.gz unpacked safely (from a hard link to its blob
// where the store allows, else from a verified copy).
Status StageCode(const Source& source, store::ObjectStore& store, const std::string& code_dir);

enum class InputStaging {
  kCopy,            // every file is a copy (the job may write to its inputs)
  kLinkStoreBlobs,  // store objects hard-linked (the job sees them read-only)
};

// A channel into `channel_dir` (an existing directory): a file lands as
// <channel_dir>/<basename>, a directory's contents under channel_dir.
Status StageInput(const Source& source, store::ObjectStore& store, const std::string& channel_dir,
                  InputStaging mode = InputStaging::kCopy);

// Copies the contents of `src` into `dst` (created if missing), keeping
// in-tree symlinks and refusing ones that escape `src`.
Status CopyTree(const std::string& src, const std::string& dst);

// sha256 of the directory manifest described above.
StatusOr<std::string> DirectoryDigest(const std::string& dir);
// "sha256:<hex>" of a file's content.
StatusOr<std::string> FileDigest(const std::string& path);

}  // namespace tandem::compute::jobs
