#include "cli/output.h"

#include <sstream>

#include "gtest/gtest.h"

namespace tandem::cli {
namespace {

TEST(OutputTest, TableAlignsColumnsAndFollowsPaths) {
  Json rows = Json::array({{{"name", "fraud"}, {"lineage", {{"job_id", "j1"}}}, {"n", 3}},
                           {{"name", "churn-model"}, {"n", nullptr}}});
  std::ostringstream out;
  PrintList(out, Format::kTable, {{"items", rows}}, rows,
            {{"NAME", "name"}, {"JOB", "lineage.job_id"}, {"N", "n"}});
  EXPECT_EQ(out.str(),
            "NAME         JOB  N\n"
            "fraud        j1   3\n"
            "churn-model  -    -\n");
}

TEST(OutputTest, JsonAndYamlPrintTheWholeDocument) {
  Json doc = {{"items", Json::array({{{"a", 1}}})}, {"next_page_token", "t"}};
  std::ostringstream json, yaml;
  PrintList(json, Format::kJson, doc, doc["items"], {{"A", "a"}});
  EXPECT_EQ(Json::parse(json.str()), doc);
  PrintList(yaml, Format::kYaml, doc, doc["items"], {{"A", "a"}});
  EXPECT_NE(yaml.str().find("next_page_token: t"), std::string::npos);
}

TEST(OutputTest, CellTextRendersCompositesCompactly) {
  EXPECT_EQ(CellText(Json{{"champion", 3}, {"challenger", 4}}), "challenger=4,champion=3");
  EXPECT_EQ(CellText(Json::array({"a", "b"})), "a,b");
  EXPECT_EQ(CellText(Json::object()), "-");
  EXPECT_EQ(CellText(nullptr), "-");
  EXPECT_EQ(CellText(2.5), "2.5");
  EXPECT_EQ(CellText(1.3000000000000001e-05), "1.3e-05");
  EXPECT_EQ(CellText(1.0848900000000001), "1.08489");
}

TEST(OutputTest, UnknownFormatIsRefused) {
  EXPECT_FALSE(ParseFormat("xml").ok());
  EXPECT_EQ(*ParseFormat("yaml"), Format::kYaml);
}

}  // namespace
}  // namespace tandem::cli
