// A job spec's `secrets:` (spec.h SecretRef) at submission and at launch:
// every named secret must exist in the job's team, and file secrets need the
// sandbox (they exist only inside it, at /run/secrets/<file>). The values go
// into the LaunchRequest's secret_env / secret_files, never into the job's
// record (runner/protocol.h hands them to the runner apart from its request).
//
// Thread-safety: free functions; `lookup` must be thread-safe.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"
#include "compute/jobs/spec.h"
#include "compute/jobs/substrate.h"

namespace tandem::compute::jobs {

// The value of a team's stored secret; NotFound when the team has none of
// that name.
using SecretLookup =
    std::function<StatusOr<std::string>(const std::string& team, const std::string& name)>;

// OK when the spec names no secret, or each exists (and file secrets have a
// sandbox); FailedPrecondition without a lookup or a sandbox, else the
// lookup's error (naming the secret and team).
Status CheckSecretRefs(const JobSpec& spec, const SecretLookup& lookup, bool sandboxed,
                       const std::string& substrate);
// CheckSecretRefs, then the values into `req` (env or file by name).
Status ResolveSecrets(const JobSpec& spec, const SecretLookup& lookup, bool sandboxed,
                      const std::string& substrate, LaunchRequest& req);

}  // namespace tandem::compute::jobs
