// Where the owning teams of a request come from, per resource kind: the
// record a path parameter names (a job, tuning job, notebook, deployment,
// model), the spec a create request sends, or an object-store key
// (access.h KeyOwners). Each returns a TeamsOf for Access::Team.
//
// A request that writes into another resource (a job spec that registers
// into a model, a deployment apply over an existing deployment, a model moved
// to another team) names both owners: the caller needs the role in each.
#pragma once

#include <string>

#include "api/access.h"
#include "api/control_plane.h"
#include "compute/jobs/spec.h"

namespace tandem::api {

// A job (or tuning trial) that runs in an image reads it: the caller needs the
// viewer role in the image repository's team (registry_paths.h
// RepositoryTeam), as pulling it through /v2/ would. OK for no image, for an
// admin, and for a reference that does not parse (Submit then says why).
// PermissionDenied naming the team and the image.
Status CheckImageReadable(const Services& s, const http::Request& req, const std::string& image);

// The job path parameter `id` names (training and transform jobs).
TeamsOf JobOwner(const Services& s);
// POST /jobs: the spec's team, plus the owner of the model it registers into.
TeamsOf JobSpecOwner(const Services& s);
TeamsOf TransformSpecOwner(const Services& s);
TeamsOf TuningOwner(const Services& s);      // path parameter `name`
TeamsOf TuningSpecOwner(const Services& s);  // POST /tuning-jobs
TeamsOf NotebookOwner(const Services& s);    // path parameter `name`
// POST /notebooks: the body's team, plus the existing notebook's.
TeamsOf NotebookStartOwner(const Services& s);
TeamsOf DeploymentOwner(const Services& s);  // path parameter `name`
// POST /deployments: the spec's team, plus the existing deployment's.
TeamsOf DeploymentSpecOwner(const Services& s);
// Path parameter `name`; with `body_team`, also the body's owner_team (a
// model created by the request, or moved to another team).
TeamsOf ModelOwner(const Services& s, bool body_team);
// The object key (path parameter `key`) or the `prefix` query parameter.
TeamsOf ArtifactOwner(const Services& s, bool from_prefix);
// The team path parameter `team` (team administration).
TeamsOf TeamParam();
// Nobody owns it yet: the role in any team.
TeamsOf AnyTeam();

// An object-store key (or prefix) a spec names, checked like the artifact
// routes check it: the caller (the authenticated principal of `req`) needs
// `role` in the key's owner (viewer to read an input, member to publish into
// a prefix). Digests, local paths (LocalPathPolicy) and "" pass;
// PermissionDenied names `what` and the key.
Status CheckSpecKey(const Services& s, const http::Request& req, const std::string& value,
                    Role role, const std::string& what);
// What the caller of a list route may see: entries of teams where it has
// the viewer role (every entry for a platform admin). Lists are filtered by
// it, so a page may hold fewer than the asked number of entries.
class ListScope {
 public:
  static StatusOr<ListScope> Of(const Services& s, const http::Request& req);
  bool Sees(const std::string& team) const;  // "" reads as the default team

 private:
  bool admin_ = false;
  std::vector<std::string> teams_;
};

// source_dir and inputs (viewer), publish_prefix (member); `field` prefixes names.
Status CheckJobSpecKeys(const Services& s, const http::Request& req,
                        const compute::jobs::JobSpec& spec, const std::string& field = "");

}  // namespace tandem::api
