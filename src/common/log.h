// Structured logging: one line per event, `key=value` fields, to stderr.
// Thread-safe. The backend (spdlog) stays out of this header.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace tandem {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

using LogField = std::pair<std::string_view, std::string>;

void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});
inline void LogInfo(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kInfo, m, f);
}
inline void LogWarn(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kWarn, m, f);
}
inline void LogError(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kError, m, f);
}
inline void LogDebug(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kDebug, m, f);
}

// Minimum level that is printed; parsed from "debug|info|warn|error".
void SetLogLevel(LogLevel level);
LogLevel ParseLogLevel(std::string_view name, LogLevel fallback);

}  // namespace tandem
