#include "depot/manager/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace depot::log {

namespace {
std::atomic<Level> g_level{Level::INFO};
}

void set_level(Level l) {
  g_level = l;
}
Level level() {
  return g_level;
}

bool parse_level(std::string_view s, Level& out) {
  if (s == "error")
    out = Level::ERROR;
  else if (s == "warn")
    out = Level::WARN;
  else if (s == "info")
    out = Level::INFO;
  else if (s == "debug")
    out = Level::DEBUG;
  else
    return false;
  return true;
}

void write(Level l, std::string_view message) {
  static constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%03dZ depot-manager %s: %.*s\n", ts, static_cast<int>(ms.count()),
               kNames[static_cast<int>(l)], static_cast<int>(message.size()), message.data());
}

}  // namespace depot::log
