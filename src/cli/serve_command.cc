// `tandem serve`: one warm serving replica (KServe v2 + /infer) in the
// foreground, following a registry target or serving a local package, until
// SIGINT/SIGTERM (then: not ready, drain in-flight requests, exit 0); SIGHUP
// reloads its TLS certificate and key.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli/context.h"
#include "cli/stop_signal.h"
#include "common/config.h"
#include "common/config_home.h"
#include "common/log.h"
#include "serving/server/replica.h"

namespace tandem::cli {

namespace {

struct ServeFlags {
  std::string model;
  std::string model_dir;
  std::string name;
  std::string replica_id;
  std::string home;
  std::string config;
  std::string cache_dir;
  std::string state_file;
  serving::server::ReplicaOptions replica;
  // Traffic policies (see serving/traffic/policy.h).
  std::string shadow;
  double shadow_sample = 1.0;
  std::string canary;
  double canary_weight = 0.1;
  serving::traffic::RollbackRule rollback;
  bool insecure = false;
};

// The traffic policy from the flags; InvalidArgument naming a bad one.
Status TrafficFromFlags(const ServeFlags& f, serving::server::ReplicaOptions& o) {
  if (!f.shadow.empty() || !o.shadow_dir.empty()) {
    if (!f.shadow.empty() && !o.shadow_dir.empty()) {
      return InvalidArgumentError("give one of --shadow and --shadow-dir");
    }
    o.traffic.shadow = serving::traffic::ShadowPolicy{f.shadow, f.shadow_sample};
  }
  if (!f.canary.empty() || !o.canary_dir.empty()) {
    if (!f.canary.empty() && !o.canary_dir.empty()) {
      return InvalidArgumentError("give one of --canary and --canary-dir");
    }
    o.traffic.canary = serving::traffic::CanaryPolicy{f.canary, f.canary_weight, f.rollback};
  }
  return serving::traffic::ValidateTrafficPolicy(o.traffic);
}

// Whether there is a configuration to read: --config, or tandem.yaml in the
// home (--home, $TANDEM_HOME, ./.tandem). A local package needs none: without
// one it is served on the defaults and no home is created for it.
bool HasConfigFile(const ServeFlags& f) {
  return !f.config.empty() ||
         std::filesystem::exists(ConfigHome(f.home, ProcessEnvironment()) + "/tandem.yaml");
}

// {"pid", "port", "admin_port"} for a supervisor, written atomically.
void WriteStateFile(const std::string& path, const serving::server::Replica& r) {
  if (path.empty()) return;
  Json j = {{"pid", static_cast<int64_t>(::getpid())},
            {"port", r.port()},
            {"admin_port", r.admin_port()}};
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump() << "\n";
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) LogWarn("cannot write the state file", {{"path", path}, {"error", ec.message()}});
}

int RunServe(ServeFlags f) {
  if (!InstallStopHandlers()) {
    std::cerr << "error: cannot create the signal pipe\n";
    return kExitFailure;
  }

  if (f.model.empty() == f.model_dir.empty()) {
    std::cerr << "error: give exactly one of --model NAME@ALIAS|NAME/VERSION or --model-dir DIR\n";
    return kExitUsage;
  }
  serving::server::ReplicaOptions& o = f.replica;
  o.target = f.model;
  o.model_dir = f.model_dir;
  o.deployment = f.name;
  o.replica_id = f.replica_id;
  o.cache_dir = f.cache_dir;
  // Before anything is bound: plain HTTP beyond loopback only if told so (a
  // supervisor's inherited socket was checked by the supervisor).
  if (o.listen_fd < 0) {
    if (Status s = CheckListenSecurity("tandem serve", o.host, o.tls.cert_file, o.tls.key_file,
                                       f.insecure);
        !s.ok()) {
      std::cerr << "error: " << std::string(s.message()) << "\n";
      return kExitUsage;
    }
  } else if (o.tls.cert_file.empty() != o.tls.key_file.empty()) {
    std::cerr << "error: give both --tls-cert and --tls-key, or neither\n";
    return kExitUsage;
  }
  if (!f.model_dir.empty() && !f.name.empty()) o.model_name = f.name;
  if (Status t = TrafficFromFlags(f, o); !t.ok()) {
    std::cerr << "error: " << std::string(t.message()) << "\n";
    return kExitUsage;
  }
  StatusOr<std::unique_ptr<serving::server::Replica>> replica;
  // A target and an image come through the glue the configuration names; a
  // local package takes the configuration's `server:` limits and log level.
  if (!f.model.empty() || !o.image.empty() || HasConfigFile(f)) {
    // Read only: serving creates no home (no ./.tandem in the caller's cwd).
    auto config = ReadConfig(f.home, f.config, ProcessEnvironment());
    if (!config.ok()) {
      std::cerr << "error: " << std::string(config.status().message()) << "\n";
      return kExitFailure;
    }
    SetLogLevel(ParseLogLevel(config->log_level, LogLevel::kInfo));
    replica = serving::server::Replica::Open(*config, o, Clock::Real());
  } else {
    replica = serving::server::Replica::Create(o, {}, Clock::Real());
  }
  if (!replica.ok()) {
    std::cerr << "error: " << std::string(replica.status().message()) << "\n";
    return kExitFailure;
  }
  Status s = (*replica)->Start();
  if (!s.ok()) {
    std::cerr << "error: " << std::string(s.message()) << "\n";
    return s.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  WriteStateFile(f.state_file, **replica);
  if ((*replica)->ready()) {
    std::cout << (*replica)->Describe() << std::endl;
  } else {
    std::cout << "waiting for " << (*replica)->model_name() << " (not ready) on "
              << (o.tls.enabled() ? "https://" : "http://") << o.host << ":" << (*replica)->port()
              << std::endl;
  }
  int sig = WaitForStopSignal([&replica] { LogHangupReload((*replica)->ReloadTls()); });
  LogInfo("shutting down", {{"signal", std::to_string(sig)}});
  (*replica)->Shutdown();
  return kExitOk;
}

}  // namespace

void AddServeCommand(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* serve = app.add_subcommand("serve", "Run one model-serving replica (KServe v2 REST)");
  serve->add_option("--model", f->model, "Target to follow: NAME@ALIAS, NAME/VERSION or NAME");
  serve->add_option("--model-dir", f->model_dir, "Serve a local model package (no registry)");
  serve->add_option("--name", f->name, "Deployment name (queue and event naming)");
  serve->add_option("--replica-id", f->replica_id, "Replica id (default: the process id)");
  serve->add_option("--host", f->replica.host, "Address to bind (default 127.0.0.1)");
  serve->add_option("--port", f->replica.port, "Port to bind (default 8080, 0 = any free port)");
  serve->add_flag("--reuse-port", f->replica.reuse_port,
                  "SO_REUSEPORT: several replicas share one port");
  serve->add_option("--listen-fd", f->replica.listen_fd,
                    "Accept on this inherited listening socket (shared by a supervisor's "
                    "replicas; --host/--port unused)");
  serve->add_option("--admin-port", f->replica.admin_port,
                    "Also serve on this private port (0 = any) for per-replica probes");
  serve->add_option("--state-file", f->state_file,
                    "Write {pid, port, admin_port} as JSON here once bound");
  serve->add_option("--home", f->home,
                    "State directory of `tandem up` (env TANDEM_HOME, default ./.tandem)");
  serve->add_option("--config", f->config,
                    "Configuration file (default <home>/tandem.yaml): the glue for --model and "
                    "--image; with every model source its `server:` limits (max_connections, "
                    "max_connections_per_client, min_body_bytes_per_s, body_window_s) and "
                    "log_level. --model-dir without a configuration: the defaults, no home");
  serve->add_option("--cache-dir", f->cache_dir, "Unpacked models (default <home>/serving/cache)");
  serve->add_option("--max-batch-size", f->replica.batch.max_batch_size,
                    "Rows per batch (1 = no batching; default 0 = automatic: batch Python "
                    "handlers and plugins, not the native forest)");
  serve->add_option("--max-queue-delay-us", f->replica.batch.max_queue_delay_us,
                    "Longest wait for a batch to fill");
  serve->add_option("--queue-size", f->replica.batch.queue_size,
                    "Pending requests per model before 429");
  serve->add_option("--workers", f->replica.batch.workers,
                    "Batches scored at once (default 0 = automatic: a Python pool's workers)");
  serve->add_option("--io-threads", f->replica.io_threads, "HTTP I/O threads (default 2)");
  serve->add_option("--drain-delay-ms", f->replica.drain_delay_ms,
                    "On SIGTERM, stay up but not ready this long before draining");
  serve->add_option("--grace-ms", f->replica.grace_ms, "Longest wait for in-flight requests");
  serve->add_option("--drain-idle-ms", f->replica.drain_idle_ms,
                    "While draining, how long an idle keep-alive connection may send one "
                    "more request");
  serve->add_option("--shadow", f->shadow,
                    "Shadow model (NAME@ALIAS, NAME/VERSION): gets a copy of each request");
  serve->add_option("--shadow-dir", f->replica.shadow_dir, "Shadow model from a local package");
  serve->add_option("--token-sha256", f->replica.token_sha256,
                    "Require a bearer token with this SHA-256 (hex; repeatable) on /v2 and "
                    "/infer (health and /metrics stay open)");
  serve->add_option("--image", f->replica.image,
                    "Run Python handler workers inside this image (repository@sha256:...), "
                    "pulled from the image store into <home>/cache/images; needs bubblewrap");
  serve->add_option("--shadow-sample", f->shadow_sample, "Share of requests mirrored (default 1)");
  serve->add_option("--tls-cert", f->replica.tls.cert_file,
                    "Serve HTTPS (both ports) with this certificate (PEM, may be followed by its "
                    "chain)");
  serve->add_option("--tls-key", f->replica.tls.key_file, "The certificate's private key (PEM)");
  serve->add_flag("--insecure", f->insecure,
                  "Allow plain HTTP on a non-loopback --host (refused otherwise)");
  serve->add_option("--canary", f->canary,
                    "Canary candidate (NAME@ALIAS, NAME/VERSION): takes --canary-weight");
  serve->add_option("--canary-dir", f->replica.canary_dir, "Canary candidate from a local package");
  serve->add_option("--canary-weight", f->canary_weight,
                    "Share of live traffic to the candidate (default 0.1)");
  serve->add_option("--rollback-max-error-rate", f->rollback.max_error_rate,
                    "Roll the canary back above this error rate (default 0.05)");
  serve->add_option("--rollback-max-p99-ms", f->rollback.max_p99_ms,
                    "Roll the canary back above this p99 (default 0 = no limit)");
  serve->add_option("--rollback-window-s", f->rollback.window_seconds,
                    "Rollback window in seconds (default 60)");
  serve->add_option("--rollback-min-requests", f->rollback.min_requests,
                    "Candidate requests in the window before the rule applies (default 100)");
  serve->footer(
      "Examples:\n"
      "  tandem serve --model fraud@champion --port 8080\n"
      "  tandem serve --model fraud/3 --max-batch-size 32 --max-queue-delay-us 500\n"
      "  tandem serve --model-dir ./model --port 0\n"
      "  tandem serve --model-dir ./model --host 0.0.0.0 --tls-cert tls.crt --tls-key tls.key\n"
      "  tandem serve --model fraud@champion --shadow fraud@challenger \\\n"
      "      --canary fraud@candidate --canary-weight 0.05 --rollback-max-p99-ms 50\n"
      "  curl -d '{\"model\":\"fraud\",\"features\":[...]}' localhost:8080/infer\n"
      "  tandem serve --model-dir ./model \\\n"
      "      --token-sha256 \"$(printf %s \"$TOKEN\" | sha256sum | cut -c1-64)\"");
  serve->callback([f, &ctx] { ctx.exit_code = RunServe(*f); });
}

}  // namespace tandem::cli
