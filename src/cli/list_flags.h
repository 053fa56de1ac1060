// The pagination flags every list command shares, and the fetch that honours
// them:
//   --limit N        at most N items (0 = no limit; each command has a default)
//   --all            every item (same as --limit 0)
//   --page-token T   continue after a previous page (commands whose API pages)
// When a list stops at --limit with more items left, the document keeps
// `next_page_token` (shown by -o json|yaml; the table prints a hint on stderr).
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "cli/api_client.h"
#include "common/json.h"
#include "common/status.h"

namespace tandem::cli {

struct ListFlags {
  int limit = 0;
  bool all = false;
  std::string page_token;
  bool paged = true;  // the API pages (max_results/page_token)
};

// Adds --limit (default `default_limit`), --all and, when `paged`, --page-token.
void AddListFlags(CLI::App* cmd, ListFlags& flags, int default_limit, bool paged = true);

// GETs `path` (which may carry filter query parameters) page by page into
// {"<key>": [...], "next_page_token"?} honouring the flags. Unpaged APIs are
// truncated client-side to --limit.
StatusOr<Json> FetchList(ApiClient& client, const std::string& path, const std::string& key,
                         const ListFlags& flags);

// For tables: prints "(more: --page-token T, or --all)" on stderr if the
// document was cut short.
void HintMore(const Json& doc);

}  // namespace tandem::cli
