#include "glue/store/adopt_hashed.h"

#include <sys/stat.h>

#include <cerrno>

#include "glue/store/file_store.h"
#include "glue/store/fs_util.h"
#include "glue/store/s3_store.h"

namespace tandem::store {

StatusOr<BlobInfo> AdoptHashedBlobFile(ObjectStore& store, const std::string& path,
                                       const BlobInfo& hashed) {
  RETURN_IF_ERROR(ValidateDigest(hashed.digest));
  {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFileForReading(path));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat", path);
    if (static_cast<uint64_t>(st.st_size) != hashed.size) {
      return FailedPreconditionError("file " + path + " has " + std::to_string(st.st_size) +
                                     " bytes, not the " + std::to_string(hashed.size) +
                                     " it was said to hold");
    }
  }
  // The backends that can skip hashing it (as ObjectStore::Open knows them).
  StatusOr<BlobInfo> stored = [&]() -> StatusOr<BlobInfo> {
    if (auto* file = dynamic_cast<FileStore*>(&store)) {
      return file->AdoptHashedBlobFile(path, hashed);
    }
    if (auto* s3 = dynamic_cast<S3Store*>(&store)) return s3->AdoptHashedBlobFile(path, hashed);
    return store.AdoptBlobFile(path);
  }();
  if (!stored.ok()) return stored;
  // What a store hashed (any but the two above; a file store's copy) must agree.
  if (stored->digest != hashed.digest || stored->size != hashed.size) {
    return FailedPreconditionError("file " + path + " holds " + std::to_string(stored->size) +
                                   " bytes of " + stored->digest + ", not the " +
                                   std::to_string(hashed.size) + " bytes of " + hashed.digest +
                                   " it was said to hold");
  }
  return stored;
}

}  // namespace tandem::store
