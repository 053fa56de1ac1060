#include "compute/substrates/slurm/substrate.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/synchronization/mutex.h"
#include "common/helper_programs.h"
#include "common/log.h"
#include "common/spec_fields.h"
#include "common/subprocess.h"
#include "compute/jobs/substrate_config.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/runner/sandbox.h"
#include "compute/substrates/slurm/node_job.h"

namespace tandem::compute::slurm {
namespace {

namespace fs = std::filesystem;

constexpr char kStopFile[] = "stop";          // written by Stop: {grace_seconds, requested_micros}
constexpr char kScriptFile[] = "job.sbatch";  // the batch script
constexpr char kSlurmIdFile[] = "slurm_job_id";
constexpr char kFromSlurmFile[] = "result_from_slurm";  // result.json was derived from Slurm
// After Slurm reports the end of a job whose runner started, how long to wait
// for its result.json to show up (shared filesystems cache attributes).
constexpr int64_t kResultWaitMicros = 5'000'000;

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

bool PlainWord(const std::string& s) {
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '\'' || c == '"') return false;
  }
  return true;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string Tail(const std::string& text, size_t n) {
  std::string t = text.size() > n ? text.substr(text.size() - n) : text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

bool Contains(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

std::optional<int64_t> ReadStarted(const std::string& dir) {
  auto text = runner::ReadFile(dir + "/" + runner::kStartedFile);
  if (!text || text->empty()) return std::nullopt;
  return std::strtoll(text->c_str(), nullptr, 10);
}

struct StopRecord {
  int64_t grace_seconds = 0;
  int64_t requested_micros = 0;
  bool killed = false;
};

std::optional<StopRecord> ReadStop(const std::string& dir) {
  Json j;
  if (!runner::ReadJsonFile(dir + "/" + kStopFile, &j).empty() || !j.is_object())
    return std::nullopt;
  StopRecord r;
  r.grace_seconds = j.value("grace_seconds", int64_t{0});
  r.requested_micros = j.value("requested_micros", int64_t{0});
  r.killed = j.value("killed", false);
  return r;
}

std::string WriteStop(const std::string& dir, const StopRecord& r) {
  Json j = {{"grace_seconds", r.grace_seconds},
            {"requested_micros", r.requested_micros},
            {"killed", r.killed}};
  return runner::WriteFileAtomic(dir + "/" + kStopFile, j.dump());
}

}  // namespace

StatusOr<SlurmSubstrateOptions> SlurmOptionsFromConfig(const Config& config) {
  SlurmSubstrateOptions o;
  ASSIGN_OR_RETURN(Json section, spec::Section(config.raw, "compute"));
  RETURN_IF_ERROR(
      spec::CheckKnown(section, "compute.",
                       {"substrate", "conf", "partition", "account", "state_root", "sbatch_args",
                        "cpus", "sandbox", "grace_seconds", "checkpoint_sync_seconds", "shared_fs",
                        "node_dir", "node_store", "node_images", "node_image_cache_mb", "lease_seconds"}));
  if (section.contains("substrate")) {
    RETURN_IF_ERROR(spec::OneOf(section["substrate"], "compute.substrate", {"slurm"}).status());
  }
  for (const auto& [key, out] : {std::pair<const char*, std::string*>{"conf", &o.slurm_conf},
                                 {"partition", &o.partition},
                                 {"account", &o.account},
                                 {"state_root", &o.state_root},
                                 {"node_dir", &o.node_dir},
                                 {"node_store", &o.node_store_uri},
                                 {"node_images", &o.node_images_uri}}) {
    if (section.contains(key)) {
      ASSIGN_OR_RETURN(*out, spec::String(section[key], std::string("compute.") + key));
    }
  }
  if (section.contains("sbatch_args")) {
    ASSIGN_OR_RETURN(o.extra_sbatch_args,
                     spec::StringList(section["sbatch_args"], "compute.sbatch_args"));
  }
  if (section.contains("shared_fs")) {
    if (!section["shared_fs"].is_boolean()) {
      return spec::TypeError("compute.shared_fs", "a boolean", section["shared_fs"]);
    }
    o.shared_fs = section["shared_fs"].get<bool>();
  }
  if (section.contains("node_image_cache_mb")) {
    ASSIGN_OR_RETURN(int64_t mb, spec::Integer(section["node_image_cache_mb"],
                                               "compute.node_image_cache_mb", 1, int64_t{1} << 30));
    o.node_image_cache_bytes = static_cast<uint64_t>(mb) << 20;
  }
  RETURN_IF_ERROR(jobs::ReadCommonSubstrateKeys(section, o));
  return o;
}

StatusOr<std::unique_ptr<SlurmSubstrate>> SlurmSubstrate::Create(SlurmSubstrateOptions options) {
  RETURN_IF_ERROR(jobs::ResolveRunner(options.runner_path));
  if (options.step_path.empty()) {
    ASSIGN_OR_RETURN(options.step_path, FindHelperProgram("tandem-slurm-step"));
  }
  if (!subprocess::IsExecutableFile(options.step_path)) {
    return NotFoundError("tandem-slurm-step not found or not executable at \"" + options.step_path +
                         "\"");
  }
  if (!options.slurm_conf.empty() && !Exists(options.slurm_conf)) {
    return NotFoundError("Slurm configuration \"" + options.slurm_conf + "\" does not exist");
  }
  if (!PlainWord(options.partition)) {
    return InvalidArgumentError("Slurm partition \"" + options.partition + "\" is not a name");
  }
  if (!PlainWord(options.account)) {
    return InvalidArgumentError("Slurm account \"" + options.account + "\" is not a name");
  }
  for (const auto& a : options.extra_sbatch_args) {
    if (a.empty() || a[0] != '-') {
      return InvalidArgumentError("extra sbatch argument \"" + a +
                                  "\" must be an option starting with '-' (e.g. --qos=high)");
    }
  }
  RETURN_IF_ERROR(jobs::CheckSubstrateLimits(options.log_limit_bytes, options.grace_seconds,
                                             options.capacity_cpus));
  if (!options.shared_fs) {
    if (options.store == nullptr) {
      return FailedPreconditionError(
          "shared_fs: false needs the object store (the nodes' results come back through it)");
    }
    if (options.node_store_uri.empty()) options.node_store_uri = options.store->uri();
    if (options.node_dir.empty() || options.node_dir[0] != '/' || !PlainWord(options.node_dir)) {
      return InvalidArgumentError("node_dir \"" + options.node_dir +
                                  "\" must be an absolute path without spaces or quotes");
    }
    if (options.node_path.empty()) {
      ASSIGN_OR_RETURN(options.node_path, FindHelperProgram("tandem-slurm-node"));
    }
    if (!subprocess::IsExecutableFile(options.node_path)) {
      return NotFoundError("tandem-slurm-node not found or not executable at \"" +
                           options.node_path + "\"");
    }
  }
  if (!options.state_root.empty() && options.state_root[0] != '/') {
    return InvalidArgumentError("state_root \"" + options.state_root + "\" must be absolute");
  }
  if (!options.commands) {
    ProcessSlurmCommandsOptions copts;
    copts.slurm_conf = options.slurm_conf;
    copts.clock = options.clock;
    options.commands = NewProcessSlurmCommands(copts);
  }
  ASSIGN_OR_RETURN(std::string bwrap,
                   jobs::ResolveBwrap(options.sandbox != SlurmSubstrateOptions::Sandbox::kOff,
                                      options.sandbox == SlurmSubstrateOptions::Sandbox::kOn,
                                      options.bwrap_path));
  double capacity = options.capacity_cpus;
  if (capacity == 0) {
    std::vector<std::string> argv = {"sinfo", "-h", "-o", "%C"};
    if (!options.partition.empty()) argv.push_back("--partition=" + options.partition);
    ASSIGN_OR_RETURN(CommandResult r, options.commands->Run(argv));
    if (r.exit_code != 0) {
      return UnavailableError("cannot reach Slurm (sinfo exit " + std::to_string(r.exit_code) +
                              "): " + Tail(r.err, 1000));
    }
    auto cpus = ParseSinfoCpus(r.out);
    if (!cpus.ok()) return cpus.status();
    if (*cpus <= 0) {
      return FailedPreconditionError("Slurm partition " +
                                     (options.partition.empty() ? "(default)" : options.partition) +
                                     " has no CPUs");
    }
    capacity = *cpus;
  }
  return std::unique_ptr<SlurmSubstrate>(
      new SlurmSubstrate(std::move(options), std::move(bwrap), capacity));
}

SlurmSubstrate::SlurmSubstrate(SlurmSubstrateOptions options, std::string bwrap_path,
                               double capacity)
    : options_(std::move(options)),
      bwrap_path_(std::move(bwrap_path)),
      capacity_cpus_(capacity),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::Real()) {}

std::vector<std::string> SlurmSubstrate::SbatchArgs(const jobs::LaunchRequest& r,
                                                    const std::string& state_dir,
                                                    const std::string& script_path) const {
  int64_t limit =
      r.max_runtime_seconds + options_.grace_seconds + options_.time_limit_margin_seconds;
  int64_t minutes = std::max<int64_t>(1, (limit + 59) / 60);
  int cpus = std::max(1, static_cast<int>(std::ceil(r.resources.cpus)));
  std::vector<std::string> a = {
      "sbatch", "--parsable", "--job-name=tandem-" + r.job_id,
      // Node-local: the job log comes back with the results, and the node
      // has neither the log's nor the state directory's path.
      "--output=" + (options_.shared_fs ? r.log_path : std::string("/dev/null")),
      "--open-mode=append", "--chdir=" + (options_.shared_fs ? state_dir : std::string("/tmp")),
      // NONE/NIL make slurmd load the user's login
      // environment (seconds); the commands run with a
      // minimal one, and the runner gives the job
      // exactly the contract's environment anyway.
      "--export=ALL", "--no-requeue", "--nodes=1", "--ntasks=1",
      "--cpus-per-task=" + std::to_string(cpus), "--time=" + std::to_string(minutes)};
  if (r.resources.memory_mb > 0)
    a.push_back("--mem=" + std::to_string(r.resources.memory_mb) + "M");
  if (!options_.partition.empty()) a.push_back("--partition=" + options_.partition);
  if (!options_.account.empty()) a.push_back("--account=" + options_.account);
  for (const auto& x : options_.extra_sbatch_args) a.push_back(x);
  a.push_back(script_path);
  return a;
}

std::string SlurmSubstrate::BatchScript(const jobs::LaunchRequest& r,
                                        const std::string& state_dir) const {
  return "#!/bin/sh\n"
         "# tandem job " +
         r.job_id + ", attempt " + std::to_string(r.attempt) +
         ": written by the Slurm substrate. tandem-slurm-step runs tandem-job-runner,\n"
         "# which sets up the SageMaker contract from " +
         state_dir +
         "/request.json.\n"
         "exec " +
         ShellQuote(options_.step_path) + " " + ShellQuote(options_.runner_path) + " " +
         ShellQuote(state_dir) + "\n";
}

std::string SlurmSubstrate::NodeBatchScript(const jobs::LaunchRequest& r,
                                            const std::string& payload) const {
  // The payload is one line of JSON (control characters are escaped), so it
  // cannot contain the here-document's delimiter line; the quoted delimiter
  // keeps the shell from expanding anything in it.
  return "#!/bin/sh\n"
         "# tandem job " +
         r.job_id + ", attempt " + std::to_string(r.attempt) +
         ": written by the Slurm substrate (shared_fs: false). tandem-slurm-node stages\n"
         "# the job from the object store under " +
         options_.node_dir +
         ", runs it and puts its results back.\n"
         "mkdir -p " +
         ShellQuote(options_.node_dir) +
         " || exit 2\n"
         "exec " +
         ShellQuote(options_.node_path) + " " + ShellQuote(options_.runner_path) + " 2>>" +
         ShellQuote(options_.node_dir + "/tandem-slurm-node.log") +
         " <<'TANDEM_NODE_PAYLOAD'\n" + payload + "\nTANDEM_NODE_PAYLOAD\n";
}

StatusOr<SlurmSubstrate::ParsedHandle> SlurmSubstrate::ParseHandle(const jobs::JobHandle& handle) {
  if (handle.substrate != "slurm") {
    return InvalidArgumentError("handle of substrate \"" + handle.substrate +
                                "\" given to the Slurm substrate");
  }
  size_t colon = handle.id.find(':');
  ParsedHandle h;
  if (colon != std::string::npos) {
    h.slurm_id = handle.id.substr(0, colon);
    h.state_dir = handle.id.substr(colon + 1);
  }
  bool digits =
      !h.slurm_id.empty() && h.slurm_id.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || h.state_dir.empty() || h.state_dir[0] != '/') {
    return NotFoundError("Slurm handle \"" + handle.id +
                         "\" is not <slurm job id>:<absolute state dir>");
  }
  return h;
}

