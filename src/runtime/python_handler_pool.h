// A supervised pool of Python worker processes running a team's handler.py
// (load(model_dir) once; predict(model, features) per request; optional
// preprocess/postprocess and test_data()). Each worker is an interpreter
// started with the embedded worker script (src/runtime/python/
// tandem_worker.py) and one end of a Unix socketpair; requests and responses
// are length-prefixed binary frames carrying float32 rows (no HTTP, no JSON
// on the request path). Used by the "python" flavor (online serving) and by
// batch transform, so both score through the very same handler.
//
// Failure handling: a worker that dies is restarted by the pool's supervisor
// thread (the request it held fails with Internal naming the exit status or
// signal); a handler that raises -> Internal naming the exception type and
// message; a request running past `timeout` -> DeadlineExceeded, and the
// worker is killed and restarted. A caller never waits longer than about
// `timeout` (plus the time to write its request).
//
// Thread-safety: Predict may be called from many threads at once; each call
// holds one worker for its duration.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "runtime/worker_sandbox.h"

namespace tandem::runtime {

struct PythonPoolOptions {
  std::string interpreter = "/usr/bin/python3";
  int workers = 0;                                   // 0 = the number of CPUs
  std::chrono::milliseconds timeout{30'000};         // per request
  std::chrono::milliseconds start_timeout{120'000};  // import + load() of one worker
  // Measures both timeouts (monotonic time); not owned. nullptr = Clock::Real().
  Clock* clock = nullptr;
  // Added to the workers' environment (e.g. OMP_NUM_THREADS=1, the default
  // unless set here or already in the environment).
  std::map<std::string, std::string> env;
  // Set: every worker runs inside this image under bubblewrap
  // (worker_sandbox.h): `interpreter` is looked up on the image's PATH (or
  // is a path inside the image), the environment is the image's plus `env`,
  // and the handler and model directory are bound in read-only.
  std::optional<WorkerSandbox> sandbox;
};

// test_data() of the handler, as reported by the first worker.
struct HandlerTestData {
  std::vector<std::vector<float>> inputs;
  std::vector<std::vector<float>> outputs;
};

struct PythonPoolStats {
  int workers = 0;       // configured size
  int live = 0;          // started and not known dead
  int64_t restarts = 0;  // workers started after the initial ones
  int64_t timeouts = 0;  // requests answered DeadlineExceeded
};

class PythonHandlerPool {
 public:
  // Starts `options.workers` workers for `handler_path` (a .py file) with
  // `model_dir`, and waits until all have loaded. A handler that cannot be
  // imported or whose load() raises -> InvalidArgument quoting the error; an
  // interpreter that cannot start -> FailedPrecondition.
  static StatusOr<std::unique_ptr<PythonHandlerPool>> Start(const std::string& handler_path,
                                                            const std::string& model_dir,
                                                            PythonPoolOptions options);
  ~PythonHandlerPool();  // kills and reaps every worker
  PythonHandlerPool(const PythonHandlerPool&) = delete;
  PythonHandlerPool& operator=(const PythonHandlerPool&) = delete;

  // Scores n_rows x n_cols float32 rows. On success `out` holds n_rows *
  // `*n_out` floats, `*n_out` being what the handler returned per row.
  Status Predict(const float* rows, size_t n_rows, size_t n_cols, std::vector<float>& out,
                 size_t* n_out) const;

  // The handler's test_data() (empty if it defines none).
  const HandlerTestData& test_data() const;
  // model.n_features_in_ if the loaded model has one (scikit-learn), else -1.
  int reported_features() const;
  PythonPoolStats stats() const;
  const PythonPoolOptions& options() const;

  class Impl;

 private:
  explicit PythonHandlerPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The worker script's text (embedded at build time).
const char* PythonWorkerScript();

}  // namespace tandem::runtime
