#include "glue/sql/testing/postgres_test_db.h"

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>

#include "common/log.h"
#include "common/testing/test_server.h"
#include "glue/sql/postgres_database.h"

namespace tandem::sql::testing {
namespace {

Status Admin(const std::string& server_uri, const std::string& statement) {
  ASSIGN_OR_RETURN(auto admin, PostgresDatabase::OpenUri(server_uri));
  return admin->ExecAutocommit(statement);
}

// Databases to drop when the process exits.
struct ProcessDatabases {
  std::mutex mu;
  std::vector<std::unique_ptr<TestDatabase>> dbs;
  ~ProcessDatabases() { dbs.clear(); }
};

ProcessDatabases& Process() {
  static ProcessDatabases p;
  return p;
}

}  // namespace

StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create(const std::string& server_uri) {
  static std::atomic<int> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string name = "tandem_test_" + std::to_string(getpid()) + "_" +
                     std::to_string(counter.fetch_add(1)) + "_" + std::to_string(rng() % 1000000);
  RETURN_IF_ERROR(Admin(server_uri, "CREATE DATABASE " + name));
  ASSIGN_OR_RETURN(std::string uri, WithDatabaseName(server_uri, name));
  return std::unique_ptr<TestDatabase>(new TestDatabase(server_uri, name, uri));
}

TestDatabase::~TestDatabase() {
  Status st = Admin(server_uri_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  if (!st.ok()) LogWarn("cannot drop test database", {{"name", name_}, {"error", st.ToString()}});
}

std::optional<std::string> ServerUri() { return ::tandem::testing::FindTestServer("postgres").uri; }

StatusOr<std::string> CreateDatabaseForProcess(const std::string& server_uri) {
  ASSIGN_OR_RETURN(std::unique_ptr<TestDatabase> db, TestDatabase::Create(server_uri));
  std::string uri = db->uri();
  std::lock_guard<std::mutex> lock(Process().mu);
  Process().dbs.push_back(std::move(db));
  return uri;
}

std::vector<Backend> Backends() {
  std::vector<Backend> out = {{"Sqlite", [](const std::string& dir) -> StatusOr<std::string> {
                                 return "sqlite://" + dir + "/tandem.db";
                               }}};
  if (auto server = ServerUri()) {
    out.push_back({"Postgres", [server = *server](const std::string&) {
                     return CreateDatabaseForProcess(server);
                   }});
  }
  return out;
}

}  // namespace tandem::sql::testing
