// Test support: the real servers (PostgreSQL, NATS, S3, Slurm) that backend
// conformance tests run against. ctest starts each engine through the
// fixture registered by tandem_test_server() (cmake/tandem.cmake) and passes
// TANDEM_TEST_<ENGINE>_DIR; the fixture script writes the engine's URI to
// <dir>/uri.
//
//   TEST(PostgresDatabase, Conformance) {
//     TANDEM_REQUIRE_TEST_SERVER("postgres", uri);   // std::string uri
//     ...
//   }
//
//   void SetUp() override {                          // in a fixture
//     std::optional<std::string> uri = RequireTestServer("nats");
//     if (!uri) return;  // gtest runs no test body after this SetUp
//     ...
//   }
//
// Under ctest a missing URI is a failure (the fixture failed to start the
// engine). Run by hand without the variable, the test is skipped with the
// reason printed, never silently passed.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace tandem::testing {

struct TestServer {
  std::optional<std::string> uri;  // set when the engine is up
  std::string reason;              // why not, otherwise
  bool under_ctest = false;        // TANDEM_TEST_<ENGINE>_DIR was set
};

inline TestServer FindTestServer(const std::string& engine) {
  std::string var = "TANDEM_TEST_";
  for (char c : engine) var += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  var += "_DIR";
  TestServer out;
  const char* dir = std::getenv(var.c_str());
  if (dir == nullptr || *dir == '\0') {
    out.reason = var + " is not set: run through ctest, which starts " + engine +
                 " on loopback (fixture server_" + engine + "_start)";
    return out;
  }
  out.under_ctest = true;
  std::ifstream in(std::string(dir) + "/uri");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string uri = ss.str();
  while (!uri.empty() && std::isspace(static_cast<unsigned char>(uri.back()))) uri.pop_back();
  if (uri.empty()) {
    out.reason = std::string("no URI in ") + dir + "/uri: the " + engine +
                 " fixture did not start it (see the server_" + engine + "_start test output)";
    return out;
  }
  out.uri = uri;
  return out;
}

// Whether the test runs under ctest (tandem_test sets TANDEM_UNDER_CTEST=1).
inline bool UnderCtest() {
  const char* v = std::getenv("TANDEM_UNDER_CTEST");
  return v != nullptr && std::string(v) == "1";
}

// Ends the current test for `ts` (an engine that is not up): a fatal
// failure when ctest started the engine's fixture, a skip with the reason
// otherwise. Void, as gtest's FAIL() needs.
inline void EndTestWithoutServer(const TestServer& ts) {
  if (ts.under_ctest) FAIL() << ts.reason;
  GTEST_SKIP() << ts.reason;
}

// The URI of `engine`'s test server, or std::nullopt after ending the test
// (EndTestWithoutServer). The caller returns on std::nullopt: from SetUp,
// gtest then runs no test body (it checks for fatal failures and skips).
inline std::optional<std::string> RequireTestServer(const std::string& engine) {
  TestServer ts = FindTestServer(engine);
  if (!ts.uri) EndTestWithoutServer(ts);
  return ts.uri;
}

}  // namespace tandem::testing

// Ends the test unless `available` (a tool scripts/bootstrap installs:
// promtool, bubblewrap, python3 and its packages): a FAILURE under ctest,
// where bootstrap is assumed, and a SKIP naming `what` when run by hand.
#define TANDEM_REQUIRE_TOOL(available, what)                                   \
  do {                                                                         \
    if (!(available)) {                                                        \
      if (::tandem::testing::UnderCtest()) {                                   \
        FAIL() << (what) << " is missing (scripts/bootstrap installs it)";     \
      }                                                                        \
      GTEST_SKIP() << (what) << " is missing (scripts/bootstrap installs it)"; \
    }                                                                          \
  } while (0)

// Declares `std::string uri_var` holding the engine's URI, or ends the test:
// FAIL under ctest, SKIP (with the reason) when run by hand.
#define TANDEM_REQUIRE_TEST_SERVER(engine, uri_var)                                   \
  std::string uri_var;                                                                \
  do {                                                                                \
    std::optional<std::string> found_ = ::tandem::testing::RequireTestServer(engine); \
    if (!found_) return;                                                              \
    uri_var = *found_;                                                                \
  } while (0)
