// The portable encoding of Codec<T> (client/codec.h): a MessagePack subset, hand-written so
// that codec.h pulls in no library (docs/design.md, "why each dependency"; bytes in
// docs/protocol.md, "Value encodings").
//
// Portable types (depot::is_portable_v<T>):
// - bool (true/false), integers (the shortest MessagePack int), float (float 32),
//   double (float 64), std::string (str), std::vector<uint8_t|char|std::byte> (bin);
// - std::vector<T> (array), std::map<K, V> / std::unordered_map<K, V> (map), std::pair and
//   std::tuple (array of their members), std::optional<T> (nil or the value), of portable
//   types;
// - a struct that lists its fields with DEPOT_FIELDS(a, b, c): an array of them in that order.
//
// Codec<T> uses it for portable containers and structs; a top-level string, bytes or number
// keeps its plain encoding (raw bytes, decimal text).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "depot/client/errors.h"

// Inside a struct: `DEPOT_FIELDS(x, y, name)` makes it portable, encoded as the MessagePack
// array [x, y, name] (fields in this order; decoding wants exactly that many).
#define DEPOT_FIELDS(...)         \
  auto depot_fields() {           \
    return std::tie(__VA_ARGS__); \
  }                               \
  auto depot_fields() const {     \
    return std::tie(__VA_ARGS__); \
  }                               \
  static constexpr bool depot_portable = true

