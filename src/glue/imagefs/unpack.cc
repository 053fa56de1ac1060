#include "glue/imagefs/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "glue/imagefs/fs_at.h"
#include "glue/store/sha256.h"

namespace tandem::imagefs {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

struct ReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using ArchiveReader = std::unique_ptr<struct archive, ReadDeleter>;

std::string ArchiveError(struct archive* a) {
  const char* msg = archive_error_string(a);
  return msg != nullptr ? msg : "unknown libarchive error";
}

std::string_view StripLeadingSlashes(std::string_view path) {
  while (path.starts_with('/')) path.remove_prefix(1);
  return path;
}

std::string Join(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < parts.size(); ++i) out += (i == 0 ? "" : "/") + parts[i];
  return out;
}

StatusOr<ArchiveReader> OpenArchive(const std::string& path, bool raw) {
  ArchiveReader in(archive_read_new());
  archive_read_support_filter_gzip(in.get());
  if (raw) {
    archive_read_support_format_raw(in.get());
  } else {
    archive_read_support_format_tar(in.get());
  }
  if (archive_read_open_filename(in.get(), path.c_str(), 64 * 1024) != ARCHIVE_OK) {
    return DataLossError("cannot read layer '" + path + "': " + ArchiveError(in.get()));
  }
  return in;
}

class LayerWriter {
 public:
  LayerWriter(std::string layer_path, uint64_t layer_bytes, int root,
              const store::UnpackLimits& limits)
      : layer_path_(std::move(layer_path)),
        layer_bytes_(layer_bytes),
        root_(root),
        limits_(limits) {}

