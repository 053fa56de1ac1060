#include "glue/store/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "common/redact_path.h"
#include "glue/store/fs_util.h"

namespace tandem::store {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunk = 1 << 20;

struct ReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ArchiveReader = std::unique_ptr<struct archive, ReadDeleter>;
using ArchiveWriter = std::unique_ptr<struct archive, WriteDeleter>;
using Entry = std::unique_ptr<archive_entry, EntryDeleter>;

std::string ArchiveError(struct archive* a) {
  const char* msg = archive_error_string(a);
  return msg != nullptr ? msg : "unknown libarchive error";
}

// Lexically normalises a relative path ("a/./b//c" -> "a/b/c", "a/../b" ->
// "b"); nullopt if it is absolute or climbs above its start.
std::optional<std::string> NormalizeInside(std::string_view path) {
  if (path.starts_with('/')) return std::nullopt;
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = std::min(path.find('/', start), path.size());
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    start = end + 1;
  }
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

bool HasDotDot(std::string_view path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = std::min(path.find('/', start), path.size());
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

std::string ParentOf(const std::string& rel) {
  size_t slash = rel.find_last_of('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash);
}

// Where a relative symlink target lands, relative to the root, lexically.
std::optional<std::string> LinkDestination(const std::string& link_rel, std::string_view target) {
  if (target.empty() || target.starts_with('/')) return std::nullopt;
  const std::string parent = ParentOf(link_rel);
  return NormalizeInside(parent.empty() ? std::string(target) : parent + "/" + std::string(target));
}

bool IsUnder(const fs::path& p, const fs::path& root) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  return r == root.end();
}

// ---- Pack ------------------------------------------------------------------

struct PackEntry {
  std::string rel;
  struct stat st;
  std::string link_target;
};

Status CollectEntries(const fs::path& root, const std::string& rel_dir,
                      std::vector<PackEntry>* out) {
  const fs::path dir = rel_dir.empty() ? root : root / rel_dir;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
  if (ec) return InternalError("cannot list '" + dir.string() + "': " + ec.message());
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    PackEntry entry;
    entry.rel = rel_dir.empty() ? name : rel_dir + "/" + name;
    const fs::path abs = root / entry.rel;
    if (::lstat(abs.c_str(), &entry.st) != 0) return ErrnoStatus(errno, "lstat", abs.string());
    if (S_ISLNK(entry.st.st_mode)) {
      std::error_code lec;
      entry.link_target = fs::read_symlink(abs, lec).string();
      if (lec) return InternalError("cannot read symlink '" + abs.string() + "'");
      auto refuse = [&] {
        return InvalidArgumentError("refusing to pack symlink '" + entry.rel + "' -> '" +
                                    entry.link_target + "': it points outside the directory");
      };
      if (!LinkDestination(entry.rel, entry.link_target)) return refuse();
      const fs::path resolved = fs::weakly_canonical(abs, lec);
      if (lec || !IsUnder(resolved, root)) return refuse();
      out->push_back(std::move(entry));
    } else if (S_ISDIR(entry.st.st_mode)) {
      std::string sub = entry.rel;
      out->push_back(std::move(entry));
      RETURN_IF_ERROR(CollectEntries(root, sub, out));
    } else if (S_ISREG(entry.st.st_mode)) {
      out->push_back(std::move(entry));
    } else {
      return InvalidArgumentError("refusing to pack '" + entry.rel +
                                  "': not a regular file, directory or symlink");
    }
  }
  return OkStatus();
}

Status WriteFileData(struct archive* a, const fs::path& abs, const PackEntry& e) {
  UniqueFd fd(::open(abs.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open", abs.string());
  std::vector<char> buf(kChunk);
  int64_t total = 0;
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, ReadSome(fd.get(), buf.data(), buf.size(), abs.string()));
    if (n == 0) break;
    total += static_cast<int64_t>(n);
    if (total > e.st.st_size) break;
    if (archive_write_data(a, buf.data(), n) < 0) {
      return InternalError("writing '" + e.rel + "' to archive: " + ArchiveError(a));
    }
  }
  if (total != e.st.st_size) {
    return AbortedError("'" + e.rel + "' changed size while being packed");
  }
  return OkStatus();
}

Status WriteArchive(const fs::path& root, const std::vector<PackEntry>& entries,
                    const std::string& tmp, int gzip_level, bool durable) {
  ArchiveWriter a(archive_write_new());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_options(a.get(), "gzip:!timestamp");  // deterministic bytes
  const std::string level = "gzip:compression-level=" + std::to_string(gzip_level);
  if (archive_write_set_options(a.get(), level.c_str()) != ARCHIVE_OK) {
    return InternalError("cannot set " + level + ": " + ArchiveError(a.get()));
  }
  if (archive_write_open_filename(a.get(), tmp.c_str()) != ARCHIVE_OK) {
    return InternalError("cannot create '" + tmp + "': " + ArchiveError(a.get()));
  }
  for (const PackEntry& e : entries) {
    Entry entry(archive_entry_new());
    archive_entry_set_pathname(entry.get(), e.rel.c_str());
    archive_entry_set_perm(entry.get(), e.st.st_mode & 0777);
    archive_entry_set_mtime(entry.get(), 0, 0);
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    if (S_ISDIR(e.st.st_mode)) {
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
    } else if (S_ISLNK(e.st.st_mode)) {
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_symlink(entry.get(), e.link_target.c_str());
    } else {
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_size(entry.get(), e.st.st_size);
    }
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) {
      return InternalError("writing header of '" + e.rel + "': " + ArchiveError(a.get()));
    }
    if (S_ISREG(e.st.st_mode)) RETURN_IF_ERROR(WriteFileData(a.get(), root / e.rel, e));
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return InternalError("finishing '" + tmp + "': " + ArchiveError(a.get()));
  }
  if (!durable) return OkStatus();
  UniqueFd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.valid() && ::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync", tmp);
  return OkStatus();
}

