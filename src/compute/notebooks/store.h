// Managed notebooks' table in the registry database (component "notebooks",
// SQL written once for SQLite and PostgreSQL):
//   compute_notebooks  one row per notebook name: its current (or last)
//                      execution and the totals metered over all executions.
//
// Every state change is written with its "Notebook Instance State Change"
// event through the outbox in one transaction.
//
// Thread-safety: all methods are thread-safe (and safe across processes).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "glue/bus/outbox.h"
#include "glue/sql/database.h"

namespace tandem::compute::notebooks {

// SageMaker notebook-instance statuses.
enum class NotebookState { kPending, kInService, kStopping, kStopped, kFailed };
std::string_view NotebookStateName(NotebookState s);
StatusOr<NotebookState> ParseNotebookState(std::string_view name);
// Pending, InService and Stopping hold (or are about to hold) a process.
bool IsActive(NotebookState s);

struct NotebookRecord {
  std::string name;
  std::string team;
  NotebookState state = NotebookState::kPending;
  int64_t idle_timeout_seconds = 3600;
  int64_t execution = 0;     // 1, 2, ... one per start
  std::string instance_dir;  // host directory of the current execution
  int port = 0;              // loopback port of the Jupyter server
  std::string token;         // Jupyter token (secret: shown only by `url`)
  std::string handle_substrate;
  std::string handle_id;
  std::string stop_reason;  // "requested", "idle", "exited", "lost"
  std::string failure_reason;
  std::string snapshot_key;  // object-store key of the saved working directory
  std::string snapshot_digest;
  // The image Jupyter runs in (docs/images.md), resolved at start; all
  // empty = the host's environment.
  std::string image_reference;   // as asked
  std::string image_repository;  // in tandem's image store
  std::string image_digest;      // the manifest it resolved to
  int64_t created_micros = 0;
  int64_t started_micros = 0;  // current execution
  int64_t stopped_micros = 0;
  int64_t last_activity_micros = 0;
  int64_t updated_micros = 0;
  // Metered over every execution so far.
  double wall_seconds = 0;
  double cpu_seconds = 0;
  double cost = 0;

  std::string Url() const;  // http://127.0.0.1:<port>/?token=<token>, "" unless InService
  // `with_secret` false drops the token (list/get); true keeps it (url).
  Json ToJson(bool with_secret) const;
};

class NotebookStore {
 public:
  static StatusOr<std::unique_ptr<NotebookStore>> Open(sql::Database& db, bus::Outbox& outbox,
                                                       Clock& clock);

  // NotFound naming the notebook.
  StatusOr<NotebookRecord> Get(const std::string& name);
  // By name; `team` "" = any.
  StatusOr<std::vector<NotebookRecord>> List(const std::string& team);
  StatusOr<std::vector<NotebookRecord>> ListActive();
  // Notebooks per (state, team), from one GROUP BY.
  StatusOr<std::map<std::pair<std::string, std::string>, int64_t>> CountByStateAndTeam();

  // Reads `name` (NotFound -> `create` decides), lets `mutate` change it and
  // writes it back, appending a state-change event when the state changed,
  // all in one transaction. `mutate` returns an error to abort (e.g.
  // FailedPrecondition when the state does not allow the change). With
  // `create` true a missing row starts from a fresh record named `name`.
  StatusOr<NotebookRecord> Update(const std::string& name, bool create,
                                  const std::function<Status(NotebookRecord&)>& mutate);

 private:
  NotebookStore(sql::Database& db, bus::Outbox& outbox, Clock& clock)
      : db_(db), outbox_(outbox), clock_(clock) {}
  sql::Database& db_;
  bus::Outbox& outbox_;
  Clock& clock_;
};

}  // namespace tandem::compute::notebooks
