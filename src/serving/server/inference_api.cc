#include "serving/server/inference_api.h"

#include <cmath>
#include <memory>
#include <optional>
#include <unordered_map>

#include "common/json.h"
#include "common/version.h"
#include "serving/server/flat_infer_body.h"
#include "serving/server/tensor_codec.h"
#include "serving/traffic/router.h"

namespace tandem::serving::server {

namespace {

engine::FailureReason ReasonFor(StatusCode code) {
  switch (code) {
    case StatusCode::kNotFound:
      return engine::FailureReason::kNotFound;
    case StatusCode::kUnavailable:
      return engine::FailureReason::kUnavailable;
    case StatusCode::kResourceExhausted:
      return engine::FailureReason::kQueueFull;
    case StatusCode::kInternal:
    case StatusCode::kUnknown:
    case StatusCode::kDataLoss:
    case StatusCode::kUnimplemented:
    case StatusCode::kDeadlineExceeded:
      return engine::FailureReason::kInternal;
    default:
      return engine::FailureReason::kBadRequest;
  }
}

void JsonReply(http::Response& res, int status, const Json& body) {
  res.Json(status, body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Json TensorsJson(const std::vector<runtime::TensorSpec>& specs) {
  Json out = Json::array();
  for (const auto& t : specs) {
    out.push_back({{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}});
  }
  return out;
}

ModelShape ShapeOf(const engine::ServedVersion& v) {
  const runtime::Predictor& p = v.predictor();
  return {&p.signature(), p.num_features(), std::max(1, p.num_outputs())};
}

// Parses one row of /infer features (a list of values or {name: value}).
Status AppendRow(const Json& row, const runtime::Predictor& p, const std::string& model,
                 std::vector<float>& out) {
  const size_t width = static_cast<size_t>(p.num_features());
  size_t base = out.size();
  out.resize(base + width, NAN);
  auto value = [&](const Json& v, const std::string& what) -> StatusOr<float> {
    if (v.is_null()) return NAN;
    if (v.is_boolean()) return v.get<bool>() ? 1.0f : 0.0f;
    if (!v.is_number()) {
      return InvalidArgumentError("feature " + what + " is " + v.type_name() +
                                  ", expected a number or null");
    }
    return static_cast<float>(v.get<double>());
  };
  if (row.is_array()) {
    if (row.size() != width) {
      return InvalidArgumentError("model '" + model + "' takes " + std::to_string(width) +
                                  " features per row, got " + std::to_string(row.size()));
    }
    for (size_t i = 0; i < width; ++i) {
      ASSIGN_OR_RETURN(out[base + i], value(row[i], std::to_string(i)));
    }
    return OkStatus();
  }
  if (!row.is_object()) {
    return InvalidArgumentError("features must be {name: value}, [values] or [[values], ...]");
  }
  const auto& names = p.feature_names();
  if (names.empty()) {
    return InvalidArgumentError("model '" + model +
                                "' declares no feature_names (add them to tandem-model.yaml or "
                                "the model file), so features must be sent as a list of " +
                                std::to_string(width) + " values");
  }
  for (const auto& [key, v] : row.items()) {
    size_t i = 0;
    while (i < names.size() && names[i] != key) ++i;
    if (i == names.size() || i >= width) {
      return InvalidArgumentError("unknown feature '" + key + "' for model '" + model + "'");
    }
    ASSIGN_OR_RETURN(out[base + i], value(v, "'" + key + "'"));
  }
  return OkStatus();
}

}  // namespace

int ServingHttpStatus(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kInternal:
    case StatusCode::kUnknown:
    case StatusCode::kDataLoss:
      return 500;
    case StatusCode::kDeadlineExceeded:  // e.g. a Python handler past its timeout
      return 504;
    default:
      return 400;
  }
}

InferenceApi::InferenceApi(engine::ModelManager& manager, engine::ServingMetrics& metrics,
                           Clock& clock, InferenceApiOptions options)
    : manager_(manager), metrics_(metrics), clock_(clock), options_(std::move(options)) {}

void InferenceApi::SetAccepting(bool accepting) {
  accepting_.store(accepting);
  metrics_.ready.store(ready() ? 1 : 0);
}

bool InferenceApi::ready() const { return accepting_.load() && manager_.AnyReady(); }

void InferenceApi::RegisterRoutes(http::Server& server) {
  // Every route needs a token when the deployment has any, but those `open` binds.
  auto open = [this](void (InferenceApi::*fn)(http::Request&, http::Response&)) {
    return [this, fn](http::Request& req, http::Response& res) { (this->*fn)(req, res); };
  };
  auto bind = [this](void (InferenceApi::*fn)(http::Request&, http::Response&)) {
    return [this, fn](http::Request& req, http::Response& res) {
      if (options_.auth.enabled() && !Authorized(req)) {
        res.Json(401, Json{{"error",
                            "this deployment needs a token: Authorization: Bearer "
                            "<token>"}}
                          .dump());
        res.headers["www-authenticate"] = kServingAuthChallenge;
        return;
      }
      (this->*fn)(req, res);
    };
  };
  auto route_options = [](int64_t max_body_bytes, bool run_inline) {
    http::RouteOptions o;
    o.max_body_bytes = max_body_bytes;
    o.run_inline = run_inline;
    return o;
  };
  const http::RouteOptions fast = route_options(-1, true);
  http::RouteOptions infer = route_options(options_.max_body_bytes, options_.inline_infer);
  if (options_.inline_unless_batching) {
    infer.run_inline_if = [this] { return !manager_.AnyBatching(); };
  }
  server.Route("GET", "/v2/health/live", open(&InferenceApi::Live), fast);
  server.Route("GET", "/v2/health/ready", open(&InferenceApi::Ready), fast);
  server.Route("GET", "/v2", bind(&InferenceApi::ServerMetadata), fast);
  server.Route("GET", "/v2/models/{model}", bind(&InferenceApi::ModelMetadata), fast);
  server.Route("GET", "/v2/models/{model}/versions/{version}", bind(&InferenceApi::ModelMetadata),
               fast);
  server.Route("GET", "/v2/models/{model}/ready", open(&InferenceApi::ModelReady), fast);
  server.Route("GET", "/v2/models/{model}/versions/{version}/ready",
               open(&InferenceApi::ModelReady), fast);
  server.Route("POST", "/v2/models/{model}/infer", bind(&InferenceApi::Infer), infer);
  server.Route("POST", "/v2/models/{model}/versions/{version}/infer", bind(&InferenceApi::Infer),
               infer);
  server.Route("POST", "/infer", bind(&InferenceApi::SimpleInfer), infer);
  server.Route("POST", "/v2/repository/index", bind(&InferenceApi::RepositoryIndex));
  server.Route("POST", "/v2/repository/models/{model}/load", bind(&InferenceApi::RepositoryLoad));
  server.Route("POST", "/v2/repository/models/{model}/unload",
               bind(&InferenceApi::RepositoryUnload));
  server.Route("GET", "/metrics", open(&InferenceApi::Metrics));
  if (options_.traffic != nullptr) {
    server.Route("GET", "/v2/models/{model}/traffic", bind(&InferenceApi::Traffic), fast);
    server.Route("POST", "/v2/models/{model}/traffic", bind(&InferenceApi::SetTraffic));
  }
  // Unknown /v2 paths answer in the protocol's error format.
  server.Route("GET", "/v2/{rest...}", bind(&InferenceApi::NoRoute), fast);
  server.Route("POST", "/v2/{rest...}", bind(&InferenceApi::NoRoute), route_options(0, true));
}

bool InferenceApi::Authorized(http::Request& req) const {
  auto* accepted = dynamic_cast<AcceptedToken*>(req.connection_state.get());
  if (accepted == nullptr) {
    auto fresh = std::make_unique<AcceptedToken>();
    accepted = fresh.get();
    req.connection_state = std::move(fresh);
  }
  auto it = req.headers.find("authorization");
  return options_.auth.Allows(it == req.headers.end() ? std::string_view() : it->second,
                              *accepted);
}

void InferenceApi::Fail(http::Response& res, const Status& s, engine::ModelMetrics* m) {
  engine::FailureReason reason = ReasonFor(s.code());
  if (m != nullptr) {
    m->failures[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
  } else {
    metrics_.CountUnroutedFailure(reason);
  }
  JsonReply(res, ServingHttpStatus(s.code()), Json{{"error", std::string(s.message())}});
}

void InferenceApi::Live(http::Request&, http::Response& res) {
  JsonReply(res, 200, {{"live", true}});
}

void InferenceApi::Ready(http::Request&, http::Response& res) {
  bool r = ready();
  metrics_.ready.store(r ? 1 : 0);
  JsonReply(res, r ? 200 : 503, {{"ready", r}});
}

void InferenceApi::ServerMetadata(http::Request&, http::Response& res) {
  JsonReply(res, 200,
            {{"name", options_.server_name},
             {"version", std::string(Version())},
             {"extensions", {"binary_tensor_data", "model_repository"}}});
}

void InferenceApi::ModelMetadata(http::Request& req, http::Response& res) {
  auto v = manager_.Get(req.path_params["model"], req.path_params["version"]);
  if (!v.ok()) return Fail(res, v.status(), nullptr);
  const runtime::Predictor& p = (*v)->predictor();
  Json out = {{"name", (*v)->name()},
              {"versions", {(*v)->version_string()}},
              {"platform", p.flavor()},
              {"inputs", TensorsJson(p.signature().inputs)},
              {"outputs", TensorsJson(p.signature().outputs)}};
  if (!p.feature_names().empty()) out["parameters"] = {{"feature_names", p.feature_names()}};
  JsonReply(res, 200, out);
}

void InferenceApi::ModelReady(http::Request& req, http::Response& res) {
  const std::string& name = req.path_params["model"];
  auto v = manager_.Get(name, req.path_params["version"]);
  if (v.ok()) return JsonReply(res, 200, {{"name", name}, {"ready", true}});
  if (v.status().code() == StatusCode::kNotFound) return Fail(res, v.status(), nullptr);
  JsonReply(res, 503,
            {{"name", name}, {"ready", false}, {"error", std::string(v.status().message())}});
}

namespace {

// Counts a request in the in-flight gauge for as long as it is handled.
class InFlight {
 public:
  explicit InFlight(engine::ServingMetrics& m) : m_(m) {
    m_.in_flight.fetch_add(1, std::memory_order_relaxed);
  }
  ~InFlight() { m_.in_flight.fetch_sub(1, std::memory_order_relaxed); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  engine::ServingMetrics& m_;
};

}  // namespace

void InferenceApi::Infer(http::Request& req, http::Response& res) {
  int64_t start = clock_.MonotonicMicros();
  auto v = manager_.Get(req.path_params["model"], req.path_params["version"]);
  if (!v.ok()) return Fail(res, v.status(), nullptr);
  engine::ModelMetrics* m = (*v)->metrics();
  traffic::TrafficRoute route = options_.traffic != nullptr
                                    ? options_.traffic->Route(*v, req.path_params["version"])
                                    : traffic::TrafficRoute{*v};
  const engine::ServedVersion& sv = *route.version;
  InFlight in_flight(metrics_);
  ModelShape shape = ShapeOf(sv);
  auto header = ParseHeaderLength(req.Header("inference-header-content-length"), req.body.size());
  if (!header.ok()) return Fail(res, header.status(), m);
  auto decoded = DecodeInferRequest(req.body, *header, shape, sv.name());
  if (!decoded.ok()) return Fail(res, decoded.status(), m);
  std::vector<float> scores(decoded->n_rows * static_cast<size_t>(shape.num_outputs));
  Status s =
      sv.batcher().Predict(decoded->rows.data(), decoded->n_rows, decoded->n_cols, scores.data());
  if (options_.traffic != nullptr) {
    options_.traffic->Done(route, s, clock_.MonotonicMicros() - start, decoded->rows.data(),
                           decoded->n_rows, decoded->n_cols, scores.data(),
                           static_cast<size_t>(shape.num_outputs));
  }
  if (!s.ok()) return Fail(res, s, m);
  EncodedResponse enc =
      EncodeInferResponse(*decoded, shape, sv.name(), sv.version_string(), scores);
  if (enc.header_length) {
    res.status = 200;
    res.headers["content-type"] = "application/octet-stream";
    res.headers["inference-header-content-length"] = std::to_string(*enc.header_length);
    res.body = std::move(enc.body);
  } else {
    res.Json(200, std::move(enc.body));
  }
  m->success.fetch_add(1, std::memory_order_relaxed);
  m->rows.fetch_add(decoded->n_rows, std::memory_order_relaxed);
  m->request_seconds.Observe((clock_.MonotonicMicros() - start) * 1e-6);
}

void InferenceApi::SimpleInfer(http::Request& req, http::Response& res) {
  int64_t start = clock_.MonotonicMicros();
  // The common one-row body without a JSON document; anything else (and
  // every error) the general way below.
  std::optional<FlatInferBody> flat = ParseFlatInferBody(req.body);
  StatusOr<Json> body = Json();
  std::string model, version;
  if (flat) {
    model = std::move(flat->model);
    version = std::move(flat->version);
  } else {
    body = ParseJson(req.body);
    if (!body.ok()) {
      return Fail(res,
                  InvalidArgumentError("malformed JSON: " + std::string(body.status().message())),
                  nullptr);
    }
    if (!body->is_object() || !body->contains("model") || !(*body)["model"].is_string()) {
      return Fail(res,
                  InvalidArgumentError("the body must be {\"model\": NAME, \"features\": ...}"),
                  nullptr);
    }
    model = (*body)["model"].get<std::string>();
    if (body->contains("version")) {
      const Json& jv = (*body)["version"];
      version = jv.is_string() ? jv.get<std::string>() : jv.dump();
    }
  }
  auto v = manager_.Get(model, version);
  if (!v.ok()) return Fail(res, v.status(), nullptr);
  engine::ModelMetrics* m = (*v)->metrics();
  traffic::TrafficRoute route = options_.traffic != nullptr ? options_.traffic->Route(*v, version)
                                                            : traffic::TrafficRoute{*v};
  const engine::ServedVersion& sv = *route.version;
  InFlight in_flight(metrics_);
  const runtime::Predictor& p = sv.predictor();
  std::vector<float> rows;
  if (flat) {
    const size_t width = static_cast<size_t>(p.num_features());
    if (flat->features.size() != width) {
      return Fail(
          res,
          InvalidArgumentError("model '" + sv.name() + "' takes " + std::to_string(width) +
                               " features per row, got " + std::to_string(flat->features.size())),
          m);
    }
    rows = std::move(flat->features);
  } else {
    const Json* features = body->contains("features") ? &(*body)["features"] : nullptr;
    if (features == nullptr) {
      return Fail(res,
                  InvalidArgumentError("missing features: send {name: value}, [values] or "
                                       "[[values], ...]"),
                  m);
    }
    bool matrix = features->is_array() && !features->empty() &&
                  ((*features)[0].is_array() || (*features)[0].is_object());
    if (matrix) {
      if (features->size() > kMaxRequestElements / std::max(1, p.num_features())) {
        return Fail(res, InvalidArgumentError("too many rows"), m);
      }
      for (const Json& row : *features) {
        if (Status s = AppendRow(row, p, sv.name(), rows); !s.ok()) return Fail(res, s, m);
      }
    } else if (Status s = AppendRow(*features, p, sv.name(), rows); !s.ok()) {
      return Fail(res, s, m);
    }
  }
  const size_t n = rows.size() / static_cast<size_t>(std::max(1, p.num_features()));
  const size_t outs = static_cast<size_t>(std::max(1, p.num_outputs()));
  std::vector<float> scores(n * outs);
  Status s =
      sv.batcher().Predict(rows.data(), n, static_cast<size_t>(p.num_features()), scores.data());
  if (options_.traffic != nullptr) {
    options_.traffic->Done(route, s, clock_.MonotonicMicros() - start, rows.data(), n,
                           static_cast<size_t>(p.num_features()), scores.data(), outs);
  }
  if (!s.ok()) return Fail(res, s, m);
  std::string out = "{\"model\":";
  AppendJsonString(out, sv.name());
  out += ",\"version\":";
  AppendJsonString(out, sv.version_string());
  out += ",\"scores\":[";
  for (size_t r = 0; r < n; ++r) {
    if (r > 0) out += ',';
    if (outs > 1) out += '[';
    for (size_t c = 0; c < outs; ++c) {
      if (c > 0) out += ',';
      AppendJsonFloat(out, scores[r * outs + c]);
    }
    if (outs > 1) out += ']';
  }
  out += "]}";
  res.Json(200, std::move(out));
  m->success.fetch_add(1, std::memory_order_relaxed);
  m->rows.fetch_add(n, std::memory_order_relaxed);
  m->request_seconds.Observe((clock_.MonotonicMicros() - start) * 1e-6);
}

void InferenceApi::RepositoryIndex(http::Request& req, http::Response& res) {
  bool only_ready = false;
  if (!req.body.empty()) {
    auto body = ParseJson(req.body);
    if (!body.ok() || !body->is_object()) {
      return Fail(res,
                  InvalidArgumentError("the body must be a JSON object like {\"ready\": true}"),
                  nullptr);
    }
    if (body->contains("ready")) {
      if (!(*body)["ready"].is_boolean()) {
        return Fail(res, InvalidArgumentError("ready must be a boolean"), nullptr);
      }
      only_ready = (*body)["ready"].get<bool>();
    }
  }
  Json out = Json::array();
  for (const engine::ModelStatus& s : manager_.Index()) {
    if (only_ready && s.state != engine::ModelState::kReady) continue;
    Json e = {{"name", s.name}, {"state", engine::ModelStateName(s.state)}, {"reason", s.reason}};
    if (s.version > 0) e["version"] = std::to_string(s.version);
    out.push_back(std::move(e));
  }
  JsonReply(res, 200, out);
}

void InferenceApi::RepositoryLoad(http::Request& req, http::Response& res) {
  Status s = manager_.Reload(req.path_params["model"]);
  if (!s.ok()) return Fail(res, s, nullptr);
  metrics_.ready.store(ready() ? 1 : 0);
  JsonReply(res, 200, Json::object());
}

void InferenceApi::RepositoryUnload(http::Request& req, http::Response& res) {
  Status s = manager_.Unload(req.path_params["model"]);
  if (!s.ok()) return Fail(res, s, nullptr);
  metrics_.ready.store(ready() ? 1 : 0);
  JsonReply(res, 200, Json::object());
}

void InferenceApi::Metrics(http::Request&, http::Response& res) {
  metrics_.ready.store(ready() ? 1 : 0);
  res.status = 200;
  res.headers["content-type"] = "text/plain; version=0.0.4; charset=utf-8";
  res.body = metrics_.Render();
  if (options_.traffic != nullptr) options_.traffic->Render(res.body);
}

void InferenceApi::Traffic(http::Request& req, http::Response& res) {
  auto st = manager_.StatusOf(req.path_params["model"]);
  if (!st.ok()) return Fail(res, st.status(), nullptr);
  JsonReply(res, 200, options_.traffic->Stats());
}

void InferenceApi::SetTraffic(http::Request& req, http::Response& res) {
  auto st = manager_.StatusOf(req.path_params["model"]);
  if (!st.ok()) return Fail(res, st.status(), nullptr);
  auto body = ParseJson(req.body);
  if (!body.ok() || !body->is_object() || body->size() != 1 || !body->contains("canary_weight") ||
      !(*body)["canary_weight"].is_number()) {
    return Fail(res,
                InvalidArgumentError("the body must be {\"canary_weight\": W} with 0 <= W <= 1"),
                nullptr);
  }
  Status s = options_.traffic->SetCanaryWeight((*body)["canary_weight"].get<double>());
  if (!s.ok()) return Fail(res, s, nullptr);
  JsonReply(res, 200, options_.traffic->Stats());
}

void InferenceApi::NoRoute(http::Request& req, http::Response& res) {
  Fail(res, NotFoundError("no route for " + req.method + " " + req.path), nullptr);
}

}  // namespace tandem::serving::server
