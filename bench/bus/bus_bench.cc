// bus_bench: publish-to-receive latency and throughput of the event bus:
// the embedded SQLite bus and, given --nats, NATS JetStream next to it in
// one run. 2 producer
// threads publish events carrying their publish time through a rule into one
// queue; 2 consumer threads long-poll it (batches of up to 10), record
// latency = receive time - publish time, and delete each message.
//
// Scenarios (one markdown row per backend each): unthrottled and paced, with
// one EventBus per thread (as separate processes would) and with one shared
// EventBus object.
//
// "wall s" runs from the start until the last event was received; end-to-end
// ev/s = events / wall s.
//
// Each row also reports the CPU time spent per event by this process (the
// clients; for SQLite all the work) and, given --server-pid, by nats-server,
// so the figures can be read on a machine shared with other jobs: CPU per
// event bounds what 2 idle cores could do (2 s of CPU per second).
//
// Usage: bus_bench [--nats nats://127.0.0.1:PORT] [--events N] [--rate R] [--dir DIR]
//                  [--server-pid PID] [--backends sqlite,nats]
//   N: events per producer (default 1000); R: paced rate per producer
//   (default 100/s); DIR: where the SQLite database goes (default /tmp).
//   --backends: which buses (default sqlite, and nats if --nats is given).
//   bench/nats/run.sh starts a throwaway nats-server and runs this with --nats.
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "glue/bus/event_bus.h"

