#include "compute/transform/engine.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/json.h"
#include "compute/transform/csv_scan.h"
#include "compute/transform/fast_csv.h"

namespace tandem::compute::transform {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr size_t kReadChunk = 4 << 20;
constexpr size_t kBatchBytes = 1 << 20;

struct Batch {
  // 1-based number of the batch's first line; 0 for a batch of a mapped
  // input, whose number is counted only if an error needs it.
  int64_t first_line = 1;
  const char* input = nullptr;  // mapped input: its start, the batch at input + offset
  size_t offset = 0;
  std::string text;       // whole lines (read input)
  std::string_view view;  // the batch's lines: text, or a slice of the mapped input
  std::string out;
  Status status;
  int64_t records = 0;
  bool done = false;
};

int64_t FirstLine(const Batch& b) {
  if (b.first_line > 0) return b.first_line;
  return 1 + std::count(b.input, b.input + b.offset, '\n');
}

std::string LineError(int64_t line, const std::string& what) {
  return "line " + std::to_string(line) + ": " + what;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string Excerpt(std::string_view s) {
  return s.size() <= 40 ? std::string(s) : std::string(s.substr(0, 40)) + "...";
}

// One CSV field -> float (empty = missing).
bool ParseFloat(std::string_view field, float* value) {
  field = Trim(field);
  if (field.empty()) {
    *value = kNaN;
    return true;
  }
  if (field.front() == '+') field.remove_prefix(1);
  auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), *value);
  return ec == std::errc() && p == field.data() + field.size();
}

Status ParseCsvRow(std::string_view line, int64_t number, int nf, float* row) {
  int col = 0;
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    std::string_view field = line.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (col >= nf) {
      int total = col + 1 + static_cast<int>(std::count(line.begin() + start, line.end(), ','));
      return InvalidArgumentError(LineError(number, "has " + std::to_string(total) +
                                                        " columns; the model takes " +
                                                        std::to_string(nf) + " features"));
    }
    if (!ParseFloat(field, &row[col])) {
      return InvalidArgumentError(LineError(number, "column " + std::to_string(col + 1) + ": '" +
                                                        Excerpt(Trim(field)) +
                                                        "' is not a number"));
    }
    ++col;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::fill(row + col, row + nf, kNaN);
  return OkStatus();
}

Status ParseJsonRow(std::string_view line, int64_t number, int nf, float* row) {
  Json doc = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgumentError(LineError(number, "is not valid JSON"));
  const Json* features = &doc;
  if (doc.is_object()) {
    auto it = doc.find("features");
    if (it == doc.end()) {
      return InvalidArgumentError(LineError(number, "object has no \"features\" field"));
    }
    features = &*it;
  }
  if (!features->is_array()) {
    return InvalidArgumentError(
        LineError(number, "must be an array of numbers or {\"features\": [...]}"));
  }
  if (static_cast<int64_t>(features->size()) > nf) {
    return InvalidArgumentError(LineError(number, "has " + std::to_string(features->size()) +
                                                      " features; the model takes " +
                                                      std::to_string(nf)));
  }
  int col = 0;
  for (const Json& v : *features) {
    if (v.is_null()) {
      row[col] = kNaN;
    } else if (v.is_number()) {
      row[col] = v.get<float>();
    } else {
      return InvalidArgumentError(
          LineError(number, "feature " + std::to_string(col + 1) + " is not a number or null"));
    }
    ++col;
  }
  std::fill(row + col, row + nf, kNaN);
  return OkStatus();
}

