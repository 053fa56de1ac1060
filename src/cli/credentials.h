// Where the CLI's API token comes from, like kubectl and the AWS CLI:
// $TANDEM_TOKEN, else the credentials file `tandem auth login` writes,
// $XDG_CONFIG_HOME/tandem/credentials (default ~/.config/tandem/credentials),
// a JSON object {"server": URL, "token": TOKEN} readable only by its owner.
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
// Writes the file (mode 0600, its directory 0700 if created).
Status WriteCredentials(const std::string& path, const std::string& server,
                        const std::string& token);
// $TANDEM_TOKEN, else the credentials file's token, else "".
std::string ResolveToken(const EnvLookup& env);

}  // namespace tandem::cli
