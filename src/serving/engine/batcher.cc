#include "serving/engine/batcher.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/synchronization/mutex.h"

namespace tandem::serving::engine {

// One caller's request, living on the caller's stack while it waits.
struct Batcher::Pending {
  const float* rows = nullptr;
  size_t n_rows = 0;
  size_t n_cols = 0;
  float* out = nullptr;
  int64_t enqueued_us = 0;
  BatchTiming timing;
  Status status;
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::CondVar cv;
};

Status ValidateBatchOptions(const BatchOptions& o) {
  if (o.max_batch_size < 1 || o.max_batch_size > 65536) {
    return InvalidArgumentError("max_batch_size must be in 1..65536, got " +
                                std::to_string(o.max_batch_size));
  }
  if (o.max_queue_delay_us < 0 || o.max_queue_delay_us > 10'000'000) {
    return InvalidArgumentError("max_queue_delay_us must be in 0..10000000, got " +
                                std::to_string(o.max_queue_delay_us));
  }
  if (o.queue_size < 1) {
    return InvalidArgumentError("queue_size must be >= 1, got " + std::to_string(o.queue_size));
  }
  if (o.workers < 1 || o.workers > 64) {
    return InvalidArgumentError("workers must be in 1..64, got " + std::to_string(o.workers));
  }
  return OkStatus();
}

Batcher::Batcher(std::string name, const runtime::Predictor& predictor, BatchOptions options,
                 ModelMetrics* metrics, Clock& clock)
    : name_(std::move(name)),
      predictor_(predictor),
      options_(options),
      metrics_(metrics),
      clock_(clock) {
  if (!batching()) return;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

Batcher::~Batcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  for (auto& t : workers_) t.join();
}

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
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return UnavailableError("model '" + name_ + "' is shutting down");
    if (queue_.size() >= static_cast<size_t>(options_.queue_size)) {
      return ResourceExhaustedError("model '" + name_ + "' queue is full (" +
                                    std::to_string(options_.queue_size) +
                                    " pending requests); retry later");
    }
    queue_.push_back(&p);
  }
  cv_.Signal();
  absl::MutexLock lock(&p.mu);
  while (!p.done) p.cv.Wait(&p.mu);
  if (timing != nullptr) *timing = p.timing;
  return p.status;
}

size_t Batcher::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

bool Batcher::NextBatch(std::vector<Pending*>& batch) {
  batch.clear();
  absl::MutexLock lock(&mu_);
  while (!stopping_ && queue_.empty()) cv_.Wait(&mu_);
  if (queue_.empty()) return false;  // stopping and drained
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
    if (rows >= max_rows || !queue_.empty() || stopping_) break;
    int64_t left = deadline - clock_.MonotonicMicros();
    if (left <= 0) break;
    cv_.WaitWithTimeout(&mu_, absl::Microseconds(left));
  }
  // Another worker may take what is left at once.
  if (!queue_.empty()) cv_.Signal();
  return true;
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
  in.assign(rows * cols, NAN);  // narrower requests: trailing columns missing
  out.resize(rows * outputs);
  size_t r = 0;
  for (const Pending* p : batch) {
    for (size_t i = 0; i < p->n_rows; ++i) {
      std::copy_n(p->rows + i * p->n_cols, p->n_cols, in.data() + (r + i) * cols);
    }
    r += p->n_rows;
  }
  int64_t start = clock_.MonotonicMicros();
  Status s = predictor_.Predict(in.data(), rows, cols, out.data());
  int64_t end = clock_.MonotonicMicros();
  if (metrics_ != nullptr) {
    metrics_->batches.fetch_add(1, std::memory_order_relaxed);
    metrics_->batch_rows.Observe(static_cast<double>(rows));
  }
  r = 0;
  for (Pending* p : batch) {
    if (s.ok()) std::copy_n(out.data() + r * outputs, p->n_rows * outputs, p->out);
    r += p->n_rows;
    BatchTiming t{std::max<int64_t>(0, start - p->enqueued_us), end - start, rows};
    if (metrics_ != nullptr) {
      metrics_->queue_seconds.Observe(t.queue_us * 1e-6);
      metrics_->compute_seconds.Observe(t.compute_us * 1e-6);
    }
    absl::MutexLock lock(&p->mu);
    p->timing = t;
    p->status = s;
    p->done = true;
    p->cv.Signal();  // under the lock: `p` may vanish right after unlock
  }
}

void Batcher::WorkerLoop() {
  std::vector<Pending*> batch;
  std::vector<float> in;
  std::vector<float> out;
  while (NextBatch(batch)) RunBatch(batch, in, out);
}

}  // namespace tandem::serving::engine
