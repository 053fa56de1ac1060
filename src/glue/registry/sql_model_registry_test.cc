// Runs the ModelRegistry conformance suite against the SQL registry on SQLite.
// (The PostgreSQL backend instantiates the same suite with its own factory.)
#include <stdlib.h>

#include <filesystem>

#include "glue/registry/testing/model_registry_conformance.h"
#include "glue/sql/database.h"

namespace tandem::registry {
namespace {

RegistryBackend SqliteBackend() {
  return {"Sqlite", []() -> StatusOr<RegistryTestEnv> {
            char tmpl[] = "/tmp/tandem_registry_test_XXXXXX";
            if (mkdtemp(tmpl) == nullptr) return InternalError("mkdtemp failed");
            std::string dir = tmpl;
            RegistryTestEnv env;
            env.uri = "sqlite://" + dir + "/registry.db";
            ASSIGN_OR_RETURN(env.db, sql::Database::Open(env.uri));
            env.cleanup = [dir] { std::filesystem::remove_all(dir); };
            return env;
          }};
}

INSTANTIATE_TEST_SUITE_P(Sql, ModelRegistryConformance, ::testing::Values(SqliteBackend()),
                         BackendName);

}  // namespace
}  // namespace tandem::registry
