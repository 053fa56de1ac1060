#include "glue/registry/testing/model_registry_conformance.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <thread>

namespace tandem::registry {

std::string BackendName(const ::testing::TestParamInfo<RegistryBackend>& info) {
  return info.param.name;
}

Status TableOutbox::CreateTable(sql::Database& db) {
  return db.WithTransaction([](sql::Transaction& tx) {
    return tx
        .Exec(
            "CREATE TABLE IF NOT EXISTS test_outbox_events (seq BIGINT PRIMARY KEY, "
            "detail_type TEXT NOT NULL, body TEXT NOT NULL)")
        .status();
  });
}

Status TableOutbox::Append(sql::Transaction& tx, const bus::Event& event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_on_.empty() && event.detail_type == fail_on_) {
      return UnavailableError("test outbox refuses '" + fail_on_ + "'");
    }
  }
  return tx
      .Exec(
          "INSERT INTO test_outbox_events (seq, detail_type, body) VALUES ((SELECT "
          "COALESCE(MAX(seq), 0) + 1 FROM test_outbox_events), ?, ?)",
          {event.detail_type, event.ToJson().dump()})
      .status();
}

void ModelRegistryConformance::SetUp() {
  auto env = GetParam().make();
  ASSERT_TRUE(env.ok()) << env.status();
  env_ = std::move(*env);
  ASSERT_TRUE(TableOutbox::CreateTable(*env_.db).ok());
  auto r = ModelRegistry::Open(*env_.db, outbox_, clock_);
  ASSERT_TRUE(r.ok()) << r.status();
  registry_ = std::move(*r);
}

void ModelRegistryConformance::TearDown() {
  registry_.reset();
  env_.db.reset();
  if (env_.cleanup) env_.cleanup();
}

