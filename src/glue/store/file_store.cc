#include "glue/store/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <vector>

#include "common/json.h"
#include "glue/store/fs_util.h"
#include "glue/store/name_record.h"
#include "glue/store/sha256.h"

namespace tandem::store {
namespace {

namespace fs = std::filesystem;

constexpr size_t kDefaultListMax = 1000;
constexpr int64_t kTmpMinAgeMicros = 24LL * 3600 * 1'000'000;
constexpr std::string_view kDirSuffix = ".d";
constexpr std::string_view kLeafSuffix = ".obj";

std::vector<std::string> SplitKey(std::string_view key) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = key.find('/', start);
    out.emplace_back(key.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

Status Refused(std::string_view key, std::string_view what) {
  return PermissionDeniedError("refusing object key '" + std::string(key) +
                               "': " + std::string(what) +
                               " under names/ is a symlink or not a directory/file");
}

// Opens names/<seg0>.d/<seg1>.d/... for all but the last segment of the key,
// one openat(O_NOFOLLOW) at a time, creating directories if `create`.
StatusOr<UniqueFd> OpenNameDir(const std::string& root, const std::vector<std::string>& segs,
                               bool create, std::string_view key) {
  const std::string names = root + "/names";
  UniqueFd cur(::open(names.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!cur.valid()) return ErrnoStatus(errno, "open", names);
  for (size_t i = 0; i + 1 < segs.size(); ++i) {
    const std::string name = segs[i] + std::string(kDirSuffix);
    if (create && ::mkdirat(cur.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir", name);
    }
    UniqueFd next(
        ::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      if (errno == ENOENT) return NotFoundError("no object '" + std::string(key) + "'");
      if (errno == ELOOP || errno == ENOTDIR) return Refused(key, "directory '" + name + "'");
      return ErrnoStatus(errno, "open", name);
    }
    cur = std::move(next);
  }
  return cur;
}

std::string LeafName(const std::vector<std::string>& segs) {
  return segs.back() + std::string(kLeafSuffix);
}

StatusOr<ObjectInfo> ReadRecord(int dirfd, const std::string& leaf, std::string_view key) {
  UniqueFd fd(::openat(dirfd, leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return NotFoundError("no object '" + std::string(key) + "'");
    if (errno == ELOOP) return Refused(key, "record '" + leaf + "'");
    return ErrnoStatus(errno, "open", leaf);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat", leaf);
  if (!S_ISREG(st.st_mode)) return Refused(key, "record '" + leaf + "'");
  if (st.st_size > static_cast<off_t>(kMaxNameRecordBytes)) {
    return DataLossError("name record for '" + std::string(key) + "' is too large");
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ASSIGN_OR_RETURN(size_t n, ReadSome(fd.get(), text.data() + got, text.size() - got, leaf));
    if (n == 0) break;
    got += n;
  }
  text.resize(got);
  return DecodeNameRecord(text, key, "for '" + std::string(key) + "'");
}

Status WriteRecord(int dirfd, const std::string& leaf, const ObjectInfo& info, bool sync) {
  const std::string text = EncodeNameRecord(info);
  const std::string tmp = TempName();
  UniqueFd fd(
      ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus(errno, "create", tmp);
  auto fail = [&](Status s) {
    fd.reset();
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return s;
  };
  if (Status s = WriteAll(fd.get(), text.data(), text.size(), tmp); !s.ok()) return fail(s);
  if (sync && ::fsync(fd.get()) != 0) return fail(ErrnoStatus(errno, "fsync", tmp));
  if (Status s = fd.Close(tmp); !s.ok()) return fail(s);
  if (::renameat(dirfd, tmp.c_str(), dirfd, leaf.c_str()) != 0) {
    return fail(ErrnoStatus(errno, "rename to", leaf));
  }
  if (sync && ::fsync(dirfd) != 0) return ErrnoStatus(errno, "fsync directory of", leaf);
  return OkStatus();
}

// Collects keys under the names directory `dirfd` (whose keys start with
// `key_prefix`) that start with `prefix` and sort after `after`.
Status WalkNames(int dirfd, const std::string& key_prefix, std::string_view prefix,
                 std::string_view after, std::vector<std::string>* keys) {
  int dup_fd = ::dup(dirfd);
  if (dup_fd < 0) return ErrnoStatus(errno, "dup", key_prefix);
  DIR* dir = ::fdopendir(dup_fd);
  if (dir == nullptr) {
    ::close(dup_fd);
    return ErrnoStatus(errno, "opendir", key_prefix);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
  ::rewinddir(dir);
  while (struct dirent* ent = ::readdir(dir)) {
    std::string_view name = ent->d_name;
    if (name.ends_with(kLeafSuffix)) {
      std::string key = key_prefix + std::string(name.substr(0, name.size() - kLeafSuffix.size()));
      if (!key.starts_with(prefix) || key <= after) continue;
      struct stat st;
      if (::fstatat(dirfd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
        continue;  // vanished, or a planted symlink: never listed
      }
      if (ValidateKey(key).ok()) keys->push_back(std::move(key));
    } else if (name.ends_with(kDirSuffix) && name != "." && name != "..") {
      std::string sub =
          key_prefix + std::string(name.substr(0, name.size() - kDirSuffix.size())) + "/";
      if (!sub.starts_with(prefix) && !prefix.starts_with(sub)) continue;
      UniqueFd child(::openat(dirfd, ent->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child.valid()) continue;  // vanished or a symlink: skipped
      RETURN_IF_ERROR(WalkNames(child.get(), sub, prefix, after, keys));
    }
  }
  return OkStatus();
}

void Touch(const std::string& path) { ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0); }

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return InternalError("cannot create directory '" + path + "': " + ec.message());
  return OkStatus();
}

class FileBlobReader final : public BlobReader {
 public:
  FileBlobReader(UniqueFd fd, std::string digest, std::string path, uint64_t size)
      : fd_(std::move(fd)), digest_(std::move(digest)), path_(std::move(path)), size_(size) {}

  StatusOr<size_t> Read(char* buf, size_t n) override {
    if (done_) {
      if (!final_.ok()) return final_;
      return size_t{0};
    }
    if (n == 0) return size_t{0};
    ASSIGN_OR_RETURN(size_t got, ReadSome(fd_.get(), buf, n, path_));
    if (got > 0) {
      hash_.Update(buf, got);
      read_ += got;
      return got;
    }
    done_ = true;
    fd_.reset();
    const std::string actual = hash_.FinishDigest();
    if (actual != digest_) {
      final_ = DataLossError("blob " + digest_ + " at '" + path_ + "' is corrupt: its " +
                             std::to_string(read_) + " bytes hash to " + actual);
      return final_;
    }
    return size_t{0};
  }
  const std::string& digest() const override { return digest_; }
  uint64_t size() const override { return size_; }

 private:
  UniqueFd fd_;
  std::string digest_;
  std::string path_;
  uint64_t size_;
  uint64_t read_ = 0;
  Sha256 hash_;
  bool done_ = false;
  Status final_;
};

}  // namespace

FileStore::FileStore(std::string root, FileStoreOptions options)
    : root_(std::move(root)),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : &Clock::Real()) {}

StatusOr<std::unique_ptr<FileStore>> FileStore::Open(const std::string& root,
                                                     FileStoreOptions options) {
  if (root.empty() || root.front() != '/') {
    return InvalidArgumentError("file store root '" + root + "' must be an absolute path");
  }
  std::string clean = root;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  for (const char* sub : {"/blobs/sha256", "/names", "/tmp"}) {
    RETURN_IF_ERROR(MakeDirs(clean + sub));
  }
  struct stat st;
  if (::lstat((clean + "/names").c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return FailedPreconditionError("'" + clean + "/names' is not a directory (symlink?)");
  }
  return std::unique_ptr<FileStore>(new FileStore(std::move(clean), options));
}

std::string FileStore::BlobPath(std::string_view digest) const {
  std::string_view hex = digest.substr(kDigestPrefix.size());
  return root_ + "/blobs/sha256/" + std::string(hex.substr(0, 2)) + "/" + std::string(hex);
}

StatusOr<BlobInfo> FileStore::DoPutBlob(const ReadFn& reader) {
  const std::string tmp = root_ + "/tmp/" + TempName();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!fd.valid()) return ErrnoStatus(errno, "create", tmp);
  auto fail = [&](Status s) {
    fd.reset();
    ::unlink(tmp.c_str());
    return s;
  };
  StatusOr<BlobInfo> read = ReadHashed(
      reader, [&](const char* data, size_t n) { return WriteAll(fd.get(), data, n, tmp); });
  if (!read.ok()) return fail(read.status());
  if (options_.fsync && ::fsync(fd.get()) != 0) return fail(ErrnoStatus(errno, "fsync", tmp));
  if (Status s = fd.Close(tmp); !s.ok()) return fail(s);

  const BlobInfo info = *std::move(read);
  StatusOr<Placed> placed = MoveIntoPlace(tmp, info);
  if (!placed.ok()) return fail(placed.status());
  if (*placed == Placed::kCrossDevice) {  // tmp is in the store's own directory
    return fail(InternalError("blob temp file " + tmp + " is on another mount than the store"));
  }
  if (*placed == Placed::kAlreadyStored) ::unlink(tmp.c_str());
  return info;
}

StatusOr<BlobInfo> FileStore::AdoptBlobFile(const std::string& path) {
  return Adopt(path, nullptr);
}

StatusOr<BlobInfo> FileStore::DoAdoptHashedBlobFile(const std::string& path,
                                                    const BlobInfo& hashed) {
  return Adopt(path, &hashed);
}

StatusOr<BlobInfo> FileStore::Adopt(const std::string& path, const BlobInfo* hashed) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFileForReading(path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  struct stat root_st;
  if (::stat(root_.c_str(), &root_st) != 0) return ErrnoStatus(errno, "stat", root_);
  if (st.st_dev != root_st.st_dev) return PutBlobFromFile(path);  // rename cannot cross
  BlobInfo info;
  if (hashed != nullptr) {
    info = *hashed;
  } else {
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    ASSIGN_OR_RETURN(
        info, ReadHashed([&](char* buf, size_t n) { return ReadSome(fd.get(), buf, n, path); },
                         [](const char*, size_t) { return OkStatus(); }));
    if (static_cast<uint64_t>(st.st_size) != info.size) {
      return FailedPreconditionError("file " + path + " changed while it was stored");
    }
  }
  // Blobs are read-only, like those DoPutBlob writes.
  if (::fchmod(fd.get(), 0444) != 0) return ErrnoStatus(errno, "chmod", path);
  if (options_.fsync && ::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync", path);
  RETURN_IF_ERROR(fd.Close(path));
  ASSIGN_OR_RETURN(Placed placed, MoveIntoPlace(path, info));
  // Another mount of the same filesystem (a container's bind mounts): copy.
  if (placed == Placed::kCrossDevice) return PutBlobFromFile(path);
  // Otherwise the blob is stored; a file left behind is the caller's.
  return info;
}

StatusOr<FileStore::Placed> FileStore::MoveIntoPlace(const std::string& from,
                                                     const BlobInfo& info) {
  const uint64_t size = info.size;
  const std::string final_path = BlobPath(info.digest);
  const std::string dir = DirName(final_path);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir", dir);
  }
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE) == 0) {
    if (options_.fsync) RETURN_IF_ERROR(FsyncDir(dir));
    return Placed::kStored;
  }
  const int err = errno;
  struct stat st;
  const bool exists = ::lstat(final_path.c_str(), &st) == 0;
  if (exists && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == size) {
    // Same content already stored (by us earlier or a concurrent writer).
    Touch(final_path);
    return Placed::kAlreadyStored;
  }
  if (err == EXDEV) return Placed::kCrossDevice;
  if (err != EEXIST && err != EINVAL && err != ENOSYS) {
    return ErrnoStatus(err, "rename to", final_path);
  }
  // Existing file has the wrong size (damaged) or no RENAME_NOREPLACE support:
  // replace atomically with the verified content.
  if (::rename(from.c_str(), final_path.c_str()) != 0) {
    return ErrnoStatus(errno, "rename to", final_path);
  }
  if (options_.fsync) RETURN_IF_ERROR(FsyncDir(dir));
  return Placed::kStored;
}

StatusOr<std::unique_ptr<BlobReader>> FileStore::DoOpenBlob(std::string_view digest) {
  const std::string path = BlobPath(digest);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return NotFoundError("no blob " + std::string(digest));
    if (errno == ELOOP) return DataLossError("blob file '" + path + "' is a symlink; refusing");
    return ErrnoStatus(errno, "open", path);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  if (!S_ISREG(st.st_mode)) return DataLossError("blob '" + path + "' is not a regular file");
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<BlobReader>(std::make_unique<FileBlobReader>(
      std::move(fd), std::string(digest), path, static_cast<uint64_t>(st.st_size)));
}

Status FileStore::DoLinkBlobToFile(std::string_view digest, const std::string& path) {
  const std::string blob = BlobPath(digest);
  struct stat st;
  if (::lstat(blob.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFoundError("no blob " + std::string(digest));
    return ErrnoStatus(errno, "stat", blob);
  }
  if (!S_ISREG(st.st_mode)) return DataLossError("blob '" + blob + "' is not a regular file");
  if (::link(blob.c_str(), path.c_str()) != 0) {
    const int err = errno;
    if (err == EXDEV || err == EPERM || err == EMLINK) {
      return UnimplementedError("cannot hard-link " + blob + " to " + path + ": " +
                                std::strerror(err));
    }
    if (err == EEXIST) return AlreadyExistsError(path + " exists");
    return ErrnoStatus(err, "link to", path);
  }
  Touch(blob);  // in use: outside a concurrent GarbageCollect's grace window
  return OkStatus();
}

StatusOr<BlobInfo> FileStore::DoStatBlob(std::string_view digest) {
  const std::string path = BlobPath(digest);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFoundError("no blob " + std::string(digest));
    return ErrnoStatus(errno, "stat", path);
  }
  if (!S_ISREG(st.st_mode)) return DataLossError("blob '" + path + "' is not a regular file");
  return BlobInfo{std::string(digest), static_cast<uint64_t>(st.st_size)};
}

Status FileStore::DoDeleteBlob(std::string_view digest) {
  const std::string path = BlobPath(digest);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return NotFoundError("no blob " + std::string(digest));
    return ErrnoStatus(errno, "unlink", path);
  }
  return OkStatus();
}

StatusOr<ObjectInfo> FileStore::DoLink(std::string_view key, std::string_view digest) {
  StatusOr<BlobInfo> blob = StatBlob(digest);
  if (blob.status().code() == StatusCode::kNotFound) {
    return NotFoundError("cannot link '" + std::string(key) + "': no blob " + std::string(digest));
  }
  RETURN_IF_ERROR(blob.status());
  Touch(BlobPath(digest));  // protects it from a concurrent GarbageCollect's grace window
  const std::vector<std::string> segs = SplitKey(key);
  ASSIGN_OR_RETURN(UniqueFd dir, OpenNameDir(root_, segs, /*create=*/true, key));
  ObjectInfo info{std::string(key), std::string(digest), blob->size, clock_->NowMicros()};
  RETURN_IF_ERROR(WriteRecord(dir.get(), LeafName(segs), info, options_.fsync));
  return info;
}

StatusOr<ObjectInfo> FileStore::DoStat(std::string_view key) {
  const std::vector<std::string> segs = SplitKey(key);
  ASSIGN_OR_RETURN(UniqueFd dir, OpenNameDir(root_, segs, /*create=*/false, key));
  return ReadRecord(dir.get(), LeafName(segs), key);
}

StatusOr<ListResult> FileStore::DoList(std::string_view prefix, std::string_view page_token,
                                       size_t max_results) {
  if (max_results == 0) max_results = kDefaultListMax;
  const std::string names = root_ + "/names";
  UniqueFd dir(::open(names.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return ErrnoStatus(errno, "open", names);
  std::vector<std::string> keys;
  RETURN_IF_ERROR(WalkNames(dir.get(), "", prefix, page_token, &keys));
  return PageOfKeys(std::move(keys), max_results,
                    [this](const std::string& key) { return Stat(key); });
}

Status FileStore::DoDelete(std::string_view key) {
  const std::vector<std::string> segs = SplitKey(key);
  ASSIGN_OR_RETURN(UniqueFd dir, OpenNameDir(root_, segs, /*create=*/false, key));
  const std::string leaf = LeafName(segs);
  if (::unlinkat(dir.get(), leaf.c_str(), 0) != 0) {
    if (errno == ENOENT) return NotFoundError("no object '" + std::string(key) + "'");
    return ErrnoStatus(errno, "unlink", leaf);
  }
  if (options_.fsync && ::fsync(dir.get()) != 0) return ErrnoStatus(errno, "fsync dir of", leaf);
  return OkStatus();
}

StatusOr<GcResult> FileStore::DoGarbageCollect(int64_t grace_micros) {
  // Referenced digests. Any unreadable record aborts: never guess.
  std::set<std::string> live;
  std::string token;
  do {
    ASSIGN_OR_RETURN(ListResult page, List("", token, kDefaultListMax));
    for (const ObjectInfo& o : page.objects) live.insert(o.digest);
    token = page.next_page_token;
  } while (!token.empty());

  const int64_t now = Clock::Real().NowMicros();  // file mtimes are wall time
  auto age_micros = [&](const fs::directory_entry& e) -> int64_t {
    struct stat st;
    if (::lstat(e.path().c_str(), &st) != 0) return 0;
    return now - (static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000);
  };
  GcResult result;
  std::error_code ec;
  for (const auto& shard : fs::directory_iterator(root_ + "/blobs/sha256", ec)) {
    if (!shard.is_directory(ec) || shard.is_symlink(ec)) continue;
    for (const auto& blob : fs::directory_iterator(shard.path(), ec)) {
      const std::string digest = std::string(kDigestPrefix) + blob.path().filename().string();
      if (!ValidateDigest(digest).ok() || !blob.is_regular_file(ec)) continue;
      if (live.contains(digest) || (grace_micros > 0 && age_micros(blob) < grace_micros)) {
        ++result.blobs_kept;
        continue;
      }
      const uint64_t size = blob.file_size(ec);
      if (::unlink(blob.path().c_str()) == 0) {
        ++result.blobs_deleted;
        result.bytes_freed += ec ? 0 : size;
      }
    }
  }
  for (const auto& tmp : fs::directory_iterator(root_ + "/tmp", ec)) {
    if (age_micros(tmp) >= std::max(grace_micros, kTmpMinAgeMicros)) ::unlink(tmp.path().c_str());
  }
  return result;
}

}  // namespace tandem::store
