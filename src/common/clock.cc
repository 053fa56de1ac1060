#include "common/clock.h"

#include <algorithm>
#include <ctime>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace tandem {

Clock& Clock::Real() {
  static RealClock clock;  // stateless
  return clock;
}

int64_t RealClock::NowMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t RealClock::MonotonicMicros() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void RealClock::SleepMicros(int64_t micros) {
  if (micros > 0) std::this_thread::sleep_for(std::chrono::microseconds(micros));
}

int64_t FakeClock::NowMicros() const {
  absl::MutexLock l(&mu_);
  return now_;
}

int64_t FakeClock::MonotonicMicros() const {
  absl::MutexLock l(&mu_);
  return monotonic_;
}

void FakeClock::SleepMicros(int64_t micros) {
  absl::MutexLock l(&mu_);
  const int64_t deadline = now_ + micros;
  ++sleepers_;
  while (now_ < deadline) cv_.Wait(&mu_);
  --sleepers_;
}

void FakeClock::Advance(int64_t micros) {
  {
    absl::MutexLock l(&mu_);
    now_ += micros;
    monotonic_ += micros;
  }
  cv_.SignalAll();
}

int FakeClock::sleepers() const {
  absl::MutexLock l(&mu_);
  return sleepers_;
}

int Deadline::SliceMillis(int64_t cap_ms) const {
  const int64_t left = RemainingMicros();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<int64_t>((left + 999) / 1000, std::max<int64_t>(cap_ms, 0)));
}

namespace {
std::string Format(int64_t micros, bool millis) {
  std::time_t secs = static_cast<std::time_t>(micros / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (millis) {
    char ms[8];
    std::snprintf(ms, sizeof(ms), ".%03d", static_cast<int>((micros / 1000) % 1000));
    out += ms;
  }
  out += 'Z';
  return out;
}
}  // namespace

std::string FormatRfc3339(int64_t micros) { return Format(micros, false); }
std::string FormatRfc3339Millis(int64_t micros) { return Format(micros, true); }

}  // namespace tandem
