#include "common/config.h"

#include <cstdio>
#include <filesystem>
#include <set>

#include "common/config_home.h"
#include "common/yaml.h"

extern char** environ;

namespace tandem {
namespace fs = std::filesystem;

EnvLookup ProcessEnvironment() {
  EnvLookup env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

namespace {

std::string Lookup(const EnvLookup& env, const std::string& key) {
  auto it = env.find(key);
  return it == env.end() ? "" : it->second;
}

Status ParseListen(const std::string& listen, Config& c) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgumentError("listen '" + listen + "' must be HOST:PORT");
  }
  c.listen_host = listen.substr(0, colon);
  try {
    c.port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    return InvalidArgumentError("listen '" + listen + "' has an invalid port");
  }
  return OkStatus();
}

// A `server:` key of http::ClientLimits: its field, range and unit.
struct LimitKey {
  int64_t* wide = nullptr;  // one of these two
  int* narrow = nullptr;
  int64_t min = 0, max = 0, scale = 1;
  bool known() const { return wide != nullptr || narrow != nullptr; }
  void Set(int64_t v) const {
    if (wide != nullptr) *wide = v * scale;
    if (narrow != nullptr) *narrow = static_cast<int>(v);
  }
};
LimitKey ClientLimit(const std::string& key, http::ClientLimits& l) {
  constexpr int64_t kMaxInt = int64_t{1} << 30;
  if (key == "min_body_bytes_per_s") return {&l.min_body_bytes_per_s, nullptr, 0, int64_t{1} << 40};
  if (key == "body_window_s") return {&l.body_window_ms, nullptr, 1, 3600, 1000};
  if (key == "max_connections") return {nullptr, &l.max_connections, 1, kMaxInt};
  if (key == "max_connections_per_client") {
    return {nullptr, &l.max_connections_per_client, 0, kMaxInt};
  }
  return {};
}

Status ApplyDocument(const Json& doc, Config& c) {
  // The last eight are modules' own sections (in Config::raw); `serving` is
  // reserved: accepted, read by nothing yet. `images` names the image store
  // (a URI, or a mapping whose `store` is the URI; other keys are the image
  // modules' own).
  static const std::set<std::string> kKnown = {
      "listen",  "database", "store",  "bus",       "log_level", "max_body_mb", "compute",
      "serving", "pricing",  "images", "notebooks", "security",  "quotas",      "server",
      "auth"};
  if (doc.is_null()) return OkStatus();
  if (!doc.is_object()) return InvalidArgumentError("tandem.yaml must be a mapping");
  for (const auto& [k, v] : doc.items()) {
    if (!kKnown.count(k)) return InvalidArgumentError("tandem.yaml: unknown key '" + k + "'");
  }
  if (doc.contains("listen")) {
    if (!doc["listen"].is_string())
      return InvalidArgumentError("tandem.yaml: 'listen' must be a string");
    RETURN_IF_ERROR(ParseListen(doc["listen"].get<std::string>(), c));
  }
  for (auto [key, field] :
       {std::pair{"database", &c.database_uri}, std::pair{"store", &c.store_uri},
        std::pair{"bus", &c.bus_uri}, std::pair{"log_level", &c.log_level}}) {
    if (!doc.contains(key)) continue;
    if (!doc[key].is_string()) {
      return InvalidArgumentError(std::string("tandem.yaml: '") + key + "' must be a string");
    }
    *field = doc[key].get<std::string>();
  }
  if (doc.contains("images")) {
    const Json& images = doc["images"];
    const Json* uri = images.is_object() && images.contains("store") ? &images["store"] : &images;
    if (uri->is_string()) {
      c.images_uri = uri->get<std::string>();
    } else if (!images.is_object()) {
      return InvalidArgumentError(
          "tandem.yaml: 'images' must be a URI (embedded, registry://host:port) or a mapping");
    } else if (images.contains("store")) {
      return InvalidArgumentError("tandem.yaml: 'images.store' must be a string");
    }
  }
  if (doc.contains("server")) {
    const Json& server = doc["server"];
    if (!server.is_object()) return InvalidArgumentError("tandem.yaml: 'server' must be a mapping");
    for (const auto& [k, v] : server.items()) {
      if (k == "tls_cert" || k == "tls_key") {
        if (!v.is_string()) {
          return InvalidArgumentError("tandem.yaml: 'server." + k + "' must be a file path");
        }
        (k == "tls_cert" ? c.tls_cert : c.tls_key) = v.get<std::string>();
      } else if (k == "insecure") {
        if (!v.is_boolean()) {
          return InvalidArgumentError("tandem.yaml: 'server.insecure' must be true or false");
        }
        c.insecure = v.get<bool>();
      } else if (auto limit = ClientLimit(k, c.client_limits); limit.known()) {
        if (!v.is_number_integer() || v.get<int64_t>() < limit.min ||
            v.get<int64_t>() > limit.max) {
          return InvalidArgumentError("tandem.yaml: 'server." + k + "' must be an integer from " +
                                      std::to_string(limit.min) + " to " +
                                      std::to_string(limit.max));
        }
        limit.Set(v.get<int64_t>());
      } else {
        return InvalidArgumentError(
            "tandem.yaml: unknown key 'server." + k +
            "' (known: tls_cert, tls_key, insecure, min_body_bytes_per_s, body_window_s, "
            "max_connections, max_connections_per_client)");
      }
    }
  }
  if (doc.contains("max_body_mb")) {
    if (!doc["max_body_mb"].is_number_integer() || doc["max_body_mb"].get<int64_t>() <= 0) {
      return InvalidArgumentError("tandem.yaml: 'max_body_mb' must be a positive integer");
    }
    c.max_body_bytes = doc["max_body_mb"].get<int64_t>() << 20;
  }
  c.raw = doc;
  return OkStatus();
}

}  // namespace

