#include "glue/images/errors.h"

#include "absl/strings/cord.h"

namespace tandem::images {
namespace {
constexpr char kPayloadUrl[] = "type.tandem.dev/images.DistributionCode";
}  // namespace

Status WithCode(Status status, std::string_view code) {
  if (!status.ok()) status.SetPayload(kPayloadUrl, absl::Cord(std::string(code)));
  return status;
}

Status ImageError(StatusCode code, std::string_view dist_code, std::string_view message) {
  return WithCode(Status(code, std::string(message)), dist_code);
}

std::string DistributionCode(const Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  return payload ? std::string(*payload) : std::string();
}

}  // namespace tandem::images
