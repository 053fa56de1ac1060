// How a test runs an external tool (python3, promtool, ...) through
// common/subprocess instead of std::system/popen: an argv, no shell.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/subprocess.h"

namespace tandem::testing {

struct ToolOptions {
  std::vector<std::string> env;  // "KEY=value" set on top of the test's environment
  std::string cwd;               // "" keeps the test's
  std::string stdin_file;        // "" reads /dev/null
};

// Runs `argv` (a bare argv[0] is looked up on $PATH) to its end with stderr
// merged into RunResult::out. The errors of subprocess::Run.
inline StatusOr<subprocess::RunResult> RunTool(std::vector<std::string> argv,
                                               const ToolOptions& options = {}) {
  subprocess::SpawnOptions spawn;
  spawn.argv = std::move(argv);
  spawn.search_path = true;
  spawn.cwd = options.cwd;
  if (!options.stdin_file.empty()) spawn.in = subprocess::Redirect::File(options.stdin_file);
  if (!options.env.empty()) {
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view v(*e);
      bool replaced = false;
      for (const std::string& set : options.env) {
        if (v.substr(0, v.find('=') + 1) == set.substr(0, set.find('=') + 1)) replaced = true;
      }
      if (!replaced) env.emplace_back(v);
    }
    env.insert(env.end(), options.env.begin(), options.env.end());
    spawn.env = std::move(env);
  }
  subprocess::RunOptions run;
  run.merge_stderr = true;
  return subprocess::Run(std::move(spawn), run);
}

// True when `name` is an executable on $PATH.
inline bool HaveTool(const std::string& name) {
  const char* path = std::getenv("PATH");
  return subprocess::FindOnPath(name, path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin")
      .has_value();
}

// `promtool check metrics` on the Prometheus exposition in `file`: OK when it
// passes without a lint warning, else an error carrying promtool's report.
inline Status PromtoolCheckMetrics(const std::string& file) {
  ToolOptions options;
  options.stdin_file = file;
  ASSIGN_OR_RETURN(subprocess::RunResult r, RunTool({"promtool", "check", "metrics"}, options));
  if (r.exit.ok() && r.out.empty()) return OkStatus();
  return InternalError("promtool check metrics (" + r.exit.ToString() + "):\n" + r.out);
}

}  // namespace tandem::testing
