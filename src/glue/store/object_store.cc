#include "glue/store/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <istream>
#include <vector>

#include "common/uri.h"
#include "glue/store/file_store.h"
#include "glue/store/fs_util.h"
#include "glue/store/s3_store.h"
#include "glue/store/sha256.h"

namespace tandem::store {
namespace {

constexpr size_t kChunk = 1 << 20;

Status BadKey(std::string_view key, std::string_view reason) {
  std::string shown(key.substr(0, 200));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return InvalidArgumentError("invalid object key '" + shown + (key.size() > 200 ? "...'" : "'") +
                              ": " + std::string(reason));
}

// Stream `reader` into a new file at `path` atomically (temp + rename).
Status WriteReaderToFile(BlobReader& reader, const std::string& path) {
  const std::string dir = DirName(path);
  const std::string tmp = dir + "/" + TempName();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus(errno, "create", tmp);
  auto fail = [&](Status s) {
    fd.reset();
    ::unlink(tmp.c_str());
    return s;
  };
  std::vector<char> buf(kChunk);
  for (;;) {
    StatusOr<size_t> n = reader.Read(buf.data(), buf.size());
    if (!n.ok()) return fail(n.status());
    if (*n == 0) break;
    if (Status s = WriteAll(fd.get(), buf.data(), *n, tmp); !s.ok()) return fail(s);
  }
  if (::fsync(fd.get()) != 0) return fail(ErrnoStatus(errno, "fsync", tmp));
  if (Status s = fd.Close(tmp); !s.ok()) return fail(s);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(ErrnoStatus(errno, "rename to", path));
  }
  return FsyncDir(dir);
}

}  // namespace

StatusOr<BlobInfo> ReadHashed(const ReadFn& reader, const ChunkSink& sink) {
  Sha256 hash;
  uint64_t size = 0;
  std::vector<char> buf(kChunk);
  for (;;) {
    StatusOr<size_t> n = reader(buf.data(), buf.size());
    if (!n.ok()) return Annotate(n.status(), "PutBlob input");
    if (*n == 0) break;
    if (*n > buf.size()) return InternalError("PutBlob input returned more bytes than asked for");
    hash.Update(buf.data(), *n);
    size += *n;
    if (sink) RETURN_IF_ERROR(sink(buf.data(), *n));
  }
  return BlobInfo{hash.FinishDigest(), size};
}

StatusOr<ListResult> PageOfKeys(
    std::vector<std::string> keys, size_t max_results,
    const std::function<StatusOr<ObjectInfo>(const std::string&)>& stat) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  ListResult result;
  size_t i = 0;
  for (; i < keys.size() && result.objects.size() < max_results; ++i) {
    StatusOr<ObjectInfo> info = stat(keys[i]);
    if (info.status().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
    RETURN_IF_ERROR(info.status());
    result.objects.push_back(*std::move(info));
  }
  if (i < keys.size() && i > 0) result.next_page_token = keys[i - 1];  // last key examined
  return result;
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return BadKey(key, "empty key");
  if (key.size() > kMaxKeyBytes) return BadKey(key, "longer than 1024 bytes");
  if (key.front() == '/') return BadKey(key, "absolute (leading '/')");
  for (char c : key) {
    auto u = static_cast<unsigned char>(c);
    if (u == 0) return BadKey(key, "contains NUL");
    if (u < 0x20 || u == 0x7f) return BadKey(key, "contains a control character");
    if (c == '\\') return BadKey(key, "contains a backslash");
  }
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view seg = key.substr(start, end - start);
    if (seg.empty()) return BadKey(key, "empty path segment ('//' or trailing '/')");
    if (seg == ".") return BadKey(key, "'.' segment");
    if (seg == "..") return BadKey(key, "'..' segment");
    if (seg.size() > kMaxKeySegmentBytes) return BadKey(key, "segment longer than 250 bytes");
    start = end + 1;
  }
  return OkStatus();
}

