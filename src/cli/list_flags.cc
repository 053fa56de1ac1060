#include "cli/list_flags.h"

#include <algorithm>
#include <iostream>

#include "common/uri.h"

namespace tandem::cli {

void AddListFlags(CLI::App* cmd, ListFlags& flags, int default_limit, bool paged) {
  flags.limit = default_limit;
  flags.paged = paged;
  cmd->add_option("--limit", flags.limit, "At most this many (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--all", flags.all, "Every item (ignore --limit)");
  if (paged) {
    cmd->add_option("--page-token", flags.page_token,
                    "Continue after a previous page (its next_page_token)");
  }
}

StatusOr<Json> FetchList(ApiClient& client, const std::string& path, const std::string& key,
                         const ListFlags& flags) {
  const int limit = flags.all ? 0 : flags.limit;
  Json items = Json::array();
  if (!flags.paged) {
    ASSIGN_OR_RETURN(Json doc, client.Call("GET", path));
    if (doc.contains(key) && doc[key].is_array()) items = doc[key];
    if (limit > 0 && static_cast<int>(items.size()) > limit) {
      items.erase(items.begin() + limit, items.end());
    }
    doc[key] = items;
    return doc;
  }
  std::string token = flags.page_token;
  const char* sep = path.find('?') == std::string::npos ? "?" : "&";
  while (true) {
    int want = 1000;
    if (limit > 0) want = std::min(want, limit - static_cast<int>(items.size()));
    std::string url = path + sep + "max_results=" + std::to_string(want);
    if (!token.empty()) url += "&page_token=" + PercentEncode(token, "-._~");
    ASSIGN_OR_RETURN(Json page, client.Call("GET", url));
    if (page.contains(key) && page[key].is_array()) {
      for (auto& item : page[key]) items.push_back(std::move(item));
    }
    token = page.value("next_page_token", "");
    if (token.empty()) break;
    if (limit > 0 && static_cast<int>(items.size()) >= limit) break;
  }
  Json out = {{key, items}};
  if (!token.empty()) out["next_page_token"] = token;
  return out;
}

void HintMore(const Json& doc) {
  if (doc.contains("next_page_token")) {
    std::cerr << "(more: --page-token " << doc["next_page_token"].get<std::string>()
              << ", or --all)\n";
  }
}

}  // namespace tandem::cli
