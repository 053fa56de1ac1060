#include "serving/server/tensor_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace tandem::serving::server {
namespace {

class TensorCodecTest : public ::testing::Test {
 protected:
  TensorCodecTest() {
    sig_.inputs.push_back({"input", "FP32", {-1, 4}});
    sig_.outputs.push_back({"output", "FP32", {-1, 1}});
    shape_ = {&sig_, 4, 1};
  }
  StatusOr<DecodedRequest> Decode(const std::string& body,
                                  std::optional<size_t> header = std::nullopt) {
    return DecodeInferRequest(body, header, shape_, "m");
  }
  std::string Error(const std::string& body, std::optional<size_t> header = std::nullopt) {
    auto r = Decode(body, header);
    EXPECT_FALSE(r.ok()) << body;
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status();
    return std::string(r.status().message());
  }
  runtime::Signature sig_;
  ModelShape shape_;
};

TEST_F(TensorCodecTest, DecodesEveryNumericDatatypeFromJson) {
  for (std::string dt : {"FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8",
                         "UINT16", "UINT32", "UINT64"}) {
    auto r = Decode(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":")" + dt +
                    R"(","data":[1,2,3,4]}]})");
    ASSERT_TRUE(r.ok()) << dt << ": " << r.status();
    EXPECT_EQ(r->n_rows, 1u);
    EXPECT_EQ(r->rows, (std::vector<float>{1, 2, 3, 4})) << dt;
  }
  auto b = Decode(
      R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"BOOL","data":[true,false,true,true]}]})");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->rows, (std::vector<float>{1, 0, 1, 1}));
}

TEST_F(TensorCodecTest, NestedFlatBatchedAndNull) {
  auto r = Decode(
      R"({"id":"x1","inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,null,8]]}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->n_rows, 2u);
  EXPECT_EQ(*r->id, "x1");
  EXPECT_TRUE(std::isnan(r->rows[6]));
  auto flat =
      Decode(R"({"inputs":[{"name":"input","shape":[4],"datatype":"FP64","data":[1,2,3,4]}]})");
  ASSERT_TRUE(flat.ok()) << flat.status();
  EXPECT_EQ(flat->n_rows, 1u);
  ASSERT_EQ(flat->outputs.size(), 1u);
  EXPECT_EQ(flat->outputs[0].name, "output");
}

TEST_F(TensorCodecTest, ErrorsNameTheInputAndExpectedShape) {
  EXPECT_NE(Error("{not json").find("malformed JSON"), std::string::npos);
  EXPECT_NE(Error(R"([1,2])").find("JSON object"), std::string::npos);
  EXPECT_NE(Error(R"({"inputs":[]})").find("'input' (FP32 [-1, 4])"), std::string::npos);
  std::string wrong =
      Error(R"({"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]})");
  EXPECT_NE(wrong.find("[1, 3]"), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("[-1, 4]"), std::string::npos) << wrong;
  EXPECT_NE(
      Error(R"({"inputs":[{"name":"other","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]})")
          .find("unknown input 'other'"),
      std::string::npos);
  EXPECT_NE(
      Error(
          R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"BYTES","data":["a","b","c","d"]}]})")
          .find("BYTES"),
      std::string::npos);
  EXPECT_NE(
      Error(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP99","data":[1,2,3,4]}]})")
          .find("datatype"),
      std::string::npos);
  EXPECT_NE(Error(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]})")
                .find("has 3 elements"),
            std::string::npos);
  EXPECT_NE(
      Error(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4,5]}]})")
          .find("more elements"),
      std::string::npos);
  EXPECT_NE(
      Error(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"INT8","data":[1,2,3,400]}]})")
          .find("out of range"),
      std::string::npos);
  EXPECT_NE(
      Error(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"INT32","data":[1,2,3,4.5]}]})")
          .find("expected an integer"),
      std::string::npos);
  EXPECT_NE(
      Error(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,"x",4]}]})")
          .find("element 2"),
      std::string::npos);
  EXPECT_NE(
      Error(R"({"inputs":[{"name":"input","shape":[-1,4],"datatype":"FP32","data":[1,2,3,4]}]})")
          .find(">= 0"),
      std::string::npos);
  EXPECT_NE(
      Error(R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32"}]})").find("no data"),
      std::string::npos);
  EXPECT_NE(Error(R"({"id":5,"inputs":[]})").find("id must be a string"), std::string::npos);
  EXPECT_NE(
      Error(
          R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"nope"}]})")
          .find("unknown output 'nope'"),
      std::string::npos);
}

