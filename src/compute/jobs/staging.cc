#include "compute/jobs/staging.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <shared_mutex>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/subprocess_core.h"
#include "glue/store/archive.h"
#include "glue/store/sha256.h"

namespace tandem::compute::jobs {
namespace {

namespace fs = std::filesystem;

Status FsError(const std::error_code& ec, const std::string& op, const std::string& path) {
  std::string msg = op + " " + path + ": " + ec.message();
  if (ec == std::errc::no_such_file_or_directory) return NotFoundError(msg);
  if (ec == std::errc::permission_denied) return PermissionDeniedError(msg);
  if (ec == std::errc::no_space_on_device) return ResourceExhaustedError(msg);
  return InternalError(msg);
}

bool Inside(const fs::path& root, const fs::path& p) {
  auto r = root.lexically_normal(), q = p.lexically_normal();
  auto [a, b] = std::mismatch(r.begin(), r.end(), q.begin(), q.end());
  return a == r.end() || (std::next(a) == r.end() && a->empty());
}

// A symlink at `link` (inside `root`) whose target stays inside `root`.
StatusOr<fs::path> CheckLink(const fs::path& root, const fs::path& link) {
  std::error_code ec;
  fs::path target = fs::read_symlink(link, ec);
  if (ec) return FsError(ec, "readlink", link.string());
  fs::path resolved = target.is_absolute() ? target : link.parent_path() / target;
  if (!Inside(root, resolved)) {
    return InvalidArgumentError("symlink " + link.string() + " -> " + target.string() +
                                " points outside " + root.string());
  }
  return target;
}

// Sorted relative paths of everything under `dir` (not following links).
StatusOr<std::vector<fs::path>> Walk(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return FsError(ec, "read directory", dir.string());
  for (; it != end; it.increment(ec)) {
    if (ec) return FsError(ec, "read directory", dir.string());
    out.push_back(it->path().lexically_relative(dir));
  }
  if (ec) return FsError(ec, "read directory", dir.string());
  std::sort(out.begin(), out.end());
  return out;
}

Status CopyFile(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  {
    // A staged file may be the job's entry point: no child forked meanwhile
    // may inherit it open for writing (subprocess_core.h ForkLock).
    std::shared_lock<std::shared_mutex> no_fork(subprocess::ForkLock());
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) return FsError(ec, "copy " + from.string() + " to", to.string());
  return OkStatus();
}

std::string Base(const std::string& key) {
  size_t slash = key.rfind('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

// Blob `digest` at `path`: a hard link when `link` and the store can (no copy,
// no re-hash), else a verified copy.
Status BlobToFile(store::ObjectStore& store, const std::string& digest, const std::string& path,
                  bool link) {
  if (link) {
    Status linked = store.LinkBlobToFile(digest, path);
    if (linked.code() != StatusCode::kUnimplemented) return linked;
  }
  return store.GetBlobToFile(digest, path);
}

// Object `key` (of blob `digest`, "" = look it up) at `path`, as BlobToFile.
Status ObjectToFile(store::ObjectStore& store, const std::string& key, std::string digest,
                    const std::string& path, bool link) {
  if (!link) return store.GetToFile(key, path);
  if (digest.empty()) {
    ASSIGN_OR_RETURN(store::ObjectInfo info, store.Stat(key));
    digest = info.digest;
  }
  return BlobToFile(store, digest, path, link);
}

}  // namespace

StatusOr<std::string> FileDigest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read " + path);
  store::Sha256 h;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) h.Update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return InternalError("read error on " + path);
  return h.FinishDigest();
}

StatusOr<std::string> DirectoryDigest(const std::string& dir) {
  ASSIGN_OR_RETURN(auto entries, Walk(dir));
  store::Sha256 h;
  for (const auto& rel : entries) {
    fs::path p = fs::path(dir) / rel;
    std::error_code ec;
    auto st = fs::symlink_status(p, ec);
    if (ec) return FsError(ec, "stat", p.string());
    std::string line = rel.generic_string() + '\0';
    if (fs::is_symlink(st)) {
      line += "-> " + fs::read_symlink(p, ec).generic_string();
    } else if (fs::is_regular_file(st)) {
      ASSIGN_OR_RETURN(std::string d, FileDigest(p.string()));
      line += d;
    } else if (fs::is_directory(st)) {
      line += "dir";
    } else {
      return InvalidArgumentError("unsupported file type at " + p.string());
    }
    h.Update(line + "\n");
  }
  return h.FinishDigest();
}

Status CopyTree(const std::string& src, const std::string& dst) {
  std::error_code ec;
  fs::create_directories(dst, ec);
  if (ec) return FsError(ec, "create", dst);
  ASSIGN_OR_RETURN(auto entries, Walk(src));
  for (const auto& rel : entries) {
    fs::path from = fs::path(src) / rel, to = fs::path(dst) / rel;
    auto st = fs::symlink_status(from, ec);
    if (ec) return FsError(ec, "stat", from.string());
    if (fs::is_symlink(st)) {
      ASSIGN_OR_RETURN(fs::path target, CheckLink(src, from));
      fs::create_symlink(target, to, ec);
      if (ec) return FsError(ec, "symlink", to.string());
    } else if (fs::is_directory(st)) {
      fs::create_directories(to, ec);
      if (ec) return FsError(ec, "create", to.string());
    } else if (fs::is_regular_file(st)) {
      RETURN_IF_ERROR(CopyFile(from, to));
    } else {
      return InvalidArgumentError("unsupported file type (not a file, directory or symlink): " +
                                  from.string());
    }
  }
  return OkStatus();
}

StatusOr<Source> ResolveSource(const std::string& text, store::ObjectStore& store,
                               const std::string& what) {
  std::string path = text;
  if (path.starts_with("file://")) path = path.substr(7);
  if (path.starts_with("/")) {
    std::error_code ec;
    auto st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      return NotFoundError(what + ": no such file or directory: " + path);
    }
    if (fs::is_directory(st)) return Source{Source::Kind::kLocalDir, path};
    if (fs::is_regular_file(st)) return Source{Source::Kind::kLocalFile, path};
    return InvalidArgumentError(what + ": " + path + " is neither a file nor a directory");
  }
  if (text.starts_with(store::kDigestPrefix)) {
    Status valid = store::ValidateDigest(text);
    if (!valid.ok()) return Annotate(valid, what);
    ASSIGN_OR_RETURN(bool has, store.HasBlob(text));
    if (!has) return NotFoundError(what + ": no blob " + text + " in the object store");
    return Source{Source::Kind::kStoreDigest, text};
  }
  std::string key = text;
  while (key.ends_with("/")) key.pop_back();
  Status valid = store::ValidateKey(key);
  if (!valid.ok()) {
    return InvalidArgumentError(what + ": '" + text +
                                "' is neither an absolute path, a file:// URI, a sha256: digest "
                                "nor a valid object-store key (" +
                                std::string(valid.message()) + ")");
  }
  auto stat = store.Stat(key);
  if (stat.ok()) return Source{Source::Kind::kStoreKey, key};
  if (stat.status().code() != StatusCode::kNotFound) return Annotate(stat.status(), what);
  ASSIGN_OR_RETURN(auto listed, store.List(key + "/", "", 1));
  if (!listed.objects.empty()) return Source{Source::Kind::kStorePrefix, key};
  return NotFoundError(what + ": '" + text +
                       "' is not a local path and no object-store key or prefix of that name "
                       "exists (relative paths are resolved by the CLI against the spec file)");
}

