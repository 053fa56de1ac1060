#include "common/spec_fields.h"

#include "gtest/gtest.h"

namespace tandem::spec {
namespace {

TEST(SpecFieldsTest, ErrorsNameThePathAndTheExpectation) {
  Json doc = {{"cpus", "two"}, {"n", 7}, {"big", 1e30}};
  auto s = String(doc["n"], "name");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.status().message()), "'name' must be a string, got an integer");
  auto i = Integer(doc["n"], "retries", 0, 5);
  ASSERT_FALSE(i.ok());
  EXPECT_NE(std::string(i.status().message()).find("'retries' must be an integer between 0 and 5"),
            std::string::npos);
  EXPECT_EQ(*Integer(doc["n"], "retries", 0, 10), 7);
  EXPECT_FALSE(Number(doc["cpus"], "resources.cpus", 0, 64).ok());
  EXPECT_FALSE(Number(doc["big"], "resources.cpus", 0, 64).ok());
  EXPECT_EQ(*Number(doc["n"], "resources.cpus", 0, 64), 7.0);
}

TEST(SpecFieldsTest, UnknownFieldsAreNamedWithTheirPrefix) {
  Json obj = {{"cpus", 1}, {"cpu", 2}};
  Status s = CheckKnown(obj, "resources.", {"cpus", "memory_mb"});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()), "unknown field 'resources.cpu'");
  EXPECT_TRUE(CheckKnown(Json{{"cpus", 1}}, "resources.", {"cpus"}).ok());
  EXPECT_EQ(TypeName(Json::array()), "a list");
  EXPECT_EQ(TypeName(Json::object()), "a mapping");
}

}  // namespace
}  // namespace tandem::spec
