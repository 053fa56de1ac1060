#include "serving/server/tensor_codec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace tandem::serving::server {

namespace {

using runtime::TensorSpec;

// One signature tensor mapped onto a column range of the feature matrix (or
// of the score matrix, for outputs).
struct Slot {
  const TensorSpec* spec;
  int64_t width;  // columns
  size_t offset;  // first column
  bool rank1;     // declared as [-1]
};

int64_t SpecWidth(const TensorSpec& t, int64_t fallback) {
  if (t.shape.size() < 2) return 1;
  return t.shape.back() > 0 ? t.shape.back() : fallback;
}

std::vector<Slot> Slots(const std::vector<TensorSpec>& specs, int64_t total) {
  std::vector<Slot> slots;
  size_t offset = 0;
  for (const TensorSpec& t : specs) {
    int64_t w = SpecWidth(t, specs.size() == 1 ? total : 1);
    slots.push_back({&t, w, offset, t.shape.size() < 2});
    offset += static_cast<size_t>(w);
  }
  return slots;
}

std::string Expected(const Slot& s) { return s.spec->datatype + " " + ShapeString(s.spec->shape); }

std::string SlotList(const std::vector<Slot>& slots) {
  std::string out;
  for (const Slot& s : slots) {
    if (!out.empty()) out += ", ";
    out += "'" + s.spec->name + "' (" + Expected(s) + ")";
  }
  return out;
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    v = mant ? NAN : INFINITY;
  } else {
    v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  }
  return sign ? -v : v;
}

template <typename T>
T LoadLE(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // x86-64 and aarch64 Linux are little-endian
  return v;
}

// Decodes `count` little-endian elements of `datatype` into `out`.
void DecodeBinary(std::string_view dt, const char* p, size_t count, float* out) {
  for (size_t i = 0; i < count; ++i) {
    if (dt == "FP32") {
      out[i] = LoadLE<float>(p + 4 * i);
    } else if (dt == "FP64") {
      out[i] = static_cast<float>(LoadLE<double>(p + 8 * i));
    } else if (dt == "FP16") {
      out[i] = HalfToFloat(LoadLE<uint16_t>(p + 2 * i));
    } else if (dt == "BOOL") {
      out[i] = p[i] != 0 ? 1.0f : 0.0f;
    } else if (dt == "INT8") {
      out[i] = static_cast<float>(LoadLE<int8_t>(p + i));
    } else if (dt == "INT16") {
      out[i] = static_cast<float>(LoadLE<int16_t>(p + 2 * i));
    } else if (dt == "INT32") {
      out[i] = static_cast<float>(LoadLE<int32_t>(p + 4 * i));
    } else if (dt == "INT64") {
      out[i] = static_cast<float>(LoadLE<int64_t>(p + 8 * i));
    } else if (dt == "UINT8") {
      out[i] = static_cast<float>(LoadLE<uint8_t>(p + i));
    } else if (dt == "UINT16") {
      out[i] = static_cast<float>(LoadLE<uint16_t>(p + 2 * i));
    } else if (dt == "UINT32") {
      out[i] = static_cast<float>(LoadLE<uint32_t>(p + 4 * i));
    } else {  // UINT64
      out[i] = static_cast<float>(LoadLE<uint64_t>(p + 8 * i));
    }
  }
}

struct IntRange {
  double lo, hi;
};
IntRange RangeOf(std::string_view dt) {
  if (dt == "INT8") return {-128, 127};
  if (dt == "INT16") return {-32768, 32767};
  if (dt == "INT32") return {-2147483648.0, 2147483647.0};
  if (dt == "INT64") return {-9223372036854775808.0, 9223372036854775807.0};
  if (dt == "UINT8") return {0, 255};
  if (dt == "UINT16") return {0, 65535};
  if (dt == "UINT32") return {0, 4294967295.0};
  return {0, 18446744073709551615.0};  // UINT64
}

