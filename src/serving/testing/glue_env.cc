#include "serving/testing/glue_env.h"

#include <filesystem>

#include "common/clock.h"
#include "glue/store/archive.h"

namespace tandem::serving::testing {

void GlueTestEnv::SetUp() {
  auto db = sql::Database::Open("sqlite://" + dir_.File("tandem.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  db_ = *std::move(db);
  auto bus = bus::SqlEventBus::Attach(*db_, Clock::Real());
  ASSERT_TRUE(bus.ok()) << bus.status();
  bus_ = *std::move(bus);
  auto registry = registry::ModelRegistry::Open(*db_, *bus_->outbox(), Clock::Real());
  ASSERT_TRUE(registry.ok()) << registry.status();
  registry_ = *std::move(registry);
  auto store = store::ObjectStore::Open("file://" + dir_.File("store"));
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
}

int64_t GlueTestEnv::Register(const std::string& path, const std::string& artifact_name,
                              const std::string& model) {
  std::string upload = path;
  if (std::filesystem::is_directory(path)) {
    upload = path + ".tar.gz";
    Status packed = store::PackDirectory(path, upload);
    EXPECT_TRUE(packed.ok()) << packed;
  }
  auto blob = store_->PutBlobFromFile(upload);
  EXPECT_TRUE(blob.ok()) << blob.status();
  if (!blob.ok()) return 0;
  registry::CreateVersionRequest req;
  req.name = model;
  req.source = blob->digest;
  if (!artifact_name.empty()) req.tags["artifact_name"] = artifact_name;
  auto v = registry_->CreateVersion(req);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? v->version : 0;
}

void GlueTestEnv::Alias(const std::string& alias, int64_t version, const std::string& model) {
  Status s = registry_->SetAlias(model, alias, version).status();
  ASSERT_TRUE(s.ok()) << s;
}

std::vector<Json> GlueTestEnv::Events(std::string_view detail_type) {
  bus::TailOptions t;
  t.limit = 1000;
  t.pattern = *bus::Pattern::Parse(Json{{"detail-type", {detail_type}}});
  auto r = bus_->Tail(t);
  EXPECT_TRUE(r.ok()) << r.status();
  std::vector<Json> out;
  if (!r.ok()) return out;
  for (const auto& e : r->events) out.push_back(e.event.detail);
  return out;
}

}  // namespace tandem::serving::testing
