#include "common/http_body_pace.h"

#include <algorithm>
#include <limits>
#include <string>

namespace tandem::http {

namespace {

std::string Seconds(int64_t us) {
  // Tenths of a second: "20 s", "0.3 s".
  const int64_t tenths = (us + 50'000) / 100'000;
  std::string out = std::to_string(tenths / 10);
  if (tenths % 10 != 0) out += "." + std::to_string(tenths % 10);
  return out + " s";
}

}  // namespace

BodyPace::BodyPace(int64_t min_bytes_per_s, int64_t window_ms)
    : min_bytes_per_s_(std::max<int64_t>(min_bytes_per_s, 0)),
      window_us_(std::clamp<int64_t>(window_ms, 0, std::numeric_limits<int64_t>::max() / 1000) *
                 1000),
      quota_(0) {
  if (min_bytes_per_s_ > 0 && window_us_ > 0) {
    // Rounded up, at least one byte (a tiny window still needs progress).
    const int64_t ms = window_us_ / 1000;
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    quota_ = min_bytes_per_s_ > (kMax - 999) / ms
                 ? kMax
                 : std::max<int64_t>((min_bytes_per_s_ * ms + 999) / 1000, 1);
  }
}

void BodyPace::Start(int64_t now_us, int64_t received, int64_t deadline_us) {
  body_start_us_ = now_us;
  window_start_us_ = now_us;
  window_start_bytes_ = received;
  deadline_us_ = deadline_us;
}

int64_t BodyPace::next_check_us() const {
  if (quota_ == 0) return deadline_us_;
  const int64_t window_end = window_start_us_ > std::numeric_limits<int64_t>::max() - window_us_
                                 ? std::numeric_limits<int64_t>::max()
                                 : window_start_us_ + window_us_;
  return std::min(window_end, deadline_us_);
}

Status BodyPace::Check(int64_t now_us, int64_t received) {
  if (now_us >= deadline_us_) {
    return DeadlineExceededError("request not received in time: " + std::to_string(received) +
                                 " body bytes in " + Seconds(now_us - body_start_us_) +
                                 " when the whole request was due");
  }
  if (quota_ == 0 || now_us < window_start_us_ + window_us_) return OkStatus();
  const int64_t got = received - window_start_bytes_;
  if (got < quota_) {
    return DeadlineExceededError("request body too slow: " + std::to_string(got) +
                                 " bytes in the last " + Seconds(now_us - window_start_us_) +
                                 ", the minimum is " + std::to_string(min_bytes_per_s_) +
                                 " bytes/s (" + std::to_string(quota_) + " bytes per " +
                                 Seconds(window_us_) + ")");
  }
  window_start_us_ = now_us;
  window_start_bytes_ = received;
  return OkStatus();
}

}  // namespace tandem::http
