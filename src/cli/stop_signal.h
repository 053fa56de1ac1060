// How long-running commands (`tandem up`, `tandem serve`) wait for SIGINT or
// SIGTERM: handlers write the signal number to a pipe that the main thread
// reads. A handler, unlike a blocked mask + sigwait, cannot be bypassed by a
// library thread created with the signals unblocked. SIGPIPE is ignored.
// SIGHUP does not stop: it runs the caller's hang-up action (reload the TLS
// certificate) on the main thread and the wait goes on.
#pragma once

#include <functional>

#include "common/status.h"

namespace tandem::cli {

// Installs the handlers (SIGINT, SIGTERM, SIGHUP); false if the pipe cannot
// be created. Call once, from the main thread, before starting other threads.
bool InstallStopHandlers();

// Blocks until a stop signal arrives; returns its number. Each SIGHUP before
// it runs `on_hangup` (if set) on this thread.
int WaitForStopSignal(const std::function<void()>& on_hangup = nullptr);

// Logs what a SIGHUP's certificate reload did: `reload` is the result of
// http::Server::ReloadTls (FailedPrecondition: plain HTTP, nothing to reload).
void LogHangupReload(const Status& reload);

}  // namespace tandem::cli
