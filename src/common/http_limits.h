// What one HTTP client may take of a server (docs/limits.md): the minimum
// rate of a request body and the connection caps. Plain values, so that
// Config (tandem.yaml `server:`) carries them without the HTTP server's
// headers; http::ServerOptions::limits applies them.
#pragma once

#include <cstdint>

namespace tandem::http {

// Set for the control plane and the replicas by `server:` in tandem.yaml
// (Config::client_limits).
struct ClientLimits {
  // A request body is read in windows of body_window_ms from the end of its
  // header; each must bring min_body_bytes_per_s x the window (or the rest of
  // the body), else the client gets a 408 and the connection is closed, so
  // a client dripping a huge body cannot hold a connection (and the memory or
  // temporary file of its upload) for the whole read_timeout_ms. <= 0: no
  // minimum rate (read_timeout_ms still bounds the request).
  int64_t min_body_bytes_per_s = 1024;
  int64_t body_window_ms = 20'000;
  // Open connections. At the cap a new connection takes the place of an
  // idle one, which is closed: first a kept-alive connection waiting for its
  // next request (the one whose last request is oldest), else one still
  // sending a request's header (the longest at it); never one whose request
  // is being read, handled or answered. With none idle the new connection
  // is answered 503 and closed at once. So slow or idle clients (slowloris)
  // can neither exhaust file descriptors nor keep new clients out.
  int max_connections = 4096;
  // Open connections from one client address (IP); more are answered 503
  // and closed. 0: no per-address cap (clients behind a NAT, a proxy or a
  // load balancer share one address).
  int max_connections_per_client = 0;
};

}  // namespace tandem::http
