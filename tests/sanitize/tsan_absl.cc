// absl::Mutex, absl::CondVar and absl::Notification as ThreadSanitizer sees
// them (tests/sanitize/CMakeLists.txt): every access below is ordered by one
// of them, so a TSan report here means the abseil on the library path is not
// TSan-instrumented (its lock/unlock invisible), not a bug in this file.
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace {

constexpr int kThreads = 4;
constexpr int kIncrements = 20000;

absl::Mutex mu;
long counter ABSL_GUARDED_BY(mu) = 0;
int finished ABSL_GUARDED_BY(mu) = 0;
absl::CondVar all_finished;

void Worker() {
  for (int i = 0; i < kIncrements; ++i) {
    absl::MutexLock lock(&mu);
    ++counter;
  }
  absl::MutexLock lock(&mu);
  if (++finished == kThreads) all_finished.Signal();
}

}  // namespace

int main() {
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(Worker);
  long total;
  {
    absl::MutexLock lock(&mu);
    while (finished < kThreads) all_finished.Wait(&mu);
    total = counter;
  }
  // A plain value handed over by absl::Notification alone.
  int handed_over = 0;
  absl::Notification ready;
  std::thread producer([&] {
    handed_over = 42;
    ready.Notify();
  });
  ready.WaitForNotification();
  const int received = handed_over;
  producer.join();
  for (auto& t : threads) t.join();
  if (total != long{kThreads} * kIncrements || received != 42) {
    std::fprintf(stderr, "wrong results: counter %ld, handed over %d\n", total, received);
    return 1;
  }
  std::printf("counter %ld, handed over %d: clean\n", total, received);
  return 0;
}
