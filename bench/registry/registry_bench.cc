// Model-version creations per second through the real SQL path (SQLite file
// in a temp dir, WAL, BEGIN IMMEDIATE), single-threaded and with 4 threads.
// Outboxes: "row" INSERTs the event JSON into a table in the same transaction
// (what the SQL event bus does, minus routing); "noop" records nothing.
//
//   registry_bench [versions_per_run=2000]
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "glue/bus/outbox.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"

namespace tandem {
namespace {

class RowOutbox final : public bus::Outbox {
 public:
  Status Append(sql::Transaction& tx, const bus::Event& e) override {
    return tx.Exec("INSERT INTO bench_outbox (body) VALUES (?)", {e.ToJson().dump()}).status();
  }
};

class NoopOutbox final : public bus::Outbox {
 public:
  Status Append(sql::Transaction&, const bus::Event&) override { return OkStatus(); }
};

// Returns creations per second, or a negative value on error.
double Run(bus::Outbox& outbox, int threads, int total) {
  char tmpl[] = "/tmp/tandem_registry_bench_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return -1;
  std::string dir = tmpl;
  double rate = -1;
  {
    auto db = sql::Database::Open("sqlite://" + dir + "/registry.db");
    if (!db.ok()) return -1;
    Status st = (*db)->WithTransaction([](sql::Transaction& tx) {
      return tx.Exec("CREATE TABLE bench_outbox (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
          .status();
    });
    auto reg = registry::ModelRegistry::Open(**db, outbox, Clock::Real());
    if (!st.ok() || !reg.ok()) return -1;
    std::atomic<int> failures{0};
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        registry::CreateVersionRequest req;
        req.name = "bench-model";
        req.source = "sha256:" + std::string(64, 'a');
        req.lineage.job_id = "job-" + std::to_string(t);
        req.lineage.metrics = {{"auc", 0.9}};
        req.tags = {{"thread", std::to_string(t)}};
        for (int i = 0; i < total / threads; ++i) {
          if (!(*reg)->CreateVersion(req).ok()) failures++;
        }
      });
    }
    for (auto& w : workers) w.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto model = (*reg)->GetModel("bench-model");
    int created = (total / threads) * threads;
    if (failures == 0 && model.ok() && model->latest_version == created) rate = created / secs;
  }
  std::filesystem::remove_all(dir);
  return rate;
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  int total = argc > 1 ? std::atoi(argv[1]) : 2000;
  if (total < 4) total = 4;
  tandem::RowOutbox row;
  tandem::NoopOutbox noop;
  std::printf("| outbox | threads | versions | versions/s |\n|---|---|---|---|\n");
  for (auto [name, outbox] :
       {std::pair<const char*, tandem::bus::Outbox*>{"row", &row}, {"noop", &noop}}) {
    for (int threads : {1, 4}) {
      double rate = tandem::Run(*outbox, threads, total);
      if (rate < 0) {
        std::fprintf(stderr, "benchmark run failed (%s, %d threads)\n", name, threads);
        return 1;
      }
      std::printf("| %s | %d | %d | %.0f |\n", name, threads, total, rate);
    }
  }
  return 0;
}
