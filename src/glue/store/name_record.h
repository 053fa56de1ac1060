// The record a backend keeps per named object (key -> blob), in one format
// for every backend: {"key","digest","size","created_micros"} as JSON.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "glue/store/object_store.h"

namespace tandem::store {

// Records larger than this are refused as corrupt (a name record is ~200 bytes).
inline constexpr size_t kMaxNameRecordBytes = 64 * 1024;

std::string EncodeNameRecord(const ObjectInfo& info);

// Decodes the record read for `key`. DataLoss "name record <where> is
// corrupt: ..." when it is too large, not the JSON object above, records
// another key or a malformed digest.
StatusOr<ObjectInfo> DecodeNameRecord(std::string_view text, std::string_view key,
                                      std::string_view where);

}  // namespace tandem::store