namespace tandem::bus {
namespace {

struct Result {
  std::string name;
  int64_t events = 0;
  double seconds = 0;
  double publish_per_s = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  int64_t duplicates = 0;
  double client_cpu_us = 0, server_cpu_us = 0;  // per received event
  std::string error;
};

// CPU seconds (user + system) of this process.
double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU seconds of process `pid` (0: none) from /proc/<pid>/stat.
double ProcCpuSeconds(int pid) {
  if (pid <= 0) return 0;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[4096];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');  // fields after the command name
  if (p == nullptr) return 0;
  unsigned long long utime = 0, stime = 0;
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
      2) {
    return 0;
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

Result Run(const std::string& uri, const std::string& name, int per_producer, int rate, bool shared,
           int server_pid) {
  Result res;
  const double cpu0 = SelfCpuSeconds(), server0 = ProcCpuSeconds(server_pid);
  res.name = name;
  Clock& clock = Clock::Real();
  auto open = [&]() -> std::unique_ptr<EventBus> {
    auto b = EventBus::Open(uri);
    if (!b.ok()) {
      std::fprintf(stderr, "open: %s\n", std::string(b.status().message()).c_str());
      std::exit(1);
    }
    return std::move(*b);
  };
  std::unique_ptr<EventBus> admin = open();
  if (!admin->CreateQueue("bench").ok() ||
      !admin->PutRule("bench", Json::parse(R"({"source": ["bench"]})"), "bench").ok()) {
    res.error = "setup failed";
    return res;
  }
  constexpr int kProducers = 2, kConsumers = 2;
  const int64_t total = int64_t{per_producer} * kProducers;
  std::atomic<int64_t> received{0}, published{0};
  std::atomic<int64_t> last_receive_us{0};  // when the last new event arrived
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::vector<char> seen(total, 0);
  std::atomic<bool> failed{false};

  const int64_t start_us = clock.NowMicros();
  int64_t publish_end_us = 0;
  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      std::unique_ptr<EventBus> own = shared ? nullptr : open();
      EventBus& bus = shared ? *admin : *own;
      std::vector<double> local;
      while (received.load() < total && !failed.load()) {
        auto msgs = bus.Receive("bench", ReceiveOptions{.max_messages = 10, .wait_ms = 500});
        if (!msgs.ok()) {
          std::fprintf(stderr, "receive: %s\n", std::string(msgs.status().message()).c_str());
          failed = true;
          break;
        }
        const int64_t now = clock.NowMicros();
        for (const auto& m : *msgs) {
          int64_t idx = m.event.detail["idx"].get<int64_t>();
          bool first = false;
          {
            std::lock_guard<std::mutex> lock(mu);
            first = !seen[idx];
            seen[idx] = 1;
            if (!first) ++res.duplicates;  // at-least-once: possible, not expected here
          }
          if (first) {
            local.push_back((now - m.event.detail["pub_us"].get<int64_t>()) / 1000.0);
            ++received;
            int64_t seen_us = last_receive_us.load();
            while (seen_us < now && !last_receive_us.compare_exchange_weak(seen_us, now)) {
            }
          }
          if (!bus.DeleteMessage("bench", m.receipt_handle).ok()) failed = true;
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies_ms.insert(latencies_ms.end(), local.begin(), local.end());
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::unique_ptr<EventBus> own = shared ? nullptr : open();
      EventBus& bus = shared ? *admin : *own;
      const int64_t t0 = clock.NowMicros();
      for (int i = 0; i < per_producer && !failed.load(); ++i) {
        if (rate > 0) {
          int64_t due = t0 + int64_t{i} * 1'000'000 / rate;
          int64_t now = clock.NowMicros();
          if (due > now) clock.SleepMicros(due - now);
        }
        Event e;
        e.source = "bench";
        e.detail_type = "Bench";
        e.detail = {{"idx", int64_t{p} * per_producer + i}, {"pub_us", clock.NowMicros()}};
        if (auto st = bus.Publish(e); !st.ok()) {
          std::fprintf(stderr, "publish: %s\n", std::string(st.status().message()).c_str());
          failed = true;
          break;
        }
        ++published;
      }
    });
  }
  for (auto& t : producers) t.join();
  publish_end_us = clock.NowMicros();
  for (auto& t : threads) t.join();
  // Until the last event was received (not until the other consumer's long
  // poll ran out).
  const int64_t end_us = std::max(last_receive_us.load(), publish_end_us);
  if (failed) res.error = "a publish, receive or delete failed";
  res.events = received.load();
  if (res.events > 0) {
    res.client_cpu_us = (SelfCpuSeconds() - cpu0) * 1e6 / res.events;
    res.server_cpu_us = (ProcCpuSeconds(server_pid) - server0) * 1e6 / res.events;
  }
  res.seconds = (end_us - start_us) / 1e6;
  res.publish_per_s = published.load() / ((publish_end_us - start_us) / 1e6);
  res.p50_ms = Percentile(latencies_ms, 0.50);
  res.p99_ms = Percentile(latencies_ms, 0.99);
  res.max_ms =
      latencies_ms.empty() ? 0 : *std::max_element(latencies_ms.begin(), latencies_ms.end());
  return res;
}

int Main(int argc, char** argv) {
  int per_producer = 1000, rate = 100, server_pid = 0;
  std::string base = "/tmp", nats, backends;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--events") {
      per_producer = std::atoi(argv[i + 1]);
    } else if (a == "--rate") {
      rate = std::atoi(argv[i + 1]);
    } else if (a == "--dir") {
      base = argv[i + 1];
    } else if (a == "--nats") {
      nats = argv[i + 1];
    } else if (a == "--server-pid") {
      server_pid = std::atoi(argv[i + 1]);
    } else if (a == "--backends") {
      backends = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (backends.empty()) backends = nats.empty() ? "sqlite" : "sqlite,nats";
  if (per_producer <= 0 || rate <= 0 ||
      (backends.find("nats") != std::string::npos && nats.empty())) {
    std::fprintf(stderr,
                 "usage: bus_bench [--nats URI] [--events N>0] [--rate R>0] [--dir DIR]"
                 " [--server-pid PID] [--backends sqlite,nats] (nats needs --nats)\n");
    return 2;
  }
  struct Scenario {
    std::string name;
    int events, rate;
    bool shared;
  };
  const int paced_events = std::min(per_producer, rate * 5);  // ~5 s per paced run
  std::vector<Scenario> scenarios = {
      {"unthrottled, bus per thread", per_producer, 0, false},
      {"unthrottled, shared bus", per_producer, 0, true},
      {"paced " + std::to_string(2 * rate) + "/s, bus per thread", paced_events, rate, false},
      {"paced " + std::to_string(2 * rate) + "/s, shared bus", paced_events, rate, true},
  };
  std::printf(
      "| backend | scenario | events | wall s | publish ev/s | end-to-end ev/s | p50 ms | p99 ms |"
      " max ms | dup | client CPU µs/ev | server CPU µs/ev | 2-core CPU bound ev/s |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::mt19937_64 rng(std::random_device{}());
  int rc = 0;
  for (const auto& s : scenarios) {
    for (const std::string backend : {"sqlite", "nats"}) {
      if (backends.find(backend) == std::string::npos) continue;
      std::string tmpl = base + "/tandem_bus_bench_XXXXXX";
      if (mkdtemp(tmpl.data()) == nullptr) {
        std::perror("mkdtemp");
        return 1;
      }
      const std::string uri = backend == "sqlite"
                                  ? "sqlite://" + tmpl + "/bus.db"
                                  : nats + "?prefix=BENCH" + std::to_string(rng() % 1000000000);
      Result r = Run(uri, s.name, s.events, s.rate, s.shared, backend == "nats" ? server_pid : 0);
      std::filesystem::remove_all(tmpl);
      if (!r.error.empty()) {
        std::fprintf(stderr, "%s %s: %s\n", backend.c_str(), s.name.c_str(), r.error.c_str());
        rc = 1;
      }
      const double cpu_us = r.client_cpu_us + r.server_cpu_us;
      std::printf(
          "| %s | %s | %lld | %.2f | %.0f | %.0f | %.1f | %.1f | %.1f | %lld | %.0f | %s | %s |\n",
          backend.c_str(), r.name.c_str(), static_cast<long long>(r.events), r.seconds,
          r.publish_per_s, r.events / r.seconds, r.p50_ms, r.p99_ms, r.max_ms,
          static_cast<long long>(r.duplicates), r.client_cpu_us,
          backend == "nats" && server_pid > 0 ? std::to_string(std::lround(r.server_cpu_us)).c_str()
                                              : "—",
          cpu_us > 0 && (backend != "nats" || server_pid > 0)
              ? std::to_string(std::lround(2e6 / cpu_us)).c_str()
              : "—");
      std::fflush(stdout);
    }
  }
  return rc;
}

}  // namespace
}  // namespace tandem::bus

int main(int argc, char** argv) { return tandem::bus::Main(argc, argv); }
