#include "compute/substrates/slurm/commands.h"

#include <cmath>
#include <cstring>
#include <ctime>

#include "common/subprocess.h"

extern char** environ;

namespace tandem::compute::slurm {
namespace {

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> out;
  for (std::string& l : Split(text, '\n')) {
    std::string t = Trim(l);
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

std::string Quote(std::string_view s) {
  std::string t(s.substr(0, 300));
  return "\"" + t + (s.size() > 300 ? "...\"" : "\"");
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// "CANCELLED by 0" -> "CANCELLED"; "COMPLETED+" -> "COMPLETED".
std::string BaseState(std::string_view s) {
  std::string t = Trim(s);
  size_t sp = t.find_first_of(" +");
  return sp == std::string::npos ? t : t.substr(0, sp);
}

// sacct's "code:signal".
bool ParseExitPair(std::string_view s, int* code, int* sig) {
  auto parts = Split(s, ':');
  int64_t c = 0, g = 0;
  if (parts.size() != 2 || !ParseInt(parts[0], &c) || !ParseInt(parts[1], &g)) return false;
  *code = static_cast<int>(c);
  *sig = static_cast<int>(g);
  return true;
}

}  // namespace

// ---- running commands ------------------------------------------------------------

namespace {

class ProcessSlurmCommands final : public SlurmCommands {
 public:
  explicit ProcessSlurmCommands(ProcessSlurmCommandsOptions options)
      : options_(std::move(options)) {}

  StatusOr<CommandResult> Run(const std::vector<std::string>& argv) override {
    if (argv.empty()) return InvalidArgumentError("empty command");
    std::vector<std::string> args = argv;
    if (!options_.bin_dir.empty() && args[0].find('/') == std::string::npos) {
      args[0] = options_.bin_dir + "/" + args[0];
    }
    std::vector<std::string> env;
    // A minimal environment: sbatch --export=ALL hands it to the batch
    // script and slurmctld keeps it with the job, so the control plane's
    // secrets must not be in it (the job itself gets exactly the contract's
    // environment from the runner).
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view v(*e);
      if (!options_.slurm_conf.empty() && v.rfind("SLURM_CONF=", 0) == 0) continue;
      for (std::string_view keep : {"PATH=", "HOME=", "USER=", "LOGNAME=", "LANG=", "LC_ALL=",
                                    "TZ=", "TMPDIR=", "SLURM_"}) {
        if (v.rfind(keep, 0) == 0) {
          env.emplace_back(v);
          break;
        }
      }
    }
    if (!options_.slurm_conf.empty()) env.push_back("SLURM_CONF=" + options_.slurm_conf);
    subprocess::SpawnOptions spawn;
    spawn.argv = args;
    spawn.env = std::move(env);
    spawn.search_path = true;
    subprocess::RunOptions run;
    run.timeout_ms = options_.timeout_ms;
    run.clock = options_.clock;
    StatusOr<subprocess::RunResult> ran = subprocess::Run(std::move(spawn), run);
    if (!ran.ok()) {
      if (ran.status().code() == StatusCode::kDeadlineExceeded) return ran.status();
      return Status(ran.status().code(), std::string(ran.status().message()) +
                                             " (is Slurm's client installed and on $PATH?)");
    }
    CommandResult result;
    result.out = std::move(ran->out);
    result.err = std::move(ran->err);
    result.exit_code = ran->exit.signal != 0 ? 128 + ran->exit.signal : ran->exit.exit_code;
    return result;
  }

 private:
  const ProcessSlurmCommandsOptions options_;
};

}  // namespace

std::unique_ptr<SlurmCommands> NewProcessSlurmCommands(ProcessSlurmCommandsOptions options) {
  return std::make_unique<ProcessSlurmCommands>(std::move(options));
}

// ---- parsers ---------------------------------------------------------------------

const char kSqueueFormat[] = "JobID:|,State:|,Reason:|,exit_code:|,StartTime:|,EndTime:|";
const char kSacctFields[] = "JobID,State,ExitCode,Start,End,Elapsed,TotalCPU,MaxRSS";

StatusOr<std::string> ParseSbatchParsable(std::string_view out) {
  auto lines = Lines(out);
  if (lines.empty()) return DataLossError("sbatch --parsable printed no job id");
  std::string id = lines.back().substr(0, lines.back().find(';'));
  int64_t n = 0;
  if (!ParseInt(id, &n)) {
    return DataLossError("sbatch --parsable printed " + Quote(out) + ", not a job id");
  }
  return id;
}

StatusOr<double> ParseSlurmDuration(std::string_view text) {
  std::string t = Trim(text);
  if (t.empty()) return InvalidArgumentError("empty duration");
  int64_t days = 0;
  if (size_t dash = t.find('-'); dash != std::string::npos) {
    if (!ParseInt(t.substr(0, dash), &days))
      return InvalidArgumentError("bad duration " + Quote(t));
    t = t.substr(dash + 1);
  }
  double fraction = 0;
  if (size_t dot = t.find('.'); dot != std::string::npos) {
    int64_t f = 0;
    std::string digits = t.substr(dot + 1);
    if (!ParseInt(digits, &f)) return InvalidArgumentError("bad duration " + Quote(text));
    fraction = static_cast<double>(f) / std::pow(10.0, static_cast<double>(digits.size()));
    t = t.substr(0, dot);
  }
  auto parts = Split(t, ':');
  if (parts.size() < 2 || parts.size() > 3)
    return InvalidArgumentError("bad duration " + Quote(text));
  double seconds = 0;
  for (const auto& p : parts) {
    int64_t v = 0;
    if (!ParseInt(p, &v)) return InvalidArgumentError("bad duration " + Quote(text));
    seconds = seconds * 60 + static_cast<double>(v);
  }
  return static_cast<double>(days) * 86400 + seconds + fraction;
}

StatusOr<int64_t> ParseSlurmSize(std::string_view text) {
  std::string t = Trim(text);
  if (t.empty()) return InvalidArgumentError("empty size");
  double mult = 1;
  switch (t.back()) {
    case 'K':
      mult = 1024.0;
      break;
    case 'M':
      mult = 1024.0 * 1024;
      break;
    case 'G':
      mult = 1024.0 * 1024 * 1024;
      break;
    case 'T':
      mult = 1024.0 * 1024 * 1024 * 1024;
      break;
    default:
      break;
  }
  if (mult != 1) t.pop_back();
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || v < 0) {
    return InvalidArgumentError("bad size " + Quote(text));
  }
  return static_cast<int64_t>(v * mult);
}

StatusOr<int64_t> ParseSlurmTime(std::string_view text) {
  std::string t = Trim(text);
  if (t.empty() || t == "Unknown" || t == "N/A" || t == "None") return int64_t{0};
  std::tm tm{};
  const char* end = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr || *end != '\0') return InvalidArgumentError("bad time " + Quote(t));
  tm.tm_isdst = -1;
  time_t secs = mktime(&tm);
  if (secs == static_cast<time_t>(-1)) return InvalidArgumentError("bad time " + Quote(t));
  return static_cast<int64_t>(secs) * 1'000'000;
}

