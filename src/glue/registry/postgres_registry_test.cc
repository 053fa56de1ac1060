// Runs the ModelRegistry conformance suite against the SQL registry on
// PostgreSQL (the server ctest starts), each test in a fresh database that is
// dropped afterwards. Same SQL as the SQLite run (sql_model_registry_test.cc).
#include <memory>

#include "common/testing/test_server.h"
#include "glue/registry/testing/model_registry_conformance.h"
#include "glue/sql/database.h"
#include "glue/sql/testing/postgres_test_db.h"

namespace tandem::registry {
namespace {

std::vector<RegistryBackend> PostgresBackends() {
  std::optional<std::string> server = sql::testing::ServerUri();
  if (!server) return {};  // PostgresServer.Available says why
  return {{"Postgres", [server = *server]() -> StatusOr<RegistryTestEnv> {
             ASSIGN_OR_RETURN(std::unique_ptr<sql::testing::TestDatabase> fresh,
                              sql::testing::TestDatabase::Create(server));
             RegistryTestEnv env;
             env.uri = fresh->uri();
             ASSIGN_OR_RETURN(env.db, sql::Database::Open(env.uri));
             std::shared_ptr<sql::testing::TestDatabase> keep(std::move(fresh));
             env.cleanup = [keep]() mutable { keep.reset(); };
             return env;
           }}};
}

TEST(PostgresServer, Available) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", uri);
  EXPECT_TRUE(uri.starts_with("postgres://")) << uri;
}

INSTANTIATE_TEST_SUITE_P(Sql, ModelRegistryConformance, ::testing::ValuesIn(PostgresBackends()),
                         BackendName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ModelRegistryConformance);

}  // namespace
}  // namespace tandem::registry
