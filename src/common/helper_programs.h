// Where tandem finds its helper programs (tandem-job-runner,
// tandem-slurm-step, tandem-transform): in PREFIX/libexec/tandem beside
// PREFIX/bin/tandem, located from the running executable, so a tandem
// installed under any prefix, or run from any checkout's build tree (which
// has the same bin/ + libexec/tandem/ layout), uses its own helpers. In order:
//
//   1. $TANDEM_LIBEXEC_DIR when set (an explicit override: it must hold the
//      program, there is no fallback past it);
//   2. <directory of /proc/self/exe>/../libexec/tandem (the install layout);
//   3. only for a program that itself lives inside the build tree it was
//      built in (the tests and benchmarks under build/src/...): that build
//      tree's libexec/tandem. An installed program never looks there.
//
// Thread-safe (reads the environment and /proc only).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tandem {

// The inputs of the search, injectable for tests.
struct HelperSearch {
  std::string override_dir;  // $TANDEM_LIBEXEC_DIR; "" = unset
  std::string executable;    // the running program; "" = unknown
  std::string build_dir;     // the build tree the program was built in
};

// The search for this process: the environment, /proc/self/exe and the
// build directory compiled in.
HelperSearch CurrentHelperSearch();

// The directories searched, in order (see the top of this file).
std::vector<std::string> HelperDirs(const HelperSearch& search);

// The path of the executable helper `name` (e.g. "tandem-transform") in the
// first directory that has it; NotFound naming every directory tried.
StatusOr<std::string> FindHelperProgram(std::string_view name,
                                        const HelperSearch& search = CurrentHelperSearch());

}  // namespace tandem
