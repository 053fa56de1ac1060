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
    for (const Json& d : EventDetails(bus::events::kNotebookInstanceStateChange)) {
      out.push_back(d.value("name", "") + ":" + d.value("state", ""));
    }
    return out;
  }
};

}  // namespace tandem::compute::testing
