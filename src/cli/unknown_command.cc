#include "cli/unknown_command.h"

#include <algorithm>
#include <cctype>

namespace tandem::cli {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Levenshtein distance (two rows).
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::vector<std::string> SuggestCommands(std::string_view typed,
                                         const std::vector<std::string>& known) {
  std::string t = Lower(typed);
  std::vector<std::pair<size_t, std::string>> close;
  if (t.empty()) return {};
  size_t limit = t.size() <= 3 ? 1 : 2;  // typos: a swap of two letters is 2
  for (const std::string& k : known) {
    std::string lk = Lower(k);
    size_t d = EditDistance(t, lk);
    bool prefix = t.size() >= 2 && (lk.starts_with(t) || t.starts_with(lk));
    if (d <= limit || prefix) close.push_back({prefix ? std::min<size_t>(d, 1) : d, k});
  }
  std::stable_sort(close.begin(), close.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& [d, k] : close) out.push_back(k);
  return out;
}

std::string UnknownCommandMessage(const std::string& parent, std::string_view typed,
                                  const std::vector<std::string>& known) {
  std::string out = "unknown command '" + parent + " " + std::string(typed) + "'\n";
  std::vector<std::string> near = SuggestCommands(typed, known);
  if (!near.empty()) {
    out += "did you mean";
    for (size_t i = 0; i < near.size() && i < 3; ++i) {
      out += (i == 0 ? " '" : " or '") + parent + " " + near[i] + "'";
    }
    out += "?\n";
  }
  out += "run '" + parent + " --help' for the list of commands\n";
  return out;
}

}  // namespace tandem::cli
