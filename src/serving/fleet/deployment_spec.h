// A serving deployment: which model a fleet of replicas serves, how many, on
// which port, and how they batch and scale. Read from YAML or JSON; unknown
// or ill-typed fields are refused with InvalidArgument naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "serving/traffic/policy.h"

namespace tandem::serving::fleet {

struct DeploymentSpec {
  std::string name;  // [a-z0-9-], 1..63, starts with a letter
  std::string team;
  std::string model;  // NAME@alias | NAME/VERSION | NAME
  int min_replicas = 1;
  int max_replicas = 1;
  // Autoscaling (HPA rule) on mean in-flight requests per replica; 0 = off.
  double target_in_flight_per_replica = 0;
  int64_t scale_down_stabilization_s = 300;
  double tolerance = 0.1;
  int min_available = 0;  // disruption budget during rolling restarts
  int port = 0;           // shared (SO_REUSEPORT) port; 0 = pick one at apply
  // Rows per batch; 1 = no batching; 0 (the default) = automatic: adaptive
  // batching for Python handlers and plugins, none for the native forest.
  int max_batch_size = 0;
  int64_t max_queue_delay_us = 0;
  int queue_size = 1024;
  Json resources = Json::object();  // recorded, not enforced locally
  traffic::TrafficPolicy traffic;   // optional `shadow:` and `canary:`
  // `auth: {tokens: [secret names]}`: /v2 and /infer need one of these tokens
  // (stored secrets of the deployment's team; the control plane resolves
  // them at apply into `token_sha256`, the SHA-256 digests the replicas
  // check). Replicas never see a token, only digests.
  std::vector<std::string> auth_tokens;
  std::vector<std::string> auth_token_sha256;  // 64 lowercase hex digits each
  // `image:` the environment of the replicas' Python handler workers
  // (docs/images.md, "Serving from an image"): absent = the image the served
  // model version was trained in (its lineage), else the host; "" = the host
  // explicitly; else an image reference in tandem's image store. The control
  // plane resolves it at apply into `image_pinned` (repository@sha256:...,
  // "" = the host), which is what replicas run; a client's value of
  // image_pinned is replaced.
  std::optional<std::string> image;
  std::string image_pinned;

  Json ToJson() const;
  // True if replicas must be restarted to apply `other` (model, port,
  // batching, traffic policies, token digests, pinned image).
  bool NeedsRestart(const DeploymentSpec& other) const;
};

// The `tandem serve` flags a replica of `spec` gets for its token digests
// (--token-sha256) and pinned image (--image), appended to `argv`.
void AppendReplicaFlags(const DeploymentSpec& spec, std::vector<std::string>& argv);

// Parses YAML or JSON text into a validated spec.
StatusOr<DeploymentSpec> ParseDeploymentSpec(std::string_view text);
// Validates a JSON document (the REST body, or a stored spec).
StatusOr<DeploymentSpec> DeploymentSpecFromJson(const Json& doc);

}  // namespace tandem::serving::fleet