std::vector<std::pair<std::string, Json>> ModelRegistryConformance::Events() {
  std::vector<std::pair<std::string, Json>> out;
  Status st = env_.db->Read([&](sql::Transaction& tx) -> Status {
    out.clear();
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT detail_type, body FROM test_outbox_events ORDER BY seq"));
    for (const sql::Row& r : rows) {
      ASSIGN_OR_RETURN(Json body, ParseJson(r.Text(1)));
      EXPECT_EQ(body["source"], "tandem.registry");
      EXPECT_EQ(body["detail-type"], r.Text(0));
      out.emplace_back(r.Text(0), body["detail"]);
    }
    return OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

std::vector<std::string> ModelRegistryConformance::EventTypes() {
  std::vector<std::string> out;
  for (auto& [type, detail] : Events()) out.push_back(type);
  return out;
}

void ModelRegistryConformance::ClearEvents() {
  ASSERT_TRUE(env_.db
                  ->WithTransaction([](sql::Transaction& tx) {
                    return tx.Exec("DELETE FROM test_outbox_events").status();
                  })
                  .ok());
}

StatusOr<ModelVersion> ModelRegistryConformance::NewVersion(const std::string& name,
                                                            VersionStatus status) {
  CreateVersionRequest req;
  req.name = name;
  req.source = "s3://models/" + name + "/model.tar.gz";
  req.status = status;
  return registry_->CreateVersion(req);
}

namespace {

using Types = std::vector<std::string>;
bool Contains(const Status& st, const std::string& text) {
  return std::string(st.message()).find(text) != std::string::npos;
}

TEST_P(ModelRegistryConformance, ModelLifecycle) {
  CreateModelRequest req{"fraud", "detects fraud", "risk", {{"domain", "payments"}}};
  auto created = registry_->CreateModel(req);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->owner_team, "risk");
  EXPECT_EQ(created->tags.at("domain"), "payments");
  EXPECT_EQ(created->created_micros, clock_.NowMicros());
  EXPECT_EQ(created->latest_version, 0);
  auto dup = registry_->CreateModel(req);
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(Contains(dup.status(), "'fraud'")) << dup.status();

  clock_.AdvanceSeconds(5);
  auto updated = registry_->UpdateModel("fraud", {std::string("v2"), std::nullopt});
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->description, "v2");
  EXPECT_EQ(updated->owner_team, "risk");
  EXPECT_GT(updated->updated_micros, updated->created_micros);
  auto got = registry_->GetModel("fraud");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->description, "v2");
  EXPECT_EQ(got->updated_micros, clock_.NowMicros());

  EXPECT_EQ(registry_->UpdateModel("nope", {std::string("x"), std::nullopt}).status().code(),
            StatusCode::kNotFound);
  auto missing = registry_->GetModel("nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status(), "'nope'"));
  EXPECT_EQ(registry_->CreateModel({"bad name", "", "", {}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->CreateModel({"m", "", "", {{"", "v"}}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->GetModel("-x").status().code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(NewVersion("fraud").ok());
  ASSERT_TRUE(registry_->SetAlias("fraud", "champion", 1).ok());
  ClearEvents();
  ASSERT_TRUE(registry_->DeleteModel("fraud").ok());
  EXPECT_EQ(registry_->GetModel("fraud").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->GetVersion("fraud", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->DeleteModel("fraud").code(), StatusCode::kNotFound);
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first, "Model Deleted");
  EXPECT_EQ(events[0].second["versions"], Json::array({1}));
  EXPECT_EQ(events[0].second["aliases"]["champion"], 1);
}

TEST_P(ModelRegistryConformance, VersionNumbersAreNeverReused) {
  for (int i = 1; i <= 3; ++i) {
    auto v = NewVersion("m");
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->version, i);
  }
  ASSERT_TRUE(registry_->DeleteVersion("m", 3).ok());
  EXPECT_EQ(registry_->DeleteVersion("m", 3).code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->GetModel("m")->latest_version, 2);
  EXPECT_EQ(NewVersion("m")->version, 4);
  ASSERT_TRUE(registry_->DeleteModel("m").ok());
  EXPECT_EQ(NewVersion("m")->version, 5);  // a re-created model continues numbering
  EXPECT_EQ(NewVersion("other")->version, 1);
}

TEST_P(ModelRegistryConformance, VersionFieldsRoundTrip) {
  CreateVersionRequest req;
  req.name = "fraud";
  req.source = "sha256:" + std::string(64, 'e');
  req.status = VersionStatus::kPendingRegistration;
  req.status_message = "uploading";
  req.lineage.job_id = "01jobid";
  req.lineage.code_digest = "sha256:code";
  req.lineage.image_digest = "sha256:image";
  req.lineage.inputs = {{"train", "sha256:data"}};
  req.lineage.hyperparameters = {{"max_depth", "6"}};
  req.lineage.metrics = {{"validation:auc", 0.91}};
  req.signature = {{"inputs", {{{"name", "amount"}, {"type", "double"}}}},
                   {"outputs", Json::array()}};
  req.description = "first";
  req.tags = {{"k", "v"}};
  req.run_id = "run-1";
  req.creator = "alice";
  req.owner_team = "risk";
  auto v = registry_->CreateVersion(req);
  ASSERT_TRUE(v.ok()) << v.status();
  auto got = registry_->GetVersion("fraud", 1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->ToJson(), v->ToJson());
  EXPECT_EQ(got->source, req.source);
  EXPECT_EQ(got->status, VersionStatus::kPendingRegistration);
  EXPECT_EQ(got->status_message, "uploading");
  EXPECT_EQ(got->lineage.ToJson(), req.lineage.ToJson());
  EXPECT_EQ(got->signature, req.signature);
  EXPECT_EQ(got->tags, req.tags);
  EXPECT_EQ(got->run_id, "run-1");
  EXPECT_EQ(got->creator, "alice");
  EXPECT_EQ(got->created_micros, clock_.NowMicros());
  EXPECT_EQ(got->ToJson()["version"], "1");
  EXPECT_EQ(registry_->GetModel("fraud")->owner_team, "risk");
  EXPECT_EQ(EventTypes(), (Types{"Model Created", "Model Version Created"}));
  auto detail = Events()[1].second;
  EXPECT_EQ(detail["version"], 1);
  EXPECT_EQ(detail["status"], "PENDING_REGISTRATION");
  EXPECT_EQ(detail["lineage"]["job_id"], "01jobid");

  auto d = registry_->UpdateVersionDescription("fraud", 1, "better");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(registry_->GetVersion("fraud", 1)->description, "better");
}

TEST_P(ModelRegistryConformance, CreateVersionErrors) {
  CreateVersionRequest req;
  req.name = "m";
  EXPECT_EQ(registry_->CreateVersion(req).status().code(), StatusCode::kInvalidArgument);
  req.source = "not a uri";
  auto bad_source = registry_->CreateVersion(req);
  EXPECT_EQ(bad_source.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad_source.status(), "not a uri"));
  req.source = "file:///m";
  req.signature = Json::array();
  EXPECT_EQ(registry_->CreateVersion(req).status().code(), StatusCode::kInvalidArgument);
  req.signature = Json::object();
  req.tags = {{"k", std::string(5001, 'v')}};
  EXPECT_EQ(registry_->CreateVersion(req).status().code(), StatusCode::kInvalidArgument);
  req.tags = {};
  req.create_model_if_missing = false;
  EXPECT_EQ(registry_->CreateVersion(req).status().code(), StatusCode::kNotFound);
  req.name = "bad/name";
  EXPECT_EQ(registry_->CreateVersion(req).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(EventTypes().empty());
  EXPECT_EQ(registry_->GetVersion("m", 0).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(registry_->CreateModel({"m", "", "", {}}).ok());
  auto missing = registry_->GetVersion("m", 7);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status(), "'m/7'")) << missing.status();
  req.name = "m";
  EXPECT_EQ(registry_->CreateVersion(req)->version, 1);  // exists now: flag irrelevant
}

TEST_P(ModelRegistryConformance, StatusTransitions) {
  ASSERT_TRUE(NewVersion("m", VersionStatus::kPendingRegistration).ok());
  ASSERT_TRUE(NewVersion("m", VersionStatus::kPendingRegistration).ok());
  ClearEvents();
  auto ready = registry_->UpdateVersionStatus("m", 1, VersionStatus::kReady, "done");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, VersionStatus::kReady);
  EXPECT_EQ(registry_->GetVersion("m", 1)->status_message, "done");
  // Same status again: no-op, no event.
  ASSERT_TRUE(registry_->UpdateVersionStatus("m", 1, VersionStatus::kReady).ok());
  auto back = registry_->UpdateVersionStatus("m", 1, VersionStatus::kFailedRegistration);
  EXPECT_EQ(back.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(back.status(), "READY")) << back.status();
  ASSERT_TRUE(registry_->UpdateVersionStatus("m", 2, VersionStatus::kFailedRegistration, "x").ok());
  EXPECT_EQ(registry_->UpdateVersionStatus("m", 9, VersionStatus::kReady).status().code(),
            StatusCode::kNotFound);
  auto events = Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].second, Json({{"name", "m"},
                                    {"version", 1},
                                    {"status", "READY"},
                                    {"previous_status", "PENDING_REGISTRATION"},
                                    {"status_message", "done"}}));
  EXPECT_EQ(events[1].second["status"], "FAILED_REGISTRATION");
}

TEST_P(ModelRegistryConformance, AliasesSetMoveResolveDelete) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(NewVersion("fraud").ok());
  ClearEvents();
  auto set = registry_->SetAlias("fraud", "champion", 1);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->aliases, std::vector<std::string>{"champion"});
  ASSERT_TRUE(registry_->SetAlias("fraud", "champion", 1).ok());  // unchanged: no event
  ASSERT_TRUE(registry_->SetAlias("fraud", "champion", 2).ok());  // move
  ASSERT_TRUE(registry_->SetAlias("fraud", "challenger", 3).ok());
  EXPECT_EQ(registry_->GetVersion("fraud", 1)->aliases.size(), 0u);
  EXPECT_EQ(registry_->GetVersionByAlias("fraud", "champion")->version, 2);
  EXPECT_EQ(registry_->Resolve("fraud@challenger")->version, 3);
  EXPECT_EQ(registry_->Resolve("fraud/1")->version, 1);
  EXPECT_EQ(registry_->Resolve("fraud")->version, 3);
  auto model = registry_->GetModel("fraud");
  EXPECT_EQ(model->aliases, (std::map<std::string, int64_t>{{"challenger", 3}, {"champion", 2}}));

  auto events = Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].second["previous_version"], nullptr);
  EXPECT_EQ(
      events[1].second,
      Json({{"name", "fraud"}, {"alias", "champion"}, {"version", 2}, {"previous_version", 1}}));

  // Errors.
  EXPECT_EQ(registry_->SetAlias("fraud", "champion", 9).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->SetAlias("nope", "champion", 1).status().code(), StatusCode::kNotFound);
  for (const char* bad : {"Champion", "3", "", "a.b"}) {
    EXPECT_EQ(registry_->SetAlias("fraud", bad, 1).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
  auto unknown = registry_->Resolve("fraud@shadow");
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(unknown.status(), "'shadow'")) << unknown.status();
  EXPECT_EQ(registry_->Resolve("ghost@champion").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->Resolve("fraud/42").status().code(), StatusCode::kNotFound);
  auto bad_ref = registry_->Resolve("fraud@@x");
  EXPECT_EQ(bad_ref.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad_ref.status(), "'fraud@@x'"));

  ClearEvents();
  ASSERT_TRUE(registry_->DeleteAlias("fraud", "challenger").ok());
  EXPECT_EQ(registry_->DeleteAlias("fraud", "challenger").code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->Resolve("fraud@challenger").status().code(), StatusCode::kNotFound);
  // Deleting a version removes the aliases that point at it.
  ASSERT_TRUE(registry_->DeleteVersion("fraud", 2).ok());
  EXPECT_EQ(registry_->Resolve("fraud@champion").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(registry_->GetModel("fraud")->aliases.empty());
  EXPECT_EQ(EventTypes(),
            (Types{"Model Alias Deleted", "Model Alias Deleted", "Model Version Deleted"}));
  EXPECT_EQ(Events()[1].second["alias"], "champion");
}

