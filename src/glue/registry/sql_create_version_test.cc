// CreateVersionRequest::also_publish on the SQL registry (SQLite): the extra
// events commit in the version's own transaction, after its own event, and
// an invalid one is refused before anything is written. The PostgreSQL run
// with concurrent, group-committed creations is in postgres_registry_test.cc.
#include <stdlib.h>

#include <filesystem>

#include "common/clock.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/registry/model_registry.h"
#include "glue/sql/database.h"
#include "gtest/gtest.h"

namespace tandem::registry {
namespace {

class AlsoPublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem_also_publish_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto db = sql::Database::Open("sqlite://" + dir_ + "/r.db");
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto bus = bus::SqlEventBus::Attach(*db_, Clock::Real());
    ASSERT_TRUE(bus.ok()) << bus.status();
    bus_ = std::move(*bus);
    auto reg = ModelRegistry::Open(*db_, *bus_->outbox(), Clock::Real());
    ASSERT_TRUE(reg.ok()) << reg.status();
    reg_ = std::move(*reg);
  }
  void TearDown() override {
    reg_.reset();
    bus_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::vector<bus::Event> Events() {
    auto page = bus_->Tail(bus::TailOptions{.after_seq = 0, .limit = 1000});
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<bus::Event> out;
    if (page.ok()) {
      for (auto& e : page->events) out.push_back(std::move(e.event));
    }
    return out;
  }
  static bus::Event Audit(const std::string& path) {
    return bus::MakeEvent(Clock::Real(), "tandem.audit", "API Request", {{"path", path}}, {path});
  }

  std::string dir_;
  std::unique_ptr<sql::Database> db_;
  std::unique_ptr<bus::SqlEventBus> bus_;
  std::unique_ptr<ModelRegistry> reg_;
};

TEST_F(AlsoPublishTest, CommittedAfterTheVersionsOwnEvents) {
  CreateVersionRequest req;
  req.name = "fraud";
  req.source = "file:///models/fraud/1";
  bus::Event audit = Audit("/api/v1/models/fraud/versions");
  req.also_publish = {audit};
  auto v = reg_->CreateVersion(req);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->version, 1);
  std::vector<bus::Event> events = Events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].detail_type, "Model Created");
  EXPECT_EQ(events[1].detail_type, "Model Version Created");
  EXPECT_EQ(events[2].id, audit.id);
  EXPECT_EQ(events[2].source, "tandem.audit");
  EXPECT_EQ(events[2].detail["path"], "/api/v1/models/fraud/versions");
}

TEST_F(AlsoPublishTest, FailedCreationCommitsNoneOfItsEvents) {
  CreateVersionRequest req;
  req.name = "absent";
  req.source = "file:///models/absent/1";
  req.create_model_if_missing = false;
  req.also_publish = {Audit("/x")};
  EXPECT_EQ(reg_->CreateVersion(req).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Events().empty());
}

TEST_F(AlsoPublishTest, EventWithoutIdIsRefusedAndNothingChanges) {
  CreateVersionRequest req;
  req.name = "fraud";
  req.source = "file:///models/fraud/1";
  bus::Event bad = Audit("/x");
  bad.id.clear();
  req.also_publish = {bad};
  auto v = reg_->CreateVersion(req);
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("needs an id"), std::string::npos) << v.status();
  EXPECT_EQ(reg_->GetModel("fraud").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Events().empty());
}

}  // namespace
}  // namespace tandem::registry
