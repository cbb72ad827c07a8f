// MessagePack as readable text, for depot-cli get --format (docs/cli.md): JSON, except that
// a bin prints as h"00ff" (hex), a non-finite float as NaN / Infinity / -Infinity, and map
// keys that are not strings print as themselves ({1: "a"}).
#pragma once
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace depot::msgpack {

namespace text_detail {

inline void quote(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

class TextReader {
 public:
  explicit TextReader(std::string_view b) : b_(b) {}
  bool done() const { return p_ == b_.size(); }
  uint8_t first() const { return b_.empty() ? 0 : static_cast<uint8_t>(b_[0]); }

  // One value into `out`; false when the bytes are not valid MessagePack (or nest deeper
  // than 100 levels).
  bool value(std::string& out, int depth = 0) {
    if (depth > 100 || p_ >= b_.size()) return false;
    const uint8_t c = static_cast<uint8_t>(b_[p_++]);
    uint64_t n = 0;
    if (c <= 0x7f) return num(out, c);
    if (c >= 0xe0) return num(out, static_cast<int64_t>(static_cast<int8_t>(c)));
    if (c <= 0x8f) return map(out, c & 0x0f, depth);
    if (c <= 0x9f) return array(out, c & 0x0f, depth);
    if (c <= 0xbf) return str(out, c & 0x1f);
    switch (c) {
      case 0xc0:
        out += "null";
        return true;
      case 0xc2:
        out += "false";
        return true;
      case 0xc3:
        out += "true";
        return true;
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return be(1 << (c - 0xc4), n) && bin(out, n);
      case 0xca: {
        if (!be(4, n)) return false;
        const auto u = static_cast<uint32_t>(n);
        float f;
        std::memcpy(&f, &u, 4);
        return flt(out, f);
      }
      case 0xcb: {
        if (!be(8, n)) return false;
        double d;
        std::memcpy(&d, &n, 8);
        return flt(out, d);
      }
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf:
        return be(1 << (c - 0xcc), n) && num(out, n);
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3: {
        const int k = 1 << (c - 0xd0);
        if (!be(k, n)) return false;
        const int shift = 64 - 8 * k;
        return num(out,
                   shift ? static_cast<int64_t>(n << shift) >> shift : static_cast<int64_t>(n));
      }
      case 0xd9:
      case 0xda:
      case 0xdb:
        return be(1 << (c - 0xd9), n) && str(out, n);
      case 0xdc:
      case 0xdd:
        return be(2 << (c - 0xdc), n) && array(out, n, depth);
      case 0xde:
      case 0xdf:
        return be(2 << (c - 0xde), n) && map(out, n, depth);
      default:
        return false;  // ext and reserved types
    }
  }

 private:
  bool be(int k, uint64_t& v) {
    if (b_.size() - p_ < static_cast<size_t>(k)) return false;
    v = 0;
    for (int i = 0; i < k; ++i) v = (v << 8) | static_cast<uint8_t>(b_[p_++]);
    return true;
  }
  template <class N>
  bool num(std::string& out, N v) {
    out += std::to_string(v);
    return true;
  }
  bool flt(std::string& out, double d) {
    if (d != d) {
      out += "NaN";
    } else if (d > 1.7976931348623157e308 || d < -1.7976931348623157e308) {
      out += d > 0 ? "Infinity" : "-Infinity";
    } else {
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
      std::string_view s(buf, static_cast<size_t>(end - buf));
      out += s;
      if (s.find_first_of(".e") == std::string_view::npos) out += ".0";  // still a float
    }
    return true;
  }
  bool str(std::string& out, uint64_t n) {
    if (b_.size() - p_ < n) return false;
    quote(out, b_.substr(p_, n));
    p_ += n;
    return true;
  }
  bool bin(std::string& out, uint64_t n) {
    static const char* hex = "0123456789abcdef";
    if (b_.size() - p_ < n) return false;
    out += "h\"";
    for (uint64_t i = 0; i < n; ++i) {
      const auto c = static_cast<uint8_t>(b_[p_++]);
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
    out.push_back('"');
    return true;
  }
  bool array(std::string& out, uint64_t n, int depth) {
    if (n > b_.size() - p_) return false;
    out.push_back('[');
    for (uint64_t i = 0; i < n; ++i) {
      if (i) out += ", ";
      if (!value(out, depth + 1)) return false;
    }
    out.push_back(']');
    return true;
  }
  bool map(std::string& out, uint64_t n, int depth) {
    if (n > (b_.size() - p_) / 2) return false;
    out.push_back('{');
    for (uint64_t i = 0; i < n; ++i) {
      if (i) out += ", ";
      if (!value(out, depth + 1)) return false;
      out += ": ";
      if (!value(out, depth + 1)) return false;
    }
    out.push_back('}');
    return true;
  }
  std::string_view b_;
  size_t p_ = 0;
};

}  // namespace text_detail

// `bytes` as text if they are exactly one MessagePack value (and, with containers_only, an
// array or map: what a container's Codec<T> writes, never plain text); else false.
inline bool to_text(std::string_view bytes, std::string& out, bool containers_only) {
  text_detail::TextReader r(bytes);
  const uint8_t c = r.first();
  const bool container = (c >= 0x80 && c <= 0x9f) || (c >= 0xdc && c <= 0xdf);
  if (bytes.empty() || (containers_only && !container)) return false;
  std::string s;
  if (!r.value(s) || !r.done()) return false;
  out = std::move(s);
  return true;
}

}  // namespace depot::msgpack
