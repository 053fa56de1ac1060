// Keeps docs/security.md true and every route protected: each route the
// control plane registers has the role the document's table gives it, every
// route but the open ones refuses a request without a valid token (401),
// admin routes refuse a non-admin (403), and every team route decides right
// for every role (viewer, member, owner of the owning team; a member of
// another team; an admin).
#include "api/access.h"

#include <fstream>
#include <regex>
#include <sstream>

#include "api/testing/running_control_plane.h"

namespace tandem::api {
namespace {

// "METHOD /pattern" -> role, from the table of docs/security.md.
std::map<std::string, std::string> DocumentedRoles() {
  std::ifstream in(std::string(TANDEM_SOURCE_DIR) + "/docs/security.md");
  EXPECT_TRUE(in) << "docs/security.md not found";
  std::map<std::string, std::string> out;
  const std::regex row(R"(^\| ([A-Z]+) \| `([^`]+)` \| ([a-z]+) \|)");
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row)) out[m[1].str() + " " + m[2].str()] = m[3].str();
  }
  return out;
}

// The pattern with every {param} (and {rest...}) replaced by "x".
std::string Concrete(const std::string& pattern) {
  return std::regex_replace(pattern, std::regex(R"(\{[a-z_]+(\.\.\.)?\})"), "x");
}

class AccessTest : public testing::RunningControlPlaneTest {
 protected:
  // A principal `name` with `role` in `team` ("" = none) and a token for it.
  std::string Token(const std::string& name, const std::string& team, auth::Role role,
                    bool admin = false) {
    auth::IdentityStore& id = *cp_->services().identity;
    EXPECT_TRUE(id.CreatePrincipal(name, "user", admin).ok());
    if (!team.empty()) {
      Status created = id.CreateTeam(team);
      EXPECT_TRUE(created.ok() || created.code() == StatusCode::kAlreadyExists) << created;
      EXPECT_TRUE(id.SetMember(team, name, role).ok());
    }
    auto t = id.CreateToken(name, "", 0);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->second : "";
  }

  http::ClientResponse Send(const std::string& method, const std::string& path,
                            const std::string& token) {
    http::ClientRequest req;
    req.method = method;
    req.url = base_ + path;
    req.timeout_ms = 10'000;
    if (!token.empty()) req.headers["Authorization"] = "Bearer " + token;
    if (method != "GET" && method != "DELETE") {
      req.body = R"({"name":"x","team":"a"})";
      req.headers["Content-Type"] = "application/json";
    }
    auto res = client_.Do(req);
    EXPECT_TRUE(res.ok()) << method << " " << path << ": " << res.status();
    return res.ok() ? *res : http::ClientResponse{};
  }
};

TEST_F(AccessTest, EveryRouteHasTheRoleDocsSecurityMdGivesIt) {
  std::map<std::string, std::string> documented = DocumentedRoles();
  ASSERT_GT(documented.size(), 60u);  // the table was read
  const auto& entries = cp_->routes().entries();
  EXPECT_EQ(entries.size(), cp_->server().Routes().size())
      << "a route was registered without ApiRoutes";
  for (const auto& e : entries) {
    std::string route = e.method + " " + e.pattern;
    auto it = documented.find(route);
    if (it == documented.end()) {
      ADD_FAILURE() << route << " (" << e.access.Describe()
                    << ") has no row in the route -> role table of docs/security.md";
      continue;
    }
    EXPECT_EQ(e.access.Describe(), it->second) << route << ": docs/security.md says " << it->second;
    documented.erase(it);
  }
  for (const auto& [route, role] : documented) {
    ADD_FAILURE() << "docs/security.md lists " << route << " (" << role
                  << ") but the control plane has no such route";
  }
}

TEST_F(AccessTest, EveryClosedRouteRefusesAMissingOrBadToken) {
  std::string revoked = Token("gone", "", auth::Role::kNone);
  auto tokens = cp_->services().identity->ListTokens("gone");
  ASSERT_TRUE(tokens.ok() && tokens->size() == 1u);
  ASSERT_TRUE(cp_->services().identity->RevokeToken((*tokens)[0].id).ok());
  int closed = 0;
  for (const auto& e : cp_->routes().entries()) {
    std::string path = Concrete(e.pattern);
    if (e.access.kind == Access::Kind::kPublic) {
      EXPECT_NE(Send(e.method, path, "").status, 401) << e.method << " " << e.pattern;
      continue;
    }
    ++closed;
    for (const std::string& token : {std::string(), std::string("tdm_nonsense"), revoked}) {
      auto res = Send(e.method, path, token);
      EXPECT_EQ(res.status, 401) << e.method << " " << e.pattern << " token '" << token
                                 << "': " << res.body;
      if (e.basic_auth) {
        // The OCI registry API (/v2/): the distribution spec's error and a
        // Basic challenge, which registry clients answer with the token.
        EXPECT_NE(res.body.find("\"UNAUTHORIZED\""), std::string::npos) << res.body;
        EXPECT_EQ(res.headers["www-authenticate"], "Basic realm=\"tandem\"");
      } else {
        EXPECT_NE(res.body.find("\"UNAUTHENTICATED\""), std::string::npos) << res.body;
        EXPECT_EQ(res.headers["www-authenticate"], "Bearer realm=\"tandem\"");
      }
    }
  }
  EXPECT_GT(closed, 60);
}