std::string ConfigHome(const std::string& home_flag, const EnvLookup& env) {
  if (!home_flag.empty()) return home_flag;
  std::string home = Lookup(env, "TANDEM_HOME");
  return home.empty() ? "./.tandem" : home;
}

StatusOr<Config> LoadConfig(const std::string& home_flag, const std::string& config_path,
                            const EnvLookup& env) {
  const std::string home = ConfigHome(home_flag, env);
  std::error_code ec;
  fs::create_directories(home, ec);
  if (ec) return InvalidArgumentError("cannot create home '" + home + "': " + ec.message());
  return ReadConfig(home_flag, config_path, env);
}

StatusOr<Config> ReadConfig(const std::string& home_flag, const std::string& config_path,
                            const EnvLookup& env) {
  Config c;
  const std::string home = ConfigHome(home_flag, env);
  std::error_code ec;
  c.home = fs::absolute(home, ec).lexically_normal().string();
  if (ec) return InvalidArgumentError("cannot resolve home '" + home + "': " + ec.message());
  if (c.home.size() > 1 && c.home.back() == '/') c.home.pop_back();

  std::string path = config_path;
  if (path.empty() && fs::exists(c.home + "/tandem.yaml")) path = c.home + "/tandem.yaml";
  if (!path.empty()) {
    ASSIGN_OR_RETURN(Json doc, ReadYamlFile(path));
    RETURN_IF_ERROR(ApplyDocument(doc, c));
  }
  if (auto v = Lookup(env, "TANDEM_LISTEN"); !v.empty()) RETURN_IF_ERROR(ParseListen(v, c));
  if (auto v = Lookup(env, "TANDEM_PORT"); !v.empty()) {
    try {
      c.port = std::stoi(v);
    } catch (...) {
      return InvalidArgumentError("TANDEM_PORT '" + v + "' is not a port number");
    }
  }
  if (auto v = Lookup(env, "TANDEM_DATABASE"); !v.empty()) c.database_uri = v;
  if (auto v = Lookup(env, "TANDEM_STORE"); !v.empty()) c.store_uri = v;
  if (auto v = Lookup(env, "TANDEM_BUS"); !v.empty()) c.bus_uri = v;
  if (auto v = Lookup(env, "TANDEM_LOG_LEVEL"); !v.empty()) c.log_level = v;
  if (auto v = Lookup(env, "TANDEM_IMAGES"); !v.empty()) c.images_uri = v;
  if (auto v = Lookup(env, "TANDEM_TLS_CERT"); !v.empty()) c.tls_cert = v;
  if (auto v = Lookup(env, "TANDEM_TLS_KEY"); !v.empty()) c.tls_key = v;

  if (c.database_uri.empty()) c.database_uri = "sqlite://" + c.home + "/tandem.db";
  if (c.store_uri.empty()) c.store_uri = "file://" + c.home + "/store";
  if (c.bus_uri.empty()) c.bus_uri = c.database_uri;
  if (c.images_uri.empty()) c.images_uri = "embedded";
  if (c.port < 0 || c.port > 65535) return InvalidArgumentError("port out of range");
  return c;
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  // 127.0.0.0/8, written as a dotted quad.
  int parts[4];
  char tail = 0;
  if (std::sscanf(host.c_str(), "%d.%d.%d.%d%c", &parts[0], &parts[1], &parts[2], &parts[3],
                  &tail) != 4) {
    return false;
  }
  for (int p : parts) {
    if (p < 0 || p > 255) return false;
  }
  return parts[0] == 127;
}

Status CheckListenSecurity(const std::string& what, const std::string& host,
                           const std::string& tls_cert, const std::string& tls_key, bool insecure) {
  if (tls_cert.empty() != tls_key.empty()) {
    return InvalidArgumentError(what + ": give both a TLS certificate and its key (--tls-cert " +
                                "and --tls-key), or neither");
  }
  if (!tls_cert.empty() || insecure || IsLoopbackHost(host)) return OkStatus();
  return InvalidArgumentError(
      what + ": refusing to serve plain HTTP on " + host +
      ", which other machines can reach: give --tls-cert and --tls-key (server.tls_cert and "
      "server.tls_key in tandem.yaml), listen on 127.0.0.1, or pass --insecure to allow it");
}

}  // namespace tandem
