// `tandem secrets create|list|delete`: a team's secrets for its jobs. The
// value is read from a file or standard input, never from the command line
// (which other users see in ps), and is never shown again.
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "cli/context.h"
#include "cli/output.h"
#include "common/uri.h"

namespace tandem::cli {
namespace {

const std::vector<Column> kSecretColumns = {
    {"NAME", "name"}, {"TEAM", "team"}, {"CREATED_BY", "created_by"}, {"CREATED", "created"}};

std::string SecretsPath(const std::string& team) {
  return "/api/v1/teams/" + PercentEncode(team, "-._~") + "/secrets";
}

StatusOr<std::string> ReadValue(const std::string& file) {
  std::string value;
  if (file.empty() || file == "-") {
    value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return NotFoundError("cannot read " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    value = ss.str();
  }
  // One trailing newline is what `echo` and editors add, not part of the value.
  if (value.ends_with("\r\n")) {
    value.resize(value.size() - 2);
  } else if (value.ends_with("\n")) {
    value.pop_back();
  }
  if (value.empty()) return InvalidArgumentError("the secret's value is empty");
  return value;
}

}  // namespace

void AddSecretCommands(CLI::App& app, Context& ctx) {
  CLI::App* sec = app.add_subcommand("secrets", "A team's secrets for its jobs (values never shown)");
  sec->require_subcommand(1);
  sec->footer(
      "Examples:\n  printf %s \"$PW\" | tandem secrets create db-password --team fraud\n"
      "  tandem secrets create gcp-key --team fraud --from-file key.json\n"
      "  tandem secrets list --team fraud\n  tandem secrets delete db-password --team fraud\n"
      "A job spec uses them as\n"
      "  secrets: [{name: db-password, env: DB_PASSWORD}, {name: gcp-key, file: gcp.json}]\n"
      "(files appear read-only at /run/secrets/<file> inside the job's sandbox).");

  auto create = sec->add_subcommand("create", "Store a secret (value from --from-file or stdin)");
  auto name = std::make_shared<std::string>();
  auto team = std::make_shared<std::string>("default");
  auto from = std::make_shared<std::string>();
  create->add_option("NAME", *name, "Secret name ([A-Za-z0-9._-], 1..128)")->required();
  create->add_option("--team", *team, "Owning team (you need the member role)");
  create->add_option("--from-file", *from, "Read the value from this file (default: stdin)");
  create->footer(
      "Examples:\n  printf %s \"$PW\" | tandem secrets create db-password --team fraud\n"
      "  tandem secrets create gcp-key --team fraud --from-file key.json\n"
      "Notes:\n  One trailing newline is dropped. Delete a secret to replace it.");
  create->callback([&ctx, name, team, from] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(std::string value, ReadValue(*from));
      ASSIGN_OR_RETURN(Json out, ctx.Client().Call("POST", SecretsPath(*team),
                                                   Json{{"name", *name}, {"value", value}}));
      if (f == Format::kTable) {
        std::cout << out.value("name", "") << " stored for team " << out.value("team", "")
                  << std::endl;
      } else {
        PrintObject(std::cout, f, out);
      }
      return OkStatus();
    });
  });

  auto list = sec->add_subcommand("list", "List a team's secrets (names only)");
  auto lteam = std::make_shared<std::string>("default");
  list->add_option("--team", *lteam, "Team (you need the viewer role)");
  list->footer("Examples:\n  tandem secrets list --team fraud -o json");
  list->callback([&ctx, lteam] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json doc, ctx.Client().Call("GET", SecretsPath(*lteam)));
      PrintList(std::cout, f, doc, doc["secrets"], kSecretColumns);
      return OkStatus();
    });
  });

  auto del = sec->add_subcommand("delete", "Delete a secret (jobs naming it then fail to submit)");
  auto dname = std::make_shared<std::string>();
  auto dteam = std::make_shared<std::string>("default");
  del->add_option("NAME", *dname, "Secret name")->required();
  del->add_option("--team", *dteam, "Team (you need the member role)");
  del->footer("Examples:\n  tandem secrets delete db-password --team fraud");
  del->callback([&ctx, dname, dteam] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json out, ctx.Client().Call(
                                     "DELETE", SecretsPath(*dteam) + "/" +
                                                   PercentEncode(*dname, "-._~")));
      if (f == Format::kTable) {
        std::cout << *dname << " deleted" << std::endl;
      } else {
        PrintObject(std::cout, f, out);
      }
      return OkStatus();
    });
  });
}

}  // namespace tandem::cli
