// The OCI distribution spec's error codes, carried on a Status as a payload
// so that every ImageStore backend reports e.g. BLOB_UNKNOWN the same way and
// the `/v2/` API can answer the spec's error JSON with the right code.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tandem::images {

namespace codes {
inline constexpr std::string_view kBlobUnknown = "BLOB_UNKNOWN";
inline constexpr std::string_view kBlobUploadInvalid = "BLOB_UPLOAD_INVALID";
inline constexpr std::string_view kBlobUploadUnknown = "BLOB_UPLOAD_UNKNOWN";
inline constexpr std::string_view kDigestInvalid = "DIGEST_INVALID";
inline constexpr std::string_view kManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN";
inline constexpr std::string_view kManifestInvalid = "MANIFEST_INVALID";
inline constexpr std::string_view kManifestUnknown = "MANIFEST_UNKNOWN";
inline constexpr std::string_view kNameInvalid = "NAME_INVALID";
inline constexpr std::string_view kNameUnknown = "NAME_UNKNOWN";
inline constexpr std::string_view kSizeInvalid = "SIZE_INVALID";
inline constexpr std::string_view kUnauthorized = "UNAUTHORIZED";
inline constexpr std::string_view kDenied = "DENIED";
inline constexpr std::string_view kUnsupported = "UNSUPPORTED";
inline constexpr std::string_view kTooManyRequests = "TOOMANYREQUESTS";
}  // namespace codes

// `status` with the distribution error code attached (OK stays OK).
Status WithCode(Status status, std::string_view code);
// A new error of canonical `code` carrying distribution code `dist_code`.
Status ImageError(StatusCode code, std::string_view dist_code, std::string_view message);
// The distribution code attached to `status`, or "" if none.
std::string DistributionCode(const Status& status);

}  // namespace tandem::images
