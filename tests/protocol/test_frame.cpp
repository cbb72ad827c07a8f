// Frames, the body reader and addresses: encode/decode round trips and malformed input. The
// request frames are the client codec's (client/queue_requests.h), as a client sends them.
#include <catch2/catch.hpp>

#include <random>

#include "depot/auth/auth.h"
#include "depot/client/queue_requests.h"
#include "depot/protocol/address.h"
#include "depot/protocol/frame.h"

using namespace depot;
using namespace depot::proto;

namespace {
std::string put_frame(uint64_t id, std::string_view name, std::string_view item) {
  const Request r = req::queue_put(name, kWaitForever, item);
  std::string out;
  append_frame(out, FrameKind::REQUEST, static_cast<uint8_t>(r.op), id, r.body);
  return out;
}
}  // namespace

SCENARIO("a frame survives encode and decode", "[protocol]") {
  GIVEN("a QUEUE_PUT request frame") {
    const std::string f = put_frame(0x1122334455667788ull, "tasks", "payload");
    THEN("the header is little-endian with the documented layout") {
      REQUIRE(f.size() == kHeaderSize + 4 + 5 + 8 + 4 + 7);
      REQUIRE(load_u32(f.data()) == f.size() - kHeaderSize);
      REQUIRE(static_cast<uint8_t>(f[4]) == kMagic);
      REQUIRE(static_cast<uint8_t>(f[5]) == static_cast<uint8_t>(FrameKind::REQUEST));
      REQUIRE(static_cast<uint8_t>(f[6]) == 0x11);
      REQUIRE(static_cast<uint8_t>(f[8]) == 0x88);
    }
    THEN("decode returns the header and body, and the reader the fields, as a handler reads them") {
      auto d = decode(f.data(), f.size(), kDefaultMaxFrame);
      REQUIRE(d.status == DecodeStatus::OK);
      REQUIRE(d.header.id == 0x1122334455667788ull);
      REQUIRE(d.header.kind == FrameKind::REQUEST);
      Reader r(d.body);
      REQUIRE(r.str() == "tasks");
      REQUIRE(r.i64() == -1);
      REQUIRE(r.str() == "payload");
      REQUIRE(r.at_end());
    }
  }
}

SCENARIO("the decoder waits for whole frames, cut at every byte offset", "[protocol]") {
  GIVEN("three frames back to back") {
    std::string stream = put_frame(1, "a", "x") + put_frame(2, "bb", std::string(300, 'y')) +
                         put_frame(3, "ccc", "");
    THEN("every prefix decodes only the frames that are complete and never reads past it") {
      for (size_t cut = 0; cut <= stream.size(); ++cut) {
        // Copy into an exact-size heap buffer so ASan catches any read past `cut`.
        std::unique_ptr<char[]> buf(new char[cut ? cut : 1]);
        std::memcpy(buf.get(), stream.data(), cut);
        size_t off = 0;
        std::vector<uint64_t> ids;
        for (;;) {
          auto d = decode(buf.get() + off, cut - off, kDefaultMaxFrame);
          REQUIRE(d.status != DecodeStatus::MALFORMED);
          REQUIRE(d.status != DecodeStatus::TOO_LARGE);
          if (d.status == DecodeStatus::NEED_MORE) break;
          ids.push_back(d.header.id);
          off += kHeaderSize + d.header.body_len;
        }
        size_t complete = 0;
        size_t end = 0;
        for (uint64_t id = 1; id <= 3; ++id) {
          end += kHeaderSize + load_u32(stream.data() + end);
          if (end <= cut) complete = id;
        }
        REQUIRE(ids.size() == complete);
      }
    }
  }
}

SCENARIO("the decoder rejects malformed and oversized frames", "[protocol]") {
  std::string f = put_frame(9, "q", "v");
  WHEN("the magic byte is wrong") {
    f[4] = 'X';
    auto d = decode(f.data(), f.size(), kDefaultMaxFrame);
    THEN("it is MALFORMED with a clear error") {
      REQUIRE(d.status == DecodeStatus::MALFORMED);
      REQUIRE(d.error.find("magic") != std::string::npos);
    }
  }
  WHEN("the kind is unknown") {
    f[5] = 42;
    REQUIRE(decode(f.data(), f.size(), kDefaultMaxFrame).status == DecodeStatus::MALFORMED);
    f[5] = 0;
    REQUIRE(decode(f.data(), f.size(), kDefaultMaxFrame).status == DecodeStatus::MALFORMED);
  }
  WHEN("the body length exceeds the limit") {
    store_u32(f.data(), 1000);
    auto d = decode(f.data(), kHeaderSize, 999);
    THEN("it is TOO_LARGE as soon as the header is in, with the id to answer") {
      REQUIRE(d.status == DecodeStatus::TOO_LARGE);
      REQUIRE(d.header.id == 9);
      REQUIRE(d.error.find("--max-frame") != std::string::npos);
    }
  }
  WHEN("random bytes arrive") {
    std::mt19937 rng(42);
    int malformed = 0;
    for (int i = 0; i < 2000; ++i) {
      std::string junk(1 + rng() % 64, '\0');
      for (auto& c : junk) c = static_cast<char>(rng());
      auto d = decode(junk.data(), junk.size(), 1024);
      if (d.status == DecodeStatus::MALFORMED) ++malformed;
      if (d.status == DecodeStatus::OK) REQUIRE(kHeaderSize + d.header.body_len <= junk.size());
    }
    THEN("nearly all of it is refused by the magic byte") {
      REQUIRE(malformed > 1500);
    }
  }
}

