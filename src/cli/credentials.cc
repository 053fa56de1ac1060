#include "cli/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/json.h"

namespace tandem::cli {
namespace fs = std::filesystem;

namespace {
std::string Env(const EnvLookup& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

// The credentials file's string field `key`, "" if there is no file, it is
// malformed or the field is missing (the token's reader reports those).
std::string CredentialsField(const std::string& path, const char* key) {
  if (path.empty()) return "";
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream text;
  text << in.rdbuf();
  auto doc = ParseJson(text.str());
  if (!doc.ok() || !doc->is_object() || !doc->contains(key) || !(*doc)[key].is_string()) {
    return "";
  }
  return (*doc)[key].get<std::string>();
}
}  // namespace

std::string CredentialsPath(const EnvLookup& env) {
  std::string base = Env(env, "XDG_CONFIG_HOME");
  if (base.empty()) {
    std::string home = Env(env, "HOME");
    if (home.empty()) return "";
    base = home + "/.config";
  }
  return base + "/tandem/credentials";
}

StatusOr<std::string> ReadCredentialsToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("no credentials file at " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto doc = ParseJson(text.str());
  if (!doc.ok() || !doc->is_object() || !doc->contains("token") || !(*doc)["token"].is_string()) {
    return InvalidArgumentError("credentials file " + path +
                                " is not a JSON object with a string \"token\" (run `tandem auth "
                                "login` again)");
  }
  return (*doc)["token"].get<std::string>();
}

Status WriteCredentials(const std::string& path, const std::string& server,
                        const std::string& token, const std::string& ca_file) {
  fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return InternalError("cannot create " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  Json doc = {{"server", server}, {"token", token}};
  if (!ca_file.empty()) doc["ca_file"] = fs::absolute(ca_file).string();
  std::string text = doc.dump(2) + "\n";
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return InternalError("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return InternalError("cannot write " + path + ": " + std::strerror(errno));
  }
  return OkStatus();
}

std::string ResolveToken(const EnvLookup& env) {
  std::string token = Env(env, "TANDEM_TOKEN");
  if (!token.empty()) return token;
  std::string path = CredentialsPath(env);
  if (path.empty()) return "";
  auto from_file = ReadCredentialsToken(path);
  return from_file.ok() ? *from_file : "";
}

std::string ResolveServer(const EnvLookup& env) {
  for (const char* name : {"TANDEM_SERVER", "TANDEM_URL"}) {
    std::string server = Env(env, name);
    if (!server.empty()) return server;
  }
  std::string server = CredentialsField(CredentialsPath(env), "server");
  return server.empty() ? "http://127.0.0.1:7070" : server;
}

std::string ResolveCaFile(const EnvLookup& env) {
  std::string ca = Env(env, "TANDEM_CA_FILE");
  if (!ca.empty()) return ca;
  std::string path = CredentialsPath(env);
  fs::path file = CredentialsField(path, "ca_file");
  if (file.empty()) return "";
  return file.is_absolute() ? file.string() : (fs::path(path).parent_path() / file).string();
}

}  // namespace tandem::cli