namespace depot {

namespace mp_detail {
template <class T>
inline constexpr bool is_byte_v =
    std::is_same_v<T, unsigned char> || std::is_same_v<T, char> || std::is_same_v<T, std::byte>;
template <class T>
struct is_bytes_vector : std::false_type {};
template <class T>
struct is_bytes_vector<std::vector<T>> : std::bool_constant<is_byte_v<T>> {};
template <class T, class = void>
struct has_fields : std::false_type {};
template <class T>
struct has_fields<T, std::enable_if_t<T::depot_portable>> : std::true_type {};
}  // namespace mp_detail

template <class T, class = void>
struct is_portable : std::false_type {};
template <class T>
inline constexpr bool is_portable_v = is_portable<T>::value;

template <class T>
struct is_portable<T, std::enable_if_t<std::is_arithmetic_v<T>>> : std::true_type {};
template <>
struct is_portable<std::string> : std::true_type {};
template <class T>
struct is_portable<std::vector<T>, std::enable_if_t<mp_detail::is_byte_v<T> || is_portable_v<T>>>
    : std::true_type {};
template <class K, class V, class C, class A>
struct is_portable<std::map<K, V, C, A>, std::enable_if_t<is_portable_v<K> && is_portable_v<V>>>
    : std::true_type {};
template <class K, class V, class H, class E, class A>
struct is_portable<std::unordered_map<K, V, H, E, A>,
                   std::enable_if_t<is_portable_v<K> && is_portable_v<V>>> : std::true_type {};
template <class A, class B>
struct is_portable<std::pair<A, B>, std::enable_if_t<is_portable_v<A> && is_portable_v<B>>>
    : std::true_type {};
template <class... Ts>
struct is_portable<std::tuple<Ts...>, std::enable_if_t<(is_portable_v<Ts> && ...)>>
    : std::true_type {};
template <class T>
struct is_portable<std::optional<T>, std::enable_if_t<is_portable_v<T>>> : std::true_type {};
template <class T>
struct is_portable<T, std::enable_if_t<mp_detail::has_fields<T>::value>> : std::true_type {};

namespace msgpack {

// ------------------------------------------------------------ encoding

// A type code then `bytes` bytes of v, big-endian: one append.
inline void put_code(std::string& out, int code, uint64_t v, int bytes) {
  char b[9];
  b[0] = static_cast<char>(code);
  for (int i = 0; i < bytes; ++i) b[1 + i] = static_cast<char>((v >> (8 * (bytes - 1 - i))) & 0xff);
  out.append(b, static_cast<size_t>(bytes) + 1);
}

inline void put_uint(std::string& out, uint64_t v) {
  if (v < 0x80) {
    out.push_back(static_cast<char>(v));
  } else if (v <= 0xff) {
    put_code(out, 0xcc, v, 1);
  } else if (v <= 0xffff) {
    put_code(out, 0xcd, v, 2);
  } else if (v <= 0xffffffffu) {
    put_code(out, 0xce, v, 4);
  } else {
    put_code(out, 0xcf, v, 8);
  }
}

inline void put_int(std::string& out, int64_t v) {
  if (v >= 0) return put_uint(out, static_cast<uint64_t>(v));
  const auto u = static_cast<uint64_t>(v);
  if (v >= -32) {
    out.push_back(static_cast<char>(u & 0xff));
  } else if (v >= INT8_MIN) {
    put_code(out, 0xd0, u, 1);
  } else if (v >= INT16_MIN) {
    put_code(out, 0xd1, u, 2);
  } else if (v >= INT32_MIN) {
    put_code(out, 0xd2, u, 4);
  } else {
    put_code(out, 0xd3, u, 8);
  }
}

// A length header: `fix` is the fix-size code (0 when the kind has none), then the codes of
// the 8-, 16- and 32-bit lengths (0 when absent).
inline void put_len(std::string& out, size_t n, int fix, int fix_max, int c8, int c16, int c32) {
  if (fix && n <= static_cast<size_t>(fix_max)) {
    out.push_back(static_cast<char>(fix | static_cast<int>(n)));
  } else if (c8 && n <= 0xff) {
    put_code(out, c8, n, 1);
  } else if (n <= 0xffff) {
    put_code(out, c16, n, 2);
  } else {
    if (n > 0xffffffffu)
      throw CodecError("cannot encode a container or string of " + std::to_string(n) +
                       " elements in MessagePack (at most 2^32 - 1): split the value");
    put_code(out, c32, n, 4);
  }
}
inline void put_array_header(std::string& out, size_t n) {
  put_len(out, n, 0x90, 15, 0, 0xdc, 0xdd);
}
inline void put_map_header(std::string& out, size_t n) {
  put_len(out, n, 0x80, 15, 0, 0xde, 0xdf);
}
inline void put_str(std::string& out, std::string_view s) {
  put_len(out, s.size(), 0xa0, 31, 0xd9, 0xda, 0xdb);
  out.append(s);
}
inline void put_bin(std::string& out, const void* p, size_t n) {
  put_len(out, n, 0, 0, 0xc4, 0xc5, 0xc6);
  out.append(static_cast<const char*>(p), n);
}

template <class T>
void pack(std::string& out, const T& v);

template <class Tuple, size_t... I>
void pack_elements(std::string& out, const Tuple& t, std::index_sequence<I...>) {
  put_array_header(out, sizeof...(I));
  (pack(out, std::get<I>(t)), ...);
}

template <class T>
struct Packer;  // specialised below per kind of portable type

template <class T>
void pack(std::string& out, const T& v) {
  static_assert(is_portable_v<T>,
                "not a portable type: use standard containers of numbers and strings, or "
                "DEPOT_FIELDS(...) in the struct");
  if constexpr (std::is_same_v<T, bool>) {
    out.push_back(static_cast<char>(v ? 0xc3 : 0xc2));
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    put_int(out, static_cast<int64_t>(v));
  } else if constexpr (std::is_integral_v<T>) {
    put_uint(out, static_cast<uint64_t>(v));
  } else if constexpr (std::is_same_v<T, float>) {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    put_code(out, 0xca, u, 4);
  } else if constexpr (std::is_floating_point_v<T>) {
    const double d = static_cast<double>(v);
    uint64_t u;
    std::memcpy(&u, &d, 8);
    put_code(out, 0xcb, u, 8);
  } else if constexpr (std::is_same_v<T, std::string>) {
    put_str(out, v);
  } else if constexpr (mp_detail::has_fields<T>::value) {
    const auto t = v.depot_fields();
    pack_elements(out, t, std::make_index_sequence<std::tuple_size_v<decltype(t)>>{});
  } else {
    Packer<T>::pack(out, v);
  }
}

template <class T, class A>
struct Packer<std::vector<T, A>> {
  static void pack(std::string& out, const std::vector<T, A>& v) {
    if constexpr (mp_detail::is_byte_v<T>) {
      put_bin(out, v.data(), v.size());
    } else {
      put_array_header(out, v.size());
      if constexpr (std::is_arithmetic_v<T>) out.reserve(out.size() + v.size() * (sizeof(T) + 1));
      for (const auto& e : v) msgpack::pack(out, e);
    }
  }
};
template <class M>
struct MapPacker {
  static void pack(std::string& out, const M& m) {
    put_map_header(out, m.size());
    for (const auto& [k, v] : m) {
      msgpack::pack(out, k);
      msgpack::pack(out, v);
    }
  }
};
template <class K, class V, class C, class A>
struct Packer<std::map<K, V, C, A>> : MapPacker<std::map<K, V, C, A>> {};
template <class K, class V, class H, class E, class A>
struct Packer<std::unordered_map<K, V, H, E, A>> : MapPacker<std::unordered_map<K, V, H, E, A>> {};
template <class A, class B>
struct Packer<std::pair<A, B>> {
  static void pack(std::string& out, const std::pair<A, B>& p) {
    put_array_header(out, 2);
    msgpack::pack(out, p.first);
    msgpack::pack(out, p.second);
  }
};
template <class... Ts>
struct Packer<std::tuple<Ts...>> {
  static void pack(std::string& out, const std::tuple<Ts...>& t) {
    pack_elements(out, t, std::index_sequence_for<Ts...>{});
  }
};
template <class T>
struct Packer<std::optional<T>> {
  static void pack(std::string& out, const std::optional<T>& o) {
    if (o)
      msgpack::pack(out, *o);
    else
      out.push_back(static_cast<char>(0xc0));
  }
};

// ------------------------------------------------------------ decoding

// What the byte at the start of a MessagePack value is, for error messages.
inline const char* kind_name(uint8_t b) {
  if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) return "an integer";
  if (b <= 0x8f || b == 0xde || b == 0xdf) return "a map";
  if (b <= 0x9f || b == 0xdc || b == 0xdd) return "an array";
  if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) return "a str";
  switch (b) {
    case 0xc0:
      return "nil";
    case 0xc2:
    case 0xc3:
      return "a bool";
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return "a bin";
    case 0xca:
    case 0xcb:
      return "a float";
    default:
      return "an unsupported MessagePack type (ext or reserved)";
  }
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  size_t pos() const { return pos_; }
  size_t left() const { return b_.size() - pos_; }