StatusOr<Source> ResolveCode(const JobSpec& spec, store::ObjectStore& store) {
  if (spec.source_dir.empty()) {
    // An image's own train program needs no code.
    if (!spec.entry_point.starts_with("/") && !(spec.entry_point.empty() && !spec.image.empty())) {
      return InvalidArgumentError("source_dir is required unless entry_point is an absolute path");
    }
    return Source{};
  }
  ASSIGN_OR_RETURN(Source src, ResolveSource(spec.source_dir, store, "source_dir"));
  if (src.kind == Source::Kind::kLocalFile) {
    return InvalidArgumentError("source_dir: " + src.location +
                                " is a file; it must be a directory or a tar.gz in the store");
  }
  if (src.kind == Source::Kind::kStorePrefix) {
    return InvalidArgumentError("source_dir: '" + src.location +
                                "' must name one tar.gz object, not a prefix");
  }
  if (src.kind == Source::Kind::kLocalDir && !spec.entry_point.empty() &&
      !spec.entry_point.starts_with("/")) {
    fs::path entry = fs::path(src.location) / spec.entry_point;
    std::error_code ec;
    if (!fs::is_regular_file(entry, ec)) {
      return InvalidArgumentError("entry_point '" + spec.entry_point +
                                  "' not found in source_dir " + src.location);
    }
  }
  return src;
}

StatusOr<std::map<std::string, Source>> ResolveInputs(const JobSpec& spec,
                                                      store::ObjectStore& store) {
  std::map<std::string, Source> out;
  for (const auto& [channel, text] : spec.inputs) {
    ASSIGN_OR_RETURN(out[channel], ResolveSource(text, store, "input channel '" + channel + "'"));
  }
  return out;
}

