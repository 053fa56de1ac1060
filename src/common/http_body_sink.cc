#include "common/http_body_sink.h"

namespace tandem::http {

Status BodySink::Append(std::string_view data) {
  if (!status_.ok()) return status_;
  if (data.empty()) return OkStatus();
  status_ = DoWrite(data);
  if (status_.ok()) bytes_ += static_cast<int64_t>(data.size());
  return status_;
}

}  // namespace tandem::http