  [[noreturn]] void fail(const std::string& expected) const {
    std::string found =
        pos_ < b_.size() ? kind_name(static_cast<uint8_t>(b_[pos_])) : "the end of the value";
    throw CodecError("cannot decode the MessagePack value (" + std::to_string(b_.size()) +
                     " bytes): expected " + expected + " at byte " + std::to_string(pos_) +
                     ", found " + found + "; was it written as another type?");
  }
  uint8_t peek(const char* expected) const {
    if (pos_ >= b_.size()) fail(expected);
    return static_cast<uint8_t>(b_[pos_]);
  }
  uint64_t be(int n, const char* expected) {
    if (left() < static_cast<size_t>(1 + n)) fail(expected);
    uint64_t v = 0;
    for (int i = 1; i <= n; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_ + i]);
    pos_ += 1 + n;
    return v;
  }
  // The length of an array, map, str or bin; checks it does not exceed what is left, at
  // `min_each` bytes an element.
  size_t len(const char* expected, int fix, int fix_mask, int c8, int c16, int c32, int min_each) {
    const uint8_t b = peek(expected);
    size_t n;
    if (fix && (b & ~fix_mask & 0xff) == fix) {
      n = b & fix_mask;
      ++pos_;
    } else if (c8 && b == c8) {
      n = be(1, expected);
    } else if (b == c16) {
      n = be(2, expected);
    } else if (b == c32) {
      n = be(4, expected);
    } else {
      fail(expected);
    }
    if (n > left() / static_cast<size_t>(min_each)) {
      pos_ = b_.size();
      fail(std::string(expected) + " of " + std::to_string(n) +
           " elements (the value is cut short)");
    }
    return n;
  }
  size_t array(const char* expected = "an array") {
    return len(expected, 0x90, 0x0f, 0, 0xdc, 0xdd, 1);
  }
  size_t map(const char* expected = "a map") { return len(expected, 0x80, 0x0f, 0, 0xde, 0xdf, 2); }
  std::string_view raw(size_t n) {
    auto s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view str() { return raw(len("a str", 0xa0, 0x1f, 0xd9, 0xda, 0xdb, 1)); }
  std::string_view bin() { return raw(len("a bin", 0, 0, 0xc4, 0xc5, 0xc6, 1)); }
  bool nil() {
    if (pos_ < b_.size() && static_cast<uint8_t>(b_[pos_]) == 0xc0) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool boolean() {
    const uint8_t b = peek("a bool");
    if (b != 0xc2 && b != 0xc3) fail("a bool");
    ++pos_;
    return b == 0xc3;
  }
  // An integer as (negative, magnitude bits): returns false if the byte is not an integer.
  bool integer(bool& negative, uint64_t& u, const char* expected) {
    const uint8_t b = peek(expected);
    negative = false;
    if (b <= 0x7f) {
      u = b;
      ++pos_;
    } else if (b >= 0xe0) {
      u = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(b)));
      negative = true;
      ++pos_;
    } else if (b >= 0xcc && b <= 0xcf) {
      u = be(1 << (b - 0xcc), expected);
    } else if (b >= 0xd0 && b <= 0xd3) {
      const int n = 1 << (b - 0xd0);
      const uint64_t raw = be(n, expected);
      const int shift = 64 - 8 * n;
      const int64_t s =
          shift ? static_cast<int64_t>(raw << shift) >> shift : static_cast<int64_t>(raw);
      u = static_cast<uint64_t>(s);
      negative = s < 0;
    } else {
      return false;
    }
    return true;
  }
  double floating(const char* expected) {
    const uint8_t b = peek(expected);
    if (b == 0xca) {
      const auto u = static_cast<uint32_t>(be(4, expected));
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    }
    if (b == 0xcb) {
      const uint64_t u = be(8, expected);
      double d;
      std::memcpy(&d, &u, 8);
      return d;
    }
    bool neg;
    uint64_t u;
    if (!integer(neg, u, expected)) fail(expected);
    return neg ? static_cast<double>(static_cast<int64_t>(u)) : static_cast<double>(u);
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

template <class T>
void unpack(Reader& r, T& v);

template <class Tuple, size_t... I>
void unpack_elements(Reader& r, Tuple t, std::index_sequence<I...>) {
  const size_t n = r.array("an array (of the struct's or tuple's fields)");
  if (n != sizeof...(I)) {
    throw CodecError("cannot decode the MessagePack value: expected an array of " +
                     std::to_string(sizeof...(I)) + " fields, found " + std::to_string(n) +
                     "; was it written by another version of the type?");
  }
  (unpack(r, std::get<I>(t)), ...);
}

template <class T>
struct Unpacker;

template <class T>
void unpack(Reader& r, T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    v = r.boolean();
  } else if constexpr (std::is_integral_v<T>) {
    bool neg;
    uint64_t u;
    if (!r.integer(neg, u, "an integer")) r.fail("an integer");
    const bool fits =
        neg ? std::is_signed_v<T> &&
                  static_cast<int64_t>(u) >= static_cast<int64_t>(std::numeric_limits<T>::min())
            : u <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    if (!fits)
      throw CodecError("cannot decode the MessagePack value: the integer at byte " +
                       std::to_string(r.pos()) + " is out of range of its " +
                       std::to_string(sizeof(T) * 8) + "-bit type");
    v = static_cast<T>(neg ? static_cast<T>(static_cast<int64_t>(u)) : static_cast<T>(u));
  } else if constexpr (std::is_floating_point_v<T>) {
    v = static_cast<T>(r.floating("a number"));
  } else if constexpr (std::is_same_v<T, std::string>) {
    v = std::string(r.str());
  } else if constexpr (mp_detail::has_fields<T>::value) {
    auto t = v.depot_fields();
    unpack_elements(r, t, std::make_index_sequence<std::tuple_size_v<decltype(t)>>{});
  } else {
    Unpacker<T>::unpack(r, v);
  }
}

