// How long-running commands (`tandem up`, `tandem serve`) wait for SIGINT or
// SIGTERM: handlers write the signal number to a pipe that the main thread
// reads. A handler, unlike a blocked mask + sigwait, cannot be bypassed by a
// library thread created with the signals unblocked. SIGPIPE is ignored.
#pragma once

namespace tandem::cli {

// Installs the handlers; false if the pipe cannot be created. Call once, from
// the main thread, before starting other threads.
bool InstallStopHandlers();

// Blocks until a stop signal arrives; returns its number.
int WaitForStopSignal();

}  // namespace tandem::cli
