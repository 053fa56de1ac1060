// DirectConn (nats_direct.h) against a scripted fake server on loopback: the
// handshake, frames split across reads, status lines, PING answers, and the
// refusals (TLS/credentials) and malformed input that must fail clearly.
// The real-server behaviour is covered by bus_nats_test, whose every publish,
// pull and ack goes through DirectConn.
#include "glue/bus/nats_direct.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace tandem::bus {
namespace {

// One-connection fake NATS server; `script` runs on the accepted socket.
class FakeServer {
 public:
  explicit FakeServer(std::function<void(int fd)> script) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 1), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, script] {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      script(fd);
      ::close(fd);
    });
  }
  ~FakeServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

void Send(int fd, const std::string& s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), 0), (ssize_t)s.size());
}

// Reads until `want` was seen (or the peer closed); returns all read.
std::string ReadUntil(int fd, const std::string& want) {
  std::string got;
  char buf[4096];
  while (got.find(want) == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

constexpr char kInfo[] = "INFO {\"server_id\":\"x\",\"headers\":true,\"max_payload\":1048576}\r\n";

TEST(DirectConnTest, HandshakeFramesStatusesAndPings) {
  std::string client_said;  // read once the server thread ended
  std::string inbox;
  {
    FakeServer server([&](int fd) {
      Send(fd, kInfo);
      client_said = ReadUntil(fd, "PING\r\n");
      Send(fd, "PONG\r\n");
      // A plain message, split in the middle of its line and of its payload.
      Send(fd, "MSG a.b 1 rep");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      Send(fd, "ly.x 5\r\nhel");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      Send(fd, "lo\r\n");
      // A server PING in between, then a message with headers and a status.
      Send(fd, "PING\r\n");
      const std::string hdr = "NATS/1.0\r\nTandem-Message-Id: m-1\r\nK:  v v \r\n\r\n";
      Send(fd, "HMSG s.t 1 ack.1 " + std::to_string(hdr.size()) + " " +
                   std::to_string(hdr.size() + 4) + "\r\n" + hdr + "body\r\n");
      const std::string status = "NATS/1.0 404 No Messages\r\n\r\n";
      Send(fd, "HMSG _INBOX.z.3 1 " + std::to_string(status.size()) + " " +
                   std::to_string(status.size()) + "\r\n" + status + "\r\n");
      client_said += ReadUntil(fd, "PONG\r\n");
      ReadUntil(fd, "never");  // until the client closes
    });
    auto c = DirectConn::Dial("127.0.0.1", server.port(), 5000);
    ASSERT_TRUE(c.ok()) << c.status();
    inbox = (*c)->inbox_prefix();

    auto m = (*c)->Next(5000);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->subject, "a.b");
    EXPECT_EQ(m->reply, "reply.x");
    EXPECT_EQ(m->data, "hello");
    EXPECT_TRUE(m->status.empty());

    m = (*c)->Next(5000);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->reply, "ack.1");
    EXPECT_EQ(m->data, "body");
    ASSERT_NE(m->Header("Tandem-Message-Id"), nullptr);
    EXPECT_EQ(*m->Header("Tandem-Message-Id"), "m-1");
    EXPECT_EQ(*m->Header("K"), "v v");
    EXPECT_EQ(m->Header("Missing"), nullptr);

    m = (*c)->Next(5000);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->subject, "_INBOX.z.3");
    EXPECT_EQ(m->status, "404");
    EXPECT_EQ(m->description, "No Messages");
    EXPECT_TRUE(m->reply.empty());
    EXPECT_TRUE(m->data.empty());

    // Nothing more: a timeout, and the connection stays usable.
    m = (*c)->Next(50);
    EXPECT_EQ(m.status().code(), StatusCode::kDeadlineExceeded);
    EXPECT_TRUE((*c)->healthy());

    c->reset();  // closes: the server's script ends
  }
  EXPECT_NE(client_said.find("CONNECT {"), std::string::npos);
  EXPECT_NE(client_said.find("\"headers\":true"), std::string::npos);
  EXPECT_NE(client_said.find("SUB " + inbox + "* 1\r\n"), std::string::npos);
  EXPECT_NE(client_said.find("PONG\r\n"), std::string::npos);  // the PING was answered
}

