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

TEST(SpecFieldsTest, ConfigurationHelpers) {
  Json doc = {{"compute", {{"sandbox", "maybe"}, {"cpus", 0}, {"args", {"a", 3}}}},
              {"notebooks", "yes"}};
  auto mode = OneOf(doc["compute"]["sandbox"], "compute.sandbox", {"auto", "on", "off"});
  ASSERT_FALSE(mode.ok());
  EXPECT_EQ(std::string(mode.status().message()),
            "'compute.sandbox' must be one of auto, on or off, got \"maybe\"");
  EXPECT_EQ(*OneOf(Json("on"), "compute.sandbox", {"auto", "on", "off"}), "on");
  EXPECT_FALSE(OneOf(Json(1), "compute.sandbox", {"auto", "on"}).ok());

  auto cpus = PositiveNumber(doc["compute"]["cpus"], "compute.cpus");
  ASSERT_FALSE(cpus.ok());
  EXPECT_EQ(std::string(cpus.status().message()),
            "'compute.cpus' must be a positive number, got 0");
  EXPECT_EQ(*PositiveNumber(Json(0.5), "compute.cpus"), 0.5);

  auto args = StringList(doc["compute"]["args"], "compute.args");
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(std::string(args.status().message()),
            "'compute.args[1]' must be a string, got an integer");
  EXPECT_EQ(*StringList(Json::array({"x", "y"}), "a"), (std::vector<std::string>{"x", "y"}));

  EXPECT_EQ(*Section(doc, "absent"), Json::object());
  EXPECT_EQ((*Section(doc, "compute"))["cpus"], 0);
  auto bad = Section(doc, "notebooks");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()), "'notebooks' must be a mapping, got a string");
}

}  // namespace
}  // namespace tandem::spec
