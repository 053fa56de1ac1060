// Runs the ModelRegistry conformance suite against the SQL registry on
// PostgreSQL (the server ctest starts), each test in a fresh database that is
// dropped afterwards. Same SQL as the SQLite run (sql_model_registry_test.cc).
// Plus many concurrent writers through the production outbox (the SQL bus on
// the same database), which on PostgreSQL really run in parallel.
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/testing/test_server.h"
#include "glue/bus/event_types.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/registry/testing/model_registry_conformance.h"
#include "glue/sql/database.h"
#include "glue/sql/postgres_database.h"
#include "glue/sql/testing/postgres_test_db.h"

namespace tandem::registry {
namespace {

std::vector<RegistryBackend> PostgresBackends() {
  std::optional<std::string> server = sql::testing::ServerUri();
  if (!server) return {};  // PostgresServer.Available says why
  return {{"Postgres", [server = *server]() -> StatusOr<RegistryTestEnv> {
             ASSIGN_OR_RETURN(std::unique_ptr<sql::testing::TestDatabase> fresh,
                              sql::testing::TestDatabase::Create(server));
             RegistryTestEnv env;
             env.uri = fresh->uri();
             ASSIGN_OR_RETURN(env.db, sql::Database::Open(env.uri));
             std::shared_ptr<sql::testing::TestDatabase> keep(std::move(fresh));
             env.cleanup = [keep]() mutable { keep.reset(); };
             return env;
           }}};
}

TEST(PostgresServer, Available) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", uri);
  EXPECT_TRUE(uri.starts_with("postgres://")) << uri;
}

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 1);
  return v;
}

// 8 threads create versions of one shared model and 8 more one model each,
// all at once, while another thread keeps moving the shared model's alias to
// its latest version: every model's numbers are exactly 1..n (none lost or
// given twice), each creation has exactly one event, the alias moves form one
// chain (each move's previous_version is the version the move before set),
// and no transaction had to be retried (writers of one model queue on it).
TEST(PostgresRegistryConcurrency, ManyWritersOnOneModelAndOnManyModels) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", server);
  auto fresh = sql::testing::TestDatabase::Create(server);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  auto db = sql::Database::Open((*fresh)->uri());
  ASSERT_TRUE(db.ok()) << db.status();
  auto* pg = dynamic_cast<sql::PostgresDatabase*>(db->get());
  ASSERT_NE(pg, nullptr);
  auto bus = bus::SqlEventBus::Attach(**db, Clock::Real());
  ASSERT_TRUE(bus.ok()) << bus.status();
  auto reg = ModelRegistry::Open(**db, *(*bus)->outbox(), Clock::Real());
  ASSERT_TRUE(reg.ok()) << reg.status();
  const int64_t retries_before = pg->retries();

  constexpr int kSharedWriters = 8, kOwnWriters = 8, kPerWriter = 25;
  std::atomic<int> failures{0};
  std::atomic<int> writers_left{kSharedWriters + kOwnWriters};
  std::vector<std::thread> threads;
  for (int t = 0; t < kSharedWriters + kOwnWriters; ++t) {
    threads.emplace_back([&, t] {
      CreateVersionRequest req;
      req.name = t < kSharedWriters ? "shared" : "own-" + std::to_string(t);
      req.source = "s3://models/" + req.name + "/model.tar.gz";
      req.tags = {{"writer", std::to_string(t)}};
      for (int i = 0; i < kPerWriter; ++i) {
        auto v = (*reg)->CreateVersion(req);
        if (!v.ok()) {
          ADD_FAILURE() << v.status();
          failures++;
        }
      }
      writers_left--;
    });
  }
  int alias_moves = 0;
  threads.emplace_back([&] {
    int64_t last = 0;
    for (bool done = false; !done;) {
      done = writers_left.load() == 0;  // one last move after the writers are through
      auto m = (*reg)->GetModel("shared");
      if (!m.ok() || m->latest_version == last) continue;  // not created yet / no new version
      last = m->latest_version;
      auto v = (*reg)->SetAlias("shared", "champion", last);
      if (!v.ok()) {
        ADD_FAILURE() << v.status();
        failures++;
        return;
      }
      ++alias_moves;
    }
  });
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(pg->retries(), retries_before);

  auto versions_of = [&](const std::string& name) {
    std::vector<int64_t> out;
    VersionSearch s;
    s.max_results = 1000;
    auto page = (*reg)->SearchVersions(name, s);
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& v : page->items) out.push_back(v.version);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(versions_of("shared"), Iota(kSharedWriters * kPerWriter));
  for (int t = kSharedWriters; t < kSharedWriters + kOwnWriters; ++t) {
    EXPECT_EQ(versions_of("own-" + std::to_string(t)), Iota(kPerWriter)) << t;
  }

  // Every event, in sequence order.
  std::vector<bus::SequencedEvent> events;
  for (int64_t after = 0;;) {
    auto page = (*bus)->Tail(bus::TailOptions{.after_seq = after, .limit = 1000});
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->events.empty()) break;
    after = page->last_seq;
    for (auto& e : page->events) events.push_back(std::move(e));
  }
  std::map<std::string, std::vector<int64_t>> created;  // model -> versions in its events
  std::map<std::string, int> models_created;
  std::vector<std::pair<Json, Json>> moves;  // (previous_version, version) of "champion"
  for (const auto& se : events) {
    const Json& d = se.event.detail;
    const std::string type = se.event.detail_type;
    if (type == bus::events::kModelCreated) {
      models_created[d["name"].get<std::string>()]++;
    } else if (type == bus::events::kModelVersionCreated) {
      created[d["name"].get<std::string>()].push_back(d["version"].get<int64_t>());
    } else if (type == bus::events::kModelAliasChanged) {
      moves.emplace_back(d["previous_version"], d["version"]);
    }
  }
  EXPECT_EQ(models_created.size(), static_cast<size_t>(1 + kOwnWriters));
  for (const auto& [name, n] : models_created) EXPECT_EQ(n, 1) << name;
  for (auto& [name, vs] : created) {
    // Within a model, events are appended under its lock: in version order.
    EXPECT_TRUE(std::is_sorted(vs.begin(), vs.end())) << name;
    EXPECT_EQ(vs, Iota(name == "shared" ? kSharedWriters * kPerWriter : kPerWriter)) << name;
  }
  ASSERT_EQ(moves.size(), static_cast<size_t>(alias_moves));
  ASSERT_FALSE(moves.empty());
  EXPECT_TRUE(moves[0].first.is_null());
  for (size_t i = 1; i < moves.size(); ++i) {
    EXPECT_EQ(moves[i].first, moves[i - 1].second) << "move " << i;
    EXPECT_LT(moves[i - 1].second.get<int64_t>(), moves[i].second.get<int64_t>());
  }
  auto champion = (*reg)->GetVersionByAlias("shared", "champion");
  ASSERT_TRUE(champion.ok()) << champion.status();
  EXPECT_EQ(Json(champion->version), moves.back().second);
}

