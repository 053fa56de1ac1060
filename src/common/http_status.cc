#include "common/http_status.h"

#include <array>
#include <string>
#include <utility>

#include "absl/strings/cord.h"

namespace tandem {
namespace {

struct CodeInfo {
  StatusCode code;
  std::string_view name;
  int http;
};

constexpr std::array<CodeInfo, 17> kCodes = {{
    {StatusCode::kOk, "OK", 200},
    {StatusCode::kCancelled, "CANCELLED", 499},
    {StatusCode::kUnknown, "UNKNOWN", 500},
    {StatusCode::kInvalidArgument, "INVALID_ARGUMENT", 400},
    {StatusCode::kDeadlineExceeded, "DEADLINE_EXCEEDED", 504},
    {StatusCode::kNotFound, "NOT_FOUND", 404},
    {StatusCode::kAlreadyExists, "ALREADY_EXISTS", 409},
    {StatusCode::kPermissionDenied, "PERMISSION_DENIED", 403},
    {StatusCode::kResourceExhausted, "RESOURCE_EXHAUSTED", 429},
    {StatusCode::kFailedPrecondition, "FAILED_PRECONDITION", 412},
    {StatusCode::kAborted, "ABORTED", 409},
    {StatusCode::kOutOfRange, "OUT_OF_RANGE", 400},
    {StatusCode::kUnimplemented, "UNIMPLEMENTED", 501},
    {StatusCode::kInternal, "INTERNAL", 500},
    {StatusCode::kUnavailable, "UNAVAILABLE", 503},
    {StatusCode::kDataLoss, "DATA_LOSS", 500},
    {StatusCode::kUnauthenticated, "UNAUTHENTICATED", 401},
}};

// absl::Status payload URLs are absl::string_view (Debian's abseil has its own).
constexpr char kInsufficientStorage[] = "tandem.dev/insufficient-storage";

}  // namespace

Status InsufficientStorageError(std::string_view detail) {
  Status s = ResourceExhaustedError("the server is out of storage space: " + std::string(detail));
  s.SetPayload(kInsufficientStorage, absl::Cord("1"));
  return s;
}

bool IsInsufficientStorage(const Status& s) {
  return s.code() == StatusCode::kResourceExhausted &&
         s.GetPayload(kInsufficientStorage).has_value();
}

int HttpStatusFromCode(StatusCode code) {
  for (const auto& c : kCodes) {
    if (c.code == code) return c.http;
  }
  return 500;
}

int HttpStatusOf(const Status& s) {
  return IsInsufficientStorage(s) ? 507 : HttpStatusFromCode(s.code());
}

StatusCode CodeFromHttpStatus(int http_status) {
  switch (http_status) {
    case 200:
    case 201:
    case 202:
    case 204:
      return StatusCode::kOk;
    case 400:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return StatusCode::kAlreadyExists;
    case 412:
      return StatusCode::kFailedPrecondition;
    case 413:
      return StatusCode::kResourceExhausted;
    case 429:
      return StatusCode::kResourceExhausted;
    case 499:
      return StatusCode::kCancelled;
    case 501:
      return StatusCode::kUnimplemented;
    case 503:
      return StatusCode::kUnavailable;
    case 504:
      return StatusCode::kDeadlineExceeded;
    case 507:
      return StatusCode::kResourceExhausted;
    default:
      if (http_status >= 200 && http_status < 300) return StatusCode::kOk;
      if (http_status >= 400 && http_status < 500) return StatusCode::kInvalidArgument;
      return StatusCode::kInternal;
  }
}

std::string_view CodeName(StatusCode code) {
  for (const auto& c : kCodes) {
    if (c.code == code) return c.name;
  }
  return "UNKNOWN";
}

StatusCode CodeFromName(std::string_view name) {
  for (const auto& c : kCodes) {
    if (c.name == name) return c.code;
  }
  return StatusCode::kUnknown;
}

}  // namespace tandem
