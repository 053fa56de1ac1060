// Parsed job specs by their stored text (the `spec` column of compute_jobs).
// A job's spec never changes once inserted, and parsing it (the JSON, every
// field's validation, compiling its metric regexes) was the largest part of
// reading a job record: WaitFor, each transition and each listing parse the
// same few specs again and again (~10% of the control plane's CPU for a
// 1-second training job, `perf record` of compute_bench --only overhead).
// The cache maps the text to the spec parsed once; a hit is a copy.
//
// Thread-safe. Bounded: cleared when it reaches max_entries (a listing of
// many distinct jobs only costs what parsing each did before). Errors are
// not cached.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "compute/jobs/spec.h"

namespace tandem::compute::jobs {

class SpecCache {
 public:
  explicit SpecCache(size_t max_entries = 1024) : max_entries_(max_entries) {}

  // JobSpec::FromJson of the JSON `text`, parsed only the first time.
  StatusOr<JobSpec> Parse(const std::string& text);

  // How many texts were parsed (misses), for tests.
  int64_t parses() const {
    absl::MutexLock lock(&mu_);
    return parses_;
  }

 private:
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const JobSpec>> by_text_ ABSL_GUARDED_BY(mu_);
  int64_t parses_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tandem::compute::jobs