// ---- Unpack ----------------------------------------------------------------

class Extractor {
 public:
  Extractor(const std::string& archive_path, const std::string& shown_as, uint64_t archive_bytes,
            fs::path staging, const UnpackLimits& limits)
      : archive_path_(archive_path),
        shown_(shown_as.empty() ? archive_path : shown_as),
        archive_bytes_(archive_bytes),
        staging_(std::move(staging)),
        limits_(limits) {}

  Status Run() {
    ArchiveReader in(archive_read_new());
    archive_read_support_filter_gzip(in.get());
    archive_read_support_format_tar(in.get());
    if (archive_read_open_filename(in.get(), archive_path_.c_str(), 64 * 1024) != ARCHIVE_OK) {
      return DataLossError("cannot read archive '" + shown_ + "': " + Error(in.get()));
    }
    ArchiveWriter out(archive_write_disk_new());
    // ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS cannot be used: we hand libarchive
    // absolute paths under the staging dir. Absolute entry names are refused
    // by CheckEntry before that prefix is added.
    archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_TIME |
                                                  ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                  ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    for (;;) {
      archive_entry* entry = nullptr;
      int r = archive_read_next_header(in.get(), &entry);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        return DataLossError("corrupt or truncated archive '" + shown_ + "': " + Error(in.get()));
      }
      RETURN_IF_ERROR(ExtractEntry(in.get(), out.get(), entry));
    }
    if (archive_write_close(out.get()) != ARCHIVE_OK) {
      return InternalError("finishing extraction: " + Error(out.get()));
    }
    return CheckSymlinksResolveInside();
  }

 private:
  // libarchive's message, naming extracted files relative to the target
  // and the archive as the caller showed it (not the control plane's paths).
  std::string Error(struct archive* a) const {
    return ReplacePath(ReplacePath(ArchiveError(a), staging_.string(), ""), archive_path_, shown_);
  }

  Status Refuse(std::string_view name, std::string_view why) const {
    return InvalidArgumentError("refusing archive entry '" + std::string(name) + "' in '" + shown_ +
                                "': " + std::string(why));
  }

  // Validates a path from the archive; returns it normalised.
  StatusOr<std::string> CheckPath(std::string_view name, std::string_view path) const {
    if (path.starts_with('/')) return Refuse(name, "absolute path");
    if (HasDotDot(path)) return Refuse(name, "'..' path component");
    std::string rel = *NormalizeInside(path);
    for (size_t slash = rel.find('/'); slash != std::string::npos;
         slash = rel.find('/', slash + 1)) {
      if (symlinks_.contains(rel.substr(0, slash))) {
        return Refuse(name, "goes through symlink '" + rel.substr(0, slash) + "'");
      }
    }
    return rel;
  }

  Status ExtractEntry(struct archive* in, struct archive* out, archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    const std::string name = raw != nullptr ? raw : "";
    if (++entries_ > limits_.max_entries) {
      return ResourceExhaustedError("archive '" + shown_ + "' has more than " +
                                    std::to_string(limits_.max_entries) + " entries (at '" + name +
                                    "')");
    }
    if (name.empty()) return Refuse(name, "empty path");
    ASSIGN_OR_RETURN(std::string rel, CheckPath(name, name));
    const mode_t type = archive_entry_filetype(entry);
    const char* hardlink = archive_entry_hardlink(entry);
    if (rel.empty()) {
      if (type != AE_IFDIR || hardlink != nullptr) return Refuse(name, "names the root");
      return archive_read_data_skip(in) == ARCHIVE_OK ? OkStatus() : DataLoss(name, in);
    }
    if (hardlink != nullptr) {
      ASSIGN_OR_RETURN(std::string target, CheckPath(name, hardlink));
      if (!regular_.contains(target)) {
        return Refuse(name, "hardlink to '" + std::string(hardlink) +
                                "', which is not an earlier regular file of the archive");
      }
      archive_entry_set_hardlink(entry, (staging_ / target).c_str());
    } else if (type == AE_IFLNK) {
      const char* t = archive_entry_symlink(entry);
      std::string target = t != nullptr ? t : "";
      if (!LinkDestination(rel, target)) {
        return Refuse(name, "symlink to '" + target + "' points outside the target");
      }
    } else if (type == AE_IFREG) {
      const int64_t size = archive_entry_size(entry);
      if (size < 0 || static_cast<uint64_t>(size) > limits_.max_entry_bytes) {
        return ResourceExhaustedError("archive entry '" + name + "' is " + std::to_string(size) +
                                      " bytes; the limit is " +
                                      std::to_string(limits_.max_entry_bytes));
      }
      total_bytes_ += static_cast<uint64_t>(size);
      if (total_bytes_ > limits_.max_total_bytes) {
        return ResourceExhaustedError("archive '" + shown_ + "' exceeds " +
                                      std::to_string(limits_.max_total_bytes) +
                                      " uncompressed bytes (at '" + name + "')");
      }
      if (limits_.max_ratio > 0 && total_bytes_ > limits_.ratio_free_bytes &&
          total_bytes_ / limits_.max_ratio >= archive_bytes_) {
        return ResourceExhaustedError("archive '" + shown_ + "' unpacks to more than " +
                                      std::to_string(limits_.max_ratio) + " times its size of " +
                                      std::to_string(archive_bytes_) + " bytes (at '" + name +
                                      "'): a compression bomb?");
      }
    } else if (type != AE_IFDIR) {
      return Refuse(name, "unsupported entry type (device, fifo or socket)");
    }
    const mode_t perm = archive_entry_perm(entry) & 0777;  // strips setuid/setgid/sticky
    archive_entry_set_perm(entry, perm | (type == AE_IFDIR ? 0700 : 0600));
    archive_entry_set_pathname(entry, (staging_ / rel).c_str());
    if (archive_write_header(out, entry) != ARCHIVE_OK) {
      return Refuse(name, "libarchive refused it: " + Error(out));
    }
    if (type == AE_IFREG && hardlink == nullptr) RETURN_IF_ERROR(CopyData(in, out, name));
    if (archive_write_finish_entry(out) != ARCHIVE_OK) {
      return InternalError("writing '" + name + "': " + Error(out));
    }
    if (hardlink != nullptr || type == AE_IFREG) regular_.insert(rel);
    if (type == AE_IFLNK) symlinks_.insert(rel);
    if (type == AE_IFDIR) symlinks_.erase(rel);
    return OkStatus();
  }

  Status DataLoss(std::string_view name, struct archive* in) const {
    return DataLossError("corrupt or truncated archive '" + shown_ + "' at entry '" +
                         std::string(name) + "': " + Error(in));
  }

  Status CopyData(struct archive* in, struct archive* out, const std::string& name) {
    uint64_t written = 0;
    for (;;) {
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(in, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) return OkStatus();
      if (r < ARCHIVE_WARN) return DataLoss(name, in);
      written += size;
      if (written > limits_.max_entry_bytes) {
        return ResourceExhaustedError("archive entry '" + name + "' exceeds " +
                                      std::to_string(limits_.max_entry_bytes) + " bytes");
      }
      if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_OK) {
        return InternalError("writing '" + name + "': " + Error(out));
      }
    }
  }

  // Lexical checks cannot see symlink chains (s -> ".", a -> "s/.."); resolve
  // every extracted symlink for real before the tree is published.
  Status CheckSymlinksResolveInside() const {
    for (const std::string& rel : symlinks_) {
      std::error_code ec;
      const fs::path resolved = fs::weakly_canonical(staging_ / rel, ec);
      if (ec || !IsUnder(resolved, staging_)) {
        return Refuse(rel, "symlink resolves outside the target");
      }
    }
    return OkStatus();
  }

  const std::string archive_path_;
  const std::string shown_;  // the archive's name in messages
  const uint64_t archive_bytes_;
  const fs::path staging_;
  const UnpackLimits limits_;
  uint64_t entries_ = 0;
  uint64_t total_bytes_ = 0;
  std::set<std::string> regular_;
  std::set<std::string> symlinks_;
};

}  // namespace

