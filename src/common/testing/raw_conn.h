// A blocking raw TCP connection to 127.0.0.1 for HTTP server tests: bytes
// sent exactly as given (pipelined, split, malformed), responses read back
// with a generous receive timeout so that a broken server fails the test
// instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace tandem::testing {

class RawConn {
 public:
  explicit RawConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;
  ~RawConn() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }

  void Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Sends `GET path` (HTTP/1.1, Host: x) and reads its response as
  // ReadResponse does.
  std::string Get(std::string_view path) {
    Send("GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    return ReadResponse();
  }

  // Reads one response with a Content-Length body (or until EOF) and returns
  // it whole; what was read so far on EOF or timeout ("" if nothing).
  std::string ReadResponse() {
    while (buf_.find("\r\n\r\n") == std::string::npos) {
      if (!Fill()) return std::exchange(buf_, "");
    }
    const size_t header_end = buf_.find("\r\n\r\n") + 4;
    const size_t length = ContentLength(buf_.substr(0, header_end));
    while (buf_.size() < header_end + length) {
      if (!Fill()) break;
    }
    std::string out = buf_.substr(0, header_end + length);
    buf_.erase(0, header_end + length);
    return out;
  }

  // Reads one response as its head (through the blank line) and its
  // Content-Length body (none for a response to HEAD); both empty on EOF or
  // timeout before the response is complete.
  std::pair<std::string, std::string> ReadHeadAndBody(bool head_request = false) {
    while (buf_.find("\r\n\r\n") == std::string::npos) {
      if (!Fill()) return {};
    }
    const size_t end = buf_.find("\r\n\r\n") + 4;
    std::string head = buf_.substr(0, end);
    const size_t length = head_request ? 0 : ContentLength(head);
    while (buf_.size() < end + length) {
      if (!Fill()) return {};
    }
    std::string body = buf_.substr(end, length);
    buf_.erase(0, end + length);
    return {head, body};
  }

  // Reads until the peer closes; returns everything read. `closed` tells
  // whether EOF was seen (false: the 10 s timeout hit).
  std::string ReadUntilClosed(bool* closed) {
    while (Fill()) {
    }
    *closed = eof_;
    return std::exchange(buf_, "");
  }

  // Returns what is buffered, reading once if nothing is.
  std::string ReadSome() {
    if (buf_.empty()) Fill();
    return std::exchange(buf_, "");
  }

  // No unread byte buffered.
  bool Idle() const { return buf_.empty(); }

 private:
  static size_t ContentLength(const std::string& head) {
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t cl = lower.find("content-length:");
    return cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15));
  }
  bool Fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n == 0) eof_ = true;
    if (n < 0 && errno == ECONNRESET) eof_ = true;
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

}  // namespace tandem::testing
