#include "common/kube/quantity.h"

#include <gtest/gtest.h>

namespace tandem::kube {
namespace {

TEST(QuantityTest, AcceptsTheApiGrammar) {
  for (const char* q : {"1", "500m", "1.5", "2Gi", "512Mi", "100k", "1e3", "1E-2", "+1", "0.1",
                        "10n", "3u", "1Ei", ".5"}) {
    EXPECT_TRUE(IsQuantity(q)) << q;
  }
}

TEST(QuantityTest, RefusesWhatTheApiRefuses) {
  for (const char* q : {"", "2x", "1GB", "Gi", "1.5.5", "m", "1 Gi", "one", "1e", "1mi", "--1"}) {
    EXPECT_FALSE(IsQuantity(q)) << q;
  }
}

TEST(QuantityTest, CpusRoundUpToMillicores) {
  EXPECT_EQ(*CpuQuantity(2), "2");
  EXPECT_EQ(*CpuQuantity(0.5), "500m");
  EXPECT_EQ(*CpuQuantity(1.0001), "1001m");
  EXPECT_EQ(*CpuQuantity(0.0001), "1m");
  EXPECT_FALSE(CpuQuantity(0).ok());
  EXPECT_FALSE(CpuQuantity(-1).ok());
}

TEST(QuantityTest, MemoryAndNumbers) {
  EXPECT_EQ(*MemoryQuantity(512), "512Mi");
  EXPECT_FALSE(MemoryQuantity(0).ok());
  EXPECT_EQ(*NumberQuantity(4), "4");
  EXPECT_EQ(*NumberQuantity(2.5), "2500m");
  EXPECT_EQ(*NumberQuantity(0), "0");
  EXPECT_FALSE(NumberQuantity(-1).ok());
}

TEST(QuantityTest, FieldNamesThePath) {
  EXPECT_EQ(*QuantityField(Json("1Gi"), "resources.memory"), "1Gi");
  EXPECT_EQ(*QuantityField(Json(0.25), "resources.cpu"), "250m");
  auto bad = QuantityField(Json("2x"), "resources.cpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'resources.cpu'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("2x"), std::string::npos);
  EXPECT_FALSE(QuantityField(Json(true), "resources.cpu").ok());
  EXPECT_FALSE(QuantityField(Json(-2), "resources.cpu").ok());
}

}  // namespace
}  // namespace tandem::kube
