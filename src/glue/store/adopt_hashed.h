// Storing a file whose digest is already known: an upload's spool file,
// hashed by the control plane as the body arrived (api/upload_spool.h), so
// that a multi-GiB upload is not read a second time just to hash it.
#pragma once

#include <string>

#include "glue/store/object_store.h"

namespace tandem::store {

// As ObjectStore::AdoptBlobFile, for a file whose digest and size the caller
// computed from exactly the bytes it wrote there: the file store renames it
// into place without reading it (a copy, hashed, across filesystems), the S3
// store streams it up once (a single PUT is hashed again as it is sent and
// refused unless it completes `hashed.digest`; multipart parts are each
// hashed and signed as they are sent); any other store adopts it as usual,
// hashing it. On success `path` may be gone (the caller removes what is left).
//
// The caller vouches for the digest: every read still verifies it, so
// content that does not match is never served (DataLoss), but it would
// occupy the digest's name. InvalidArgument for a malformed digest,
// FailedPrecondition when the file has another size than `hashed.size` or
// (when the store hashed it) another digest; nothing named is stored then.
StatusOr<BlobInfo> AdoptHashedBlobFile(ObjectStore& store, const std::string& path,
                                       const BlobInfo& hashed);

}  // namespace tandem::store
