#include "serving/engine/batcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/synchronization/mutex.h"

namespace tandem::serving::engine {

// One caller's request, living on the caller's stack while it waits. The
// flags are guarded by the Batcher's mu_.
struct Batcher::Pending {
  const float* rows = nullptr;
  size_t n_rows = 0;
  size_t n_cols = 0;
  float* out = nullptr;
  int64_t enqueued_us = 0;
  BatchTiming timing;
  Status status;
  bool done = false;  // scored (status and timing are set)
  bool lead = false;  // handed a batch slot: run batches until done
  absl::CondVar cv;
};

Status ValidateBatchOptions(const BatchOptions& o) {
  if (o.max_batch_size < 0 || o.max_batch_size > 65536) {
    return InvalidArgumentError("max_batch_size must be in 0..65536 (0 = automatic), got " +
                                std::to_string(o.max_batch_size));
  }
  if (o.max_queue_delay_us < 0 || o.max_queue_delay_us > 10'000'000) {
    return InvalidArgumentError("max_queue_delay_us must be in 0..10000000, got " +
                                std::to_string(o.max_queue_delay_us));
  }
  if (o.queue_size < 1) {
    return InvalidArgumentError("queue_size must be >= 1, got " + std::to_string(o.queue_size));
  }
  if (o.workers < 0 || o.workers > 64) {
    return InvalidArgumentError("workers must be in 0..64 (0 = automatic), got " +
                                std::to_string(o.workers));
  }
  return OkStatus();
}

BatchOptions ResolveBatchOptions(const BatchOptions& options, const runtime::Predictor& predictor) {
  BatchOptions o = options;
  const int concurrency = predictor.batch_concurrency();
  if (o.max_batch_size == 0) o.max_batch_size = concurrency > 0 ? kAutoMaxBatchSize : 1;
  if (o.workers == 0) o.workers = std::clamp(concurrency, 1, 64);
  return o;
}

Batcher::Batcher(std::string name, const runtime::Predictor& predictor, BatchOptions options,
                 ModelMetrics* metrics, Clock& clock)
    : name_(std::move(name)),
      predictor_(predictor),
      options_(ResolveBatchOptions(options, predictor)),
      metrics_(metrics),
      clock_(clock) {}

Batcher::~Batcher() = default;

Status Batcher::Direct(const float* rows, size_t n_rows, size_t n_cols, float* out,
                       BatchTiming* timing) {
  int64_t start = clock_.MonotonicMicros();
  Status s = predictor_.Predict(rows, n_rows, n_cols, out);
  int64_t compute = clock_.MonotonicMicros() - start;
  if (metrics_ != nullptr) {
    metrics_->batches.fetch_add(1, std::memory_order_relaxed);
    metrics_->batch_rows.Observe(static_cast<double>(n_rows));
    metrics_->compute_seconds.Observe(compute * 1e-6);
    metrics_->queue_seconds.Observe(0);
  }
  if (timing != nullptr) *timing = {0, compute, n_rows};
  return s;
}

Status Batcher::Predict(const float* rows, size_t n_rows, size_t n_cols, float* out,
                        BatchTiming* timing) {
  if (n_rows == 0) return OkStatus();
  if (!batching() || n_rows >= static_cast<size_t>(options_.max_batch_size)) {
    return Direct(rows, n_rows, n_cols, out, timing);
  }
  Pending p;
  p.rows = rows;
  p.n_rows = n_rows;
  p.n_cols = n_cols;
  p.out = out;
  p.enqueued_us = clock_.MonotonicMicros();
  absl::MutexLock lock(&mu_);
  if (queue_.size() >= static_cast<size_t>(options_.queue_size)) {
    return ResourceExhaustedError("model '" + name_ + "' queue is full (" +
                                  std::to_string(options_.queue_size) +
                                  " pending requests); retry later");
  }
  queue_.push_back(&p);
  if (running_ < options_.workers) {
    ++running_;
    p.lead = true;
  } else {
    cv_.Signal();  // a leader may be waiting for its batch to fill
  }
  while (!p.done && !p.lead) p.cv.Wait(&mu_);
  // Handed a slot, even if another leader scored `p` meanwhile: pass it on.
  if (p.lead) Lead(p);
  if (timing != nullptr) *timing = p.timing;
  return p.status;
}

void Batcher::Lead(Pending& self) {
  std::vector<Pending*> batch;
  std::vector<float> in;
  std::vector<float> out;
  while (!self.done && !queue_.empty()) {
    NextBatch(batch);
    mu_.Unlock();
    RunBatch(batch, in, out);
    mu_.Lock();
    Complete(batch);
  }
  // The slot passes to the oldest queued request not already handed one (it
  // may not have woken yet); else it is free.
  auto next = std::find_if(queue_.begin(), queue_.end(), [](const Pending* q) { return !q->lead; });
  if (next != queue_.end()) {
    (*next)->lead = true;
    (*next)->cv.Signal();
  } else {
    --running_;
  }
  // `self` may be in another leader's batch: wait for it as a follower.
  while (!self.done) self.cv.Wait(&mu_);
}

size_t Batcher::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

int Batcher::running_batches() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

void Batcher::NextBatch(std::vector<Pending*>& batch) {
  batch.clear();
  const size_t max_rows = static_cast<size_t>(options_.max_batch_size);
  const int64_t deadline = queue_.front()->enqueued_us + options_.max_queue_delay_us;
  size_t rows = 0;
  while (true) {
    while (!queue_.empty() && rows + queue_.front()->n_rows <= max_rows) {
      rows += queue_.front()->n_rows;
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    // Full, the next request does not fit, or no more waiting allowed.
    if (rows >= max_rows || !queue_.empty()) break;
    int64_t left = deadline - clock_.MonotonicMicros();
    if (left <= 0) break;
    cv_.WaitWithTimeout(&mu_, absl::Microseconds(left));
  }
}

void Batcher::RunBatch(const std::vector<Pending*>& batch, std::vector<float>& in,
                       std::vector<float>& out) {
  size_t rows = 0;
  size_t cols = 0;
  for (const Pending* p : batch) {
    rows += p->n_rows;
    cols = std::max(cols, p->n_cols);
  }
  const size_t outputs = static_cast<size_t>(std::max(1, predictor_.num_outputs()));
  int64_t start = 0;
  Status s;
  if (batch.size() == 1) {
    // Alone: no copies.
    start = clock_.MonotonicMicros();
    s = predictor_.Predict(batch[0]->rows, rows, cols, batch[0]->out);
  } else {
    in.assign(rows * cols, NAN);  // narrower requests: trailing columns missing
    out.resize(rows * outputs);
    size_t r = 0;
    for (const Pending* p : batch) {
      for (size_t i = 0; i < p->n_rows; ++i) {
        std::copy_n(p->rows + i * p->n_cols, p->n_cols, in.data() + (r + i) * cols);
      }
      r += p->n_rows;
    }
    start = clock_.MonotonicMicros();
    s = predictor_.Predict(in.data(), rows, cols, out.data());
  }
  int64_t end = clock_.MonotonicMicros();
  if (metrics_ != nullptr) {
    metrics_->batches.fetch_add(1, std::memory_order_relaxed);
    metrics_->batch_rows.Observe(static_cast<double>(rows));
  }
  size_t r = 0;
  for (Pending* p : batch) {
    if (s.ok() && batch.size() > 1) {
      std::copy_n(out.data() + r * outputs, p->n_rows * outputs, p->out);
    }
    r += p->n_rows;
    p->timing = {std::max<int64_t>(0, start - p->enqueued_us), end - start, rows};
    p->status = s;
    if (metrics_ != nullptr) {
      metrics_->queue_seconds.Observe(p->timing.queue_us * 1e-6);
      metrics_->compute_seconds.Observe(p->timing.compute_us * 1e-6);
    }
  }
}

void Batcher::Complete(const std::vector<Pending*>& batch) {
  for (Pending* p : batch) {
    p->done = true;
    p->cv.Signal();  // under the lock: `p` may vanish right after unlock
  }
}

}  // namespace tandem::serving::engine
