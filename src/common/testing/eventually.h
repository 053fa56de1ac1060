// Eventually(pred, seconds): polls `pred` every 20 ms until it holds or
// `seconds` pass, for tests waiting on another thread, process or server.
#pragma once

#include <chrono>
#include <thread>

namespace tandem::testing {

template <typename Pred>
bool Eventually(Pred pred, int seconds = 60) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace tandem::testing
