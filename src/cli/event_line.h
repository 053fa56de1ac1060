// One readable line per platform event for `tandem events tail`:
//   08:51:02.417  tandem.compute   Training Job State Change  job=01jf... name=churn Running (was
//   Starting) 08:51:09.002  tandem.registry  Model Alias Changed        model=churn alias=champion
//   version=2 (was 1)
// time (time of day, UTC), source, detail-type, then the key fields of the
// detail (job, model, version, alias, deployment, replica, state, reason);
// details with none of those are shown as compact JSON, cut at 160 chars.
#pragma once

#include <string>

#include "common/json.h"

namespace tandem::cli {

std::string EventLine(const Json& event);

}  // namespace tandem::cli
