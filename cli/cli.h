// Internal to depot-cli: the parts that live in files of their own (docs/cli.md).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "depot/client/client.h"

namespace depot::cli {

// escape.cpp. True when `value` is text a terminal shows as it is: printable ASCII, tabs
// and valid UTF-8 (no other control bytes, no newline).
bool is_plain_text(std::string_view value);
// redis-cli's quoting: "..." with \" \\ \n \r \t \a \b and \xHH for every other byte that is
// not printable ASCII (UTF-8 text included, so the bytes are unambiguous).
std::string quote(std::string_view value);

// Writes lines of output (one or more, '\n' between, none at the end) and flushes them:
// depot-cli's, under its output lock.
using Emit = std::function<void(const std::string& lines)>;

// monitor.cpp. `depot-cli monitor`: one line per record until `count` request records
// (nullopt: until a signal). Throws NotNow-like std::out_of_range when no record came for
// `timeout`.
// max_per_second: MonitorOptions::max_per_second (0: the manager's default).
void monitor(Client& client, std::optional<uint64_t> count, Timeout timeout,
             uint32_t max_per_second, const Emit& emit);
// One record as monitor prints it (no newline).
std::string monitor_line(const MonitorRecord& r);

// stat.cpp. `depot-cli stat`: a header, then one line of rates per `interval` seconds,
// `count` lines (nullopt: until a signal).
void stat(Client& client, double interval, std::optional<uint64_t> count, const Emit& emit);

// interactive.cpp. Lines typed at a prompt (a terminal: libedit with history in
// ~/.depot_history) or read from a pipe or file (no editor, no prompt).
class LineInput {
 public:
  explicit LineInput(bool editor, std::string prompt);
  ~LineInput();
  LineInput(const LineInput&) = delete;
  LineInput& operator=(const LineInput&) = delete;
  // The next line without its newline; false at the end of the input.
  bool next(std::string& line);

 private:
  bool editor_;
  std::string prompt_;
  std::string history_;
};
// Puts the terminal back as it was before the line editor changed it: for a signal that
// ends depot-cli at the prompt. Does nothing without an editor.
void restore_terminal();
// A line split into words as a shell would for these commands: blanks separate, 'single'
// and "double" quotes group (in double quotes \" \\ \n \t \xHH are escapes, as quote()
// writes them). Throws std::invalid_argument for an unterminated quote.
std::vector<std::string> split_words(std::string_view line);

}  // namespace depot::cli
