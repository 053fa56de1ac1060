// Test certificates made at test time with the `openssl` CLI (no private key
// is checked in): a CA, a server certificate it signs for 127.0.0.1 and
// localhost, one for another host name, an expired one, and a second CA
// that signed none of them.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/testing/run_tool.h"

namespace tandem::testing {

struct TlsCerts {
  std::string dir;
  std::string ca;          // ca.pem: the CA clients trust
  std::string cert, key;   // server.pem/key: 127.0.0.1 and localhost, signed by ca
  std::string other_host;  // other.pem (key: key): for other.example only
  std::string expired;     // expired.pem (key: key): expired a second after it was made
  std::string other_ca;    // other-ca.pem: a CA that signed nothing here
};

// Makes the files in `dir` (created).
inline StatusOr<TlsCerts> MakeTlsCerts(const std::string& dir) {
  std::filesystem::create_directories(dir);
  TlsCerts c;
  c.dir = dir;
  c.ca = dir + "/ca.pem";
  c.cert = dir + "/server.pem";
  c.key = dir + "/server.key";
  c.other_host = dir + "/other.pem";
  c.expired = dir + "/expired.pem";
  c.other_ca = dir + "/other-ca.pem";
  auto run = [](std::vector<std::string> argv) -> Status {
    argv.insert(argv.begin(), "openssl");
    auto r = RunTool(argv);
    if (!r.ok()) return r.status();
    if (!r->exit.ok())
      return InternalError("openssl failed (" + r->exit.ToString() + "): " + r->out);
    return OkStatus();
  };
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                       "-nodes"};
  auto self_signed = [&](const std::string& name) {
    std::vector<std::string> a = {"req", "-x509"};
    a.insert(a.end(), ec.begin(), ec.end());
    a.insert(a.end(), {"-keyout", dir + "/" + name + ".key", "-out", dir + "/" + name + ".pem",
                       "-days", "2", "-subj", "/CN=tandem test " + name});
    return run(a);
  };
  RETURN_IF_ERROR(self_signed("ca"));
  RETURN_IF_ERROR(self_signed("other-ca"));
  std::vector<std::string> req = {"req"};
  req.insert(req.end(), ec.begin(), ec.end());
  req.insert(req.end(), {"-keyout", c.key, "-out", dir + "/server.csr", "-subj", "/CN=localhost"});
  RETURN_IF_ERROR(run(req));
  auto sign = [&](const std::string& out, const std::string& san, const std::string& days) {
    const std::string ext = out + ".ext";
    std::ofstream(ext) << "subjectAltName=" << san << "\n";
    return run({"x509", "-req", "-in", dir + "/server.csr", "-CA", c.ca, "-CAkey", dir + "/ca.key",
                "-CAcreateserial", "-out", out, "-days", days, "-extfile", ext});
  };
  // `-days 0`: valid until the second it was made.
  const auto made = std::chrono::system_clock::now();
  RETURN_IF_ERROR(sign(c.expired, "IP:127.0.0.1,DNS:localhost", "0"));
  RETURN_IF_ERROR(sign(c.cert, "IP:127.0.0.1,DNS:localhost", "2"));
  RETURN_IF_ERROR(sign(c.other_host, "DNS:other.example", "2"));
  std::this_thread::sleep_until(made + std::chrono::milliseconds(2100));
  return c;
}

}  // namespace tandem::testing
