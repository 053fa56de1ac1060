// Asks the filesystem to spread the subdirectories of a directory across the
// disk, as it does those of `/` (ext2/3/4's Orlov allocator and its "top of
// directory hierarchy" flag, `chattr +T`).
//
// For directories whose children are created and removed by the thousand (one
// per job or sandbox): on an ext4 without a journal, allocating an inode skips
// every inode of its block group deleted in the last one to six minutes, one
// buffer lookup each, so with all children in their parent's group each new
// file costs more the more jobs ran lately (half the control plane's CPU at
// 100 jobs/s here). Spread, each group sees a small share of the churn.
// Elsewhere it changes where directories go, nothing else.
#pragma once

#include <string>

namespace tandem {

// Best effort: false when the filesystem has no such flag (tmpfs, xfs, btrfs)
// or `dir` cannot be opened; nothing else changes then.
bool SpreadSubdirectories(const std::string& dir);

// Whether `dir` carries the flag (false where it cannot be read).
bool SpreadsSubdirectories(const std::string& dir);

}  // namespace tandem
