// What the per-resource command files (jobs, transform, tune, ...) share:
// reading and preparing a spec file before it is sent, and the shapes of
// their run/get/stop/wait commands.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "cli/api_client.h"
#include "cli/context.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "common/json.h"
#include "common/status.h"

namespace tandem::cli {

// Completed, Failed and Stopped end a job, transform or tuning job.
bool IsTerminalState(std::string_view state);

// A spec value that names a local path: absolute, file://, or relative and
// existing next to the spec file becomes an absolute path. Store keys,
// digests and other URIs stay as they are.
std::string ResolveLocal(const std::string& value, const std::filesystem::path& spec_dir);

// Reads a YAML or JSON spec file that must be a mapping ("a <kind> must be a
// mapping"); NotFound when there is no such file.
StatusOr<Json> ReadSpecFile(const std::string& file, std::string_view kind);

// Uploads a local file to <prefix>/<its name> (returns that key) or every
// file of a local directory to <prefix>/<relative path> (returns `prefix`),
// for a spec field the control plane must not read from its own disk.
// Symlinks inside a directory are uploaded as copies of their target; one
// pointing outside the directory is InvalidArgument. `what` names the field.
StatusOr<std::string> UploadLocal(ApiClient& client, const std::string& path,
                                  const std::string& prefix, std::string_view what);

// teams/<spec's team, else default>/uploads/<new id>/<what>: where local
// files a spec names are uploaded (readable by that team's viewers only).
std::string UploadPrefix(const Json& spec, std::string_view what);

// Prepares the training-job fields of `job` (a job spec, or a tuning spec's
// training_job) read from a file in `spec_dir`: local input paths (relative
// to spec_dir, absolute, or file://) are uploaded (UploadLocal under
// UploadPrefix(job, "inputs/<channel>")) and replaced by their key or prefix;
// a local source_dir is packed and uploaded to the store
// (jobs/uploads/<id>/source.tar.gz) and replaced by its key. `field` prefixes
// error messages ("training_job.").
Status PrepareJobFields(ApiClient& client, Json& job, const std::filesystem::path& spec_dir,
                        std::string_view field = "");

// What `run` prints for what it created: the `key` field alone for tables,
// the whole object otherwise.
void PrintCreated(std::ostream& out, Format format, const Json& created, const std::string& key);

// What a `run` command does with a spec: POSTs it to `path`, then prints
// the created object's id (PrintCreated), or with `wait` says on stderr it
// was submitted and returns wait_for(id).
Status SubmitSpec(ApiClient& client, Format format, const std::string& path, const Json& spec,
                  bool wait, const std::function<Status(const std::string& id)>& wait_for);

// GETs `path` every 250 ms, showing summary(object) in `progress`, until the
// object's state ends; returns the last object. `long_poll` (a job's or a
// transform's path): each GET asks the control plane to answer only once the
// state has changed (?state=&wait_ms=, api/job_list.h), so the end is seen
// as soon as it happens; a control plane that answers at once anyway is
// polled every 250 ms as before.
StatusOr<Json> PollUntilEnded(ApiClient& client, const std::string& path, Progress& progress,
                              const std::function<std::string(const Json&)>& summary,
                              bool long_poll = false);

// The query of a long poll for a change from `state` (?state=..&wait_ms=..),
// or "" before the state is known.
std::string LongPollQuery(const std::string& state);
// Whether a GET that took `elapsed_ms` and saw no change means the control
// plane did not wait (then the caller sleeps before asking again).
bool AnsweredWithoutWaiting(int64_t elapsed_ms);

// OkStatus for Completed, else FailedPrecondition "<what> <id> <state>[:
// <failure_reason>]".
Status Outcome(std::string_view what, const std::string& id, const Json& object);

// Adds `<name> ID` that calls METHOD on path(ID) and prints the answer
// (`table` prints it for tables when given, else the object).
void AddObjectCommand(CLI::App* parent, Context& ctx, const std::string& name,
                      const std::string& help, const std::string& method,
                      const std::string& arg_help, const std::string& footer,
                      std::function<std::string(const std::string&)> path,
                      std::function<void(const std::string& id, const Json&)> table = nullptr);

}  // namespace tandem::cli
