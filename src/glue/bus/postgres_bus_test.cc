// Runs the EventBus conformance suite against the SQL event bus on
// PostgreSQL (the server ctest starts): the same SqlEventBus and SQL as the
// SQLite run, each test on a fresh database (dropped when the process ends).
#include <optional>

#include "common/testing/test_server.h"
#include "glue/bus/testing/event_bus_conformance.h"
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

INSTANTIATE_TEST_SUITE_P(Postgres, EventBusConformanceTest,
                         ::testing::ValuesIn(PostgresFactories()),
                         [](const auto& info) { return info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(EventBusConformanceTest);

}  // namespace
}  // namespace tandem::bus
