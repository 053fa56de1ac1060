// tandem-loadgen: an open-loop HTTP/1.1 load generator. Request i is due at
// t0 + i/rate no matter how earlier requests fared, and its latency is
// measured from that intended time, so server queueing is not hidden
// (no coordinated omission). Connections are keep-alive raw sockets, one
// blocking thread each; request i goes to connection i % N.
//
//   tandem-loadgen --url http://127.0.0.1:8080/infer --rate 5000 --duration 10
//     --warmup 2 --connections 32 --body-file row.json [--json]
//
// With --stop-file PATH it stops early once PATH exists (a test that drives
// changes under load: --duration is then an upper bound). An https:// URL
// speaks TLS (OpenSSL; the handshake is part of a new connection's first
// request; like wrk, the certificate is not verified: a benchmark tool).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "loadgen.h"
#include "nlohmann/json.hpp"

namespace tandem::loadgen {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string url;
  double rate = 1000;
  double duration_s = 10;
  double warmup_s = 1;
  int connections = 16;
  std::string body_file;
  std::string method;
  std::vector<std::string> headers;
  std::string content_type = "application/json";
  int64_t timeout_ms = 10'000;
  bool json = false;
  std::string stop_file;
};

struct ThreadResult {
  std::vector<int64_t> latencies_ns;  // measured (after warmup) 2xx and non-2xx
  std::map<int, int64_t> by_status;
  int64_t connect_errors = 0;
  int64_t io_errors = 0;
  int64_t sent = 0;
  int64_t measured_sent = 0;  // requests sent after the warmup
};

