// What a running Jupyter server says about its activity, read through its
// REST API without counting as activity itself (/api/status does not track
// activity; the other calls pass `no_track_activity=1`), and the idle rule
// that culls notebooks.
#pragma once

#include <cstdint>
#include <string>

#include "common/json.h"
#include "common/status.h"

namespace tandem::compute::notebooks {

struct NotebookActivity {
  int64_t last_activity_micros = 0;  // latest of API, kernel and terminal activity
  int kernels = 0;
  int busy_kernels = 0;  // kernels executing right now count as activity
  int terminals = 0;
};

// Parses "2026-11-30T09:01:02.123456Z" (or with +00:00, or without fraction)
// into microseconds since the epoch. InvalidArgument naming the text.
StatusOr<int64_t> ParseIso8601Micros(const std::string& text);

// Builds the activity from the bodies of GET /api/status and /api/kernels
// (a JSON array of {execution_state, last_activity}). InvalidArgument when a
// body is not what Jupyter returns.
StatusOr<NotebookActivity> ParseNotebookActivity(const Json& status, const Json& kernels);

// Reads the activity of the server on 127.0.0.1:`port` with `token`.
// Unavailable when the server does not answer (yet).
StatusOr<NotebookActivity> ProbeNotebook(int port, const std::string& token,
                                         int64_t timeout_ms = 2000);

// True when a notebook with this activity has been idle for at least
// `idle_timeout_seconds` at `now_micros`: no busy kernel and the latest
// activity (or the start, whichever is later) is that old. A timeout <= 0
// never culls.
bool IsIdle(const NotebookActivity& activity, int64_t started_micros, int64_t now_micros,
            int64_t idle_timeout_seconds);

}  // namespace tandem::compute::notebooks
