// `tandem auth` (login, whoami, tokens, principals), `tandem teams` and
// `tandem audit`.
#include <fstream>
#include <iostream>

#include "cli/context.h"
#include "cli/credentials.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/uri.h"

namespace tandem::cli {
namespace {

const std::vector<Column> kTokenColumns = {
    {"ID", "id"},           {"PRINCIPAL", "principal"}, {"DESCRIPTION", "description"},
    {"CREATED", "created"}, {"EXPIRES", "expires"},     {"REVOKED", "revoked"}};
const std::vector<Column> kPrincipalColumns = {
    {"NAME", "name"}, {"KIND", "kind"}, {"ADMIN", "admin"}, {"TEAMS", "teams"}};
const std::vector<Column> kTeamColumns = {{"NAME", "name"}, {"MEMBERS", "members"}};
const std::vector<Column> kAuditColumns = {
    {"TIME", "time"},           {"PRINCIPAL", "detail.principal"}, {"METHOD", "detail.method"},
    {"PATH", "detail.path"},    {"DECISION", "detail.decision"},   {"STATUS", "detail.status"},
    {"REASON", "detail.reason"}};

std::string Enc(const std::string& s) { return PercentEncode(s, "-._~"); }

// "90s", "15m", "2h", "7d" -> seconds; InvalidArgument otherwise.
StatusOr<int64_t> DurationSeconds(const std::string& text, const std::string& flag) {
  size_t used = 0;
  int64_t n = -1;
  try {
    n = std::stoll(text, &used);
  } catch (...) {
    n = -1;
  }
  std::string unit = text.substr(used);
  int64_t mult = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (n < 0 || mult == 0) {
    return InvalidArgumentError(flag + " '" + text +
                                "' must be a duration like 90s, 15m, 2h or 7d");
  }
  return n * mult;
}

void AddLogin(CLI::App& auth, Context& ctx) {
  auto token = std::make_shared<std::string>();
  auto token_file = std::make_shared<std::string>();
  CLI::App* login = auth.add_subcommand(
      "login", "Check a token (an API token or an OIDC JWT) and save it in the credentials file");
  login->add_option("--token,--jwt", *token,
                    "The API token or an OIDC JWT from your identity provider "
                    "(default: read a line from stdin)");
  login->add_option("--token-file", *token_file, "Read the token (or JWT) from this file")
      ->excludes("--token");
  login->footer(
      "Examples:\n  tandem auth login --token \"$(cat ~/.tandem/admin-token)\"\n"
      "  tandem auth login < token.txt\n"
      "  tandem --server https://cp:7443 --ca-file ca.pem auth login < token.txt\n"
      "  tandem auth login --token-file ~/.cache/idp/id-token   # an OIDC JWT (auth.oidc)\n"
      "A JWT expires with its `exp`: log in again with a fresh one.\n"
      "The file is $XDG_CONFIG_HOME/tandem/credentials (mode 0600; it keeps --server and\n"
      "--ca-file); $TANDEM_TOKEN overrides its token, $TANDEM_CA_FILE its CA file.");
  login->callback([&ctx, token, token_file] {
    Run(ctx, [&](Format f) -> Status {
      std::string t = *token;
      if (!token_file->empty()) {
        std::ifstream in(*token_file);
        if (!in) return NotFoundError("cannot read --token-file " + *token_file);
        std::getline(in, t);
      } else if (t.empty()) {
        std::getline(std::cin, t);
      }
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
      if (t.empty()) return InvalidArgumentError("no token given (--token or stdin)");
      ASSIGN_OR_RETURN(Json who,
                       ApiClient(ctx.server, t, ctx.ca_file).Call("GET", "/api/v1/auth/whoami"));
      std::string path = CredentialsPath(ProcessEnvironment());
      if (path.empty()) return FailedPreconditionError("neither XDG_CONFIG_HOME nor HOME is set");
      RETURN_IF_ERROR(WriteCredentials(path, ctx.server, t, ctx.ca_file));
      if (f == Format::kTable) {
        std::cout << "logged in to " << ctx.server << " as " << who.value("name", "")
                  << " (credentials in " << path << ")\n";
      } else {
        PrintObject(std::cout, f, who);
      }
      return OkStatus();
    });
  });
}

void AddTokens(CLI::App& auth, Context& ctx) {
  CLI::App* tokens =
      auth.add_subcommand("tokens", "API tokens (yours; any principal's for admins)");
  tokens->require_subcommand(1);
  tokens->footer(
      "Examples:\n  tandem auth tokens list\n  tandem auth tokens create --expires-in 30d");

  struct CreateFlags {
    std::string principal, description, expires_in;
  };
  auto cf = std::make_shared<CreateFlags>();
  CLI::App* create = tokens->add_subcommand("create", "Create a token (shown once)");
  create->add_option("--principal", cf->principal, "For this principal (admins; default: you)");
  create->add_option("--description", cf->description, "What the token is for");
  create->add_option("--expires-in", cf->expires_in, "Lifetime: 90s, 15m, 2h, 7d (default: none)");
  create->footer(
      "Examples:\n  tandem auth tokens create --description laptop --expires-in 30d\n"
      "  tandem auth tokens create --principal ci-bot -o json");
  create->callback([&ctx, cf] {
    Run(ctx, [&](Format f) -> Status {
      Json body = {{"description", cf->description}};
      if (!cf->principal.empty()) body["principal"] = cf->principal;
      if (!cf->expires_in.empty()) {
        ASSIGN_OR_RETURN(body["expires_in_seconds"],
                         DurationSeconds(cf->expires_in, "--expires-in"));
      }
      ASSIGN_OR_RETURN(Json t, ctx.Client().Call("POST", "/api/v1/auth/tokens", body));
      PrintObject(std::cout, f, t);
      if (f == Format::kTable) std::cerr << "the token is shown only now: keep it safe\n";
      return OkStatus();
    });
  });

  auto principal = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  CLI::App* list = tokens->add_subcommand("list", "List tokens (never their secrets)");
  list->add_option("--principal", *principal, "This principal's (admins)");
  list->add_flag("--all", *all, "Every principal's (admins)");
  list->footer("Examples:\n  tandem auth tokens list\n  tandem auth tokens list --all -o json");
  list->callback([&ctx, principal, all] {
    Run(ctx, [&](Format f) -> Status {
      std::string path = "/api/v1/auth/tokens";
      if (*all) {
        path += "?all=true";
      } else if (!principal->empty()) {
        path += "?principal=" + Enc(*principal);
      }
      ASSIGN_OR_RETURN(Json doc, ctx.Client().Call("GET", path));
      PrintList(std::cout, f, doc, doc["tokens"], kTokenColumns);
      return OkStatus();
    });
  });

  auto id = std::make_shared<std::string>();
  CLI::App* revoke = tokens->add_subcommand("revoke", "Revoke a token at once");
  revoke->add_option("id", *id, "Token id (tandem auth tokens list)")->required();
  revoke->footer("Examples:\n  tandem auth tokens revoke t0123456789abcdef");
  revoke->callback([&ctx, id] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json t, ctx.Client().Call("DELETE", "/api/v1/auth/tokens/" + Enc(*id)));
      PrintObject(std::cout, f, t);
      return OkStatus();
    });
  });
}

