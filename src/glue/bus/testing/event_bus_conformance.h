// The EventBus conformance suite: the same behavioural tests for every
// backend. A backend's test instantiates it with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, EventBusConformanceTest,
//       ::testing::Values(EventBusFactory{"sqlite", MakeSqliteBus}),
//       [](const auto& info) { return info.param.name; });
//
// and compiles event_bus_conformance.cc into its test binary. Every test gets
// a fresh bus, a FakeClock (so visibility and retention are driven without
// sleeping) and its own scratch directory, removed afterwards.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "glue/bus/event_bus.h"

namespace tandem::bus {

struct EventBusFactory {
  std::string name;  // test-name suffix: [A-Za-z0-9_]
  // Creates a fresh, empty bus on `clock` that may keep files in `scratch_dir`.
  std::function<StatusOr<std::unique_ptr<EventBus>>(Clock& clock, const std::string& scratch_dir)>
      make;
};

class EventBusConformanceTest : public ::testing::TestWithParam<EventBusFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<EventBus> bus_;
};

}  // namespace tandem::bus
