// Control-plane configuration: `<home>/tandem.yaml` (or an explicit file),
// then environment overrides (TANDEM_*). Backends are chosen by URI scheme.
//
//   # tandem.yaml
//   listen: 127.0.0.1:7070
//   database: sqlite:///var/lib/tandem/tandem.db   # registry + jobs + outbox
//   store: file:///var/lib/tandem/store            # object store
//   bus: sqlite:///var/lib/tandem/tandem.db        # event bus
//   log_level: info
//   max_body_mb: 1024
//   images: embedded                               # image store (or registry://host:port)
//   server:                                        # HTTPS (both or neither)
//     tls_cert: /etc/tandem/tls.crt                # PEM certificate (+ chain)
//     tls_key: /etc/tandem/tls.key                 # PEM private key
//     insecure: false                              # plain HTTP beyond loopback
//     min_body_bytes_per_s: 1024                   # slower request bodies: 408
//     body_window_s: 20                            # ...measured over windows this long
//     max_connections: 4096                        # per listener (idle ones give way)
//     max_connections_per_client: 0                # per client address (0: no cap)
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/http_limits.h"
#include "common/json.h"
#include "common/status.h"

namespace tandem {

struct Config {
  std::string home;  // state directory (absolute)
  std::string listen_host = "127.0.0.1";
  int port = 7070;
  std::string database_uri;  // default sqlite://<home>/tandem.db
  std::string store_uri;     // default file://<home>/store
  std::string bus_uri;       // default: same as database_uri
  // The image store (glue/images): `images: <uri>` or `images: {store: <uri>}`
  // in tandem.yaml, TANDEM_IMAGES; default "embedded" (inside the object store).
  std::string images_uri = "embedded";
  std::string log_level = "info";
  int64_t max_body_bytes = int64_t{1} << 30;
  // `server.tls_cert` / `server.tls_key` (TANDEM_TLS_CERT / TANDEM_TLS_KEY):
  // the control plane (and the replicas it starts) speak HTTPS only.
  std::string tls_cert;
  std::string tls_key;
  // `server.insecure`: allow plain HTTP on a non-loopback address.
  bool insecure = false;
  // `server.min_body_bytes_per_s`, `server.body_window_s`,
  // `server.max_connections`, `server.max_connections_per_client`: what one
  // client may take of the control plane and of the replicas it starts.
  http::ClientLimits client_limits;
  Json raw = Json::object();  // the whole document: modules read their own sections
};

// Environment lookup, injectable for tests.
using EnvLookup = std::map<std::string, std::string>;
EnvLookup ProcessEnvironment();

// Resolves the home directory (`home_flag`, else $TANDEM_HOME, else ./.tandem),
// reads `config_path` (else <home>/tandem.yaml when present), applies the
// TANDEM_LISTEN, TANDEM_PORT, TANDEM_DATABASE, TANDEM_STORE, TANDEM_BUS,
// TANDEM_LOG_LEVEL overrides and fills defaults. Unknown top-level keys and
// ill-typed values -> InvalidArgument naming the key. Creates the home (for
// commands that keep state there: `tandem up`, `tandem job-pod`).
StatusOr<Config> LoadConfig(const std::string& home_flag, const std::string& config_path,
                            const EnvLookup& env);
// LoadConfig for a command that only reads its configuration (`tandem serve`):
// the same Config (the home made absolute), but no directory is created, so
// a command run with `--config FILE` and no home leaves no ./.tandem behind.
StatusOr<Config> ReadConfig(const std::string& home_flag, const std::string& config_path,
                            const EnvLookup& env);

// True for an address only this machine reaches: 127.0.0.0/8, ::1, localhost.
bool IsLoopbackHost(const std::string& host);

// Before binding `host`: refuses (InvalidArgument, naming the flags) a
// non-loopback address without TLS unless `insecure`, and a certificate
// without a key or the reverse. `what` names the server ("the control plane").
Status CheckListenSecurity(const std::string& what, const std::string& host,
                           const std::string& tls_cert, const std::string& tls_key, bool insecure);

}  // namespace tandem
