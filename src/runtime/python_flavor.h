// The "python" flavor: a model package whose manifest names a team's
// handler.py, served through a PythonHandlerPool.
//
//   flavor: python
//   handler: handler.py          # load(model_dir), predict(model, features), ...
//   num_features: 20             # or a signature input [-1, 20]; else the
//                                # model's n_features_in_ or test_data() width
//   python:                      # all optional
//     workers: 4                 # default $TANDEM_PYTHON_WORKERS, else the CPUs
//     timeout_ms: 30000          # per request -> DeadlineExceeded
//     start_timeout_ms: 120000   # import + load() of one worker
//     interpreter: /usr/bin/python3   # default $TANDEM_PYTHON, else /usr/bin/python3
//     env: {OMP_NUM_THREADS: "1"}     # added to the workers' environment
//     test_tolerance: 1e-5       # for test_data() outputs
//
// Scores per row come from a declared signature output [-1, K], else the
// width of test_data()'s outputs, else one probe prediction on a zero row.
// If the handler defines test_data(), its inputs are scored through the pool
// at load and any output differing from the expected one refuses the model.
#pragma once

#include <memory>

#include "common/status.h"
#include "runtime/model_package.h"
#include "runtime/predictor.h"
#include "runtime/python_handler_pool.h"

namespace tandem::runtime {

inline constexpr char kPythonFlavor[] = "python";

// The pool options of a package (the manifest's `python:` section over the
// environment defaults); bad fields -> InvalidArgument naming them.
StatusOr<PythonPoolOptions> PythonOptionsFor(const ModelPackage& package);

// FlavorLoader for "python".
StatusOr<std::unique_ptr<Predictor>> LoadPythonModel(const ModelPackage& package);
// The same with the workers inside an image (`sandbox` non-null): the
// interpreter is `python3` on the image's PATH unless the manifest's
// python.interpreter names one (a path inside the image).
StatusOr<std::unique_ptr<Predictor>> LoadPythonModelIn(const ModelPackage& package,
                                                       const WorkerSandbox* sandbox);

}  // namespace tandem::runtime
