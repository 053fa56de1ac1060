// The platform's event envelope: EventBridge's fields, so rules and tools
// written for EventBridge read our events unchanged.
//
//   {"version":"0","id":"<uuidv7>","detail-type":"Model Alias Changed",
//    "source":"tandem.registry","account":"local","time":"2026-11-30T05:49:03Z",
//    "region":"local","resources":["model/fraud"],"detail":{...}}
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace tandem::bus {

struct Event {
  std::string version = "0";
  std::string id{};           // UUIDv7, time-sortable
  std::string detail_type{};  // e.g. "Model Version Created"
  std::string source{};       // e.g. "tandem.registry"
  std::string account = "local";
  std::string time{};  // RFC 3339 UTC
  std::string region = "local";
  std::vector<std::string> resources{};
  Json detail = Json::object();

  Json ToJson() const;
  // Validates the envelope: required fields present and of the right type.
  static StatusOr<Event> FromJson(const Json& j);
};

// A new event with a fresh id and the current time.
Event MakeEvent(const Clock& clock, std::string source, std::string detail_type, Json detail,
                std::vector<std::string> resources = {});

}  // namespace tandem::bus
