#include "serving/traffic/router.h"

#include <unistd.h>

#include <filesystem>

#include "common/log.h"
#include "glue/bus/event.h"
#include "glue/bus/event_types.h"

namespace tandem::serving::traffic {

namespace fs = std::filesystem;

TrafficRouter::TrafficRouter(TrafficOptions options, TrafficGlue glue, Clock& clock)
    : options_(std::move(options)), glue_(glue), clock_(clock) {}

TrafficRouter::~TrafficRouter() { Stop(); }

Status TrafficRouter::StartSide(const std::string& role, const std::string& target,
                                const std::string& dir,
                                std::unique_ptr<engine::ModelManager>& manager,
                                std::unique_ptr<engine::ModelFollower>& follower,
                                std::string& name) {
  engine::ModelManagerOptions mo;
  mo.batch = options_.batch;
  mo.flavors = options_.flavors;
  manager = std::make_unique<engine::ModelManager>(mo, variant_metrics_, clock_);
  if (!dir.empty()) {
    name = fs::path(dir).lexically_normal().filename().string();
    if (name.empty()) name = role;
    engine::ModelManager* m = manager.get();
    std::string n = name;
    m->SetReloader(n, [m, n, dir] { return m->Load(n, 1, dir); });
    Status s = m->Load(n, 1, dir);
    if (!s.ok()) {
      LogWarn("traffic variant failed to load",
              {{"role", role}, {"dir", dir}, {"error", std::string(s.message())}});
    }
    return OkStatus();
  }
  if (target.empty()) return InvalidArgumentError(role + " needs a model target or a directory");
  if (glue_.registry == nullptr || glue_.store == nullptr || glue_.bus == nullptr) {
    return InvalidArgumentError("following the " + role + " model '" + target +
                                "' needs a registry, a store and a bus");
  }
  ASSIGN_OR_RETURN(registry::ModelRef ref, registry::ParseModelRef(target));
  name = ref.name;
  engine::FollowerOptions fo;
  fo.target = target;
  fo.deployment = options_.deployment.empty() ? options_.primary_model : options_.deployment;
  // Its own queue (serve-<deployment>-<replica>-<role>), not the primary's.
  fo.replica_id =
      (options_.replica_id.empty() ? std::to_string(::getpid()) : options_.replica_id) + "-" + role;
  fo.cache_dir = options_.cache_dir;
  fo.resync_interval_ms = options_.resync_interval_ms;
  follower = std::make_unique<engine::ModelFollower>(fo, *glue_.registry, *glue_.store, *glue_.bus,
                                                     *manager, clock_);
  Status first;
  RETURN_IF_ERROR(Annotate(follower->Start(&first), "following the " + role + " model"));
  if (!first.ok()) {
    LogWarn("traffic variant not loaded yet; following it",
            {{"role", role}, {"target", target}, {"error", std::string(first.message())}});
  }
  return OkStatus();
}

Status TrafficRouter::Start() {
  if (started_) return FailedPreconditionError("traffic router already started");
  RETURN_IF_ERROR(ValidateTrafficPolicy(options_.policy));
  const TrafficPolicy& p = options_.policy;
  if (p.shadow) {
    RETURN_IF_ERROR(StartSide("shadow", p.shadow->model, options_.shadow_dir, shadow_manager_,
                              shadow_follower_, shadow_name_));
    ShadowOptions so;
    so.sample = p.shadow->sample;
    so.queue_capacity = options_.shadow_queue_capacity;
    so.threads = options_.shadow_threads;
    shadow_ = std::make_unique<ShadowMirror>(
        so, [this] { return shadow_manager_->Get(shadow_name_); }, clock_);
  }
  if (p.canary) {
    RETURN_IF_ERROR(StartSide("canary", p.canary->model, options_.canary_dir, canary_manager_,
                              canary_follower_, canary_name_));
    canary_ = std::make_unique<CanarySplit>(*p.canary, clock_);
  }
  started_ = true;
  return OkStatus();
}

void TrafficRouter::Stop() {
  if (shadow_follower_) shadow_follower_->Stop();
  if (canary_follower_) canary_follower_->Stop();
  shadow_.reset();  // joins the workers before the managers go
}

TrafficRoute TrafficRouter::Route(std::shared_ptr<const engine::ServedVersion> primary,
                                  std::string_view version) {
  TrafficRoute r{std::move(primary)};
  if (!canary_ || !version.empty() || r.version->name() != options_.primary_model) return r;
  r.split = true;
  if (canary_->Choose() != Variant::kCandidate) return r;
  auto c = canary_manager_->Get(canary_name_);
  if (!c.ok()) return r;  // the candidate is not ready: the primary answers
  const runtime::Predictor& a = r.version->predictor();
  const runtime::Predictor& b = (*c)->predictor();
  if (a.num_features() != b.num_features() || a.num_outputs() != b.num_outputs()) {
    // The candidate cannot take the primary's requests: a candidate error
    // (towards rollback); the primary answers the caller.
    if (auto d = canary_->Record(Variant::kCandidate, false, 0)) PublishRollback(*d);
    return r;
  }
  r.version = std::move(c).value();
  r.variant = Variant::kCandidate;
  return r;
}

void TrafficRouter::Done(const TrafficRoute& route, const Status& status, int64_t latency_us,
                         const float* rows, size_t n_rows, size_t n_cols, const float* scores,
                         size_t n_outs) {
  if (route.split) {
    if (auto d = canary_->Record(route.variant, status.ok(), latency_us)) PublishRollback(*d);
  }
  if (shadow_ && status.ok() && route.variant == Variant::kPrimary) {
    shadow_->Submit(rows, n_rows, n_cols, scores, n_outs);
  }
}

void TrafficRouter::PublishRollback(const RollbackDecision& d) {
  if (glue_.bus == nullptr) return;
  auto cv = canary_manager_->StatusOf(canary_name_);
  Json detail = {{"deployment", options_.deployment},
                 {"replica", options_.replica_id},
                 {"model", options_.primary_target},
                 {"candidate", canary_->policy().model},
                 {"candidate_version", cv.ok() && cv->version > 0 ? Json(cv->version) : Json()},
                 {"reason", d.reason},
                 {"window", d.window.ToJson()},
                 {"rule", canary_->policy().rollback.ToJson()}};
  bus::Event e = bus::MakeEvent(clock_, std::string(bus::events::kServingSource),
                                std::string(bus::events::kDeploymentCanaryRolledBack),
                                std::move(detail), {"deployment/" + options_.deployment});
  auto s = glue_.bus->Publish(e);
  if (!s.ok()) {
    LogWarn("cannot publish the canary rollback",
            {{"deployment", options_.deployment}, {"error", std::string(s.status().message())}});
  }
}

Json TrafficRouter::Stats() {
  Json j = {{"model", options_.primary_model}};
  auto side = [](engine::ModelManager* m, const std::string& name) {
    Json s = {{"name", name}};
    if (auto st = m->StatusOf(name); st.ok()) {
      s["state"] = engine::ModelStateName(st->state);
      if (st->version > 0) s["version"] = st->version;
      if (!st->reason.empty()) s["reason"] = st->reason;
    } else {
      s["state"] = engine::ModelStateName(engine::ModelState::kUnknown);
    }
    return s;
  };
  if (shadow_) {
    Json s = shadow_->Stats();
    s["model"] =
        options_.policy.shadow->model.empty() ? options_.shadow_dir : options_.policy.shadow->model;
    s["served"] = side(shadow_manager_.get(), shadow_name_);
    j["shadow"] = std::move(s);
  }
  if (canary_) {
    Json c = canary_->Stats();
    if (options_.policy.canary->model.empty()) c["model"] = options_.canary_dir;
    c["served"] = side(canary_manager_.get(), canary_name_);
    j["canary"] = std::move(c);
  }
  return j;
}

void TrafficRouter::Render(std::string& out) const {
  std::string labels = "model=\"" + engine::EscapeLabel(options_.primary_model) + "\"";
  if (shadow_) shadow_->Render(out, labels);
  if (canary_) canary_->Render(out, labels);
}

Status TrafficRouter::SetCanaryWeight(double weight) {
  if (!canary_) return FailedPreconditionError("this replica has no canary");
  if (!(weight >= 0 && weight <= 1)) {
    return InvalidArgumentError("the canary weight must be between 0 and 1");
  }
  canary_->SetWeight(weight);
  return OkStatus();
}

}  // namespace tandem::serving::traffic
