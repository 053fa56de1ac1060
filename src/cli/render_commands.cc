// `tandem deployments render NAME|-f SPEC` (and `tandem jobs render -f SPEC`):
// the Kubernetes objects of a deployment (serving/kube) or a training job
// (compute/kube) as a YAML stream or a JSON List, for `kubectl apply -f -`.
// A NAME is read from the control plane; -f renders a spec offline.
#include <memory>

#include "cli/context.h"
#include "cli/resource_commands.h"
#include "common/kube/manifest.h"
#include "common/yaml.h"
#include "compute/kube/render.h"
#include "serving/kube/render.h"

namespace tandem::cli {
namespace {

// -o table (the default) and yaml write YAML; json writes a List.
StatusOr<kube::ManifestFormat> ManifestFormatOf(const Context& ctx) {
  return kube::ParseManifestFormat(ctx.output == "table" ? "yaml" : ctx.output);
}

struct DeploymentRenderFlags {
  std::string name;
  std::string file;
  serving::kube::RenderOptions options;
};

Status RenderDeployment(Context& ctx, const DeploymentRenderFlags& f) {
  ASSIGN_OR_RETURN(kube::ManifestFormat format, ManifestFormatOf(ctx));
  Json doc;
  if (!f.file.empty()) {
    ASSIGN_OR_RETURN(doc, ReadYamlFile(f.file));
  } else {
    ASSIGN_OR_RETURN(Json d, ctx.Client().Call("GET", "/api/v1/deployments/" + f.name));
    doc = d.value("spec", Json::object());
  }
  ASSIGN_OR_RETURN(serving::fleet::DeploymentSpec spec,
                   serving::fleet::DeploymentSpecFromJson(doc));
  ASSIGN_OR_RETURN(std::vector<Json> objects, serving::kube::RenderDeployment(spec, f.options));
  std::cout << kube::WriteManifest(objects, format);
  return OkStatus();
}

struct JobRenderFlags {
  std::string file;
  bool upload = false;
  compute::kube::JobRenderOptions options;
};

Status RenderJob(Context& ctx, const JobRenderFlags& f) {
  ASSIGN_OR_RETURN(kube::ManifestFormat format, ManifestFormatOf(ctx));
  ASSIGN_OR_RETURN(Json doc, ReadSpecFile(f.file, "job spec"));
  if (f.upload) {
    ApiClient client = ctx.Client();
    RETURN_IF_ERROR(PrepareJobFields(client, doc, std::filesystem::absolute(f.file).parent_path()));
  }
  ASSIGN_OR_RETURN(compute::jobs::JobSpec spec, compute::jobs::JobSpec::FromJson(doc));
  ASSIGN_OR_RETURN(std::vector<Json> objects, compute::kube::RenderJob(spec, f.options));
  std::cout << kube::WriteManifest(objects, format);
  return OkStatus();
}

}  // namespace

void AddJobRenderCommand(CLI::App& jobs, Context& ctx) {
  auto f = std::make_shared<JobRenderFlags>();
  compute::kube::JobRenderOptions& o = f->options;
  CLI::App* render = jobs.add_subcommand(
      "render", "Print a job spec as a Kubernetes Job (stage, train, finalize in one pod)");
  render->add_option("-f,--file", f->file, "Job spec (YAML or JSON)")->required();
  render->add_flag("--upload", f->upload,
                   "Upload a local source_dir to the control plane's store first (as `jobs run` "
                   "does), so the pod can stage it");
  render->add_option("--namespace", o.ns, "metadata.namespace (default: none)");
  render->add_option("--image", o.image, "The training image (default: the spec's image)");
  render->add_option("--tandem-image", o.tandem_image,
                     "The tandem image that stages and finalizes");
  render->add_option("--image-pull-policy", o.image_pull_policy, "Always, IfNotPresent or Never");
  render->add_option("--glue-secret", o.glue_secret,
                     "Secret with the keys database, store and (optional) bus");
  render->add_option("--ttl-seconds", o.ttl_seconds_after_finished,
                     "ttlSecondsAfterFinished (default 86400)");
  render->footer(
      "Examples:\n"
      "  tandem jobs render -f job.yaml | kubectl apply -f -\n"
      "  tandem jobs render -f job.yaml --upload --image registry.local/team/train:1.2 -o json");
  render->callback([&ctx, f] {
    Status s = RenderJob(ctx, *f);
    if (!s.ok()) ctx.Fail(s);
  });
}

void AddDeploymentRenderCommand(CLI::App& deployments, Context& ctx) {
  auto f = std::make_shared<DeploymentRenderFlags>();
  serving::kube::RenderOptions& o = f->options;
  CLI::App* render = deployments.add_subcommand(
      "render", "Print a deployment as Kubernetes objects (Deployment, Service, HPA, PDB, ...)");
  render->add_option("name", f->name, "Deployment on the control plane");
  render->add_option("-f,--file", f->file, "Render this spec (YAML or JSON) offline instead");
  render->add_option("--namespace", o.ns, "metadata.namespace (default: none)");
  render->add_option("--image", o.image, "The tandem serving image");
  render->add_option("--image-pull-policy", o.image_pull_policy, "Always, IfNotPresent or Never");
  render->add_option("--glue-secret", o.glue_secret,
                     "Secret with the keys database, store and (optional) bus");
  render->add_option("--host", o.host, "Address the replica binds in its pod");
  render->add_option("--port", o.port, "Port the replica listens on in its pod");
  render->add_option("--startup-seconds", o.startup_seconds,
                     "Startup probe budget: model load and self-test");
  render->add_option("--drain-seconds", o.drain_seconds,
                     "preStop delay before SIGTERM (endpoints drop the pod first)");
  render->add_option("--grace-seconds", o.grace_seconds,
                     "terminationGracePeriodSeconds (in-flight requests finish within it)");
  render->add_option("--cpu-utilization", o.cpu_utilization,
                     "HPA CPU target, percent of requests.cpu");
  render->add_option("--log-level", o.log_level, "The replicas' log level");
  render->add_option("--tls-secret", o.tls_secret,
                     "kubernetes.io/tls Secret: the replicas serve HTTPS with it (default: plain "
                     "HTTP inside the cluster, TLS at the ingress)");
  render->footer(
      "Examples:\n"
      "  tandem deployments render fraud-api | kubectl apply -f -\n"
      "  tandem deployments render -f deploy.yaml --image registry.local/tandem-serving:1.0\n"
      "  tandem deployments render -f deploy.yaml -o json --namespace ml");
  render->callback([&ctx, f] {
    if (f->name.empty() == f->file.empty()) {
      return ctx.Usage("give exactly one of a deployment NAME and -f SPEC");
    }
    Status s = RenderDeployment(ctx, *f);
    if (!s.ok()) ctx.Fail(s);
  });
}

}  // namespace tandem::cli
