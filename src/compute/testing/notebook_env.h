// Test fixture for notebooks: the glue on a fresh home (compute/testing/glue_env.h) and
// the notebook events its outbox recorded.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "compute/testing/glue_env.h"
#include "glue/bus/event_types.h"
#include "glue/bus/sql_event_bus.h"
#include "glue/sql/database.h"
#include "glue/store/object_store.h"
#include "gtest/gtest.h"

namespace tandem::compute::testing {

class NotebookTestEnv : public GlueTestEnv {
 protected:
  void SetUp() override { OpenGlue("/tmp/tandem-notebook-"); }
  void TearDown() override { RemoveHome(); }

  // The notebook events recorded so far, as "<name>:<state>" in order.
  std::vector<std::string> NotebookEvents() {
    std::vector<std::string> out;
    bus::TailOptions opts;
    opts.limit = 1000;
    auto tail = bus_->Tail(opts);
    EXPECT_TRUE(tail.ok()) << tail.status();
    if (!tail.ok()) return out;
    for (const auto& e : tail->events) {
      if (e.event.detail_type != bus::events::kNotebookInstanceStateChange) continue;
      out.push_back(e.event.detail.value("name", "") + ":" + e.event.detail.value("state", ""));
    }
    return out;
  }
};

}  // namespace tandem::compute::testing