// Found by the tensor codec fuzzer: a datatype that is not a string threw
// from Json::value() instead of answering 400.
TEST_F(TensorCodecTest, NonStringDatatypeIsAnError) {
  std::string e = Error(R"({"inputs":[{"name":"input","shape":[4],"datatype":[1,2,3,4]}]})");
  EXPECT_NE(e.find("datatype must be one of"), std::string::npos) << e;
}

TEST_F(TensorCodecTest, HugeShapesAreRefusedWithoutAllocating) {
  // Product overflows uint64.
  EXPECT_NE(
      Error(
          R"({"inputs":[{"name":"input","shape":[4294967296,4294967296,4],"datatype":"FP32","data":[1]}]})")
          .find("too many elements"),
      std::string::npos);
  // Large but not overflowing: more than the body could hold.
  std::string e = Error(
      R"({"inputs":[{"name":"input","shape":[1000000,4],"datatype":"FP32","data":[1,2,3,4]}]})");
  EXPECT_NE(e.find("more than the body holds"), std::string::npos) << e;
  // Binary: declared size larger than what follows.
  std::string hdr =
      R"({"inputs":[{"name":"input","shape":[1000000,4],"datatype":"FP32","parameters":{"binary_data_size":16000000}}]})";
  EXPECT_NE(Error(hdr + "abcd", hdr.size()).find("exceeds"), std::string::npos);
}

TEST_F(TensorCodecTest, BinaryRoundTrip) {
  float rows[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  std::string hdr =
      R"({"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","parameters":{"binary_data_size":32}}],)"
      R"("outputs":[{"name":"output","parameters":{"binary_data":true}}]})";
  std::string body = hdr + std::string(reinterpret_cast<const char*>(rows), sizeof(rows));
  auto r = Decode(body, hdr.size());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows, std::vector<float>(rows, rows + 8));
  ASSERT_TRUE(r->outputs[0].binary);
  EncodedResponse enc = EncodeInferResponse(*r, shape_, "m", "3", {0.25f, 0.75f});
  ASSERT_TRUE(enc.header_length.has_value());
  auto head = ParseJson(enc.body.substr(0, *enc.header_length));
  ASSERT_TRUE(head.ok()) << enc.body;
  EXPECT_EQ((*head)["model_version"], "3");
  EXPECT_EQ((*head)["outputs"][0]["parameters"]["binary_data_size"], 8);
  EXPECT_EQ((*head)["outputs"][0]["shape"], Json::parse("[2,1]"));
  float out[2];
  ASSERT_EQ(enc.body.size() - *enc.header_length, sizeof(out));
  std::memcpy(out, enc.body.data() + *enc.header_length, sizeof(out));
  EXPECT_EQ(out[0], 0.25f);
  EXPECT_EQ(out[1], 0.75f);

  // Other binary datatypes decode too.
  int16_t ints[4] = {-1, 2, -3, 4};
  std::string h16 =
      R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"INT16","parameters":{"binary_data_size":8}}]})";
  auto r16 = Decode(h16 + std::string(reinterpret_cast<const char*>(ints), 8), h16.size());
  ASSERT_TRUE(r16.ok()) << r16.status();
  EXPECT_EQ(r16->rows, (std::vector<float>{-1, 2, -3, 4}));
  uint16_t halves[4] = {0x3c00, 0x4000, 0xc200, 0x0000};  // 1, 2, -3, 0
  std::string hh =
      R"({"inputs":[{"name":"input","shape":[1,4],"datatype":"FP16","parameters":{"binary_data_size":8}}]})";
  auto rh = Decode(hh + std::string(reinterpret_cast<const char*>(halves), 8), hh.size());
  ASSERT_TRUE(rh.ok()) << rh.status();
  EXPECT_EQ(rh->rows, (std::vector<float>{1, 2, -3, 0}));
}

