#include "serving/fleet/replica_process.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/subprocess.h"

namespace tandem::serving::fleet {

StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv, const std::string& log_path,
                              int pass_fd) {
  if (argv.empty()) return InvalidArgumentError("empty command line");
  subprocess::SpawnOptions options;
  options.argv = argv;
  options.new_session = true;
  options.out = subprocess::Redirect::File(log_path);
  options.err = subprocess::Redirect::File(log_path);
  if (pass_fd >= 0) options.keep_fds = {{kReplicaListenFd, pass_fd}};
  return subprocess::Spawn(options);
}

std::string LastLogLine(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff from = std::max<std::streamoff>(0, size - 4096);
  in.seekg(from);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r' || tail.back() == ' ')) {
    tail.pop_back();
  }
  size_t nl = tail.rfind('\n');
  std::string line = nl == std::string::npos ? tail : tail.substr(nl + 1);
  if (line.size() > 300) line = line.substr(0, 297) + "...";
  return line;
}

ListeningSocket& ListeningSocket::operator=(ListeningSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

ListeningSocket::~ListeningSocket() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<ListeningSocket> ListeningSocket::Open(const std::string& host, int port) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return UnavailableError("cannot resolve listen address " + where + ": " + ::gai_strerror(rc));
  }
  auto fail = [&](const char* what) {
    Status s =
        UnavailableError(std::string("cannot ") + what + " " + where + ": " + std::strerror(errno));
    ::freeaddrinfo(found);
    return s;
  };
  ListeningSocket sock(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return fail("open a socket for");
  int one = 1;
  if (::setsockopt(sock.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      ::setsockopt(sock.fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    return fail("set SO_REUSEPORT on");
  }
  if (::bind(sock.fd_, found->ai_addr, found->ai_addrlen) != 0) return fail("bind");
  if (::listen(sock.fd_, SOMAXCONN) != 0) return fail("listen on");
  ::freeaddrinfo(found);
  return sock;
}

StatusOr<ListeningSocket> ListeningSocket::FromReplica(pid_t pid, int port) {
  const std::string who = "replica " + std::to_string(pid);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return UnavailableError(who + ": pidfd_open: " + std::strerror(errno));
  ListeningSocket sock(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, kReplicaListenFd, 0)));
  int err = errno;
  ::close(pidfd);
  if (!sock.valid()) return UnavailableError(who + ": pidfd_getfd: " + std::strerror(err));
  int listening = 0;
  socklen_t len = sizeof(listening);
  sockaddr_storage addr{};
  socklen_t alen = sizeof(addr);
  if (::getsockopt(sock.fd_, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening ||
      ::getsockname(sock.fd_, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) {
    return FailedPreconditionError(who + " holds no listening socket as descriptor 3");
  }
  int bound = addr.ss_family == AF_INET6
                  ? ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port)
                  : ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (bound != port) {
    return FailedPreconditionError(who + "'s descriptor 3 listens on port " +
                                   std::to_string(bound) + ", not " + std::to_string(port));
  }
  return sock;
}

StatusOr<int64_t> ProcessStartTime(pid_t pid) {
  if (pid <= 0) return NotFoundError("no process " + std::to_string(pid));
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) < 0 && errno == EINTR) {
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');
  if (!in.good() && text.empty()) return NotFoundError("no process " + std::to_string(pid));
  if (close == std::string::npos) return NotFoundError("no process " + std::to_string(pid));
  // After "pid (comm) ": field 3 is the state, field 22 the start time.
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  std::string state;
  int64_t start = -1;
  for (int i = 3; i <= 22 && (rest >> field); ++i) {
    if (i == 3) state = field;
    if (i == 22) start = std::stoll(field);
  }
  if (state == "Z" || state == "X" || start < 0) {
    return NotFoundError("process " + std::to_string(pid) + " has exited");
  }
  return start;
}

bool ProcessMatches(pid_t pid, int64_t start_time) {
  auto s = ProcessStartTime(pid);
  return s.ok() && *s == start_time;
}

StatusOr<int> PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return UnavailableError(std::string("cannot pick a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace tandem::serving::fleet
