// store_bench: one round of tandem's file:// store on a given file.
//
//   store_bench <src-file> <dst-file> <store-dir>
//
// Opens a fresh store at <store-dir>, times PutBlobFromFile(src) and
// GetBlobToFile(digest, dst) (both fsync'ed and digest-verified), and prints
//   put_s=<seconds> get_s=<seconds> total_s=<seconds> digest=<sha256:...>
// run.sh drives the rounds and the cp + sha256sum baseline.
#include <chrono>
#include <cstdio>
#include <string>

#include "glue/store/file_store.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <src-file> <dst-file> <store-dir>\n", argv[0]);
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  auto store = tandem::store::FileStore::Open(argv[3]);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  const auto t0 = Clock::now();
  auto put = (*store)->PutBlobFromFile(argv[1]);
  const auto t1 = Clock::now();
  if (!put.ok()) {
    std::fprintf(stderr, "put: %s\n", std::string(put.status().message()).c_str());
    return 1;
  }
  tandem::Status got = (*store)->GetBlobToFile(put->digest, argv[2]);
  const auto t2 = Clock::now();
  if (!got.ok()) {
    std::fprintf(stderr, "get: %s\n", std::string(got.message()).c_str());
    return 1;
  }
  auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::printf("put_s=%.4f get_s=%.4f total_s=%.4f digest=%s\n", secs(t1 - t0), secs(t2 - t1),
              secs(t2 - t0), put->digest.c_str());
  return 0;
}