StatusOr<jobs::JobHandle> SlurmSubstrate::Submit(const jobs::LaunchRequest& r) {
  RETURN_IF_ERROR(jobs::ValidateLaunchRequest(r));
  if (!r.image_digest.empty() && options_.shared_fs) {
    return FailedPreconditionError(
        "job " + r.job_id + " runs in image " + r.image_repository + "@" + r.image_digest +
        ": on Slurm, jobs in images need `compute.shared_fs: false` (the node pulls the image "
        "into its own layer cache; docs/backends/slurm.md)");
  }
  if (!options_.shared_fs) {
    if (r.spec == nullptr) {
      return InvalidArgumentError("job " + r.job_id +
                                  ": shared_fs: false needs the job's spec (the node stages it)");
    }
    if (!r.secret_env.empty() || !r.secret_files.empty()) {
      return FailedPreconditionError(
          "job " + r.job_id +
          " uses secrets: not supported with shared_fs: false yet (the batch script that "
          "carries the job to the node is kept by slurmctld)");
    }
  }
  // The batch script names the log path unquoted.
  if (!PlainWord(r.log_path)) {
    return InvalidArgumentError("log_path \"" + r.log_path +
                                "\" must be an absolute path without spaces or quotes");
  }
  ASSIGN_OR_RETURN(std::string dir, jobs::AttemptStateDir(r, options_.state_root, ".slurm"));
  if (!PlainWord(dir)) {
    return InvalidArgumentError("state directory \"" + dir +
                                "\" must not contain spaces or quotes");
  }
  RETURN_IF_ERROR(jobs::CreateAttemptDir(r, dir));
  std::error_code ec;
  auto fail = [&](Status s) {
    fs::remove_all(dir, ec);  // nothing was queued: the same attempt may be submitted again
    return s;
  };
  if (std::string e = runner::WriteRunnerRequest(dir, r, bwrap_path_, options_); !e.empty()) {
    return fail(InternalError(e));
  }
  std::string script = dir + "/" + kScriptFile;
  std::string script_text;
  if (options_.shared_fs) {
    script_text = BatchScript(r, dir);
  } else {
    NodePayload p;
    p.spec = r.spec->ToJson();
    if (std::string e = runner::ReadJsonFile(dir + "/" + runner::kRequestFile, &p.runner_request);
        !e.empty()) {
      return fail(InternalError(e));
    }
    p.store_uri = options_.node_store_uri;
    p.images_uri = options_.node_images_uri;
    p.node_dir = options_.node_dir;
    p.image_cache_bytes = options_.node_image_cache_bytes;
    p.bundle_key = NodeBundleKey(r.job_id, r.attempt);
    // A bundle left by an earlier control plane's submission of this attempt.
    (void)options_.store->Delete(p.bundle_key);
    script_text = NodeBatchScript(r, p.ToJson().dump());
  }
  // Owner-only: with shared_fs false it carries the node's store URI.
  if (std::string e = runner::WriteFileAtomic(script, script_text, 0700); !e.empty()) {
    return fail(InternalError(e));
  }
  auto ran = options_.commands->Run(SbatchArgs(r, dir, script));
  if (!ran.ok()) return fail(ran.status());
  if (ran->exit_code != 0) {
    return fail(FailedPreconditionError("sbatch refused job " + r.job_id + " (exit " +
                                        std::to_string(ran->exit_code) +
                                        "): " + Tail(ran->err + ran->out, 2000)));
  }
  auto id = ParseSbatchParsable(ran->out);
  if (!id.ok()) return fail(id.status());  // queued or not, we cannot know which job it is
  if (std::string e = runner::WriteFileAtomic(dir + "/" + kSlurmIdFile, *id + "\n"); !e.empty()) {
    // Only a note for people reading the state directory; the handle has the id.
    LogWarn("cannot record the Slurm job id", {{"slurm_job_id", *id}, {"error", e}});
  }
  return jobs::JobHandle{"slurm", *id + ":" + dir};
}

