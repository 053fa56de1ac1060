// A notebook's own credential for the platform's API: a token in the
// notebook's environment (TANDEM_TOKEN, handed to the runner with the job
// secrets, so it is never in the notebook's record, launch file, log or saved
// directory), issued at each launch and revoked when the execution ends. The
// API layer implements it with its identity store
// (api/notebook_credentials.h); the compute tier only calls it.
//
// Thread-safety: both functions may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace tandem::compute::notebooks {

struct NotebookCredentials {
  // A token acting for `team` only, valid for at most `ttl_seconds`; the
  // notebook's earlier tokens are revoked first. NotFound when the team is
  // unknown to the identity store (the notebook then starts without one).
  std::function<StatusOr<std::string>(const std::string& team, const std::string& notebook,
                                      int64_t execution, int64_t ttl_seconds)>
      issue;
  // Revokes every token issued for `notebook` (idempotent).
  std::function<Status(const std::string& team, const std::string& notebook)> revoke;
};

}  // namespace tandem::compute::notebooks
