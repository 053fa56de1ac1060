// Session's streamed responses (Response::stream): chunked, paced by the
// handler's callback on the worker pool, ended when the client leaves or the
// server stops. Included by http_session.h only (its definitions need the
// whole Session); split from it to keep each file one size.
#pragma once

#include "common/http_session.h"

namespace tandem::http::detail {

// Streamed responses are chunked and always end the connection (they are
// long-lived, e.g. `events tail`), so no request can follow on it.
inline void Session::StartStream(Response r) {
  body_stream_ = std::move(r.stream);
  streaming_ = true;
  stream_res_.emplace(static_cast<bhttp::status>(r.status), 11);
  bool close = true;
  ApplyHeaders(r.headers, stream_res_->base(), close);
  stream_res_->keep_alive(false);
  stream_res_->chunked(true);
  stream_sr_.emplace(*stream_res_);
  stream_.expires_never();  // the callback paces the stream
  WatchDisconnect();
  bhttp::async_write_header(stream_, *stream_sr_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->PullChunk();
                            });
}

// A read that completes only when the peer closes (or sends something).
inline void Session::WatchDisconnect() {
  stream_.socket().async_read_some(asio::buffer(watch_buf_),
                                   [self = shared_from_this()](beast::error_code ec, size_t) {
                                     if (ec) self->cancelled_->store(true);
                                   });
}

inline void Session::PullChunk() {
  asio::post(*core_->workers, [self = shared_from_this()] {
    auto cancelled = self->cancelled_;
    StreamContext ctx{[cancelled] { return cancelled->load(); }};
    auto chunk = std::make_shared<std::string>();
    bool more = true;
    while (!cancelled->load()) {
      try {
        more = self->body_stream_(*chunk, ctx);
      } catch (const std::exception& e) {
        LogError("http stream callback threw",
                 {{"target", self->req_.target}, {"error", e.what()}});
        more = false;
      } catch (...) {
        more = false;
      }
      if (!chunk->empty() || !more) break;
    }
    asio::post(self->stream_.get_executor(),
               [self, chunk, more] { self->WriteChunk(std::move(*chunk), more); });
  });
}

inline void Session::WriteChunk(std::string chunk, bool more) {
  if (closed_) return;
  // A stopping server ends the stream cleanly; a client that left does not
  // need the end.
  if (cancelled_->load() && !ending_) return Close();
  if (ending_) more = false;
  chunk_ = std::move(chunk);
  if (chunk_.empty()) return WriteLastChunk();
  asio::async_write(stream_, bhttp::make_chunk(asio::buffer(chunk_)),
                    [self = shared_from_this(), more](beast::error_code ec, size_t) {
                      if (ec) return self->Close();
                      if (more) return self->PullChunk();
                      self->WriteLastChunk();
                    });
}

inline void Session::WriteLastChunk() {
  asio::async_write(stream_, bhttp::make_chunk_last(),
                    [self = shared_from_this()](beast::error_code, size_t) { self->Close(); });
}

}  // namespace tandem::http::detail
