#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tandem::cli {
namespace {

constexpr std::string_view kSpinner = "|/-\\";

}  // namespace

Progress::Progress(std::ostream& out, bool tty, std::string label, Clock& clock)
    : out_(out),
      tty_(tty),
      label_(std::move(label)),
      clock_(clock),
      start_micros_(clock.MonotonicMicros()) {}

Progress::~Progress() {
  if (tty_ && drawn_) out_ << "\n" << std::flush;
}

bool Progress::IsTerminal(int fd) {
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") return false;
  return ::isatty(fd) == 1;
}

std::string Progress::FormatElapsed(int64_t micros) {
  if (micros < 0) micros = 0;
  char buf[32];
  int64_t s = micros / 1'000'000;
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(micros) / 1e6);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  }
  return buf;
}

void Progress::Update(const std::string& state) {
  if (done_) return;
  state_ = state;
  if (tty_) return Draw();
  if (state_ == printed_state_) return;
  printed_state_ = state_;
  out_ << "[" << FormatElapsed(clock_.MonotonicMicros() - start_micros_) << "] " << label_ << ": "
       << state_ << "\n"
       << std::flush;
}

void Progress::Tick() {
  if (!tty_ || done_) return;
  ++frame_;
  Draw();
}

void Progress::Clear() {
  if (!tty_ || !drawn_) return;
  out_ << "\r" << std::string(width_, ' ') << "\r" << std::flush;
  drawn_ = false;
  width_ = 0;
}

void Progress::Draw() {
  std::string line = std::string(1, kSpinner[frame_ % kSpinner.size()]) + " " +
                     FormatElapsed(clock_.MonotonicMicros() - start_micros_) + "  " + label_ +
                     ": " + state_;
  std::string pad = line.size() < width_ ? std::string(width_ - line.size(), ' ') : "";
  out_ << "\r" << line << pad << std::flush;
  width_ = line.size();
  drawn_ = true;
}

void Progress::Done(const std::string& final_state) {
  if (done_) return;
  done_ = true;
  std::string elapsed = FormatElapsed(clock_.MonotonicMicros() - start_micros_);
  if (tty_) {
    Clear();
    out_ << label_ << ": " << final_state << " after " << elapsed << "\n" << std::flush;
    return;
  }
  if (final_state == printed_state_) return;  // already the last line
  out_ << "[" << elapsed << "] " << label_ << ": " << final_state << "\n" << std::flush;
}

}  // namespace tandem::cli
