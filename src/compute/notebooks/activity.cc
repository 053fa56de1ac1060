#include "compute/notebooks/activity.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "common/http_client.h"

namespace tandem::compute::notebooks {

StatusOr<int64_t> ParseIso8601Micros(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return InvalidArgumentError("not an ISO 8601 time: \"" + text + "\"");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t micros = 0;
  size_t i = static_cast<size_t>(consumed);
  if (i < text.size() && text[i] == '.') {
    int64_t scale = 100000;
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      micros += (text[i] - '0') * scale;
      scale /= 10;
    }
  }
  std::string zone = text.substr(i);
  if (zone != "Z" && zone != "+00:00" && zone != "") {
    return InvalidArgumentError("not a UTC time: \"" + text + "\"");
  }
  const time_t seconds = timegm(&tm);
  if (seconds == static_cast<time_t>(-1)) return InvalidArgumentError("bad time \"" + text + "\"");
  return static_cast<int64_t>(seconds) * 1'000'000 + micros;
}

StatusOr<NotebookActivity> ParseNotebookActivity(const Json& status, const Json& kernels) {
  if (!status.is_object() || !status.contains("last_activity") ||
      !status["last_activity"].is_string()) {
    return InvalidArgumentError("Jupyter /api/status has no last_activity: " +
                                status.dump().substr(0, 200));
  }
  if (!kernels.is_array()) {
    return InvalidArgumentError("Jupyter /api/kernels is not a list: " +
                                kernels.dump().substr(0, 200));
  }
  NotebookActivity a;
  ASSIGN_OR_RETURN(a.last_activity_micros,
                   ParseIso8601Micros(status["last_activity"].get<std::string>()));
  a.kernels = static_cast<int>(kernels.size());
  for (const Json& k : kernels) {
    if (!k.is_object()) continue;
    if (k.value("execution_state", "") == "busy") ++a.busy_kernels;
    if (k.contains("last_activity") && k["last_activity"].is_string()) {
      auto t = ParseIso8601Micros(k["last_activity"].get<std::string>());
      if (t.ok()) a.last_activity_micros = std::max(a.last_activity_micros, *t);
    }
  }
  if (status.contains("terminals") && status["terminals"].is_number_integer()) {
    a.terminals = status["terminals"].get<int>();
  }
  return a;
}

StatusOr<NotebookActivity> ProbeNotebook(int port, const std::string& token, int64_t timeout_ms) {
  http::Client client;
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const std::string auth = "token=" + token;
  ASSIGN_OR_RETURN(http::ClientResponse status,
                   client.Get(base + "/api/status?" + auth, timeout_ms));
  if (status.status != 200) {
    return UnavailableError("Jupyter on port " + std::to_string(port) + " answered " +
                            std::to_string(status.status) + " to /api/status");
  }
  ASSIGN_OR_RETURN(http::ClientResponse kernels,
                   client.Get(base + "/api/kernels?no_track_activity=1&" + auth, timeout_ms));
  if (kernels.status != 200) {
    return UnavailableError("Jupyter on port " + std::to_string(port) + " answered " +
                            std::to_string(kernels.status) + " to /api/kernels");
  }
  ASSIGN_OR_RETURN(Json s, ParseJson(status.body));
  ASSIGN_OR_RETURN(Json k, ParseJson(kernels.body));
  return ParseNotebookActivity(s, k);
}

bool IsIdle(const NotebookActivity& activity, int64_t started_micros, int64_t now_micros,
            int64_t idle_timeout_seconds) {
  if (idle_timeout_seconds <= 0 || activity.busy_kernels > 0) return false;
  const int64_t last = std::max(activity.last_activity_micros, started_micros);
  return now_micros - last >= idle_timeout_seconds * 1'000'000;
}

}  // namespace tandem::compute::notebooks