  StatusOr<LayerContents> Run() {
    ASSIGN_OR_RETURN(ArchiveReader in, OpenArchive(layer_path_, false));
    for (;;) {
      archive_entry* entry = nullptr;
      int r = archive_read_next_header(in.get(), &entry);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        return DataLossError("corrupt or truncated layer '" + layer_path_ +
                             "': " + ArchiveError(in.get()));
      }
      RETURN_IF_ERROR(Entry(in.get(), entry));
      if (ended_early_) break;
    }
    return std::move(out_);
  }

 private:
  Status Refuse(std::string_view name, std::string_view why) const {
    return InvalidArgumentError("refusing layer entry '" + std::string(name) + "' in '" +
                                layer_path_ + "': " + std::string(why));
  }

  Status Entry(struct archive* in, archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    const std::string name = raw != nullptr ? raw : "";
    if (++out_.entries > limits_.max_entries) {
      return ResourceExhaustedError("layer '" + layer_path_ + "' has more than " +
                                    std::to_string(limits_.max_entries) + " entries (at '" + name +
                                    "')");
    }
    if (name.empty()) return Refuse(name, "empty path");
    // A leading '/' is dropped (as GNU tar and Docker do; umoci writes the
    // root as "/"): the path is inside the layer's root either way.
    auto parts = SplitRelative(StripLeadingSlashes(name), "entry path");
    if (!parts.ok()) return Refuse(name, std::string(parts.status().message()));
    if (parts->empty()) return OkStatus();  // the root itself
    const std::string leaf = parts->back();
    const std::vector<std::string> parent(parts->begin(), parts->end() - 1);
    const std::string parent_rel = Join(parent, parent.size());

    if (leaf.starts_with(kWhiteoutPrefix)) {
      if (leaf == kOpaqueMarker) {
        out_.opaque_dirs.push_back(parent_rel);
      } else {
        std::string hidden = leaf.substr(kWhiteoutPrefix.size());
        if (hidden.empty() || hidden == "." || hidden == ".." ||
            hidden.find('/') != std::string::npos) {
          return Refuse(name, "whiteout of '" + hidden + "' escapes its directory");
        }
        out_.whiteouts.push_back(parent_rel.empty() ? hidden : parent_rel + "/" + hidden);
      }
      return archive_read_data_skip(in) == ARCHIVE_OK ? OkStatus() : DataLoss(name, in);
    }

    auto dir = OpenDirAt(root_, parent, /*create=*/true);
    if (!dir.ok()) return Refuse(name, std::string(dir.status().message()));
    const mode_t type = archive_entry_filetype(entry);
    const char* hardlink = archive_entry_hardlink(entry);
    const mode_t perm = archive_entry_perm(entry) & 0777;  // no setuid/setgid/sticky

    if (hardlink == nullptr && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
      ++out_.skipped;  // device, fifo, socket
      return archive_read_data_skip(in) == ARCHIVE_OK ? OkStatus() : DataLoss(name, in);
    }
    // Replace what is there, but merge a directory into a directory.
    struct stat st;
    ASSIGN_OR_RETURN(bool exists, LstatAt(dir->get(), leaf, &st));
    if (exists && !(type == AE_IFDIR && hardlink == nullptr && S_ISDIR(st.st_mode))) {
      RETURN_IF_ERROR(RemoveAt(dir->get(), leaf));
      exists = false;
    }
    if (hardlink != nullptr) return Hardlink(name, hardlink, dir->get(), leaf);
    if (type == AE_IFDIR) {
      if (!exists && ::mkdirat(dir->get(), leaf.c_str(), 0700) != 0) {
        return store::ErrnoStatus(errno, "mkdir", name);
      }
      if (::fchmodat(dir->get(), leaf.c_str(), perm | 0700, 0) != 0) {
        return store::ErrnoStatus(errno, "chmod", name);
      }
      return archive_read_data_skip(in) == ARCHIVE_OK ? OkStatus() : DataLoss(name, in);
    }
    struct timespec times[2] = {{0, UTIME_OMIT},
                                {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)}};
    if (type == AE_IFLNK) {
      const char* t = archive_entry_symlink(entry);
      if (t == nullptr || *t == '\0') return Refuse(name, "symlink without a target");
      if (::symlinkat(t, dir->get(), leaf.c_str()) != 0) {
        return store::ErrnoStatus(errno, "symlink", name);
      }
      ::utimensat(dir->get(), leaf.c_str(), times, AT_SYMLINK_NOFOLLOW);
      return archive_read_data_skip(in) == ARCHIVE_OK ? OkStatus() : DataLoss(name, in);
    }
    RETURN_IF_ERROR(Regular(in, entry, name, dir->get(), leaf, perm));
    return OkStatus();
  }

  Status Regular(struct archive* in, archive_entry* entry, const std::string& name, int dir,
                 const std::string& leaf, mode_t perm) {
    const int64_t size = archive_entry_size(entry);
    if (size < 0 || static_cast<uint64_t>(size) > limits_.max_entry_bytes) {
      return ResourceExhaustedError("layer entry '" + name + "' is " + std::to_string(size) +
                                    " bytes; the limit is " +
                                    std::to_string(limits_.max_entry_bytes));
    }
    out_.bytes += static_cast<uint64_t>(size);
    if (out_.bytes > limits_.max_total_bytes) {
      return ResourceExhaustedError("layer '" + layer_path_ + "' exceeds " +
                                    std::to_string(limits_.max_total_bytes) +
                                    " uncompressed bytes (at '" + name + "')");
    }
    if (limits_.max_ratio > 0 && out_.bytes > limits_.ratio_free_bytes &&
        out_.bytes / limits_.max_ratio >= layer_bytes_) {
      return ResourceExhaustedError("layer '" + layer_path_ + "' unpacks to more than " +
                                    std::to_string(limits_.max_ratio) + " times its size of " +
                                    std::to_string(layer_bytes_) + " bytes (at '" + name +
                                    "'): a compression bomb?");
    }
    UniqueFd fd(::openat(dir, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0600));
    if (!fd.valid()) return store::ErrnoStatus(errno, "create", name);
    uint64_t written = 0;
    for (;;) {
      const void* buf = nullptr;
      size_t n = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(in, &buf, &n, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        // umoci (bookworm's 0.4.7) ends a layer right after the last file's
        // data, without the padding and end-of-archive blocks: tolerated
        // once the file is whole, and nothing can follow. (The stream is
        // checked against the config's diff_id anyway.)
        if (written == static_cast<uint64_t>(size)) {
          ended_early_ = true;
          break;
        }
        return DataLoss(name, in);
      }
      written += n;
      if (written > static_cast<uint64_t>(size)) {
        return ResourceExhaustedError("layer entry '" + name + "' has more data than declared");
      }
      const char* p = static_cast<const char*>(buf);
      while (n > 0) {
        ssize_t w = ::pwrite(fd.get(), p, n, offset);
        if (w < 0) {
          if (errno == EINTR) continue;
          return store::ErrnoStatus(errno, "write", name);
        }
        p += w;
        n -= static_cast<size_t>(w);
        offset += w;
      }
    }
    if (::ftruncate(fd.get(), size) != 0) return store::ErrnoStatus(errno, "truncate", name);
    if (::fchmod(fd.get(), perm | 0600) != 0) return store::ErrnoStatus(errno, "chmod", name);
    struct timespec times[2] = {{0, UTIME_OMIT},
                                {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)}};
    ::futimens(fd.get(), times);
    return fd.Close(name);
  }

  Status Hardlink(const std::string& name, const std::string& target, int dir,
                  const std::string& leaf) {
    auto parts = SplitRelative(StripLeadingSlashes(target), "hard link target");
    if (!parts.ok()) return Refuse(name, std::string(parts.status().message()));
    if (parts->empty()) return Refuse(name, "hard link to the root");
    const std::vector<std::string> parent(parts->begin(), parts->end() - 1);
    auto tdir = OpenDirAt(root_, parent, /*create=*/false);
    struct stat st;
    bool found = false;
    if (tdir.ok()) {
      ASSIGN_OR_RETURN(found, LstatAt(tdir->get(), parts->back(), &st));
    }
    if (!found || !S_ISREG(st.st_mode)) {
      return Refuse(name, "hard link to '" + target +
                              "', which is not an earlier regular file of the layer");
    }
    if (::linkat(tdir->get(), parts->back().c_str(), dir, leaf.c_str(), 0) != 0) {
      return store::ErrnoStatus(errno, "link", name);
    }
    return OkStatus();
  }

  Status DataLoss(std::string_view name, struct archive* in) const {
    return DataLossError("corrupt or truncated layer '" + layer_path_ + "' at entry '" +
                         std::string(name) + "': " + ArchiveError(in));
  }

  const std::string layer_path_;
  const uint64_t layer_bytes_;
  const int root_;
  const store::UnpackLimits limits_;
  LayerContents out_;
  bool ended_early_ = false;  // the stream ended with the last file's data
};

}  // namespace

