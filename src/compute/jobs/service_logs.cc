// JobService::ReadLog: a job's log while it runs (the attempt's file) and
// once it has ended (the stored copy). Apart from service.cc to keep that
// file within bounds.
#include <algorithm>
#include <fstream>

#include "compute/jobs/service.h"

namespace tandem::compute::jobs {

StatusOr<LogChunk> JobService::ReadLog(const std::string& id, int64_t offset, size_t max_bytes) {
  if (offset < 0) return InvalidArgumentError("offset must be >= 0");
  for (int tries = 0; tries < 3; ++tries) {
    ASSIGN_OR_RETURN(JobRecord r, jobs_->Get(id));
    LogChunk out;
    out.attempt = r.attempt;
    out.next_offset = offset;
    std::string key = r.details.value("log_key", "");
    if (IsTerminal(r.state)) {
      out.finished = true;
      out.stored_key = key;
      if (key.empty()) return out;  // never ran
      ASSIGN_OR_RETURN(std::string all, opts_.store->GetString(key));
      if (static_cast<size_t>(offset) < all.size()) {
        out.data = all.substr(offset, max_bytes);
        out.finished = offset + out.data.size() >= all.size();
      }
      out.next_offset = offset + static_cast<int64_t>(out.data.size());
      return out;
    }
    std::ifstream in(RecordedAttemptDir(r) + "/job.log", std::ios::binary);
    if (!in) {
      if (r.state == JobState::kPending || r.state == JobState::kStarting) return out;
      continue;  // finalized between the two reads: read the stored log
    }
    in.seekg(offset);
    out.data.resize(max_bytes);
    in.read(out.data.data(), static_cast<std::streamsize>(max_bytes));
    out.data.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    out.next_offset = offset + static_cast<int64_t>(out.data.size());
    return out;
  }
  return UnavailableError("log of training job '" + id + "' is moving to the store; retry");
}

}  // namespace tandem::compute::jobs