void AddPrincipals(CLI::App& auth, Context& ctx) {
  CLI::App* principals = auth.add_subcommand("principals", "Users and service accounts (admins)");
  principals->require_subcommand(1);
  principals->footer(
      "Examples:\n  tandem auth principals list\n  tandem auth principals create ann");
  struct Flags {
    std::string name;
    bool service = false, admin = false;
  };
  auto fl = std::make_shared<Flags>();
  CLI::App* create = principals->add_subcommand("create", "Create a user or service account");
  create->add_option("name", fl->name, "Name: [a-z0-9][a-z0-9_.@-]{0,63}")->required();
  create->add_flag("--service", fl->service, "A service account (default: a user)");
  create->add_flag("--admin", fl->admin, "A platform admin");
  create->footer(
      "Examples:\n  tandem auth principals create ann\n"
      "  tandem auth principals create ci-bot --service");
  create->callback([&ctx, fl] {
    Run(ctx, [&](Format f) -> Status {
      Json body = {
          {"name", fl->name}, {"kind", fl->service ? "service" : "user"}, {"admin", fl->admin}};
      ASSIGN_OR_RETURN(Json p, ctx.Client().Call("POST", "/api/v1/principals", body));
      PrintObject(std::cout, f, p);
      return OkStatus();
    });
  });
  CLI::App* list = principals->add_subcommand("list", "List principals and their teams");
  list->footer("Examples:\n  tandem auth principals list\n  tandem auth principals list -o json");
  list->callback([&ctx] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json doc, ctx.Client().Call("GET", "/api/v1/principals"));
      PrintList(std::cout, f, doc, doc["principals"], kPrincipalColumns);
      return OkStatus();
    });
  });
}

