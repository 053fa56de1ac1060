#include "compute/transform/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace tandem::compute::transform {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// Scores [sum of present features, number of missing ones]; counts batches.
class FakePredictor : public runtime::Predictor {
 public:
  int num_features() const override { return 3; }
  int num_outputs() const override { return 2; }
  Status Predict(const float* rows, size_t n_rows, size_t n_cols, float* out) const override {
    calls_++;
    size_t prev = max_rows_.load();
    while (n_rows > prev && !max_rows_.compare_exchange_weak(prev, n_rows)) {
    }
    for (size_t r = 0; r < n_rows; ++r) {
      float sum = 0, missing = 0;
      for (size_t c = 0; c < n_cols; ++c) {
        float v = rows[r * n_cols + c];
        if (std::isnan(v)) {
          ++missing;
        } else {
          sum += v;
        }
      }
      out[2 * r] = sum;
      out[2 * r + 1] = missing;
    }
    return OkStatus();
  }
  const runtime::Signature& signature() const override { return sig_; }
  const std::vector<std::string>& feature_names() const override { return names_; }
  std::string flavor() const override { return "fake"; }
  std::string Describe() const override { return "fake"; }
  int64_t calls() const { return calls_; }
  size_t max_rows() const { return max_rows_; }

 private:
  runtime::Signature sig_;
  std::vector<std::string> names_;
  mutable std::atomic<int64_t> calls_{0};
  mutable std::atomic<size_t> max_rows_{0};
};

class TransformEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tandem-transform-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << text;
    return dir_ + "/" + name;
  }
  std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  StatusOr<std::string> Run(const std::string& input, const TransformOptions& opts,
                            const runtime::Predictor& p) {
    std::string in = Write("in", input);
    std::string out = dir_ + "/in.out";
    auto stats = TransformFile(p, in, out, opts);
    if (!stats.ok()) {
      EXPECT_FALSE(fs::exists(out)) << "a failed object leaves no output";
      return stats.status();
    }
    return Read(out);
  }
  StatusOr<std::string> Run(const std::string& input, const TransformOptions& opts) {
    return Run(input, opts, fake_);
  }
  // The same through a FIFO: the engine reads it in chunks instead of
  // mapping it.
  StatusOr<std::string> RunPipe(const std::string& input, const TransformOptions& opts) {
    const std::string pipe = dir_ + "/pipe";
    fs::remove(pipe);
    if (::mkfifo(pipe.c_str(), 0600) != 0) return InternalError("mkfifo");
    std::thread writer([&] { std::ofstream(pipe, std::ios::binary) << input; });
    const std::string out = dir_ + "/pipe.out";
    auto stats = TransformFile(fake_, pipe, out, opts);
    writer.join();
    if (!stats.ok()) return stats.status();
    return Read(out);
  }

  std::string dir_;
  FakePredictor fake_;
};

TransformOptions Csv() { return TransformOptions{}; }
TransformOptions Jsonl() {
  TransformOptions o;
  o.content_type = TransformContentType::kJsonLines;
  return o;
}

TEST_F(TransformEngineTest, ScoresCsvRowsInOrder) {
  auto out = Run("1,2,3\n0.5,,1.25\n\n-4,+2\r\n", Csv());
  ASSERT_TRUE(out.ok()) << out.status();
  // Blank line skipped; empty field and short rows are missing values.
  EXPECT_EQ(*out, "6,0\n1.75,1\n-2,1\n");
}

TEST_F(TransformEngineTest, LastLineWithoutNewline) {
  auto out = Run("1,1,1\n2,2,2", Csv());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "3,0\n6,0\n");
}

TEST_F(TransformEngineTest, ScoresJsonLines) {
  auto out = Run("{\"features\": [1, 2, null]}\n[0.25, 0.5]\n", Jsonl());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "{\"prediction\":[3,1]}\n{\"prediction\":[0.75,1]}\n");
}

TEST_F(TransformEngineTest, JoinSourceInputPrependsTheLine) {
  TransformOptions csv = Csv();
  csv.join_input = true;
  auto out = Run("1,2,3\n4,5,6\n", csv);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "1,2,3,6,0\n4,5,6,15,0\n");
  TransformOptions jsonl = Jsonl();
  jsonl.join_input = true;
  out = Run("{\"features\":[1,2,3],\"id\":\"a\"}\n", jsonl);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "{\"input\":{\"features\":[1,2,3],\"id\":\"a\"},\"prediction\":[6,0]}\n");
}

TEST_F(TransformEngineTest, EmptyFileGivesEmptyOutput) {
  auto out = Run("", Csv());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "");
  out = Run("\n\n", Jsonl());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "");
  EXPECT_EQ(fake_.calls(), 0);
}

