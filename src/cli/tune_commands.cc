// `tandem tune ...`: run (create a tuning job from a spec file, optionally
// wait with a live progress display), list, get, trials, stop.
#include <filesystem>
#include <memory>
#include <sstream>

#include "cli/context.h"
#include "cli/progress.h"
#include "cli/resource_commands.h"
#include "common/clock.h"
#include "common/uri.h"

namespace tandem::cli {
namespace {
namespace fs = std::filesystem;

const std::vector<Column> kTuningColumns = {{"NAME", "name"},
                                            {"STRATEGY", "strategy"},
                                            {"STATE", "state"},
                                            {"TRIALS", "trials.total"},
                                            {"DONE", "trials.completed"},
                                            {"RUNNING", "trials.running"},
                                            {"STOPPED_EARLY", "trials.stopped_early"},
                                            {"FAILED", "trials.failed"},
                                            {"BEST", "best_trial.objective"},
                                            {"CREATED", "created"}};
const std::vector<Column> kTrialColumns = {
    {"INDEX", "index"},         {"JOB", "job_name"},      {"STATE", "state"},
    {"OBJECTIVE", "objective"}, {"RUNG", "rung"},         {"RESOURCE", "resource"},
    {"PARAMS", "params"},       {"CPU_S", "cpu_seconds"}, {"REASON", "failure_reason"}};

std::string TuningPath(const std::string& name) {
  return "/api/v1/tuning-jobs/" + PercentEncode(name, "-._~");
}

// Reads the spec; resolves the template's local paths and uploads a local
// source_dir (as `tandem jobs run` does).
StatusOr<Json> PrepareSpec(ApiClient& client, const std::string& file) {
  ASSIGN_OR_RETURN(Json spec, ReadSpecFile(file, "tuning spec"));
  if (!spec.contains("training_job") || !spec["training_job"].is_object()) return spec;
  RETURN_IF_ERROR(PrepareJobFields(client, spec["training_job"], fs::absolute(file).parent_path(),
                                   "training_job."));
  return spec;
}

// "InProgress: 7/20 trials, 2 running, 3 stopped early, 1 failed, best 0.2831 (trial 4)"
std::string Summary(const Json& t) {
  const Json& c = t["trials"];
  std::ostringstream out;
  out << t.value("state", "") << ": "
      << c.value("completed", 0) + c.value("stopped_early", 0) + c.value("failed", 0) +
             c.value("stopped", 0)
      << "/" << t.value("max_jobs", 0) << " trials done, " << c.value("running", 0) << " running, "
      << c.value("stopped_early", 0) << " stopped early";
  if (c.value("failed", 0) > 0) out << ", " << c.value("failed", 0) << " failed";
  if (t.contains("best_trial") && t["best_trial"].is_object()) {
    out << ", best " << t["objective"].value("metric", "") << " = "
        << CellText(t["best_trial"]["objective"]) << " (trial " << t["best_trial"].value("index", 0)
        << ")";
  }
  return out.str();
}

Status Wait(Context& ctx, Format format, const std::string& name) {
  ApiClient client = ctx.Client();
  Progress progress(std::cerr, Progress::IsTerminal(2), "tuning job " + name, Clock::Real());
  ASSIGN_OR_RETURN(Json t, PollUntilEnded(client, TuningPath(name), progress, Summary));
  if (format != Format::kTable) {
    PrintObject(std::cout, format, t);
  } else {
    std::cerr << "==> " << name << " " << Summary(t) << "\n";
    if (t.contains("best_trial") && t["best_trial"].is_object()) {
      std::cerr << "    best trial job " << t["best_trial"].value("job_name", "") << " params "
                << t["best_trial"]["params"].dump() << "\n";
    }
    if (t.contains("registered")) {
      std::cerr << "    registered " << t["registered"].value("model", "") << "/"
                << t["registered"]["version"] << "\n";
    }
  }
  return Outcome("tuning job", name, t);
}

}  // namespace

void AddTuneCommands(CLI::App& app, Context& ctx) {
  CLI::App* tune =
      app.add_subcommand("tune", "Hyperparameter tuning jobs (trials are training jobs)");
  tune->require_subcommand(1);
  tune->footer(
      "Examples:\n  tandem tune run -f examples/tuning/tune.yaml --wait\n"
      "  tandem tune list\n  tandem tune get xgb-tune\n  tandem tune trials xgb-tune -o json\n"
      "  tandem tune stop xgb-tune");

  auto run = tune->add_subcommand("run", "Create a tuning job from a spec file; prints its name");
  auto file = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  run->add_option("-f,--file", *file, "Tuning spec file (YAML or JSON)")->required();
  run->add_flag("--wait", *wait,
                "Show progress (trials done, running, stopped early, best so far) until it "
                "ends; exit 0 only if it Completed");
  run->footer(
      "Examples:\n  tandem tune run -f tune.yaml\n  tandem tune run -f tune.yaml --wait\n"
      "Notes:\n  training_job.source_dir, when local, is packed and uploaded (as for jobs run).\n"
      "  Strategies: Random, Grid, Bayesian (TPE), Hyperband (ASHA with BOHB-sampled\n"
      "  configurations; resource_param is passed to each trial, e.g. num_round).\n"
      "  early_stopping: Auto = median rule.");
  run->callback([&ctx, file, wait] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json spec, PrepareSpec(client, *file));
      ASSIGN_OR_RETURN(Json t, client.Call("POST", "/api/v1/tuning-jobs", spec));
      if (*wait) return Wait(ctx, f, t.value("name", ""));
      PrintCreated(std::cout, f, t, "name");
      return OkStatus();
    });
  });

  auto list = tune->add_subcommand("list", "Tuning jobs, newest first");
  auto state = std::make_shared<std::string>();
  list->add_option("--state", *state, "InProgress, Completed, Failed, Stopping or Stopped");
  list->footer("Examples:\n  tandem tune list\n  tandem tune list --state InProgress -o json");
  list->callback([&ctx, state] {
    Run(ctx, [&](Format f) -> Status {
      std::string path = "/api/v1/tuning-jobs";
      if (!state->empty()) path += "?state=" + PercentEncode(*state);
      ASSIGN_OR_RETURN(Json body, ctx.Client().Call("GET", path));
      PrintList(std::cout, f, body, body["tuning_jobs"], kTuningColumns);
      return OkStatus();
    });
  });

  auto get = tune->add_subcommand("get", "A tuning job: state, trial counts, best trial");
  auto name = std::make_shared<std::string>();
  get->add_option("name", *name, "Tuning job name")->required();
  get->footer("Examples:\n  tandem tune get xgb-tune\n  tandem tune get xgb-tune -o yaml");
  get->callback([&ctx, name] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json t, ctx.Client().Call("GET", TuningPath(*name)));
      if (f == Format::kTable) {
        std::cout << t.value("name", "") << " (" << t.value("strategy", "") << ") " << Summary(t)
                  << "\n";
        return OkStatus();
      }
      PrintObject(std::cout, f, t);
      return OkStatus();
    });
  });

  auto trials = tune->add_subcommand("trials", "The trials of a tuning job");
  auto tname = std::make_shared<std::string>();
  trials->add_option("name", *tname, "Tuning job name")->required();
  trials->footer("Examples:\n  tandem tune trials xgb-tune\n  tandem tune trials xgb-tune -o json");
  trials->callback([&ctx, tname] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json body, ctx.Client().Call("GET", TuningPath(*tname) + "/trials"));
      PrintList(std::cout, f, body, body["trials"], kTrialColumns);
      return OkStatus();
    });
  });

  AddObjectCommand(
      tune, ctx, "stop", "Stop a tuning job and its running trials", "POST", "Tuning job name",
      "Examples:\n  tandem tune stop xgb-tune",
      [](const std::string& name) { return TuningPath(name) + "/stop"; },
      [](const std::string&, const Json& t) {
        std::cout << t.value("name", "") << " " << t.value("state", "") << std::endl;
      });
}

}  // namespace tandem::cli
