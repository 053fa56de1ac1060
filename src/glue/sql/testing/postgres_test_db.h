// Test support: a fresh, empty PostgreSQL database per test on the server the
// ctest fixture started (common/test_server.h), so tests and test binaries
// can run in parallel against one server.
//
//   TANDEM_REQUIRE_TEST_SERVER("postgres", server);
//   auto db = sql::testing::TestDatabase::Create(server);   // CREATE DATABASE
//   ... Database::Open(db->uri()) ...
//   // ~TestDatabase: DROP DATABASE ... WITH (FORCE)
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"

namespace tandem::sql::testing {

class TestDatabase {
 public:
  // Creates `tandem_test_<pid>_<n>_<random>` on the server at `server_uri`.
  static StatusOr<std::unique_ptr<TestDatabase>> Create(const std::string& server_uri);
  ~TestDatabase();  // drops the database (closing other sessions on it)
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& uri() const { return uri_; }
  const std::string& name() const { return name_; }

 private:
  TestDatabase(std::string server_uri, std::string name, std::string uri)
      : server_uri_(std::move(server_uri)), name_(std::move(name)), uri_(std::move(uri)) {}
  std::string server_uri_, name_, uri_;
};

// The postgres test server's URI when the ctest fixture started it, else
// nullopt (for parameterized suites that instantiate only when it is up;
// pair them with a TANDEM_REQUIRE_TEST_SERVER test so a missing server is
// still a failure under ctest).
std::optional<std::string> ServerUri();

// A fresh database that lives until the test process exits (for factories
// without a cleanup hook). Its URI.
StatusOr<std::string> CreateDatabaseForProcess(const std::string& server_uri);

// The SQL backends a parameterized suite runs on: "Sqlite" (a file in the
// directory given) always, "Postgres" (a database per process) when the
// ctest fixture started the server.
struct Backend {
  std::string name;
  std::function<StatusOr<std::string>(const std::string& dir)> make;  // a database URI
};
std::vector<Backend> Backends();
inline void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

}  // namespace tandem::sql::testing
