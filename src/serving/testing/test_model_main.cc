// Test tool: writes a small XGBoost model package (20 features,
// binary:logistic) for the shell end-to-end tests.
//   serving_test_model DIR [SEED] [ROUNDS] [--feature-names]
#include <iostream>
#include <string>

#include "serving/testing/test_util.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: serving_test_model DIR [SEED] [ROUNDS] [--feature-names]\n";
    return 2;
  }
  tandem::serving::testing::ModelSpec spec;
  if (argc > 2) spec.seed = static_cast<unsigned>(std::stoul(argv[2]));
  if (argc > 3) spec.rounds = std::stoi(argv[3]);
  if (argc > 4) spec.feature_names = std::string(argv[4]) == "--feature-names";
  tandem::Status s = tandem::serving::testing::WritePackage(argv[1], spec);
  if (!s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
