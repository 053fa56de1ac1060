// `tandem status`: a one-screen summary of the platform (GET /api/v1/status):
// jobs by state, models, deployments and the versions they serve, queue
// depths, spend per team.
#include <sstream>

#include "cli/context.h"

namespace tandem::cli {
namespace {

const std::vector<Column> kDeploymentColumns = {{"NAME", "name"},
                                                {"MODEL", "model"},
                                                {"READY", "ready_text"},
                                                {"VERSIONS", "versions"},
                                                {"ENDPOINT", "endpoint"}};
const std::vector<Column> kQueueColumns = {
    {"NAME", "name"}, {"VISIBLE", "visible"}, {"IN-FLIGHT", "in_flight"}, {"DELAYED", "delayed"}};
const std::vector<Column> kSpendColumns = {
    {"TEAM", "team"}, {"JOBS", "jobs"}, {"CPU_S", "cpu_seconds"}, {"COST", "cost"}};

void PrintSection(std::ostream& out, const std::string& title, const Json& rows,
                  const std::vector<Column>& columns, const std::string& none) {
  out << "\n" << title << "\n";
  if (rows.empty()) {
    out << "  " << none << "\n";
    return;
  }
  std::ostringstream table;
  PrintList(table, Format::kTable, rows, rows, columns);
  std::istringstream lines(table.str());
  for (std::string line; std::getline(lines, line);) out << "  " << line << "\n";
}

// The table view of a /api/v1/status document.
void PrintStatus(std::ostream& out, const std::string& server, const Json& s) {
  out << "tandem at " << server << " (" << s.value("time", "") << ")\n\n";
  const Json& jobs = s.contains("jobs") ? s["jobs"] : Json::object();
  out << "JOBS      " << jobs.value("total", 0) << " total";
  std::string states;
  if (jobs.contains("by_state")) {
    for (const char* state :
         {"Pending", "Starting", "Running", "Stopping", "Completed", "Failed", "Stopped"}) {
      int64_t n = jobs["by_state"].value(state, int64_t{0});
      if (n > 0)
        states += std::string(states.empty() ? "" : ", ") + std::to_string(n) + " " + state;
    }
  }
  out << (states.empty() ? "" : ": " + states) << "\n";
  out << "MODELS    " << s.value("models", Json::object()).value("count", 0) << " registered\n";

  Json deployments = Json::array();
  for (Json d : s.value("deployments", Json::array())) {
    d["ready_text"] =
        std::to_string(d.value("ready", 0)) + "/" + std::to_string(d.value("desired", 0));
    deployments.push_back(std::move(d));
  }
  PrintSection(out, "DEPLOYMENTS", deployments, kDeploymentColumns, "none");
  PrintSection(out, "QUEUES", s.value("queues", Json::array()), kQueueColumns, "none");
  PrintSection(out, "SPEND", s.value("spend", Json::array()), kSpendColumns, "no jobs metered yet");
}

}  // namespace

void AddStatusCommand(CLI::App& app, Context& ctx) {
  CLI::App* status = app.add_subcommand(
      "status", "One-screen summary: jobs by state, deployments, queues, spend, models");
  status->footer(
      "Examples:\n  tandem status\n  tandem status -o json\n"
      "  watch -n 2 tandem status          # a live dashboard");
  status->callback([&ctx] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json s, ctx.Client().Call("GET", "/api/v1/status"));
      if (f != Format::kTable) {
        PrintObject(std::cout, f, s);
      } else {
        PrintStatus(std::cout, ctx.server, s);
      }
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
