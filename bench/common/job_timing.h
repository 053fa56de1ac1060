// What the cold-start benchmarks (bench/images/coldstart, bench/slurm-coldstart)
// share: one job submitted to a substrate and timed, and the percentiles of
// the samples. Header-only; a benchmark adds ${PROJECT_SOURCE_DIR}/bench to
// its include path.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "compute/jobs/substrate.h"

namespace tandem::bench {

// The p-quantile (0..1) of `v` by nearest rank; 0 for no samples.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct JobTiming {
  int64_t submit_micros = 0;  // wall clock when Submit() was called
  double cold_ms = 0;         // Submit() -> user code started (Substrate::StartedMicros)
  double end_ms = 0;          // Submit() -> Poll() reports the end
};

// Submits `r`, polls every `poll_micros` until it ends; an error unless it
// exited 0.
inline StatusOr<JobTiming> TimeJob(compute::jobs::Substrate& s,
                                   const compute::jobs::LaunchRequest& r, int64_t poll_micros) {
  Clock& clock = Clock::Real();
  JobTiming t;
  t.submit_micros = clock.NowMicros();
  ASSIGN_OR_RETURN(compute::jobs::JobHandle h, s.Submit(r));
  while (true) {
    ASSIGN_OR_RETURN(auto ended, s.Poll(h));
    if (ended) {
      int64_t t_end = clock.NowMicros();
      if (ended->kind != compute::jobs::ExitKind::kExited || ended->exit_code != 0) {
        return InternalError(s.name() + " job " + r.job_id + " failed: " + ended->message);
      }
      t.end_ms = static_cast<double>(t_end - t.submit_micros) / 1000;
      t.cold_ms =
          static_cast<double>(s.StartedMicros(h).value_or(t.submit_micros) - t.submit_micros) /
          1000;
      return t;
    }
    clock.SleepMicros(poll_micros);
  }
}

}  // namespace tandem::bench
