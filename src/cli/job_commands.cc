// `tandem jobs ...`: run (submit a spec file, optionally wait), list, get,
// logs, metrics, stop, spend.
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/context.h"
#include "cli/list_flags.h"
#include "cli/progress.h"
#include "cli/resource_commands.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/uri.h"
#include "common/yaml.h"
#include "glue/store/archive.h"

namespace tandem::cli {
namespace {
namespace fs = std::filesystem;

const std::vector<Column> kJobColumns = {{"ID", "id"},
                                         {"NAME", "name"},
                                         {"TEAM", "team"},
                                         {"STATE", "state"},
                                         {"ATTEMPT", "attempt"},
                                         {"CREATED", "created"},
                                         {"COST", "metering.cost"},
                                         {"REASON", "failure_reason"}};
const std::vector<Column> kMetricColumns = {{"METRIC", "name"},
                                            {"ATTEMPT", "attempt"},
                                            {"STEP", "step"},
                                            {"VALUE", "value"},
                                            {"TIMESTAMP", "timestamp"}};
const std::vector<Column> kSpendColumns = {{"TEAM", "team"},
                                           {"JOBS", "jobs"},
                                           {"WALL_S", "wall_seconds"},
                                           {"CPU_S", "cpu_seconds"},
                                           {"WARM_POOL_S", "warm_pool_seconds"},
                                           {"COST", "cost"}};

std::string JobPath(const std::string& id) { return "/api/v1/jobs/" + PercentEncode(id, "-._~"); }

// Reads the spec, resolves local paths, uploads a local source_dir.
StatusOr<Json> PrepareSpec(ApiClient& client, const std::string& file) {
  ASSIGN_OR_RETURN(Json spec, ReadSpecFile(file, "job spec"));
  RETURN_IF_ERROR(PrepareJobFields(client, spec, fs::absolute(file).parent_path()));
  return spec;
}

std::string Seconds(double s) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(s < 10 ? 2 : 1) << s << " s";
  return out.str();
}

// Streams state changes (stderr) and the log (stdout) until the job ends;
// prints the outcome. Exit 0 only for Completed. No fixed poll: while the job
// runs its log is followed (the stream ends when the job ends or its attempt
// changes), otherwise each GET of the job is a long poll answered when its
// state changes (resource_commands.h LongPollQuery).
Status Wait(Context& ctx, Format format, const std::string& id) {
  ApiClient client = ctx.Client();
  std::string state;
  int attempt = 0;
  int64_t offset = 0;
  Json job;
  // State on stderr: a live line on a terminal, one line per change otherwise.
  Progress progress(std::cerr, Progress::IsTerminal(2), "job " + id, Clock::Real());
  bool followed = false;  // the last round followed the log: it ended for a reason
  while (true) {
    const std::string query = followed ? "" : LongPollQuery(state);
    const auto asked = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(job, client.Call("GET", query.empty() ? JobPath(id) : JobPath(id) + "?" + query));
    const int64_t elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - asked)
                                   .count();
    std::string now = job.value("state", "");
    int now_attempt = job.value("attempt", 1);
    if (now_attempt != attempt) {
      attempt = now_attempt;
      offset = 0;
    }
    const bool changed = now != state;
    state = now;
    progress.Update(attempt > 1 ? state + " (attempt " + std::to_string(attempt) + ")" : state);
    const bool follow = state == "Running" || state == "Stopping";
    followed = follow;
    int64_t got = 0;
    Status s = client.Download(
        JobPath(id) + "/logs?offset=" + std::to_string(offset) + (follow ? "&follow=true" : ""),
        [&](std::string_view chunk) {
          if (got == 0) progress.Clear();
          std::cout << chunk;
          if (follow) std::cout.flush();
          got += static_cast<int64_t>(chunk.size());
          return true;
        });
    std::cout.flush();
    offset += got;  // what was printed, even of a stream cut short
    if (IsTerminalState(state) && got == 0) break;
    progress.Tick();
    // A control plane that answered at once with nothing new (it has no long
    // polls, or all of them are taken; or the log stream failed): not in a
    // tight loop.
    if (!s.ok() || (!changed && got == 0 && AnsweredWithoutWaiting(elapsed_ms))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }
  progress.Done(state);
  if (format != Format::kTable) {
    PrintObject(std::cout, format, job);
  } else {
    std::cerr << "==> " << job.value("name", "") << " " << state;
    if (job.contains("duration_seconds")) {
      std::cerr << " in " << Seconds(job["duration_seconds"].get<double>());
    }
    std::cerr << ", cost " << job["metering"].value("cost", 0.0);
    std::cerr << ", cpu " << Seconds(job["metering"].value("cpu_seconds", 0.0)) << std::endl;
    if (job.contains("metrics")) {
      for (const auto& [k, v] : job["metrics"].items())
        std::cerr << "    " << k << " = " << v << "\n";
    }
    if (job.contains("registered")) {
      const Json& r = job["registered"];
      std::cerr << "    registered " << r.value("name", "") << "/" << r["version"]
                << (r.contains("alias") ? " @" + r["alias"].get<std::string>() : "") << "\n";
    }
  }
  return Outcome("job", id, job);
}

}  // namespace

