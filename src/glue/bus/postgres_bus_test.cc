// Runs the EventBus conformance suite against the SQL event bus on
// PostgreSQL (the server ctest starts): the same SqlEventBus and SQL as the
// SQLite run, each test on a fresh database (dropped when the process ends).
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "common/testing/test_server.h"
#include "glue/bus/testing/event_bus_conformance.h"
#include "glue/sql/database.h"
#include "glue/sql/testing/postgres_test_db.h"

namespace tandem::bus {
namespace {

std::vector<EventBusFactory> PostgresFactories() {
  std::optional<std::string> server = sql::testing::ServerUri();
  if (!server) return {};  // PostgresServer.Available says why
  return {
      {"postgres",
       [server = *server](Clock& clock, const std::string&) -> StatusOr<std::unique_ptr<EventBus>> {
         ASSIGN_OR_RETURN(std::string uri, sql::testing::CreateDatabaseForProcess(server));
         return EventBus::Open(uri, EventBusOptions{.clock = &clock});
       }}};
}

TEST(PostgresServer, Available) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", uri);
  EXPECT_TRUE(uri.starts_with("postgres://")) << uri;
}

TEST(PostgresBusOpen, BothSchemesOpenTheSqlBus) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", server);
  auto uri = sql::testing::CreateDatabaseForProcess(server);
  ASSERT_TRUE(uri.ok()) << uri.status();
  auto bus = EventBus::Open("postgresql://" + uri->substr(std::string("postgres://").size()));
  ASSERT_TRUE(bus.ok()) << bus.status();
  // Opening the same database again finds the schema migrated.
  auto again = EventBus::Open(*uri);
  ASSERT_TRUE(again.ok()) << again.status();
}

// A message routed by a bus on one connection NOTIFYs the database's other
// sessions (what wakes long polls in other processes); the listener here is
// a separate database handle, as another process would have.
TEST(PostgresBusNotify, RoutedMessagesNotifyOtherSessions) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", server);
  auto uri = sql::testing::CreateDatabaseForProcess(server);
  ASSERT_TRUE(uri.ok()) << uri.status();
  auto bus = EventBus::Open(*uri);
  ASSERT_TRUE(bus.ok()) << bus.status();
  ASSERT_TRUE((*bus)->CreateQueue("q").ok());
  ASSERT_TRUE((*bus)->PutRule("r", Json::parse(R"({"source": ["test"]})"), "q").ok());
  auto db = sql::Database::Open(*uri);
  ASSERT_TRUE(db.ok()) << db.status();
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  auto sub = (*db)->Listen("tandem_bus", [&] {
    std::lock_guard<std::mutex> lock(mu);
    ++calls;
    cv.notify_all();
  });
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto await = [&](int n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return calls >= n; });
  };
  ASSERT_TRUE(await(1));  // connected
  Event e;
  e.source = "test";
  e.detail_type = "Test";
  e.detail = Json::object();
  ASSERT_TRUE((*bus)->Publish(e).ok());
  EXPECT_TRUE(await(2));
  sub->reset();
}

INSTANTIATE_TEST_SUITE_P(Postgres, EventBusConformanceTest,
                         ::testing::ValuesIn(PostgresFactories()),
                         [](const auto& info) { return info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(EventBusConformanceTest);

}  // namespace
}  // namespace tandem::bus
