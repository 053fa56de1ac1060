// The list routes of jobs (GET /api/v1/jobs, GET /api/v1/transform-jobs): the
// filter a request asks for and the page as JSON, the same for every kind.
#pragma once

#include <functional>
#include <string_view>

#include "common/http_server.h"
#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/store.h"

namespace tandem::api {

// The filter of ?state=&team=&name= and the page parameters (max_results,
// page_token). InvalidArgument naming a bad state or page parameter.
StatusOr<compute::jobs::JobFilter> ReadJobFilter(const http::Request& req);

// {"<key>": [to_json(job)...], "next_page_token": ... (when there is one)}.
Json JobPageJson(const compute::jobs::JobPage& page, std::string_view key,
                 const std::function<Json(const compute::jobs::JobRecord&)>& to_json);

}  // namespace tandem::api
