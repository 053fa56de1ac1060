#include "compute/substrates/runner/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace tandem::compute::runner {
namespace {

int64_t PageSize() {
  static const int64_t size = sysconf(_SC_PAGESIZE);
  return size;
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
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

}  // namespace

std::optional<ProcStat> ParseProcStat(const std::string& text) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat st;
  st.pid = std::atoi(text.c_str());
  std::istringstream rest(text.substr(close + 1));
  // Fields from 3 (state) on; we need 3, 4, 5, 22, 24.
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok && f.size() < 22) f.push_back(tok);
  if (f.size() < 22 || f[0].empty()) return std::nullopt;
  st.state = f[0][0];
  st.ppid = std::atoi(f[1].c_str());
  st.pgid = std::atoi(f[2].c_str());
  st.start_ticks = std::strtoull(f[19].c_str(), nullptr, 10);
  st.rss_pages = std::strtoll(f[21].c_str(), nullptr, 10);
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