// Concurrent creations of one model (group committed in batches), each with
// an event of its own in CreateVersionRequest::also_publish (as the REST API
// sends its audit event): every extra event is committed exactly once, after
// its version's "Model Version Created" event.
TEST(PostgresRegistryConcurrency, ExtraEventsCommitOncePerCreation) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", server);
  auto fresh = sql::testing::TestDatabase::Create(server);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  auto db = sql::Database::Open((*fresh)->uri());
  ASSERT_TRUE(db.ok()) << db.status();
  auto bus = bus::SqlEventBus::Attach(**db, Clock::Real());
  ASSERT_TRUE(bus.ok()) << bus.status();
  auto reg = ModelRegistry::Open(**db, *(*bus)->outbox(), Clock::Real());
  ASSERT_TRUE(reg.ok()) << reg.status();

  constexpr int kWriters = 8, kPerWriter = 25;
  std::mutex mu;
  std::map<std::string, int64_t> version_of;  // extra event id -> its creation's version
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerWriter; ++i) {
        CreateVersionRequest req;
        req.name = "shared";
        req.source = "s3://models/shared/model.tar.gz";
        req.also_publish = {bus::MakeEvent(Clock::Real(), "tandem.audit", "API Request",
                                           {{"writer", t}, {"i", i}})};
        auto v = (*reg)->CreateVersion(req);
        ASSERT_TRUE(v.ok()) << v.status();
        std::lock_guard<std::mutex> lock(mu);
        version_of[req.also_publish[0].id] = v->version;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(version_of.size(), static_cast<size_t>(kWriters * kPerWriter));

  std::map<std::string, int> seen;
  int64_t last_created = 0;  // the version of the last "Model Version Created" seen
  for (int64_t after = 0;;) {
    auto page = (*bus)->Tail(bus::TailOptions{.after_seq = after, .limit = 1000});
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->events.empty()) break;
    after = page->last_seq;
    for (const auto& se : page->events) {
      if (se.event.detail_type == bus::events::kModelVersionCreated) {
        last_created = se.event.detail["version"].get<int64_t>();
      } else if (se.event.source == "tandem.audit") {
        seen[se.event.id]++;
        auto it = version_of.find(se.event.id);
        ASSERT_NE(it, version_of.end()) << se.event.id;
        EXPECT_EQ(it->second, last_created) << "an extra event follows its own version's event";
      }
    }
  }
  EXPECT_EQ(seen.size(), version_of.size());
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
}