StatusOr<jobs::ExitInfo> SlurmSubstrate::ReadResult(const std::string& dir) const {
  Json j;
  if (std::string e = runner::ReadJsonFile(dir + "/" + runner::kResultFile, &j); !e.empty()) {
    return NotFoundError(e);
  }
  jobs::ExitInfo info;
  if (std::string e = runner::ExitInfoFromJson(j, &info); !e.empty()) return DataLossError(e);
  return info;
}

StatusOr<std::optional<SlurmJobState>> SlurmSubstrate::QuerySlurm(const std::string& id) {
  ASSIGN_OR_RETURN(CommandResult q, options_.commands->Run({"squeue", "-h", "-t", "all", "-j", id,
                                                            "-O", kSqueueFormat}));
  if (q.exit_code == 0) {
    ASSIGN_OR_RETURN(auto state, ParseSqueue(q.out, id));
    if (state) return state;
  } else if (!Contains(q.err, "Invalid job id")) {
    return UnavailableError("squeue failed (exit " + std::to_string(q.exit_code) +
                            "): " + Tail(q.err, 1000));
  }
  // slurmctld forgot the job (MinJobAge): ask the accounting database, or
  // without one the job completion log.
  bool completion;
  {
    absl::MutexLock lock(&mu_);
    completion = sacct_completion_;
  }
  std::vector<std::string> argv = {"sacct", "-P", "-n", "-j", id, "-o", kSacctFields};
  if (!completion) {
    ASSIGN_OR_RETURN(CommandResult s, options_.commands->Run(argv));
    if (s.exit_code == 0) return ParseSacct(s.out, id);
    if (!Contains(s.err, "accounting storage is disabled")) {
      return UnavailableError("sacct failed (exit " + std::to_string(s.exit_code) +
                              "): " + Tail(s.err, 1000));
    }
    absl::MutexLock lock(&mu_);
    sacct_completion_ = true;
  }
  argv.insert(argv.begin() + 1, "-c");
  ASSIGN_OR_RETURN(CommandResult s, options_.commands->Run(argv));
  if (s.exit_code != 0) {
    return UnavailableError("sacct -c failed (exit " + std::to_string(s.exit_code) +
                            "): " + Tail(s.err, 1000));
  }
  return ParseSacct(s.out, id);
}