TEST_F(TensorCodecTest, TruncatedAndMismatchedBinaryPayloads) {
  std::string hdr =
      R"({"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","parameters":{"binary_data_size":32}}]})";
  EXPECT_NE(Error(hdr + std::string(31, 'x'), hdr.size()).find("exceeds"), std::string::npos);
  EXPECT_NE(Error(hdr + std::string(33, 'x'), hdr.size()).find("no input claims"),
            std::string::npos);
  std::string bad_size =
      R"({"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","parameters":{"binary_data_size":31}}]})";
  EXPECT_NE(Error(bad_size + std::string(31, 'x'), bad_size.size()).find("needs 32 bytes"),
            std::string::npos);
  EXPECT_FALSE(ParseHeaderLength("12x", 100).ok());
  EXPECT_FALSE(ParseHeaderLength("101", 100).ok());
  EXPECT_FALSE(ParseHeaderLength("-1", 100).ok());
  EXPECT_EQ(*ParseHeaderLength("", 100), std::nullopt);
  // The header cut in the middle of the JSON.
  EXPECT_NE(Error(hdr + std::string(32, 'x'), 10).find("malformed JSON"), std::string::npos);
}

TEST_F(TensorCodecTest, RandomBytesNeverCrash) {
  std::mt19937 rng(1);
  std::string valid =
      R"({"id":"a","inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}],"outputs":[{"name":"output"}]})";
  for (int i = 0; i < 3000; ++i) {
    std::string body = valid;
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % body.size();
      switch (rng() % 3) {
        case 0:
          body[pos] = static_cast<char>(rng() % 256);
          break;
        case 1:
          body.erase(pos, 1 + rng() % 8);
          break;
        default:
          body.insert(pos, std::string(1, "[]{}\",:0123456789-e."[rng() % 21]));
      }
      if (body.empty()) body = "x";
    }
    std::optional<size_t> header;
    if (rng() % 4 == 0) header = rng() % (body.size() + 1);
    auto r = Decode(body, header);
    if (r.ok()) {
      EXPECT_EQ(r->rows.size(), r->n_rows * r->n_cols);
      EncodeInferResponse(*r, shape_, "m", "1", std::vector<float>(r->n_rows, 0.5f));
    }
  }
}

TEST_F(TensorCodecTest, MultipleInputsAreConcatenatedInSignatureOrder) {
  runtime::Signature sig;
  sig.inputs = {{"a", "FP32", {-1, 2}}, {"b", "INT64", {-1}}};
  sig.outputs = {{"p", "FP32", {-1, 2}}};
  ModelShape shape{&sig, 3, 2};
  auto r =
      DecodeInferRequest(R"({"inputs":[{"name":"b","shape":[2],"datatype":"INT64","data":[7,8]},)"
                         R"({"name":"a","shape":[2,2],"datatype":"FP32","data":[1,2,3,4]}]})",
                         std::nullopt, shape, "m");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->n_cols, 3u);
  EXPECT_EQ(r->rows, (std::vector<float>{1, 2, 7, 3, 4, 8}));
  auto missing = DecodeInferRequest(
      R"({"inputs":[{"name":"a","shape":[2,2],"datatype":"FP32","data":[1,2,3,4]}]})", std::nullopt,
      shape, "m");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("missing input 'b' (INT64 [-1])"),
            std::string::npos)
      << missing.status();
  EncodedResponse enc = EncodeInferResponse(*r, shape, "m", "1", {0.1f, 0.9f, 0.2f, 0.8f});
  auto j = ParseJson(enc.body);
  ASSERT_TRUE(j.ok()) << enc.body;
  EXPECT_EQ((*j)["outputs"][0]["shape"], Json::parse("[2,2]"));
  EXPECT_EQ((*j)["outputs"][0]["data"].size(), 4u);
}

}  // namespace
}  // namespace tandem::serving::server
