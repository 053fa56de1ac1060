// Dynamic batching for one loaded model version: concurrent requests are
// queued, gathered into batches of up to max_batch_size rows (waiting at most
// max_queue_delay_us after the oldest request), scored with one
// Predictor::Predict call, and each caller gets back exactly its own rows.
//
// There are no batch threads: callers run the batches themselves (leader and
// followers). A caller that finds fewer than `workers` batches running scores
// at once, taking along whatever is queued; one that finds them all busy
// queues and waits until a running batch takes it, or until a finishing
// caller hands it the free slot. With max_queue_delay_us = 0 (the default)
// nothing ever waits for company: a lone request runs at once on its own
// thread, and under load the requests that queued while the slots were busy
// form the next batch.
//
// With max_batch_size <= 1 there is no queue: Predict runs on the caller's
// thread (the fast path). A request with more rows than max_batch_size also
// runs directly, as its own batch.
//
// Thread-safety: Predict may be called from any number of threads; the
// predictor must outlive the Batcher, and the Batcher every Predict call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "runtime/predictor.h"
#include "serving/engine/metrics.h"

namespace tandem::serving::engine {

struct BatchOptions {
  // Rows per Predict call; 1 disables batching; 0 = automatic (see
  // ResolveBatchOptions).
  int max_batch_size = 0;
  int64_t max_queue_delay_us = 0;  // how long the oldest request may wait for company
  int queue_size = 1024;           // pending requests beyond this -> ResourceExhausted
  int workers = 0;                 // batches running at once; 0 = automatic
};

// Rows per batch when batching is automatic.
inline constexpr int kAutoMaxBatchSize = 64;

// Validates the options (InvalidArgument naming the bad one).
Status ValidateBatchOptions(const BatchOptions& options);

// Fills in the automatic fields for `predictor`: batching (kAutoMaxBatchSize
// rows, `workers` = Predictor::batch_concurrency()) where the flavor says it
// pays (Python handlers, plugins), none where a call costs about as much per
// row alone as in a batch (the native forest). Explicit fields are kept.
BatchOptions ResolveBatchOptions(const BatchOptions& options, const runtime::Predictor& predictor);

// Where the time of one request went.
struct BatchTiming {
  int64_t queue_us = 0;    // enqueued -> its batch started
  int64_t compute_us = 0;  // the batch's Predict call
  size_t batch_rows = 0;   // rows in that batch
};

class Batcher {
 public:
  // `predictor` and `metrics` (may be null) are not owned. `name` is used in
  // error messages ("model 'm' queue is full"). Automatic fields of `options`
  // are resolved for `predictor`.
  Batcher(std::string name, const runtime::Predictor& predictor, BatchOptions options,
          ModelMetrics* metrics, Clock& clock);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Scores `n_rows` rows of `n_cols` columns (row-major, NaN = missing) into
  // `out` (n_rows * num_outputs floats); blocks until done. A full queue ->
  // ResourceExhausted; a Predict error is returned to every caller in the batch.
  Status Predict(const float* rows, size_t n_rows, size_t n_cols, float* out,
                 BatchTiming* timing = nullptr);

  const BatchOptions& options() const { return options_; }
  // Requests waiting for a batch now.
  size_t queue_depth() const;
  // Batch slots held by callers now (0 when idle).
  int running_batches() const;
  bool batching() const { return options_.max_batch_size > 1; }

 private:
  struct Pending;
  // Takes the next batch off the front of the queue, waiting up to
  // max_queue_delay_us after its oldest request for it to fill.
  void NextBatch(std::vector<Pending*>& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Scores a batch (without the lock) and fills in each request's result.
  void RunBatch(const std::vector<Pending*>& batch, std::vector<float>& in,
                std::vector<float>& out);
  // Marks the batch's requests done and wakes their callers.
  void Complete(const std::vector<Pending*>& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs batches on the caller's thread until `self` is done, then passes
  // the slot to the oldest queued request (or frees it).
  void Lead(Pending& self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status Direct(const float* rows, size_t n_rows, size_t n_cols, float* out, BatchTiming* timing);

  const std::string name_;
  const runtime::Predictor& predictor_;
  const BatchOptions options_;
  ModelMetrics* metrics_;
  Clock& clock_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;  // callers leading batches
};

}  // namespace tandem::serving::engine