StatusOr<LayerContents> UnpackLayer(const std::string& layer_path, const std::string& dir,
                                    const store::UnpackLimits& limits) {
  struct stat st;
  if (::stat(layer_path.c_str(), &st) != 0) return store::ErrnoStatus(errno, "stat", layer_path);
  ASSIGN_OR_RETURN(UniqueFd root, OpenDir(dir));
  ASSIGN_OR_RETURN(std::vector<std::string> existing, ListDir(root.get()));
  if (!existing.empty()) {
    return FailedPreconditionError("layer target '" + dir + "' is not empty");
  }
  return LayerWriter(layer_path, static_cast<uint64_t>(st.st_size), root.get(), limits).Run();
}

StatusOr<std::string> UncompressedDigest(const std::string& layer_path) {
  ASSIGN_OR_RETURN(ArchiveReader in, OpenArchive(layer_path, true));
  archive_entry* entry = nullptr;
  store::Sha256 hash;
  int r = archive_read_next_header(in.get(), &entry);
  if (r == ARCHIVE_EOF) return hash.FinishDigest();  // an empty file
  if (r < ARCHIVE_WARN) {
    return DataLossError("cannot read layer '" + layer_path + "': " + ArchiveError(in.get()));
  }
  std::vector<char> buf(1 << 20);
  for (;;) {
    la_ssize_t n = archive_read_data(in.get(), buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      return DataLossError("corrupt layer '" + layer_path + "': " + ArchiveError(in.get()));
    }
    hash.Update(buf.data(), static_cast<size_t>(n));
  }
  return hash.FinishDigest();
}

}  // namespace tandem::imagefs
