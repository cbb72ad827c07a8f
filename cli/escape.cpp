// How depot-cli shows a value on a terminal (docs/cli.md, "Binary values").
#include <cstdio>

#include "cli.h"
#include "depot/protocol/utf8.h"

namespace depot::cli {

bool is_plain_text(std::string_view value) {
  for (size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
      ++i;
      continue;
    }
    if (c < 0x80) return false;  // a control byte (newline included), or DEL
    const size_t n = depot::proto::utf8_sequence(value, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string quote(std::string_view value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out += static_cast<char>(c);
        } else {
          char hex[5];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          out += hex;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace depot::cli
