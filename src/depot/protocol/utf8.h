// depot::proto::utf8_sequence: where text may be shown as it is (the manager's INSPECT JSON,
// depot-cli's escaping of values on a terminal), one test of what is valid UTF-8.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace depot::proto {

// Length of the multi-byte UTF-8 sequence at s[i] (2 to 4), or 0 when it is not a valid one:
// overlong forms, surrogates and values past U+10FFFF are not text. ASCII is the caller's.
inline size_t utf8_sequence(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

}  // namespace depot::proto
