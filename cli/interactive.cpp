// depot-cli's interactive mode: lines from a terminal (libedit, with history) or a pipe
// (docs/cli.md, "Interactive mode").
#include <editline/readline.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include "cli.h"

namespace depot::cli {

namespace {

// The history file: ~/.depot_history (DEPOT_HISTORY overrides it; empty: none).
std::string history_file() {
  if (const char* h = std::getenv("DEPOT_HISTORY")) return h;
  const char* home = std::getenv("HOME");
  return home && *home ? std::string(home) + "/.depot_history" : std::string();
}

constexpr int kHistoryLines = 1000;

// The terminal's settings before the editor (restore_terminal).
bool g_saved = false;
termios g_termios{};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

LineInput::LineInput(bool editor, std::string prompt)
    : editor_(editor), prompt_(std::move(prompt)) {
  if (!editor_) return;
  g_saved = ::tcgetattr(STDIN_FILENO, &g_termios) == 0;
  history_ = history_file();
  using_history();
  stifle_history(kHistoryLines);
  if (!history_.empty()) read_history(history_.c_str());  // none yet is fine
}

LineInput::~LineInput() {
  if (editor_ && !history_.empty()) write_history(history_.c_str());
}

bool LineInput::next(std::string& line) {
  if (!editor_) {
    if (!std::getline(std::cin, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }
  char* got = readline(prompt_.c_str());
  if (!got) return false;  // Ctrl-D
  line = got;
  std::free(got);
  if (line.find_first_not_of(" \t") != std::string::npos) {
    add_history(line.c_str());
    // Written at once: Ctrl-C ends depot-cli without running destructors.
    if (!history_.empty()) write_history(history_.c_str());
  }
  return true;
}

void restore_terminal() {
  if (g_saved) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_termios);
}

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    std::string word;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
      const char c = line[i];
      if (c == '\'') {
        const size_t end = line.find('\'', i + 1);
        if (end == std::string_view::npos) throw std::invalid_argument("unterminated ' quote");
        word.append(line.substr(i + 1, end - i - 1));
        i = end + 1;
      } else if (c == '"') {
        ++i;
        for (;;) {
          if (i >= line.size()) throw std::invalid_argument("unterminated \" quote");
          char d = line[i++];
          if (d == '"') break;
          if (d != '\\' || i >= line.size()) {
            word += d;
            continue;
          }
          d = line[i++];
          switch (d) {
            case 'n':
              word += '\n';
              break;
            case 'r':
              word += '\r';
              break;
            case 't':
              word += '\t';
              break;
            case 'a':
              word += '\a';
              break;
            case 'b':
              word += '\b';
              break;
            case 'x':
              if (i + 2 <= line.size() && hex_value(line[i]) >= 0 && hex_value(line[i + 1]) >= 0) {
                word += static_cast<char>(hex_value(line[i]) * 16 + hex_value(line[i + 1]));
                i += 2;
              } else {
                word += "\\x";
              }
              break;
            default:
              word += d;  // \" \\ and anything else: the character itself
          }
        }
      } else {
        word += c;
        ++i;
      }
    }
    words.push_back(std::move(word));
  }
  return words;
}

}  // namespace depot::cli
