// Reading process trees from /proc (Linux). Used by tandem-job-runner to find
// every descendant of a job (for signalling and memory sampling) and by the
// local substrate to tell a live runner from a reused pid.
//
// All functions are thread-safe and tolerate processes vanishing mid-read
// (a vanished process is simply absent from the result).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tandem::compute::runner {

struct ProcStat {
  int pid = 0;
  char state = '?';  // R, S, D, Z (zombie), T, X ...
  int ppid = 0;
  int pgid = 0;
  uint64_t start_ticks = 0;  // clock ticks after boot (field 22)
  int64_t rss_pages = 0;     // field 24
};

// Parses the text of /proc/<pid>/stat (the comm field may contain spaces and
// parentheses). nullopt if malformed.
std::optional<ProcStat> ParseProcStat(const std::string& text);

// /proc/<pid>/stat of a live (or zombie) process; nullopt if it does not exist.
std::optional<ProcStat> ReadProcStat(int pid);

// Whether `pid` is alive (not a zombie) and started at `start_ticks`.
bool IsSameLiveProcess(int pid, uint64_t start_ticks);

// Every process whose parent chain leads to `root` (excluding root itself),
// walked from root through /proc/<pid>/task/<tid>/children (a full scan of
// /proc where the kernel lacks those files). Zombies are included (they
// still need reaping).
std::vector<ProcStat> Descendants(int root);

// Every process in process group `pgid`.
std::vector<ProcStat> GroupMembers(int pgid);

// Resident set of `pid` in bytes (RSS, shared pages counted in full).
int64_t ResidentBytes(const ProcStat& p);

// Proportional set size of `pid` in bytes (shared pages split among their
// users; /proc/<pid>/smaps_rollup), falling back to RSS; 0 if gone. Costlier
// than ResidentBytes: used to confirm a memory-limit breach of a tree.
int64_t ProportionalBytes(int pid);

}  // namespace tandem::compute::runner
