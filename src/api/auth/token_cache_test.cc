// The verified-token cache behind IdentityStore::Authenticate: what a
// revocation, a role change or an expiry does to a cached token, on the
// store that made the change and on a second store (another control plane)
// on the same database, SQLite and PostgreSQL.
#include "api/auth/token_cache.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "api/auth/identity_store.h"
#include "api/auth/token.h"
#include "common/testing/test_server.h"
#include "glue/sql/testing/postgres_test_db.h"
#include "gtest/gtest.h"

namespace tandem::api::auth {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kTtl = IdentityStore::Options{}.token_cache_ttl_micros;

TEST(TokenCacheTest, ServesUntilTtlExpiryOrClear) {
  FakeClock clock;
  TokenCache cache(clock, 1'000'000, 2);
  Principal ann;
  ann.name = "ann";
  uint64_t g = cache.generation();
  cache.Put("h1", ann, 0, g);
  ASSERT_TRUE(cache.Get("h1").has_value());
  EXPECT_EQ(cache.Get("h1")->name, "ann");
  EXPECT_FALSE(cache.Get("h2").has_value());
  clock.Advance(999'999);
  EXPECT_TRUE(cache.Get("h1").has_value());
  clock.Advance(1);
  EXPECT_FALSE(cache.Get("h1").has_value()) << "served past its TTL";

  // The token's own expiry comes first.
  cache.Put("h2", ann, clock.NowMicros() + 10, cache.generation());
  EXPECT_TRUE(cache.Get("h2").has_value());
  clock.Advance(10);
  EXPECT_FALSE(cache.Get("h2").has_value()) << "served past the token's expiry";

  // A lookup that began before a Clear cannot store what it read.
  uint64_t before = cache.generation();
  cache.Clear();
  cache.Put("h3", ann, 0, before);
  EXPECT_FALSE(cache.Get("h3").has_value());
  cache.Put("h3", ann, 0, cache.generation());
  EXPECT_TRUE(cache.Get("h3").has_value());

  // Bounded: a third token starts the cache over.
  cache.Put("h4", ann, 0, cache.generation());
  cache.Put("h5", ann, 0, cache.generation());
  EXPECT_LE(cache.size(), 2u);
  EXPECT_TRUE(cache.Get("h5").has_value());
}

class TokenCacheStoreTest : public ::testing::TestWithParam<sql::testing::Backend> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tandem-authcache-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto uri = GetParam().make(dir_.string());
    ASSERT_TRUE(uri.ok()) << uri.status();
    // Two control planes: a database handle and an identity store each.
    for (int i = 0; i < 2; ++i) {
      auto db = sql::Database::Open(*uri);
      ASSERT_TRUE(db.ok()) << db.status();
      auto store = IdentityStore::Open(**db, clock_);
      ASSERT_TRUE(store.ok()) << store.status();
      dbs_[i] = std::move(*db);
      stores_[i] = std::move(*store);
    }
    ASSERT_TRUE(a().CreatePrincipal("ann", "user", false).ok());
    ASSERT_TRUE(a().CreateTeam("fraud").ok());
    ASSERT_TRUE(a().SetMember("fraud", "ann", Role::kOwner).ok());
  }
  void TearDown() override {
    for (int i = 0; i < 2; ++i) {
      stores_[i].reset();
      dbs_[i].reset();
    }
    fs::remove_all(dir_);
  }
  IdentityStore& a() { return *stores_[0]; }
  IdentityStore& b() { return *stores_[1]; }
  bool postgres() const { return dbs_[0]->dialect() == sql::Dialect::kPostgres; }

  std::string NewTokenFor(const std::string& who, int64_t ttl_seconds = 0) {
    auto t = a().CreateToken(who, "", ttl_seconds);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->second : "";
  }
  static std::string TokenIdOf(const std::string& token) { return TokenId(token); }

