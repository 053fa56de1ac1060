// `tandem up`: runs the control plane in the foreground until SIGINT/SIGTERM;
// SIGHUP reloads its TLS certificate and key.
#include <filesystem>

#include "api/control_plane.h"
#include "cli/context.h"
#include "cli/stop_signal.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/log.h"

namespace tandem::cli {

namespace {

struct UpFlags {
  std::string home;
  std::string config;
  std::string listen;
  int port = -1;
  std::string tls_cert;
  std::string tls_key;
  bool insecure = false;
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
  if (!f.tls_cert.empty()) config->tls_cert = f.tls_cert;
  if (!f.tls_key.empty()) config->tls_key = f.tls_key;
  if (f.insecure) config->insecure = true;
  // Absolute: replicas and notebooks are started from elsewhere.
  for (std::string* file : {&config->tls_cert, &config->tls_key}) {
    if (!file->empty()) *file = std::filesystem::absolute(*file).string();
  }
  // Before anything is opened or bound.
  if (Status s = CheckListenSecurity("tandem up", config->listen_host, config->tls_cert,
                                     config->tls_key, config->insecure);
      !s.ok()) {
    std::cerr << "error: " << std::string(s.message()) << "\n";
    return kExitUsage;
  }
  if (!config->tls_cert.empty()) {
    if (Status s = http::CheckTlsFiles({config->tls_cert, config->tls_key}); !s.ok()) {
      std::cerr << "error: " << std::string(s.message()) << "\n";
      return kExitFailure;
    }
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
  const char* scheme = config->tls_cert.empty() ? "http://" : "https://";
  std::cout << "tandem control plane on " << scheme << config->listen_host << ":" << *port
            << " (home " << config->home << ")" << std::endl;
  if (!credential->empty()) {
    std::cout << "admin token in " << *credential << " (use it: export TANDEM_TOKEN=$(cat "
              << *credential << "), or `tandem auth login`)" << std::endl;
  }
  int sig = WaitForStopSignal([&cp] { LogHangupReload((*cp)->server().ReloadTls()); });
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
  up->add_option("--tls-cert", flags->tls_cert,
                 "Serve HTTPS with this certificate (PEM, may be followed by its chain; "
                 "server.tls_cert in tandem.yaml); replicas use it too");
  up->add_option("--tls-key", flags->tls_key, "The certificate's private key (PEM)");
  up->add_flag("--insecure", flags->insecure,
               "Allow plain HTTP on a non-loopback --listen address (refused otherwise)");
  up->footer(
      "Examples:\n  tandem up\n  tandem up --home /tmp/t --port 0\n"
      "  TANDEM_STORE=file:///data/store tandem up\n"
      "  tandem up --listen 0.0.0.0:7443 --tls-cert tls.crt --tls-key tls.key");
  up->callback([flags, &ctx] { ctx.exit_code = RunUp(*flags); });
}

}  // namespace tandem::cli