void AddJobCommands(CLI::App& app, Context& ctx) {
  CLI::App* jobs = app.add_subcommand("jobs", "Training jobs on the compute tier");
  jobs->require_subcommand(1);
  AddJobRenderCommand(*jobs, ctx);
  jobs->footer(
      "Examples:\n  tandem jobs run -f examples/xgboost-train/job.yaml --wait\n"
      "  tandem jobs list --state Running\n  tandem jobs logs JOB_ID -f\n"
      "  tandem jobs metrics JOB_ID -o json");

  auto run = jobs->add_subcommand("run", "Submit a job spec (YAML or JSON); prints the job id");
  auto file = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  run->add_option("-f,--file", *file, "Job spec file (relative paths are relative to it)")
      ->required();
  run->add_flag("--wait", *wait,
                "Stream state and logs until the job ends; exit 0 only if it Completed");
  run->footer(
      "Examples:\n  tandem jobs run -f job.yaml\n  tandem jobs run -f job.yaml --wait\n"
      "Notes:\n  A local source_dir is packed and uploaded to the store\n"
      "  (jobs/uploads/<id>/source.tar.gz). Local input paths are uploaded too\n"
      "  (teams/<team>/uploads/<id>/inputs/<channel>/); other values are object-store keys\n"
      "  or digests. The control plane reads no local path a spec names unless its\n"
      "  administrator allowed it (security.allowed_local_paths).");
  run->callback([&ctx, file, wait] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json spec, PrepareSpec(client, *file));
      return SubmitSpec(client, f, "/api/v1/jobs", spec, *wait,
                        [&](const std::string& id) { return Wait(ctx, f, id); });
    });
  });

  auto list = jobs->add_subcommand("list", "List jobs, newest first");
  auto state = std::make_shared<std::string>();
  auto team = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto lflags = std::make_shared<ListFlags>();
  list->add_option("--state", *state, "Only jobs in this state (Pending, Running, Completed, ...)");
  list->add_option("--team", *team, "Only this team's jobs");
  list->add_option("--name", *name, "Only jobs with this name");
  AddListFlags(list, *lflags, 50);
  list->footer(
      "Examples:\n  tandem jobs list\n  tandem jobs list --state Failed --team growth -o json\n"
      "  tandem jobs list --limit 20 --page-token TOKEN   # the next 20\n"
      "  tandem jobs list --all -o yaml");
  list->callback([&ctx, state, team, name, lflags] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      std::string path = "/api/v1/jobs?state=" + PercentEncode(*state, "-._~") +
                         "&team=" + PercentEncode(*team, "-._~") +
                         "&name=" + PercentEncode(*name, "-._~");
      ASSIGN_OR_RETURN(Json doc, FetchList(client, path, "jobs", *lflags));
      PrintList(std::cout, f, doc, doc["jobs"], kJobColumns);
      if (f == Format::kTable) HintMore(doc);
      return OkStatus();
    });
  });

  AddObjectCommand(jobs, ctx, "get", "Show a job", "GET", "Job id",
                   "Example:\n  tandem jobs get 01jf3q9v6k8m2n4p6r8t0v2x4z -o yaml", JobPath);

  auto logs = jobs->add_subcommand("logs", "Print a job's log (stdout and stderr)");
  auto lid = std::make_shared<std::string>();
  auto follow = std::make_shared<bool>(false);
  logs->add_option("ID", *lid, "Job id")->required();
  logs->add_flag("-f,--follow", *follow, "Keep printing as the log grows, until the job ends");
  logs->footer("Examples:\n  tandem jobs logs JOB_ID\n  tandem jobs logs JOB_ID -f");
  logs->callback([&ctx, lid, follow] {
    Run(ctx, [&](Format) -> Status {
      ApiClient client = ctx.Client();
      RETURN_IF_ERROR(client.Call("GET", JobPath(*lid)).status());  // 404 names the job
      std::string path = JobPath(*lid) + "/logs" + (*follow ? "?follow=true" : "");
      RETURN_IF_ERROR(client.Stream(path, [](std::string_view chunk) {
        std::cout << chunk << std::flush;
        return true;
      }));
      if (*follow) {
        // The stream ends with the job, or with its attempt: then the next
        // attempt's log is followed from its start. Say how it ended (stderr).
        ASSIGN_OR_RETURN(Json job, client.Call("GET", JobPath(*lid)));
        while (!IsTerminalState(job.value("state", ""))) {
          RETURN_IF_ERROR(client.Stream(path, [](std::string_view chunk) {
            std::cout << chunk << std::flush;
            return true;
          }));
          ASSIGN_OR_RETURN(job, client.Call("GET", JobPath(*lid)));
        }
        Progress(std::cerr, false, "job " + *lid, Clock::Real()).Done(job.value("state", ""));
      }
      return OkStatus();
    });
  });

  auto metrics = jobs->add_subcommand("metrics", "A job's metric time series");
  auto mid = std::make_shared<std::string>();
  metrics->add_option("ID", *mid, "Job id")->required();
  metrics->footer("Example:\n  tandem jobs metrics JOB_ID -o json");
  metrics->callback([&ctx, mid] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json doc, client.Call("GET", JobPath(*mid) + "/metrics"));
      Json rows = Json::array();
      for (const auto& [metric, points] : doc["metrics"].items()) {
        for (Json p : points) {
          p["name"] = metric;
          rows.push_back(p);
        }
      }
      PrintList(std::cout, f, doc, rows, kMetricColumns);
      return OkStatus();
    });
  });

  AddObjectCommand(jobs, ctx, "stop", "Stop a job (SIGTERM, grace period, SIGKILL)", "POST",
                   "Job id", "Example:\n  tandem jobs stop JOB_ID",
                   [](const std::string& id) { return JobPath(id) + "/stop"; },
                   [](const std::string& id, const Json& job) {
                     std::cout << id << " " << job.value("state", "") << std::endl;
                   });

  auto spend = jobs->add_subcommand("spend", "Metered usage and cost per team");
  spend->footer("Example:\n  tandem jobs spend -o json");
  spend->callback([&ctx] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json doc, client.Call("GET", "/api/v1/metering/teams"));
      PrintList(std::cout, f, doc, doc["teams"], kSpendColumns);
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
