// Process plumbing for the fleet supervisor: start a detached replica
// process (own session and process group, no inherited fds, output to a log
// file) and recognize it later by pid + kernel start time.
// Thread-safety: the functions are thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace tandem::serving::fleet {

// Starts argv[0] (an absolute path) with `argv` through common/subprocess.h,
// in a new session (setsid: it outlives the caller's process group), stdin
// /dev/null, stdout+stderr appended to `log_path`, no other descriptor but
// `pass_fd` (if >= 0) as descriptor 3, default signal dispositions and an
// empty signal mask. Returns its pid.
[[nodiscard]] StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv,
                                            const std::string& log_path, int pass_fd = -1);

// The last non-empty line of a replica's log `path` (at most 300
// characters, read from its last 4 KiB), "" if none: why it exited.
std::string LastLogLine(const std::string& path);

// The descriptor number a replica receives its deployment's listening socket as.
inline constexpr int kReplicaListenFd = 3;

// A deployment's listening socket, owned by the supervisor and inherited by
// every replica it starts: all of them accept from its one queue, so a
// replica that drains just stops accepting and nothing queued is lost.
// (Closing one socket of a SO_REUSEPORT group would reset the connections
// the kernel had queued on it.) SO_REUSEPORT is still set so that replicas
// of an older supervisor, or started with their own socket, can share the port.
class ListeningSocket {
 public:
  ListeningSocket() = default;
  ListeningSocket(ListeningSocket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  ListeningSocket& operator=(ListeningSocket&& other) noexcept;
  ListeningSocket(const ListeningSocket&) = delete;
  ListeningSocket& operator=(const ListeningSocket&) = delete;
  ~ListeningSocket();

  // Binds host:port (a numeric address or a name) and listens.
  static StatusOr<ListeningSocket> Open(const std::string& host, int port);
  // Takes back the socket a live replica `pid` holds as kReplicaListenFd
  // (pidfd_getfd; needs permission to ptrace it), if it listens on `port`:
  // how a restarted supervisor rejoins the replicas it re-adopts.
  static StatusOr<ListeningSocket> FromReplica(pid_t pid, int port);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }

 private:
  explicit ListeningSocket(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// The process's start time (clock ticks since boot, /proc/PID/stat field 22);
// NotFound if there is no such process or it is a zombie. Reaps `pid` first
// if it is an exited child of this process.
StatusOr<int64_t> ProcessStartTime(pid_t pid);

// True if `pid` is alive and started at `start_time` (not a recycled pid).
bool ProcessMatches(pid_t pid, int64_t start_time);

// A free TCP port on 127.0.0.1 (bound and released; racy but fine locally).
StatusOr<int> PickFreePort();

}  // namespace tandem::serving::fleet
