// `tandem notebooks start|list|get|url|stop`: managed Jupyter notebooks
// (/api/v1/notebooks), started on demand, culled when idle, their working
// directory saved on stop and restored on the next start.
#include <chrono>
#include <thread>

#include "cli/context.h"
#include "cli/list_flags.h"
#include "cli/progress.h"
#include "common/clock.h"

namespace tandem::cli {
namespace {

const std::vector<Column> kNotebookColumns = {{"NAME", "name"},
                                              {"TEAM", "team"},
                                              {"STATE", "state"},
                                              {"EXECUTION", "execution"},
                                              {"IDLE_TIMEOUT_S", "idle_timeout_seconds"},
                                              {"LAST_ACTIVITY", "last_activity"},
                                              {"WALL_S", "metering.wall_seconds"},
                                              {"COST", "metering.cost"},
                                              {"STOP_REASON", "stop_reason"}};

// Polls `name` until it leaves the transitional states; returns the record.
StatusOr<Json> WaitSettled(ApiClient& client, const std::string& name, int64_t timeout_s) {
  const Deadline deadline = Deadline::In(Clock::Real(), timeout_s * 1'000'000);
  Progress progress(std::cerr, Progress::IsTerminal(2), "notebook " + name, Clock::Real());
  while (true) {
    ASSIGN_OR_RETURN(Json nb, client.Call("GET", "/api/v1/notebooks/" + name));
    const std::string state = nb.value("state", "");
    progress.Update(state);
    if (state != "Pending" && state != "Stopping") {
      progress.Done(state);
      return nb;
    }
    if (deadline.Expired()) {
      progress.Done(state + " (timed out)");
      return DeadlineExceededError("notebook \"" + name + "\" still " + state + " after " +
                                   std::to_string(timeout_s) + " s");
    }
    progress.Tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace

void AddNotebookCommands(CLI::App& app, Context& ctx) {
  CLI::App* nbs = app.add_subcommand("notebooks", "Managed Jupyter notebooks (compute tier)");
  nbs->require_subcommand(1);
  nbs->footer(
      "Examples:\n  tandem notebooks start lab --team vision\n  tandem notebooks url lab\n  "
      "tandem notebooks list\n  tandem notebooks stop lab");

  struct StartFlags {
    std::string name, team = "default", image;
    int64_t idle_timeout = -1;
    bool no_wait = false;
    int64_t timeout = 180;
  };
  auto sf = std::make_shared<StartFlags>();
  CLI::App* start = nbs->add_subcommand(
      "start", "Start a notebook server (restores its saved directory) and print its URL");
  start->add_option("name", sf->name, "Notebook name ([a-z0-9-])")->required();
  start->add_option("--team", sf->team, "Team billed for it")->capture_default_str();
  start->add_option("--idle-timeout", sf->idle_timeout,
                    "Stop after this many seconds without activity (0 = never; default: the "
                    "control plane's)");
  start->add_option("--image", sf->image,
                    "Run Jupyter inside this image in tandem (repo:tag or repo@sha256:...; it "
                    "needs jupyter-notebook on its PATH)");
  start->add_flag("--no-wait", sf->no_wait, "Return at once (Pending)");
  start->add_option("--timeout", sf->timeout, "Seconds to wait for InService")
      ->capture_default_str();
  start->footer(
      "Examples:\n  tandem notebooks start lab\n  tandem notebooks start lab --team vision "
      "--idle-timeout 1800\n  tandem notebooks start lab --image vision/jupyter:1\n  "
      "tandem notebooks start lab --no-wait -o json");
  start->callback([&ctx, sf] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      Json body = {{"name", sf->name}, {"team", sf->team}};
      if (sf->idle_timeout >= 0) body["idle_timeout_seconds"] = sf->idle_timeout;
      if (!sf->image.empty()) body["image"] = sf->image;
      ASSIGN_OR_RETURN(Json nb, client.Call("POST", "/api/v1/notebooks", body));
      if (!sf->no_wait) {
        ASSIGN_OR_RETURN(nb, WaitSettled(client, sf->name, sf->timeout));
        if (nb.value("state", "") != "InService") {
          return FailedPreconditionError("notebook \"" + sf->name + "\" is " +
                                         nb.value("state", "") + ": " +
                                         nb.value("failure_reason", ""));
        }
        ASSIGN_OR_RETURN(Json url, client.Call("GET", "/api/v1/notebooks/" + sf->name + "/url"));
        nb["url"] = url["url"];
      }
      if (f == Format::kTable) {
        std::cout << "notebook " << sf->name << ": " << nb.value("state", "") << " (execution "
                  << nb.value("execution", 0) << ")\n";
        if (nb.contains("url")) std::cout << nb["url"].get<std::string>() << "\n";
        return OkStatus();
      }
      PrintObject(std::cout, f, nb);
      return OkStatus();
    });
  });