// Flattens JSON `data` (flat or nested) of datatype `dt` into `out`.
Status FlattenJson(const Json& v, std::string_view dt, const std::string& input, int depth,
                   size_t limit, std::vector<float>& out) {
  if (v.is_array()) {
    if (depth > 8) return InvalidArgumentError("input '" + input + "': data nested too deeply");
    for (const Json& e : v) {
      RETURN_IF_ERROR(FlattenJson(e, dt, input, depth + 1, limit, out));
    }
    return OkStatus();
  }
  if (out.size() >= limit) {
    return InvalidArgumentError("input '" + input + "': data has more elements than its shape (" +
                                std::to_string(limit) + ")");
  }
  auto bad = [&](const char* want) {
    return InvalidArgumentError("input '" + input + "' (" + std::string(dt) + "): element " +
                                std::to_string(out.size()) + " is " + v.type_name() +
                                ", expected " + want);
  };
  if (dt == "BOOL") {
    if (!v.is_boolean()) return bad("true or false");
    out.push_back(v.get<bool>() ? 1.0f : 0.0f);
  } else if (dt == "FP32" || dt == "FP64" || dt == "FP16") {
    if (v.is_null()) {
      out.push_back(NAN);  // ours: null = missing value
    } else if (v.is_number()) {
      out.push_back(static_cast<float>(v.get<double>()));
    } else {
      return bad("a number (or null for missing)");
    }
  } else {  // integer types
    if (!v.is_number_integer()) return bad("an integer");
    double d = v.is_number_unsigned() ? static_cast<double>(v.get<uint64_t>())
                                      : static_cast<double>(v.get<int64_t>());
    IntRange r = RangeOf(dt);
    if (d < r.lo || d > r.hi) {
      return InvalidArgumentError("input '" + input + "': element " + std::to_string(out.size()) +
                                  " is out of range for " + std::string(dt));
    }
    out.push_back(static_cast<float>(d));
  }
  return OkStatus();
}

struct Parsed {
  size_t n_rows = 0;
  std::vector<float> data;
};

