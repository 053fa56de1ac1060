// Example tandem native plugin: a linear model y = link(bias + w . x), the
// weights read from `weights.txt` in the model directory (whitespace
// separated: bias, then one weight per feature). A missing feature (NaN)
// contributes nothing. Config (the manifest's `config`):
//   {"link": "identity" | "logistic"}   (default identity)
// Self-test: every weight is finite and a zero row scores link(bias).
// Nothing here depends on tandem beyond include/tandem/plugin.h.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tandem/plugin.h"

namespace {

struct LinearModel {
  float bias = 0;
  std::vector<float> weights;
  bool logistic = false;

  float Link(float z) const { return logistic ? 1.0f / (1.0f + std::exp(-z)) : z; }
};

void SetError(char* errbuf, size_t len, const std::string& msg) {
  if (errbuf != nullptr && len > 0) std::snprintf(errbuf, len, "%s", msg.c_str());
}

}  // namespace

extern "C" {

TANDEM_PLUGIN_EXPORT uint32_t tandem_plugin_abi_version(void) { return TANDEM_PLUGIN_ABI_VERSION; }

TANDEM_PLUGIN_EXPORT int tandem_plugin_init(const char* model_dir, const char* config_json,
                                            void** handle, tandem_plugin_info* info, char* errbuf,
                                            size_t errbuf_len) {
  try {
    auto model = std::make_unique<LinearModel>();
    auto config = nlohmann::json::parse(config_json ? config_json : "{}");
    if (config.contains("link")) {
      const std::string link = config["link"].get<std::string>();
      if (link != "identity" && link != "logistic") {
        SetError(errbuf, errbuf_len, "config.link must be identity or logistic, got " + link);
        return 1;
      }
      model->logistic = link == "logistic";
    }
    const std::string path = std::string(model_dir) + "/weights.txt";
    std::ifstream in(path);
    if (!in) {
      SetError(errbuf, errbuf_len, "cannot read " + path);
      return 1;
    }
    std::vector<float> values;
    for (std::string tok; in >> tok;) {
      size_t used = 0;
      values.push_back(std::stof(tok, &used));
      if (used != tok.size()) {
        SetError(errbuf, errbuf_len, path + ": '" + tok + "' is not a number");
        return 1;
      }
    }
    if (values.size() < 2) {
      SetError(errbuf, errbuf_len, path + " needs a bias and at least one weight");
      return 1;
    }
    model->bias = values[0];
    model->weights.assign(values.begin() + 1, values.end());
    info->num_features = static_cast<int32_t>(model->weights.size());
    info->num_outputs = 1;
    *handle = model.release();
    return 0;
  } catch (const std::exception& e) {  // nothing may cross the C boundary
    SetError(errbuf, errbuf_len, std::string("linear plugin init: ") + e.what());
    return 1;
  }
}

TANDEM_PLUGIN_EXPORT int tandem_plugin_predict(void* handle, const float* rows, size_t n_rows,
                                               size_t n_cols, float* out, size_t n_out_per_row,
                                               char* errbuf, size_t errbuf_len) {
  const auto* model = static_cast<const LinearModel*>(handle);
  if (n_cols != model->weights.size() || n_out_per_row != 1) {
    SetError(errbuf, errbuf_len, "linear plugin: bad shape");
    return 1;
  }
  for (size_t r = 0; r < n_rows; ++r) {
    const float* x = rows + r * n_cols;
    float z = model->bias;
    for (size_t c = 0; c < n_cols; ++c) {
      if (!std::isnan(x[c])) z += model->weights[c] * x[c];
    }
    if (!std::isfinite(z)) {
      SetError(errbuf, errbuf_len,
               "linear plugin: row " + std::to_string(r) +
                   " has a non-finite score (an infinite feature?)");
      return 1;
    }
    out[r] = model->Link(z);
  }
  return 0;
}

TANDEM_PLUGIN_EXPORT int tandem_plugin_self_test(void* handle, char* errbuf, size_t errbuf_len) {
  const auto* model = static_cast<const LinearModel*>(handle);
  if (!std::isfinite(model->bias)) {
    SetError(errbuf, errbuf_len, "bias is not finite");
    return 1;
  }
  for (size_t i = 0; i < model->weights.size(); ++i) {
    if (!std::isfinite(model->weights[i])) {
      SetError(errbuf, errbuf_len, "weight " + std::to_string(i) + " is not finite");
      return 1;
    }
  }
  std::vector<float> zeros(model->weights.size(), 0.0f);
  float got = 0;
  if (tandem_plugin_predict(handle, zeros.data(), 1, zeros.size(), &got, 1, errbuf, errbuf_len)) {
    return 1;
  }
  if (got != model->Link(model->bias)) {
    SetError(errbuf, errbuf_len, "a zero row does not score link(bias)");
    return 1;
  }
  return 0;
}

TANDEM_PLUGIN_EXPORT void tandem_plugin_destroy(void* handle) {
  delete static_cast<LinearModel*>(handle);  // the C ABI's ownership transfer
}

}  // extern "C"
