#include "glue/bus/testing/memory_bus.h"

#include <gtest/gtest.h>

#include "glue/bus/testing/event_bus_conformance.h"

namespace tandem::bus {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Memory, EventBusConformanceTest,
    ::testing::Values(EventBusFactory{
        "memory",
        [](Clock& clock, const std::string&) -> StatusOr<std::unique_ptr<EventBus>> {
          ASSIGN_OR_RETURN(std::unique_ptr<SqlEventBus> bus, NewMemoryEventBus(clock));
          return std::unique_ptr<EventBus>(std::move(bus));
        }}),
    [](const auto& info) { return info.param.name; });

TEST(MemoryEventBusTest, EachBusIsSeparate) {
  FakeClock clock;
  auto a = NewMemoryEventBus(clock);
  auto b = NewMemoryEventBus(clock);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*a)->CreateQueue("q").ok());
  EXPECT_EQ((*b)->GetQueue("q").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE((*a)->GetQueue("q").ok());
}

}  // namespace
}  // namespace tandem::bus
