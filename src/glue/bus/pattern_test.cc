#include "glue/bus/pattern.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::bus {
namespace {

using ::testing::HasSubstr;

const Json& Ev() {
  static const Json* ev = new Json(Json::parse(R"({
    "version": "0", "id": "e1", "detail-type": "Model Version Created",
    "source": "tandem.registry", "account": "local", "time": "2026-11-30T05:49:03Z",
    "region": "local", "resources": ["model/fraud", "model/fraud/3"],
    "detail": {
      "name": "fraud", "version": 3, "score": 0.75, "status": "READY",
      "tags": ["prod", "eu"], "owner": null, "enabled": true, "empty": "",
      "file": "weights/model.PNG", "ip": "10.0.1.17", "ip6": "2001:db8::1",
      "lineage": {"job_id": "j-1", "image": "img:1", "data": [{"uri": "s3://a"}, {"uri": "s3://b"}]},
      "sizes": [1, 5, 20]
    }
  })"));
  return *ev;
}

struct Case {
  const char* name;
  const char* pattern;
  bool match;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class PatternMatchTest : public ::testing::TestWithParam<Case> {};

TEST_P(PatternMatchTest, Matches) {
  const Case& c = GetParam();
  auto p = Pattern::ParseText(c.pattern);
  ASSERT_TRUE(p.ok()) << c.pattern << ": " << p.status();
  EXPECT_EQ(p->Matches(Ev()), c.match) << c.pattern;
}

const Case kCases[] = {
    // exact values, AND across fields, OR within a list
    {"source_exact", R"({"source": ["tandem.registry"]})", true},
    {"source_other", R"({"source": ["tandem.compute"]})", false},
    {"case_sensitive", R"({"source": ["TANDEM.registry"]})", false},
    {"or_in_list", R"({"source": ["x", "tandem.registry"]})", true},
    {"and_fields", R"({"source": ["tandem.registry"], "detail-type": ["Model Created"]})", false},
    {"and_fields_both",
     R"({"source": ["tandem.registry"], "detail-type": ["Model Version Created"]})", true},
    {"number_exact", R"({"detail": {"version": [3]}})", true},
    {"number_exact_float", R"({"detail": {"version": [3.0]}})", true},
    {"number_other", R"({"detail": {"version": [4]}})", false},
    {"number_vs_string", R"({"detail": {"version": ["3"]}})", false},
    {"null_exact", R"({"detail": {"owner": [null]}})", true},
    {"null_not_absent", R"({"detail": {"missing": [null]}})", false},
    {"bool_exact", R"({"detail": {"enabled": [true]}})", true},
    {"bool_other", R"({"detail": {"enabled": [false]}})", false},
    {"empty_string", R"({"detail": {"empty": [""]}})", true},
    {"missing_field", R"({"detail": {"nope": ["x"]}})", false},
    {"nested_missing_parent", R"({"nope": {"x": ["y"]}})", false},
    {"leaf_vs_object", R"({"detail": {"lineage": ["j-1"]}})", false},
    {"nested", R"({"detail": {"lineage": {"job_id": ["j-1"]}}})", true},
    {"nested_no", R"({"detail": {"lineage": {"job_id": ["j-2"]}}})", false},
    // arrays in the event: any element
    {"array_any", R"({"resources": ["model/fraud/3"]})", true},
    {"array_none", R"({"resources": ["model/other"]})", false},
    {"array_tags", R"({"detail": {"tags": ["eu"]}})", true},
    {"array_of_objects", R"({"detail": {"lineage": {"data": {"uri": ["s3://b"]}}}})", true},
    {"array_of_objects_no", R"({"detail": {"lineage": {"data": {"uri": ["s3://c"]}}}})", false},
    {"array_numeric", R"({"detail": {"sizes": [{"numeric": [">", 10]}]}})", true},
    {"array_numeric_no", R"({"detail": {"sizes": [{"numeric": [">", 100]}]}})", false},
    // prefix / suffix
    {"prefix", R"({"detail-type": [{"prefix": "Model Version"}]})", true},
    {"prefix_no", R"({"detail-type": [{"prefix": "model version"}]})", false},
    {"prefix_ic", R"({"detail-type": [{"prefix": {"equals-ignore-case": "model VERSION"}}]})",
     true},
    {"prefix_on_number", R"({"detail": {"version": [{"prefix": "3"}]}})", false},
    {"suffix", R"({"detail": {"file": [{"suffix": ".PNG"}]}})", true},
    {"suffix_no", R"({"detail": {"file": [{"suffix": ".png"}]}})", false},
    {"suffix_ic", R"({"detail": {"file": [{"suffix": {"equals-ignore-case": ".png"}}]}})", true},
    {"equals_ic", R"({"detail": {"status": [{"equals-ignore-case": "ready"}]}})", true},
    {"equals_ic_no", R"({"detail": {"status": [{"equals-ignore-case": "readyx"}]}})", false},
    // anything-but
    {"ab_value", R"({"detail": {"status": [{"anything-but": "FAILED"}]}})", true},
    {"ab_value_no", R"({"detail": {"status": [{"anything-but": "READY"}]}})", false},
    {"ab_list", R"({"detail": {"status": [{"anything-but": ["FAILED", "READY"]}]}})", false},
    {"ab_list_yes", R"({"detail": {"status": [{"anything-but": ["FAILED", "PENDING"]}]}})", true},
    {"ab_number", R"({"detail": {"version": [{"anything-but": [1, 2]}]}})", true},
    {"ab_number_no", R"({"detail": {"version": [{"anything-but": 3}]}})", false},
    {"ab_prefix", R"({"detail": {"status": [{"anything-but": {"prefix": "RE"}}]}})", false},
    {"ab_prefix_yes", R"({"detail": {"status": [{"anything-but": {"prefix": "FA"}}]}})", true},
    {"ab_suffix", R"({"detail": {"file": [{"anything-but": {"suffix": ".PNG"}}]}})", false},
    {"ab_ic", R"({"detail": {"status": [{"anything-but": {"equals-ignore-case": "ready"}}]}})",
     false},
    {"ab_ic_list",
     R"({"detail": {"status": [{"anything-but": {"equals-ignore-case": ["a", "b"]}}]}})", true},
    {"ab_wildcard", R"({"detail": {"file": [{"anything-but": {"wildcard": "weights/*"}}]}})",
     false},
    {"ab_absent", R"({"detail": {"nope": [{"anything-but": "x"}]}})", false},
    // numeric
    {"num_range", R"({"detail": {"version": [{"numeric": [">", 0, "<=", 5]}]}})", true},
    {"num_range_edge", R"({"detail": {"version": [{"numeric": [">", 0, "<=", 3]}]}})", true},
    {"num_range_out", R"({"detail": {"version": [{"numeric": [">", 3, "<", 5]}]}})", false},
    {"num_eq", R"({"detail": {"version": [{"numeric": ["=", 3]}]}})", true},
    {"num_ge", R"({"detail": {"score": [{"numeric": [">=", 0.75]}]}})", true},
    {"num_lt", R"({"detail": {"score": [{"numeric": ["<", 0.75]}]}})", false},
    {"num_on_string", R"({"detail": {"status": [{"numeric": [">", 0]}]}})", false},
    // exists
    {"exists_true", R"({"detail": {"status": [{"exists": true}]}})", true},
    {"exists_true_absent", R"({"detail": {"nope": [{"exists": true}]}})", false},
    {"exists_false_absent", R"({"detail": {"nope": [{"exists": false}]}})", true},
    {"exists_false_present", R"({"detail": {"status": [{"exists": false}]}})", false},
    {"exists_false_missing_parent", R"({"nope": {"x": [{"exists": false}]}})", true},
    {"exists_null_value", R"({"detail": {"owner": [{"exists": true}]}})", true},
    // wildcard
    {"wildcard", R"({"detail": {"file": [{"wildcard": "weights/*.PNG"}]}})", true},
    {"wildcard_mid", R"({"source": [{"wildcard": "tan*.reg*"}]})", true},
    {"wildcard_no", R"({"detail": {"file": [{"wildcard": "*.png"}]}})", false},
    {"wildcard_exact", R"({"source": [{"wildcard": "tandem.registry"}]})", true},
    {"wildcard_escaped_star", R"({"source": [{"wildcard": "tandem\\*"}]})", false},
    // cidr
    {"cidr4", R"({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}})", true},
    {"cidr4_no", R"({"detail": {"ip": [{"cidr": "10.0.2.0/24"}]}})", false},
    {"cidr6", R"({"detail": {"ip6": [{"cidr": "2001:db8::/32"}]}})", true},
    {"cidr_family", R"({"detail": {"ip": [{"cidr": "2001:db8::/32"}]}})", false},
    // mixed list: OR of operators and values
    {"mixed_or", R"({"detail": {"status": ["FAILED", {"prefix": "RE"}]}})", true},
    // $or
    {"or_top", R"({"$or": [{"source": ["x"]}, {"detail-type": [{"prefix": "Model"}]}]})", true},
    {"or_top_none", R"({"$or": [{"source": ["x"]}, {"detail-type": ["y"]}]})", false},
    {"or_nested",
     R"({"source": ["tandem.registry"],
         "detail": {"$or": [{"version": [{"numeric": [">", 10]}]}, {"status": ["READY"]}]}})",
     true},
    {"or_nested_and_fail",
     R"({"source": ["other"],
         "detail": {"$or": [{"version": [3]}, {"status": ["READY"]}]}})",
     false},
};

INSTANTIATE_TEST_SUITE_P(Table, PatternMatchTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

struct BadCase {
  const char* pattern;
  const char* error;  // substring expected in the message (names the path)
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.pattern; }

class PatternInvalidTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(PatternInvalidTest, Rejected) {
  auto p = Pattern::ParseText(GetParam().pattern);
  ASSERT_FALSE(p.ok()) << GetParam().pattern;
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr(GetParam().error));
}

const BadCase kBad[] = {
    {R"([])", "<root>: must be a JSON object"},
    {R"({})", "<root>: must not be empty"},
    {R"({"source": "tandem.registry"})", "source: must be an array"},
    {R"({"detail": {"n": 3}})", "detail.n: must be an array"},
    {R"({"source": []})", "source: match list must not be empty"},
    {R"({"source": [["x"]]})", "source[0]: nested arrays"},
    {R"({"detail": {"x": [{"foo": 1}]}})", "detail.x[0]: unknown operator 'foo'"},
    {R"({"x": [{"prefix": "a", "suffix": "b"}]})", "x[0]: a matcher object must have exactly one"},
    {R"({"x": [{"prefix": 1}]})", "x[0].prefix: prefix must be a string"},
    {R"({"x": [{"prefix": {"nope": "a"}}]})", "x[0].prefix"},
    {R"({"x": [{"exists": "yes"}]})", "x[0].exists: exists must be a boolean"},
    {R"({"x": [{"numeric": [">"]}]})", "x[0].numeric: numeric must be"},
    {R"({"x": [{"numeric": ["!=", 3]}]})", "x[0].numeric[0]: numeric operator"},
    {R"({"x": [{"numeric": [">", "3"]}]})", "x[0].numeric[1]: numeric bound must be a number"},
    {R"({"x": [{"numeric": ["<", 5, ">", 0]}]})", "x[0].numeric: a numeric range"},
    {R"({"x": [{"numeric": [">", 5, "<", 1]}]})", "low bound must be below"},
    {R"({"x": [{"anything-but": []}]})", "x[0].anything-but: anything-but list must not be empty"},
    {R"({"x": [{"anything-but": [true]}]})", "x[0].anything-but[0]"},
    {R"({"x": [{"anything-but": {"numeric": [">", 1]}}]})", "unknown anything-but operator"},
    {R"({"x": [{"wildcard": "a**b"}]})", "consecutive '*'"},
    {R"({"x": [{"wildcard": "a\\b"}]})", "must escape"},
    {R"({"x": [{"cidr": "10.0.0.0"}]})", "x[0].cidr: cidr must be"},
    {R"({"x": [{"cidr": "10.0.0.0/33"}]})", "x[0].cidr"},
    {R"({"$or": [{"a": ["b"]}]})", "$or: $or must be a list of 2+"},
    {R"({"$or": [{"a": ["b"]}, {"c": "d"}]})", "$or[1].c: must be an array"},
    {R"({"source": [)", "event pattern"},
};

INSTANTIATE_TEST_SUITE_P(Table, PatternInvalidTest, ::testing::ValuesIn(kBad));

TEST(PatternTest, MatchesEventJsonFromOtherShapes) {
  auto p = Pattern::ParseText(R"({"source": ["a"]})");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->Matches(Json::array()));
  EXPECT_FALSE(p->Matches(Json("a")));
  EXPECT_TRUE(p->Matches(Json{{"source", "a"}}));
  EXPECT_TRUE(p->Matches(Json{{"source", Json::array({"b", "a"})}}));
  EXPECT_FALSE(p->Matches(Json{{"source", Json::array()}}));
}

}  // namespace
}  // namespace tandem::bus
