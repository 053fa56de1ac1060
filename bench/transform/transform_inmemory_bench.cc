// The native evaluator's in-memory rate: loads a model package with
// runtime::LoadModel, reads a CSV of features into floats (not timed), then
// scores all rows with `threads` threads (each a contiguous share, batches of
// 4096 rows) and prints the best of `repeats` runs as rows/s, with the CPU
// time (user + system, all threads) that run took.
//   transform_inmemory_bench MODEL_DIR FEATURES.csv THREADS [REPEATS]
#include <sys/resource.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/load_model.h"

double CpuSeconds() {
  struct rusage u;
  if (::getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL_DIR FEATURES.csv THREADS [REPEATS]\n", argv[0]);
    return 2;
  }
  auto model = tandem::runtime::LoadModel(argv[1]);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const auto& p = (*model)->predictor();
  const int nf = p.num_features(), no = p.num_outputs();
  const int threads = std::atoi(argv[3]);
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 3;
  std::ifstream in(argv[2], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<float> rows;
  rows.reserve(text.size() / 8);
  const char* c = text.data();
  const char* end = c + text.size();
  while (c < end) {
    float v;
    auto r = std::from_chars(c, end, v);
    if (r.ec != std::errc()) break;
    rows.push_back(v);
    c = r.ptr + 1;
  }
  const size_t n = rows.size() / nf;
  std::vector<float> out(n * no);
  double best = 1e30, best_cpu = 0;
  for (int rep = 0; rep < repeats; ++rep) {
    auto start = std::chrono::steady_clock::now();
    const double cpu_start = CpuSeconds();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        for (size_t i = lo; i < hi; i += 4096) {
          size_t k = std::min<size_t>(4096, hi - i);
          if (!p.Predict(rows.data() + i * nf, k, nf, out.data() + i * no).ok()) std::abort();
        }
      });
    }
    for (auto& th : pool) th.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (secs < best) {
      best = secs;
      best_cpu = CpuSeconds() - cpu_start;
    }
  }
  std::printf("in-memory: %zu rows, %d threads, best %.3f s (%.3f CPU-s), %.0f rows/s\n", n,
              threads, best, best_cpu, n / best);
  return 0;
}
