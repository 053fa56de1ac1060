// ParseJson and ParseYaml (every spec and request body goes through one of
// them): no input may crash, hang or exhaust memory; what parses must
// survive the conversions tandem applies to stored documents.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/json.h"
#include "common/yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto j = tandem::ParseJson(text); j.ok()) {
    std::string dumped = j->dump(-1, ' ', false, tandem::Json::error_handler_t::replace);
    auto again = tandem::ParseJson(dumped);
    if (!again.ok()) __builtin_trap();  // what we write must read back
  }
  if (auto y = tandem::ParseYaml(text); y.ok()) {
    (void)tandem::ToYaml(*y);
  }
  return 0;
}
