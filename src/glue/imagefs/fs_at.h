// Directory-descriptor-relative file operations that never follow a symlink
// on the host: every path is walked one component at a time with
// openat(O_NOFOLLOW | O_DIRECTORY), so a symlink planted by an image layer
// (absolute, or climbing with "..") is only ever data, never a route out of
// the directory being written. Used by layer unpacking and composition.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "glue/store/fs_util.h"

namespace tandem::imagefs {

using store::UniqueFd;

// The components of a relative path "a/b/c" ({"a","b","c"}); empty
// components and "." are dropped. InvalidArgument for an absolute path or a
// ".." component (naming `what`).
StatusOr<std::vector<std::string>> SplitRelative(std::string_view path, std::string_view what);

// Opens the directory `components` below `root` (an O_DIRECTORY fd), never
// following symlinks. With `create`, missing directories are made (mode
// 0755). FailedPrecondition when a component exists and is not a directory
// (a symlink included), NotFound when one is missing and !create.
StatusOr<UniqueFd> OpenDirAt(int root, const std::vector<std::string>& components, bool create);

// Opens a directory path on the host (O_DIRECTORY, O_CLOEXEC).
StatusOr<UniqueFd> OpenDir(const std::string& path);

// lstat of `name` in `dir`: false when it does not exist.
StatusOr<bool> LstatAt(int dir, const std::string& name, struct stat* st);

// Removes `name` in `dir` and, if it is a directory, everything below it
// (never following symlinks). Missing is fine.
Status RemoveAt(int dir, const std::string& name);

// Removes every entry of the directory `dir` (not `dir` itself).
Status ClearDir(int dir);

// Removes the host path `path` recursively without following symlinks
// (missing is fine).
Status RemoveTree(const std::string& path);

// Names of the entries of `dir` (without "." and ".."), sorted.
StatusOr<std::vector<std::string>> ListDir(int dir);

// Total bytes of the regular files below `path` (not following symlinks).
StatusOr<uint64_t> TreeBytes(const std::string& path);

}  // namespace tandem::imagefs
