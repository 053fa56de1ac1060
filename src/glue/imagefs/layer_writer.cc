#include "glue/imagefs/layer_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include "glue/imagefs/fs_at.h"
#include "glue/imagefs/unpack.h"
#include "glue/store/sha256.h"

namespace tandem::imagefs {
namespace {

namespace fs = std::filesystem;

struct WriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};

struct Item {
  enum Kind { kDir, kFile, kSymlink } kind = kDir;
  std::string host;    // kFile: where to read it
  std::string target;  // kSymlink
  mode_t mode = 0755;
  uint64_t size = 0;
};

std::string Rel(const std::string& dest) {
  std::string r = dest;
  while (!r.empty() && r.front() == '/') r.erase(r.begin());
  while (!r.empty() && r.back() == '/') r.pop_back();
  return r;
}

void AddParents(const std::string& rel, std::map<std::string, Item>* items) {
  for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
    items->try_emplace(rel.substr(0, slash), Item{});
  }
}

Status AddPath(const std::string& host, const std::string& rel, int mode_override,
               std::map<std::string, Item>* items) {
  struct stat st;
  if (::lstat(host.c_str(), &st) != 0) return store::ErrnoStatus(errno, "stat", host);
  Item item;
  item.mode = st.st_mode & 0777;
  if (S_ISDIR(st.st_mode)) {
    item.kind = Item::kDir;
    if (!rel.empty()) (*items)[rel] = item;
    std::error_code ec;
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(host, ec)) names.push_back(e.path().filename());
    if (ec) return InternalError("cannot list '" + host + "': " + ec.message());
    for (const std::string& n : names) {
      RETURN_IF_ERROR(AddPath(host + "/" + n, rel.empty() ? n : rel + "/" + n, -1, items));
    }
    return OkStatus();
  }
  if (rel.empty()) return InvalidArgumentError("'" + host + "' cannot be the image's root");
  if (S_ISREG(st.st_mode)) {
    item.kind = Item::kFile;
    item.host = host;
    item.size = static_cast<uint64_t>(st.st_size);
    if (mode_override >= 0) item.mode = static_cast<mode_t>(mode_override) & 0777;
  } else if (S_ISLNK(st.st_mode)) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(host.c_str(), buf, sizeof(buf));
    if (n < 0 || static_cast<size_t>(n) >= sizeof(buf)) {
      return store::ErrnoStatus(n < 0 ? errno : ENAMETOOLONG, "readlink", host);
    }
    item.kind = Item::kSymlink;
    item.target.assign(buf, static_cast<size_t>(n));
    item.mode = 0777;
  } else {
    return InvalidArgumentError("'" + host +
                                "' is not a regular file, directory or symlink; "
                                "images hold no devices, fifos or sockets");
  }
  // Replacing a directory by a file drops what was below it.
  auto below = items->lower_bound(rel + "/");
  while (below != items->end() && below->first.starts_with(rel + "/")) below = items->erase(below);
  (*items)[rel] = item;
  return OkStatus();
}

la_ssize_t WriteCallback(struct archive*, void* ctx, const void* buf, size_t n) {
  int fd = *static_cast<int*>(ctx);
  const char* p = static_cast<const char*>(buf);
  size_t left = n;
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  return static_cast<la_ssize_t>(n);
}

Status WriteTar(const std::map<std::string, Item>& items, int fd, int64_t mtime) {
  std::unique_ptr<struct archive, WriteDeleter> a(archive_write_new());
  archive_write_add_filter_gzip(a.get());
  archive_write_set_options(a.get(), "gzip:!timestamp");
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  int ctx = fd;
  if (archive_write_open(a.get(), &ctx, nullptr, WriteCallback, nullptr) != ARCHIVE_OK) {
    return InternalError(std::string("cannot start the layer: ") + archive_error_string(a.get()));
  }
  std::vector<char> buf(1 << 20);
  for (const auto& [rel, item] : items) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                               archive_entry_free);
    archive_entry_set_pathname(e.get(), (item.kind == Item::kDir ? rel + "/" : rel).c_str());
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_mtime(e.get(), mtime, 0);
    archive_entry_set_perm(e.get(), item.mode);
    if (item.kind == Item::kDir) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
    } else if (item.kind == Item::kSymlink) {
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_symlink(e.get(), item.target.c_str());
    } else {
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(item.size));
    }
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) {
      return InternalError("writing '" + rel + "': " + archive_error_string(a.get()));
    }
    if (item.kind != Item::kFile) continue;
    UniqueFd in(::open(item.host.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in.valid()) return store::ErrnoStatus(errno, "open", item.host);
    uint64_t total = 0;
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, store::ReadSome(in.get(), buf.data(), buf.size(), item.host));
      if (n == 0) break;
      total += n;
      if (total > item.size) break;
      if (archive_write_data(a.get(), buf.data(), n) < 0) {
        return InternalError("writing '" + rel + "': " + archive_error_string(a.get()));
      }
    }
    if (total != item.size) return AbortedError("'" + item.host + "' changed while being read");
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return InternalError(std::string("finishing the layer: ") + archive_error_string(a.get()));
  }
  return OkStatus();
}

StatusOr<std::string> FileDigest(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return store::ErrnoStatus(errno, "open", path);
  store::Sha256 hash;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, store::ReadSome(fd.get(), buf.data(), buf.size(), path));
    if (n == 0) break;
    hash.Update(buf.data(), n);
  }
  return hash.FinishDigest();
}

}  // namespace

StatusOr<int64_t> SourceDateEpoch() {
  const char* v = std::getenv("SOURCE_DATE_EPOCH");
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < 0) {
    return InvalidArgumentError(std::string("SOURCE_DATE_EPOCH '") + v +
                                "' is not a non-negative integer");
  }
  return static_cast<int64_t>(n);
}

StatusOr<WrittenLayer> WriteLayer(const std::vector<LayerSource>& sources,
                                  const std::string& out_path, int64_t mtime) {
  std::map<std::string, Item> items;
  for (const LayerSource& s : sources) {
    if (s.dest.empty() || s.dest.front() != '/') {
      return InvalidArgumentError("layer destination '" + s.dest + "' must be an absolute path");
    }
    auto parts = SplitRelative(Rel(s.dest), "layer destination");
    if (!parts.ok()) return parts.status();
    std::string rel;
    for (const std::string& p : *parts) rel += rel.empty() ? p : "/" + p;
    AddParents(rel, &items);
    RETURN_IF_ERROR(AddPath(s.host_path, rel, s.mode, &items));
  }
  const std::string tmp = store::DirName(out_path) + "/" + store::TempName();
  Status s = [&]() -> Status {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return store::ErrnoStatus(errno, "create", tmp);
    RETURN_IF_ERROR(WriteTar(items, fd.get(), mtime));
    RETURN_IF_ERROR(fd.Close(tmp));
    if (::rename(tmp.c_str(), out_path.c_str()) != 0) {
      return store::ErrnoStatus(errno, "rename to", out_path);
    }
    return OkStatus();
  }();
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  WrittenLayer out;
  ASSIGN_OR_RETURN(out.digest, FileDigest(out_path));
  ASSIGN_OR_RETURN(out.diff_id, UncompressedDigest(out_path));
  struct stat st;
  if (::stat(out_path.c_str(), &st) != 0) return store::ErrnoStatus(errno, "stat", out_path);
  out.size = static_cast<uint64_t>(st.st_size);
  return out;
}

}  // namespace tandem::imagefs
