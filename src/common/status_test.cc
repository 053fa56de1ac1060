#include "common/status.h"

#include "absl/strings/cord.h"
#include "common/http_status.h"
#include "gtest/gtest.h"

namespace tandem {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status Check(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return OkStatus();
}

TEST(StatusTest, MacrosPropagate) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Check(2).ok());
  EXPECT_FALSE(Check(3).ok());
}

TEST(StatusTest, AnnotatePrefixesMessage) {
  Status s = Annotate(NotFoundError("no such model"), "models/foo");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "models/foo: no such model");
  EXPECT_TRUE(Annotate(OkStatus(), "x").ok());
}

TEST(StatusTest, AnnotateKeepsPayloads) {
  Status base = NotFoundError("gone");
  base.SetPayload("type.example/x", absl::Cord("v"));
  Status s = Annotate(base, "ctx");
  ASSERT_TRUE(s.GetPayload("type.example/x").has_value());
  EXPECT_EQ(std::string(*s.GetPayload("type.example/x")), "v");
}

TEST(HttpStatusTest, MapsCanonicalCodes) {
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFromCode(StatusCode::kDataLoss), 500);
  EXPECT_EQ(CodeName(StatusCode::kNotFound), "NOT_FOUND");
  EXPECT_EQ(CodeFromName("FAILED_PRECONDITION"), StatusCode::kFailedPrecondition);
  EXPECT_EQ(CodeFromHttpStatus(404), StatusCode::kNotFound);
  EXPECT_EQ(CodeFromHttpStatus(503), StatusCode::kUnavailable);
}

TEST(HttpStatusTest, OutOfStorageIs507AndSaysSo) {
  Status full = InsufficientStorageError("write '/x': No space left on device");
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(IsInsufficientStorage(full));
  EXPECT_EQ(full.message(),
            "the server is out of storage space: write '/x': No space left on device");
  EXPECT_EQ(HttpStatusOf(full), 507);
  EXPECT_TRUE(IsInsufficientStorage(Annotate(full, "upload")));  // context keeps the mark
  // A quota or a full queue stays 429.
  EXPECT_FALSE(IsInsufficientStorage(ResourceExhaustedError("quota")));
  EXPECT_EQ(HttpStatusOf(ResourceExhaustedError("quota")), 429);
  EXPECT_EQ(HttpStatusOf(NotFoundError("x")), 404);
  EXPECT_EQ(CodeFromHttpStatus(507), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace tandem
