#include "glue/bus/nats_direct.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "common/json.h"

namespace tandem::bus {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxLine = 64 * 1024;  // INFO lines are a few hundred bytes

std::string RandomToken() {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string out(22, '0');
  for (char& c : out) c = kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return out;
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool ParseSize(std::string_view s, size_t* out) {
  if (s.empty() || s.size() > 12) return false;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *out = v;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "NATS/1.0[ <status>[ <description>]]\r\nKey: Value\r\n...\r\n\r\n"
bool ParseHeaders(std::string_view block, WireMsg* m) {
  size_t eol = block.find("\r\n");
  if (eol == std::string_view::npos) return false;
  std::string_view first = block.substr(0, eol);
  if (first.substr(0, 8) != "NATS/1.0") return false;
  std::string_view rest = Trim(first.substr(8));
  if (!rest.empty()) {
    const size_t sp = rest.find(' ');
    m->status = std::string(rest.substr(0, sp));
    if (sp != std::string_view::npos) m->description = std::string(Trim(rest.substr(sp + 1)));
  }
  size_t pos = eol + 2;
  while (pos < block.size()) {
    eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = block.size();
    std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    m->headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                            std::string(Trim(line.substr(colon + 1))));
  }
  return true;
}

}  // namespace

const std::string* WireMsg::Header(std::string_view key) const {
  for (const auto& [k, v] : headers) {
    if (k == key) return &v;
  }
  return nullptr;
}

DirectConn::~DirectConn() {
  if (fd_ >= 0) ::close(fd_);
}

Status DirectConn::Fail(Status s) {
  healthy_ = false;
  return s;
}

StatusOr<std::unique_ptr<DirectConn>> DirectConn::Dial(const std::string& host, int port,
                                                       int64_t timeout_ms) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
    return UnavailableError("nats: resolve " + where + ": " + gai_strerror(rc));
  }
  std::unique_ptr<DirectConn> c(new DirectConn());
  int err = 0;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    // Bounds connect() and every later send() (a peer that stops reading).
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_ms / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout_ms % 1000) * 1000);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      c->fd_ = fd;
      break;
    }
    err = errno;
    ::close(fd);
  }
  freeaddrinfo(res);
  if (c->fd_ < 0) return UnavailableError("nats: connect to " + where + ": " + std::strerror(err));
  int one = 1;
  setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  const auto until = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  std::string line;
  ASSIGN_OR_RETURN(bool got, c->ReadLine(&line, until));
  if (!got || line.compare(0, 5, "INFO ") != 0) {
    return UnavailableError("nats: " + where + " did not greet with INFO");
  }
  auto info = ParseJson(line.substr(5));
  if (!info.ok() || !info->is_object()) {
    return UnavailableError("nats: " + where + " sent a malformed INFO");
  }
  if (info->value("tls_required", false) || info->value("auth_required", false)) {
    return UnimplementedError("nats: " + where + " requires TLS or credentials");
  }
  if (!info->value("headers", false)) {
    return UnimplementedError("nats: " + where + " does not support headers");
  }
  c->inbox_prefix_ = "_INBOX." + RandomToken() + ".";
  const Json connect{{"verbose", false}, {"pedantic", false},     {"tls_required", false},
                     {"headers", true},  {"no_responders", true}, {"protocol", 1},
                     {"lang", "tandem"}, {"version", "1"},        {"name", "tandem-bus-direct"},
                     {"echo", true}};
  c->out_ = "CONNECT " + connect.dump() + "\r\nSUB " + c->inbox_prefix_ + "* 1\r\nPING\r\n";
  RETURN_IF_ERROR(c->Flush());
  while (true) {
    ASSIGN_OR_RETURN(got, c->ReadLine(&line, until));
    if (!got) return DeadlineExceededError("nats: " + where + " did not answer the handshake");
    if (line == "PONG") break;
    if (line.compare(0, 4, "-ERR") == 0) {
      return UnavailableError("nats: " + where + " refused the connection: " + line);
    }
    if (line == "PING") {
      c->out_ += "PONG\r\n";
      RETURN_IF_ERROR(c->Flush());
    }
    // +OK, INFO: nothing to do.
  }
  c->last_used_ = SteadyClock::now();
  return c;
}

void DirectConn::Pub(std::string_view subject, std::string_view reply,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::string_view payload) {
  std::string_view sep = reply.empty() ? "" : " ";
  if (headers.empty()) {
    out_.append("PUB ").append(subject).append(sep).append(reply).append(" ");
    out_.append(std::to_string(payload.size())).append("\r\n");
  } else {
    std::string hdr = "NATS/1.0\r\n";
    for (const auto& [k, v] : headers) hdr.append(k).append(": ").append(v).append("\r\n");
    hdr.append("\r\n");
    out_.append("HPUB ").append(subject).append(sep).append(reply).append(" ");
    out_.append(std::to_string(hdr.size())).append(" ");
    out_.append(std::to_string(hdr.size() + payload.size())).append("\r\n").append(hdr);
  }
  out_.append(payload).append("\r\n");
}