Status ValidateDigest(std::string_view digest) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("invalid digest '" + std::string(digest.substr(0, 100)) +
                                "': " + std::string(why));
  };
  if (!digest.starts_with(kDigestPrefix)) return bad("must start with 'sha256:'");
  std::string_view hex = digest.substr(kDigestPrefix.size());
  if (hex.size() != 64) return bad("expected 64 hex digits");
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return bad("expected lowercase hex digits");
    }
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<ObjectStore>> ObjectStore::Open(std::string_view uri) {
  ASSIGN_OR_RETURN(Uri parsed, ParseUri(uri));
  if (parsed.scheme == "file") {
    if (!parsed.authority.empty() && parsed.authority != "localhost") {
      return InvalidArgumentError("file:// store URI '" + std::string(uri) +
                                  "' must have an empty host (file:///abs/dir)");
    }
    ASSIGN_OR_RETURN(auto store, FileStore::Open(parsed.path));
    return std::unique_ptr<ObjectStore>(std::move(store));
  }
  if (parsed.scheme == "s3") {
    ASSIGN_OR_RETURN(auto store, S3Store::Open(uri));
    return std::unique_ptr<ObjectStore>(std::move(store));
  }
  return InvalidArgumentError("unsupported object store scheme '" + parsed.scheme + "' in '" +
                              std::string(uri) + "' (supported: file, s3)");
}

StatusOr<std::unique_ptr<BlobReader>> ObjectStore::OpenBlob(std::string_view digest) {
  RETURN_IF_ERROR(ValidateDigest(digest));
  return DoOpenBlob(digest);
}

Status ObjectStore::LinkBlobToFile(std::string_view digest, const std::string& path) {
  RETURN_IF_ERROR(ValidateDigest(digest));
  if (path.empty()) return InvalidArgumentError("LinkBlobToFile needs a path");
  return DoLinkBlobToFile(digest, path);
}

Status ObjectStore::DoLinkBlobToFile(std::string_view, const std::string&) {
  return UnimplementedError("the " + uri().substr(0, uri().find(':')) +
                            " store keeps no local file to link");
}

StatusOr<BlobInfo> ObjectStore::StatBlob(std::string_view digest) {
  RETURN_IF_ERROR(ValidateDigest(digest));
  return DoStatBlob(digest);
}

Status ObjectStore::DeleteBlob(std::string_view digest) {
  RETURN_IF_ERROR(ValidateDigest(digest));
  return DoDeleteBlob(digest);
}

StatusOr<GcResult> ObjectStore::GarbageCollect(int64_t grace_micros) {
  if (grace_micros < 0) return InvalidArgumentError("grace_micros must be >= 0");
  return DoGarbageCollect(grace_micros);
}

StatusOr<ObjectInfo> ObjectStore::Link(std::string_view key, std::string_view digest) {
  RETURN_IF_ERROR(ValidateKey(key));
  RETURN_IF_ERROR(ValidateDigest(digest));
  return DoLink(key, digest);
}

StatusOr<ObjectInfo> ObjectStore::Stat(std::string_view key) {
  RETURN_IF_ERROR(ValidateKey(key));
  return DoStat(key);
}

StatusOr<ListResult> ObjectStore::List(std::string_view prefix, std::string_view page_token,
                                       size_t max_results) {
  return DoList(prefix, page_token, max_results);
}

Status ObjectStore::Delete(std::string_view key) {
  RETURN_IF_ERROR(ValidateKey(key));
  return DoDelete(key);
}

StatusOr<std::string> BlobReader::ReadAll() {
  std::string out;
  out.reserve(size());
  char buf[64 * 1024];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, Read(buf, sizeof(buf)));
    if (n == 0) return out;
    out.append(buf, n);
  }
}

StatusOr<BlobInfo> ObjectStore::PutBlob(std::istream& in) {
  return PutBlob([&in](char* buf, size_t n) -> StatusOr<size_t> {
    in.read(buf, static_cast<std::streamsize>(n));
    if (in.bad()) return DataLossError("error reading input stream");
    return static_cast<size_t>(in.gcount());
  });
}

StatusOr<BlobInfo> ObjectStore::PutBlobFromFile(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFileForReading(path));
  return PutBlob([&](char* buf, size_t n) { return ReadSome(fd.get(), buf, n, path); });
}

