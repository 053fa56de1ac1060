// `tandem deployments apply|list|get|scale|delete`: serving deployments on
// the local fleet (/api/v1/deployments).
#include <chrono>
#include <thread>

#include "cli/context.h"
#include "common/yaml.h"

namespace tandem::cli {
namespace {

const std::vector<Column> kDeploymentColumns = {{"NAME", "name"},
                                                {"MODEL", "spec.model"},
                                                {"ENDPOINT", "endpoint"},
                                                {"DESIRED", "desired"},
                                                {"READY", "ready"}};
const std::vector<Column> kReplicaColumns = {{"INDEX", "index"},       {"PID", "pid"},
                                             {"STATE", "state"},       {"VERSION", "version"},
                                             {"RESTARTS", "restarts"}, {"ADOPTED", "adopted"}};

void PrintDeployment(Format f, const Json& d) {
  if (f != Format::kTable) return PrintObject(std::cout, f, d);
  std::cout << "name:      " << d.value("name", "") << "\n"
            << "model:     " << d["spec"].value("model", "") << "\n"
            << "endpoint:  " << d.value("endpoint", "") << "\n"
            << "desired:   " << d.value("desired", 0) << "\n"
            << "ready:     " << d.value("ready", 0) << "\n\n";
  PrintList(std::cout, f, d, d["replicas"], kReplicaColumns);
}

// Polls until `desired` replicas of the current generation are ready.
Status WaitReady(ApiClient& client, const std::string& name, int64_t timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (true) {
    ASSIGN_OR_RETURN(Json d, client.Call("GET", "/api/v1/deployments/" + name));
    int ready = 0;
    for (const auto& r : d["replicas"]) {
      if (r.value("ready", false) && r.value("generation", 0) == d.value("generation", 0)) ++ready;
    }
    if (ready >= d.value("desired", 0)) return OkStatus();
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceededError("deployment '" + name + "' not ready after " +
                                   std::to_string(timeout_s) + " s (" + std::to_string(ready) +
                                   " of " + std::to_string(d.value("desired", 0)) + " ready)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

void AddDeploymentCommands(CLI::App& app, Context& ctx) {
  CLI::App* deps =
      app.add_subcommand("deployments", "Serving deployments (replicas behind a port)");
  deps->require_subcommand(1);

  auto file = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  auto timeout = std::make_shared<int64_t>(120);
  CLI::App* apply = deps->add_subcommand("apply", "Create or update a deployment from a spec");
  apply->add_option("-f,--file", *file, "Deployment spec (YAML or JSON)")->required();
  apply->add_flag("--wait", *wait, "Wait until the replicas are ready");
  apply->add_option("--timeout", *timeout, "Seconds to wait with --wait (default 120)");
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
  list->callback([&ctx] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json doc, ctx.Client().Call("GET", "/api/v1/deployments"));
      PrintList(std::cout, f, doc, doc["deployments"], kDeploymentColumns);
      return OkStatus();
    });
  });

  auto name = std::make_shared<std::string>();
  CLI::App* get = deps->add_subcommand("get", "Show a deployment and its replicas");
  get->add_option("name", *name, "Deployment name")->required();
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
  scale->callback([&ctx, name, count] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json d, ctx.Client().Call("POST", "/api/v1/deployments/" + *name + "/scale",
                                                 Json{{"replicas", *count}}));
      PrintDeployment(f, d);
      return OkStatus();
    });
  });

  CLI::App* del = deps->add_subcommand("delete", "Stop the replicas and forget the deployment");
  del->add_option("name", *name, "Deployment name")->required();
  del->callback([&ctx, name] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json d, ctx.Client().Call("DELETE", "/api/v1/deployments/" + *name));
      PrintObject(std::cout, f, d);
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