StatusOr<std::optional<SlurmJobState>> ParseSqueue(std::string_view out,
                                                   const std::string& job_id) {
  for (const std::string& line : Lines(out)) {
    auto f = Split(line, '|');
    if (f.size() < 6) {
      return DataLossError("squeue printed " + Quote(line) + ", expected 6 '|'-separated fields (" +
                           kSqueueFormat + ")");
    }
    if (Trim(f[0]) != job_id) continue;
    SlurmJobState s;
    s.job_id = job_id;
    s.state = BaseState(f[1]);
    s.reason = Trim(f[2]);
    int64_t raw = 0;
    std::string code = Trim(f[3]);
    if (!code.empty() && code != "N/A") {
      if (!ParseInt(code, &raw)) {
        return DataLossError("squeue printed exit_code " + Quote(code) + " for job " + job_id);
      }
      // A wait(2) status: the exit status in bits 8-15, a signal in bits 0-6.
      s.exit_code = static_cast<int>((raw >> 8) & 0xff);
      s.signal = static_cast<int>(raw & 0x7f);
    }
    auto start = ParseSlurmTime(f[4]);
    auto end = ParseSlurmTime(f[5]);
    if (!start.ok() || !end.ok()) {
      return DataLossError("squeue printed unreadable times in " + Quote(line));
    }
    s.start_micros = *start;
    s.end_micros = *end;
    if (s.start_micros > 0 && s.end_micros >= s.start_micros) {
      s.elapsed_seconds = static_cast<double>(s.end_micros - s.start_micros) / 1e6;
    }
    if (s.state.empty()) return DataLossError("squeue printed no state in " + Quote(line));
    return std::optional<SlurmJobState>(std::move(s));
  }
  return std::optional<SlurmJobState>();
}

