// Where the CLI's API token comes from, like kubectl and the AWS CLI:
// $TANDEM_TOKEN, else the credentials file `tandem auth login` writes,
// $XDG_CONFIG_HOME/tandem/credentials (default ~/.config/tandem/credentials),
// a JSON object {"server": URL, "token": TOKEN, "ca_file": PATH} readable
// only by its owner ("ca_file", optional, like kubeconfig's
// certificate-authority: the CA an https:// server must chain to).
#pragma once

#include <string>

#include "common/config.h"
#include "common/status.h"

namespace tandem::cli {

// The credentials file's path ("" if neither XDG_CONFIG_HOME nor HOME is set).
std::string CredentialsPath(const EnvLookup& env);
// The token of the credentials file at `path`: NotFound if there is none,
// InvalidArgument (naming the file) if it is malformed.
StatusOr<std::string> ReadCredentialsToken(const std::string& path);
// Writes the file (mode 0600, its directory 0700 if created); `ca_file`
// only if not empty.
Status WriteCredentials(const std::string& path, const std::string& server,
                        const std::string& token, const std::string& ca_file = "");
// $TANDEM_TOKEN, else the credentials file's token, else "".
std::string ResolveToken(const EnvLookup& env);
// The control plane(s) to talk to: $TANDEM_SERVER, else $TANDEM_URL, else
// the credentials file's "server" (the one its token was checked against
// at `tandem auth login`), else http://127.0.0.1:7070 (`tandem up`'s
// default). May be a comma-separated list.
std::string ResolveServer(const EnvLookup& env);
// $TANDEM_CA_FILE, else the credentials file's "ca_file", else "" (an
// absolute path; a relative one is taken from the file's directory).
std::string ResolveCaFile(const EnvLookup& env);

}  // namespace tandem::cli