  // Waits (real time, while the fake clock stands still) until `done` holds;
  // false after 20 s. On PostgreSQL the other store learns of a change by
  // NOTIFY, not by its TTL running out.
  static bool Eventually(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  fs::path dir_;
  FakeClock clock_;
  std::unique_ptr<sql::Database> dbs_[2];
  std::unique_ptr<IdentityStore> stores_[2];
};

TEST_P(TokenCacheStoreTest, ACachedTokenIsServedWithoutTheDatabaseForAtMostTheTtl) {
  std::string token = NewTokenFor("ann");
  ASSERT_TRUE(a().Authenticate(token).ok());
  // Revoked behind the store's back (no NOTIFY, no clear): the cache serves
  // the token until its TTL has run out, never longer.
  ASSERT_TRUE(dbs_[0]
                  ->WithTransaction([&](sql::Transaction& tx) {
                    return tx
                        .Exec("UPDATE auth_tokens SET revoked_micros = 1 WHERE id = ?",
                              {TokenIdOf(token)})
                        .status();
                  })
                  .ok());
  EXPECT_TRUE(a().Authenticate(token).ok()) << "not cached";
  clock_.Advance(kTtl);
  auto refused = a().Authenticate(token);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(refused.status().message()).find("revoked"), std::string::npos);
}

TEST_P(TokenCacheStoreTest, RevocationRoleChangeAndExpiryTakeEffectAtOnceOnTheChangingStore) {
  std::string token = NewTokenFor("ann", 60);
  std::string other = NewTokenFor("ann");
  auto who = a().Authenticate(token);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->RoleIn("fraud"), Role::kOwner);
  ASSERT_TRUE(a().Authenticate(other).ok());

  ASSERT_TRUE(a().SetMember("fraud", "ann", Role::kViewer).ok());
  EXPECT_EQ(a().Authenticate(token)->RoleIn("fraud"), Role::kViewer);
  ASSERT_TRUE(a().RemoveMember("fraud", "ann").ok());
  EXPECT_EQ(a().Authenticate(token)->RoleIn("fraud"), Role::kNone);

  ASSERT_TRUE(a().RevokeToken(TokenIdOf(other)).ok());
  auto revoked = a().Authenticate(other);
  EXPECT_EQ(revoked.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(revoked.status().message()).find("revoked"), std::string::npos);

  // Cached a moment ago, expired now: refused although its entry is young.
  ASSERT_TRUE(a().Authenticate(token).ok());
  clock_.AdvanceSeconds(60);
  auto expired = a().Authenticate(token);
  EXPECT_EQ(expired.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(expired.status().message()).find("expired"), std::string::npos);
}

TEST_P(TokenCacheStoreTest, AChangeOnOneControlPlaneReachesTheOtherWithinTheBound) {
  std::string token = NewTokenFor("ann");
  std::string other = NewTokenFor("ann");
  ASSERT_TRUE(b().Authenticate(token).ok());
  ASSERT_EQ(b().Authenticate(other)->RoleIn("fraud"), Role::kOwner);

  ASSERT_TRUE(a().RevokeToken(TokenIdOf(token)).ok());
  ASSERT_TRUE(a().RemoveMember("fraud", "ann").ok());
  if (postgres()) {
    // NOTIFY: well within the TTL, with the (fake) clock standing still.
    EXPECT_TRUE(Eventually([&] { return !b().Authenticate(token).ok(); }))
        << "the revocation did not reach the other control plane";
    EXPECT_TRUE(Eventually([&] {
      auto p = b().Authenticate(other);
      return p.ok() && p->RoleIn("fraud") == Role::kNone;
    })) << "the role removal did not reach the other control plane";
  } else {
    // SQLite has no notifications: the documented bound is the TTL.
    clock_.Advance(kTtl);
  }
  auto refused = b().Authenticate(token);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(refused.status().message()).find("revoked"), std::string::npos);
  auto p = b().Authenticate(other);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->RoleIn("fraud"), Role::kNone);
}

TEST(TokenCachePostgres, ServerAvailable) {
  TANDEM_REQUIRE_TEST_SERVER("postgres", uri);
  EXPECT_TRUE(uri.starts_with("postgres://")) << uri;
}

INSTANTIATE_TEST_SUITE_P(Db, TokenCacheStoreTest, ::testing::ValuesIn(sql::testing::Backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tandem::api::auth