StatusOr<std::optional<SlurmJobState>> ParseSacct(std::string_view out, const std::string& job_id) {
  std::optional<SlurmJobState> job;
  double cpu = -1;
  int64_t rss = -1;
  for (const std::string& line : Lines(out)) {
    auto f = Split(line, '|');
    if (f.size() < 8) {
      return DataLossError("sacct printed " + Quote(line) + ", expected 8 '|'-separated fields (" +
                           kSacctFields + ")");
    }
    std::string id = Trim(f[0]);
    if (id != job_id && id.rfind(job_id + ".", 0) != 0) continue;
    if (std::string t = Trim(f[6]); !t.empty()) {
      auto v = ParseSlurmDuration(t);
      if (!v.ok()) return DataLossError("sacct TotalCPU: " + std::string(v.status().message()));
      cpu = std::max(cpu, *v);
    }
    if (std::string t = Trim(f[7]); !t.empty()) {
      auto v = ParseSlurmSize(t);
      if (!v.ok()) return DataLossError("sacct MaxRSS: " + std::string(v.status().message()));
      rss = std::max(rss, *v);
    }
    if (id != job_id) continue;
    SlurmJobState s;
    s.job_id = job_id;
    s.state = BaseState(f[1]);
    if (s.state.empty()) return DataLossError("sacct printed no state in " + Quote(line));
    if (std::string e = Trim(f[2]); !e.empty() && !ParseExitPair(e, &s.exit_code, &s.signal)) {
      return DataLossError("sacct printed ExitCode " + Quote(e) + ", expected code:signal");
    }
    auto start = ParseSlurmTime(f[3]);
    auto end = ParseSlurmTime(f[4]);
    if (!start.ok() || !end.ok()) {
      return DataLossError("sacct printed unreadable times in " + Quote(line));
    }
    s.start_micros = *start;
    s.end_micros = *end;
    if (std::string t = Trim(f[5]); !t.empty()) {
      auto v = ParseSlurmDuration(t);
      if (!v.ok()) return DataLossError("sacct Elapsed: " + std::string(v.status().message()));
      s.elapsed_seconds = *v;
    }
    job = std::move(s);
  }
  if (job) {
    job->cpu_seconds = cpu;
    job->max_rss_bytes = rss;
  }
  return job;
}

StatusOr<double> ParseSinfoCpus(std::string_view out) {
  double total = 0;
  auto lines = Lines(out);
  if (lines.empty()) return DataLossError("sinfo printed no partition");
  for (const std::string& line : lines) {
    auto f = Split(line, '/');
    int64_t t = 0;
    if (f.size() != 4 || !ParseInt(Trim(f[3]), &t)) {
      return DataLossError("sinfo -o %C printed " + Quote(line) + ", expected A/I/O/T");
    }
    total += static_cast<double>(t);
  }
  return total;
}

// ---- the state table ---------------------------------------------------------------

