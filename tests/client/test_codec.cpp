// Codec<T>'s portable encoding (client/msgpack.h): which types are MessagePack, that they
// round-trip, that the plain encodings of strings and numbers did not change, and that a
// decode of the wrong bytes says what it expected and found.
#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "depot/client/codec.h"
#include "depot/client/msgpack_text.h"

namespace {

using depot::Codec;
using depot::CodecError;

struct Reading {
  std::string sensor;
  double value = 0;
  std::optional<int> quality;
  DEPOT_FIELDS(sensor, value, quality);
  bool operator==(const Reading&) const = default;
};

struct NotPortable {
  int* p = nullptr;
};

template <class T>
T round_trip(const T& v) {
  return Codec<T>::decode(Codec<T>::encode(v));
}

std::string hex(const std::string& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    if (!s.empty()) s += ' ';
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

}  // namespace

static_assert(depot::is_portable_v<std::map<std::string, std::vector<int>>>);
static_assert(depot::is_portable_v<std::tuple<int, std::optional<std::string>, bool>>);
static_assert(depot::is_portable_v<Reading>);
static_assert(depot::is_portable_v<std::vector<Reading>>);
static_assert(!depot::is_portable_v<NotPortable>);
static_assert(!depot::is_portable_v<std::vector<NotPortable>>);

SCENARIO("standard containers and DEPOT_FIELDS structs are MessagePack", "[codec]") {
  GIVEN("containers of numbers, strings, bytes, optionals and structs") {
    THEN("each decodes back to itself") {
      const std::map<std::string, std::vector<int>> m{{"a", {1, -2, 70000}}, {"b", {}}};
      CHECK(round_trip(m) == m);
      const std::unordered_map<int64_t, double> u{{INT64_MIN, -0.5}, {UINT32_MAX, 1e300}};
      CHECK(round_trip(u) == u);
      const std::vector<std::vector<uint8_t>> bytes{{0, 255}, {}};
      CHECK(round_trip(bytes) == bytes);
      const std::pair<uint64_t, std::string> pr{UINT64_MAX, std::string(300, 'x')};
      CHECK(round_trip(pr) == pr);
      const std::vector<Reading> rs{{"t1", 21.5, std::nullopt}, {"t2", -3, 7}};
      CHECK(round_trip(rs) == rs);
      const std::optional<std::vector<bool>> none;
      CHECK(round_trip(none) == none);
    }
    THEN("the bytes are the ones docs/protocol.md and python3-msgpack give") {
      CHECK(hex(Codec<std::vector<std::string>>::encode({"x", ""})) == "92 a1 78 a0");
      CHECK(hex(Codec<Reading>::encode({"t", 2.5, std::nullopt})) ==
            "93 a1 74 cb 40 04 00 00 00 00 00 00 c0");
      CHECK(hex(Codec<std::vector<int64_t>>::encode({-33, 128, -129})) ==
            "93 d0 df cc 80 d1 ff 7f");
    }
  }
  GIVEN("top-level strings, bytes and numbers") {
    THEN("they keep their plain encodings") {
      CHECK(Codec<std::string>::encode("hi") == "hi");
      CHECK(Codec<std::vector<uint8_t>>::encode({0x92, 0x01}) == "\x92\x01");
      CHECK(Codec<int>::encode(42) == "42");
      CHECK(Codec<bool>::encode(true) == "true");
    }
  }
}

SCENARIO("decoding the wrong bytes says what was expected and what was found", "[codec]") {
  const std::string a_map = Codec<std::map<std::string, int>>::encode({{"k", 1}});
  GIVEN("a map read as a vector") {
    THEN("CodecError names an array and a map") {
      CHECK_THROWS_WITH(Codec<std::vector<int>>::decode(a_map),
                        Catch::Contains("expected an array") && Catch::Contains("found a map"));
    }
  }
  GIVEN("an integer too big for the type") {
    THEN("CodecError says out of range") {
      CHECK_THROWS_WITH(Codec<std::vector<int8_t>>::decode(Codec<std::vector<int>>::encode({300})),
                        Catch::Contains("out of range"));
    }
  }
  GIVEN("a value cut short, or followed by more bytes") {
    THEN("CodecError says so") {
      CHECK_THROWS_AS(Codec<std::vector<int>>::decode("\x93\x01"), CodecError);
      CHECK_THROWS_AS(Codec<std::vector<int>>::decode(std::string("\xdd\xff\xff\xff\xff", 5)),
                      CodecError);
      CHECK_THROWS_WITH(Codec<std::vector<int>>::decode(std::string("\x91\x01\x02", 3)),
                        Catch::Contains("left over"));
    }
  }
  GIVEN("a struct of another field count") {
    THEN("CodecError names the counts") {
      CHECK_THROWS_WITH(Codec<Reading>::decode(Codec<std::vector<int>>::encode({1, 2})),
                        Catch::Contains("3 fields") && Catch::Contains("found 2"));
    }
  }
}

SCENARIO("MessagePack prints as JSON-like text for depot-cli", "[codec]") {
  std::string out;
  GIVEN("a container") {
    const auto b = Codec<std::map<std::string, std::vector<std::vector<uint8_t>>>>::encode(
        {{"k\"", {{0x00, 0xff}}}});
    THEN("it prints as text") {
      REQUIRE(depot::msgpack::to_text(b, out, true));
      CHECK(out == "{\"k\\\"\": [h\"00ff\"]}");
    }
  }
  GIVEN("plain text, a lone number, and a cut container") {
    THEN("only a whole container is taken when containers_only") {
      CHECK_FALSE(depot::msgpack::to_text("hello", out, true));
      CHECK_FALSE(depot::msgpack::to_text("\x2a", out, true));
      CHECK(depot::msgpack::to_text("\x2a", out, false));
      CHECK(out == "42");
      CHECK_FALSE(depot::msgpack::to_text("\x92\x01", out, false));
    }
  }
}
