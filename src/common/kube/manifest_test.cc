#include "common/kube/manifest.h"

#include <gtest/gtest.h>

#include "common/yaml.h"

namespace tandem::kube {
namespace {

TEST(ManifestTest, YamlReadsBackAsTheSameValues) {
  Json doc = {{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", "x"}, {"annotations", {{"port", "8080"}, {"on", "true"}}}}},
              {"data",
               {{"empty", ""},
                {"multi", "a: 1\nb: [2]\n"},
                {"block", "{\n  \"k\": [1, 2],\n\n  \"x\": \"y\"\n}\n"},
                {"trailing", "a\nb\n\n"},
                {"nonl", "a\nb"},
                {"blank_end", "a \nb\n"},
                {"quote", "say \"hi\": x"},
                {"image", "registry.local:5000/team/img:1.2"},
                {"ref", "fraud@champion"},
                {"colon_end", "a:"},
                {"list", Json::array({"1", 2, Json::object(), Json::array({"y"}),
                                      Json{{"k", "v"}, {"n", nullptr}}})},
                {"float", 2.5},
                {"bool", false},
                {"none", Json::object()}}}};
  std::string text = ToBlockYaml(doc);
  auto back = ParseYaml(text);
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
  EXPECT_EQ(*back, doc) << text;
  EXPECT_NE(text.find("port: \"8080\""), std::string::npos) << text;
  EXPECT_NE(text.find("kind: ConfigMap"), std::string::npos) << text;
  EXPECT_NE(text.find("image: registry.local:5000/team/img:1.2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("block: |\n    {\n      \"k\""), std::string::npos) << text;
}

TEST(ManifestTest, YamlStreamAndJsonList) {
  std::vector<Json> objects = {Json{{"kind", "A"}}, Json{{"kind", "B"}}};
  EXPECT_EQ(WriteManifest(objects, ManifestFormat::kYaml), "---\nkind: A\n---\nkind: B\n");
  auto list = Json::parse(WriteManifest(objects, ManifestFormat::kJson));
  EXPECT_EQ(list["kind"], "List");
  EXPECT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(*ParseManifestFormat("json"), ManifestFormat::kJson);
  EXPECT_FALSE(ParseManifestFormat("table").ok());
}

}  // namespace
}  // namespace tandem::kube