// Validates one request input against its slot and decodes its data.
StatusOr<Parsed> DecodeInput(const Json& in, const Slot& slot, int num_features,
                             std::string_view model_name, std::string_view& binary,
                             size_t json_size) {
  const std::string& name = slot.spec->name;
  // Checked before reading: Json::value() throws when the field is not a string.
  const bool has_dt = in.contains("datatype") && in["datatype"].is_string();
  const std::string dt = has_dt ? in["datatype"].get<std::string>() : "";
  if (!has_dt || !IsKnownDatatype(dt)) {
    return InvalidArgumentError("input '" + name +
                                "': datatype must be one of BOOL, UINT8..64, "
                                "INT8..64, FP16, FP32, FP64, BYTES");
  }
  if (dt == "BYTES") {
    return InvalidArgumentError("input '" + name + "' has datatype BYTES but model '" +
                                std::string(model_name) + "' takes numeric tensors (" +
                                Expected(slot) + ")");
  }
  if (!in.contains("shape") || !in["shape"].is_array()) {
    return InvalidArgumentError("input '" + name + "': shape must be an array of dims; expected " +
                                ShapeString(slot.spec->shape));
  }
  std::vector<int64_t> shape;
  uint64_t count = 1;
  for (const Json& d : in["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return InvalidArgumentError("input '" + name + "': shape dims must be integers >= 0, got " +
                                  in["shape"].dump());
    }
    shape.push_back(d.get<int64_t>());
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(shape.back()), &count) ||
        count > kMaxRequestElements) {
      return InvalidArgumentError("input '" + name + "': shape " + in["shape"].dump() +
                                  " has too many elements (limit " +
                                  std::to_string(kMaxRequestElements) + ")");
    }
  }
  // Rows and width from the shape.
  int64_t want = slot.width;
  size_t n_rows = 0;
  bool ok = false;
  if (shape.size() == 2) {
    n_rows = static_cast<size_t>(shape[0]);
    ok = shape[1] == want;
  } else if (shape.size() == 1) {
    if (want == 1) {
      n_rows = static_cast<size_t>(shape[0]);
      ok = true;
    } else if (shape[0] == want) {
      n_rows = 1;
      ok = true;
    }
  }
  if (!ok || want > num_features) {
    return InvalidArgumentError("input '" + name + "' has shape " + ShapeString(shape) +
                                " but model '" + std::string(model_name) + "' expects " +
                                ShapeString(slot.spec->shape) + " (rows x " + std::to_string(want) +
                                ")");
  }
  Parsed p;
  p.n_rows = n_rows;
  const Json* params = in.contains("parameters") ? &in["parameters"] : nullptr;
  if (params != nullptr && !params->is_object()) {
    return InvalidArgumentError("input '" + name + "': parameters must be an object");
  }
  if (params != nullptr && params->contains("binary_data_size")) {
    const Json& bs = (*params)["binary_data_size"];
    if (!bs.is_number_integer() || bs.get<int64_t>() < 0) {
      return InvalidArgumentError("input '" + name + "': binary_data_size must be an integer >= 0");
    }
    uint64_t size = bs.get<uint64_t>();
    uint64_t need = count * DatatypeSize(dt);
    if (size != need) {
      return InvalidArgumentError("input '" + name + "': binary_data_size is " +
                                  std::to_string(size) + " but shape " + ShapeString(shape) +
                                  " of " + dt + " needs " + std::to_string(need) + " bytes");
    }
    if (size > binary.size()) {
      return InvalidArgumentError("input '" + name + "': binary_data_size " + std::to_string(size) +
                                  " exceeds the " + std::to_string(binary.size()) +
                                  " binary bytes left in the body");
    }
    p.data.resize(count);
    DecodeBinary(dt, binary.data(), count, p.data.data());
    binary.remove_prefix(size);
    return p;
  }
  if (!in.contains("data")) {
    return InvalidArgumentError("input '" + name + "' has no data (and no binary_data_size)");
  }
  if (count > json_size) {
    return InvalidArgumentError("input '" + name + "': shape " + ShapeString(shape) + " declares " +
                                std::to_string(count) + " elements, more than the body holds");
  }
  p.data.reserve(count);
  RETURN_IF_ERROR(FlattenJson(in["data"], dt, name, 0, count, p.data));
  if (p.data.size() != count) {
    return InvalidArgumentError("input '" + name + "': data has " + std::to_string(p.data.size()) +
                                " elements but shape " + ShapeString(shape) + " needs " +
                                std::to_string(count));
  }
  return p;
}

StatusOr<std::vector<RequestedOutput>> DecodeOutputs(const Json& req,
                                                     const std::vector<Slot>& slots) {
  bool binary_default = false;
  if (req.contains("parameters")) {
    const Json& p = req["parameters"];
    if (!p.is_object()) return InvalidArgumentError("parameters must be an object");
    if (p.contains("binary_data_output")) {
      if (!p["binary_data_output"].is_boolean()) {
        return InvalidArgumentError("parameters.binary_data_output must be a boolean");
      }
      binary_default = p["binary_data_output"].get<bool>();
    }
  }
  std::vector<RequestedOutput> out;
  if (!req.contains("outputs")) {
    for (const Slot& s : slots) out.push_back({s.spec->name, binary_default});
    return out;
  }
  if (!req["outputs"].is_array()) return InvalidArgumentError("outputs must be an array");
  for (const Json& o : req["outputs"]) {
    if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) {
      return InvalidArgumentError("each requested output needs a string name");
    }
    std::string name = o["name"].get<std::string>();
    bool known = false;
    for (const Slot& s : slots) known = known || s.spec->name == name;
    if (!known) {
      return InvalidArgumentError("unknown output '" + name + "'; the model has " +
                                  SlotList(slots));
    }
    bool binary = binary_default;
    if (o.contains("parameters")) {
      const Json& p = o["parameters"];
      if (!p.is_object()) return InvalidArgumentError("output '" + name + "': bad parameters");
      if (p.contains("binary_data")) {
        if (!p["binary_data"].is_boolean()) {
          return InvalidArgumentError("output '" + name + "': binary_data must be a boolean");
        }
        binary = p["binary_data"].get<bool>();
      }
    }
    out.push_back({name, binary});
  }
  return out;
}

