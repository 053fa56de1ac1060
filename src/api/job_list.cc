#include "api/job_list.h"

#include <string>

#include "api/rest.h"
#include "compute/jobs/state.h"

namespace tandem::api {

StatusOr<compute::jobs::JobFilter> ReadJobFilter(const http::Request& req) {
  ASSIGN_OR_RETURN(PageParams page, ReadPageParams(req));
  compute::jobs::JobFilter filter;
  std::string state = req.Query("state");
  if (!state.empty()) {
    ASSIGN_OR_RETURN(filter.state, compute::jobs::ParseJobState(state));
  }
  filter.team = req.Query("team");
  filter.name = req.Query("name");
  filter.max_results = page.max_results;
  filter.page_token = page.page_token;
  return filter;
}

Json JobPageJson(const compute::jobs::JobPage& page, std::string_view key,
                 const std::function<Json(const compute::jobs::JobRecord&)>& to_json) {
  Json items = Json::array();
  for (const auto& j : page.jobs) items.push_back(to_json(j));
  Json out = {{std::string(key), items}};
  if (!page.next_page_token.empty()) out["next_page_token"] = page.next_page_token;
  return out;
}

}  // namespace tandem::api
