#include "serving/fleet/replica_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/subprocess.h"

namespace tandem::serving::fleet {

StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty()) return InvalidArgumentError("empty command line");
  subprocess::SpawnOptions options;
  options.argv = argv;
  options.new_session = true;
  options.out = subprocess::Redirect::File(log_path);
  options.err = subprocess::Redirect::File(log_path);
  return subprocess::Spawn(options);
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
