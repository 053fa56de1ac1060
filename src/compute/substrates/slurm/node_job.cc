#include "compute/substrates/slurm/node_job.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/clock.h"
#include "common/log.h"
#include "compute/jobs/spec.h"
#include "compute/kube/job_pod.h"
#include "compute/substrates/runner/protocol.h"
#include "compute/substrates/slurm/step.h"
#include "glue/imagefs/layer_cache.h"
#include "glue/images/image_store.h"
#include "glue/store/archive.h"

namespace tandem::compute::slurm {
namespace {

namespace fs = std::filesystem;

StatusOr<std::string> Field(const Json& j, const char* name, bool required = true) {
  if (!j.contains(name)) {
    if (required) return InvalidArgumentError(std::string("node payload: '") + name + "' missing");
    return std::string();
  }
  if (!j[name].is_string()) {
    return InvalidArgumentError(std::string("node payload: '") + name + "' must be a string");
  }
  return j[name].get<std::string>();
}

void Replace(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

// Moves `from` to `to` when it exists (same filesystem: a rename).
void MoveIfExists(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (!fs::exists(from, ec)) return;
  fs::remove_all(to, ec);
  fs::rename(from, to, ec);
  if (ec) std::fprintf(stderr, "tandem-slurm-node: moving %s: %s\n", from.c_str(),
                       ec.message().c_str());
}

// The node's directories of one attempt.
struct NodeDirs {
  std::string base, ml, state, log, bundle;
};

// Packs the attempt's results and puts them at the bundle key. Returns "" or
// the error (reported on stderr; the control plane then falls back to Slurm's
// state).
std::string UploadBundle(store::ObjectStore& store, const NodeDirs& d, const std::string& key) {
  std::error_code ec;
  fs::remove_all(d.bundle, ec);
  fs::create_directories(d.bundle + "/ml", ec);
  fs::create_directories(d.bundle + "/state", ec);
  MoveIfExists(d.ml + "/model", d.bundle + "/ml/model");
  MoveIfExists(d.ml + "/output", d.bundle + "/ml/output");
  for (const char* f : {runner::kStartedFile, runner::kRunnerLogFile, runner::kResultFile}) {
    fs::copy_file(d.state + "/" + f, d.bundle + "/state/" + f,
                  fs::copy_options::overwrite_existing, ec);
  }
  MoveIfExists(d.log, d.bundle + "/job.log");
  const std::string archive = d.base + "/bundle.tar.gz";
  Status packed = store::PackDirectory(d.bundle, archive);
  if (!packed.ok()) {
    // E.g. a symlink out of the model directory: keep the outcome and the log,
    // and say why the model is missing (the control plane's finalize fails).
    fs::remove_all(d.bundle + "/ml", ec);
    std::ofstream(d.bundle + "/state/" + runner::kRunnerLogFile, std::ios::app)
        << "tandem-slurm-node: the job's results could not be packed: " << packed.message()
        << "\n";
    packed = store::PackDirectory(d.bundle, archive);
    if (!packed.ok()) return std::string(packed.message());
  }
  auto put = store.PutFile(key, archive);
  fs::remove_all(d.bundle, ec);
  fs::remove(archive, ec);
  if (!put.ok()) return std::string(put.status().message());
  return "";
}

// Prepares the job in the node directory; on success `rr` is the request the
// runner reads there.
Status Prepare(const NodePayload& p, const NodeDirs& d, store::ObjectStore& store,
               runner::RunnerRequest& rr, std::unique_ptr<images::ImageStore>& images,
               std::unique_ptr<imagefs::LayerCache>& cache,
               std::optional<imagefs::PreparedImage>& image) {
  ASSIGN_OR_RETURN(jobs::JobSpec spec, jobs::JobSpec::FromJson(p.spec));
  RETURN_IF_ERROR(kube::StageJobPod(spec, d.ml, store));
  jobs::LaunchRequest& launch = rr.launch;
  if (!launch.image_digest.empty()) {
    ASSIGN_OR_RETURN(images, images::ImageStore::Open(p.images_uri, &store, nullptr, nullptr));
    imagefs::LayerCacheOptions co;
    co.dir = p.node_dir + "/cache/images";
    co.max_bytes = p.image_cache_bytes;
    ASSIGN_OR_RETURN(cache, imagefs::LayerCache::Open(co, Clock::Real()));
    auto source = imagefs::StoreSource(*images, launch.image_repository);
    auto prepared = cache->Prepare(launch.image_digest, *source);
    if (!prepared.ok()) {
      return Annotate(prepared.status(), "preparing image " + launch.image_repository + "@" +
                                             launch.image_digest + " on the node");
    }
    image.emplace(std::move(*prepared));
    rr.image_rootfs = image->rootfs();
    rr.image_lock = image->lock_path();
  }
  // Unsandboxed jobs see host paths: the control plane's job directory
  // becomes the node's.
  const std::string old_dir = launch.job_dir;
  for (auto& a : launch.argv) Replace(a, old_dir, d.ml);
  for (auto& [k, v] : launch.env) Replace(v, old_dir, d.ml);
  Replace(launch.working_dir, old_dir, d.ml);
  launch.job_dir = d.ml;
  launch.log_path = d.log;
  std::string e = runner::WriteFileAtomic(d.state + "/" + runner::kRequestFile,
                                          runner::RunnerRequestToJson(rr).dump());
  if (!e.empty()) return InternalError(e);
  return OkStatus();
}

}  // namespace

Json NodePayload::ToJson() const {
  return Json{{"spec", spec},
              {"runner_request", runner_request},
              {"store_uri", store_uri},
              {"images_uri", images_uri},
              {"node_dir", node_dir},
              {"image_cache_bytes", image_cache_bytes},
              {"bundle_key", bundle_key}};
}

StatusOr<NodePayload> NodePayload::FromJson(const Json& j) {
  if (!j.is_object()) return InvalidArgumentError("node payload: not a JSON object");
  NodePayload p;
  if (!j.contains("spec") || !j["spec"].is_object()) {
    return InvalidArgumentError("node payload: 'spec' must be an object");
  }
  if (!j.contains("runner_request") || !j["runner_request"].is_object()) {
    return InvalidArgumentError("node payload: 'runner_request' must be an object");
  }
  p.spec = j["spec"];
  p.runner_request = j["runner_request"];
  ASSIGN_OR_RETURN(p.store_uri, Field(j, "store_uri"));
  ASSIGN_OR_RETURN(p.images_uri, Field(j, "images_uri", false));
  if (p.images_uri.empty()) p.images_uri = "embedded";
  ASSIGN_OR_RETURN(p.node_dir, Field(j, "node_dir"));
  if (p.node_dir.empty() || p.node_dir[0] != '/') {
    return InvalidArgumentError("node payload: 'node_dir' must be an absolute path");
  }
  ASSIGN_OR_RETURN(p.bundle_key, Field(j, "bundle_key"));
  if (j.contains("image_cache_bytes")) {
    if (!j["image_cache_bytes"].is_number_unsigned()) {
      return InvalidArgumentError("node payload: 'image_cache_bytes' must be a positive integer");
    }
    p.image_cache_bytes = j["image_cache_bytes"].get<uint64_t>();
  }
  return p;
}

std::string NodeBundleKey(const std::string& job_id, int attempt) {
  return "jobs/" + job_id + "/attempts/" + std::to_string(attempt) + "/node-bundle.tar.gz";
}

int RunNodeJob(const NodePayload& p, const std::string& runner_path) {
  BlockStepSignals();  // a stop while staging is taken up by RunStep
  runner::RunnerRequest rr;
  if (std::string e = runner::RunnerRequestFromJson(p.runner_request, &rr); !e.empty()) {
    std::fprintf(stderr, "tandem-slurm-node: bad runner request: %s\n", e.c_str());
    return 2;
  }
  NodeDirs d;
  d.base = p.node_dir + "/" + rr.launch.job_id + "-" + std::to_string(rr.launch.attempt);
  d.ml = d.base + "/ml";
  d.state = d.base + "/state";
  d.log = d.base + "/job.log";
  d.bundle = d.base + "/bundle";
  std::error_code ec;
  fs::remove_all(d.base, ec);
  fs::create_directories(d.ml, ec);
  fs::create_directories(d.state, ec);
  if (ec) {
    std::fprintf(stderr, "tandem-slurm-node: cannot create %s: %s\n", d.base.c_str(),
                 ec.message().c_str());
    return 2;
  }
  auto opened = store::ObjectStore::Open(p.store_uri);
  if (!opened.ok()) {
    std::fprintf(stderr, "tandem-slurm-node: cannot open the object store: %s\n",
                 std::string(opened.status().message()).c_str());
    return 2;
  }
  store::ObjectStore& store = **opened;
  bool uploaded = false;
  auto upload = [&] {
    uploaded = true;
    if (std::string e = UploadBundle(store, d, p.bundle_key); !e.empty()) {
      std::fprintf(stderr, "tandem-slurm-node: cannot upload the results: %s\n", e.c_str());
    }
  };
  std::unique_ptr<images::ImageStore> images;
  std::unique_ptr<imagefs::LayerCache> cache;
  std::optional<imagefs::PreparedImage> image;
  const int64_t t0 = runner::WallMicros();
  Status prepared = Prepare(p, d, store, rr, images, cache, image);
  if (!prepared.ok()) {
    jobs::ExitInfo lost;
    lost.kind = jobs::ExitKind::kLost;
    lost.exit_code = 2;
    lost.message = "staging on the Slurm node failed: " + std::string(prepared.message());
    lost.started_micros = 0;
    lost.ended_micros = runner::WallMicros();
    lost.metering.wall_seconds = static_cast<double>(lost.ended_micros - t0) / 1e6;
    (void)runner::WriteFileAtomic(d.state + "/" + runner::kResultFile,
                                  runner::ExitInfoToJson(lost).dump());
    upload();
    fs::remove_all(d.base, ec);
    return 2;
  }
  int code = RunStep(runner_path, d.state, upload);
  // The runner could not start: its log (and no result) still go back, so
  // the control plane's message names the reason.
  if (!uploaded) upload();
  image.reset();
  fs::remove_all(d.base, ec);
  return code;
}

StatusOr<bool> FetchNodeBundle(store::ObjectStore& store, const std::string& key,
                               const std::string& job_dir, const std::string& state_dir,
                               const std::string& log_path) {
  auto stat = store.Stat(key);
  if (!stat.ok()) {
    if (absl::IsNotFound(stat.status())) return false;
    return stat.status();
  }
  const std::string archive = state_dir + "/node-bundle.tar.gz";
  const std::string unpacked = state_dir + "/node-bundle";
  std::error_code ec;
  fs::remove_all(unpacked, ec);
  auto cleanup = [&] {
    fs::remove(archive, ec);
    fs::remove_all(unpacked, ec);
  };
  if (Status s = store.GetToFile(key, archive); !s.ok()) {
    cleanup();
    return absl::IsNotFound(s) ? StatusOr<bool>(false) : StatusOr<bool>(s);
  }
  if (Status s = store::UnpackArchive(archive, unpacked, {}, key); !s.ok()) {
    // Refused (corrupt or unsafe): nothing of it is kept, and the reason
    // goes with Slurm's own outcome (Poll appends runner.log) instead of the
    // job waiting forever on a bundle that will never unpack.
    cleanup();
    std::ofstream(state_dir + "/" + runner::kRunnerLogFile, std::ios::app)
        << "the Slurm node's results " << key << " were refused: " << s.message() << "\n";
    (void)store.Delete(key);
    return false;
  }
  MoveIfExists(unpacked + "/ml/model", job_dir + "/model");
  MoveIfExists(unpacked + "/ml/output", job_dir + "/output");
  if (fs::exists(unpacked + "/job.log", ec)) {
    std::ifstream in(unpacked + "/job.log", std::ios::binary);
    std::ofstream out(log_path, std::ios::binary | std::ios::app);
    out << in.rdbuf();
  }
  // result.json last: its presence says the rest is in place.
  for (const char* f : {runner::kStartedFile, runner::kRunnerLogFile, runner::kResultFile}) {
    MoveIfExists(unpacked + "/state/" + f, state_dir + "/" + f);
  }
  cleanup();
  if (Status s = store.Delete(key); !s.ok()) {
    LogWarn("cannot delete a Slurm node's result bundle",
            {{"key", key}, {"error", std::string(s.message())}});
  }
  return true;
}

}  // namespace tandem::compute::slurm
