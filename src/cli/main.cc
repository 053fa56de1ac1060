// The `tandem` command: a control plane (`tandem up`) and a client for it.
#include <cstdlib>

#include "cli/context.h"
#include "cli/credentials.h"
#include "cli/unknown_command.h"
#include "common/version.h"

namespace tandem::cli {

void Context::Fail(const Status& s) {
  std::cerr << "error: " << std::string(s.message()) << "\n";
  exit_code = kExitFailure;
}

void Context::Usage(const std::string& message) {
  std::cerr << "usage error: " << message << "\n";
  exit_code = kExitUsage;
}

namespace {

// After a parse error: if the innermost command given takes subcommands and
// the first argument left over is not an option, that argument is a command
// `tandem` does not know. Prints so (with suggestions) and returns true.
bool ReportUnknownCommand(CLI::App& app) {
  CLI::App* cur = &app;
  std::string path = app.get_name();
  while (true) {
    auto parsed = cur->get_subcommands();
    if (parsed.empty()) break;
    cur = parsed.front();
    path += " " + cur->get_name();
  }
  std::vector<std::string> known;
  for (const CLI::App* sub : cur->get_subcommands([](CLI::App*) { return true; })) {
    known.push_back(sub->get_name());
  }
  if (known.empty()) return false;
  // Arguments a subcommand does not take fall through to its parents.
  for (const std::string& arg : app.remaining(/*recurse=*/true)) {
    if (arg.empty() || arg[0] == '-') continue;
    std::cerr << "error: " << UnknownCommandMessage(path, arg, known);
    return true;
  }
  return false;
}

}  // namespace
}  // namespace tandem::cli

int main(int argc, char** argv) {
  using namespace tandem::cli;
  Context ctx;
  // Several control planes: a comma-separated list (or --server repeated).
  ctx.server = ResolveServer(tandem::ProcessEnvironment());
  ctx.token = ResolveToken(tandem::ProcessEnvironment());
  ctx.ca_file = ResolveCaFile(tandem::ProcessEnvironment());

  CLI::App app{"tandem: a hybrid ML platform (compute tier + serving tier, joined by the glue)",
               "tandem"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tandem " + std::string(tandem::Version()));
  app.option_defaults()->always_capture_default();
  app.add_option_function<std::vector<std::string>>(
         "--server",
         [&ctx](const std::vector<std::string>& urls) {
           ctx.server.clear();
           for (const std::string& u : urls) ctx.server += (ctx.server.empty() ? "" : ",") + u;
         },
         "Control plane URL; repeat it (or separate by commas) for several control planes, "
         "tried in order (env TANDEM_SERVER or TANDEM_URL, else \"server\" in the credentials "
         "file; default: http://127.0.0.1:7070)")
      ->delimiter(',');
  app.add_option("--ca-file", ctx.ca_file,
                 "CA certificate(s) (PEM) every https:// server must chain to (env "
                 "TANDEM_CA_FILE, else \"ca_file\" in the credentials file; default: the "
                 "system's CAs)");
  app.add_option("-o,--output", ctx.output, "Output format: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  app.footer(
      "Examples:\n"
      "  tandem up --home /tmp/tandem              # start a control plane\n"
      "  tandem models register fraud ./model --alias champion\n"
      "  tandem models get fraud@champion -o json\n"
      "  tandem jobs run -f examples/xgboost-train/job.yaml --wait\n"
      "  tandem events tail --pattern '{\"source\":[\"tandem.registry\"]}'");
  app.fallthrough();

  AddUpCommand(app, ctx);
  AddServeCommand(app, ctx);
  AddJobPodCommand(app, ctx);
  AddModelCommands(app, ctx);
  AddArtifactCommands(app, ctx);
  AddEventCommands(app, ctx);
  AddJobCommands(app, ctx);
  AddTuneCommands(app, ctx);
  AddDeploymentCommands(app, ctx);
  AddStatusCommand(app, ctx);
  AddNotebookCommands(app, ctx);
  AddTransformCommands(app, ctx);
  AddAuthCommands(app, ctx);
  AddImageCommands(app, ctx);
  AddImageTransferCommands(app.get_subcommand("images"), ctx);
  AddSecretCommands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (ReportUnknownCommand(app)) return kExitUsage;
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return ctx.exit_code;
}
