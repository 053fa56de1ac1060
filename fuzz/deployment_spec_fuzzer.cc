// Deployment specs (YAML or JSON, from `tandem deployments apply` and the
// REST API): parsing and validation never crash; a valid spec's stored JSON
// form validates again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serving/fleet/deployment_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = tandem::serving::fleet::ParseDeploymentSpec(text);
  if (!spec.ok()) return 0;
  auto back = tandem::serving::fleet::DeploymentSpecFromJson(spec->ToJson());
  if (!back.ok()) __builtin_trap();
  return 0;
}
