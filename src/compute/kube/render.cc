#include "compute/kube/render.h"

#include <cctype>
#include <cmath>

#include "common/kube/objects.h"
#include "common/kube/quantity.h"
#include "compute/jobs/contract.h"

namespace tandem::compute::kube {
namespace {

using tandem::kube::CommonLabels;
using tandem::kube::Metadata;
using tandem::kube::Object;

constexpr char kSpecDir[] = "/etc/tandem-job";

Status CheckOptions(const JobRenderOptions& o) {
  if (!o.ns.empty()) RETURN_IF_ERROR(tandem::kube::CheckDnsLabel(o.ns, "the namespace"));
  if (o.tandem_image.empty()) return InvalidArgumentError("the tandem image must not be empty");
  RETURN_IF_ERROR(tandem::kube::CheckImagePullPolicy(o.image_pull_policy));
  RETURN_IF_ERROR(tandem::kube::CheckDnsLabel(o.glue_secret, "the glue secret's name"));
  if (o.ttl_seconds_after_finished < 0) {
    return InvalidArgumentError("ttlSecondsAfterFinished must be >= 0");
  }
  return OkStatus();
}

StatusOr<Json> TrainResources(const jobs::Resources& r) {
  Json requests = Json::object();
  Json limits = Json::object();
  ASSIGN_OR_RETURN(requests["cpu"], tandem::kube::CpuQuantity(r.cpus));
  limits["cpu"] = requests["cpu"];
  if (r.memory_mb > 0) {
    ASSIGN_OR_RETURN(requests["memory"], tandem::kube::MemoryQuantity(r.memory_mb));
    limits["memory"] = requests["memory"];
  }
  if (r.gpus > 0) limits["nvidia.com/gpu"] = std::to_string(r.gpus);
  return Json{{"requests", requests}, {"limits", limits}};
}

Json TandemContainer(const std::string& name, const JobRenderOptions& o,
                     std::vector<std::string> args) {
  return Json{{"name", name},
              {"image", o.tandem_image},
              {"imagePullPolicy", o.image_pull_policy},
              {"command", Json::array({"tandem"})},
              {"args", std::move(args)},
              {"env", tandem::kube::GlueEnvironment(o.glue_secret)},
              {"volumeMounts",
               Json::array({Json{{"name", "ml"}, {"mountPath", jobs::kSandboxBase}},
                            Json{{"name", "spec"}, {"mountPath", kSpecDir}, {"readOnly", true}},
                            Json{{"name", "tmp"}, {"mountPath", "/tmp"}}})},
              {"securityContext", {{"allowPrivilegeEscalation", false}}}};
}

}  // namespace

StatusOr<std::vector<Json>> RenderJob(const jobs::JobSpec& spec, const JobRenderOptions& o) {
  RETURN_IF_ERROR(CheckOptions(o));
  if (spec.name.empty()) return InvalidArgumentError("a Kubernetes Job needs the spec's 'name'");
  std::string name;
  for (char c : spec.name) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  RETURN_IF_ERROR(tandem::kube::CheckDnsLabel(name, "the job name"));
  if (name.size() > 58) {
    return InvalidArgumentError(
        "the job name must be at most 58 characters on Kubernetes (its "
        "ConfigMap is <name>-spec), got " +
        std::to_string(name.size()));
  }
  const std::string image = o.image.empty() ? spec.image : o.image;
  if (image.empty()) {
    return InvalidArgumentError(
        "a Kubernetes Job needs a training image: set 'image' in the spec or pass --image");
  }
  const std::string base = jobs::kSandboxBase;
  const int cpus = static_cast<int>(std::ceil(spec.resources.cpus));
  const Json labels = CommonLabels(kJobApp, name, "training", spec.team);

  Json cm = Object("v1", "ConfigMap", Metadata(name + "-spec", o.ns, labels));
  cm["data"] = {{"job.json", spec.ToJson().dump(2) + "\n"}};

  const std::string spec_file = std::string(kSpecDir) + "/job.json";
  Json stage =
      TandemContainer("stage", o, {"job-pod", "stage", "--spec", spec_file, "--ml-dir", base});
  Json finalize = TandemContainer(
      "finalize", o,
      {"job-pod", "finalize", "--spec", spec_file, "--ml-dir", base, "--job-id", name});

  Json env = Json::array();
  for (const auto& [k, v] : jobs::ContractEnvironment(spec, spec.name, base, cpus)) {
    env.push_back(Json{{"name", k}, {"value", v}});
  }
  std::vector<std::string> command = jobs::EntryPointCommand(spec, base);
  ASSIGN_OR_RETURN(Json resources, TrainResources(spec.resources));
  Json train = {{"name", "train"},
                {"image", image},
                {"imagePullPolicy", o.image_pull_policy},
                {"command", command},
                {"workingDir", base + "/code"},
                {"env", env},
                {"resources", resources},
                {"volumeMounts", Json::array({Json{{"name", "ml"}, {"mountPath", base}},
                                              Json{{"name", "tmp"}, {"mountPath", "/tmp"}}})}};

  Json pod_spec = {
      {"restartPolicy", "Never"},
      {"initContainers", Json::array({stage, train})},
      {"containers", Json::array({finalize})},
      {"volumes",
       Json::array({Json{{"name", "ml"}, {"emptyDir", Json::object()}},
                    Json{{"name", "tmp"}, {"emptyDir", Json::object()}},
                    Json{{"name", "spec"}, {"configMap", {{"name", name + "-spec"}}}}})}};
  Json annotations = Json::object();
  if (spec.register_model) {
    annotations["tandem.dev/register"] =
        spec.register_model->model +
        (spec.register_model->alias.empty() ? "" : "@" + spec.register_model->alias);
  }
  Json job = Object("batch/v1", "Job", Metadata(name, o.ns, labels, annotations));
  job["spec"] = {{"activeDeadlineSeconds", spec.max_runtime_seconds},
                 {"backoffLimit", spec.retries},
                 {"ttlSecondsAfterFinished", o.ttl_seconds_after_finished},
                 {"template", {{"metadata", {{"labels", labels}}}, {"spec", pod_spec}}}};
  return std::vector<Json>{std::move(cm), std::move(job)};
}

}  // namespace tandem::compute::kube
