#include "glue/store/name_record.h"

#include "common/json.h"

namespace tandem::store {

std::string EncodeNameRecord(const ObjectInfo& info) {
  return Json{{"key", info.key},
              {"digest", info.digest},
              {"size", info.size},
              {"created_micros", info.created_micros}}
      .dump();
}

StatusOr<ObjectInfo> DecodeNameRecord(std::string_view text, std::string_view key,
                                      std::string_view where) {
  auto corrupt = [&](std::string_view why) {
    return DataLossError("name record " + std::string(where) + " is corrupt: " + std::string(why));
  };
  if (text.size() > kMaxNameRecordBytes) return corrupt("too large");
  StatusOr<Json> json = ParseJson(text);
  if (!json.ok() || !json->is_object()) return corrupt("not a JSON object");
  ObjectInfo info;
  try {
    info.key = json->at("key").get<std::string>();
    info.digest = json->at("digest").get<std::string>();
    info.size = json->at("size").get<uint64_t>();
    info.created_micros = json->at("created_micros").get<int64_t>();
  } catch (const std::exception& e) {
    return corrupt(e.what());
  }
  if (info.key != key) return corrupt("records key '" + info.key + "'");
  if (!ValidateDigest(info.digest).ok()) return corrupt("bad digest");
  return info;
}

}  // namespace tandem::store
