// The replica's per-request token check (serving/server/endpoint_auth.h)
// alone, side by side with what it was (main before this bench: the
// Authorization header copied out of the request, OpenSSL 3's one-shot
// SHA256() — which fetches the algorithm and allocates a context per call —
// and a constant-time compare against every digest), interleaved over ROUNDS
// rounds in one run; per variant the median ns per check, the ratio to the
// baseline and the CPU-seconds of the whole run.
//
//   auth_check_bench [rounds=7] [checks_per_round=200000] [digests=1]
//
// Variants: `baseline` (the old check), `hash` (EndpointAuth::Allows: the
// digest fetched once, a context per thread), `remembered` (Allows with the
// connection's AcceptedToken holding the same value: a constant-time compare,
// no hash), `refused` (a wrong token of the same length with an
// AcceptedToken: hashed every time and forgotten).
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "serving/server/endpoint_auth.h"

namespace tandem::serving::server {
namespace {

// The check as it was (endpoint_auth.cc at df8686b, and the handler's
// `req.Header("authorization")` copy).
class BaselineAuth {
 public:
  explicit BaselineAuth(const std::vector<std::string>& tokens) {
    for (const std::string& t : tokens) {
      std::array<unsigned char, 32> d{};
      SHA256(reinterpret_cast<const unsigned char*>(t.data()), t.size(), d.data());
      digests_.push_back(d);
    }
  }
  bool Allows(const std::map<std::string, std::string>& headers) const {
    std::string key = "authorization";
    auto it = headers.find(key);
    std::string authorization = it == headers.end() ? std::string() : it->second;
    constexpr std::string_view kScheme = "bearer ";
    if (authorization.size() <= kScheme.size()) return false;
    for (size_t i = 0; i < kScheme.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
    }
    std::string_view token = std::string_view(authorization).substr(kScheme.size());
    unsigned char got[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), got);
    int match = 0;
    for (const auto& d : digests_) match |= CRYPTO_memcmp(got, d.data(), d.size()) == 0;
    return match != 0;
  }

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Run(int rounds, int checks, int n_digests) {
  std::vector<std::string> tokens;
  for (int i = 0; i < n_digests; ++i) {
    char buf[65];
    for (int j = 0; j < 64; ++j) buf[j] = "0123456789abcdef"[(i * 7 + j * 13) % 16];
    buf[64] = 0;
    tokens.emplace_back(buf);
  }
  std::vector<std::string> hex;
  for (const std::string& t : tokens) hex.push_back(TokenSha256Hex(t));
  auto auth = EndpointAuth::FromHexDigests(hex);
  if (!auth.ok()) {
    std::fprintf(stderr, "%s\n", auth.status().ToString().c_str());
    return 1;
  }
  const BaselineAuth baseline(tokens);
  // What a request's headers look like (wrk's, with the token last checked).
  const std::map<std::string, std::string> headers = {
      {"authorization", "Bearer " + tokens.back()},
      {"content-length", "112"},
      {"content-type", "application/json"},
      {"host", "127.0.0.1:8080"}};
  std::string wrong = "Bearer " + tokens.back();
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  std::map<std::string, std::string> wrong_headers = headers;
  wrong_headers["authorization"] = wrong;
  AcceptedToken conn, wrong_conn;

  auto header_of = [](const std::map<std::string, std::string>& h) -> std::string_view {
    auto it = h.find("authorization");
    return it == h.end() ? std::string_view() : std::string_view(it->second);
  };
  struct Variant {
    const char* name;
    std::function<bool()> check;
    bool want;
  };
  const std::vector<Variant> variants = {
      {"baseline", [&] { return baseline.Allows(headers); }, true},
      {"hash", [&] { return auth->Allows(header_of(headers)); }, true},
      {"remembered", [&] { return auth->Allows(header_of(headers), conn); }, true},
      {"refused", [&] { return auth->Allows(header_of(wrong_headers), wrong_conn); }, false},
  };
  std::map<std::string, std::vector<double>> ns;
  std::map<std::string, double> cpu;
  const double cpu0 = CpuSeconds();
  for (int r = 0; r < rounds; ++r) {
    for (const Variant& v : variants) {
      const double c0 = CpuSeconds();
      const auto t0 = std::chrono::steady_clock::now();
      int right = 0;
      for (int i = 0; i < checks; ++i) right += v.check() == v.want;
      const auto t1 = std::chrono::steady_clock::now();
      cpu[v.name] += CpuSeconds() - c0;
      if (right != checks) {
        std::fprintf(stderr, "%s answered wrong %d times\n", v.name, checks - right);
        return 1;
      }
      ns[v.name].push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / checks);
    }
  }
  const double base = Median(ns["baseline"]);
  std::printf("token check, %d digest(s), %d rounds x %d checks (median ns per check):\n",
              n_digests, rounds, checks);
  for (const Variant& v : variants) {
    const double m = Median(ns[v.name]);
    std::printf("  %-10s %8.1f ns  (%.3fx baseline)  cpu %.2f s\n", v.name, m, m / base,
                cpu[v.name]);
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 1) load[0] = -1;
  std::printf("CPU-seconds of the run: %.2f; load average %.2f\n", CpuSeconds() - cpu0, load[0]);
  return 0;
}

}  // namespace
}  // namespace tandem::serving::server

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 7;
  const int checks = argc > 2 ? std::atoi(argv[2]) : 200000;
  const int digests = argc > 3 ? std::atoi(argv[3]) : 1;
  if (rounds < 1 || checks < 1 || digests < 1) {
    std::fprintf(stderr, "usage: auth_check_bench [rounds>=1] [checks>=1] [digests>=1]\n");
    return 2;
  }
  return tandem::serving::server::Run(rounds, checks, digests);
}
