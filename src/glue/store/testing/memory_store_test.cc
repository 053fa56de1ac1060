#include "glue/store/testing/memory_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "glue/store/testing/object_store_conformance.h"

namespace tandem::store {
namespace {

INSTANTIATE_TEST_SUITE_P(Memory, ObjectStoreConformanceTest,
                         ::testing::Values(ObjectStoreFactory{
                             "memory",
                             [] { return std::unique_ptr<ObjectStore>(MemoryStore::Create()); }}),
                         ObjectStoreFactoryName);

TEST(MemoryStoreTest, CorruptContentIsDataLossNeverOk) {
  MemoryStore store;
  auto put = store.PutString("k", "the real content");
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_TRUE(store.CorruptBlobForTest(put->digest, "the fake content").ok());
  auto got = store.GetString("k");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(store.VerifyBlob(put->digest).code(), StatusCode::kDataLoss);
}

TEST(MemoryStoreTest, GraceWindowFollowsTheInjectedClock) {
  FakeClock clock;
  MemoryStore store(&clock);
  auto blob = store.PutBlobFromString("unreferenced");
  ASSERT_TRUE(blob.ok());
  auto kept = store.GarbageCollect(1'000'000);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->blobs_deleted, 0u);
  clock.Advance(1'000'001);
  auto collected = store.GarbageCollect(1'000'000);
  ASSERT_TRUE(collected.ok());
  EXPECT_EQ(collected->blobs_deleted, 1u);
  EXPECT_EQ(store.StatBlob(blob->digest).status().code(), StatusCode::kNotFound);
}

TEST(MemoryStoreTest, EachStoreIsSeparate) {
  MemoryStore a, b;
  ASSERT_TRUE(a.PutString("k", "v").ok());
  EXPECT_EQ(b.Stat("k").status().code(), StatusCode::kNotFound);
  EXPECT_NE(a.uri(), b.uri());
}

}  // namespace
}  // namespace tandem::store
