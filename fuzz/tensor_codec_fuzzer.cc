// KServe v2 infer requests (the serving data plane's input): the first byte
// picks the model's signature and whether an Inference-Header-Content-Length
// header is sent (binary tensor extension); the rest is the body. Decoding
// never crashes or over-allocates, and a decoded request encodes a response.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "serving/server/tensor_codec.h"

namespace {

using tandem::runtime::Signature;
using tandem::serving::server::ModelShape;

struct Models {
  Signature one;   // input: FP32 [-1, 4] -> output FP32 [-1, 1]
  Signature two;   // a: FP32 [-1, 2], b: INT64 [-1] -> p: FP32 [-1, 2]
  Signature none;  // a model that declares no signature (as served: never null)
  Models() {
    one.inputs = {{"input", "FP32", {-1, 4}}};
    one.outputs = {{"output", "FP32", {-1, 1}}};
    two.inputs = {{"a", "FP32", {-1, 2}}, {"b", "INT64", {-1}}};
    two.outputs = {{"p", "FP32", {-1, 2}}};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Models models;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  ModelShape shape;
  switch (mode % 3) {
    case 0:
      shape = {&models.one, 4, 1};
      break;
    case 1:
      shape = {&models.two, 3, 2};
      break;
    default:
      shape = {&models.none, 4, 1};
      break;
  }
  std::optional<size_t> header_length;
  if (mode & 0x80) {
    // The JSON header's length as the client would send it: up to the first
    // byte after the JSON object, as a decimal string through the parser.
    size_t end = body.find('\0');
    auto parsed = tandem::serving::server::ParseHeaderLength(
        std::to_string(end == std::string_view::npos ? body.size() : end), body.size());
    if (!parsed.ok()) return 0;
    header_length = *parsed;
  }
  auto req = tandem::serving::server::DecodeInferRequest(body, header_length, shape, "m");
  if (!req.ok()) return 0;
  if (req->rows.size() != req->n_rows * req->n_cols) __builtin_trap();
  std::vector<float> scores(req->n_rows * static_cast<size_t>(shape.num_outputs), 0.5f);
  (void)tandem::serving::server::EncodeInferResponse(*req, shape, "m", "1", scores);
  return 0;
}
