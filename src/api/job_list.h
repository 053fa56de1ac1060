// The list routes of jobs (GET /api/v1/jobs, GET /api/v1/transform-jobs): the
// filter a request asks for and the page as JSON, the same for every kind.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include "common/http_server.h"
#include "common/json.h"
#include "common/status.h"
#include "compute/jobs/store.h"

namespace tandem::compute::jobs {
class JobService;
}

namespace tandem::api {

// The filter of ?state=&team=&name= and the page parameters (max_results,
// page_token). InvalidArgument naming a bad state or page parameter.
StatusOr<compute::jobs::JobFilter> ReadJobFilter(const http::Request& req);

// {"<key>": [to_json(job)...], "next_page_token": ... (when there is one)}.
Json JobPageJson(const compute::jobs::JobPage& page, std::string_view key,
                 const std::function<Json(const compute::jobs::JobRecord&)>& to_json);

// GET of one job, with an optional long poll for clients that wait for it
// (`tandem jobs run --wait`, `tandem transform run --wait`): with
// ?state=S&wait_ms=MS (S a job state name, MS in [0, 30000]) the answer
// comes once the job's state is no longer S, or after MS; without them at
// once. InvalidArgument naming a bad parameter (one without the other, an
// unknown state, MS out of range). At most kMaxLongPolls requests of one
// control plane wait at a time (each holds one of the server's worker
// threads); others are answered at once, as without the parameters, and
// the client polls. `polls` nullptr: never waits.
inline constexpr int kMaxLongPolls = 8;
inline constexpr int64_t kMaxLongPollMs = 30'000;

class LongPolls {
 public:
  // Ends the long polls under way within half a second and answers later
  // ones at once, for good (the control plane is stopping: its server waits
  // for its handlers).
  void End() { ended_.store(true); }

 private:
  friend StatusOr<compute::jobs::JobRecord> GetJobMaybeWaiting(compute::jobs::JobService&,
                                                               LongPolls*, const http::Request&,
                                                               const std::string&);
  std::atomic<int> waiting_{0};
  std::atomic<bool> ended_{false};
};

StatusOr<compute::jobs::JobRecord> GetJobMaybeWaiting(compute::jobs::JobService& jobs,
                                                      LongPolls* polls, const http::Request& req,
                                                      const std::string& id);

}  // namespace tandem::api
