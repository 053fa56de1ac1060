// A deliberate data race (tests/sanitize/CMakeLists.txt): two threads
// increment one int with no lock, atomic or join between them. Under
// ThreadSanitizer this must be reported; the ctest passes only then.
#include <cstdio>
#include <thread>

namespace {

int shared_counter = 0;  // deliberately unguarded

void Bump() {
  for (int i = 0; i < 1000; ++i) ++shared_counter;
}

}  // namespace

int main() {
  std::thread a(Bump);
  std::thread b(Bump);
  a.join();
  b.join();
  std::printf("counter %d (no race reported: ThreadSanitizer is not live)\n", shared_counter);
  return 0;
}
