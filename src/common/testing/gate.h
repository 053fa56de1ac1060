// Gate: a one-shot gate a test's handler (or any other thread) waits on until
// the test opens it, with a generous cap so that a broken test fails instead
// of hanging.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace tandem::testing {

class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits until the gate is open or `max` passes; whether it opened.
  bool Wait(std::chrono::milliseconds max = std::chrono::milliseconds(20'000)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, max, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace tandem::testing