  struct ListOpts {
    ListFlags flags;
    std::string team, state;
  };
  auto lo = std::make_shared<ListOpts>();
  CLI::App* list = nbs->add_subcommand("list", "List notebooks");
  AddListFlags(list, lo->flags, 100);
  list->add_option("--team", lo->team, "Only this team's");
  list->add_option("--state", lo->state,
                   "Only in this state (Pending, InService, Stopping, "
                   "Stopped, Failed)");
  list->footer(
      "Examples:\n  tandem notebooks list\n  tandem notebooks list --team vision --state "
      "InService\n  tandem notebooks list -o json");
  list->callback([&ctx, lo] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      std::string path = "/api/v1/notebooks";
      std::string sep = "?";
      if (!lo->team.empty()) path += sep + "team=" + lo->team, sep = "&";
      if (!lo->state.empty()) path += sep + "state=" + lo->state;
      ASSIGN_OR_RETURN(Json doc, FetchList(client, path, "notebooks", lo->flags));
      PrintList(std::cout, f, doc, doc["notebooks"], kNotebookColumns);
      if (f == Format::kTable) HintMore(doc);
      return OkStatus();
    });
  });

  auto name = std::make_shared<std::string>();
  CLI::App* get = nbs->add_subcommand("get", "Show a notebook (state, metering, snapshot)");
  get->add_option("name", *name, "Notebook name")->required();
  get->footer("Examples:\n  tandem notebooks get lab\n  tandem notebooks get lab -o json");
  get->callback([&ctx, name] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json nb, ctx.Client().Call("GET", "/api/v1/notebooks/" + *name));
      PrintObject(std::cout, f, nb);
      return OkStatus();
    });
  });

  CLI::App* url =
      nbs->add_subcommand("url", "Print the URL (with its token) of a running notebook");
  url->add_option("name", *name, "Notebook name")->required();
  url->footer("Examples:\n  tandem notebooks url lab\n  xdg-open \"$(tandem notebooks url lab)\"");
  url->callback([&ctx, name] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json u, ctx.Client().Call("GET", "/api/v1/notebooks/" + *name + "/url"));
      if (f == Format::kTable) {
        std::cout << u.value("url", "") << "\n";
        return OkStatus();
      }
      PrintObject(std::cout, f, u);
      return OkStatus();
    });
  });

  struct StopFlags {
    std::string name;
    bool no_wait = false;
    int64_t timeout = 120;
  };
  auto st = std::make_shared<StopFlags>();
  CLI::App* stop = nbs->add_subcommand(
      "stop", "Stop a notebook; its working directory is saved for the next start");
  stop->add_option("name", st->name, "Notebook name")->required();
  stop->add_flag("--no-wait", st->no_wait, "Return at once (Stopping)");
  stop->add_option("--timeout", st->timeout, "Seconds to wait for Stopped")->capture_default_str();
  stop->footer("Examples:\n  tandem notebooks stop lab\n  tandem notebooks stop lab --no-wait");
  stop->callback([&ctx, st] {
    Run(ctx, [&](Format f) -> Status {
      ApiClient client = ctx.Client();
      ASSIGN_OR_RETURN(Json nb, client.Call("POST", "/api/v1/notebooks/" + st->name + "/stop"));
      if (!st->no_wait) {
        ASSIGN_OR_RETURN(nb, WaitSettled(client, st->name, st->timeout));
      }
      if (f == Format::kTable) {
        std::cout << "notebook " << st->name << ": " << nb.value("state", "");
        if (!nb.value("snapshot_key", "").empty()) {
          std::cout << " (directory saved to " << nb.value("snapshot_key", "") << ")";
        }
        std::cout << "\n";
        return OkStatus();
      }
      PrintObject(std::cout, f, nb);
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
