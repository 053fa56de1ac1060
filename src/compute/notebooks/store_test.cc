#include "compute/notebooks/store.h"

#include <gtest/gtest.h>

#include "compute/testing/notebook_env.h"

namespace tandem::compute::notebooks {
namespace {

using NotebookStoreTest = testing::NotebookTestEnv;

TEST_F(NotebookStoreTest, RoundTripsAndRecordsStateChangesAsEvents) {
  FakeClock clock(1'000'000);
  auto store = NotebookStore::Open(*db_, *bus_->outbox(), clock);
  ASSERT_TRUE(store.ok()) << store.status();
  auto created = (*store)->Update("lab", true, [](NotebookRecord& r) {
    r.team = "vision";
    r.state = NotebookState::kPending;
    r.execution = 1;
    r.port = 12345;
    r.token = "secret";
    return OkStatus();
  });
  ASSERT_TRUE(created.ok()) << created.status();
  clock.Advance(5'000'000);
  ASSERT_TRUE((*store)
                  ->Update("lab", false,
                           [](NotebookRecord& r) {
                             r.state = NotebookState::kInService;
                             r.wall_seconds = 2.5;
                             return OkStatus();
                           })
                  .ok());
  // An update that keeps the state records no event.
  ASSERT_TRUE((*store)
                  ->Update("lab", false,
                           [](NotebookRecord& r) {
                             r.last_activity_micros = 7;
                             return OkStatus();
                           })
                  .ok());
  auto got = (*store)->Get("lab");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->team, "vision");
  EXPECT_EQ(got->state, NotebookState::kInService);
  EXPECT_EQ(got->port, 12345);
  EXPECT_EQ(got->token, "secret");
  EXPECT_EQ(got->wall_seconds, 2.5);
  EXPECT_EQ(got->last_activity_micros, 7);
  EXPECT_EQ(got->created_micros, 1'000'000);
  EXPECT_EQ(got->Url(), "http://127.0.0.1:12345/?token=secret");
  EXPECT_FALSE(got->ToJson(false).contains("token"));
  EXPECT_EQ(NotebookEvents(), (std::vector<std::string>{"lab:Pending", "lab:InService"}));
  EXPECT_FALSE(got->ToJson(false).contains("image"));  // on the host

  // The image a notebook runs in survives the round trip and is shown.
  ASSERT_TRUE((*store)
                  ->Update("lab", false,
                           [](NotebookRecord& r) {
                             r.image_reference = "vision/jupyter:1";
                             r.image_repository = "vision/jupyter";
                             r.image_digest = "sha256:" + std::string(64, 'e');
                             return OkStatus();
                           })
                  .ok());
  got = (*store)->Get("lab");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->image_reference, "vision/jupyter:1");
  EXPECT_EQ(got->image_repository, "vision/jupyter");
  EXPECT_EQ(got->image_digest, "sha256:" + std::string(64, 'e'));
  EXPECT_EQ(got->ToJson(false)["image"]["digest"], got->image_digest);

  auto active = (*store)->ListActive();
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->size(), 1u);
  auto other_team = (*store)->List("nlp");
  ASSERT_TRUE(other_team.ok());
  EXPECT_TRUE(other_team->empty());
}

TEST_F(NotebookStoreTest, UnknownNamesAndAbortedUpdatesChangeNothing) {
  auto store = NotebookStore::Open(*db_, *bus_->outbox(), Clock::Real());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Get("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(
      (*store)->Update("nope", false, [](NotebookRecord&) { return OkStatus(); }).status().code(),
      StatusCode::kNotFound);
  auto aborted = (*store)->Update("lab", true, [](NotebookRecord& r) {
    r.state = NotebookState::kPending;
    return FailedPreconditionError("no");
  });
  EXPECT_EQ(aborted.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*store)->Get("lab").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(NotebookEvents().empty());
}

TEST(NotebookState, NamesRoundTrip) {
  for (auto s : {NotebookState::kPending, NotebookState::kInService, NotebookState::kStopping,
                 NotebookState::kStopped, NotebookState::kFailed}) {
    auto parsed = ParseNotebookState(NotebookStateName(s));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_EQ(ParseNotebookState("Running").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::compute::notebooks
