#include "common/status.h"

#include <string>

#include "absl/strings/cord.h"

namespace tandem {

Status Annotate(const Status& s, std::string_view context) {
  if (s.ok()) return s;
  std::string msg(context);
  msg += ": ";
  msg.append(s.message().data(), s.message().size());
  Status out(s.code(), msg);
  // Payloads (e.g. an image store's distribution error code) survive.
  s.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

}  // namespace tandem
