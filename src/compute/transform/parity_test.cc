// Offline and online scores are identical: rows scored by the transform
// engine (CSV in, CSV out) equal, bit for bit, the scores of the very
// Predictor serving builds with runtime::LoadModel, called one request (row)
// at a time as online traffic does — for a native XGBoost model and for a
// Python-handler model (examples/sklearn-train, trained by its own script).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/testing/run_tool.h"
#include "compute/transform/engine.h"
#include "runtime/load_model.h"
#include "runtime/testing/xgboost_test_util.h"

namespace tandem::compute::transform {
namespace {

namespace fs = std::filesystem;
using runtime::testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Rows as CSV with every float printed so that it reads back exactly.
std::string ToCsv(const std::vector<float>& rows, int cols) {
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!std::isnan(rows[i])) {
      char buf[32];
      out.append(buf, std::to_chars(buf, buf + 32, rows[i]).ptr);
    }
    out += (i + 1) % cols == 0 ? '\n' : ',';
  }
  return out;
}

std::vector<float> ParseScores(const std::string& text) {
  std::vector<float> out;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    float v;
    auto r = std::from_chars(p, end, v);
    EXPECT_EQ(r.ec, std::errc()) << "unparsable score at offset " << (p - text.data());
    if (r.ec != std::errc()) break;
    out.push_back(v);
    p = r.ptr + 1;  // ',' or '\n'
  }
  return out;
}

// Online: one Predict call per row, as single requests reach a replica.
std::vector<float> ScoreOnline(const runtime::Predictor& p, const std::vector<float>& rows) {
  const int nf = p.num_features(), no = p.num_outputs();
  std::vector<float> out(rows.size() / nf * no);
  for (size_t r = 0; r < rows.size() / nf; ++r) {
    Status s = p.Predict(rows.data() + r * nf, 1, nf, out.data() + r * no);
    EXPECT_TRUE(s.ok()) << s;
  }
  return out;
}

void ExpectBitIdentical(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  size_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0 && ++differing <= 5) {
      ADD_FAILURE() << "score " << i << ": offline " << a[i] << " online " << b[i];
    }
  }
  EXPECT_EQ(differing, 0u);
}

void CheckParity(const runtime::Predictor& p, const std::vector<float>& rows, const TempDir& dir) {
  std::ofstream(dir.File("in.csv")) << ToCsv(rows, p.num_features());
  for (auto strategy : {BatchStrategy::kMultiRecord, BatchStrategy::kSingleRecord}) {
    TransformOptions o;
    o.batch_strategy = strategy;
    o.threads = 2;
    o.max_payload_bytes = 16 << 10;
    auto stats = TransformFile(p, dir.File("in.csv"), dir.File("in.csv.out"), o);
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(stats->records, static_cast<int64_t>(rows.size() / p.num_features()));
    ExpectBitIdentical(ParseScores(ReadFile(dir.File("in.csv.out"))), ScoreOnline(p, rows));
  }
}

TEST(TransformParity, XgboostOfflineEqualsOnline) {
  TempDir dir;
  fs::create_directories(dir.File("model"));
  runtime::testing::TrainSpec train;
  train.rounds = 40;
  auto xgb = runtime::testing::XgbModel::Train(train);
  ASSERT_TRUE(xgb.ok()) << xgb.status();
  ASSERT_TRUE(xgb->Save(dir.File("model/model.json")).ok());
  auto model = runtime::LoadModel(dir.File("model"));
  ASSERT_TRUE(model.ok()) << model.status();
  auto rows = runtime::testing::RandomRows(3000, 20, 0.1, 11);
  CheckParity((*model)->predictor(), rows, dir);
}

// Trains examples/sklearn-train with its own script (SageMaker contract
// variables), adds its serving/ folder, as a tandem job's packaging does.
TEST(TransformParity, PythonHandlerOfflineEqualsOnline) {
  const std::string example = std::string(TANDEM_SOURCE_DIR) + "/examples/sklearn-train";
  const std::string data = std::string(TANDEM_SOURCE_DIR) + "/examples/data";
  TempDir dir;
  const std::string model_dir = dir.File("model");
  fs::create_directories(model_dir);
  ::tandem::testing::ToolOptions job_env;
  job_env.env = {"SM_MODEL_DIR=" + model_dir, "SM_CHANNEL_TRAIN=" + data + "/train.csv",
                 "SM_OUTPUT_DATA_DIR=" + dir.path()};
  job_env.cwd = dir.path();
  auto train = ::tandem::testing::RunTool(
      {"/usr/bin/python3", example + "/train.py", "--n-estimators", "20"}, job_env);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_TRUE(train->exit.ok()) << train->exit.ToString() << "\n" << train->out;
  for (const char* f : {"handler.py", "tandem-model.yaml"}) {
    fs::copy_file(example + "/serving/" + f, model_dir + "/" + f);
  }
  auto model = runtime::LoadModel(model_dir);
  ASSERT_TRUE(model.ok()) << model.status();
  const runtime::Predictor& p = (*model)->predictor();
  ASSERT_EQ(p.flavor(), "python");
  // The validation rows of the example data, label column dropped.
  std::vector<float> rows;
  std::istringstream csv(ReadFile(data + "/validation.csv"));
  for (std::string line; std::getline(csv, line);) {
    std::vector<float> row;
    size_t start = line.find(',') + 1;
    while (start <= line.size()) {
      size_t comma = std::min(line.find(',', start), line.size());
      float v = NAN;
      if (comma > start) std::from_chars(line.data() + start, line.data() + comma, v);
      row.push_back(v);
      start = comma + 1;
    }
    ASSERT_EQ(row.size(), 20u) << line;
    rows.insert(rows.end(), row.begin(), row.end());
  }
  ASSERT_EQ(rows.size(), 1000u * 20);
  CheckParity(p, rows, dir);
}

}  // namespace
}  // namespace tandem::compute::transform