std::vector<Slot> OutputSlots(const ModelShape& model) {
  std::vector<Slot> slots = Slots(model.signature->outputs, model.num_outputs);
  int64_t total = 0;
  for (const Slot& s : slots) total += s.width;
  if (slots.empty() || total != model.num_outputs) {
    // Declared widths do not cover the scores: one output with all of them.
    static const TensorSpec kDefault{"output", "FP32", {-1, -1}};
    const TensorSpec* spec = slots.empty() ? &kDefault : slots.front().spec;
    slots = {{spec, model.num_outputs, 0, false}};
  }
  return slots;
}

}  // namespace

size_t DatatypeSize(std::string_view dt) {
  if (dt == "BOOL" || dt == "INT8" || dt == "UINT8") return 1;
  if (dt == "INT16" || dt == "UINT16" || dt == "FP16") return 2;
  if (dt == "INT32" || dt == "UINT32" || dt == "FP32") return 4;
  if (dt == "INT64" || dt == "UINT64" || dt == "FP64") return 8;
  return 0;
}

bool IsKnownDatatype(std::string_view dt) { return DatatypeSize(dt) > 0 || dt == "BYTES"; }

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

StatusOr<std::optional<size_t>> ParseHeaderLength(std::string_view value, size_t body_size) {
  if (value.empty()) return std::optional<size_t>();
  size_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size()) {
    return InvalidArgumentError("Inference-Header-Content-Length must be a byte count, got '" +
                                std::string(value) + "'");
  }
  if (n > body_size) {
    return InvalidArgumentError("Inference-Header-Content-Length " + std::to_string(n) +
                                " exceeds the body size " + std::to_string(body_size));
  }
  return std::optional<size_t>(n);
}

StatusOr<DecodedRequest> DecodeInferRequest(std::string_view body,
                                            std::optional<size_t> header_length,
                                            const ModelShape& model, std::string_view model_name) {
  std::string_view json_text = body;
  std::string_view binary;
  if (header_length) {
    json_text = body.substr(0, *header_length);
    binary = body.substr(*header_length);
  }
  auto parsed = ParseJson(json_text);
  if (!parsed.ok()) {
    return InvalidArgumentError("malformed JSON request: " +
                                std::string(parsed.status().message()));
  }
  const Json& req = *parsed;
  if (!req.is_object()) return InvalidArgumentError("the request must be a JSON object");
  DecodedRequest out;
  if (req.contains("id")) {
    if (!req["id"].is_string()) return InvalidArgumentError("id must be a string");
    out.id = req["id"].get<std::string>();
  }
  std::vector<TensorSpec> default_inputs;
  const std::vector<TensorSpec>* specs = &model.signature->inputs;
  if (specs->empty()) {
    default_inputs.push_back({"input", "FP32", {-1, model.num_features}});
    specs = &default_inputs;
  }
  std::vector<Slot> slots = Slots(*specs, model.num_features);
  if (!req.contains("inputs") || !req["inputs"].is_array() || req["inputs"].empty()) {
    return InvalidArgumentError("inputs must be a non-empty array; model '" +
                                std::string(model_name) + "' takes " + SlotList(slots));
  }
  std::vector<std::optional<Parsed>> got(slots.size());
  for (const Json& in : req["inputs"]) {
    if (!in.is_object() || !in.contains("name") || !in["name"].is_string()) {
      return InvalidArgumentError("each input needs a string name");
    }
    std::string name = in["name"].get<std::string>();
    size_t i = 0;
    while (i < slots.size() && slots[i].spec->name != name) ++i;
    if (i == slots.size()) {
      return InvalidArgumentError("unknown input '" + name + "'; model '" +
                                  std::string(model_name) + "' takes " + SlotList(slots));
    }
    if (got[i]) return InvalidArgumentError("input '" + name + "' is given twice");
    ASSIGN_OR_RETURN(got[i], DecodeInput(in, slots[i], model.num_features, model_name, binary,
                                         json_text.size()));
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!got[i]) {
      return InvalidArgumentError("missing input '" + slots[i].spec->name + "' (" +
                                  Expected(slots[i]) + ")");
    }
    if (got[i]->n_rows != got[0]->n_rows) {
      return InvalidArgumentError("input '" + slots[i].spec->name + "' has " +
                                  std::to_string(got[i]->n_rows) + " rows but input '" +
                                  slots[0].spec->name + "' has " + std::to_string(got[0]->n_rows));
    }
  }
  if (!binary.empty()) {
    return InvalidArgumentError(std::to_string(binary.size()) +
                                " bytes of binary data follow the header but no input claims them");
  }
  out.n_rows = got[0]->n_rows;
  out.n_cols = slots.back().offset + static_cast<size_t>(slots.back().width);
  if (out.n_cols > static_cast<size_t>(model.num_features)) {
    return InvalidArgumentError("inputs have " + std::to_string(out.n_cols) +
                                " columns but the model takes " +
                                std::to_string(model.num_features));
  }
  if (slots.size() == 1) {
    out.rows = std::move(got[0]->data);
  } else {
    out.rows.assign(out.n_rows * out.n_cols, NAN);
    for (size_t i = 0; i < slots.size(); ++i) {
      size_t w = static_cast<size_t>(slots[i].width);
      for (size_t r = 0; r < out.n_rows; ++r) {
        std::memcpy(&out.rows[r * out.n_cols + slots[i].offset], &got[i]->data[r * w],
                    w * sizeof(float));
      }
    }
  }
  ASSIGN_OR_RETURN(out.outputs, DecodeOutputs(req, OutputSlots(model)));
  return out;
}

