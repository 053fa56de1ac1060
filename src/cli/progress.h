// Progress for long waits (a job running, a rollout, a tuning run): on a
// terminal, one line redrawn in place — spinner, elapsed time, label, state;
// elsewhere (pipes, CI logs) plain lines, one per state change, so logs stay
// readable and diffable.
//
//   Progress p(std::cerr, Progress::IsTerminal(2), "job 01jf...", Clock::Real());
//   while (...) { p.Update(state); p.Tick(); sleep; }
//   p.Done("Completed");
//
// Not thread-safe: one waiting loop owns it.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "common/clock.h"

namespace tandem::cli {

class Progress {
 public:
  // `clock` must outlive the progress display.
  Progress(std::ostream& out, bool tty, std::string label, Clock& clock);
  ~Progress();  // Ends an unfinished terminal line so later output starts clean.
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Whether file descriptor `fd` is a terminal (and TERM is not "dumb").
  static bool IsTerminal(int fd);
  // "0.4s", "12.3s", "2m05s", "1h02m".
  static std::string FormatElapsed(int64_t micros);

  // Sets the current state. Non-TTY: prints "[elapsed] label: state" when the
  // state differs from the last one printed. TTY: redraws the line.
  void Update(const std::string& state);
  // TTY: advances the spinner and redraws (elapsed time moves). Non-TTY: nothing.
  void Tick();
  // TTY: erases the line so other output (e.g. a log chunk) can be printed;
  // the next Update/Tick draws it again. Non-TTY: nothing.
  void Clear();
  // The final state: TTY ends the line with it ("✓"/"✗" not used: plain
  // text); non-TTY prints it as a last line unless it is already the last
  // line printed (a state is never printed twice in a row).
  void Done(const std::string& final_state);

 private:
  void Draw();

  std::ostream& out_;
  bool tty_;
  std::string label_;
  Clock& clock_;
  int64_t start_micros_;
  std::string state_;
  std::string printed_state_;
  bool drawn_ = false;  // TTY: a line is on screen without a newline
  bool done_ = false;
  size_t frame_ = 0;
  size_t width_ = 0;  // TTY: length of the line on screen
};

}  // namespace tandem::cli
