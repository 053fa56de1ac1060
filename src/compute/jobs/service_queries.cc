// JobService's read-only queries: records, pages, counts, metrics and spend,
// straight from the job store. Apart from service.cc to keep that file within
// bounds (the scheduling loop and the job lifecycle).
#include "compute/jobs/service.h"

namespace tandem::compute::jobs {

StatusOr<JobRecord> JobService::Get(const std::string& id) { return jobs_->Get(id); }

StatusOr<JobPage> JobService::List(const JobFilter& filter) { return jobs_->List(filter); }

StatusOr<std::map<JobState, int64_t>> JobService::CountByState(const std::string& kind) {
  return jobs_->CountByState(kind);
}

StatusOr<std::map<std::string, int64_t>> JobService::CountByKind() { return jobs_->CountByKind(); }

StatusOr<std::map<std::string, std::vector<MetricPoint>>> JobService::Metrics(
    const std::string& id) {
  RETURN_IF_ERROR(jobs_->Get(id).status());
  return jobs_->Metrics(id);
}

StatusOr<std::vector<TeamSpend>> JobService::SpendByTeam() { return jobs_->SpendByTeam(); }

StatusOr<double> JobService::TeamCostSince(const std::string& team, int64_t since_micros) {
  return jobs_->TeamCostSince(team, since_micros);
}

StatusOr<JobCounts> JobService::Counts() { return jobs_->Counts(); }

}  // namespace tandem::compute::jobs
