#include "common/clock.h"

#include <ctime>
#include <thread>

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

void RealClock::SleepMicros(int64_t micros) {
  if (micros > 0) std::this_thread::sleep_for(std::chrono::microseconds(micros));
}

int64_t FakeClock::NowMicros() const {
  std::lock_guard<std::mutex> l(mu_);
  return now_;
}

void FakeClock::SleepMicros(int64_t micros) {
  std::unique_lock<std::mutex> l(mu_);
  const int64_t deadline = now_ + micros;
  ++sleepers_;
  cv_.wait(l, [&] { return now_ >= deadline; });
  --sleepers_;
}

void FakeClock::Advance(int64_t micros) {
  {
    std::lock_guard<std::mutex> l(mu_);
    now_ += micros;
  }
  cv_.notify_all();
}

int FakeClock::sleepers() const {
  std::lock_guard<std::mutex> l(mu_);
  return sleepers_;
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
