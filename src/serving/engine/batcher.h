// Dynamic batching for one loaded model version: concurrent requests are
// queued, gathered into batches of up to max_batch_size rows (waiting at most
// max_queue_delay_us after the oldest request), scored with one
// Predictor::Predict call, and each caller gets back exactly its own rows.
//
// With max_batch_size <= 1 there is no queue and no thread hand-off: Predict
// runs on the caller's thread (the fast path). A request with more rows than
// max_batch_size also runs directly, as its own batch.
//
// Thread-safety: Predict may be called from any number of threads. The
// destructor finishes every queued request, then joins the workers; the
// predictor must outlive the Batcher.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "runtime/predictor.h"
#include "serving/engine/metrics.h"

namespace tandem::serving::engine {

struct BatchOptions {
  int max_batch_size = 1;          // rows per Predict call; <= 1 disables batching
  int64_t max_queue_delay_us = 0;  // how long the oldest request may wait for company
  int queue_size = 1024;           // pending requests beyond this -> ResourceExhausted
  int workers = 1;                 // batch worker threads
};

// Validates the options (InvalidArgument naming the bad one).
Status ValidateBatchOptions(const BatchOptions& options);

// Where the time of one request went.
struct BatchTiming {
  int64_t queue_us = 0;    // enqueued -> its batch started
  int64_t compute_us = 0;  // the batch's Predict call
  size_t batch_rows = 0;   // rows in that batch
};

class Batcher {
 public:
  // `predictor` and `metrics` (may be null) are not owned. `name` is used in
  // error messages ("model 'm' queue is full").
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
  bool batching() const { return options_.max_batch_size > 1; }

 private:
  struct Pending;
  void WorkerLoop();
  // Takes the next batch off the queue (blocks); false once stopping and empty.
  bool NextBatch(std::vector<Pending*>& batch);
  void RunBatch(const std::vector<Pending*>& batch, std::vector<float>& in,
                std::vector<float>& out);
  Status Direct(const float* rows, size_t n_rows, size_t n_cols, float* out, BatchTiming* timing);

  const std::string name_;
  const runtime::Predictor& predictor_;
  const BatchOptions options_;
  ModelMetrics* metrics_;
  Clock& clock_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace tandem::serving::engine
