#include "api/job_list.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>

#include "api/rest.h"
#include "compute/jobs/service.h"
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

StatusOr<compute::jobs::JobRecord> GetJobMaybeWaiting(compute::jobs::JobService& jobs,
                                                      LongPolls* polls, const http::Request& req,
                                                      const std::string& id) {
  const std::string state_name = req.Query("state");
  const std::string wait_text = req.Query("wait_ms");
  if (state_name.empty() && wait_text.empty()) return jobs.Get(id);
  if (state_name.empty() || wait_text.empty()) {
    return InvalidArgumentError("wait_ms and state go together: wait up to wait_ms for the "
                                "job's state to differ from state");
  }
  ASSIGN_OR_RETURN(compute::jobs::JobState state, compute::jobs::ParseJobState(state_name));
  ASSIGN_OR_RETURN(int64_t wait_ms, QueryInt(req, "wait_ms", 0));
  if (wait_ms < 0 || wait_ms > kMaxLongPollMs) {
    return InvalidArgumentError("wait_ms must be in [0, " + std::to_string(kMaxLongPollMs) + "]");
  }
  if (wait_ms == 0 || polls == nullptr || polls->ended_.load()) return jobs.Get(id);
  if (polls->waiting_.fetch_add(1) >= kMaxLongPolls) {
    polls->waiting_.fetch_sub(1);
    return jobs.Get(id);
  }
  // In slices, so that EndLongPolls is seen within one.
  constexpr int64_t kSliceMs = 500;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  StatusOr<compute::jobs::JobRecord> waited = DeadlineExceededError("");
  while (true) {
    const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                             until - std::chrono::steady_clock::now())
                             .count();
    if (left <= 0 || polls->ended_.load()) break;
    waited = jobs.WaitFor(
        id, [state](const compute::jobs::JobRecord& r) { return r.state != state; },
        std::min(left, kSliceMs));
    if (waited.ok() || waited.status().code() != StatusCode::kDeadlineExceeded) break;
  }
  polls->waiting_.fetch_sub(1);
  if (waited.ok() || waited.status().code() != StatusCode::kDeadlineExceeded) return waited;
  return jobs.Get(id);
}

}  // namespace tandem::api