void AppendFloat(std::string& out, float v, bool json) {
  if (std::isnan(v)) {
    out += json ? "null" : "nan";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void AppendScores(std::string& out, const float* s, int n, bool json) {
  if (json && n != 1) out += '[';
  for (int i = 0; i < n; ++i) {
    if (i > 0) out += ',';
    AppendFloat(out, s[i], json);
  }
  if (json && n != 1) out += ']';
}

// Appends the scores of `n` rows as CSV lines (`lines[i],` first if join).
void FormatCsv(const std::vector<std::string_view>& lines, const float* scores, size_t n, int no,
               bool join, std::string& out) {
  constexpr size_t kMaxFloat = 16;  // "-1.17549435e-38" and a separator
  size_t need = n * (static_cast<size_t>(no) * kMaxFloat + 1);
  if (join) {
    for (size_t i = 0; i < n; ++i) need += lines[i].size() + 1;
  }
  const size_t old = out.size();
  out.resize(old + need);
  char* o = out.data() + old;
  for (size_t i = 0; i < n; ++i) {
    if (join) {
      std::memcpy(o, lines[i].data(), lines[i].size());
      o += lines[i].size();
      *o++ = ',';
    }
    const float* s = scores + i * static_cast<size_t>(no);
    for (int k = 0; k < no; ++k) {
      if (k > 0) *o++ = ',';
      if (std::isnan(s[k])) {
        std::memcpy(o, "nan", 3);
        o += 3;
      } else {
        o = std::to_chars(o, o + kMaxFloat, s[k]).ptr;
      }
    }
    *o++ = '\n';
  }
  out.resize(static_cast<size_t>(o - out.data()));
}

// Parses, predicts and formats one batch. CSV lines go through the block
// scanner (CsvLineScanner, AVX-512) or else the one-pass line parser
// (ParseCsvLineFast) and, if they decline, the general one, whose values are
// the same and whose errors name the line.
void Process(const runtime::Predictor& predictor, const TransformOptions& opts, Batch& b) {
  const size_t nf = static_cast<size_t>(predictor.num_features());
  const int no = predictor.num_outputs();
  const bool csv = opts.content_type == TransformContentType::kCsv;
  thread_local std::vector<float> rows, scores;
  thread_local std::vector<std::string_view> lines;
  thread_local std::vector<int64_t> numbers;
  lines.clear();
  numbers.clear();
  const std::string_view text(b.view);
  int64_t number = 0;  // 0-based within the batch; errors add FirstLine(b)
  // A line [p, e) the fast parsers declined: the general one skips it
  // (blank), parses it or reports it (false).
  auto general = [&](const char* p, const char* e, float* row) {
    std::string_view line = Trim(std::string_view(p, static_cast<size_t>(e - p)));
    if (line.empty()) return true;
    const int nfi = static_cast<int>(nf);
    Status s = csv ? ParseCsvRow(line, number, nfi, row) : ParseJsonRow(line, number, nfi, row);
    if (!s.ok()) {  // again, for the message's line number
      const int64_t at = FirstLine(b) + number;
      b.status = csv ? ParseCsvRow(line, at, nfi, row) : ParseJsonRow(line, at, nfi, row);
      return false;
    }
    lines.push_back(line);
    numbers.push_back(number);
    return true;
  };
  auto next_row = [&] {
    const size_t n = lines.size();
    if (rows.size() < (n + 1) * nf) rows.resize(std::max(rows.size() * 2, (n + 1024) * nf));
    return rows.data() + n * nf;
  };
  const char* p = text.data();
  const char* const end = p + text.size();
  if (csv && CsvLineScanner::Supported()) {
    CsvLineScanner scanner(p, end);
    const char* e;
    while (true) {
      float* row = next_row();
      const CsvLineScanner::Line kind = scanner.Next(static_cast<int>(nf), row, &p, &e);
      if (kind == CsvLineScanner::Line::kEnd) break;
      if (kind == CsvLineScanner::Line::kParsed) {
        lines.emplace_back(p, static_cast<size_t>(e - p) - (e[-1] == '\r' ? 1 : 0));
        numbers.push_back(number);
      } else if (!general(p, e, row)) {
        return;
      }
      ++number;
    }
  } else {
    while (p < end) {
      const char* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* e = nl == nullptr ? end : nl;
      float* row = next_row();
      if (csv && ParseCsvLineFast(p, e, end, static_cast<int>(nf), row)) {
        lines.emplace_back(p, static_cast<size_t>(e - p) - (e[-1] == '\r' ? 1 : 0));
        numbers.push_back(number);
      } else if (!general(p, e, row)) {
        return;
      }
      ++number;
      p = e + 1;
    }
  }
  const size_t n = lines.size();
  scores.resize(n * static_cast<size_t>(no));
  if (n > 0) {
    Status s = predictor.Predict(rows.data(), n, nf, scores.data());
    if (!s.ok()) {
      const int64_t first = FirstLine(b);
      b.status = Annotate(s, "lines " + std::to_string(first + numbers.front()) + "-" +
                                 std::to_string(first + numbers.back()));
      return;
    }
  }
  if (csv) {
    FormatCsv(lines, scores.data(), n, no, opts.join_input, b.out);
  } else {
    b.out.reserve(n * (no * 12 + 16) + (opts.join_input ? text.size() : 0));
    for (size_t i = 0; i < n; ++i) {
      const float* s = scores.data() + i * no;
      b.out += opts.join_input ? "{\"input\":" : "{";
      if (opts.join_input) {
        b.out += lines[i];
        b.out += ',';
      }
      b.out += "\"prediction\":";
      AppendScores(b.out, s, no, true);
      b.out += "}\n";
    }
  }
  b.records = static_cast<int64_t>(n);
}

// Cuts the input into batches of whole lines: a regular file is mapped
// (batches are slices of the mapping: no copy, and line numbers are counted
// only for an error message), anything else is read in chunks.
class Reader {
 public:
  Reader(int fd, const TransformOptions& opts) : fd_(fd), opts_(opts) {
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (m != MAP_FAILED) {
        ::madvise(m, static_cast<size_t>(st.st_size), MADV_SEQUENTIAL);
        map_ = std::string_view(static_cast<const char*>(m), static_cast<size_t>(st.st_size));
        eof_ = true;
        bytes_ = st.st_size;
      }
    }
  }
  ~Reader() {
    if (!map_.empty()) ::munmap(const_cast<char*>(map_.data()), map_.size());
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Next batch into `b` (false at the end). InvalidArgument for a line
  // longer than the payload limit, Internal for read errors.
  StatusOr<bool> Next(Batch& b) {
    const size_t limit = static_cast<size_t>(opts_.max_payload_bytes);
    const bool single = opts_.batch_strategy == BatchStrategy::kSingleRecord;
    while (true) {
      std::string_view avail = map_.empty() ? std::string_view(buf_) : map_;
      avail.remove_prefix(pos_);
      size_t cut = 0;
      if (single) {
        size_t nl = avail.find('\n');
        if (nl != std::string_view::npos) cut = nl + 1;
        if (nl == std::string_view::npos && eof_) cut = avail.size();
        if (cut == 0 && avail.size() > limit) cut = avail.size();  // too long, reported below
        if (cut > 0 && Trim(avail.substr(0, cut)).size() > limit) return TooLong();
      } else {
        // Batches of up to min(limit, kBatchBytes): smaller than the payload
        // limit keeps every worker busy and the batch in cache.
        const size_t target = std::min(limit, kBatchBytes);
        if (avail.size() <= target) {
          if (eof_) cut = avail.size();
        } else if (size_t nl = avail.substr(0, target + 1).rfind('\n');
                   nl != std::string_view::npos) {
          cut = nl + 1;
        } else if (nl = avail.substr(0, limit + 1).find('\n'); nl != std::string_view::npos) {
          cut = nl + 1;
        } else if (avail.size() > limit) {
          return TooLong();
        } else if (eof_) {
          cut = avail.size();
        }
      }
      if (cut > 0 || (eof_ && avail.empty())) {
        if (cut == 0) return false;
        if (!map_.empty()) {
          b.first_line = 0;
          b.input = map_.data();
          b.offset = pos_;
          b.view = avail.substr(0, cut);
        } else {
          b.first_line = line_;
          b.text.assign(avail.substr(0, cut));
          b.view = b.text;
          line_ += std::count(b.text.begin(), b.text.end(), '\n');
        }
        pos_ += cut;
        return true;
      }
      RETURN_IF_ERROR(Fill(kReadChunk));
    }
  }
  int64_t bytes() const { return bytes_; }

 private:
  Status TooLong() const {
    const int64_t line =
        map_.empty() ? line_ : 1 + std::count(map_.data(), map_.data() + pos_, '\n');
    return InvalidArgumentError(LineError(
        line,
        "is longer than max_payload_mb (" + std::to_string(opts_.max_payload_bytes) + " bytes)"));
  }
  Status Fill(size_t want) {
    if (pos_ > 0) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    size_t old = buf_.size();
    buf_.resize(old + want);
    ssize_t n;
    do {
      n = ::read(fd_, buf_.data() + old, want);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return InternalError(std::string("reading input: ") + std::strerror(errno));
    buf_.resize(old + static_cast<size_t>(n));
    bytes_ += n;
    if (n == 0) eof_ = true;
    return OkStatus();
  }

  int fd_;
  const TransformOptions& opts_;
  std::string_view map_;  // the mapped input (empty: reading into buf_)
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  int64_t line_ = 1;
  int64_t bytes_ = 0;
};

// Workers process batches; the caller submits and collects them in order.
class Pipeline {
 public:
  Pipeline(const runtime::Predictor& p, const TransformOptions& opts) : predictor_(p), opts_(opts) {
    for (int i = 0; i < std::max(1, opts.threads); ++i) workers_.emplace_back([this] { Work(); });
  }
  ~Pipeline() {
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    work_cv_.SignalAll();
    for (auto& t : workers_) t.join();
  }
  size_t max_in_flight() const { return 2 * workers_.size() + 1; }

  // A cleared batch, reusing a released one's buffers (no page faults on
  // fresh multi-megabyte allocations per batch).
  std::unique_ptr<Batch> Acquire() {
    if (free_.empty()) return std::make_unique<Batch>();
    auto b = std::move(free_.back());
    free_.pop_back();
    b->text.clear();
    b->view = {};
    b->input = nullptr;
    b->offset = 0;
    b->out.clear();
    b->status = OkStatus();
    b->records = 0;
    b->done = false;
    return b;
  }
  void Release(std::unique_ptr<Batch> b) { free_.push_back(std::move(b)); }

  void Submit(std::unique_ptr<Batch> b) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(b.get());
    in_flight_.push_back(std::move(b));
    work_cv_.Signal();
  }
  size_t in_flight() {
    absl::MutexLock lock(&mu_);
    return in_flight_.size();
  }
  // The oldest batch once it is done (waits); nullptr if none is in flight.
  std::unique_ptr<Batch> PopOldest() {
    absl::MutexLock lock(&mu_);
    if (in_flight_.empty()) return nullptr;
    while (!in_flight_.front()->done) done_cv_.Wait(&mu_);
    auto b = std::move(in_flight_.front());
    in_flight_.pop_front();
    return b;
  }

 private:
  void Work() {
    while (true) {
      Batch* b;
      {
        absl::MutexLock lock(&mu_);
        while (!closed_ && queue_.empty()) work_cv_.Wait(&mu_);
        if (queue_.empty()) return;
        b = queue_.front();
        queue_.pop_front();
      }
      Process(predictor_, opts_, *b);
      {
        absl::MutexLock lock(&mu_);
        b->done = true;
      }
      done_cv_.SignalAll();
    }
  }

  const runtime::Predictor& predictor_;
  const TransformOptions& opts_;
  absl::Mutex mu_;
  absl::CondVar work_cv_, done_cv_;
  std::deque<Batch*> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<Batch>> in_flight_ ABSL_GUARDED_BY(mu_);  // submission order
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<Batch>> free_;  // caller's thread only
  std::vector<std::thread> workers_;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Status WriteAll(std::FILE* f, const std::string& data) {
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f) != data.size()) {
    return InternalError(std::string("writing output: ") + std::strerror(errno));
  }
  return OkStatus();
}

StatusOr<TransformStats> Run(const runtime::Predictor& predictor, int in_fd, std::FILE* out,
                             const TransformOptions& opts) {
  if (opts.max_payload_bytes < 1) return InvalidArgumentError("max_payload_bytes must be >= 1");
  TransformStats stats;
  Reader reader(in_fd, opts);
  Pipeline pipeline(predictor, opts);
  Status first;
  auto emit = [&](std::unique_ptr<Batch> b) {
    if (!first.ok()) return;
    if (!b->status.ok()) {
      first = b->status;
      return;
    }
    first = WriteAll(out, b->out);
    stats.records += b->records;
    stats.bytes_out += static_cast<int64_t>(b->out.size());
    ++stats.batches;
    pipeline.Release(std::move(b));
  };
  while (first.ok()) {
    auto b = pipeline.Acquire();
    StatusOr<bool> more = reader.Next(*b);
    if (!more.ok()) {
      // Batches before the bad line are still checked: an earlier error wins.
      while (auto done = pipeline.PopOldest()) emit(std::move(done));
      if (first.ok()) first = more.status();
      break;
    }
    if (!*more) break;
    pipeline.Submit(std::move(b));
    while (pipeline.in_flight() >= pipeline.max_in_flight()) emit(pipeline.PopOldest());
  }
  while (auto done = pipeline.PopOldest()) emit(std::move(done));
  if (!first.ok()) return first;
  stats.bytes_in = reader.bytes();
  return stats;
}

}  // namespace

StatusOr<TransformStats> TransformFile(const runtime::Predictor& predictor,
                                       const std::string& input_path,
                                       const std::string& output_path,
                                       const TransformOptions& options) {
  Fd in(::open(input_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) {
    return NotFoundError("cannot open input " + input_path + ": " + std::strerror(errno));
  }
  std::FILE* out = std::fopen(output_path.c_str(), "we");
  if (out == nullptr) {
    return InternalError("cannot create output " + output_path + ": " + std::strerror(errno));
  }
  std::vector<char> buffer(1 << 20);
  std::setvbuf(out, buffer.data(), _IOFBF, buffer.size());
  StatusOr<TransformStats> stats = Run(predictor, in.get(), out, options);
  bool closed = std::fclose(out) == 0;
  if (stats.ok() && !closed) {
    stats = InternalError("writing " + output_path + ": " + std::strerror(errno));
  }
  if (!stats.ok()) std::remove(output_path.c_str());
  return stats;
}

}  // namespace tandem::compute::transform