Status DirectConn::Flush() {
  size_t done = 0;
  while (done < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + done, out_.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      out_.clear();
      return Fail(UnavailableError(std::string("nats: write: ") + std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  out_.clear();
  last_used_ = SteadyClock::now();
  return OkStatus();
}

StatusOr<bool> DirectConn::Fill(SteadyClock::time_point until) {
  if (in_pos_ > 0 && in_pos_ >= in_.size() / 2) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left)));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Fail(UnavailableError(std::string("nats: poll: ") + std::strerror(errno)));
    }
    if (rc == 0) return false;
    const size_t old = in_.size();
    in_.resize(old + kReadChunk);
    ssize_t n = ::recv(fd_, in_.data() + old, kReadChunk, 0);
    if (n < 0) {
      in_.resize(old);
      if (errno == EINTR || errno == EAGAIN) continue;
      return Fail(UnavailableError(std::string("nats: read: ") + std::strerror(errno)));
    }
    in_.resize(old + static_cast<size_t>(n));
    if (n == 0) return Fail(UnavailableError("nats: the server closed the connection"));
    return true;
  }
}

StatusOr<bool> DirectConn::ReadLine(std::string* line, SteadyClock::time_point until) {
  while (true) {
    const size_t eol = in_.find("\r\n", in_pos_);
    if (eol != std::string::npos) {
      line->assign(in_, in_pos_, eol - in_pos_);
      in_pos_ = eol + 2;
      return true;
    }
    if (in_.size() - in_pos_ > kMaxLine) {
      return Fail(UnavailableError("nats: protocol line too long"));
    }
    ASSIGN_OR_RETURN(bool more, Fill(until));
    if (!more) return false;
  }
}

StatusOr<WireMsg> DirectConn::Next(int64_t timeout_ms) {
  const auto until = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    // A frame is consumed only once it is complete, so a timeout leaves the
    // connection usable.
    const size_t eol = in_.find("\r\n", in_pos_);
    if (eol == std::string::npos) {
      if (in_.size() - in_pos_ > kMaxLine) {
        return Fail(UnavailableError("nats: protocol line too long"));
      }
      ASSIGN_OR_RETURN(bool more, Fill(until));
      if (!more) return DeadlineExceededError("nats: no reply within the wait");
      continue;
    }
    const std::string_view line(in_.data() + in_pos_, eol - in_pos_);
    const auto tok = Split(line);
    if (tok.empty()) {
      in_pos_ = eol + 2;
      continue;
    }
    if (tok[0] == "PING") {
      in_pos_ = eol + 2;
      out_ += "PONG\r\n";
      RETURN_IF_ERROR(Flush());
      continue;
    }
    if (tok[0] == "PONG" || tok[0] == "+OK" || tok[0] == "INFO") {
      in_pos_ = eol + 2;
      continue;
    }
    if (tok[0] == "-ERR") {
      const std::string text(line);
      in_pos_ = eol + 2;
      return Fail(UnavailableError("nats: server error: " + text));
    }
    const bool hmsg = tok[0] == "HMSG";
    if (!hmsg && tok[0] != "MSG") {
      return Fail(UnavailableError("nats: unexpected protocol line '" + std::string(line) + "'"));
    }
    // MSG <subject> <sid> [reply] <len> / HMSG <subject> <sid> [reply] <hlen> <len>
    const size_t fixed = hmsg ? 6 : 5;  // with a reply subject
    size_t hlen = 0, len = 0;
    if ((tok.size() != fixed && tok.size() != fixed - 1) || !ParseSize(tok.back(), &len) ||
        (hmsg && !ParseSize(tok[tok.size() - 2], &hlen)) || hlen > len) {
      return Fail(UnavailableError("nats: malformed message line '" + std::string(line) + "'"));
    }
    const size_t body = eol + 2;
    if (in_.size() < body + len + 2) {
      ASSIGN_OR_RETURN(bool more, Fill(until));
      if (!more) return DeadlineExceededError("nats: no reply within the wait");
      continue;
    }
    WireMsg m;
    m.subject = std::string(tok[1]);
    if (tok.size() == fixed) m.reply = std::string(tok[3]);
    if (hmsg && !ParseHeaders(std::string_view(in_.data() + body, hlen), &m)) {
      return Fail(UnavailableError("nats: malformed message headers"));
    }
    m.data.assign(in_, body + hlen, len - hlen);
    in_pos_ = body + len + 2;
    last_used_ = SteadyClock::now();
    return m;
  }
}

}  // namespace tandem::bus
