// What the fuzzers feed: one input to the frame decoder (as the manager's session reads a
// stream of frames) and to the handshake's parsers, checking the promises they make. Shared
// by the libFuzzer targets of this folder (clang: fuzz_frame.cpp) and the bounded Catch2
// driver every build runs (tests/manager/test_fuzz.cpp). A broken promise throws
// std::logic_error: a failed test in Catch2, a crash libFuzzer reports with its input.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "depot/auth/handshake.h"
#include "depot/protocol/frame.h"

namespace fuzz {

#define DEPOT_FUZZ_CHECK(cond)                                                                \
  do {                                                                                        \
    if (!(cond))                                                                              \
      throw std::logic_error(std::string("fuzz check failed: ") + #cond + " at " + __FILE__ + \
                             ":" + std::to_string(__LINE__));                                 \
  } while (0)

// Decodes `data` as a stream of frames, as Session::process_input does: whole frames are
// consumed, a too-large one has its body skipped, a malformed one or a partial one ends it.
inline void decode_stream(const char* data, size_t n, uint32_t max_body) {
  using namespace depot::proto;
  size_t off = 0;
  while (off < n) {
    const size_t avail = n - off;
    const Decoded d = decode(data + off, avail, max_body);
    switch (d.status) {
      case DecodeStatus::OK:
        DEPOT_FUZZ_CHECK(d.header.body_len <= max_body);
        DEPOT_FUZZ_CHECK(kHeaderSize + d.header.body_len <= avail);
        DEPOT_FUZZ_CHECK(d.body.size() == d.header.body_len);
        DEPOT_FUZZ_CHECK(d.body.data() == data + off + kHeaderSize);
        {
          // Whatever the body, reading it field by field stays inside it.
          Reader r(d.body);
          while (r.ok() && r.remaining() > 0) {
            const std::string_view s = r.str();
            DEPOT_FUZZ_CHECK(!r.ok() || (s.data() >= d.body.data() &&
                                         s.data() + s.size() <= d.body.data() + d.body.size()));
            r.u8();
          }
          (void)error_message(d.body);
        }
        off += kHeaderSize + d.header.body_len;
        break;
      case DecodeStatus::NEED_MORE:
        DEPOT_FUZZ_CHECK(avail < kHeaderSize || avail - kHeaderSize < d.header.body_len);
        return;
      case DecodeStatus::TOO_LARGE:
        DEPOT_FUZZ_CHECK(avail >= kHeaderSize && d.header.body_len > max_body);
        off += kHeaderSize + std::min<size_t>(d.header.body_len, avail - kHeaderSize);
        break;
      case DecodeStatus::MALFORMED:
        DEPOT_FUZZ_CHECK(!d.error.empty());
        return;
    }
  }
}

// The input as the body of every handshake frame, both sides.
inline void handshake(const char* data, size_t n) {
  using namespace depot;
  const std::string_view body(data, n);
  auth::AuthFrame a;
  // True means "whole": version 2 is exactly 66 bytes, version 3 names a user before the mac
  // and the nonce, version 4 a user and a client name; another version is let through for the
  // manager to refuse by name.
  if (auth::parse_auth(body, a)) {
    if (a.version == proto::kVersionNoUser)
      DEPOT_FUZZ_CHECK(n == 66 && a.client_mac.size() == 32 && a.user.empty());
    else if (a.version == proto::kVersionUser)
      DEPOT_FUZZ_CHECK(a.client_mac.size() == 32 && n == 2 + 4 + a.user.size() + 64 &&
                       a.name.empty());
    else if (a.version == proto::kVersion)
      DEPOT_FUZZ_CHECK(a.client_mac.size() == 32 &&
                       n == 2 + 4 + a.user.size() + 4 + a.name.size() + 64);
  }
  auth::HelloFrame hello;
  if (auth::parse_hello(body, hello)) DEPOT_FUZZ_CHECK(n == 40);
  proto::Header h;
  h.body_len = static_cast<uint32_t>(n);
  for (auto kind : {proto::FrameKind::HELLO, proto::FrameKind::AUTH_OK, proto::FrameKind::REPLY,
                    proto::FrameKind::PUSH}) {
    h.kind = kind;
    h.code = n > 0 ? static_cast<uint8_t>(data[0]) : 0;
    auth::ClientHandshake hs("fuzz-key");
    std::string out;
    const auth::HandshakeResult r = hs.on_hello(h, body, out);
    if (r.ok()) DEPOT_FUZZ_CHECK(kind == proto::FrameKind::HELLO && !out.empty());
    // A proof over random bytes never checks out.
    const auth::HandshakeResult f = hs.on_auth_reply(h, body);
    if (f.ok()) DEPOT_FUZZ_CHECK(false);
  }
}

// One fuzzer input: the decoder with the limits before and after authenticating, then the
// handshake parsers.
inline void one_input(const uint8_t* data, size_t n) {
  const char* p = reinterpret_cast<const char*>(data);
  decode_stream(p, n, 1024);
  decode_stream(p, n, depot::proto::kDefaultMaxFrame);
  handshake(p, n);
}

}  // namespace fuzz
