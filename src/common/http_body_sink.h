// Streaming a request body somewhere other than memory: a route whose
// RouteOptions::body_sink returns a sink gets its body written to that sink
// piece by piece as it arrives (at most one socket read in memory at a time)
// instead of into Request::body, which stays empty. The route's body limit
// still applies (413 before the handler runs). The handler finds the sink in
// Request::body_sink once the whole body was received, or with status() not
// OK when the sink refused a piece (the server stopped reading; the
// connection is closed after the response). The server drops the sink when
// the handler returns, or when the body fails on the way (413, 408, the
// client gone), so whatever it holds (a file) goes with its request.
//
// Thread-safety: a sink is used by one request: Append on the connection's
// I/O thread, then the handler on a worker, never at the same time.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace tandem::http {

class BodySink {
 public:
  virtual ~BodySink() = default;

  // Passes `data` on (DoWrite) unless an earlier piece failed; returns and
  // keeps the first failure.
  Status Append(std::string_view data);
  const Status& status() const { return status_; }
  int64_t bytes() const { return bytes_; }

 protected:
  virtual Status DoWrite(std::string_view data) = 0;

 private:
  Status status_;
  int64_t bytes_ = 0;
};

}  // namespace tandem::http
