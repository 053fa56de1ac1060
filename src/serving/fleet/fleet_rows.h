// The fleet's in-memory deployments and replica slots (internal to
// serving/fleet), and their rows in the database (component "serving"):
// serving_deployments and serving_replicas.
// Thread-safety: the structs are guarded by the fleet's mutex; the functions
// use only their arguments.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "glue/sql/database.h"
#include "serving/fleet/autoscaler.h"
#include "serving/fleet/deployment_spec.h"
#include "serving/fleet/replica_process.h"

namespace tandem::serving::fleet {

struct Slot {
  int index = 0;
  pid_t pid = 0;
  int64_t start_time = 0;
  int64_t started_at_us = 0;
  int64_t generation = 0;
  int admin_port = 0;
  bool ready = false;
  bool adopted = false;
  bool stopping = false;
  int64_t stop_deadline_us = 0;
  int failures = 0;
  int restarts = 0;
  int64_t next_start_us = 0;
  int64_t version = 0;
  std::string reason;           // why not ready (ReplicaStatus::reason)
  std::string reported_reason;  // the last reason sent as an event
};

struct Deployment {
  DeploymentSpec spec;
  std::string model_name;
  int desired = 0;
  int64_t generation = 1;
  int64_t created_at = 0;
  bool deleting = false;
  std::vector<Slot> slots;
  std::unique_ptr<Autoscaler> autoscaler;
  // The port's listening socket, inherited by the replicas (see
  // ListeningSocket); invalid until the first replica starts.
  ListeningSocket listener;
};

const std::vector<sql::Migration>& FleetMigrations();

// Upserts `d`'s row and replaces its replica rows (stopping ones left out).
Status WriteDeploymentRows(sql::Transaction& tx, const Deployment& d, int64_t now_micros);

// Reads every deployment and its replicas into `into` (autoscalers not set).
// `adopt`: a replica whose pid + start time still match is marked adopted,
// one that is gone is reset to start again; else slots are as recorded.
Status ReadDeployments(sql::Database& db, bool adopt, std::map<std::string, Deployment>& into);

}  // namespace tandem::serving::fleet
