#include "compute/jobs/secrets.h"

namespace tandem::compute::jobs {

Status CheckSecretRefs(const JobSpec& spec, const SecretLookup& lookup, bool sandboxed,
                       const std::string& substrate) {
  if (spec.secrets.empty()) return OkStatus();
  if (!lookup) {
    return FailedPreconditionError("this control plane has no secret store: 'secrets' unusable");
  }
  for (const SecretRef& ref : spec.secrets) {
    if (!ref.file.empty() && !sandboxed) {
      return FailedPreconditionError("secret '" + ref.name +
                                     "': file secrets need the sandbox (bubblewrap), which the " +
                                     substrate + " substrate does not use here; use env instead");
    }
    RETURN_IF_ERROR(lookup(spec.team, ref.name).status());  // names what is missing
  }
  return OkStatus();
}

Status ResolveSecrets(const JobSpec& spec, const SecretLookup& lookup, bool sandboxed,
                      const std::string& substrate, LaunchRequest& req) {
  // Again at launch: deleted since submission, or no sandbox any more.
  RETURN_IF_ERROR(CheckSecretRefs(spec, lookup, sandboxed, substrate));
  for (const SecretRef& ref : spec.secrets) {
    ASSIGN_OR_RETURN(std::string value, lookup(spec.team, ref.name));
    (ref.env.empty() ? req.secret_files[ref.file] : req.secret_env[ref.env]) = std::move(value);
  }
  return OkStatus();
}

}  // namespace tandem::compute::jobs
