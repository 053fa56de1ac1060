// The warm pool (SageMaker managed warm pools, simplified): after a job with
// keep_alive_seconds > 0 ends, its prepared environment — the extracted code
// and the staged input channels — is kept under <dir>/<key>/ until it
// expires. A later job whose key matches (same source digest, same channel
// digests, same resources) takes it by renaming instead of staging again.
// Retained time is reported when an entry is taken or expires, so that it can
// be billed to the job that left it.
//
// Thread-safety: all methods are thread-safe; a Take is atomic (one rename
// claims an entry), so two jobs never share an environment.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/spec.h"

namespace tandem::compute::jobs {

struct WarmRelease {
  std::string key;
  std::string origin_job_id;    // the job whose environment it was
  double retained_seconds = 0;  // from retention to take/expiry
  Json info = Json::object();   // what Retain was given (e.g. the digests)
};

class WarmPool {
 public:
  // `dir` is created if missing. `clock` must outlive the pool.
  WarmPool(std::string dir, Clock& clock);

  // "<64 hex>" over the source and channel identities (digests or
  // fingerprints, staging.h), the resources and the team: a retained tree is
  // what the previous job left in it (it could rewrite its code and inputs),
  // so it is reused only within the team that ran that job.
  static std::string Key(const std::string& source_id,
                         const std::map<std::string, std::string>& channel_ids,
                         const Resources& resources, const std::string& team);

  // Moves `code_dir` and `data_dir` into the pool under `key` until
  // now + keep_alive_seconds, with `info` kept beside them. An existing entry
  // with the same key is replaced (and returned as released).
  StatusOr<std::optional<WarmRelease>> Retain(const std::string& key, const std::string& code_dir,
                                              const std::string& data_dir,
                                              int64_t keep_alive_seconds,
                                              const std::string& origin_job_id,
                                              const Json& info = Json::object());

  // If an unexpired entry for `key` exists, moves its code and data to
  // `code_dir` and `data_dir` (which must not exist) and returns the release;
  // nullopt if there is none.
  StatusOr<std::optional<WarmRelease>> Take(const std::string& key, const std::string& code_dir,
                                            const std::string& data_dir);

  // Deletes expired entries (and leftovers of interrupted operations).
  std::vector<WarmRelease> Expire();

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  Clock& clock_;
};

}  // namespace tandem::compute::jobs
