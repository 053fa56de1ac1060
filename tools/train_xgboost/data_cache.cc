#include "train_xgboost/data_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

namespace tandem::train_xgboost {
namespace {

constexpr char kMagic[8] = {'T', 'D', 'C', 'A', 'C', 'H', 'E', '1'};

struct Header {
  char magic[8];
  uint64_t key_size;
  uint64_t rows;
  uint64_t cols;
  uint64_t variable_width;
};

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

StatusOr<std::string> ChannelKey(const std::string& path, std::string_view content_type) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, ChannelFiles(path));
  std::string key = "content-type=" + std::string(content_type) + "\n";
  for (const std::string& file : files) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
      return NotFoundError("cannot stat " + file + ": " + std::strerror(errno));
    }
    std::error_code ec;
    std::string abs = std::filesystem::absolute(file, ec).lexically_normal().string();
    if (ec) abs = file;
    key += abs + "\t" + std::to_string(st.st_size) + "\t" +
           std::to_string(static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                          st.st_mtim.tv_nsec) +
           "\t" + std::to_string(st.st_ino) + "\n";
  }
  return key;
}

std::string CacheFile(const std::string& cache_dir, const std::string& key) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.tdcache", static_cast<unsigned long long>(Fnv1a(key)));
  return cache_dir + "/" + name;
}

bool ReadAll(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t got = ::read(fd, p, n);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      return false;
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool WriteAll(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t put = ::write(fd, p, n);
    if (put <= 0) {
      if (put < 0 && errno == EINTR) continue;
      return false;
    }
    p += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

// The cached data set if `file` holds one for `key` and is whole.
bool Load(const std::string& file, const std::string& key, Dataset* out) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = false;
  struct stat st {};
  Header h{};
  if (::fstat(fd, &st) == 0 && ReadAll(fd, &h, sizeof h) &&
      std::memcmp(h.magic, kMagic, sizeof kMagic) == 0 && h.key_size == key.size() &&
      h.variable_width <= 1 && h.cols < (uint64_t{1} << 32) &&
      // rows * (cols + 1) floats must fit in the file: no overflow below.
      h.rows <= static_cast<uint64_t>(st.st_size) / sizeof(float) / (h.cols + 1)) {
    uint64_t floats = h.rows + h.rows * h.cols;
    uint64_t expected = sizeof h + h.key_size + floats * sizeof(float);
    std::string stored(key.size(), '\0');
    if (static_cast<uint64_t>(st.st_size) == expected && ReadAll(fd, stored.data(), key.size()) &&
        stored == key) {
      Dataset d;
      d.num_rows = h.rows;
      d.num_features = h.cols;
      d.variable_width = h.variable_width != 0;
      d.labels.resize(h.rows);
      d.features.resize(h.rows * h.cols);
      ok = ReadAll(fd, d.labels.data(), d.labels.size() * sizeof(float)) &&
           ReadAll(fd, d.features.data(), d.features.size() * sizeof(float));
      if (ok) *out = std::move(d);
    }
  }
  ::close(fd);
  return ok;
}

// Best effort: a failure leaves no file behind (or the previous one).
void Store(const std::string& cache_dir, const std::string& file, const std::string& key,
           const Dataset& d) {
  std::error_code ec;
  std::filesystem::create_directories(cache_dir, ec);
  std::string tmp = file + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.key_size = key.size();
  h.rows = d.num_rows;
  h.cols = d.num_features;
  h.variable_width = d.variable_width ? 1 : 0;
  bool ok = WriteAll(fd, &h, sizeof h) && WriteAll(fd, key.data(), key.size()) &&
            WriteAll(fd, d.labels.data(), d.labels.size() * sizeof(float)) &&
            WriteAll(fd, d.features.data(), d.features.size() * sizeof(float));
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace

StatusOr<std::string> ChannelCachePath(const std::string& path, std::string_view content_type,
                                       const std::string& cache_dir) {
  ASSIGN_OR_RETURN(std::string key, ChannelKey(path, content_type));
  return CacheFile(cache_dir, key);
}

StatusOr<CachedRead> ReadChannelCached(const std::string& path, std::string_view content_type,
                                       const std::string& cache_dir) {
  CachedRead r;
  if (cache_dir.empty()) {
    ASSIGN_OR_RETURN(r.data, ReadChannel(path, content_type));
    return r;
  }
  // The key is taken before parsing: a channel changed while it is parsed
  // gets a key that no longer matches, and is parsed again next time.
  StatusOr<std::string> key = ChannelKey(path, content_type);
  if (!key.ok()) {
    ASSIGN_OR_RETURN(r.data, ReadChannel(path, content_type));  // ReadChannel's error
    return r;
  }
  const std::string file = CacheFile(cache_dir, *key);
  if (Load(file, *key, &r.data)) {
    r.from_cache = true;
    return r;
  }
  ASSIGN_OR_RETURN(r.data, ReadChannel(path, content_type));
  Store(cache_dir, file, *key, r.data);
  return r;
}

}  // namespace tandem::train_xgboost
