// Open Inference Protocol (KServe v2) tensors <-> the dense float matrix a
// Predictor scores: decoding of infer requests (JSON tensors, flat or nested,
// and the binary tensor data extension) against a model's signature, and
// encoding of infer responses (JSON or binary outputs).
//
// Every malformed input is an InvalidArgument naming the offending input and
// what was expected; no input can make the decoder allocate more than the
// body it was given justifies (shape products are overflow-checked and must
// match the data actually sent).
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "runtime/model_package.h"

namespace tandem::serving::server {

// Upper bound on the elements of one request (all inputs).
inline constexpr uint64_t kMaxRequestElements = uint64_t{1} << 26;

// Byte size of one element of a fixed-size datatype (0 for BYTES or unknown).
size_t DatatypeSize(std::string_view datatype);
bool IsKnownDatatype(std::string_view datatype);

// What the model takes, derived from its signature.
struct ModelShape {
  const runtime::Signature* signature = nullptr;
  int num_features = 0;
  int num_outputs = 1;
};

struct RequestedOutput {
  std::string name;
  bool binary = false;
};

struct DecodedRequest {
  std::optional<std::string> id;
  std::vector<float> rows;  // n_rows x n_cols, row-major, NaN = missing
  size_t n_rows = 0;
  size_t n_cols = 0;
  std::vector<RequestedOutput> outputs;  // what to return, in order
};

// Decodes an infer request. `header_length` is the value of the
// Inference-Header-Content-Length header (binary extension) if present.
StatusOr<DecodedRequest> DecodeInferRequest(std::string_view body,
                                            std::optional<size_t> header_length,
                                            const ModelShape& model, std::string_view model_name);

// Parses the Inference-Header-Content-Length header value ("" = absent).
StatusOr<std::optional<size_t>> ParseHeaderLength(std::string_view value, size_t body_size);

struct EncodedResponse {
  std::string body;
  std::optional<size_t> header_length;  // set when binary outputs follow the JSON
};

// Encodes the response for `scores` (n_rows x model.num_outputs).
EncodedResponse EncodeInferResponse(const DecodedRequest& request, const ModelShape& model,
                                    std::string_view model_name, std::string_view version,
                                    const std::vector<float>& scores);

// Appends a float as the shortest JSON number that round-trips (null for NaN/Inf).
void AppendJsonFloat(std::string& out, float v);
// Appends `s` as a JSON string literal (escaped).
void AppendJsonString(std::string& out, std::string_view s);

// Shape text for messages: "[-1, 20]".
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace tandem::serving::server