const std::vector<SlurmStateMapping>& SlurmStateTable() {
  static const std::vector<SlurmStateMapping> kTable{
      {"PENDING", false, jobs::ExitKind::kExited, "queued, waiting for resources"},
      {"CONFIGURING", false, jobs::ExitKind::kExited, "nodes allocated, booting"},
      {"RUNNING", false, jobs::ExitKind::kExited, "running"},
      {"COMPLETING", false, jobs::ExitKind::kExited, "finishing (epilog, step cleanup)"},
      {"SUSPENDED", false, jobs::ExitKind::kExited, "suspended by an administrator"},
      {"STOPPED", false, jobs::ExitKind::kExited, "stopped with SIGSTOP, resources kept"},
      {"REQUEUED", false, jobs::ExitKind::kExited, "being requeued"},
      {"REQUEUE_HOLD", false, jobs::ExitKind::kExited, "requeued and held"},
      {"REQUEUE_FED", false, jobs::ExitKind::kExited, "requeued by the federation"},
      {"RESIZING", false, jobs::ExitKind::kExited, "changing size"},
      {"SIGNALING", false, jobs::ExitKind::kExited, "being signaled"},
      {"STAGE_OUT", false, jobs::ExitKind::kExited, "staging out data"},
      {"RESV_DEL_HOLD", false, jobs::ExitKind::kExited, "held after its reservation was deleted"},
      {"COMPLETED", true, jobs::ExitKind::kExited, "exited with status 0"},
      {"FAILED", true, jobs::ExitKind::kExited, "exited with a non-zero status"},
      {"CANCELLED", true, jobs::ExitKind::kStopped, "cancelled (scancel)"},
      {"TIMEOUT", true, jobs::ExitKind::kTimedOut, "Slurm's time limit (--time) reached"},
      {"DEADLINE", true, jobs::ExitKind::kTimedOut, "Slurm's --deadline reached"},
      {"OUT_OF_MEMORY", true, jobs::ExitKind::kOutOfMemory, "memory limit (--mem) exceeded"},
      {"NODE_FAIL", true, jobs::ExitKind::kLost, "its node failed"},
      {"BOOT_FAIL", true, jobs::ExitKind::kLost, "its node failed to boot"},
      {"PREEMPTED", true, jobs::ExitKind::kLost, "preempted by a higher-priority job"},
      {"REVOKED", true, jobs::ExitKind::kLost, "revoked (ran on another federated cluster)"},
      {"SPECIAL_EXIT", true, jobs::ExitKind::kExited, "ended with a special exit status"},
  };
  return kTable;
}

StatusOr<std::optional<jobs::ExitInfo>> MapSlurmState(const SlurmJobState& s) {
  const SlurmStateMapping* m = nullptr;
  for (const auto& row : SlurmStateTable()) {
    if (row.state == s.state) m = &row;
  }
  if (m == nullptr) {
    return InvalidArgumentError("unknown Slurm job state \"" + s.state + "\" for job " + s.job_id);
  }
  if (!m->ended) return std::optional<jobs::ExitInfo>();
  jobs::ExitInfo e;
  e.kind = m->kind;
  e.exit_code = s.exit_code;
  e.signal = s.signal;
  if (e.kind == jobs::ExitKind::kExited && s.signal != 0 && s.exit_code == 0) {
    e.kind = jobs::ExitKind::kSignaled;
  }
  if (e.kind == jobs::ExitKind::kExited && s.state == "FAILED" && s.exit_code == 0 &&
      s.signal == 0) {
    e.exit_code = 1;  // FAILED with no status recorded (e.g. the script could not start)
  }
  std::string detail;
  if (e.kind == jobs::ExitKind::kExited) {
    detail = "exit status " + std::to_string(e.exit_code);
  } else if (e.kind == jobs::ExitKind::kSignaled) {
    detail = "killed by signal " + std::to_string(e.signal);
  } else {
    detail = std::string(m->meaning);
  }
  e.message = "Slurm job " + s.job_id + " " + s.state + ": " + detail;
  if (!s.reason.empty() && s.reason != "None") e.message += " (reason: " + s.reason + ")";
  e.started_micros = s.start_micros;
  e.ended_micros = s.end_micros;
  if (s.elapsed_seconds >= 0) {
    e.metering.wall_seconds = s.elapsed_seconds;
  } else if (s.start_micros > 0 && s.end_micros >= s.start_micros) {
    e.metering.wall_seconds = static_cast<double>(s.end_micros - s.start_micros) / 1e6;
  }
  if (s.cpu_seconds >= 0) e.metering.cpu_seconds = s.cpu_seconds;
  if (s.max_rss_bytes >= 0) e.metering.peak_rss_bytes = s.max_rss_bytes;
  return std::optional<jobs::ExitInfo>(std::move(e));
}

}  // namespace tandem::compute::slurm
