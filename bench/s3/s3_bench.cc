// s3_bench: one round of tandem's ObjectStore on a given file.
//
//   s3_bench <store-uri> <src-file> <dst-file>
//
// Opens the store (s3://... or file://...; use a fresh prefix/dir per round so
// the put is not deduplicated), times PutBlobFromFile(src),
// GetBlobToFile(digest, dst) (digest verified while streaming) and the same
// verified read into memory only, and prints
//   put_s=<s> get_s=<s> read_verify_s=<s> put_cpu_s=<s> get_cpu_s=<s>
//   read_verify_cpu_s=<s> digest=<sha256:...>
// (*_cpu_s: this process's user + system CPU time in that step, all threads).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "glue/store/object_store.h"

namespace {
double CpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <store-uri> <src-file> <dst-file>\n", argv[0]);
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  auto store = tandem::store::ObjectStore::Open(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  const auto t0 = Clock::now();
  const double c0 = CpuSeconds();
  auto put = (*store)->PutBlobFromFile(argv[2]);
  const auto t1 = Clock::now();
  const double c1 = CpuSeconds();
  if (!put.ok()) {
    std::fprintf(stderr, "put: %s\n", std::string(put.status().message()).c_str());
    return 1;
  }
  tandem::Status got = (*store)->GetBlobToFile(put->digest, argv[3]);
  const auto t2 = Clock::now();
  const double c2 = CpuSeconds();
  if (!got.ok()) {
    std::fprintf(stderr, "get: %s\n", std::string(got.message()).c_str());
    return 1;
  }
  // The same read, verified, without the file (no write, fsync, rename).
  auto reader = (*store)->OpenBlob(put->digest);
  if (!reader.ok()) {
    std::fprintf(stderr, "open blob: %s\n", std::string(reader.status().message()).c_str());
    return 1;
  }
  std::vector<char> buf(1 << 20);
  for (;;) {
    auto n = (*reader)->Read(buf.data(), buf.size());
    if (!n.ok()) {
      std::fprintf(stderr, "read: %s\n", std::string(n.status().message()).c_str());
      return 1;
    }
    if (*n == 0) break;
  }
  const auto t3 = Clock::now();
  const double c3 = CpuSeconds();
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::printf(
      "put_s=%.4f get_s=%.4f read_verify_s=%.4f put_cpu_s=%.4f get_cpu_s=%.4f "
      "read_verify_cpu_s=%.4f digest=%s\n",
      secs(t1 - t0), secs(t2 - t1), secs(t3 - t2), c1 - c0, c2 - c1, c3 - c2,
      put->digest.c_str());
  return 0;
}
