#include "common/status.h"

#include <string>

namespace tandem {

Status Annotate(const Status& s, std::string_view context) {
  if (s.ok()) return s;
  std::string msg(context);
  msg += ": ";
  msg.append(s.message().data(), s.message().size());
  return Status(s.code(), msg);
}

}  // namespace tandem