TEST_P(ModelRegistryConformance, LatestIsHighestReadyVersion) {
  ASSERT_TRUE(registry_->CreateModel({"m", "", "", {}}).ok());
  auto none = registry_->Resolve("m");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(none.status(), "READY"));
  EXPECT_EQ(registry_->Resolve("ghost").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(NewVersion("m").ok());
  ASSERT_TRUE(NewVersion("m").ok());
  ASSERT_TRUE(NewVersion("m", VersionStatus::kPendingRegistration).ok());
  EXPECT_EQ(registry_->Resolve("m")->version, 2);
  EXPECT_EQ(registry_->GetModel("m")->latest_version, 3);
}

TEST_P(ModelRegistryConformance, Tags) {
  ASSERT_TRUE(NewVersion("m").ok());
  ClearEvents();
  ASSERT_TRUE(registry_->SetModelTag("m", "team", "a").ok());
  ASSERT_TRUE(registry_->SetModelTag("m", "team", "b").ok());  // overwrite
  EXPECT_EQ(registry_->GetModel("m")->tags, (std::map<std::string, std::string>{{"team", "b"}}));
  ASSERT_TRUE(registry_->SetVersionTag("m", 1, "validated", "true").ok());
  EXPECT_EQ(registry_->GetVersion("m", 1)->tags.at("validated"), "true");
  ASSERT_TRUE(registry_->DeleteVersionTag("m", 1, "validated").ok());
  EXPECT_TRUE(registry_->GetVersion("m", 1)->tags.empty());
  ASSERT_TRUE(registry_->DeleteModelTag("m", "team").ok());
  EXPECT_TRUE(registry_->GetModel("m")->tags.empty());
  auto events = Events();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[1].second,
            Json({{"name", "m"}, {"version", nullptr}, {"key", "team"}, {"value", "b"}}));
  EXPECT_EQ(events[3].second,
            Json({{"name", "m"}, {"version", 1}, {"key", "validated"}, {"value", nullptr}}));

  EXPECT_EQ(registry_->DeleteModelTag("m", "team").code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->DeleteVersionTag("m", 1, "nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->SetModelTag("ghost", "k", "v").code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->SetVersionTag("m", 5, "k", "v").code(), StatusCode::kNotFound);
  EXPECT_EQ(registry_->SetModelTag("m", "", "v").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->SetModelTag("m", std::string(251, 'k'), "v").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->SetVersionTag("m", 1, "k", std::string(5001, 'v')).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Events().size(), 5u);
}

TEST_P(ModelRegistryConformance, CountModelsCountsWithoutListing) {
  auto none = registry_->CountModels();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(registry_->CreateModel({"count_" + std::to_string(i), "", "risk", {}}).ok());
  }
  EXPECT_EQ(*registry_->CountModels(), 5);
  ASSERT_TRUE(registry_->DeleteModel("count_3").ok());
  EXPECT_EQ(*registry_->CountModels(), 4);
}

