// Reads a serving replica's Prometheus exposition (GET /metrics on its admin
// port) into the summary the console charts: requests and failures of one
// model, in-flight requests, the version served and the request-latency
// histogram. Rates and quantiles are left to the reader (they need two
// scrapes): counters stay cumulative.
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/status.h"

namespace tandem::api {

// {"requests", "failures", "in_flight", "version", "ready",
//  "latency": {"bounds": [s...], "cumulative": [n..., +Inf last], "count", "sum"}}
// for the samples labelled model="<model>" (requests = answered requests,
// failures included). A malformed sample line -> InvalidArgument naming it.
StatusOr<Json> SummarizeReplicaMetrics(std::string_view exposition, std::string_view model);

}  // namespace tandem::api
