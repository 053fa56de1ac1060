// Conformance suite every ObjectStore backend must pass. A backend's test
// instantiates it with one line:
//
//   INSTANTIATE_TEST_SUITE_P(File, ObjectStoreConformanceTest,
//       ::testing::Values(ObjectStoreFactory{"file", [] { return MakeFreshStore(); }}),
//       ObjectStoreFactoryName);
//
// The factory must return a fresh, EMPTY store each time it is called (e.g. a
// new temp dir, a new bucket prefix); the test owns and destroys it. Cleanup of
// backing storage is the instantiating test's job.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "glue/store/object_store.h"

namespace tandem::store {

struct ObjectStoreFactory {
  std::string name;  // used as the test-name suffix: letters, digits, '_'
  std::function<std::unique_ptr<ObjectStore>()> make;
};

inline std::string ObjectStoreFactoryName(
    const ::testing::TestParamInfo<ObjectStoreFactory>& info) {
  return info.param.name;
}

class ObjectStoreConformanceTest : public ::testing::TestWithParam<ObjectStoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A per-test scratch directory (for PutBlobFromFile / GetBlobToFile).
  const std::string& scratch() const { return scratch_; }

  std::unique_ptr<ObjectStore> store_;

 private:
  std::string scratch_;
};

}  // namespace tandem::store