void AddTeams(CLI::App& app, Context& ctx) {
  CLI::App* teams = app.add_subcommand("teams", "Teams and their members' roles");
  teams->require_subcommand(1);
  teams->footer(
      "Examples:\n  tandem teams create fraud\n  tandem teams add-member fraud ann --role owner");
  auto name = std::make_shared<std::string>();
  auto principal = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>("member");

  CLI::App* create = teams->add_subcommand("create", "Create a team (admins)");
  create->add_option("name", *name, "Team name")->required();
  create->footer("Examples:\n  tandem teams create fraud");
  create->callback([&ctx, name] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json t, ctx.Client().Call("POST", "/api/v1/teams", Json{{"name", *name}}));
      PrintObject(std::cout, f, t);
      return OkStatus();
    });
  });
  CLI::App* list = teams->add_subcommand("list", "List teams and members");
  list->footer("Examples:\n  tandem teams list\n  tandem teams list -o yaml");
  list->callback([&ctx] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json doc, ctx.Client().Call("GET", "/api/v1/teams"));
      PrintList(std::cout, f, doc, doc["teams"], kTeamColumns);
      return OkStatus();
    });
  });
  CLI::App* add = teams->add_subcommand("add-member", "Add a member or change its role (owners)");
  add->add_option("team", *name, "Team name")->required();
  add->add_option("principal", *principal, "Principal name")->required();
  add->add_option("--role", *role, "viewer, member or owner")
      ->check(CLI::IsMember({"viewer", "member", "owner"}));
  add->footer("Examples:\n  tandem teams add-member fraud ann --role owner");
  add->callback([&ctx, name, principal, role] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(
          Json t,
          ctx.Client().Call("PUT", "/api/v1/teams/" + Enc(*name) + "/members/" + Enc(*principal),
                            Json{{"role", *role}}));
      PrintObject(std::cout, f, t);
      return OkStatus();
    });
  });
  CLI::App* remove = teams->add_subcommand("remove-member", "Remove a member (owners)");
  remove->add_option("team", *name, "Team name")->required();
  remove->add_option("principal", *principal, "Principal name")->required();
  remove->footer("Examples:\n  tandem teams remove-member fraud ann");
  remove->callback([&ctx, name, principal] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json t, ctx.Client().Call("DELETE", "/api/v1/teams/" + Enc(*name) +
                                                               "/members/" + Enc(*principal)));
      PrintObject(std::cout, f, t);
      return OkStatus();
    });
  });
}

void AddAudit(CLI::App& app, Context& ctx) {
  struct Flags {
    std::string since, principal;
  };
  auto fl = std::make_shared<Flags>();
  CLI::App* audit =
      app.add_subcommand("audit", "Mutating API requests, allowed and denied (admins)");
  audit->add_option("--since", fl->since, "Only after: a duration back (1h, 7d) or RFC 3339 time");
  audit->add_option("--principal", fl->principal, "Only this principal's requests");
  audit->footer("Examples:\n  tandem audit --since 1h\n  tandem audit --principal ann -o json");
  audit->callback([&ctx, fl] {
    Run(ctx, [&](Format f) -> Status {
      std::string since = fl->since;
      if (!since.empty() && since.find('T') == std::string::npos) {
        ASSIGN_OR_RETURN(int64_t back, DurationSeconds(since, "--since"));
        since = FormatRfc3339(Clock::Real().NowMicros() - back * 1'000'000);
      }
      ApiClient client = ctx.Client();
      Json all = Json::array();
      int64_t after = 0;
      while (true) {
        std::string path = "/api/v1/audit?limit=1000&after=" + std::to_string(after);
        if (!since.empty()) path += "&since=" + Enc(since);
        if (!fl->principal.empty()) path += "&principal=" + Enc(fl->principal);
        ASSIGN_OR_RETURN(Json page, client.Call("GET", path));
        for (auto& e : page["events"]) all.push_back(e);
        int64_t last = page.value("last_seq", int64_t{0});
        if (last <= after) break;
        after = last;
      }
      Json doc = {{"events", all}};
      PrintList(std::cout, f, doc, doc["events"], kAuditColumns);
      return OkStatus();
    });
  });
}

}  // namespace

void AddAuthCommands(CLI::App& app, Context& ctx) {
  CLI::App* auth = app.add_subcommand("auth", "Log in, who am I, API tokens, principals");
  auth->require_subcommand(1);
  auth->footer("Examples:\n  tandem auth login --token \"$TOKEN\"\n  tandem auth whoami");
  AddLogin(*auth, ctx);
  CLI::App* whoami = auth->add_subcommand("whoami", "The principal your token stands for");
  whoami->footer("Examples:\n  tandem auth whoami\n  tandem auth whoami -o json");
  whoami->callback([&ctx] {
    Run(ctx, [&](Format f) -> Status {
      ASSIGN_OR_RETURN(Json who, ctx.Client().Call("GET", "/api/v1/auth/whoami"));
      PrintObject(std::cout, f, who);
      return OkStatus();
    });
  });
  AddTokens(*auth, ctx);
  AddPrincipals(*auth, ctx);
  AddTeams(app, ctx);
  AddAudit(app, ctx);
}

}  // namespace tandem::cli
