// What `tandem status` pays to count jobs by state: the job store's one
// GROUP BY (JobStore::CountByState, what GET /api/v1/status does) side by side
// with paging through every job 1,000 at a time and counting in memory (what
// it did before), on a SQLite file holding `jobs` rows (inserted in one
// transaction; valid specs, so the listing can read them). Medians of 5 runs.
//
//   status_bench [jobs=100000]
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "compute/jobs/store.h"
#include "glue/bus/outbox.h"
#include "glue/sql/database.h"

namespace tandem {
namespace {

using compute::jobs::JobState;

class NoopOutbox final : public bus::Outbox {
 public:
  Status Append(sql::Transaction&, const bus::Event&) override { return OkStatus(); }
};

Status Fill(sql::Database& db, int jobs) {
  compute::jobs::JobSpec spec;
  spec.entry_point = "train.sh";
  const std::string text = spec.ToJson().dump();
  const char* states[] = {"Completed", "Completed", "Failed", "Stopped", "Running", "Pending"};
  return db.WithTransaction([&](sql::Transaction& tx) -> Status {
    for (int i = 0; i < jobs; ++i) {
      char id[16];
      std::snprintf(id, sizeof(id), "job%09d", i);
      RETURN_IF_ERROR(
          tx.Exec("INSERT INTO compute_jobs (id, name, team, spec, state, attempt, "
                  "failure_reason, created_micros, queued_micros, started_micros, ended_micros, "
                  "updated_micros, substrate, handle, wall_seconds, cpu_seconds, peak_rss_bytes, "
                  "cost, warm_pool_seconds, model_key, model_digest, registered_model, "
                  "registered_version, registered_alias, final_metrics, details, kind) VALUES "
                  "(?, 'bench', 'default', ?, ?, 1, '', 0, 0, 0, 0, 0, '', '', 0, 0, 0, 0, 0, '', "
                  "'', '', 0, '', '{}', '{}', 'training')",
                  {std::string(id), text, std::string(states[i % 6])})
              .status());
    }
    return OkStatus();
  });
}

// Milliseconds of one call of `fn` (which returns the total it counted).
template <typename Fn>
double Median(Fn fn, int jobs, bool* ok) {
  std::vector<double> ms;
  for (int run = 0; run < 5; ++run) {
    const int64_t t0 = Clock::Real().MonotonicMicros();
    StatusOr<int64_t> total = fn();
    ms.push_back(static_cast<double>(Clock::Real().MonotonicMicros() - t0) / 1000);
    if (!total.ok() || *total != jobs) *ok = false;
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

int Run(int jobs) {
  char tmpl[] = "/tmp/tandem_status_bench_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  int rc = 1;
  {
    NoopOutbox outbox;
    auto db = sql::Database::Open("sqlite://" + dir + "/tandem.db");
    if (!db.ok()) return 1;
    auto store = compute::jobs::JobStore::Open(**db, outbox, Clock::Real());
    if (!store.ok() || !Fill(**db, jobs).ok()) {
      std::fprintf(stderr, "cannot prepare %d jobs\n", jobs);
    } else {
      bool ok = true;
      double count_ms = Median(
          [&]() -> StatusOr<int64_t> {
            ASSIGN_OR_RETURN(auto counts, (*store)->CountByState());
            int64_t total = 0;
            for (const auto& [state, n] : counts) total += n;
            return total;
          },
          jobs, &ok);
      double list_ms = Median(
          [&]() -> StatusOr<int64_t> {
            std::map<JobState, int64_t> counts;
            compute::jobs::JobFilter filter;
            filter.max_results = 1000;
            int64_t total = 0;
            do {
              ASSIGN_OR_RETURN(auto page, (*store)->List(filter));
              for (const auto& j : page.jobs) {
                ++counts[j.state];
                ++total;
              }
              filter.page_token = page.next_page_token;
            } while (!filter.page_token.empty());
            return total;
          },
          jobs, &ok);
      if (!ok) {
        std::fprintf(stderr, "a count did not match %d jobs\n", jobs);
      } else {
        std::printf("| jobs | count by state (GROUP BY) | page through all jobs | ratio |\n");
        std::printf("|---|---|---|---|\n");
        std::printf("| %d | %.1f ms | %.1f ms | %.0fx |\n", jobs, count_ms, list_ms,
                    list_ms / std::max(count_ms, 0.001));
        rc = 0;
      }
    }
  }
  std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace tandem

int main(int argc, char** argv) {
  int jobs = argc > 1 ? std::atoi(argv[1]) : 100'000;
  return tandem::Run(std::max(jobs, 1));
}
