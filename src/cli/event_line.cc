#include "cli/event_line.h"

#include <utility>
#include <vector>

#include "cli/output.h"

namespace tandem::cli {
namespace {

// "2026-11-30T08:51:02.417Z" -> "08:51:02.417"; anything else unchanged.
std::string TimeOfDay(const std::string& time) {
  size_t t = time.find('T');
  if (t == std::string::npos) return time;
  std::string out = time.substr(t + 1);
  if (!out.empty() && out.back() == 'Z') out.pop_back();
  return out;
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

bool Has(const Json& d, const char* key) {
  return d.contains(key) && !d[key].is_null() && !d[key].is_object() && !d[key].is_array();
}

}  // namespace

std::string EventLine(const Json& e) {
  std::string line = Pad(TimeOfDay(e.value("time", "")), 12) + "  " +
                     Pad(e.value("source", ""), 15) + "  " + Pad(e.value("detail-type", ""), 26);
  const Json detail =
      e.contains("detail") && e["detail"].is_object() ? e["detail"] : Json::object();
  const bool compute = e.value("source", "") == "tandem.compute";
  // (detail key, label) in display order; the model's name is `name` except
  // on compute events, where `name` is the job's name.
  const std::vector<std::pair<const char*, const char*>> fields = {
      {"job_id", "job"},    {"deployment", "deployment"}, {"name", compute ? "name" : "model"},
      {"team", "team"},     {"alias", "alias"},           {"version", "version"},
      {"target", "target"}, {"replica", "replica"},       {"key", "tag"},
      {"value", "value"},   {"status", "status"},         {"replicas", "replicas"}};
  std::string keys;
  for (const auto& [key, label] : fields) {
    if (!Has(detail, key)) continue;
    keys += std::string(keys.empty() ? "" : " ") + label + "=" + CellText(detail[key]);
  }
  auto was = [&](const char* prev) {
    return Has(detail, prev) ? " (was " + CellText(detail[prev]) + ")" : std::string();
  };
  if (Has(detail, "version") && Has(detail, "previous_version")) keys += was("previous_version");
  if (Has(detail, "state")) keys += " " + CellText(detail["state"]) + was("previous_state");
  for (const char* reason : {"failure_reason", "reason", "status_message"}) {
    if (Has(detail, reason) && !CellText(detail[reason]).empty()) {
      keys += " reason=\"" + CellText(detail[reason]) + "\"";
      break;
    }
  }
  if (keys.empty() && !detail.empty()) {
    keys = detail.dump();
    if (keys.size() > 160) keys = keys.substr(0, 157) + "...";  // -o json has it whole
  }
  line += "  " + keys;
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

}  // namespace tandem::cli