StatusOr<std::optional<SlurmJobState>> SlurmSubstrate::QueryCached(const std::string& id,
                                                                   bool force) {
  int64_t now = clock_.MonotonicMicros();
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(id);
    if (!force && it != cache_.end() &&
        now - it->second.at_micros < options_.query_interval_ms * 1000) {
      return it->second.state;
    }
  }
  ASSIGN_OR_RETURN(auto state, QuerySlurm(id));
  absl::MutexLock lock(&mu_);
  cache_[id] = Cached{now, state};
  if (cache_.size() > 10'000) cache_.erase(cache_.begin());
  return state;
}

void SlurmSubstrate::Escalate(const ParsedHandle& h) {
  auto stop = ReadStop(h.state_dir);
  if (!stop || stop->killed) return;
  int64_t due =
      stop->requested_micros + (stop->grace_seconds + options_.kill_after_seconds) * 1'000'000;
  if (clock_.NowMicros() < due) return;
  auto r = options_.commands->Run({"scancel", h.slurm_id});
  if (r.ok() && r->exit_code == 0) {
    stop->killed = true;
    WriteStop(h.state_dir, *stop);
  }
}

StatusOr<std::optional<jobs::ExitInfo>> SlurmSubstrate::Poll(const jobs::JobHandle& handle) {
  ASSIGN_OR_RETURN(ParsedHandle h, ParseHandle(handle));
  const std::string& dir = h.state_dir;
  if (!Exists(dir + "/" + runner::kRequestFile)) {
    return NotFoundError("no Slurm job state at \"" + dir + "\"");
  }
  const bool stop_requested = Exists(dir + "/" + kStopFile);
  if (!options_.shared_fs && !Exists(dir + "/" + runner::kResultFile)) {
    ASSIGN_OR_RETURN(bool fetched, FetchFromNode(h, stop_requested));
    (void)fetched;  // result.json is there now when it was
  }
  if (Exists(dir + "/" + runner::kResultFile)) {
    ASSIGN_OR_RETURN(jobs::ExitInfo info, ReadResult(dir));
    if (info.kind == jobs::ExitKind::kStopped && !stop_requested &&
        !Exists(dir + "/" + kFromSlurmFile)) {
      // Not our stop: Slurm's time limit, preemption or node drain sent SIGTERM.
      auto state = QueryCached(h.slurm_id, false);
      if (state.ok() && *state) {
        auto mapped = MapSlurmState(**state);
        if (mapped.ok() && *mapped && (*mapped)->kind != jobs::ExitKind::kStopped &&
            (*mapped)->kind != jobs::ExitKind::kExited) {
          info.kind = (*mapped)->kind;
          info.message = (*mapped)->message + " (runner: " + info.message + ")";
        }
      }
    }
    if (stop_requested) {
      // tandem-slurm-step lingers after a stop until this scancel, so
      // Slurm records the job as CANCELLED.
      auto stop = ReadStop(dir);
      if (stop && !stop->killed) {
        auto r = options_.commands->Run({"scancel", h.slurm_id});
        if (r.ok()) {
          stop->killed = true;
          WriteStop(dir, *stop);
        }
      }
    }
    return std::optional<jobs::ExitInfo>(std::move(info));
  }
  ASSIGN_OR_RETURN(auto state, QueryCached(h.slurm_id, false));
  std::optional<jobs::ExitInfo> ended;
  if (!state) {
    jobs::ExitInfo lost;
    lost.kind = jobs::ExitKind::kLost;
    lost.message = "Slurm no longer knows job " + h.slurm_id + " and it left no result";
    ended = lost;
  } else {
    auto mapped = MapSlurmState(*state);
    if (!mapped.ok()) return DataLossError(std::string(mapped.status().message()));
    if (!*mapped) {
      if (stop_requested) Escalate(h);
      return std::optional<jobs::ExitInfo>();
    }
    ended = **mapped;
    // The runner started: its result may not be visible here yet (or, with
    // node-local job directories, the node's results in the store).
    if (Exists(dir + "/" + runner::kRunnerFile) || !options_.shared_fs) {
      int64_t end = state->end_micros > 0 ? state->end_micros : clock_.NowMicros();
      if (clock_.NowMicros() < end + kResultWaitMicros) return std::optional<jobs::ExitInfo>();
    }
  }
  if (Exists(dir + "/" + runner::kResultFile)) return Poll(handle);  // written since we looked
  if (stop_requested &&
      (ended->kind == jobs::ExitKind::kStopped || ended->kind == jobs::ExitKind::kLost ||
       ended->kind == jobs::ExitKind::kExited || ended->kind == jobs::ExitKind::kSignaled)) {
    ended->kind = jobs::ExitKind::kStopped;
    ended->message = "stopped (" + ended->message + ")";
  }
  // When user code started: Slurm's StartTime is when the allocation began
  // (or, for a job cancelled while pending, when it was cancelled).
  if (auto started = ReadStarted(dir)) {
    ended->started_micros = *started;
  } else if (!Exists(dir + "/" + runner::kRunnerFile)) {
    ended->started_micros = 0;
  }
  if (ended->ended_micros == 0) ended->ended_micros = clock_.NowMicros();
  std::string log = runner::ReadFile(dir + "/" + runner::kRunnerLogFile).value_or("");
  if (!log.empty()) ended->message += "; runner: " + Tail(log, 500);
  // Later polls (and other control planes) see the same answer.
  std::string e = runner::WriteFileAtomic(dir + "/" + kFromSlurmFile, "");
  if (e.empty()) {
    e = runner::WriteFileAtomic(dir + "/" + runner::kResultFile,
                                runner::ExitInfoToJson(*ended).dump());
  }
  if (!e.empty()) {
    LogWarn("cannot record a Slurm job's result; later polls ask Slurm again",
            {{"slurm_job_id", h.slurm_id}, {"error", e}});
  }
  absl::MutexLock lock(&mu_);
  cache_.erase(h.slurm_id);
  return ended;
}

