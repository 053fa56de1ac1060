// The transform engine's CSV parsers side by side on one thread: a CSV of
// features (the benchmark's in.csv) is read into memory (not timed) and
// parsed into row-major floats by
//   from_chars   lines split with memchr, fields with find(','), each by
//                std::from_chars (what the general parser does per field)
//   line         ParseCsvLineFast per line (the portable fast path)
//   scanner      CsvLineScanner (AVX-512 block scanner; skipped without it)
// and the best of REPEATS runs (thread CPU time) is printed per parser as
// ns/field and MB/s,
// with a check that all three produced the same floats bit for bit.
//   csv_parse_bench FEATURES.csv NF [REPEATS [ONLY_THIS_ONE]]
#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "compute/transform/csv_scan.h"
#include "compute/transform/fast_csv.h"

namespace {

using tandem::compute::transform::CsvLineScanner;
using tandem::compute::transform::ParseCsvLineFast;

size_t FromChars(const std::string& text, int nf, std::vector<float>& rows) {
  size_t n = 0;
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    float* row = rows.data() + n * nf;
    for (int c = 0; c < nf; ++c) {
      size_t comma = line.find(',');
      std::string_view f = line.substr(0, comma);
      std::from_chars(f.data(), f.data() + f.size(), row[c]);
      line.remove_prefix(comma == std::string_view::npos ? line.size() : comma + 1);
    }
    ++n;
  }
  return n;
}

size_t Line(const std::string& text, int nf, std::vector<float>& rows) {
  size_t n = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* e = nl == nullptr ? end : nl;
    if (!ParseCsvLineFast(p, e, end, nf, rows.data() + n * nf)) std::abort();
    ++n;
    p = e + 1;
  }
  return n;
}

size_t Scanner(const std::string& text, int nf, std::vector<float>& rows) {
  size_t n = 0;
  CsvLineScanner scanner(text.data(), text.data() + text.size());
  const char *b, *e;
  while (true) {
    auto kind = scanner.Next(nf, rows.data() + n * nf, &b, &e);
    if (kind == CsvLineScanner::Line::kEnd) break;
    if (kind != CsvLineScanner::Line::kParsed) std::abort();
    ++n;
  }
  return n;
}

// This thread's CPU time: on a shared machine, wall time mostly measures
// the other tenants.
double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s FEATURES.csv NF [REPEATS]\n", argv[0]);
    return 2;
  }
  const int nf = std::atoi(argv[2]);
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  struct Contender {
    const char* name;
    std::function<size_t(const std::string&, int, std::vector<float>&)> parse;
    std::vector<float> rows;
    double best = 1e30;
    size_t n = 0;
  };
  std::vector<Contender> cs = {{"from_chars", FromChars, {}}, {"line", Line, {}}};
  if (CsvLineScanner::Supported()) cs.push_back({"scanner", Scanner, {}});
  if (argc > 4) {  // only the one named (for perf stat)
    std::erase_if(cs, [&](const Contender& c) { return std::strcmp(c.name, argv[4]) != 0; });
  }
  for (auto& c : cs) c.rows.assign(lines * nf, 0.0f);
  for (int r = 0; r < repeats; ++r) {
    for (auto& c : cs) {
      const double start = CpuSeconds();
      c.n = c.parse(text, nf, c.rows);
      c.best = std::min(c.best, CpuSeconds() - start);
    }
  }
  for (auto& c : cs) {
    const double fields = static_cast<double>(c.n) * nf;
    std::printf("%-10s %zu rows: best %.3f s, %.2f ns/field, %.0f MB/s%s\n", c.name, c.n, c.best,
                c.best / fields * 1e9, text.size() / c.best / 1e6,
                std::memcmp(c.rows.data(), cs[0].rows.data(), c.n * nf * sizeof(float)) == 0 &&
                        c.n == cs[0].n
                    ? ""
                    : "  DIFFERENT FLOATS");
  }
  return 0;
}
