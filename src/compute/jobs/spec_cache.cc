#include "compute/jobs/spec_cache.h"

#include "common/json.h"

namespace tandem::compute::jobs {

StatusOr<JobSpec> SpecCache::Parse(const std::string& text) {
  {
    absl::MutexLock lock(&mu_);
    auto it = by_text_.find(text);
    if (it != by_text_.end()) return *it->second;
  }
  // Parsed outside the lock: two threads may both parse a new text once.
  ASSIGN_OR_RETURN(Json j, ParseJson(text));
  ASSIGN_OR_RETURN(JobSpec spec, JobSpec::FromJson(j));
  auto parsed = std::make_shared<const JobSpec>(std::move(spec));
  absl::MutexLock lock(&mu_);
  ++parses_;
  if (by_text_.size() >= max_entries_) by_text_.clear();
  by_text_.emplace(text, parsed);
  return *parsed;
}

}  // namespace tandem::compute::jobs
