#include "common/helper_programs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#ifndef TANDEM_BUILD_DIR
#define TANDEM_BUILD_DIR ""
#endif
#ifndef TANDEM_LIBEXEC_FROM_BIN
#define TANDEM_LIBEXEC_FROM_BIN "../libexec/tandem"
#endif
#ifndef TANDEM_BUILD_LIBEXEC
#define TANDEM_BUILD_LIBEXEC "libexec/tandem"
#endif

namespace tandem {
namespace {

namespace fs = std::filesystem;

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Whether `path` is `dir` itself or lies below it (both absolute, normalized).
bool IsUnder(const fs::path& path, const fs::path& dir) {
  auto [d, p] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  return d == dir.end();
}

}  // namespace

HelperSearch CurrentHelperSearch() {
  HelperSearch s;
  if (const char* dir = std::getenv("TANDEM_LIBEXEC_DIR"); dir != nullptr) s.override_dir = dir;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) s.executable = self.string();
  s.build_dir = TANDEM_BUILD_DIR;
  return s;
}

std::vector<std::string> HelperDirs(const HelperSearch& search) {
  if (!search.override_dir.empty()) return {search.override_dir};
  std::vector<std::string> dirs;
  if (search.executable.empty()) return dirs;
  fs::path exe = fs::path(search.executable).lexically_normal();
  dirs.push_back((exe.parent_path() / TANDEM_LIBEXEC_FROM_BIN).lexically_normal().string());
  if (!search.build_dir.empty()) {
    fs::path build = fs::path(search.build_dir).lexically_normal();
    std::string in_build = (build / TANDEM_BUILD_LIBEXEC).lexically_normal().string();
    if (IsUnder(exe, build) && in_build != dirs.front()) dirs.push_back(in_build);
  }
  return dirs;
}

StatusOr<std::string> FindHelperProgram(std::string_view name, const HelperSearch& search) {
  std::vector<std::string> dirs = HelperDirs(search);
  std::string tried;
  for (const std::string& dir : dirs) {
    std::string path = (fs::path(dir) / name).string();
    if (IsExecutableFile(path)) return path;
    tried += (tried.empty() ? "" : ", ") + path;
  }
  if (dirs.empty()) {
    return NotFoundError(std::string(name) +
                         " not found: cannot tell where the running program lives "
                         "(/proc/self/exe unreadable); set TANDEM_LIBEXEC_DIR");
  }
  return NotFoundError(std::string(name) + " not found or not executable (looked for " + tried +
                       (search.override_dir.empty()
                            ? "; tandem keeps its helper programs in PREFIX/libexec/tandem "
                              "beside PREFIX/bin/tandem, or set TANDEM_LIBEXEC_DIR)"
                            : " from TANDEM_LIBEXEC_DIR)"));
}

}  // namespace tandem
