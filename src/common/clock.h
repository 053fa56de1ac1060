// Injectable time. Everything that reads the time, sleeps, or schedules takes
// a Clock& so tests can drive time with FakeClock instead of sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

namespace tandem {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch (wall time). Thread-safe.
  virtual int64_t NowMicros() const = 0;
  // Blocks the caller for `micros` of this clock's time. Thread-safe.
  virtual void SleepMicros(int64_t micros) = 0;

  int64_t NowMillis() const { return NowMicros() / 1000; }

  // The process-wide real clock (stateless; never deleted).
  static Clock& Real();
};

// Wall-clock time from the system.
class RealClock final : public Clock {
 public:
  int64_t NowMicros() const override;
  void SleepMicros(int64_t micros) override;
};

// Time that only moves when a test advances it. SleepMicros blocks until
// another thread advances the clock past the deadline. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_micros = 1'700'000'000'000'000) : now_(start_micros) {}
  int64_t NowMicros() const override;
  void SleepMicros(int64_t micros) override;
  void Advance(int64_t micros);
  void AdvanceSeconds(double s) { Advance(static_cast<int64_t>(s * 1e6)); }
  // Number of threads currently blocked in SleepMicros.
  int sleepers() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t now_;
  int sleepers_ = 0;
};

// RFC 3339 UTC with seconds precision, as EventBridge writes `time`:
// "2026-11-30T05:49:03Z".
std::string FormatRfc3339(int64_t micros);
// RFC 3339 with milliseconds: "2026-11-30T05:49:03.123Z".
std::string FormatRfc3339Millis(int64_t micros);

}  // namespace tandem
