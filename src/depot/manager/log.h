// A minimal leveled logger to stderr: one line per event, never payloads, never the authkey.
#pragma once
#include <string>
#include <string_view>

namespace depot::log {

enum class Level { ERROR = 0, WARN = 1, INFO = 2, DEBUG = 3 };

void set_level(Level l);
Level level();
// Parses "error", "warn", "info", "debug"; returns false for anything else.
bool parse_level(std::string_view s, Level& out);
void write(Level l, std::string_view message);

inline void error(std::string_view m) {
  write(Level::ERROR, m);
}
inline void warn(std::string_view m) {
  if (level() >= Level::WARN) write(Level::WARN, m);
}
inline void info(std::string_view m) {
  if (level() >= Level::INFO) write(Level::INFO, m);
}
inline void debug(std::string_view m) {
  if (level() >= Level::DEBUG) write(Level::DEBUG, m);
}

}  // namespace depot::log
