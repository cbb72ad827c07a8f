// Codec<T>: how a value becomes the opaque bytes the manager stores, and back.
//
// - std::string, std::vector<uint8_t|char|std::byte>: the bytes themselves.
// - integers and floating point: decimal text (shortest round-trip form for floating
//   point), so `depot-cli put tasks 42` feeds a RemoteQueue<int> and any language can read
//   the values. bool is "true" / "false".
// - standard containers (std::vector, std::map, std::unordered_map, std::pair, std::tuple,
//   std::optional) of portable types, and structs that list their fields with
//   DEPOT_FIELDS(...): MessagePack (client/msgpack.h; bytes in docs/protocol.md, "Value
//   encodings"), readable from Python (depot.codecs.MSGPACK) and printed by depot-cli get.
// - anything else: Boost.Serialization binary archive (no header). Such values are only
//   readable by the same program build on the same architecture; add DEPOT_FIELDS(...) or
//   specialise Codec<T> for a portable format.
//
// decode() throws depot::CodecError when the bytes are not a valid T.
#pragma once
#include <charconv>
#include <cstddef>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

#include "depot/client/errors.h"
#include "depot/client/msgpack.h"

namespace depot {

template <class T, class Enable = void>
struct Codec {
  static std::string encode(const T& v) {
    std::ostringstream os;
    {
      boost::archive::binary_oarchive ar(os, boost::archive::no_header);
      ar << v;
    }
    return std::move(os).str();
  }
  static T decode(std::string_view bytes) {
    try {
      std::istringstream is{std::string(bytes)};
      boost::archive::binary_iarchive ar(is, boost::archive::no_header);
      T v{};
      ar >> v;
      return v;
    } catch (const std::exception& e) {
      throw CodecError(std::string("cannot decode a value of ") + std::to_string(bytes.size()) +
                       " bytes with Boost.Serialization: " + e.what() +
                       "; was it written by another type or build?");
    }
  }
};

template <>
struct Codec<std::string> {
  static std::string encode(const std::string& v) { return v; }
  static std::string decode(std::string_view b) { return std::string(b); }
};

template <class B>
struct Codec<std::vector<B>,
             std::enable_if_t<std::is_same_v<B, unsigned char> || std::is_same_v<B, char> ||
                              std::is_same_v<B, std::byte>>> {
  static std::string encode(const std::vector<B>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
  }
  static std::vector<B> decode(std::string_view b) {
    const auto* p = reinterpret_cast<const B*>(b.data());
    return std::vector<B>(p, p + b.size());
  }
};

// Portable containers and DEPOT_FIELDS structs: MessagePack. (A top-level string, bytes or
// number keeps its plain encoding above.)
template <class T>
struct Codec<
    T, std::enable_if_t<is_portable_v<T> && !std::is_arithmetic_v<T> &&
                        !std::is_same_v<T, std::string> && !mp_detail::is_bytes_vector<T>::value>> {
  static std::string encode(const T& v) { return msgpack::encode(v); }
  static T decode(std::string_view b) { return msgpack::decode<T>(b); }
};

template <>
struct Codec<bool> {
  static std::string encode(bool v) { return v ? "true" : "false"; }
  static bool decode(std::string_view b) {
    if (b == "true" || b == "1") return true;
    if (b == "false" || b == "0") return false;
    throw CodecError("'" + std::string(b.substr(0, 64)) + "' is not a bool (true/false)");
  }
};

template <class T>
struct Codec<T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>>> {
  static std::string encode(T v) {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, p);
  }
  static T decode(std::string_view b) {
    T v{};
    auto [p, ec] = std::from_chars(b.data(), b.data() + b.size(), v);
    if (ec != std::errc() || p != b.data() + b.size() || b.empty())
      throw CodecError("'" + std::string(b.substr(0, 64)) + "' is not a valid " +
                       (std::is_integral_v<T> ? "integer" : "number") + " of this type" +
                       (ec == std::errc::result_out_of_range ? " (out of range)" : ""));
    return v;
  }
};

}  // namespace depot
