// `tandem job-pod stage|finalize`: the tandem steps of a Kubernetes Job that
// `tandem jobs render` wrote (compute/kube/render.h): stage the code and
// channels into /opt/ml before the training container, then finalize (pack,
// upload, register) after it. The glue comes from TANDEM_DATABASE,
// TANDEM_STORE and TANDEM_BUS (the pod's Secret) like every tandem process.
#include <memory>

#include "cli/context.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/yaml.h"
#include "compute/kube/job_pod.h"
#include "glue/open/glue.h"

namespace tandem::cli {
namespace {

struct JobPodFlags {
  std::string spec;
  std::string ml_dir = "/opt/ml";
  std::string home = "/tmp/tandem";
  std::string config;
  std::string job_id;
  int attempt = 1;
};

StatusOr<compute::jobs::JobSpec> ReadSpec(const JobPodFlags& f) {
  ASSIGN_OR_RETURN(Json doc, ReadYamlFile(f.spec));
  return compute::jobs::JobSpec::FromJson(doc);
}

StatusOr<glue::Glue> Open(const JobPodFlags& f) {
  ASSIGN_OR_RETURN(Config config, LoadConfig(f.home, f.config, ProcessEnvironment()));
  return glue::OpenGlue(config, Clock::Real());
}

Status Stage(const JobPodFlags& f) {
  ASSIGN_OR_RETURN(compute::jobs::JobSpec spec, ReadSpec(f));
  ASSIGN_OR_RETURN(glue::Glue g, Open(f));
  RETURN_IF_ERROR(compute::kube::StageJobPod(spec, f.ml_dir, *g.store));
  std::cout << "staged " << spec.inputs.size() << " channel(s) into " << f.ml_dir << std::endl;
  return OkStatus();
}

Status Finalize(const JobPodFlags& f) {
  ASSIGN_OR_RETURN(compute::jobs::JobSpec spec, ReadSpec(f));
  ASSIGN_OR_RETURN(glue::Glue g, Open(f));
  ASSIGN_OR_RETURN(compute::jobs::Outcome o,
                   compute::kube::FinalizeJobPod(spec, f.job_id, f.attempt, f.ml_dir, *g.store,
                                                 g.registry.get()));
  if (o.state != compute::jobs::JobState::kCompleted) {
    return FailedPreconditionError("the job failed: " + o.failure_reason);
  }
  std::cout << "model " << o.model_key << " (" << o.model_digest << ")";
  if (!o.registered_model.empty()) {
    std::cout << " registered as " << o.registered_model << "/" << o.registered_version;
    if (!o.registered_alias.empty()) std::cout << " @" << o.registered_alias;
  }
  std::cout << std::endl;
  return OkStatus();
}

}  // namespace

void AddJobPodCommand(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<JobPodFlags>();
  CLI::App* pod = app.add_subcommand(
      "job-pod", "Steps of a Kubernetes Job rendered by `tandem jobs render` (run in its pod)");
  pod->require_subcommand(1);
  pod->footer(
      "Examples:\n  tandem job-pod stage --spec /etc/tandem-job/job.json --ml-dir /opt/ml\n"
      "  tandem job-pod finalize --spec /etc/tandem-job/job.json --ml-dir /opt/ml --job-id churn");
  auto common = [f](CLI::App* c) {
    c->add_option("--spec", f->spec, "The job spec (JSON or YAML)")->required();
    c->add_option("--ml-dir", f->ml_dir, "The SageMaker tree (default /opt/ml)");
    c->add_option("--home", f->home, "State directory (default /tmp/tandem)");
    c->add_option("--config", f->config, "Configuration file (the glue URIs come from TANDEM_*)");
  };
  CLI::App* stage = pod->add_subcommand(
      "stage", "Stage the code and input channels into the /opt/ml tree, write its config files");
  common(stage);
  stage->footer(
      "Example:\n  tandem job-pod stage --spec /etc/tandem-job/job.json --ml-dir /opt/ml");
  stage->callback([&ctx, f] {
    Status s = Stage(*f);
    if (!s.ok()) ctx.Fail(s);
  });
  CLI::App* fin = pod->add_subcommand(
      "finalize", "Pack /opt/ml/model, upload it and register it as the spec says");
  common(fin);
  fin->add_option("--job-id", f->job_id, "The job's id (store keys and lineage)")->required();
  fin->add_option("--attempt", f->attempt, "1-based attempt (default 1)");
  fin->footer(
      "Example:\n  tandem job-pod finalize --spec /etc/tandem-job/job.json --ml-dir /opt/ml "
      "--job-id churn");
  fin->callback([&ctx, f] {
    Status s = Finalize(*f);
    if (!s.ok()) ctx.Fail(s);
  });
}

}  // namespace tandem::cli
