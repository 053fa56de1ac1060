// The batch transform engine: scores one input object (CSV rows of features
// without a label, or JSON Lines of {"features": [...]} or [...]) through a
// runtime Predictor, line by line, into one output object.
//
// Streaming: the input is cut into batches of whole lines (MultiRecord: as
// many lines as fit in max_payload_bytes, at most 1 MB; SingleRecord: one
// line each). A regular file is mapped and batches are slices of the mapping
// (the page cache holds it, no copies); other inputs (pipes) are read in
// chunks, so memory stays at about (2 x threads + 2) batches whatever the
// size. CSV is parsed by the AVX-512 block scanner (csv_scan.h) or, on
// other CPUs, line by line in one pass (fast_csv.h), with the general parser
// as the fallback, so values and errors are the same either way. `threads` workers parse, predict and format batches in
// parallel; the writer emits them in input order. Blank lines are skipped
// (and produce no output line).
//
// Output per input line (assemble_with Line):
//   CSV      score[,score...]                  join_input: <input line>,score...
//   JSONL    {"prediction":X}                  join_input: {"input":<line>,"prediction":X}
// X is a number for one score per row, else an array; NaN scores are `nan`
// in CSV and null in JSON. Floats are printed in the shortest form that
// reads back to the same float (std::to_chars).
//
// Errors: a malformed row, a row wider than the model, or a line longer than
// the payload limit -> InvalidArgument naming the 1-based line number; the
// first error (lowest line) wins, and the output file is removed, so an
// output exists only if the whole object succeeded.
//
// Thread-safety: free functions; the predictor must be thread-safe (it is).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "compute/transform/spec.h"
#include "runtime/predictor.h"

namespace tandem::compute::transform {

struct TransformOptions {
  TransformContentType content_type = TransformContentType::kCsv;
  BatchStrategy batch_strategy = BatchStrategy::kMultiRecord;
  int64_t max_payload_bytes = 6 << 20;
  int threads = 1;  // max_concurrent_transforms
  bool join_input = false;
};

struct TransformStats {
  int64_t records = 0;  // scored lines
  int64_t batches = 0;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
};

// Scores `input_path` into `output_path` (created or truncated; removed on
// any error). NotFound if the input cannot be opened; Internal on I/O errors.
StatusOr<TransformStats> TransformFile(const runtime::Predictor& predictor,
                                       const std::string& input_path,
                                       const std::string& output_path,
                                       const TransformOptions& options);

}  // namespace tandem::compute::transform
