#include "glue/bus/event.h"

#include "common/ids.h"

namespace tandem::bus {

Json Event::ToJson() const {
  return Json{
      {"version", version}, {"id", id},     {"detail-type", detail_type}, {"source", source},
      {"account", account}, {"time", time}, {"region", region},           {"resources", resources},
      {"detail", detail}};
}

StatusOr<Event> Event::FromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgumentError("event must be a JSON object");
  Event e;
  ASSIGN_OR_RETURN(e.detail_type, GetString(j, "detail-type"));
  ASSIGN_OR_RETURN(e.source, GetString(j, "source"));
  ASSIGN_OR_RETURN(e.version, GetStringOr(j, "version", "0"));
  ASSIGN_OR_RETURN(e.id, GetStringOr(j, "id", ""));
  ASSIGN_OR_RETURN(e.account, GetStringOr(j, "account", "local"));
  ASSIGN_OR_RETURN(e.time, GetStringOr(j, "time", ""));
  ASSIGN_OR_RETURN(e.region, GetStringOr(j, "region", "local"));
  if (e.detail_type.empty()) return InvalidArgumentError("field 'detail-type' must not be empty");
  if (e.source.empty()) return InvalidArgumentError("field 'source' must not be empty");
  if (j.contains("resources")) {
    const Json& r = j["resources"];
    if (!r.is_array()) return InvalidArgumentError("field 'resources' must be an array of strings");
    for (const auto& v : r) {
      if (!v.is_string())
        return InvalidArgumentError("field 'resources' must be an array of strings");
      e.resources.push_back(v.get<std::string>());
    }
  }
  if (j.contains("detail")) {
    if (!j["detail"].is_object()) return InvalidArgumentError("field 'detail' must be an object");
    e.detail = j["detail"];
  }
  return e;
}

Event MakeEvent(const Clock& clock, std::string source, std::string detail_type, Json detail,
                std::vector<std::string> resources) {
  Event e;
  e.id = NewUuidV7(clock);
  e.time = FormatRfc3339(clock.NowMicros());
  e.source = std::move(source);
  e.detail_type = std::move(detail_type);
  e.detail = std::move(detail);
  e.resources = std::move(resources);
  return e;
}

}  // namespace tandem::bus
