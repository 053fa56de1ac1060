// Session's head checks (RouteOptions::head_check): a request's head is
// judged on the worker pool before its body is read, so that a request the
// route refuses (no credentials, say) costs no body: no bytes read, no sink
// (spool file) made. Included by http_session.h only (its definitions need
// the whole Session); split from it to keep each file one size.
#pragma once

#include "common/http_session.h"

namespace tandem::http::detail {

inline void Session::CheckHead() {
  CopyHeaders();
  head_checked_ = true;
  req_.path_params = match_.params;
  req_.remote_address = remote_;
  // The header's deadline is not the check's: the body watch takes over
  // once the head is admitted, and a refusal is written without a deadline
  // like any handler's answer.
  stream_.expires_never();
  const RouteEntry* route = match_.route;
  asio::post(*core_->workers, [self = shared_from_this(), route] {
    auto refusal = std::make_shared<Response>();
    const bool admitted = RunHeadCheck(*route, self->req_, *refusal);
    asio::post(self->stream_.get_executor(), [self, refusal, admitted] {
      if (self->closed_) return;
      if (admitted) return self->StartBody();
      // The body was not read: the connection closes after the answer.
      self->close_after_ = self->linger_ = true;
      self->WriteResponse(std::move(*refusal));
    });
  });
}

inline bool Session::RunHeadCheck(const RouteEntry& route, const Request& head,
                                  Response& refusal) {
  std::string what;
  try {
    return route.options.head_check(head, refusal);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  LogError("http head check threw",
           {{"route", route.method + " " + route.pattern}, {"target", head.target}, {"error", what}});
  refusal = ErrorResponse(500, StatusCode::kInternal,
                          "head check for " + route.method + " " + route.pattern + " failed: " + what);
  return false;
}

}  // namespace tandem::http::detail