StatusOr<std::string> SourceFingerprint(const Source& s, store::ObjectStore& store) {
  if (s.kind != Source::Kind::kLocalFile && s.kind != Source::Kind::kLocalDir) {
    return SourceDigest(s, store);
  }
  store::Sha256 h;
  auto entry = [&](const fs::path& p, const std::string& rel) -> Status {
    std::error_code ec;
    auto st = fs::symlink_status(p, ec);
    if (ec) return FsError(ec, "stat", p.string());
    std::string line = rel + '\0' + std::to_string(static_cast<int>(st.type()));
    if (fs::is_regular_file(st)) {
      line += "," + std::to_string(fs::file_size(p, ec));
      line += "," + std::to_string(fs::last_write_time(p, ec).time_since_epoch().count());
    }
    h.Update(line + "\n");
    return OkStatus();
  };
  h.Update(s.location + "\n");
  if (s.kind == Source::Kind::kLocalFile) {
    RETURN_IF_ERROR(entry(s.location, ""));
  } else {
    ASSIGN_OR_RETURN(auto entries, Walk(s.location));
    for (const auto& rel : entries) {
      RETURN_IF_ERROR(entry(fs::path(s.location) / rel, rel.generic_string()));
    }
  }
  return "fingerprint:" + h.FinishHex();
}

StatusOr<std::string> SourceDigest(const Source& s, store::ObjectStore& store) {
  switch (s.kind) {
    case Source::Kind::kNone:
      return std::string();
    case Source::Kind::kLocalFile:
      return FileDigest(s.location);
    case Source::Kind::kLocalDir:
      return DirectoryDigest(s.location);
    case Source::Kind::kStoreDigest:
      return s.location;
    case Source::Kind::kStoreKey: {
      ASSIGN_OR_RETURN(auto info, store.Stat(s.location));
      return info.digest;
    }
    case Source::Kind::kStorePrefix: {
      store::Sha256 h;
      std::string token;
      do {
        ASSIGN_OR_RETURN(auto page, store.List(s.location + "/", token));
        for (const auto& o : page.objects) {
          h.Update(o.key.substr(s.location.size() + 1) + '\0' + o.digest + "\n");
        }
        token = page.next_page_token;
      } while (!token.empty());
      return h.FinishDigest();
    }
  }
  return InternalError("unknown source kind");
}

Status StageCode(const Source& s, store::ObjectStore& store, const std::string& code_dir) {
  switch (s.kind) {
    case Source::Kind::kNone:
      return OkStatus();
    case Source::Kind::kLocalDir:
      return CopyTree(s.location, code_dir);
    case Source::Kind::kStoreKey:
    case Source::Kind::kStoreDigest: {
      // Only the control plane reads the archive: a link to the blob will do.
      std::string tmp = code_dir + ".source-" + NewUlid(Clock::Real()) + ".tar.gz";
      Status got = s.kind == Source::Kind::kStoreKey
                       ? ObjectToFile(store, s.location, "", tmp, /*link=*/true)
                       : BlobToFile(store, s.location, tmp, /*link=*/true);
      if (!got.ok()) return Annotate(got, "source_dir " + s.location);
      Status unpacked = store::UnpackArchive(tmp, code_dir, {}, s.location);
      std::error_code ec;
      fs::remove(tmp, ec);
      if (!unpacked.ok()) return Annotate(unpacked, "source_dir " + s.location + " (a tar.gz)");
      return OkStatus();
    }
    default:
      return InvalidArgumentError("source_dir must be a directory or a tar.gz object");
  }
}

Status StageInput(const Source& s, store::ObjectStore& store, const std::string& channel_dir,
                  InputStaging mode) {
  fs::path dir(channel_dir);
  const bool link = mode == InputStaging::kLinkStoreBlobs;
  switch (s.kind) {
    case Source::Kind::kNone:
      return OkStatus();
    case Source::Kind::kLocalFile:
      return CopyFile(s.location, dir / fs::path(s.location).filename());
    case Source::Kind::kLocalDir:
      return CopyTree(s.location, channel_dir);
    case Source::Kind::kStoreKey:
      return ObjectToFile(store, s.location, "", (dir / Base(s.location)).string(), link);
    case Source::Kind::kStoreDigest:
      return BlobToFile(store, s.location, (dir / s.location.substr(7)).string(), link);
    case Source::Kind::kStorePrefix: {
      std::string token;
      do {
        ASSIGN_OR_RETURN(auto page, store.List(s.location + "/", token));
        for (const auto& o : page.objects) {
          fs::path to = dir / o.key.substr(s.location.size() + 1);
          std::error_code ec;
          fs::create_directories(to.parent_path(), ec);
          if (ec) return FsError(ec, "create", to.parent_path().string());
          RETURN_IF_ERROR(ObjectToFile(store, o.key, o.digest, to.string(), link));
        }
        token = page.next_page_token;
      } while (!token.empty());
      return OkStatus();
    }
  }
  return InternalError("unknown source kind");
}

}  // namespace tandem::compute::jobs