StatusOr<BlobInfo> ObjectStore::AdoptBlobFile(const std::string& path) {
  return PutBlobFromFile(path);
}

StatusOr<BlobInfo> ObjectStore::AdoptHashedBlobFile(const std::string& path,
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
  ASSIGN_OR_RETURN(BlobInfo stored, DoAdoptHashedBlobFile(path, hashed));
  // What a store hashed (the default; a file store's copy) must agree.
  if (stored.digest != hashed.digest || stored.size != hashed.size) {
    return FailedPreconditionError("file " + path + " holds " + std::to_string(stored.size) +
                                   " bytes of " + stored.digest + ", not the " +
                                   std::to_string(hashed.size) + " bytes of " + hashed.digest +
                                   " it was said to hold");
  }
  return stored;
}

StatusOr<BlobInfo> ObjectStore::DoAdoptHashedBlobFile(const std::string& path, const BlobInfo&) {
  return AdoptBlobFile(path);
}

StatusOr<BlobInfo> ObjectStore::PutBlobFromString(std::string_view data) {
  size_t pos = 0;
  return PutBlob([&](char* buf, size_t n) -> StatusOr<size_t> {
    size_t k = std::min(n, data.size() - pos);
    std::copy_n(data.data() + pos, k, buf);
    pos += k;
    return k;
  });
}

Status ObjectStore::GetBlobToFile(std::string_view digest, const std::string& path) {
  ASSIGN_OR_RETURN(auto reader, OpenBlob(digest));
  return WriteReaderToFile(*reader, path);
}

Status ObjectStore::VerifyBlob(std::string_view digest) {
  ASSIGN_OR_RETURN(auto reader, OpenBlob(digest));
  std::vector<char> buf(kChunk);
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, reader->Read(buf.data(), buf.size()));
    if (n == 0) return OkStatus();
  }
}

StatusOr<bool> ObjectStore::HasBlob(std::string_view digest) {
  StatusOr<BlobInfo> info = StatBlob(digest);
  if (info.ok()) return true;
  if (info.status().code() == StatusCode::kNotFound) return false;
  return info.status();
}

StatusOr<ObjectInfo> ObjectStore::Put(std::string_view key, const ReadFn& reader) {
  RETURN_IF_ERROR(ValidateKey(key));
  ASSIGN_OR_RETURN(BlobInfo blob, PutBlob(reader));
  return Link(key, blob.digest);
}

StatusOr<ObjectInfo> ObjectStore::Put(std::string_view key, std::istream& in) {
  RETURN_IF_ERROR(ValidateKey(key));
  ASSIGN_OR_RETURN(BlobInfo blob, PutBlob(in));
  return Link(key, blob.digest);
}

StatusOr<ObjectInfo> ObjectStore::PutFile(std::string_view key, const std::string& path) {
  RETURN_IF_ERROR(ValidateKey(key));
  ASSIGN_OR_RETURN(BlobInfo blob, PutBlobFromFile(path));
  return Link(key, blob.digest);
}

StatusOr<ObjectInfo> ObjectStore::PutString(std::string_view key, std::string_view data) {
  RETURN_IF_ERROR(ValidateKey(key));
  ASSIGN_OR_RETURN(BlobInfo blob, PutBlobFromString(data));
  return Link(key, blob.digest);
}

StatusOr<std::unique_ptr<BlobReader>> ObjectStore::Get(std::string_view key) {
  ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
  StatusOr<std::unique_ptr<BlobReader>> reader = OpenBlob(info.digest);
  if (reader.status().code() == StatusCode::kNotFound) {
    return NotFoundError("object '" + std::string(key) + "' points at missing blob " + info.digest);
  }
  return reader;
}

StatusOr<std::string> ObjectStore::GetString(std::string_view key) {
  ASSIGN_OR_RETURN(auto reader, Get(key));
  return reader->ReadAll();
}

Status ObjectStore::GetToFile(std::string_view key, const std::string& path) {
  ASSIGN_OR_RETURN(auto reader, Get(key));
  return WriteReaderToFile(*reader, path);
}

}  // namespace tandem::store