SCENARIO("the body reader never reads past the body", "[protocol]") {
  GIVEN("a body whose string claims more bytes than there are") {
    std::string body;
    char b[4];
    store_u32(b, 1000);
    body.append(b, 4);
    body += "short";
    Reader r(body);
    THEN("the read fails, later reads return zero values and ok() stays false") {
      REQUIRE(r.str().empty());
      REQUIRE_FALSE(r.ok());
      REQUIRE(r.u64() == 0);
      REQUIRE(r.u8() == 0);
      REQUIRE_FALSE(r.at_end());
    }
  }
  GIVEN("a body with trailing bytes") {
    const std::string body("\x01\x00\x00\x00xEXTRA", 10);  // deliberately: str "x", then junk
    Reader r(body);
    REQUIRE(r.str() == "x");
    REQUIRE(r.ok());
    REQUIRE_FALSE(r.at_end());
  }
}

SCENARIO("error replies carry a message", "[protocol]") {
  std::string out;
  FrameBuilder b(out, FrameKind::REPLY, static_cast<uint8_t>(Status::FULL), 3);
  b.str("queue 'q' is full").u32(4);
  b.finish();
  auto d = decode(out.data(), out.size(), kDefaultMaxFrame);
  REQUIRE(d.status == DecodeStatus::OK);
  REQUIRE(error_message(d.body) == "queue 'q' is full");
  REQUIRE(req::parse_put_many_full(d.body) == 4);  // QUEUE_PUT_MANY's tail, as the client reads it
  REQUIRE(status_name(static_cast<Status>(d.header.code)) == "FULL");
}

SCENARIO("names are checked", "[protocol]") {
  REQUIRE(check_name("tasks").empty());
  REQUIRE(check_name(std::string(255, 'n')).empty());
  REQUIRE_FALSE(check_name("").empty());
  REQUIRE_FALSE(check_name(std::string(256, 'n')).empty());
  REQUIRE_FALSE(check_name(std::string("a\0b", 3)).empty());
}

SCENARIO("addresses parse as host:port", "[protocol]") {
  Address a;
  REQUIRE(parse_address("127.0.0.1:5000", a).empty());
  REQUIRE(a.host == "127.0.0.1");
  REQUIRE(a.port == 5000);
  REQUIRE(parse_address(":6000", a).empty());
  REQUIRE(a.host.empty());
  REQUIRE(a.port == 6000);
  REQUIRE(parse_address("[::1]:7000", a).empty());
  REQUIRE(a.host == "::1");
  REQUIRE(parse_address("example.org:1", a).empty());
  REQUIRE_FALSE(parse_address("host:", a).empty());
  REQUIRE_FALSE(parse_address("host:99999", a).empty());
  REQUIRE_FALSE(parse_address("host:12ab", a).empty());
  REQUIRE(parse_address("host:x", a).find("no valid port") != std::string::npos);
  REQUIRE_FALSE(a.tls);
  REQUIRE(parse_address("tls://localhost:5000", a).empty());
  REQUIRE(a.tls);
  REQUIRE(a.host == "localhost");
  REQUIRE(a.port == 5000);
  REQUIRE(parse_address("tls://[::1]:7000", a).empty());
  REQUIRE(a.tls);
  REQUIRE(a.host == "::1");
  REQUIRE(parse_address("tcp://127.0.0.1:5000", a).empty());
  REQUIRE_FALSE(a.tls);
  REQUIRE(parse_address("http://h:1", a).find("tls://host:port") != std::string::npos);
}

SCENARIO("the handshake proofs are keyed, labelled and compared in constant time",
         "[protocol][auth]") {
  auth::Nonce n1 = auth::random_nonce();
  auth::Nonce n2 = auth::random_nonce();
  REQUIRE(n1 != n2);
  auto c = auth::client_proof("abc", n1);
  REQUIRE(auth::mac_equal(c, auth::as_view(auth::client_proof("abc", n1))));
  REQUIRE_FALSE(auth::mac_equal(c, auth::as_view(auth::client_proof("abd", n1))));
  REQUIRE_FALSE(auth::mac_equal(c, auth::as_view(auth::client_proof("abc", n2))));
  // A client's proof is never a valid server proof (reflection).
  REQUIRE_FALSE(auth::mac_equal(auth::server_proof("abc", n1, n2), auth::as_view(c)));
  REQUIRE_FALSE(auth::mac_equal(c, auth::as_view(c).substr(0, 31)));
  // HMAC-SHA256 test vector (RFC 4231 case 2).
  auto m = auth::hmac_sha256("Jefe", "what do ya want for nothing?");
  REQUIRE(static_cast<int>(m[0]) == 0x5b);
  REQUIRE(static_cast<int>(m[31]) == 0x43);
}

SCENARIO("generated keys and ids are random lower-case hex of the asked length",
         "[protocol][auth]") {
  const uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  REQUIRE(auth::to_hex(bytes, 4) == "000fa5ff");
  const std::string a = auth::random_hex(32), b = auth::random_hex(32);
  REQUIRE(a.size() == 32);
  REQUIRE(auth::random_hex(16).size() == 16);
  REQUIRE(a.find_first_not_of("0123456789abcdef") == std::string::npos);
  REQUIRE(a != b);
}
