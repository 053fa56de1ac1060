#include "glue/images/registry_image_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "common/clock.h"
#include "common/ids.h"
#include "common/testing/test_server.h"
#include "glue/images/errors.h"
#include "glue/images/testing/image_store_conformance.h"
#include "glue/images/testing/test_image.h"

namespace tandem::images {
namespace {

using ::testing::HasSubstr;

// Each store gets its own prefix in the one registry the fixture started, so
// every conformance test sees an empty store.
ImageStoreFactory RegistryFactory() {
  tandem::testing::TestServer server = tandem::testing::FindTestServer("registry");
  ImageStoreFactory f;
  f.name = "registry";
  f.deletes_tags = false;
  if (!server.uri) {
    // Under ctest the fixture must have started it: fail, never skip.
    f.make = [reason = server.reason, under_ctest = server.under_ctest](
                 bus::EventBus*) -> std::unique_ptr<ImageStore> {
      if (under_ctest) ADD_FAILURE() << reason;
      return nullptr;
    };
    if (!server.under_ctest && !tandem::testing::UnderCtest()) f.skip_reason = server.reason;
    return f;
  }
  f.make = [uri = *server.uri](bus::EventBus* bus) -> std::unique_ptr<ImageStore> {
    static std::atomic<int> next{0};
    std::string ulid = NewUlid(Clock::Real());
    for (char& c : ulid) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string prefix = "t" + ulid + "-" + std::to_string(next++);
    auto s = ImageStore::Open(uri + "/" + prefix, nullptr, bus, nullptr);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  };
  return f;
}

INSTANTIATE_TEST_SUITE_P(Registry, ImageStoreConformanceTest, ::testing::Values(RegistryFactory()),
                         ImageStoreFactoryName);

TEST(RegistryImageStoreTest, UriIsChecked) {
  for (std::string bad : {"registry://", "registry://h:1/Bad", "registry://u@h:1", "http://h:1"}) {
    auto s = RegistryImageStore::Open(bad, nullptr, nullptr);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.status().message(), HasSubstr(bad)) << bad;
  }
  auto ok = RegistryImageStore::Open("registrys://reg.example:443/a/b/", nullptr, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->uri(), "registrys://reg.example:443/a/b/");
}

TEST(RegistryImageStoreTest, GarbageCollectIsTheRegistrys) {
  auto s = RegistryImageStore::Open("registry://127.0.0.1:1", nullptr, nullptr);
  ASSERT_TRUE(s.ok());
  auto gc = (*s)->GarbageCollect(0);
  EXPECT_EQ(gc.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(gc.status().message(), HasSubstr("registry garbage-collect"));
}

}  // namespace
}  // namespace tandem::images