TEST_F(TransformEngineTest, BadRowsNameTheirLine) {
  struct Case {
    std::string input;
    TransformOptions opts;
    std::string expected;
  };
  const Case cases[] = {
      {"1,2,3\n4,x,6\n7,8,9\n", Csv(), "line 2: column 2: 'x' is not a number"},
      {"f1,f2,f3\n1,2,3\n", Csv(), "line 1: column 1: 'f1' is not a number"},
      {"1,2,3\n\n1,2,3,4\n", Csv(), "line 3: has 4 columns; the model takes 3 features"},
      {"[1,2]\n{\"features\": [1,\n", Jsonl(), "line 2: is not valid JSON"},
      {"[1,2]\n{\"x\": [1]}\n", Jsonl(), "line 2: object has no \"features\" field"},
      {"[1,\"a\"]\n", Jsonl(), "line 1: feature 2 is not a number or null"},
      {"[1,2,3,4]\n", Jsonl(), "line 1: has 4 features; the model takes 3"},
      {"\"text\"\n", Jsonl(), "line 1: must be an array"},
  };
  for (const Case& c : cases) {
    auto out = Run(c.input, c.opts);
    ASSERT_FALSE(out.ok()) << c.input;
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(out.status().message()), HasSubstr(c.expected)) << c.input;
  }
}

TEST_F(TransformEngineTest, FirstBadLineWinsAcrossBatchesAndThreads) {
  std::string input;
  for (int i = 1; i <= 2000; ++i) {
    input += (i == 1500 || i == 1900) ? "bad\n" : std::to_string(i) + ",1,1\n";
  }
  TransformOptions o = Csv();
  o.max_payload_bytes = 64;
  o.threads = 4;
  auto out = Run(input, o);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("line 1500:"));
}

// A regular file is mapped, a pipe read in chunks: the same outputs, the same
// errors with the same line numbers.
TEST_F(TransformEngineTest, MappedAndReadInputsAgree) {
  std::string good, bad, crlf;
  for (int i = 1; i <= 3000; ++i) {
    good += std::to_string(i) + ",0.5,-" + std::to_string(i % 7) + "e-3\n";
    bad += (i == 2500) ? "1,2,3,4\n" : std::to_string(i) + ",1\n";
    crlf += std::to_string(i) + ", 2 ,\r\n";
  }
  std::string too_long = good + std::string(300, '1') + "\n";
  for (const std::string* input : {&good, &bad, &crlf, &too_long}) {
    for (auto strategy : {BatchStrategy::kMultiRecord, BatchStrategy::kSingleRecord}) {
      TransformOptions o = Csv();
      o.max_payload_bytes = 200;
      o.threads = 3;
      o.batch_strategy = strategy;
      auto mapped = Run(*input, o);
      auto read = RunPipe(*input, o);
      ASSERT_EQ(mapped.ok(), read.ok());
      if (mapped.ok()) {
        EXPECT_EQ(*mapped, *read);
        EXPECT_EQ(std::count(mapped->begin(), mapped->end(), '\n'), 3000);
      } else {
        EXPECT_EQ(mapped.status(), read.status());
        EXPECT_THAT(std::string(mapped.status().message()),
                    HasSubstr(input == &bad ? "line 2500:" : "line 3001:"));
      }
    }
  }
}

TEST_F(TransformEngineTest, MultiAndSingleRecordGiveTheSameOutput) {
  std::string input;
  for (int i = 0; i < 3000; ++i) {
    input += std::to_string(i * 0.37f) + "," + (i % 7 == 0 ? "" : std::to_string(i % 13)) + "," +
             std::to_string(-i) + "\n";
    if (i % 500 == 0) input += "\n";
  }
  TransformOptions multi = Csv();
  multi.max_payload_bytes = 4096;
  multi.threads = 3;
  auto a = Run(input, multi);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_GT(fake_.max_rows(), 100u);
  FakePredictor single_fake;
  TransformOptions single = Csv();
  single.batch_strategy = BatchStrategy::kSingleRecord;
  single.threads = 2;
  auto b = Run(input, single, single_fake);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(single_fake.max_rows(), 1u);
  EXPECT_EQ(single_fake.calls(), 3000);
  EXPECT_EQ(std::count(a->begin(), a->end(), '\n'), 3000);
}

TEST_F(TransformEngineTest, PayloadLimitBoundsBatchesAndRefusesLongLines) {
  std::string input;
  for (int i = 0; i < 100; ++i) input += "1,2,3\n";  // 6 bytes per line
  TransformOptions o = Csv();
  o.max_payload_bytes = 60;  // 10 lines per batch
  auto out = Run(input, o);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(fake_.max_rows(), 10u);
  EXPECT_EQ(fake_.calls(), 10);
  o.max_payload_bytes = 8;
  auto bad = Run("1,2,3\n1.000000,2.000000,3\n", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("line 2: is longer than"));
  o.batch_strategy = BatchStrategy::kSingleRecord;
  bad = Run("1,2,3\n1,2,3\n1.000000,2.000000,3", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("line 3: is longer than"));
}

TEST_F(TransformEngineTest, MissingInputIsNotFound) {
  auto stats = TransformFile(fake_, dir_ + "/nope.csv", dir_ + "/nope.out", Csv());
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(std::string(stats.status().message()), HasSubstr("nope.csv"));
}

}  // namespace
}  // namespace tandem::compute::transform
