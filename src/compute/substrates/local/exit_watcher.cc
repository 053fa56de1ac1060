#include "compute/substrates/local/exit_watcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "compute/substrates/runner/proc_stats.h"

namespace tandem::compute::local {

namespace {

int PidfdOpen(int pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

StatusOr<std::unique_ptr<ExitWatcher>> ExitWatcher::Create(std::function<void()> on_exit) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return InternalError(std::string("epoll_create1: ") + std::strerror(errno));
  int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    close(ep);
    return InternalError(std::string("eventfd: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = stop;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, stop, &ev) != 0) {
    std::string error = std::string("epoll_ctl: ") + std::strerror(errno);
    close(stop);
    close(ep);
    return InternalError(error);
  }
  std::unique_ptr<ExitWatcher> w(new ExitWatcher(std::move(on_exit), ep, stop));
  w->thread_ = std::thread([raw = w.get()] { raw->Run(); });
  return w;
}

ExitWatcher::ExitWatcher(std::function<void()> on_exit, int epoll_fd, int stop_fd)
    : on_exit_(std::move(on_exit)), epoll_fd_(epoll_fd), stop_fd_(stop_fd) {}

ExitWatcher::~ExitWatcher() {
  uint64_t one = 1;
  ssize_t ignored = write(stop_fd_, &one, sizeof one);
  (void)ignored;
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  for (const auto& [fd, key] : by_fd_) close(fd);
  close(stop_fd_);
  close(epoll_fd_);
}

bool ExitWatcher::Watch(const std::string& key, int pid, uint64_t start_ticks) {
  absl::MutexLock lock(&mu_);
  if (keys_.count(key) > 0) return true;
  int fd = PidfdOpen(pid);
  if (fd < 0) return false;
  // The pidfd is the process that had `pid` when it was opened: if that is
  // still the one we mean, its exit is what the pidfd reports.
  if (!runner::IsSameLiveProcess(pid, start_ticks)) {
    close(fd);
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    return false;
  }
  keys_.insert(key);
  by_fd_[fd] = key;
  return true;
}

size_t ExitWatcher::watching() const {
  absl::MutexLock lock(&mu_);
  return by_fd_.size();
}

bool ExitWatcher::Watching(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  return keys_.count(key) > 0;
}

void ExitWatcher::Run() {
  std::vector<epoll_event> events(64);
  while (true) {
    int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    bool exited = false;
    for (int i = 0; i < n; ++i) {
      int fd = events[static_cast<size_t>(i)].data.fd;
      if (fd == stop_fd_) return;
      absl::MutexLock lock(&mu_);
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
      close(fd);
      if (auto it = by_fd_.find(fd); it != by_fd_.end()) {
        keys_.erase(it->second);
        by_fd_.erase(it);
      }
      exited = true;
    }
    if (exited) on_exit_();
  }
}

}  // namespace tandem::compute::local
