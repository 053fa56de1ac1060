#include "serving/server/flat_infer_body.h"

#include <cmath>
#include <cstdint>

#include "common/json.h"

namespace tandem::serving::server {
namespace {

// nlohmann's SAX interface; every method returns false to give up.
class FlatSax {
 public:
  explicit FlatSax(FlatInferBody& out) : out_(out) {}

  bool null() { return Feature(NAN); }
  bool boolean(bool v) { return Feature(v ? 1.0f : 0.0f); }
  bool number_integer(Json::number_integer_t v) {
    if (in_features_) return Feature(static_cast<float>(static_cast<double>(v)));
    if (depth_ == 1 && key_ == Key::kVersion) return Version(std::to_string(v));
    return false;
  }
  bool number_unsigned(Json::number_unsigned_t v) {
    if (in_features_) return Feature(static_cast<float>(static_cast<double>(v)));
    if (depth_ == 1 && key_ == Key::kVersion) return Version(std::to_string(v));
    return false;
  }
  bool number_float(Json::number_float_t v, const std::string&) {
    return in_features_ && Feature(static_cast<float>(v));
  }
  bool string(std::string& v) {
    if (depth_ != 1) return false;
    if (key_ == Key::kModel && !seen_model_) {
      seen_model_ = true;
      out_.model = std::move(v);
      return true;
    }
    return key_ == Key::kVersion && Version(std::move(v));
  }
  bool binary(Json::binary_t&) { return false; }
  bool start_object(std::size_t) { return depth_++ == 0; }
  bool key(std::string& k) {
    if (depth_ != 1) return false;
    key_ = k == "model"      ? Key::kModel
           : k == "features" ? Key::kFeatures
           : k == "version"  ? Key::kVersion
                             : Key::kOther;
    return key_ != Key::kOther;
  }
  bool end_object() {
    --depth_;
    done_ = depth_ == 0;
    return true;
  }
  bool start_array(std::size_t) {
    if (depth_ != 1 || key_ != Key::kFeatures || seen_features_) return false;
    seen_features_ = in_features_ = true;
    ++depth_;
    return true;
  }
  bool end_array() {
    in_features_ = false;
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

  bool complete() const { return done_ && seen_model_ && seen_features_; }

 private:
  enum class Key { kNone, kModel, kFeatures, kVersion, kOther };

  bool Feature(float v) {
    if (!in_features_) return false;
    out_.features.push_back(v);
    return true;
  }
  bool Version(std::string v) {
    if (seen_version_) return false;
    seen_version_ = true;
    out_.version = std::move(v);
    return true;
  }

  FlatInferBody& out_;
  int depth_ = 0;
  Key key_ = Key::kNone;
  bool in_features_ = false;
  bool seen_model_ = false, seen_features_ = false, seen_version_ = false, done_ = false;
};

}  // namespace

std::optional<FlatInferBody> ParseFlatInferBody(std::string_view body) {
  FlatInferBody out;
  out.features.reserve(64);
  FlatSax sax(out);
  if (!Json::sax_parse(body.begin(), body.end(), &sax) || !sax.complete()) return std::nullopt;
  return out;
}

}  // namespace tandem::serving::server
