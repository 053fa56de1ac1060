#include "common/json.h"

#include <optional>

namespace tandem {
namespace {

// nlohmann's DOM builder behind a depth check: the SAX parse stops at the
// first array/object opened beyond kMaxJsonDepth.
class DepthLimitedSax {
 public:
  explicit DepthLimitedSax(Json& out) : dom_(out, /*allow_exceptions_=*/false) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(Json::number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& s) {
    return dom_.number_float(v, s);
  }
  bool string(Json::string_t& v) { return dom_.string(v); }
  bool binary(Json::binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return Enter() && dom_.start_object(n); }
  bool key(Json::string_t& k) { return dom_.key(k); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) { return Enter() && dom_.start_array(n); }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = std::string("malformed JSON: ") + e.what();
    return false;
  }

  const std::optional<std::string>& error() const { return error_; }

 private:
  bool Enter() {
    if (++depth_ <= kMaxJsonDepth) return true;
    error_ = "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  int depth_ = 0;
  std::optional<std::string> error_;
};

}  // namespace

StatusOr<Json> ParseJson(std::string_view text) {
  Json j;
  DepthLimitedSax sax(j);
  bool ok = Json::sax_parse(text.begin(), text.end(), &sax);
  if (!ok || sax.error()) return InvalidArgumentError(sax.error().value_or("malformed JSON"));
  return j;
}

StatusOr<std::string> GetString(const Json& obj, std::string_view field) {
  if (!obj.is_object()) return InvalidArgumentError("expected a JSON object");
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) {
    return InvalidArgumentError("missing field '" + std::string(field) + "'");
  }
  if (!it->is_string()) {
    return InvalidArgumentError("field '" + std::string(field) + "' must be a string");
  }
  return it->get<std::string>();
}

StatusOr<std::string> GetStringOr(const Json& obj, std::string_view field,
                                  std::string_view fallback) {
  if (!obj.is_object()) return InvalidArgumentError("expected a JSON object");
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::string(fallback);
  if (!it->is_string()) {
    return InvalidArgumentError("field '" + std::string(field) + "' must be a string");
  }
  return it->get<std::string>();
}

StatusOr<int64_t> GetIntOr(const Json& obj, std::string_view field, int64_t fallback) {
  if (!obj.is_object()) return InvalidArgumentError("expected a JSON object");
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    return InvalidArgumentError("field '" + std::string(field) + "' must be an integer");
  }
  return it->get<int64_t>();
}

}  // namespace tandem
