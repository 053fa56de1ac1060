#include "common/json.h"

namespace tandem {

StatusOr<Json> ParseJson(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Re-parse with exceptions only on the error path to get the position.
    try {
      Json unused = Json::parse(text.begin(), text.end());
      (void)unused;
    } catch (const Json::parse_error& e) {
      return InvalidArgumentError(std::string("malformed JSON: ") + e.what());
    }
    return InvalidArgumentError("malformed JSON");
  }
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