TEST(DirectConnTest, WrittenFramesAreWhatTheProtocolSays) {
  std::string got;  // read once the server thread ended
  {
    FakeServer server([&](int fd) {
      Send(fd, kInfo);
      ReadUntil(fd, "PING\r\n");
      Send(fd, "PONG\r\n");
      got = ReadUntil(fd, "de\r\n");
    });
    auto c = DirectConn::Dial("127.0.0.1", server.port(), 5000);
    ASSERT_TRUE(c.ok()) << c.status();
    (*c)->Pub("x.y", "r.1", {}, "abc");
    (*c)->Pub("x.z", "", {{"Nats-Msg-Id", "id-1"}}, "de");
    ASSERT_TRUE((*c)->Flush().ok());
    c->reset();
  }
  const std::string hdr = "NATS/1.0\r\nNats-Msg-Id: id-1\r\n\r\n";
  EXPECT_EQ(got, "PUB x.y r.1 3\r\nabc\r\nHPUB x.z " + std::to_string(hdr.size()) + " " +
                     std::to_string(hdr.size() + 2) + "\r\n" + hdr + "de\r\n");
}

TEST(DirectConnTest, ServersWantingTlsOrCredentialsAreLeftToLibnats) {
  for (const char* info :
       {"INFO {\"headers\":true,\"auth_required\":true}\r\n",
        "INFO {\"headers\":true,\"tls_required\":true}\r\n", "INFO {\"headers\":false}\r\n"}) {
    FakeServer server([&](int fd) {
      Send(fd, info);
      ReadUntil(fd, "never");
    });
    auto c = DirectConn::Dial("127.0.0.1", server.port(), 5000);
    EXPECT_EQ(c.status().code(), StatusCode::kUnimplemented) << info;
  }
}

TEST(DirectConnTest, BadGreetingsAndRefusalsFailClearly) {
  {
    FakeServer server([&](int fd) { Send(fd, "HELLO\r\n"); });
    auto c = DirectConn::Dial("127.0.0.1", server.port(), 5000);
    EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(c.status().message().find("INFO"), std::string::npos) << c.status();
  }
  {
    FakeServer server([&](int fd) {
      Send(fd, kInfo);
      ReadUntil(fd, "PING\r\n");
      Send(fd, "-ERR 'Authorization Violation'\r\n");
    });
    auto c = DirectConn::Dial("127.0.0.1", server.port(), 5000);
    EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(c.status().message().find("Authorization Violation"), std::string::npos);
  }
  {
    FakeServer server([&](int fd) {
      Send(fd, kInfo);
      ReadUntil(fd, "PING\r\n");  // and never answer
      ReadUntil(fd, "never");
    });
    auto c = DirectConn::Dial("127.0.0.1", server.port(), 200);
    EXPECT_EQ(c.status().code(), StatusCode::kDeadlineExceeded);
  }
}

TEST(DirectConnTest, MalformedFramesAndServerErrorsMakeTheConnectionUnhealthy) {
  for (const std::string& bad :
       {std::string("MSG a 1 notanumber\r\n"), std::string("MSG a\r\n"),
        std::string("HMSG a 1 r 10 5\r\n"),  // headers longer than all
        std::string("WHAT is this\r\n"), std::string("-ERR 'Maximum Payload Violation'\r\n"),
        std::string("HMSG a 1 6 6\r\nBAD/1\r\n\r\n")}) {
    FakeServer server([&](int fd) {
      Send(fd, kInfo);
      ReadUntil(fd, "PING\r\n");
      Send(fd, "PONG\r\n" + bad);
      ReadUntil(fd, "never");
    });
    auto c = DirectConn::Dial("127.0.0.1", server.port(), 5000);
    ASSERT_TRUE(c.ok()) << c.status();
    auto m = (*c)->Next(2000);
    EXPECT_EQ(m.status().code(), StatusCode::kUnavailable) << bad;
    EXPECT_FALSE((*c)->healthy()) << bad;
  }
  // The server going away mid-frame.
  FakeServer server([&](int fd) {
    Send(fd, kInfo);
    ReadUntil(fd, "PING\r\n");
    Send(fd, "PONG\r\nMSG a 1 10\r\nabc");
  });
  auto c = DirectConn::Dial("127.0.0.1", server.port(), 5000);
  ASSERT_TRUE(c.ok()) << c.status();
  auto m = (*c)->Next(2000);
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable) << m.status();
  EXPECT_FALSE((*c)->healthy());
}

TEST(DirectConnTest, NoServerIsUnavailable) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);  // bound, never listening: nobody there
  auto c = DirectConn::Dial("127.0.0.1", port, 1000);
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable) << c.status();
}

}  // namespace
}  // namespace tandem::bus
