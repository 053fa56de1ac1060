#include "runtime/self_test.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json.h"

namespace tandem::runtime {
namespace {

Status LineError(const std::string& source, int line, const std::string& what) {
  return InvalidArgumentError(absl::StrCat("self-test ", source, " line ", line, ": ", what));
}

}  // namespace

StatusOr<std::vector<SelfTestCase>> ParseSelfTest(const std::string& text,
                                                  const std::string& source) {
  std::vector<SelfTestCase> cases;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto doc = ParseJson(line);
    if (!doc.ok()) return LineError(source, number, std::string(doc.status().message()));
    if (!doc->is_object()) return LineError(source, number, "is not a JSON object");
    SelfTestCase c;
    c.line = number;
    auto input = doc->find("input");
    if (input == doc->end() || !input->is_array() || input->empty()) {
      return LineError(source, number, "'input' must be a non-empty array of numbers or nulls");
    }
    for (const Json& v : *input) {
      if (v.is_null()) {
        c.input.push_back(std::numeric_limits<float>::quiet_NaN());
      } else if (v.is_number()) {
        c.input.push_back(v.get<float>());
      } else {
        return LineError(source, number, "'input' must be a non-empty array of numbers or nulls");
      }
    }
    auto output = doc->find("output");
    if (output == doc->end() || !output->is_array() || output->empty()) {
      return LineError(source, number, "'output' must be a non-empty array of numbers");
    }
    for (const Json& v : *output) {
      if (!v.is_number()) {
        return LineError(source, number, "'output' must be a non-empty array of numbers");
      }
      c.output.push_back(v.get<float>());
    }
    if (auto tol = doc->find("tolerance"); tol != doc->end()) {
      if (!tol->is_number() || tol->get<double>() < 0) {
        return LineError(source, number, "'tolerance' must be a number >= 0");
      }
      c.tolerance = tol->get<double>();
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

StatusOr<std::vector<SelfTestCase>> ReadSelfTest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(absl::StrCat("self-test file ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseSelfTest(ss.str(), path);
}

Status RunSelfTest(const Predictor& predictor, const std::vector<SelfTestCase>& cases,
                   const std::string& source) {
  std::vector<float> got(static_cast<size_t>(predictor.num_outputs()));
  for (size_t row = 0; row < cases.size(); ++row) {
    const SelfTestCase& c = cases[row];
    const std::string where =
        absl::StrCat("self-test ", source, " row ", row, " (line ", c.line, ")");
    if (c.output.size() != got.size()) {
      return FailedPreconditionError(absl::StrCat(where, ": expects ", c.output.size(),
                                                  " outputs but the model produces ", got.size()));
    }
    Status s = predictor.Predict(c.input.data(), 1, c.input.size(), got.data());
    if (!s.ok()) return Annotate(s, where);
    for (size_t k = 0; k < got.size(); ++k) {
      const double diff = std::fabs(static_cast<double>(got[k]) - c.output[k]);
      if (!(diff <= c.tolerance)) {
        return FailedPreconditionError(
            absl::StrFormat("%s: output[%d] = %.9g but expected %.9g (tolerance %g)", where, k,
                            got[k], c.output[k], c.tolerance));
      }
    }
  }
  return OkStatus();
}

}  // namespace tandem::runtime