int Connect(const sockaddr_in& addr, int64_t timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval tv{static_cast<time_t>(timeout_ms / 1000),
             static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A connection: a socket, under TLS when `tls_ctx` is set.
SSL_CTX* tls_ctx = nullptr;
std::string tls_host;  // SNI

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  bool open() const { return fd >= 0; }
  void Close() {
    if (ssl != nullptr) SSL_free(ssl);
    ssl = nullptr;
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  bool Open(const sockaddr_in& addr, int64_t timeout_ms) {
    fd = Connect(addr, timeout_ms);
    if (fd < 0 || tls_ctx == nullptr) return fd >= 0;
    ssl = SSL_new(tls_ctx);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1 ||
        SSL_set_tlsext_host_name(ssl, tls_host.c_str()) != 1 || SSL_connect(ssl) != 1) {
      ERR_clear_error();
      Close();
      return false;
    }
    return true;
  }
  ssize_t Send(const char* data, size_t n) {
    if (ssl == nullptr) return ::send(fd, data, n, MSG_NOSIGNAL);
    int w = SSL_write(ssl, data, static_cast<int>(n));
    return w > 0 ? w : -1;
  }
  ssize_t Recv(char* data, size_t n) {
    if (ssl == nullptr) return ::recv(fd, data, n, 0);
    int r = SSL_read(ssl, data, static_cast<int>(n));
    return r > 0 ? r : -1;
  }
};

bool SendAll(Conn& c, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = c.Send(data.data() + off, data.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

void Worker(int k, const Options& o, const sockaddr_in& addr, const std::string& request,
            SteadyClock::time_point t0, int64_t total, int64_t warmup_count,
            const std::atomic<bool>* stop, ThreadResult* r) {
  Conn conn;
  std::string buf;
  buf.reserve(16 << 10);
  char chunk[16 << 10];
  const double interval_ns = 1e9 / o.rate;
  for (int64_t i = k; i < total && !stop->load(); i += o.connections) {
    auto due = t0 + std::chrono::nanoseconds(static_cast<int64_t>(i * interval_ns));
    std::this_thread::sleep_until(due);
    bool measured = i >= warmup_count;
    if (measured) r->measured_sent++;
    if (!conn.open()) {
      if (!conn.Open(addr, o.timeout_ms)) {
        if (measured) r->connect_errors++;
        continue;
      }
      buf.clear();
    }
    r->sent++;
    ParsedResponse resp;
    int64_t used = 0;
    bool ok = SendAll(conn, request);
    while (ok) {
      used = ParseResponse(buf, &resp);
      if (used != 0) break;
      ssize_t n = conn.Recv(chunk, sizeof(chunk));
      if (n <= 0) {
        ok = false;
        break;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    auto done = SteadyClock::now();
    if (!ok || used < 0) {
      if (measured) r->io_errors++;
      conn.Close();
      continue;
    }
    buf.erase(0, static_cast<size_t>(used));
    if (measured) {
      r->latencies_ns.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(done - due).count());
      r->by_status[resp.status]++;
    }
    if (resp.close) conn.Close();
  }
  conn.Close();
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app{"Open-loop HTTP load generator (latency from the intended send time)"};
  app.add_option("--url", o.url, "http://host:port/path")->required();
  app.add_option("--rate", o.rate, "Offered requests per second")->required();
  app.add_option("--duration", o.duration_s, "Measured seconds (after warmup)");
  app.add_option("--warmup", o.warmup_s, "Seconds sent but not measured");
  app.add_option("--connections,-c", o.connections, "Keep-alive connections (threads)");
  app.add_option("--body-file", o.body_file, "Request body (POST unless --method)");
  app.add_option("--method", o.method, "HTTP method (default GET, POST with a body)");
  app.add_option("--content-type", o.content_type, "Content-Type of the body");
  app.add_option("-H,--header", o.headers, "Extra header 'Name: value'");
  app.add_option("--timeout-ms", o.timeout_ms, "Per-request socket timeout");
  app.add_flag("--json", o.json, "Print the report as JSON");
  app.add_option("--stop-file", o.stop_file, "Stop early once this file exists");
  CLI11_PARSE(app, argc, argv);

  std::string host, path;
  int port = 0;
  bool tls = false;
  if (!SplitUrlWithScheme(o.url, &tls, &host, &port, &path)) {
    std::cerr << "error: --url must be http[s]://host[:port]/path, got '" << o.url << "'\n";
    return 2;
  }
  if (tls) {
    tls_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    tls_host = host;
    std::signal(SIGPIPE, SIG_IGN);  // SSL_write to a closed socket: an error, not a death
  }
  if (o.rate <= 0 || o.duration_s <= 0 || o.warmup_s < 0 || o.connections < 1) {
    std::cerr << "error: --rate and --duration must be > 0, --warmup >= 0, --connections >= 1\n";
    return 2;
  }
  std::string body;
  if (!o.body_file.empty()) {
    std::ifstream in(o.body_file, std::ios::binary);
    if (!in) {
      std::cerr << "error: cannot read --body-file '" << o.body_file << "'\n";
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  if (o.method.empty()) o.method = o.body_file.empty() ? "GET" : "POST";
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
    std::cerr << "error: cannot resolve '" << host << "'\n";
    return 2;
  }
  sockaddr_in addr = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::freeaddrinfo(res);

  std::string request =
      o.method + " " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) + "\r\n";
  for (const auto& h : o.headers) request += h + "\r\n";
  if (!body.empty() || o.method == "POST" || o.method == "PUT") {
    request += "Content-Type: " + o.content_type +
               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;

  const int64_t warmup_count = static_cast<int64_t>(o.warmup_s * o.rate);
  const int64_t total = warmup_count + static_cast<int64_t>(o.duration_s * o.rate);
  std::vector<ThreadResult> results(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  std::atomic<bool> done{false};
  std::thread watcher;
  if (!o.stop_file.empty()) {
    watcher = std::thread([&] {
      while (!done.load()) {
        if (::access(o.stop_file.c_str(), F_OK) == 0) stop.store(true);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  auto t0 = SteadyClock::now() + std::chrono::milliseconds(50);
  for (int k = 0; k < o.connections; ++k) {
    threads.emplace_back(Worker, k, std::cref(o), std::cref(addr), std::cref(request), t0, total,
                         warmup_count, &stop, &results[static_cast<size_t>(k)]);
  }
  for (auto& t : threads) t.join();
  done.store(true);
  if (watcher.joinable()) watcher.join();
  auto t_end = SteadyClock::now();
  double measured_s = std::chrono::duration<double>(t_end - t0).count() -
                      static_cast<double>(warmup_count) / o.rate;

  std::vector<int64_t> lat;
  std::map<int, int64_t> by_status;
  int64_t connect_errors = 0, io_errors = 0, measured_sent = 0;
  for (auto& r : results) {
    measured_sent += r.measured_sent;
    lat.insert(lat.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    for (auto& [s, n] : r.by_status) by_status[s] += n;
    connect_errors += r.connect_errors;
    io_errors += r.io_errors;
  }
  std::sort(lat.begin(), lat.end());
  int64_t ok = 0;
  for (auto& [s, n] : by_status) {
    if (s >= 200 && s < 300) ok += n;
  }
  // Stopped early: the requests actually due before the stop.
  int64_t expected = stop.load() ? measured_sent : total - warmup_count;
  int64_t non2xx = static_cast<int64_t>(lat.size()) - ok;
  auto ms = [](int64_t ns) { return static_cast<double>(ns) / 1e6; };
  nlohmann::json report = {
      {"url", o.url},
      {"offered_rps", o.rate},
      {"achieved_rps", measured_s > 0 ? static_cast<double>(lat.size()) / measured_s : 0},
      {"ok_rps", measured_s > 0 ? static_cast<double>(ok) / measured_s : 0},
      {"requests", expected},
      {"responses", static_cast<int64_t>(lat.size())},
      {"ok", ok},
      {"non_2xx", non2xx},
      {"connect_errors", connect_errors},
      {"io_errors", io_errors},
      {"errors", non2xx + connect_errors + io_errors},
      {"p50_ms", ms(Percentile(lat, 50))},
      {"p90_ms", ms(Percentile(lat, 90))},
      {"p99_ms", ms(Percentile(lat, 99))},
      {"p999_ms", ms(Percentile(lat, 99.9))},
      {"max_ms", ms(lat.empty() ? 0 : lat.back())},
      {"connections", o.connections},
      {"duration_s", o.duration_s}};
  nlohmann::json statuses = nlohmann::json::object();
  for (auto& [s, n] : by_status) statuses[std::to_string(s)] = n;
  report["by_status"] = statuses;
  if (o.json) {
    std::cout << report.dump() << std::endl;
  } else {
    std::printf("offered %.0f req/s, achieved %.0f req/s (%lld of %lld answered)\n", o.rate,
                report["achieved_rps"].get<double>(), static_cast<long long>(lat.size()),
                static_cast<long long>(expected));
    std::printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
                report["p50_ms"].get<double>(), report["p90_ms"].get<double>(),
                report["p99_ms"].get<double>(), report["p999_ms"].get<double>(),
                report["max_ms"].get<double>());
    std::printf("status:");
    for (auto& [s, n] : by_status) std::printf(" %d=%lld", s, static_cast<long long>(n));
    std::printf("  connect errors %lld, io errors %lld\n", static_cast<long long>(connect_errors),
                static_cast<long long>(io_errors));
  }
  return 0;
}

}  // namespace
}  // namespace tandem::loadgen

int main(int argc, char** argv) { return tandem::loadgen::Main(argc, argv); }