Status SlurmSubstrate::Stop(const jobs::JobHandle& handle, int64_t grace_seconds) {
  ASSIGN_OR_RETURN(ParsedHandle h, ParseHandle(handle));
  if (!Exists(h.state_dir + "/" + runner::kRequestFile)) {
    return NotFoundError("no Slurm job state at \"" + h.state_dir + "\"");
  }
  if (grace_seconds < 0) return InvalidArgumentError("grace_seconds must be >= 0");
  if (Exists(h.state_dir + "/" + runner::kResultFile)) return OkStatus();  // already over
  StopRecord rec;
  rec.grace_seconds = grace_seconds;
  rec.requested_micros = clock_.NowMicros();
  if (auto earlier = ReadStop(h.state_dir)) rec = *earlier;  // keep the first deadline
  if (std::string e = WriteStop(h.state_dir, rec); !e.empty()) return InternalError(e);
  // Until the runner is up there is nothing to stop gracefully.
  bool started = Exists(h.state_dir + "/" + runner::kRunnerFile);
  if (!options_.shared_fs) {
    // The runner's files are on the node: a running batch script (staging or
    // supervising) passes SIGTERM on once the runner is up.
    auto state = QueryCached(h.slurm_id, true);
    started = state.ok() && *state && (*state)->state == "RUNNING";
  }
  std::vector<std::string> argv = {"scancel"};
  if (started) {
    argv.push_back("--batch");
    argv.push_back("--signal=TERM");
  }
  argv.push_back(h.slurm_id);
  ASSIGN_OR_RETURN(CommandResult r, options_.commands->Run(argv));
  if (r.exit_code != 0 && !Contains(r.err, "already completing or completed") &&
      !Contains(r.err, "Invalid job id")) {
    return UnavailableError("scancel " + h.slurm_id + " failed (exit " +
                            std::to_string(r.exit_code) + "): " + Tail(r.err, 1000));
  }
  absl::MutexLock lock(&mu_);
  cache_.erase(h.slurm_id);  // the next Poll asks Slurm afresh
  return OkStatus();
}

StatusOr<bool> SlurmSubstrate::FetchFromNode(const ParsedHandle& h, bool stop_requested) {
  if (!stop_requested) {
    ASSIGN_OR_RETURN(auto state, QueryCached(h.slurm_id, false));
    if (state) {
      auto mapped = MapSlurmState(*state);
      if (mapped.ok() && !*mapped) return false;  // still pending or running
    }
  }
  Json j;
  if (std::string e = runner::ReadJsonFile(h.state_dir + "/" + runner::kRequestFile, &j);
      !e.empty()) {
    return NotFoundError(e);
  }
  runner::RunnerRequest rr;
  if (std::string e = runner::RunnerRequestFromJson(j, &rr); !e.empty()) return DataLossError(e);
  return FetchNodeBundle(*options_.store, NodeBundleKey(rr.launch.job_id, rr.launch.attempt),
                         rr.launch.job_dir, h.state_dir, rr.launch.log_path);
}

std::optional<int64_t> SlurmSubstrate::StartedMicros(const jobs::JobHandle& handle) {
  auto h = ParseHandle(handle);
  if (!h.ok()) return std::nullopt;
  return ReadStarted(h->state_dir);
}

}  // namespace tandem::compute::slurm
