// `tandem deployments apply|list|get|scale|traffic|render|delete`: serving deployments on
// the local fleet (/api/v1/deployments).
#include <chrono>
#include <set>
#include <thread>

#include "cli/context.h"
#include "cli/list_flags.h"
#include "cli/progress.h"
#include "common/clock.h"
#include "common/yaml.h"

namespace tandem::cli {
namespace {

const std::vector<Column> kDeploymentColumns = {{"NAME", "name"},
                                                {"MODEL", "spec.model"},
                                                {"ENDPOINT", "endpoint"},
                                                {"DESIRED", "desired"},
                                                {"READY", "ready"}};
const std::vector<Column> kReplicaColumns = {
    {"INDEX", "index"},       {"PID", "pid"},         {"STATE", "state"},  {"VERSION", "version"},
    {"RESTARTS", "restarts"}, {"ADOPTED", "adopted"}, {"REASON", "reason"}};

void PrintDeployment(Format f, const Json& d) {
  if (f != Format::kTable) return PrintObject(std::cout, f, d);
  std::cout << "name:      " << d.value("name", "") << "\n"
            << "model:     " << d["spec"].value("model", "") << "\n"
            << "endpoint:  " << d.value("endpoint", "") << "\n"
            << "image:     " << d["spec"].value("image_pinned", "(host)") << "\n"
            << "desired:   " << d.value("desired", 0) << "\n"
            << "ready:     " << d.value("ready", 0) << "\n\n";
  PrintList(std::cout, f, d, d["replicas"], kReplicaColumns);
}

// Per replica: shadow agreement and canary split (table), or the raw document.
void PrintTraffic(Format f, const Json& d) {
  if (f != Format::kTable) return PrintObject(std::cout, f, d);
  Json rows = Json::array();
  for (const Json& r : d["replicas"]) {
    const Json t = r.value("traffic", Json::object());
    const Json sh = t.value("shadow", Json::object());
    const Json ca = t.value("canary", Json::object());
    const Json v = ca.value("variants", Json::object());
    Json row = {
        {"index", r.value("index", 0)},
        {"shadow_mirrored", sh.value("mirrored", Json())},
        {"shadow_dropped", sh.value("dropped", Json())},
        {"shadow_errors", sh.value("errors", Json())},
        {"label_agreement", sh.value("label_agreement", Json())},
        {"canary_weight", ca.value("weight", Json())},
        {"primary", v.contains("primary") ? v["primary"].value("requests", Json()) : Json()},
        {"candidate", v.contains("candidate") ? v["candidate"].value("requests", Json()) : Json()},
        {"rolled_back", ca.value("rolled_back", Json())},
        {"error", r.value("error", "")}};
    rows.push_back(std::move(row));
  }
  std::cout << "deployment: " << d.value("deployment", "") << "\n";
  if (d["policy"].contains("shadow"))
    std::cout << "shadow:     " << d["policy"]["shadow"].dump() << "\n";
  if (d["policy"].contains("canary"))
    std::cout << "canary:     " << d["policy"]["canary"].dump() << "\n";
  std::cout << "\n";
  static const std::vector<Column> kCols = {{"INDEX", "index"},
                                            {"MIRRORED", "shadow_mirrored"},
                                            {"DROPPED", "shadow_dropped"},
                                            {"SHADOW_ERR", "shadow_errors"},
                                            {"AGREEMENT", "label_agreement"},
                                            {"WEIGHT", "canary_weight"},
                                            {"PRIMARY", "primary"},
                                            {"CANDIDATE", "candidate"},
                                            {"ROLLED_BACK", "rolled_back"},
                                            {"ERROR", "error"}};
  PrintList(std::cout, f, d, rows, kCols);
}

// Polls until `desired` replicas of the current generation are ready.
Status WaitReady(ApiClient& client, const std::string& name, int64_t timeout_s) {
  const Deadline deadline = Deadline::In(Clock::Real(), timeout_s * 1'000'000);
  Progress progress(std::cerr, Progress::IsTerminal(2), "deployment " + name, Clock::Real());
  while (true) {
    ASSIGN_OR_RETURN(Json d, client.Call("GET", "/api/v1/deployments/" + name));
    int ready = 0;
    std::set<int64_t> versions;
    std::set<std::string> reasons;  // why replicas are not ready
    for (const auto& r : d["replicas"]) {
      if (r.value("ready", false) && r.value("generation", 0) == d.value("generation", 0)) ++ready;
      if (r.value("version", int64_t{0}) > 0) versions.insert(r["version"].get<int64_t>());
      if (!r.value("reason", "").empty()) reasons.insert(r["reason"].get<std::string>());
    }
    std::string state =
        std::to_string(ready) + "/" + std::to_string(d.value("desired", 0)) + " ready";
    if (!versions.empty()) {
      state += ", serving version";
      for (int64_t v : versions) state += " " + std::to_string(v);
    }
    progress.Update(state);
    if (ready >= d.value("desired", 0)) {
      progress.Done(state);
      return OkStatus();
    }
    progress.Tick();
    if (deadline.Expired()) {
      progress.Done("timed out: " + state);
      std::string why;
      for (const std::string& r : reasons) why += (why.empty() ? "; not ready: " : "; ") + r;
      return DeadlineExceededError("deployment '" + name + "' not ready after " +
                                   std::to_string(timeout_s) + " s (" + std::to_string(ready) +
                                   " of " + std::to_string(d.value("desired", 0)) + " ready" + why +
                                   ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

void AddDeploymentCommands(CLI::App& app, Context& ctx) {
  CLI::App* deps =
      app.add_subcommand("deployments", "Serving deployments (replicas behind a port)");
  deps->require_subcommand(1);
  deps->footer(
      "Examples:\n  tandem deployments apply -f deploy.yaml --wait\n  tandem deployments list\n"
      "  tandem deployments scale fraud 3\n  tandem deployments delete fraud");

  auto file = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  auto timeout = std::make_shared<int64_t>(120);
  CLI::App* apply = deps->add_subcommand("apply", "Create or update a deployment from a spec");
  apply->add_option("-f,--file", *file, "Deployment spec (YAML or JSON)")->required();
  apply->add_flag("--wait", *wait, "Wait until the replicas are ready");
  apply->add_option("--timeout", *timeout, "Seconds to wait with --wait (default 120)");
  apply->footer(
      "Examples:\n  tandem deployments apply -f deploy.yaml\n"
      "  tandem deployments apply -f deploy.yaml --wait --timeout 300 -o json\n"
      "Spec (YAML): name, team, model (NAME@ALIAS | NAME/VERSION), replicas {min, max},\n"
      "  autoscaling {target_in_flight_per_replica, ...}, disruption_budget {min_available},\n"
      "  port, batching {max_batch_size, max_queue_delay_us, queue_size}, resources,\n"
      "  image (Python handlers' image; default the model version's training image, \"\" = host)");
  apply->callback([&ctx, file, wait, timeout] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json spec, ReadYamlFile(*file));
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json d, client.Call("POST", "/api/v1/deployments", spec));
      std::string name = d.value("name", "");
      if (*wait) {
        RETURN_IF_ERROR(WaitReady(client, name, *timeout));
        ASSIGN_OR_RETURN(d, client.Call("GET", "/api/v1/deployments/" + name));
      }
      PrintDeployment(f, d);
      return OkStatus();
    });
  });