TEST_F(AccessTest, AdminRoutesRefuseEveryoneElse) {
  std::string owner = Token("ann", "a", auth::Role::kOwner);
  int admin_routes = 0;
  for (const auto& e : cp_->routes().entries()) {
    if (e.access.kind != Access::Kind::kAdmin) continue;
    ++admin_routes;
    auto res = Send(e.method, Concrete(e.pattern), owner);
    EXPECT_EQ(res.status, 403) << e.method << " " << e.pattern << ": " << res.body;
    EXPECT_NE(res.body.find("\"PERMISSION_DENIED\""), std::string::npos) << res.body;
  }
  EXPECT_GT(admin_routes, 8);
}

// Every team route x every role, decided for a resource owned by team "a".
TEST(AuthorizeTest, EveryTeamRoleAgainstEveryRequirement) {
  struct Who {
    const char* name;
    auth::Role role_in_a;
    bool other_team;
    bool admin;
  };
  const Who people[] = {
      {"viewer", auth::Role::kViewer, false, false}, {"member", auth::Role::kMember, false, false},
      {"owner", auth::Role::kOwner, false, false},   {"outsider", auth::Role::kNone, true, false},
      {"nobody", auth::Role::kNone, false, false},   {"admin", auth::Role::kNone, false, true}};
  for (auth::Role need : {auth::Role::kViewer, auth::Role::kMember, auth::Role::kOwner}) {
    Access access = Access::Team(need, nullptr);
    for (const Who& w : people) {
      auth::Principal p;
      p.name = w.name;
      p.admin = w.admin;
      if (w.role_in_a != auth::Role::kNone) p.teams["a"] = w.role_in_a;
      if (w.other_team) p.teams["b"] = auth::Role::kOwner;
      bool want = w.admin || w.role_in_a >= need;
      Status got = Authorize(p, access, {"a"});
      EXPECT_EQ(got.ok(), want) << w.name << " needing " << auth::RoleName(need) << ": " << got;
      if (!got.ok()) {
        EXPECT_EQ(got.code(), StatusCode::kPermissionDenied);
      }
      // Two owners (a write into another team's resource): both must grant it.
      EXPECT_EQ(Authorize(p, access, {"a", "b"}).ok(),
                w.admin || (w.role_in_a >= need && w.other_team))
          << w.name;
      // Nobody's resource: admins only. A new one: the role in some team.
      EXPECT_EQ(Authorize(p, access, {kAdminOnly}).ok(), w.admin) << w.name;
      EXPECT_EQ(Authorize(p, access, {kAnyTeam}).ok(),
                w.admin || w.role_in_a >= need || w.other_team)
          << w.name;
    }
  }
}

TEST(KeyOwnersTest, KeysBelongToTheirPrefixOwner) {
  KeyOwnerLookup lookup = [](const std::string& kind,
                             const std::string& id) -> StatusOr<std::vector<std::string>> {
    return std::vector<std::string>{kind + ":" + id};
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(*KeyOwners("teams/fraud/data.csv", lookup), V{"fraud"});
  EXPECT_EQ(*KeyOwners("teams/fraud/", lookup), V{"fraud"});
  EXPECT_EQ(*KeyOwners("teams/fraud", lookup), V{kAdminOnly});  // would also list teams/fraudX
  EXPECT_EQ(*KeyOwners("models/churn/uploads/1/m.tar.gz", lookup), V{"models:churn"});
  EXPECT_EQ(*KeyOwners("jobs/01J/model.tar.gz", lookup), V{"jobs:01J"});
  EXPECT_EQ(*KeyOwners("notebooks/nb/workdir.tar.gz", lookup), V{"notebooks:nb"});
  EXPECT_EQ(*KeyOwners("jobs/uploads/01J/source.tar.gz", lookup), V{kAnyTeam});
  EXPECT_EQ(*KeyOwners("teams//x", lookup), V{kAdminOnly});
  EXPECT_EQ(*KeyOwners("", lookup), V{kAdminOnly});
  EXPECT_EQ(*KeyOwners("other/thing", lookup), V{kAdminOnly});
}

}  // namespace
}  // namespace tandem::api
