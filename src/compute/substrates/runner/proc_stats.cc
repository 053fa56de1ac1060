#include "compute/substrates/runner/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "compute/substrates/runner/protocol.h"

namespace tandem::compute::runner {
namespace {

int64_t PageSize() {
  static const int64_t size = sysconf(_SC_PAGESIZE);
  return size;
}

std::string ReadSmallFile(const std::string& path) { return ReadFile(path).value_or(""); }

// The children of `pid` from /proc/<pid>/task/<tid>/children (every thread's,
// since a child belongs to the thread that forked it); false if the kernel
// does not offer those files (CONFIG_PROC_CHILDREN) or `pid` is gone.
bool ChildrenOf(int pid, std::vector<int>& out) {
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(task.c_str());
  if (dir == nullptr) return false;
  bool any = false;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = task + "/" + e->d_name + "/children";
    if (access(path.c_str(), R_OK) != 0) continue;
    any = true;
    const std::string text = ReadSmallFile(path);
    const char* p = text.c_str();
    while (*p != '\0') {
      char* end = nullptr;
      long child = std::strtol(p, &end, 10);
      if (end == p) break;
      if (child > 0) out.push_back(static_cast<int>(child));
      p = end;
    }
  }
  closedir(dir);
  return any;
}

// Every process on the system (one /proc scan).
std::vector<ProcStat> AllProcesses() {
  std::vector<ProcStat> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (auto st = ReadProcStat(static_cast<int>(pid))) out.push_back(*st);
  }
  closedir(dir);
  return out;
}

// Descendants by a full /proc scan (when children files are missing).
std::vector<ProcStat> DescendantsByScan(int root) {
  std::unordered_map<int, std::vector<ProcStat>> children;
  for (const ProcStat& p : AllProcesses()) children[p.ppid].push_back(p);
  std::vector<ProcStat> out;
  std::vector<int> frontier{root};
  while (!frontier.empty()) {
    int pid = frontier.back();
    frontier.pop_back();
    auto it = children.find(pid);
    if (it == children.end()) continue;
    for (const ProcStat& c : it->second) {
      out.push_back(c);
      frontier.push_back(c.pid);
    }
  }
  return out;
}

}  // namespace

std::optional<ProcStat> ParseProcStat(const std::string& text) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat st;
  st.pid = std::atoi(text.c_str());
  // Fields from 3 (state) on, space-separated; we need 3, 4, 5, 22, 24.
  std::string_view f[22];
  size_t count = 0, i = close + 1;
  while (count < 22) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    f[count++] = std::string_view(text).substr(start, i - start);
  }
  if (count < 22) return std::nullopt;
  auto num = [](std::string_view v) { return std::strtoll(std::string(v).c_str(), nullptr, 10); };
  st.state = f[0][0];
  st.ppid = static_cast<int>(num(f[1]));
  st.pgid = static_cast<int>(num(f[2]));
  st.start_ticks = std::strtoull(std::string(f[19]).c_str(), nullptr, 10);
  st.rss_pages = num(f[21]);
  if (st.pid <= 0) return std::nullopt;
  return st;
}

std::optional<ProcStat> ReadProcStat(int pid) {
  std::string text = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  if (text.empty()) return std::nullopt;
  return ParseProcStat(text);
}

bool IsSameLiveProcess(int pid, uint64_t start_ticks) {
  auto st = ReadProcStat(pid);
  return st && st->start_ticks == start_ticks && st->state != 'Z' && st->state != 'X';
}

std::vector<ProcStat> Descendants(int root) {
  // Walks the tree from `root` (a few small reads per descendant) instead of
  // reading every process on the machine.
  std::vector<int> frontier;
  if (!ChildrenOf(root, frontier)) return DescendantsByScan(root);
  std::vector<ProcStat> out;
  while (!frontier.empty()) {
    int pid = frontier.back();
    frontier.pop_back();
    auto st = ReadProcStat(pid);
    if (!st) continue;  // gone meanwhile
    out.push_back(*st);
    ChildrenOf(pid, frontier);
  }
  return out;
}

std::vector<ProcStat> GroupMembers(int pgid) {
  std::vector<ProcStat> out;
  for (const ProcStat& p : AllProcesses()) {
    if (p.pgid == pgid) out.push_back(p);
  }
  return out;
}

int64_t ResidentBytes(const ProcStat& p) { return p.rss_pages * PageSize(); }

int64_t ProportionalBytes(int pid) {
  std::istringstream in(ReadSmallFile("/proc/" + std::to_string(pid) + "/smaps_rollup"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Pss:", 0) == 0) return std::strtoll(line.c_str() + 4, nullptr, 10) * 1024;
  }
  auto st = ReadProcStat(pid);
  return st ? ResidentBytes(*st) : 0;
}

}  // namespace tandem::compute::runner
