// `tandem up`: runs the control plane in the foreground until SIGINT/SIGTERM.
#include "api/control_plane.h"
#include "cli/context.h"
#include "cli/stop_signal.h"
#include "common/config.h"
#include "common/log.h"

namespace tandem::cli {

namespace {

struct UpFlags {
  std::string home;
  std::string config;
  std::string listen;
  int port = -1;
};

int RunUp(const UpFlags& f) {
  if (!InstallStopHandlers()) {
    std::cerr << "error: cannot install signal handlers\n";
    return kExitFailure;
  }

  EnvLookup env = ProcessEnvironment();
  if (!f.listen.empty()) env["TANDEM_LISTEN"] = f.listen;
  if (f.port >= 0) env["TANDEM_PORT"] = std::to_string(f.port);
  auto config = LoadConfig(f.home, f.config, env);
  if (!config.ok()) {
    std::cerr << "error: " << std::string(config.status().message()) << "\n";
    return kExitFailure;
  }
  SetLogLevel(ParseLogLevel(config->log_level, LogLevel::kInfo));
  auto cp = api::ControlPlane::Open(*config, Clock::Real());
  if (!cp.ok()) {
    std::cerr << "error: " << std::string(cp.status().message()) << "\n";
    return kExitFailure;
  }
  auto credential = (*cp)->EnsureAdminCredential();
  if (!credential.ok()) {
    std::cerr << "error: " << std::string(credential.status().message()) << "\n";
    return kExitFailure;
  }
  auto port = (*cp)->Start();
  if (!port.ok()) {
    std::cerr << "error: " << std::string(port.status().message()) << "\n";
    return kExitFailure;
  }
  std::cout << "tandem control plane on http://" << config->listen_host << ":" << *port << " (home "
            << config->home << ")" << std::endl;
  if (!credential->empty()) {
    std::cout << "admin token in " << *credential << " (use it: export TANDEM_TOKEN=$(cat "
              << *credential << "), or `tandem auth login`)" << std::endl;
  }
  int sig = WaitForStopSignal();
  LogInfo("shutting down", {{"signal", std::to_string(sig)}});
  (*cp)->Stop(5000);
  return kExitOk;
}

}  // namespace

void AddUpCommand(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<UpFlags>();
  CLI::App* up = app.add_subcommand("up", "Run a control plane in the foreground");
  up->add_option("--home", flags->home, "State directory (env TANDEM_HOME, default ./.tandem)");
  up->add_option("--config", flags->config, "Configuration file (default <home>/tandem.yaml)");
  up->add_option("--listen", flags->listen, "HOST:PORT to bind (default 127.0.0.1:7070)");
  up->add_option("--port", flags->port, "Port to bind (0 = any free port)");
  up->footer(
      "Examples:\n  tandem up\n  tandem up --home /tmp/t --port 0\n"
      "  TANDEM_STORE=file:///data/store tandem up");
  up->callback([flags, &ctx] { ctx.exit_code = RunUp(*flags); });
}

}  // namespace tandem::cli
