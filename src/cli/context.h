// What every CLI command shares: the server URL and output format flags, and
// the exit-code convention (0 ok, 1 failure, 2 usage).
#pragma once

#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/api_client.h"
#include "cli/output.h"
#include "common/status.h"

namespace tandem::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct Context {
  std::string server;            // --server, $TANDEM_SERVER, http://127.0.0.1:7070
  std::string token;             // $TANDEM_TOKEN, else the credentials file (credentials.h)
  std::string ca_file;           // --ca-file, $TANDEM_CA_FILE, else the credentials file's
  std::string output = "table";  // -o
  int exit_code = kExitOk;

  ApiClient Client() const { return ApiClient(server, token, ca_file); }
  StatusOr<Format> format() const { return ParseFormat(output); }
  // Prints `error: <message>` to stderr and records exit code 1 (2 for
  // InvalidArgument raised before any call, see Usage()).
  void Fail(const Status& s);
  void Usage(const std::string& message);
};

// Runs `fn` with a parsed output format, recording failures in ctx.
template <typename F>
void Run(Context& ctx, F fn) {
  auto format = ctx.format();
  if (!format.ok()) return ctx.Usage(std::string(format.status().message()));
  Status s = fn(*format);
  if (!s.ok()) ctx.Fail(s);
}

// Each command group adds its subcommands to `app`; callbacks fill ctx.exit_code.
void AddUpCommand(CLI::App& app, Context& ctx);
void AddServeCommand(CLI::App& app, Context& ctx);
void AddModelCommands(CLI::App& app, Context& ctx);
void AddArtifactCommands(CLI::App& app, Context& ctx);
void AddEventCommands(CLI::App& app, Context& ctx);
void AddJobCommands(CLI::App& app, Context& ctx);
void AddTuneCommands(CLI::App& app, Context& ctx);
void AddDeploymentCommands(CLI::App& app, Context& ctx);
void AddStatusCommand(CLI::App& app, Context& ctx);
void AddNotebookCommands(CLI::App& app, Context& ctx);
void AddTransformCommands(CLI::App& app, Context& ctx);
void AddAuthCommands(CLI::App& app, Context& ctx);  // auth, teams, audit
// `render` under `deployments` (and `jobs`): Kubernetes objects (render_commands.cc).
void AddDeploymentRenderCommand(CLI::App& deployments, Context& ctx);
void AddJobRenderCommand(CLI::App& jobs, Context& ctx);
// `tandem job-pod stage|finalize`: the steps of a rendered Job's pod.
void AddJobPodCommand(CLI::App& app, Context& ctx);
// `tandem images list|inspect|tag|rm|gc` (image_commands.cc).
void AddImageCommands(CLI::App& app, Context& ctx);
// `images build|push|pull|import` (image_transfer_commands.cc), added to the
// `images` group AddImageCommands made.
void AddImageTransferCommands(CLI::App* images, Context& ctx);
void AddSecretCommands(CLI::App& app, Context& ctx);

}  // namespace tandem::cli