  CLI::App* list = deps->add_subcommand("list", "List deployments");
  auto lflags = std::make_shared<ListFlags>();
  AddListFlags(list, *lflags, 0, /*paged=*/false);
  list->footer("Examples:\n  tandem deployments list\n  tandem deployments list -o json");
  list->callback([&ctx, lflags] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json doc, FetchList(client, "/api/v1/deployments", "deployments", *lflags));
      PrintList(std::cout, f, doc, doc["deployments"], kDeploymentColumns);
      return OkStatus();
    });
  });

  auto name = std::make_shared<std::string>();
  CLI::App* get = deps->add_subcommand("get", "Show a deployment and its replicas");
  get->add_option("name", *name, "Deployment name")->required();
  get->footer("Examples:\n  tandem deployments get fraud\n  tandem deployments get fraud -o yaml");
  get->callback([&ctx, name] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json d, ctx.Client().Call("GET", "/api/v1/deployments/" + *name));
      PrintDeployment(f, d);
      return OkStatus();
    });
  });

  auto count = std::make_shared<int>(0);
  CLI::App* scale = deps->add_subcommand("scale", "Set the replica count");
  scale->add_option("name", *name, "Deployment name")->required();
  scale->add_option("replicas", *count, "Replica count")->required();
  scale->footer("Example:\n  tandem deployments scale fraud 3");
  scale->callback([&ctx, name, count] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json d, ctx.Client().Call("POST", "/api/v1/deployments/" + *name + "/scale",
                                                 Json{{"replicas", *count}}));
      PrintDeployment(f, d);
      return OkStatus();
    });
  });

  CLI::App* traffic =
      deps->add_subcommand("traffic", "Shadow agreement and canary split, per replica");
  traffic->add_option("name", *name, "Deployment name")->required();
  traffic->footer(
      "Examples:\n  tandem deployments traffic fraud\n  tandem deployments traffic fraud -o json");
  traffic->callback([&ctx, name] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json d,
                       ctx.Client().Call("GET", "/api/v1/deployments/" + *name + "/traffic"));
      PrintTraffic(f, d);
      return OkStatus();
    });
  });

  AddDeploymentRenderCommand(*deps, ctx);

  CLI::App* del = deps->add_subcommand("delete", "Stop the replicas and forget the deployment");
  del->add_option("name", *name, "Deployment name")->required();
  del->footer("Example:\n  tandem deployments delete fraud");
  del->callback([&ctx, name] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json d, ctx.Client().Call("DELETE", "/api/v1/deployments/" + *name));
      PrintObject(std::cout, f, d);
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
