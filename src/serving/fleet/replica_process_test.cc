#include "serving/fleet/replica_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tandem::serving::fleet {
namespace {

// A child that only sleeps, holding whatever descriptor 3 it was given.
pid_t Sleeper(int pass_fd) {
  std::string log = (std::filesystem::temp_directory_path() / "tandem-replica-process-test.log");
  auto pid = SpawnDetached({"/bin/sleep", "30"}, log, pass_fd);
  EXPECT_TRUE(pid.ok()) << pid.status();
  return pid.ok() ? *pid : -1;
}

void Reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST(ListeningSocketTest, ReplicasInheritItAndASupervisorTakesItBack) {
  auto port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  auto sock = ListeningSocket::Open("127.0.0.1", *port);
  ASSERT_TRUE(sock.ok()) << sock.status();
  ASSERT_TRUE(sock->valid());
  // SO_REUSEPORT: replicas that bind their own socket can still share the port.
  auto second = ListeningSocket::Open("127.0.0.1", *port);
  EXPECT_TRUE(second.ok()) << second.status();

  pid_t holder = Sleeper(sock->fd());
  ASSERT_GT(holder, 0);
  auto back = ListeningSocket::FromReplica(holder, *port);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->valid());
  EXPECT_NE(back->fd(), sock->fd());
  auto wrong_port = ListeningSocket::FromReplica(holder, *port == 65535 ? 1 : *port + 1);
  EXPECT_EQ(wrong_port.status().code(), StatusCode::kFailedPrecondition) << wrong_port.status();
  Reap(holder);

  pid_t without = Sleeper(-1);
  ASSERT_GT(without, 0);
  auto none = ListeningSocket::FromReplica(without, *port);
  EXPECT_FALSE(none.ok());
  Reap(without);

  // Moving transfers ownership; the moved-from socket is empty.
  ListeningSocket moved = std::move(*sock);
  EXPECT_TRUE(moved.valid());
  EXPECT_FALSE(sock->valid());
}

TEST(LastLogLineTest, LastNonEmptyLineShortened) {
  std::string path =
      (std::filesystem::temp_directory_path() / "tandem-last-log-line-test.log").string();
  std::ofstream(path) << "first\nsecond line\n\n  \n";
  EXPECT_EQ(LastLogLine(path), "second line");
  std::ofstream(path) << std::string(400, 'x') << "\n";
  EXPECT_EQ(LastLogLine(path), std::string(297, 'x') + "...");
  std::filesystem::remove(path);
  EXPECT_EQ(LastLogLine(path), "");
}

TEST(ListeningSocketTest, BadAddressIsAClearError) {
  auto sock = ListeningSocket::Open("no-such-host.invalid", 8080);
  ASSERT_FALSE(sock.ok());
  EXPECT_NE(std::string(sock.status().message()).find("no-such-host.invalid:8080"),
            std::string::npos)
      << sock.status();
}

}  // namespace
}  // namespace tandem::serving::fleet
