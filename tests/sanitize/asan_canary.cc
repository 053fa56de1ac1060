// Deliberate findings for `scripts/sanitize asan` (tests/sanitize/CMakeLists.txt):
// `asan_canary_test heap|leak|ub` reads past a heap block, leaks one, or
// overflows a signed int. Each ctest passes only if AddressSanitizer,
// LeakSanitizer or UndefinedBehaviorSanitizer reports it, so a run whose
// sanitizers are not live (or whose options stopped leak checking) is caught.
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

void* volatile sink = nullptr;  // keeps the compiler from removing the canaries

int Heap() {
  char* block = static_cast<char*>(std::malloc(8));
  std::memset(block, 1, 8);
  volatile int index = 8;  // one past the end
  int value = block[index];
  std::free(block);
  return value;
}

int Leak() {
  sink = std::malloc(64);
  sink = nullptr;
  return 0;
}

int Ub() {
  volatile int big = INT_MAX;
  volatile int one = 1;
  return big + one;  // signed overflow
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: asan_canary_test heap|leak|ub\n");
    return 2;
  }
  int value;
  if (std::strcmp(argv[1], "heap") == 0) {
    value = Heap();
  } else if (std::strcmp(argv[1], "leak") == 0) {
    value = Leak();
  } else if (std::strcmp(argv[1], "ub") == 0) {
    value = Ub();
  } else {
    std::fprintf(stderr, "asan_canary_test: unknown canary %s\n", argv[1]);
    return 2;
  }
  std::printf("canary %s: %d (nothing reported: the sanitizer is not live)\n", argv[1], value);
  return 0;
}