TEST_P(ModelRegistryConformance, SearchModelsFiltersAndPages) {
  for (int i = 0; i < 10; ++i) {
    std::string team = i % 2 == 0 ? "risk" : "growth";
    ASSERT_TRUE(
        registry_
            ->CreateModel(
                {"model_" + std::to_string(i), "", team, {{"tier", i < 3 ? "gold" : "silver"}}})
            .ok());
  }
  ASSERT_TRUE(registry_->CreateModel({"Fraud-Model", "", "risk", {}}).ok());
  ASSERT_TRUE(registry_->CreateModel({"model%x", "", "", {}}).status().code() ==
              StatusCode::kInvalidArgument);

  std::vector<std::string> seen;
  ModelSearch s;
  s.max_results = 3;
  int pages = 0;
  do {
    auto page = registry_->SearchModels(s);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->items.size(), 3u);
    for (auto& m : page->items) seen.push_back(m.name);
    s.page_token = page->next_page_token;
    ASSERT_LT(++pages, 10);
  } while (!s.page_token.empty());
  EXPECT_EQ(pages, 4);
  ASSERT_EQ(seen.size(), 11u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 11u);

  auto names = [&](ModelSearch q) {
    std::vector<std::string> out;
    auto page = registry_->SearchModels(q);
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (auto& m : page->items) out.push_back(m.name);
    }
    return out;
  };
  ModelSearch q;
  q.owner_team = "growth";
  EXPECT_EQ(names(q).size(), 5u);
  q = {};
  q.tags = {{"tier", "gold"}};
  EXPECT_EQ(names(q), (Types{"model_0", "model_1", "model_2"}));
  q.owner_team = "risk";
  EXPECT_EQ(names(q), (Types{"model_0", "model_2"}));
  q = {};
  q.name_prefix = "model_";
  EXPECT_EQ(names(q).size(), 10u);
  q.name_prefix = "Model";  // prefix is case-sensitive
  EXPECT_TRUE(names(q).empty());
  q = {};
  q.name_contains = "FRAUD";  // substring is case-insensitive
  EXPECT_EQ(names(q), (Types{"Fraud-Model"}));
  q.name_contains = "l_1";  // '_' is literal, not a LIKE wildcard
  EXPECT_EQ(names(q), (Types{"model_1"}));
  q.name_contains = "%";
  EXPECT_TRUE(names(q).empty());

  q = {};
  q.page_token = "zz";
  EXPECT_EQ(registry_->SearchModels(q).status().code(), StatusCode::kInvalidArgument);
  q.page_token = "";
  q.max_results = 1001;
  EXPECT_EQ(registry_->SearchModels(q).status().code(), StatusCode::kInvalidArgument);
  q.max_results = -1;
  EXPECT_EQ(registry_->SearchModels(q).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(ModelRegistryConformance, SearchVersionsPagesNewestFirst) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(
        NewVersion("m", i % 3 == 0 ? VersionStatus::kPendingRegistration : VersionStatus::kReady)
            .ok());
  }
  ASSERT_TRUE(registry_->DeleteVersion("m", 5).ok());
  std::vector<int64_t> seen;
  VersionSearch s;
  s.max_results = 2;
  do {
    auto page = registry_->SearchVersions("m", s);
    ASSERT_TRUE(page.ok()) << page.status();
    for (auto& v : page->items) seen.push_back(v.version);
    s.page_token = page->next_page_token;
  } while (!s.page_token.empty());
  EXPECT_EQ(seen, (std::vector<int64_t>{7, 6, 4, 3, 2, 1}));
  VersionSearch pending;
  pending.status = VersionStatus::kPendingRegistration;
  auto page = registry_->SearchVersions("m", pending);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 3u);  // versions 7, 4, 1
  EXPECT_EQ(page->items[0].version, 7);
  EXPECT_EQ(registry_->SearchVersions("ghost", {}).status().code(), StatusCode::kNotFound);
  VersionSearch bad;
  bad.page_token = "6d3a78";  // a model token, not a version token
  EXPECT_EQ(registry_->SearchVersions("m", bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(ModelRegistryConformance, SearchVersionsCarryEachVersionsTagsAndAliases) {
  // Versions 1..6 (3 and 6 pending); each version's own tags and aliases,
  // whatever the page and the status filter leave out around it.
  for (int i = 1; i <= 6; ++i) {
    ASSERT_TRUE(
        NewVersion("m", i % 3 == 0 ? VersionStatus::kPendingRegistration : VersionStatus::kReady)
            .ok());
  }
  ASSERT_TRUE(NewVersion("other").ok());  // same numbers, another model
  ASSERT_TRUE(registry_->SetVersionTag("other", 1, "k", "other").ok());
  ASSERT_TRUE(registry_->SetAlias("other", "champion", 1).ok());
  for (int64_t v : {1, 2, 3, 5}) {
    ASSERT_TRUE(registry_->SetVersionTag("m", v, "k", "v" + std::to_string(v)).ok());
  }
  ASSERT_TRUE(registry_->SetVersionTag("m", 2, "second", "yes").ok());
  ASSERT_TRUE(registry_->SetAlias("m", "zeta", 2).ok());
  ASSERT_TRUE(registry_->SetAlias("m", "alpha", 2).ok());
  ASSERT_TRUE(registry_->SetAlias("m", "champion", 3).ok());
  ASSERT_TRUE(registry_->SetAlias("m", "gone", 4).ok());
  std::map<int64_t, ModelVersion> seen;
  VersionSearch s;
  s.max_results = 4;
  do {
    auto page = registry_->SearchVersions("m", s);
    ASSERT_TRUE(page.ok()) << page.status();
    for (auto& v : page->items) seen[v.version] = v;
    s.page_token = page->next_page_token;
  } while (!s.page_token.empty());
  ASSERT_EQ(seen.size(), 6u);
  for (const auto& [n, v] : seen) {
    auto one = registry_->GetVersion("m", n);
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_EQ(v.tags, one->tags) << "version " << n;
    EXPECT_EQ(v.aliases, one->aliases) << "version " << n;
  }
  EXPECT_EQ(seen[2].tags, (std::map<std::string, std::string>{{"k", "v2"}, {"second", "yes"}}));
  EXPECT_EQ(seen[2].aliases, (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_EQ(seen[3].aliases, (std::vector<std::string>{"champion"}));
  EXPECT_TRUE(seen[6].tags.empty());
  EXPECT_TRUE(seen[6].aliases.empty());
  VersionSearch ready;
  ready.status = VersionStatus::kReady;  // 5, 4, 2, 1: 3 is skipped between them
  auto page = registry_->SearchVersions("m", ready);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->items.size(), 4u);
  EXPECT_EQ(page->items[0].tags, (std::map<std::string, std::string>{{"k", "v5"}}));
  EXPECT_EQ(page->items[1].aliases, (std::vector<std::string>{"gone"}));
  EXPECT_EQ(page->items[2].aliases, (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_EQ(page->items[3].tags, (std::map<std::string, std::string>{{"k", "v1"}}));
  EXPECT_TRUE(page->items[3].aliases.empty());
}

TEST_P(ModelRegistryConformance, FailedOutboxLeavesNoChangeAndNoEvent) {
  outbox_.FailOn("Model Version Created");
  // Model Created is appended first, then the version's event fails: the whole
  // transaction (model, counter, version, first event) must roll back.
  auto v = NewVersion("m");
  EXPECT_EQ(v.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(registry_->GetModel("m").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Events().empty());
  outbox_.FailOn("Model Alias Changed");
  ASSERT_TRUE(NewVersion("m").ok());
  EXPECT_EQ(registry_->GetVersion("m", 1)->version, 1);  // counter was rolled back too
  EXPECT_FALSE(registry_->SetAlias("m", "champion", 1).ok());
  EXPECT_EQ(registry_->Resolve("m@champion").status().code(), StatusCode::kNotFound);
  outbox_.FailOn("Model Deleted");
  EXPECT_FALSE(registry_->DeleteModel("m").ok());
  EXPECT_TRUE(registry_->GetVersion("m", 1).ok());
  EXPECT_EQ(EventTypes(), (Types{"Model Created", "Model Version Created"}));
}

TEST_P(ModelRegistryConformance, SuccessfulMutationsEmitExactlyTheirEventsInOrder) {
  ASSERT_TRUE(registry_->CreateModel({"m", "d", "t", {}}).ok());
  ASSERT_TRUE(NewVersion("m", VersionStatus::kPendingRegistration).ok());
  ASSERT_TRUE(registry_->UpdateVersionStatus("m", 1, VersionStatus::kReady).ok());
  ASSERT_TRUE(registry_->SetAlias("m", "champion", 1).ok());
  ASSERT_TRUE(registry_->SetModelTag("m", "k", "v").ok());
  ASSERT_TRUE(registry_->UpdateModel("m", {std::nullopt, std::string("t2")}).ok());
  ASSERT_TRUE(registry_->DeleteAlias("m", "champion").ok());
  ASSERT_TRUE(registry_->DeleteVersion("m", 1).ok());
  ASSERT_TRUE(registry_->DeleteModel("m").ok());
  EXPECT_EQ(EventTypes(),
            (Types{"Model Created", "Model Version Created", "Model Version Status Changed",
                   "Model Alias Changed", "Model Tag Changed", "Model Updated",
                   "Model Alias Deleted", "Model Version Deleted", "Model Deleted"}));
  // Envelope: resources name the model and, for version events, the version.
  Status st = env_.db->Read([&](sql::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(sql::Row r, tx.QueryOne("SELECT body FROM test_outbox_events WHERE seq = 2"));
    ASSIGN_OR_RETURN(Json body, ParseJson(r.Text(0)));
    EXPECT_EQ(body["resources"], Json({"model/m", "model/m/1"}));
    EXPECT_EQ(body["version"], "0");
    EXPECT_FALSE(body["id"].get<std::string>().empty());
    return OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
}

TEST_P(ModelRegistryConformance, ConcurrentThreadsGetDistinctConsecutiveVersions) {
  constexpr int kThreads = 4, kPerThread = 15;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<int64_t> versions;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        auto v = NewVersion("shared");  // the first ones race to create the model too
        if (!v.ok()) {
          failures++;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        versions.push_back(v->version);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::sort(versions.begin(), versions.end());
  std::vector<int64_t> expected(kThreads * kPerThread);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(versions, expected);
  // What is stored is exactly what was handed out: every number once, no
  // more.
  for (int64_t v = 1; v <= kThreads * kPerThread; ++v) {
    auto got = registry_->GetVersion("shared", v);
    ASSERT_TRUE(got.ok()) << "version " << v << ": " << got.status();
    EXPECT_EQ(got->version, v);
  }
  EXPECT_EQ(registry_->GetVersion("shared", kThreads * kPerThread + 1).status().code(),
            StatusCode::kNotFound);
  auto model = registry_->GetModel("shared");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->latest_version, kThreads * kPerThread);
  auto types = EventTypes();
  EXPECT_EQ(std::count(types.begin(), types.end(), "Model Created"), 1);
  EXPECT_EQ(std::count(types.begin(), types.end(), "Model Version Created"), kThreads * kPerThread);
}

TEST_P(ModelRegistryConformance, TwoProcessesGetDistinctConsecutiveVersions) {
  constexpr int kPerProcess = 25;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child opens its own database handle and registry.
    auto db = sql::Database::Open(env_.uri);
    if (!db.ok()) _exit(2);
    TableOutbox outbox;
    auto reg = ModelRegistry::Open(**db, outbox, Clock::Real());
    if (!reg.ok()) _exit(3);
    int failed = 0;
    for (int i = 0; i < kPerProcess; ++i) {
      CreateVersionRequest req;
      req.name = "shared";
      req.source = "file:///child";
      failed += (*reg)->CreateVersion(req).ok() ? 0 : 1;
    }
    _exit(failed == 0 ? 0 : 1);
  }
  int failed = 0;
  for (int i = 0; i < kPerProcess; ++i) failed += NewVersion("shared").ok() ? 0 : 1;
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  EXPECT_EQ(failed, 0);
  std::vector<int64_t> versions;
  VersionSearch s;
  s.max_results = 1000;
  auto page = registry_->SearchVersions("shared", s);
  ASSERT_TRUE(page.ok()) << page.status();
  for (auto& v : page->items) versions.push_back(v.version);
  std::sort(versions.begin(), versions.end());
  std::vector<int64_t> expected(2 * kPerProcess);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(versions, expected);
  EXPECT_EQ(Events().size(), 2u * kPerProcess + 1);  // + one Model Created
}

}  // namespace
}  // namespace tandem::registry
