// EventBridge patterns (rules users register): the input is a pattern and an
// event separated by a NUL byte; parsing and matching never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/json.h"
#include "glue/bus/pattern.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t split = in.find('\0');
  std::string_view pattern_text = in.substr(0, split);
  std::string_view event_text = split == std::string_view::npos ? "{}" : in.substr(split + 1);
  auto pattern = tandem::bus::Pattern::ParseText(pattern_text);
  if (!pattern.ok()) return 0;
  auto event = tandem::ParseJson(event_text);
  if (!event.ok()) return 0;
  (void)pattern->Matches(*event);
  // A valid pattern's JSON is itself a valid pattern.
  if (!tandem::bus::Pattern::Parse(pattern->json()).ok()) __builtin_trap();
  return 0;
}
