// Conformance suite every ImageStore backend must pass. A backend's test
// instantiates it with one line:
//
//   INSTANTIATE_TEST_SUITE_P(Embedded, ImageStoreConformanceTest,
//       ::testing::Values(ImageStoreFactory{"embedded", MakeFresh}),
//       ImageStoreFactoryName);
//
// The factory must return a fresh, EMPTY store each time (no repositories),
// publishing its events on `bus` (owned by the test, outlives the store).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "glue/bus/event_bus.h"
#include "glue/images/image_store.h"

namespace tandem::images {

struct ImageStoreFactory {
  std::string name;  // test-name suffix: letters, digits, '_'
  std::function<std::unique_ptr<ImageStore>(bus::EventBus* bus)> make;
  // Whether DeleteTag removes a tag alone; a backend that cannot must answer
  // Unimplemented (UNSUPPORTED) and leave the tag (the suite checks both).
  bool deletes_tags = true;
  // Message to skip the suite with (e.g. the test server is not running).
  std::string skip_reason = "";
};

inline std::string ImageStoreFactoryName(
    const ::testing::TestParamInfo<ImageStoreFactory>& info) {
  return info.param.name;
}

class ImageStoreConformanceTest : public ::testing::TestWithParam<ImageStoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Details of the "Image Action" events published so far, in order.
  std::vector<Json> ImageEvents();

  std::unique_ptr<bus::EventBus> bus_;
  std::unique_ptr<ImageStore> store_;
};

}  // namespace tandem::images