Status PackDirectory(const std::string& dir, const std::string& out_path) {
  return PackDirectory(dir, out_path, kDefaultGzipLevel);
}

Status PackDirectory(const std::string& dir, const std::string& out_path, int gzip_level) {
  return PackDirectory(dir, out_path, gzip_level, /*durable=*/true);
}

Status PackDirectory(const std::string& dir, const std::string& out_path, int gzip_level,
                     bool durable) {
  if (gzip_level < 1 || gzip_level > 9) {
    return InvalidArgumentError("gzip level must be 1..9, got " + std::to_string(gzip_level));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", dir);
  if (!S_ISDIR(st.st_mode)) return InvalidArgumentError("'" + dir + "' is not a directory");
  std::error_code ec;
  const fs::path root = fs::canonical(dir, ec);
  if (ec) return InternalError("cannot resolve '" + dir + "': " + ec.message());
  std::vector<PackEntry> entries;
  RETURN_IF_ERROR(CollectEntries(root, "", &entries));
  const std::string tmp = DirName(out_path) + "/" + TempName();
  Status s = WriteArchive(root, entries, tmp, gzip_level, durable);
  if (s.ok() && ::rename(tmp.c_str(), out_path.c_str()) != 0) {
    s = ErrnoStatus(errno, "rename to", out_path);
  }
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

Status UnpackArchive(const std::string& archive_path, const std::string& target_dir,
                     const UnpackLimits& limits, const std::string& shown_as) {
  struct stat st;
  if (::stat(archive_path.c_str(), &st) != 0) {
    return ErrnoStatus(errno, "stat", shown_as.empty() ? archive_path : shown_as);
  }
  fs::path target = fs::absolute(target_dir).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  std::error_code ec;
  const fs::path parent = fs::canonical(target.parent_path(), ec);
  if (ec) return NotFoundError("parent of target '" + target_dir + "' does not exist");
  target = parent / target.filename();
  if (fs::exists(fs::symlink_status(target, ec))) {
    if (!fs::is_directory(fs::symlink_status(target, ec)) || !fs::is_empty(target, ec)) {
      return AlreadyExistsError("unpack target '" + target.string() +
                                "' exists and is not an empty directory");
    }
  }
  const fs::path staging = parent / (".unpack-" + target.filename().string() + TempName());
  if (::mkdir(staging.c_str(), 0700) != 0) return ErrnoStatus(errno, "mkdir", staging.string());
  Status s =
      Extractor(archive_path, shown_as, static_cast<uint64_t>(st.st_size), staging, limits).Run();
  if (s.ok() && ::chmod(staging.c_str(), 0755) != 0)
    s = ErrnoStatus(errno, "chmod", staging.string());
  if (s.ok() && ::rename(staging.c_str(), target.c_str()) != 0) {
    s = ErrnoStatus(errno, "rename to", target.string());
  }
  if (!s.ok()) {
    fs::remove_all(staging, ec);  // does not follow symlinks
    return s;
  }
  return FsyncDir(parent.string());
}

}  // namespace tandem::store