void AppendJsonFloat(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

EncodedResponse EncodeInferResponse(const DecodedRequest& request, const ModelShape& model,
                                    std::string_view model_name, std::string_view version,
                                    const std::vector<float>& scores) {
  std::vector<Slot> slots = OutputSlots(model);
  const size_t n = request.n_rows;
  const size_t total = static_cast<size_t>(model.num_outputs);
  EncodedResponse r;
  std::string binary;
  std::string& out = r.body;
  out.reserve(128 + n * total * 12);
  out += "{\"model_name\":";
  AppendJsonString(out, model_name);
  out += ",\"model_version\":";
  AppendJsonString(out, version);
  if (request.id) {
    out += ",\"id\":";
    AppendJsonString(out, *request.id);
  }
  out += ",\"outputs\":[";
  bool first = true;
  for (const RequestedOutput& want : request.outputs) {
    const Slot* slot = nullptr;
    for (const Slot& s : slots) {
      if (s.spec->name == want.name) slot = &s;
    }
    if (slot == nullptr) continue;
    const size_t w = static_cast<size_t>(slot->width);
    if (!first) out += ',';
    first = false;
    out += "{\"name\":";
    AppendJsonString(out, slot->spec->name);
    out += ",\"datatype\":\"FP32\",\"shape\":[" + std::to_string(n);
    if (!(slot->rank1 && w == 1)) out += "," + std::to_string(w);
    out += "]";
    if (want.binary) {
      size_t start = binary.size();
      binary.resize(start + n * w * sizeof(float));
      for (size_t row = 0; row < n; ++row) {
        std::memcpy(&binary[start + row * w * sizeof(float)], &scores[row * total + slot->offset],
                    w * sizeof(float));
      }
      out +=
          ",\"parameters\":{\"binary_data_size\":" + std::to_string(n * w * sizeof(float)) + "}}";
      continue;
    }
    out += ",\"data\":[";
    for (size_t row = 0; row < n; ++row) {
      for (size_t c = 0; c < w; ++c) {
        if (row + c > 0) out += ',';
        AppendJsonFloat(out, scores[row * total + slot->offset + c]);
      }
    }
    out += "]}";
  }
  out += "]}";
  if (!binary.empty() || std::any_of(request.outputs.begin(), request.outputs.end(),
                                     [](const RequestedOutput& o) { return o.binary; })) {
    r.header_length = out.size();
    out += binary;
  }
  return r;
}

}  // namespace tandem::serving::server
