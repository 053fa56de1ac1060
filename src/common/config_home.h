// Where tandem's home is before anything is created in it: what LoadConfig
// (config.h) resolves and creates (ReadConfig: resolves only).
#pragma once

#include <string>

#include "common/config.h"

namespace tandem {

// The home LoadConfig uses, as given (neither created nor made absolute):
// `home_flag`, else $TANDEM_HOME, else ./.tandem.
std::string ConfigHome(const std::string& home_flag, const EnvLookup& env);

}  // namespace tandem
