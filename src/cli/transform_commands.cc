// `tandem transform ...`: run (submit a batch transform spec, optionally
// wait), list, get, stop. A transform runs as a compute job: its log is
// `tandem jobs logs ID`.
#include <filesystem>
#include <memory>

#include "cli/context.h"
#include "cli/list_flags.h"
#include "cli/progress.h"
#include "cli/resource_commands.h"
#include "common/clock.h"
#include "common/uri.h"

namespace tandem::cli {
namespace {
namespace fs = std::filesystem;

const std::vector<Column> kTransformColumns = {{"ID", "id"},
                                               {"NAME", "name"},
                                               {"TEAM", "team"},
                                               {"MODEL", "transform.model"},
                                               {"STATE", "state"},
                                               {"OUTPUT", "transform.output_prefix"},
                                               {"COST", "metering.cost"},
                                               {"REASON", "failure_reason"}};

std::string TransformPath(const std::string& id) {
  return "/api/v1/transform-jobs/" + PercentEncode(id, "-._~");
}

// Reads the spec; a local input.uri (absolute, file://, or relative and
// existing next to the spec file) is uploaded (UploadLocal) and replaced by
// its object-store key or prefix; anything else is an object-store prefix.
StatusOr<Json> ReadSpec(ApiClient& client, const std::string& file) {
  ASSIGN_OR_RETURN(Json spec, ReadSpecFile(file, "transform spec"));
  Json* input = spec.contains("input") ? &spec["input"] : nullptr;
  if (input != nullptr && input->is_object() && input->contains("uri") &&
      (*input)["uri"].is_string()) {
    std::string uri = (*input)["uri"].get<std::string>();
    if (uri.starts_with("file://")) uri = uri.substr(7);
    uri = ResolveLocal(uri, fs::absolute(file).parent_path());
    if (uri.starts_with("/")) {
      ASSIGN_OR_RETURN(uri, UploadLocal(client, uri, UploadPrefix(spec, "input"), "input.uri"));
    }
    (*input)["uri"] = uri;
  }
  return spec;
}

// Shows the state until the transform ends; exit 0 only for Completed.
Status Wait(Context& ctx, Format format, const std::string& id) {
  ApiClient client = ctx.Client();
  Progress progress(std::cerr, Progress::IsTerminal(2), "transform " + id, Clock::Real());
  ASSIGN_OR_RETURN(Json job, PollUntilEnded(client, TransformPath(id), progress,
                                            [](const Json& j) { return j.value("state", ""); },
                                            /*long_poll=*/true));
  std::string state = job.value("state", "");
  if (format != Format::kTable) {
    PrintObject(std::cout, format, job);
  } else {
    std::cerr << "==> " << job.value("name", "") << " " << state << ", outputs under "
              << job["transform"].value("output_prefix", "") << "/, cost "
              << job["metering"].value("cost", 0.0) << " (log: tandem jobs logs " << id << ")"
              << std::endl;
  }
  return Outcome("transform", id, job);
}

}  // namespace

void AddTransformCommands(CLI::App& app, Context& ctx) {
  CLI::App* tr = app.add_subcommand("transform", "Batch transform: score objects with a model");
  tr->require_subcommand(1);
  tr->footer(
      "Examples:\n  tandem transform run -f examples/transform/transform.yaml --wait\n"
      "  tandem transform list --state Failed\n  tandem transform get JOB_ID -o yaml\n"
      "  tandem transform stop JOB_ID");

  auto run = tr->add_subcommand("run", "Submit a transform spec (YAML or JSON); prints the job id");
  auto file = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  run->add_option("-f,--file", *file, "Transform spec file")->required();
  run->add_flag("--wait", *wait, "Show progress until it ends; exit 0 only if it Completed");
  run->footer(
      "Examples:\n  tandem transform run -f transform.yaml\n"
      "  tandem transform run -f transform.yaml --wait -o json\n"
      "Spec:\n  model: churn@champion            # or churn/3\n"
      "  input: {uri: datasets/churn/, content_type: text/csv}   # or application/jsonlines\n"
      "  batch_strategy: MultiRecord      # or SingleRecord\n"
      "  max_payload_mb: 6\n  max_concurrent_transforms: 2\n"
      "  join_source: None                # or Input\n"
      "  output: {prefix: results/churn}  # <input-name>.out per object that succeeded\n"
      "Notes:\n  A local input.uri (absolute, or relative and existing next to the spec) is\n"
      "  uploaded to teams/<team>/uploads/<id>/input/; otherwise it is an object-store prefix.");
  run->callback([&ctx, file, wait] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json spec, ReadSpec(client, *file));
      return SubmitSpec(client, f, "/api/v1/transform-jobs", spec, *wait,
                        [&](const std::string& id) { return Wait(ctx, f, id); });
    });
  });

  auto list = tr->add_subcommand("list", "List transform jobs, newest first");
  auto state = std::make_shared<std::string>();
  auto team = std::make_shared<std::string>();
  auto lflags = std::make_shared<ListFlags>();
  list->add_option("--state", *state, "Only jobs in this state (Pending, Running, Failed, ...)");
  list->add_option("--team", *team, "Only this team's transforms");
  AddListFlags(list, *lflags, 50);
  list->footer(
      "Examples:\n  tandem transform list\n  tandem transform list --state Failed -o json");
  list->callback([&ctx, state, team, lflags] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      std::string path = "/api/v1/transform-jobs?state=" + PercentEncode(*state, "-._~") +
                         "&team=" + PercentEncode(*team, "-._~");
      ASSIGN_OR_RETURN(Json doc, FetchList(client, path, "transform_jobs", *lflags));
      PrintList(std::cout, f, doc, doc["transform_jobs"], kTransformColumns);
      if (f == Format::kTable) HintMore(doc);
      return OkStatus();
    });
  });

  AddObjectCommand(tr, ctx, "get", "Show a transform job", "GET", "Job id",
                   "Example:\n  tandem transform get JOB_ID -o yaml", TransformPath);
  AddObjectCommand(
      tr, ctx, "stop", "Stop a transform job", "POST", "Job id",
      "Example:\n  tandem transform stop JOB_ID",
      [](const std::string& id) { return TransformPath(id) + "/stop"; },
      [](const std::string& id, const Json& job) {
        std::cout << id << " " << job.value("state", "") << std::endl;
      });
}

}  // namespace tandem::cli
