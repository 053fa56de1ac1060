// finish_upload_bench: the CPU a finished /v2 blob upload costs the control
// plane when its file is handed to the embedded image store on a file://
// store, two ways alternated in one process:
//   rehash  ImageStore::PutBlobFile(repo, file, digest): the store reads and
//           hashes the file again (what BlobUploads::Finish did before);
//   hashed  ImageStore::PutHashedBlobFile(repo, file, {digest, size}): the
//           digest computed while the chunks arrived is passed on and the
//           file is renamed into place unread (what it does now).
// Each round writes a fresh random file (distinct content: no dedup) and its
// digest outside the timing, as spooling does in both cases. Prints, per
// way, the median process CPU seconds (CLOCK_PROCESS_CPUTIME_ID) and wall
// seconds of the call, and the load average.
//
//   finish_upload_bench <scratch-dir> [MiB=256] [rounds=3]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "glue/images/embedded_image_store.h"
#include "glue/store/file_store.h"
#include "glue/store/sha256.h"

namespace {

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Writes `mib` MiB of random bytes to `path`; returns their digest and size.
tandem::store::BlobInfo WriteRandom(const std::string& path, int mib, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> buf((1 << 20) / sizeof(uint64_t));
  tandem::store::Sha256 hash;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (int i = 0; i < mib; ++i) {
    for (auto& w : buf) w = rng();
    const char* p = reinterpret_cast<const char*>(buf.data());
    out.write(p, static_cast<std::streamsize>(buf.size() * sizeof(uint64_t)));
    hash.Update(p, buf.size() * sizeof(uint64_t));
  }
  out.close();
  return {hash.FinishDigest(), static_cast<uint64_t>(mib) << 20};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <scratch-dir> [MiB=256] [rounds=3]\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(argv[1]) / ("finish-upload-bench-" + std::to_string(::getpid()));
  const int mib = argc > 2 ? std::atoi(argv[2]) : 256;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  fs::create_directories(dir / "uploads");
  auto store = tandem::store::FileStore::Open((dir / "store").string());
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  tandem::images::EmbeddedImageStore images(**store, nullptr, nullptr);
  std::vector<double> cpu[2], wall[2];
  const char* names[2] = {"rehash (PutBlobFile)", "hashed (PutHashedBlobFile)"};
  unsigned seed = 1;
  for (int r = 0; r < rounds; ++r) {
    for (int way = 0; way < 2; ++way) {
      const std::string file = (dir / "uploads" / "session").string();
      const tandem::store::BlobInfo info = WriteRandom(file, mib, seed++);
      const double c0 = CpuSeconds();
      const auto t0 = std::chrono::steady_clock::now();
      auto put = way == 0 ? images.PutBlobFile("bench/blob", file, info.digest)
                          : images.PutHashedBlobFile("bench/blob", file, info);
      const auto t1 = std::chrono::steady_clock::now();
      const double c1 = CpuSeconds();
      if (!put.ok() || put->digest != info.digest) {
        std::fprintf(stderr, "%s: %s\n", names[way],
                     put.ok() ? "wrong digest" : std::string(put.status().message()).c_str());
        return 1;
      }
      fs::remove(file);
      cpu[way].push_back(c1 - c0);
      wall[way].push_back(std::chrono::duration<double>(t1 - t0).count());
    }
  }
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("finished /v2 upload of %d MiB into embedded/file://, %d rounds alternating; "
              "load %.2f %.2f %.2f\n",
              mib, rounds, load[0], load[1], load[2]);
  std::printf("| way | CPU s (median) | wall s (median) |\n|---|---|---|\n");
  for (int way = 0; way < 2; ++way) {
    std::printf("| %s | %.3f | %.3f |\n", names[way], Median(cpu[way]), Median(wall[way]));
  }
  fs::remove_all(dir);
  return 0;
}