template <class T, class A>
struct Unpacker<std::vector<T, A>> {
  static void unpack(Reader& r, std::vector<T, A>& v) {
    if constexpr (mp_detail::is_byte_v<T>) {
      const auto b = r.bin();
      const auto* p = reinterpret_cast<const T*>(b.data());
      v.assign(p, p + b.size());
    } else {
      const size_t n = r.array();
      v.clear();
      v.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        T e{};  // (not a reference into v: std::vector<bool> has none)
        msgpack::unpack(r, e);
        v.push_back(std::move(e));
      }
    }
  }
};
template <class M>
struct MapUnpacker {
  static void unpack(Reader& r, M& m) {
    const size_t n = r.map();
    m.clear();
    for (size_t i = 0; i < n; ++i) {
      typename M::key_type k{};
      typename M::mapped_type v{};
      msgpack::unpack(r, k);
      msgpack::unpack(r, v);
      m.insert_or_assign(std::move(k), std::move(v));
    }
  }
};
template <class K, class V, class C, class A>
struct Unpacker<std::map<K, V, C, A>> : MapUnpacker<std::map<K, V, C, A>> {};
template <class K, class V, class H, class E, class A>
struct Unpacker<std::unordered_map<K, V, H, E, A>>
    : MapUnpacker<std::unordered_map<K, V, H, E, A>> {};
template <class A, class B>
struct Unpacker<std::pair<A, B>> {
  static void unpack(Reader& r, std::pair<A, B>& p) {
    unpack_elements(r, std::tie(p.first, p.second), std::make_index_sequence<2>{});
  }
};
template <class... Ts>
struct Unpacker<std::tuple<Ts...>> {
  static void unpack(Reader& r, std::tuple<Ts...>& t) {
    unpack_elements(r, std::apply([](auto&... e) { return std::tie(e...); }, t),
                    std::index_sequence_for<Ts...>{});
  }
};
template <class T>
struct Unpacker<std::optional<T>> {
  static void unpack(Reader& r, std::optional<T>& o) {
    if (r.nil()) {
      o.reset();
      return;
    }
    T v{};
    msgpack::unpack(r, v);
    o = std::move(v);
  }
};

template <class T>
std::string encode(const T& v) {
  std::string out;
  pack(out, v);
  return out;
}

template <class T>
T decode(std::string_view bytes) {
  Reader r(bytes);
  T v{};
  unpack(r, v);
  if (r.left() != 0)
    throw CodecError("cannot decode the MessagePack value (" + std::to_string(bytes.size()) +
                     " bytes): " + std::to_string(r.left()) +
                     " bytes are left over after it; was it written as another type?");
  return v;
}

}  // namespace msgpack
}  // namespace depot