// Concurrent creations of one model (batches pipelined: the next one sent
// while the previous one's round trip is under way) where every 7th request
// is invalid (an extra event without an id, refused by the outbox): only
// those fail, with InvalidArgument and nothing of theirs committed; every
// other request gets its number, the numbers are exactly 1..n (none lost or
// given twice), each valid request's event is committed once, and the
// model's alias still points at the version it was set to.
TEST(PostgresRegistryConcurrency, InvalidRequestsInPipelinedBatchesFailAlone) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", server);
  auto fresh = sql::testing::TestDatabase::Create(server);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  auto db = sql::Database::Open((*fresh)->uri());
  ASSERT_TRUE(db.ok()) << db.status();
  auto bus = bus::SqlEventBus::Attach(**db, Clock::Real());
  ASSERT_TRUE(bus.ok()) << bus.status();
  auto reg = ModelRegistry::Open(**db, *(*bus)->outbox(), Clock::Real());
  ASSERT_TRUE(reg.ok()) << reg.status();
  CreateVersionRequest first;
  first.name = "mixed";
  first.source = "s3://models/mixed/1";
  auto v1 = (*reg)->CreateVersion(first);
  ASSERT_TRUE(v1.ok()) << v1.status();
  ASSERT_TRUE((*reg)->SetAlias("mixed", "champion", v1->version).ok());

  constexpr int kWriters = 8, kPerWriter = 28;
  std::mutex mu;
  std::set<int64_t> numbers;
  std::set<std::string> good_ids, bad_sources;
  int refused = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerWriter; ++i) {
        const bool bad = (t * kPerWriter + i) % 7 == 3;
        CreateVersionRequest req;
        req.name = "mixed";
        req.source = "s3://models/mixed/" + std::to_string(t) + "-" + std::to_string(i);
        req.also_publish = {bus::MakeEvent(Clock::Real(), "tandem.audit", "API Request",
                                           {{"writer", t}, {"i", i}})};
        if (bad) req.also_publish[0].id.clear();
        auto v = (*reg)->CreateVersion(req);
        std::lock_guard<std::mutex> lock(mu);
        if (bad) {
          EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << v.status();
          ++refused;
          bad_sources.insert(req.source);
        } else {
          ASSERT_TRUE(v.ok()) << v.status();
          EXPECT_TRUE(numbers.insert(v->version).second) << "version " << v->version << " twice";
          good_ids.insert(req.also_publish[0].id);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const int64_t good = kWriters * kPerWriter - refused;
  ASSERT_GT(refused, 0);
  std::vector<int64_t> expected = Iota(1 + good);
  EXPECT_EQ(std::vector<int64_t>(numbers.begin(), numbers.end()),
            std::vector<int64_t>(expected.begin() + 1, expected.end()));

  VersionSearch search;
  search.max_results = 1000;
  auto page = (*reg)->SearchVersions("mixed", search);
  ASSERT_TRUE(page.ok()) << page.status();
  std::vector<int64_t> stored;
  for (const auto& v : page->items) {
    stored.push_back(v.version);
    EXPECT_EQ(bad_sources.count(v.source), 0u) << "a refused request's version: " << v.source;
  }
  std::sort(stored.begin(), stored.end());
  EXPECT_EQ(stored, expected);
  auto champion = (*reg)->GetVersionByAlias("mixed", "champion");
  ASSERT_TRUE(champion.ok()) << champion.status();
  EXPECT_EQ(champion->version, v1->version);

  std::map<std::string, int> audits;
  for (int64_t after = 0;;) {
    auto events = (*bus)->Tail(bus::TailOptions{.after_seq = after, .limit = 1000});
    ASSERT_TRUE(events.ok()) << events.status();
    if (events->events.empty()) break;
    after = events->last_seq;
    for (const auto& se : events->events) {
      if (se.event.source == "tandem.audit") audits[se.event.id]++;
    }
  }
  EXPECT_EQ(audits.size(), good_ids.size());
  for (const auto& [id, n] : audits) {
    EXPECT_EQ(n, 1) << id;
    EXPECT_EQ(good_ids.count(id), 1u) << id;
  }
}

// Two control planes (each its own pool, bus and registry) on one database
// take turns creating versions of one model. Each remembers the model's last
// version from its own creations and sends a creation in one round trip on
// that knowledge; after the other one's creations it is stale, the database
// refuses the creation (a serialization failure), and it runs again reading
// the counter: the numbers stay exactly 1..n, none given twice. A rule added
// through the other control plane routes the very next creation's event
// (the routing rules one remembers are checked the same way), and a model
// deleted and created again by the other one goes on from its counter.
TEST(PostgresRegistryConcurrency, TwoControlPlanesTakeTurnsOnOneModel) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", server);
  auto fresh = sql::testing::TestDatabase::Create(server);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  struct Plane {
    std::unique_ptr<sql::Database> db;
    std::unique_ptr<bus::SqlEventBus> bus;
    std::unique_ptr<ModelRegistry> reg;
  };
  auto open = [&]() -> Plane {
    Plane p;
    auto db = sql::Database::Open((*fresh)->uri());
    EXPECT_TRUE(db.ok()) << db.status();
    p.db = std::move(*db);
    auto bus = bus::SqlEventBus::Attach(*p.db, Clock::Real());
    EXPECT_TRUE(bus.ok()) << bus.status();
    p.bus = std::move(*bus);
    auto reg = ModelRegistry::Open(*p.db, *p.bus->outbox(), Clock::Real());
    EXPECT_TRUE(reg.ok()) << reg.status();
    p.reg = std::move(*reg);
    return p;
  };
  Plane a = open(), b = open();
  ASSERT_NE(a.reg, nullptr);
  ASSERT_NE(b.reg, nullptr);
  auto* pg_a = dynamic_cast<sql::PostgresDatabase*>(a.db.get());
  ASSERT_NE(pg_a, nullptr);
  CreateVersionRequest req;
  req.name = "turns";
  req.source = "s3://models/turns/model.tar.gz";
  req.tags = {{"k", "v"}};
  auto create = [&](Plane& p, int n) {
    std::vector<int64_t> got;
    for (int i = 0; i < n; ++i) {
      auto v = p.reg->CreateVersion(req);
      EXPECT_TRUE(v.ok()) << v.status();
      if (v.ok()) got.push_back(v->version);
    }
    return got;
  };
  EXPECT_EQ(create(a, 3), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(create(b, 2), (std::vector<int64_t>{4, 5}));
  const int64_t retries = pg_a->retries();
  EXPECT_EQ(create(a, 2), (std::vector<int64_t>{6, 7}));
  EXPECT_EQ(pg_a->retries(), retries + 1) << "the stale first attempt ran again, once";
  EXPECT_EQ(create(b, 1), (std::vector<int64_t>{8}));
  EXPECT_EQ(create(a, 1), (std::vector<int64_t>{9}));

  // A queue and a rule for version creations, through the other plane: A's
  // next creation is routed by it.
  ASSERT_TRUE(b.bus->CreateQueue("created").ok());
  ASSERT_TRUE(b.bus
                  ->PutRule("created",
                            Json{{"detail-type",
                                  Json::array({std::string(bus::events::kModelVersionCreated)})}},
                            "created")
                  .ok());
  EXPECT_EQ(create(a, 1), (std::vector<int64_t>{10}));
  auto msgs = a.bus->Receive("created", bus::ReceiveOptions{.max_messages = 10});
  ASSERT_TRUE(msgs.ok()) << msgs.status();
  ASSERT_EQ(msgs->size(), 1u);
  EXPECT_EQ((*msgs)[0].event.detail["version"], 10);
  // And the rule's removal stops it.
  ASSERT_TRUE(b.bus->DeleteRule("created").ok());
  EXPECT_EQ(create(a, 1), (std::vector<int64_t>{11}));
  msgs = a.bus->Receive("created", bus::ReceiveOptions{.max_messages = 10});
  ASSERT_TRUE(msgs.ok()) << msgs.status();
  EXPECT_TRUE(msgs->empty());

  // Deleted by B: A finds it missing, then creates it again and goes on
  // from the counter (numbers of deleted versions are not reused).
  ASSERT_TRUE(b.reg->DeleteModel("turns").ok());
  CreateVersionRequest strict = req;
  strict.create_model_if_missing = false;
  EXPECT_EQ(a.reg->CreateVersion(strict).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(create(a, 2), (std::vector<int64_t>{12, 13}));
  EXPECT_EQ(create(b, 1), (std::vector<int64_t>{14}));
  VersionSearch search;
  search.max_results = 100;
  auto page = b.reg->SearchVersions("turns", search);
  ASSERT_TRUE(page.ok()) << page.status();
  std::vector<int64_t> stored;
  for (const auto& v : page->items) stored.push_back(v.version);
  std::sort(stored.begin(), stored.end());
  EXPECT_EQ(stored, (std::vector<int64_t>{12, 13, 14}));
}

INSTANTIATE_TEST_SUITE_P(Sql, ModelRegistryConformance, ::testing::ValuesIn(PostgresBackends()),
                         BackendName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ModelRegistryConformance);

}  // namespace
}  // namespace tandem::registry
