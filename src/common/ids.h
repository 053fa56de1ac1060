// Time-sortable identifiers. Ids created later sort after ids created
// earlier (millisecond resolution across threads and processes; strictly
// increasing within one thread).
#pragma once

#include <string>

#include "common/clock.h"

namespace tandem {

// RFC 9562 UUID version 7, lowercase canonical text form
// ("0190b6d4-8c3e-7a2b-9f10-2c4d5e6f7a8b"). Used for event ids.
std::string NewUuidV7(const Clock& clock);

// 26-character Crockford base32 ULID, lowercase ("01jf3q9v6k8m2n4p6r8t0v2x4z").
// Used for job ids and other human-visible ids.
std::string NewUlid(const Clock& clock);

// Milliseconds since the epoch encoded in a ULID; -1 if `ulid` is malformed.
int64_t UlidMillis(const std::string& ulid);

}  // namespace tandem
