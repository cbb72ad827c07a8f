// Keeps docs/protocol.md honest, against the code that really speaks the protocol:
// - every REQUEST example is exactly what the client's request codec (client/*_requests.h)
//   encodes from the fields the example describes, framed with the example's id;
// - every REPLY and PUSH example is what the manager builds (FrameBuilder, as its sessions
//   do), and the client's codec parses it to the values the example describes: an OK
//   reply through its req::parse_* parser (which must also refuse the body a byte longer
//   or shorter), an error reply through proto::error_message (and QUEUE_PUT_MANY's count
//   through req::parse_put_many_full), the PUSH through req::parse_push_message;
// - the handshake examples are what auth/handshake.h builds and parses (append_hello,
//   ClientHandshake, parse_auth, append_auth_ok), and their MACs are the proofs of auth.h;
// - every opcode of frame.h has a request example built by its encoder, and the tables of
//   frame kinds, status codes, opcodes, push codes and slow-subscriber policies match the
//   enums.
// A protocol change that forgets the document or the codec (or a document edit that gets a
// byte wrong) fails here.
//
// What the test looks for in the document:
//   <!-- frame: NAME -->  then a ```hex block holding one whole frame
//   <!-- bytes: NAME -->  then a ```hex block holding a byte string (the HMAC inputs/outputs)
//   <!-- value: NAME -->  then a ```hex block holding a value as depot::Codec<T> encodes it
//                         (section 12, "Value encodings"), which Codec<T> also decodes back
//   <!-- table: NAME -->  then a Markdown table: first column the value, second the `NAME`
//                         (frame kinds, status codes, opcodes, push codes, slow-subscriber
//                         policies)
// Inside a hex block everything after '#' is a comment; the rest must be two-digit hex bytes
// separated by white space. Markers and blocks may be indented (inside list items).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "depot/auth/auth.h"
#include "depot/auth/handshake.h"
#include "depot/client/admin_requests.h"
#include "depot/client/codec.h"
#include "depot/client/coord_requests.h"
#include "depot/client/errors.h"
#include "depot/client/monitor_requests.h"
#include "depot/client/queue_requests.h"
#include "depot/manager/manager.h"
#include "depot/protocol/frame.h"
#include "depot/protocol/messages.h"
#include "depot/queue/queue.h"
#include "depot/queue/registry.h"
#include "depot/queue/topic.h"

namespace {

namespace proto = depot::proto;
namespace req = depot::req;
using depot::Status;
using depot::auth::Nonce;
using depot::proto::FrameBuilder;
using depot::proto::FrameKind;
using depot::proto::Op;
using depot::proto::Push;
using namespace std::chrono_literals;

constexpr const char* kDocPath = DEPOT_SOURCE_DIR "/docs/protocol.md";

// ------------------------------------------------------------ reading the document

struct Block {
  std::string kind;  // "frame", "bytes" or "value"
  std::string name;
  int line = 0;  // of the marker, 1-based
  std::string bytes;
};

struct Table {
  std::string name;
  int line = 0;
  std::vector<std::pair<std::string, std::string>> rows;  // first two cells of each data row
};

struct Doc {
  bool found = false;
  std::vector<Block> blocks;
  std::vector<Table> tables;
  std::vector<std::string> errors;  // "line N: what is wrong"
};

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the bytes of one hex line to `out`; returns an error text, empty when fine.
std::string parse_hex_line(std::string_view line, std::string& out) {
  if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
  std::istringstream in{std::string(line)};
  std::string token;
  while (in >> token) {
    if (token.size() != 2 || hex_digit(token[0]) < 0 || hex_digit(token[1]) < 0)
      return "'" + token + "' is not a two-digit hex byte (comments start with '#')";
    out.push_back(static_cast<char>(hex_digit(token[0]) * 16 + hex_digit(token[1])));
  }
  return {};
}

// "<!-- frame: QUEUE_PUT request -->" -> {"frame", "QUEUE_PUT request"}; empty kind otherwise.
std::pair<std::string, std::string> parse_marker(const std::string& line) {
  if (line.rfind("<!--", 0) != 0 || line.size() < 7 || line.substr(line.size() - 3) != "-->")
    return {};
  const std::string inner = trim(std::string_view(line).substr(4, line.size() - 7));
  const auto colon = inner.find(':');
  if (colon == std::string::npos) return {};
  return {trim(std::string_view(inner).substr(0, colon)),
          trim(std::string_view(inner).substr(colon + 1))};
}

std::vector<std::string> table_cells(const std::string& row) {
  std::vector<std::string> cells;
  std::string_view r(row);
  if (!r.empty() && r.front() == '|') r.remove_prefix(1);
  if (!r.empty() && r.back() == '|') r.remove_suffix(1);
  size_t start = 0;
  for (size_t i = 0; i <= r.size(); ++i) {
    if (i == r.size() || r[i] == '|') {
      cells.push_back(trim(r.substr(start, i - start)));
      start = i + 1;
    }
  }
  return cells;
}

Doc read_doc() {
  Doc doc;
  std::ifstream f(kDocPath, std::ios::binary);
  if (!f) return doc;
  doc.found = true;
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(trim(l));
  auto error = [&](size_t i, const std::string& what) {
    doc.errors.push_back("line " + std::to_string(i + 1) + ": " + what);
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto [kind, name] = parse_marker(lines[i]);
    if (kind.empty()) continue;
    const size_t marker = i;
    size_t j = i + 1;
    while (j < lines.size() && lines[j].empty()) ++j;
    if (kind == "frame" || kind == "bytes" || kind == "value") {
      if (j >= lines.size() || lines[j] != "```hex") {
        error(marker, "marker '" + name + "' is not followed by a ```hex block");
        continue;
      }
      Block b{kind, name, static_cast<int>(marker + 1), {}};
      for (++j; j < lines.size() && lines[j] != "```"; ++j) {
        if (auto why = parse_hex_line(lines[j], b.bytes); !why.empty()) error(j, why);
      }
      if (j >= lines.size()) error(marker, "the hex block of '" + name + "' is never closed");
      doc.blocks.push_back(std::move(b));
      i = j;
    } else if (kind == "table") {
      Table t{name, static_cast<int>(marker + 1), {}};
      for (; j < lines.size() && !lines[j].empty() && lines[j].front() == '|'; ++j) {
        auto cells = table_cells(lines[j]);
        if (cells.size() < 2) continue;
        t.rows.emplace_back(cells[0], cells[1]);
      }
      if (t.rows.empty()) error(marker, "marker '" + name + "' is not followed by a table");
      doc.tables.push_back(std::move(t));
      i = j;
    }
  }
  return doc;
}

const Doc& doc() {
  static const Doc d = read_doc();
  return d;
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (i > 0) s += (i % 16 == 0) ? '\n' : ' ';
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

// A table's data rows as value -> name: the header row and the |---| row are skipped, a
// backticked name loses its backticks, "0x11" and "17" both read as 17.
std::map<unsigned, std::string> table_values(const Table& t, std::vector<std::string>& bad) {
  std::map<unsigned, std::string> out;
  for (const auto& [value, name] : t.rows) {
    if (value.empty() || value.find_first_not_of("-: ") == std::string::npos) continue;
    unsigned long v = 0;
    size_t used = 0;
    try {
      v = std::stoul(value, &used, 0);
    } catch (const std::exception&) {
      continue;  // the header row
    }
    if (used != value.size() || v > 255) {
      bad.push_back(value);
      continue;
    }
    std::string n = name;
    if (n.size() >= 2 && n.front() == '`' && n.back() == '`') n = n.substr(1, n.size() - 2);
    if (!out.emplace(static_cast<unsigned>(v), n).second) bad.push_back(value + " (twice)");
  }
  return out;
}

const Table* find_table(const std::string& name) {
  for (const auto& t : doc().tables)
    if (t.name == name) return &t;
  return nullptr;
}

// ------------------------------------------------------------ what the examples must be

using Body = std::function<void(FrameBuilder&)>;

// A frame as the manager builds it: FrameBuilder straight into the output, as its sessions'
// begin_reply / reply_error / pump_pushes do.
std::string build(FrameKind kind, uint8_t code, uint64_t id, const Body& body) {
  std::string out;
  FrameBuilder b(out, kind, code, id);
  body(b);
  b.finish();
  return out;
}

std::string reply(Status s, uint64_t id, const Body& body) {
  return build(FrameKind::REPLY, static_cast<uint8_t>(s), id, body);
}

// A frame with a fixed body, through append_frame rather than FrameBuilder.
std::string whole(FrameKind kind, uint8_t code, uint64_t id, std::string_view body = {}) {
  std::string out;
  proto::append_frame(out, kind, code, id, body);
  return out;
}

// A request as the client sends it (Client::call): the codec's body behind a REQUEST header
// carrying the encoder's opcode and the request id.
std::string request_frame(uint64_t id, const depot::Request& r) {
  return whole(FrameKind::REQUEST, static_cast<uint8_t>(r.op), id, r.body);
}

// Tokens, lease ids, versions and subscription ids in the examples. They come from the
// registry's one counter (Registry::next_token), which starts at the wall clock in
// nanoseconds; the document's examples start it at 2025-11-22 00:00 UTC.
constexpr uint64_t kTokenBase = 1763769600000000000ull;
uint64_t tok(uint64_t n) {
  return kTokenBase + n;
}
// The MONITOR example's clock: 2025-11-22 00:00:00.123456 UTC in microseconds.
constexpr uint64_t kMonitorTimeUs = 1763769600123456ull;

// The handshake example: key "abc", server nonce 00..1f, client nonce 20..3f.
const std::string kKey = "abc";

Nonce nonce_from(uint8_t first) {
  Nonce n{};
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(first + i);
  return n;
}

const Nonce kServerNonce = nonce_from(0x00);
const Nonce kClientNonce = nonce_from(0x20);

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (auto p : parts) s.append(p);
  return s;
}

proto::Decoded decode_frame(std::string_view frame) {
  return proto::decode(frame.data(), frame.size(), proto::kDefaultMaxFrame);
}

// The AUTH frame ClientHandshake::on_hello sends in answer to `hello`, with the client nonce
// it drew at random replaced by `client_nonce`. ClientHandshake draws its nonce itself and
// cannot be given one; client_mac depends on the server nonce only, so this is byte for byte
// the frame it sends when it draws `client_nonce`.
std::string client_auth(const std::string& key, std::string_view hello, const Nonce& client_nonce,
                        const std::string& user = {}, const std::string& name = {}) {
  const auto d = decode_frame(hello);
  depot::auth::ClientHandshake hs(key, user, name);
  std::string frame;
  if (d.status != proto::DecodeStatus::OK || !hs.on_hello(d.header, d.body, frame).ok())
    throw std::logic_error("ClientHandshake refuses the HELLO example");
  depot::auth::AuthFrame parsed;
  const std::string_view drawn = depot::auth::as_view(hs.client_nonce());
  const size_t user_bytes =
      name.empty() ? (user.empty() ? 0 : 4 + user.size()) : 4 + user.size() + 4 + name.size();
  if (frame.size() != proto::kHeaderSize + 2 + user_bytes + proto::kMacBytes + proto::kNonceBytes ||
      !depot::auth::parse_auth(std::string_view(frame).substr(proto::kHeaderSize), parsed) ||
      parsed.client_nonce != hs.client_nonce() ||
      std::string_view(frame).substr(frame.size() - drawn.size()) != drawn)
    throw std::logic_error("ClientHandshake's AUTH frame does not end with its client nonce");
  frame.replace(frame.size() - drawn.size(), drawn.size(), depot::auth::as_view(client_nonce));
  return frame;
}

// How the receiver of an example reads the document's frame, checking the values the
// example describes: the client's codec for replies and pushes, handshake.h for the
// handshake frames.
using Read = std::function<void(const proto::Header&, std::string_view body)>;

struct Example {
  std::string bytes;     // what the encoders build
  std::optional<Op> op;  // a request: the opcode of the codec encoder that built it
  Read read;             // empty for requests and byte strings
  // An OK reply with a body: the codec's parser alone, fed copies cut or extended by a byte.
  std::function<void(std::string_view body)> parse;
};

struct Examples {
  std::map<std::string, Example> all;  // by marker: "frame: NAME" or "bytes: NAME"
  std::set<Op> encoded;                // opcodes whose encoder built a request example
};

// The struct of section 12's example.
struct DocPoint {
  int x = 0;
  double y = 0;
  std::string name;
  DEPOT_FIELDS(x, y, name);
  bool operator==(const DocPoint&) const = default;
};

// Collects the examples. Each kind of example has its builder, so that a request can only be
// made by the codec's encoder and every OK reply names the parser the client reads it with.
class ExampleSet {
 public:
  const Examples& examples() const { return ex_; }

  void bytes(const std::string& name, std::string b) {
    add("bytes: " + name, {std::move(b), std::nullopt, {}, {}});
  }

  // A value as Codec<T> encodes it; Codec<T> must decode those bytes back to it.
  template <class T>
  void value(const std::string& name, const T& v) {
    std::string b = depot::Codec<T>::encode(v);
    if (!(depot::Codec<T>::decode(b) == v))
      throw std::logic_error("Codec<T> does not decode <!-- value: " + name + " --> back");
    add("value: " + name, {std::move(b), std::nullopt, {}, {}});
  }

  // Any frame, with the receiver's reading of it.
  void frame(const std::string& name, std::string bytes, Read read = {}) {
    add("frame: " + name, {std::move(bytes), std::nullopt, std::move(read), {}});
  }

  // A request built by the client's encoder, framed with the example's id.
  void request(const std::string& name, uint64_t id, const depot::Request& r) {
    add("frame: " + name, {request_frame(id, r), r.op, {}, {}});
    ex_.encoded.insert(r.op);
  }

  // An OK reply the manager builds with `body` and the client reads with `parse`; `check`
  // gets the parsed value.
  template <class Parse, class Check>
  void ok_reply(const std::string& name, uint64_t id, const Body& body, Parse parse, Check check) {
    Example e{reply(Status::OK, id, body), std::nullopt, {}, {}};
    e.read = [parse, check](const proto::Header& h, std::string_view b) {
      CHECK(h.kind == FrameKind::REPLY);
      CHECK(h.code == static_cast<uint8_t>(Status::OK));
      try {
        check(parse(b));
      } catch (const std::exception& err) {
        FAIL_CHECK("the client's parser refuses it: " << err.what());
      }
    };
    e.parse = [parse](std::string_view b) { (void)parse(b); };
    add("frame: " + name, std::move(e));
  }

  // An OK reply with an empty body (the client reads nothing from it).
  void empty_reply(const std::string& name, uint64_t id) {
    frame(name, whole(FrameKind::REPLY, static_cast<uint8_t>(Status::OK), id),
          [](const proto::Header& h, std::string_view b) {
            CHECK(h.kind == FrameKind::REPLY);
            CHECK(h.code == static_cast<uint8_t>(Status::OK));
            CHECK(b.empty());
          });
  }

  // An error reply, `str message` then the opcode's tail if any (as Session::reply_error
  // and the put completions build it); the client takes the message with error_message.
  void error_reply(
      const std::string& name, Status s, uint64_t id, const std::string& message,
      const Body& tail = [](FrameBuilder&) {}, Read read_tail = {}) {
    frame(name,
          reply(s, id,
                [&](FrameBuilder& b) {
                  b.str(message);
                  tail(b);
                }),
          [s, message, read_tail](const proto::Header& h, std::string_view b) {
            CHECK(h.kind == FrameKind::REPLY);
            CHECK(h.code == static_cast<uint8_t>(s));
            CHECK(proto::error_message(b) == message);
            if (read_tail) read_tail(h, b);
          });
  }

 private:
  void add(const std::string& marker, Example e) {
    if (!ex_.all.emplace(marker, std::move(e)).second)
      throw std::logic_error("the test builds <!-- " + marker + " --> twice");
  }
  Examples ex_;
};

Examples build_examples() {
  using depot::auth::as_view;
  using depot::auth::client_proof;
  using depot::auth::server_proof;
  const auto client_mac = client_proof(kKey, kServerNonce);
  const auto server_mac = server_proof(kKey, kClientNonce, kServerNonce);
  ExampleSet e;

  // Handshake, as auth/handshake.h builds it for the manager's session (append_hello,
  // append_auth_ok) and for the client (ClientHandshake).
  std::string hello;
  depot::auth::append_hello(hello, kServerNonce);
  e.frame("HELLO", hello, [](const proto::Header& h, std::string_view b) {
    CHECK(h.kind == FrameKind::HELLO);
    CHECK(h.code == 0);
    depot::auth::HelloFrame f;
    REQUIRE(depot::auth::parse_hello(b, f));
    CHECK(f.version == proto::kHelloVersion);
    CHECK(f.server_nonce == kServerNonce);
    depot::auth::ClientHandshake hs(kKey);
    std::string auth;
    REQUIRE(hs.on_hello(h, b, auth).ok());
    CHECK_FALSE(hs.tls_follows());
  });
  // The HELLO of a manager serving TLS: the same but for bit 0 of the code byte.
  std::string tls_hello;
  depot::auth::append_hello(tls_hello, kServerNonce, /*tls_follows=*/true);
  e.frame("HELLO with TLS", tls_hello, [](const proto::Header& h, std::string_view b) {
    CHECK(h.kind == FrameKind::HELLO);
    CHECK(h.code == proto::kHelloTlsFollows);
    CHECK(proto::kHelloTlsFollows == 0x01);
    depot::auth::HelloFrame f;
    REQUIRE(depot::auth::parse_hello(b, f));
    CHECK(f.server_nonce == kServerNonce);
    depot::auth::ClientHandshake hs(kKey);
    std::string auth;
    REQUIRE(hs.on_hello(h, b, auth).ok());
    CHECK(hs.tls_follows());
  });
  // What manager/tls.cpp writes in clear to a peer that answers a TLS HELLO in clear.
  e.error_reply("TLS required reply", Status::BAD_REQUEST, 0, depot::msg::tls_required_reply());
  e.frame("AUTH", client_auth(kKey, hello, kClientNonce),
          [](const proto::Header& h, std::string_view b) {
            CHECK(h.kind == FrameKind::AUTH);
            depot::auth::AuthFrame f;
            REQUIRE(depot::auth::parse_auth(b, f));
            CHECK(f.version == proto::kVersionNoUser);
            CHECK(f.user.empty());
            CHECK(depot::auth::mac_equal(client_proof(kKey, kServerNonce), f.client_mac));
            CHECK(f.client_nonce == kClientNonce);
          });
  // Version 3: ClientHandshake given a user names it, and its MAC covers the name.
  e.frame(
      "AUTH version 3", client_auth(kKey, hello, kClientNonce, "alice"),
      [](const proto::Header& h, std::string_view b) {
        CHECK(h.kind == FrameKind::AUTH);
        depot::auth::AuthFrame f;
        REQUIRE(depot::auth::parse_auth(b, f));
        CHECK(f.version == proto::kVersionUser);
        CHECK(f.user == "alice");
        CHECK(f.name.empty());
        CHECK(depot::auth::mac_equal(client_proof(kKey, kServerNonce, "alice"), f.client_mac));
        CHECK_FALSE(depot::auth::mac_equal(client_proof(kKey, kServerNonce, "bob"), f.client_mac));
        CHECK_FALSE(depot::auth::mac_equal(client_proof(kKey, kServerNonce), f.client_mac));
        CHECK(f.client_nonce == kClientNonce);
      });
  e.bytes("client_mac input version 3", cat({"depot-client", as_view(kServerNonce), "alice"}));
  e.bytes("client_mac version 3", std::string(as_view(client_proof(kKey, kServerNonce, "alice"))));
  // Version 4: ClientHandshake given a client name sends it after the user; the MAC is
  // version 3's (over the user only), so user alice's v4 AUTH has the v3 MAC.
  e.frame("AUTH version 4", client_auth(kKey, hello, kClientNonce, "alice", "worker-7"),
          [](const proto::Header& h, std::string_view b) {
            CHECK(h.kind == FrameKind::AUTH);
            depot::auth::AuthFrame f;
            REQUIRE(depot::auth::parse_auth(b, f));
            CHECK(f.version == proto::kVersion);
            CHECK(f.version == 4);
            CHECK(f.user == "alice");
            CHECK(f.name == "worker-7");
            CHECK(depot::auth::check_client_name(f.name).empty());
            CHECK(depot::auth::mac_equal(client_proof(kKey, kServerNonce, "alice"), f.client_mac));
            CHECK(f.client_nonce == kClientNonce);
          });
  e.frame("AUTH version 4 default user", client_auth(kKey, hello, kClientNonce, "", "worker-7"),
          [](const proto::Header& h, std::string_view b) {
            CHECK(h.kind == FrameKind::AUTH);
            depot::auth::AuthFrame f;
            REQUIRE(depot::auth::parse_auth(b, f));
            CHECK(f.version == proto::kVersion);
            CHECK(f.user.empty());
            CHECK(f.name == "worker-7");
            CHECK(depot::auth::mac_equal(client_proof(kKey, kServerNonce), f.client_mac));
          });
  std::string auth_ok;
  depot::auth::append_auth_ok(auth_ok, 0, kKey, kClientNonce, kServerNonce, 10000ms);
  // ClientHandshake reads AUTH_OK against the nonce it drew, so it cannot read this one;
  // the scenario on the handshake checks its MAC and that a client accepts such a frame.
  e.frame("AUTH_OK", auth_ok);
  e.bytes("client_mac input", cat({"depot-client", as_view(kServerNonce)}));
  e.bytes("client_mac", std::string(as_view(client_mac)));
  e.bytes("server_mac input", cat({"depot-server", as_view(kClientNonce), as_view(kServerNonce)}));
  e.bytes("server_mac", std::string(as_view(server_mac)));
  const std::string wrong_key = "the authkey does not match the manager's; check the key you gave";
  e.frame("AUTH_FAILED reply",
          reply(Status::AUTH_FAILED, 0, [&](FrameBuilder& b) { b.str(wrong_key); }),
          [wrong_key](const proto::Header& h, std::string_view b) {
            depot::auth::ClientHandshake hs(kKey);
            const auto r = hs.on_auth_reply(h, b);
            CHECK(r.error == depot::auth::HandshakeError::AUTH_FAILED);
            CHECK(r.status == Status::AUTH_FAILED);
            CHECK(r.message == wrong_key);
          });
  const std::string full =
      "the manager has 10000 connections, its limit (--max-connections); retry later";
  e.frame("max-connections refusal", reply(Status::LIMIT, 0, [&](FrameBuilder& b) { b.str(full); }),
          [full](const proto::Header& h, std::string_view b) {
            depot::auth::ClientHandshake hs(kKey);
            std::string auth;
            const auto r = hs.on_hello(h, b, auth);
            CHECK(r.error == depot::auth::HandshakeError::REFUSED);
            CHECK(r.status == Status::LIMIT);
            CHECK(r.message == full);
            CHECK(auth.empty());
          });

  // Errors any request may get. The request is deliberately not the codec's: no encoder
  // makes an unknown opcode.
  e.frame("unknown opcode request", whole(FrameKind::REQUEST, 0x7f, 11));
  e.error_reply("unknown opcode reply", Status::BAD_REQUEST, 11,
                "unknown opcode 127; see docs/protocol.md for the opcodes");
  e.error_reply("TOO_LARGE reply", Status::TOO_LARGE, 12,
                "frame body of 67108865 bytes exceeds the limit of 67108864 bytes; send "
                "smaller items or raise the manager's --max-frame");

  // PING, STATS, LIST, HEARTBEAT (no reply, id 0 as Client's keep_alive sends it), DELETE.
  e.request("PING request", 1, req::ping("ping"));
  e.frame("PING reply", whole(FrameKind::REPLY, static_cast<uint8_t>(Status::OK), 1, "ping"),
          [](const proto::Header& h, std::string_view b) {
            CHECK(h.code == static_cast<uint8_t>(Status::OK));
            CHECK(b == req::ping("ping").body);  // the request's body, echoed
          });
  e.request("STATS request", 2, req::stats());
  const std::string stats =
      R"({"version":"4","address":"127.0.0.1:5000","uptime_s":42,"connections":1,)"
      R"("connections_total":1,"auth_failures":0,"requests":3,"protocol_errors":0,)"
      R"("objects":1,"parked":0,"sessions_holding":0,"subscriptions":0,)"
      R"("pubsub_buffered_bytes":0})";
  e.ok_reply(
      "STATS reply", 2, [&](FrameBuilder& b) { b.str(stats); }, req::parse_stats,
      [stats](const std::string& json) { CHECK(json == stats); });
  e.request("LIST request", 3, req::list());
  e.ok_reply(
      "LIST reply", 3,
      [](FrameBuilder& b) {
        b.u32(1).str("tasks").str("queue").u64(1).str("maxsize=2 bytes=5 getters=0 putters=0");
      },
      req::parse_list,
      [](const std::vector<depot::ObjectInfo>& objects) {
        REQUIRE(objects.size() == 1);
        CHECK(objects[0].name == "tasks");
        CHECK(objects[0].type == "queue");
        CHECK(objects[0].size == 1);
        CHECK(objects[0].state == "maxsize=2 bytes=5 getters=0 putters=0");
      });
  e.request("HEARTBEAT request", 0, req::heartbeat());
  e.request("DELETE request", 13, req::remove("tasks"));
  e.ok_reply(
      "DELETE reply", 13, [](FrameBuilder& b) { b.str("queue"); }, req::parse_remove,
      [](const std::string& type) { CHECK(type == "queue"); });
  e.error_reply("DELETE reply NOT_FOUND", Status::NOT_FOUND, 13,
                "no object named 'tasks'; nothing to delete");
  e.request("INSPECT request", 14, req::inspect("locks"));
  const std::string locks =
      R"({"now":"2025-11-22T00:00:42.000Z","locks":[{"name":"jobs","type":"lock","held":true,)"
      R"("holder":{"session":3,"name":"holder-1","token":"1763769600000000001","count":1,)"
      R"("ttl":false},"waiters":[{"session":4,"name":"worker-2"}]}],"semaphores":[]})";
  e.ok_reply(
      "INSPECT reply", 14, [&](FrameBuilder& b) { b.str(locks); }, req::parse_inspect,
      [locks](const std::string& json) { CHECK(json == locks); });
  e.error_reply("INSPECT reply BAD_REQUEST", Status::BAD_REQUEST, 14,
                "INSPECT has no section 'lock'; use one of objects, sessions, locks, queues, "
                "pools");

  // Queue operations.
  e.request("QUEUE_DECLARE request", 4, req::queue_declare("tasks", 2));
  e.empty_reply("QUEUE_DECLARE reply", 4);
  e.error_reply("QUEUE_DECLARE reply BAD_REQUEST", Status::BAD_REQUEST, 4,
                "queue 'tasks' exists with maxsize 0, not 2; declare it with the same maxsize or "
                "delete it first");
  e.request("QUEUE_PUT request", 5, req::queue_put("tasks", proto::kWaitForever, "job-1"));
  e.empty_reply("QUEUE_PUT reply", 5);
  e.request("QUEUE_GET request", 6, req::queue_get("tasks", 1000));
  e.ok_reply(
      "QUEUE_GET reply", 6, [](FrameBuilder& b) { b.str("job-1"); }, req::parse_queue_get,
      [](const std::string& item) { CHECK(item == "job-1"); });
  e.error_reply("QUEUE_GET reply TIMEOUT", Status::TIMEOUT, 6,
                "queue 'tasks' stayed empty until the timeout");
  e.error_reply("parked QUEUE_GET reply NOT_FOUND", Status::NOT_FOUND, 6,
                "'tasks' was deleted while this request waited");
  e.request("QUEUE_PUT_MANY request", 7,
            req::queue_put_many("tasks", proto::kNoWait, {"a", "b", "c"}));
  e.ok_reply(
      "QUEUE_PUT_MANY reply", 7, [](FrameBuilder& b) { b.u32(3); }, req::parse_queue_put_many,
      [](uint32_t accepted) { CHECK(accepted == 3); });
  e.error_reply(
      "QUEUE_PUT_MANY reply FULL", Status::FULL, 7,
      "queue 'tasks' is full (maxsize 2); 2 of 3 items were put; retry later or put with a "
      "timeout",
      [](FrameBuilder& b) { b.u32(2); },
      [](const proto::Header&, std::string_view b) { CHECK(req::parse_put_many_full(b) == 2); });
  e.request("QUEUE_GET_MANY request", 8, req::queue_get_many("tasks", 10, proto::kNoWait));
  e.ok_reply(
      "QUEUE_GET_MANY reply", 8, [](FrameBuilder& b) { b.u32(2).str("a").str("b"); },
      req::parse_queue_get_many,
      [](const std::vector<std::string>& items) {
        CHECK(items == std::vector<std::string>{"a", "b"});
      });
  e.error_reply("QUEUE_GET_MANY reply EMPTY", Status::EMPTY, 8, "queue 'tasks' is empty");
  e.request("QUEUE_SIZE request", 9, req::queue_size("tasks"));
  e.ok_reply(
      "QUEUE_SIZE reply", 9, [](FrameBuilder& b) { b.u64(1).u64(2).u8(1); }, req::parse_queue_size,
      [](const depot::QueueSize& s) {
        CHECK(s.size == 1);
        CHECK(s.maxsize == 2);
        CHECK(s.exists);
      });
  e.request("QUEUE_DELETE request", 10, req::queue_delete("tasks"));
  e.ok_reply(
      "QUEUE_DELETE reply", 10, [](FrameBuilder& b) { b.u64(1); }, req::parse_queue_delete,
      [](uint64_t dropped) { CHECK(dropped == 1); });
  e.error_reply("QUEUE_DELETE reply NOT_FOUND", Status::NOT_FOUND, 10,
                "queue 'tasks' does not exist; nothing to delete");

  // Reliable delivery. Reservation ids come from the same counter as tokens.
  depot::QueueConfig config;
  config.visibility = 30000ms;
  config.max_deliveries = 3;
  config.dedup_window = 300000ms;
  e.request("QUEUE_CONFIGURE request", 31, req::queue_configure("tasks", config));
  e.empty_reply("QUEUE_CONFIGURE reply", 31);
  e.error_reply("QUEUE_CONFIGURE reply BAD_REQUEST", Status::BAD_REQUEST, 31,
                "queue 'tasks' cannot be its own dead-letter queue; name another queue");
  depot::PutOptions put_options;
  put_options.priority = -1;
  put_options.dedup_id = "order-17";
  e.request("QUEUE_PUT_EX request", 32,
            req::queue_put_ex("tasks", proto::kWaitForever, put_options, "job-2"));
  e.ok_reply(
      "QUEUE_PUT_EX reply", 32, [](FrameBuilder& b) { b.u8(1); }, req::parse_queue_put_ex,
      [](bool accepted) { CHECK(accepted); });
  e.ok_reply(
      "QUEUE_PUT_EX reply duplicate", 32, [](FrameBuilder& b) { b.u8(0); }, req::parse_queue_put_ex,
      [](bool accepted) { CHECK_FALSE(accepted); });
  e.request("QUEUE_RESERVE request", 33, req::queue_reserve("tasks", 10, 1000, -1));
  e.ok_reply(
      "QUEUE_RESERVE reply", 33,
      [](FrameBuilder& b) {
        b.u32(2).u64(tok(35)).u32(1).str("job-2").u64(tok(36)).u32(2).str("job-1");
      },
      req::parse_queue_reserve,
      [](const std::vector<depot::RawReservation>& r) {
        REQUIRE(r.size() == 2);
        CHECK(r[0].id == tok(35));
        CHECK(r[0].deliveries == 1);
        CHECK(r[0].item == "job-2");
        CHECK(r[1].id == tok(36));
        CHECK(r[1].deliveries == 2);
        CHECK(r[1].item == "job-1");
      });
  e.error_reply("QUEUE_RESERVE reply BAD_REQUEST", Status::BAD_REQUEST, 33,
                "QUEUE_RESERVE on 'tasks': visibility_ms must be -1 (the queue's setting) or at "
                "least 1");
  const std::vector<uint64_t> reserved = {tok(35), tok(36)};
  e.request("QUEUE_ACK request", 34, req::queue_ack("tasks", reserved));
  e.ok_reply(
      "QUEUE_ACK reply", 34, [](FrameBuilder& b) { b.u32(1); }, req::parse_queue_ack,
      [](uint32_t acked) { CHECK(acked == 1); });
  e.request("QUEUE_NACK request", 35, req::queue_nack("tasks", tok(36), 5000));
  e.ok_reply(
      "QUEUE_NACK reply", 35, [](FrameBuilder& b) { b.u8(1); }, req::parse_queue_nack,
      [](depot::NackResult r) { CHECK(r == depot::NackResult::Requeued); });
  e.ok_reply(
      "QUEUE_NACK reply dead-lettered", 35, [](FrameBuilder& b) { b.u8(2); }, req::parse_queue_nack,
      [](depot::NackResult r) { CHECK(r == depot::NackResult::DeadLettered); });
  e.error_reply("QUEUE_NACK reply NOT_FOUND", Status::NOT_FOUND, 35,
                "reservation " + std::to_string(tok(36)) +
                    " is not held on queue 'tasks': it was acked, or its visibility timeout "
                    "passed or its session ended and the item was given back (another consumer "
                    "may have it now)");
  e.request("QUEUE_TOUCH request", 36, req::queue_touch("tasks", tok(36), 60000));
  e.empty_reply("QUEUE_TOUCH reply", 36);

  // Locks and semaphores.
  e.request("LOCK_ACQUIRE request", 14, req::lock_acquire("db", false, 1, 5000, 30000));
  e.ok_reply(
      "LOCK_ACQUIRE reply", 14, [](FrameBuilder& b) { b.u64(tok(17)).u32(1); },
      req::parse_lock_acquire,
      [](const req::LockGrant& g) {
        CHECK(g.token == tok(17));
        CHECK(g.count == 1);
      });
  e.error_reply("LOCK_ACQUIRE reply TIMEOUT", Status::TIMEOUT, 14,
                "lock 'db' was still held when the timeout passed");
  e.request("LOCK_RELEASE request", 15, req::lock_release("db", tok(17)));
  e.ok_reply(
      "LOCK_RELEASE reply", 15, [](FrameBuilder& b) { b.u32(0).u64(tok(17)); },
      req::parse_lock_release,
      [](const req::LockReleased& r) {
        CHECK(r.remaining == 0);
        CHECK(r.token == tok(17));
      });
  e.error_reply("LOCK_RELEASE reply NOT_OWNER", Status::NOT_OWNER, 15,
                "lock 'db' is held under another fencing token (yours was " +
                    std::to_string(tok(17)) +
                    "); its lease may have expired or its session ended, so another holder may "
                    "have it");
  e.request("LOCK_RELEASE forced request", 16, req::lock_release("db", 0));
  e.ok_reply(
      "LOCK_RELEASE forced reply", 16, [](FrameBuilder& b) { b.u32(0).u64(tok(21)); },
      req::parse_lock_release,
      [](const req::LockReleased& r) {
        CHECK(r.remaining == 0);
        CHECK(r.token == tok(21));
      });
  e.request("SEM_ACQUIRE request", 17, req::sem_acquire("slots", 3, proto::kNoWait));
  e.ok_reply(
      "SEM_ACQUIRE reply", 17, [](FrameBuilder& b) { b.u64(tok(22)); }, req::parse_sem_acquire,
      [](uint64_t lease) { CHECK(lease == tok(22)); });
  e.error_reply("SEM_ACQUIRE reply TIMEOUT", Status::TIMEOUT, 17,
                "semaphore 'slots' has no lease for a new acquire (3 of 3 held, 0 waiting)");
  e.request("SEM_RELEASE request", 18, req::sem_release("slots", tok(22)));
  e.empty_reply("SEM_RELEASE reply", 18);

  // Events and barriers.
  e.request("EVENT_SET request", 19, req::event_set("ready"));
  e.empty_reply("EVENT_SET reply", 19);
  e.request("EVENT_CLEAR request", 37, req::event_clear("ready"));
  e.empty_reply("EVENT_CLEAR reply", 37);
  e.request("EVENT_WAIT request", 20, req::event_wait("ready", 2000));
  e.empty_reply("EVENT_WAIT reply", 20);
  e.error_reply("EVENT_WAIT reply TIMEOUT", Status::TIMEOUT, 20,
                "event 'ready' was not set before the timeout");
  e.request("BARRIER_WAIT request", 21, req::barrier_wait("start", 3, 10000));
  e.ok_reply(
      "BARRIER_WAIT reply", 21, [](FrameBuilder& b) { b.u32(2); }, req::parse_barrier_wait,
      [](uint32_t index) { CHECK(index == 2); });
  e.error_reply("BARRIER_WAIT reply BROKEN", Status::BROKEN, 21,
                "barrier 'start' is broken: a party timed out; reset it to use it again");
  e.request("BARRIER_RESET request", 38, req::barrier_reset("start"));
  e.empty_reply("BARRIER_RESET reply", 38);

  // Variables and counters.
  e.request("VAR_SET request", 22, req::var_set("config", "v=1"));
  e.ok_reply(
      "VAR_SET reply", 22, [](FrameBuilder& b) { b.u64(tok(30)); }, req::parse_var_set,
      [](uint64_t version) { CHECK(version == tok(30)); });
  e.request("VAR_GET request", 23, req::var_get("config", proto::kNoWait));
  e.ok_reply(
      "VAR_GET reply", 23, [](FrameBuilder& b) { b.u64(tok(30)).u8(1).str("v=1"); },
      req::parse_var_state,
      [](const depot::RawVersioned& v) {
        CHECK(v.version == tok(30));
        REQUIRE(v.value);
        CHECK(*v.value == "v=1");
      });
  e.error_reply("VAR_GET reply NOT_FOUND", Status::NOT_FOUND, 23, "variable 'config' has no value");
  e.request("VAR_CAS request", 24, req::var_cas("config", tok(30), "v=2"));
  e.ok_reply(
      "VAR_CAS reply", 24, [](FrameBuilder& b) { b.u8(1).u64(tok(31)); }, req::parse_var_cas,
      [](const depot::CasResult& c) {
        CHECK(c.swapped);
        CHECK(c.version == tok(31));
      });
  e.ok_reply(
      "VAR_CAS reply not swapped", 24, [](FrameBuilder& b) { b.u8(0).u64(tok(31)); },
      req::parse_var_cas,
      [](const depot::CasResult& c) {
        CHECK_FALSE(c.swapped);
        CHECK(c.version == tok(31));
      });
  e.request("VAR_WAIT request", 25, req::var_wait("config", tok(31), proto::kWaitForever));
  e.ok_reply(
      "VAR_WAIT reply", 25, [](FrameBuilder& b) { b.u64(tok(32)).u8(1).str("v=3"); },
      req::parse_var_state,
      [](const depot::RawVersioned& v) {
        CHECK(v.version == tok(32));
        REQUIRE(v.value);
        CHECK(*v.value == "v=3");
      });
  e.request("VAR_DELETE request", 26, req::var_delete("config"));
  e.ok_reply(
      "VAR_DELETE reply", 26, [](FrameBuilder& b) { b.u8(1).u64(tok(33)); }, req::parse_var_delete,
      [](const req::VarDeleted& d) {
        CHECK(d.existed);
        CHECK(d.version == tok(33));
      });
  e.request("COUNTER_ADD request", 27, req::counter_add("hits", 5));
  e.ok_reply(
      "COUNTER_ADD reply", 27, [](FrameBuilder& b) { b.i64(5); }, req::parse_counter_add,
      [](int64_t value) { CHECK(value == 5); });
  e.request("LEASE_HOLD request", 50,
            req::lease_hold("job.lease", depot::LeaseTerms{{"job.marker", "job.r.*"},
                                                           std::chrono::milliseconds(30000),
                                                           std::chrono::milliseconds(3600000)}));
  e.ok_reply(
      "LEASE_HOLD reply", 50, [](FrameBuilder& b) { b.u8(2); }, req::parse_lease_hold,
      [](depot::LeaseFound f) { CHECK(f == depot::LeaseFound::ORPHANED); });

  // Pub/sub, and the push a subscription gets (Session::pump_pushes: the id is the
  // subscription's).
  e.request("SUBSCRIBE request", 28, req::subscribe("sensors.*", 0, depot::Overflow::DropOldest));
  e.ok_reply(
      "SUBSCRIBE reply", 28, [](FrameBuilder& b) { b.u64(tok(34)); }, req::parse_subscribe,
      [](uint64_t id) { CHECK(id == tok(34)); });
  e.error_reply("SUBSCRIBE reply BAD_REQUEST", Status::BAD_REQUEST, 28,
                "unknown slow-subscriber policy 3 (0 drop oldest, 1 drop newest, 2 disconnect)");
  e.request("PUBLISH request", 29, req::publish("sensors.temp", "21.5"));
  e.ok_reply(
      "PUBLISH reply", 29, [](FrameBuilder& b) { b.u32(1); }, req::parse_publish,
      [](uint32_t subscribers) { CHECK(subscribers == 1); });
  e.frame("PUSH MESSAGE",
          build(FrameKind::PUSH, static_cast<uint8_t>(Push::MESSAGE), tok(34),
                [](FrameBuilder& b) { b.str("sensors.temp").u64(0).str("21.5"); }),
          [](const proto::Header& h, std::string_view b) {
            CHECK(h.kind == FrameKind::PUSH);
            CHECK(h.code == static_cast<uint8_t>(Push::MESSAGE));
            CHECK(h.id == tok(34));
            depot::RawMessage m;
            REQUIRE(req::parse_push_message(b, m));
            CHECK(m.topic == "sensors.temp");
            CHECK(m.dropped == 0);
            CHECK(m.payload == "21.5");
          });
  e.request("UNSUBSCRIBE request", 30, req::unsubscribe(tok(34)));
  e.empty_reply("UNSUBSCRIBE reply", 30);
  e.error_reply("UNSUBSCRIBE reply NOT_FOUND", Status::NOT_FOUND, 30,
                "no subscription " + std::to_string(tok(34)) + " on this connection");

  // MONITOR and its push (manager/monitor.cpp: records appended field by field, as here).
  e.request("MONITOR request", 40, req::monitor_start(0));
  e.ok_reply(
      "MONITOR reply", 40, [](FrameBuilder& b) { b.u64(tok(40)); }, req::parse_monitor_start,
      [](uint64_t id) { CHECK(id == tok(40)); });
  e.error_reply("MONITOR reply DENIED", Status::DENIED, 40,
                depot::msg::denied("app", "admin", "MONITOR", "*"));
  e.request("MONITOR request stop", 41, req::monitor_stop());
  e.empty_reply("MONITOR reply stop", 41);
  e.frame("PUSH MONITOR",
          build(FrameKind::PUSH, static_cast<uint8_t>(Push::MONITOR), tok(40),
                [](FrameBuilder& b) {
                  b.u32(3);
                  b.u8(1).u64(kMonitorTimeUs).u64(2);  // DROPPED: 2 records lost
                  b.u8(0).u64(kMonitorTimeUs + 10).u64(7).u8(static_cast<uint8_t>(Op::QUEUE_PUT));
                  b.u8(static_cast<uint8_t>(Status::OK)).u32(26).u32(0);
                  b.u8(5).raw("tasks").u8(7).raw("default").u8(0);
                  b.u8(0).u64(kMonitorTimeUs + 20).u64(8).u8(static_cast<uint8_t>(Op::QUEUE_GET));
                  b.u8(proto::kMonitorNoReply).u32(17).u32(0);
                  b.u8(5).raw("tasks").u8(7).raw("default").u8(6).raw("worker");
                }),
          [](const proto::Header& h, std::string_view b) {
            CHECK(h.kind == FrameKind::PUSH);
            CHECK(h.code == static_cast<uint8_t>(Push::MONITOR));
            CHECK(h.id == tok(40));
            std::vector<std::string_view> records;
            REQUIRE(req::split_monitor_push(b, records));
            REQUIRE(records.size() == 3);
            depot::MonitorRecord r;
            REQUIRE(req::parse_monitor_record(records[0], r));
            CHECK(r.type == depot::MonitorRecord::Type::Dropped);
            CHECK(r.time_us == kMonitorTimeUs);
            CHECK(r.dropped == 2);
            REQUIRE(req::parse_monitor_record(records[1], r));
            CHECK(r.type == depot::MonitorRecord::Type::Request);
            CHECK(r.session == 7);
            CHECK(r.op == static_cast<uint8_t>(Op::QUEUE_PUT));
            CHECK(r.status == static_cast<uint8_t>(Status::OK));
            CHECK(r.request_bytes == 26);
            CHECK(r.reply_bytes == 0);
            CHECK(r.object == "tasks");
            CHECK(r.user == "default");
            CHECK(r.client.empty());
            REQUIRE(req::parse_monitor_record(records[2], r));
            CHECK(r.op == static_cast<uint8_t>(Op::QUEUE_GET));
            CHECK(r.status == proto::kMonitorNoReply);
            CHECK(r.client == "worker");
            // A byte more or less is not a PUSH MONITOR body.
            CHECK_FALSE(req::split_monitor_push(std::string(b) + '\0', records));
            CHECK_FALSE(req::split_monitor_push(b.substr(0, b.size() - 1), records));
          });
  e.request("MONITOR request every request", 42,
            req::monitor_start(0, proto::kMonitorEveryRequest));
  e.frame("PUSH MONITOR skipped",
          build(FrameKind::PUSH, static_cast<uint8_t>(Push::MONITOR), tok(40),
                [](FrameBuilder& b) {
                  b.u32(1);
                  b.u8(2).u64(kMonitorTimeUs).u64(1500);  // SKIPPED: 1500 requests
                }),
          [](const proto::Header& h, std::string_view b) {
            std::vector<std::string_view> records;
            REQUIRE(h.code == static_cast<uint8_t>(Push::MONITOR));
            REQUIRE(req::split_monitor_push(b, records));
            REQUIRE(records.size() == 1);
            depot::MonitorRecord r;
            REQUIRE(req::parse_monitor_record(records[0], r));
            CHECK(r.type == depot::MonitorRecord::Type::Skipped);
            CHECK(r.dropped == 1500);
          });

  // Section 12, value encodings: what Codec<T> (client/codec.h, client/msgpack.h) writes.
  e.value("map<string, vector<int>>",
          std::map<std::string, std::vector<int>>{{"a", {1, 2, 3}}, {"bb", {-1, 300, 70000}}});
  e.value("vector<string>", std::vector<std::string>{"id", "\xc3\xa9t\xc3\xa9"});
  e.value("tuple<int, optional<string>, bool, bytes>",
          std::tuple<int, std::optional<std::string>, bool, std::vector<uint8_t>>{
              -200, std::nullopt, true, {0x00, 0xff}});
  e.value("struct Point", DocPoint{1, 2.5, "p"});
  std::vector<int> sixteen(16);
  for (int i = 0; i < 16; ++i) sixteen[static_cast<size_t>(i)] = i;
  e.value("vector<int> of 16", sixteen);
  e.value("int 42", 42);
  e.value("double 2.5", 2.5);
  e.value("bool true", true);
  e.value("string hi", std::string("hi"));
  return e.examples();
}

const Examples& examples() {
  static const Examples e = build_examples();
  return e;
}

const Block* find_block(const std::string& kind, const std::string& name) {
  for (const auto& b : doc().blocks)
    if (b.kind == kind && b.name == name) return &b;
  return nullptr;
}

}  // namespace

// ------------------------------------------------------------ scenarios

SCENARIO("docs/protocol.md's examples are all well-formed hex blocks", "[protocol]") {
  GIVEN("the protocol document") {
    REQUIRE(doc().found);
    WHEN("its example markers and hex blocks are read") {
      THEN("every marker has a closed block of two-digit hex bytes") {
        for (const auto& e : doc().errors) FAIL_CHECK("docs/protocol.md " << e);
        REQUIRE(doc().errors.empty());
      }
      THEN("no example name is used twice") {
        std::set<std::string> seen;
        for (const auto& b : doc().blocks) {
          INFO("docs/protocol.md line " << b.line << ": " << b.kind << ": " << b.name);
          CHECK(seen.insert(b.kind + ": " + b.name).second);
        }
      }
    }
  }
}

SCENARIO("docs/protocol.md shows exactly the examples this test builds", "[protocol]") {
  GIVEN("the document's examples and the frames built here") {
    REQUIRE(doc().found);
    const auto& expected = examples().all;
    std::set<std::string> in_doc;
    for (const auto& b : doc().blocks) in_doc.insert(b.kind + ": " + b.name);
    THEN("every example built here is in the document") {
      for (const auto& [name, example] : expected) {
        INFO("missing from docs/protocol.md: <!-- " << name << " -->");
        CHECK(in_doc.count(name) == 1);
      }
    }
    THEN("every example in the document is built here") {
      for (const auto& name : in_doc) {
        INFO("docs/protocol.md has <!-- " << name << " --> but the test does not build it");
        CHECK(expected.count(name) == 1);
      }
    }
  }
}

SCENARIO("every hex example in docs/protocol.md is byte for byte what the encoders build",
         "[protocol]") {
  GIVEN(
      "requests from the client's codec, replies as the manager builds them, the handshake "
      "from auth/handshake.h") {
    REQUIRE(doc().found);
    WHEN("each example of the document is compared with its built bytes") {
      THEN("they are equal") {
        for (const auto& b : doc().blocks) {
          auto it = examples().all.find(b.kind + ": " + b.name);
          if (it == examples().all.end()) continue;  // reported by the scenario above
          INFO("docs/protocol.md line " << b.line << ": " << b.kind << ": " << b.name);
          CHECK(hex(b.bytes) == hex(it->second.bytes));
        }
      }
    }
  }
}

SCENARIO("every frame example in docs/protocol.md is one whole frame to the decoder",
         "[protocol]") {
  GIVEN("the document's frame examples") {
    REQUIRE(doc().found);
    WHEN("each is decoded with the default frame limit") {
      THEN("it is a valid frame whose body ends exactly where the example ends") {
        for (const auto& b : doc().blocks) {
          if (b.kind != "frame") continue;
          INFO("docs/protocol.md line " << b.line << ": " << b.name);
          const auto d = decode_frame(b.bytes);
          REQUIRE(d.status == proto::DecodeStatus::OK);
          CHECK(proto::kHeaderSize + d.header.body_len == b.bytes.size());
          CHECK(d.header.flags == 0);
          if (d.header.kind == FrameKind::REPLY) CHECK(depot::status_known(d.header.code));
          if (d.header.kind == FrameKind::REQUEST && b.name != "unknown opcode request")
            CHECK(!proto::op_name(d.header.code).empty());
          if (d.header.kind == FrameKind::PUSH)
            CHECK((d.header.code == static_cast<uint8_t>(Push::MESSAGE) ||
                   d.header.code == static_cast<uint8_t>(Push::MONITOR)));
        }
      }
    }
  }
}

SCENARIO("the client reads every reply and push example of docs/protocol.md as it describes",
         "[protocol]") {
  GIVEN("the document's frames that a client (or, for AUTH, the manager) receives") {
    REQUIRE(doc().found);
    WHEN("each is decoded and read with the client's codec or handshake.h") {
      THEN("the reading succeeds and gives the values the example describes") {
        int read = 0;
        for (const auto& b : doc().blocks) {
          auto it = examples().all.find(b.kind + ": " + b.name);
          if (it == examples().all.end() || !it->second.read) continue;
          INFO("docs/protocol.md line " << b.line << ": " << b.name);
          const auto d = decode_frame(b.bytes);
          REQUIRE(d.status == proto::DecodeStatus::OK);
          it->second.read(d.header, d.body);
          ++read;
        }
        // Every frame a client receives has a reading: all but the requests and AUTH_OK.
        size_t readers = 0;
        for (const auto& [name, e] : examples().all) readers += e.read ? 1 : 0;
        CHECK(static_cast<size_t>(read) == readers);
        for (const auto& [name, e] : examples().all) {
          INFO(name);
          if (name.rfind("frame: ", 0) == 0 && !e.op && name != "frame: unknown opcode request" &&
              name != "frame: AUTH_OK")
            CHECK(e.read);
        }
      }
    }
  }
}

SCENARIO("the client's reply parsers refuse each example one byte longer or shorter",
         "[protocol]") {
  GIVEN("the document's OK replies that carry a body, each with the parser the client uses") {
    REQUIRE(doc().found);
    THEN("each parser accepts the body as shown and throws ProtocolError on a byte more or less") {
      size_t parsed = 0;
      for (const auto& b : doc().blocks) {
        auto it = examples().all.find(b.kind + ": " + b.name);
        if (it == examples().all.end() || !it->second.parse) continue;
        INFO("docs/protocol.md line " << b.line << ": " << b.name);
        const auto d = decode_frame(b.bytes);
        REQUIRE(d.status == proto::DecodeStatus::OK);
        const std::string body(d.body);
        REQUIRE_FALSE(body.empty());
        ++parsed;
        CHECK_NOTHROW(it->second.parse(body));
        CHECK_THROWS_AS(it->second.parse(body + '\0'), depot::ProtocolError);
        CHECK_THROWS_AS(it->second.parse(body.substr(0, body.size() - 1)), depot::ProtocolError);
      }
      size_t parsers = 0;
      for (const auto& [name, e] : examples().all) parsers += e.parse ? 1 : 0;
      CHECK(parsed == parsers);
      CHECK(parsers > 0);
    }
  }
}

SCENARIO("every opcode has a request example built by the client's encoder", "[protocol]") {
  GIVEN("the opcodes of frame.h, the document's opcode table and the encoded examples") {
    REQUIRE(doc().found);
    std::map<unsigned, std::string> known;
    for (unsigned v = 0; v < 256; ++v) {
      const auto name = proto::op_name(static_cast<uint8_t>(v));
      if (!name.empty()) known.emplace(v, std::string(name));
    }
    std::map<unsigned, std::string> encoded;
    for (Op op : examples().encoded)
      encoded.emplace(static_cast<unsigned>(op),
                      std::string(proto::op_name(static_cast<uint8_t>(op))));
    const Table* t = find_table("opcodes");
    REQUIRE(t);
    std::vector<std::string> bad;
    const auto table = table_values(*t, bad);
    THEN("each opcode of frame.h and of the table has an example its encoder built") {
      CHECK(encoded == known);
      CHECK(encoded == table);
    }
    THEN("each request example is named for the opcode of the encoder that built it") {
      for (const auto& [name, e] : examples().all) {
        if (!e.op) continue;
        INFO(name);
        const std::string prefix =
            "frame: " + std::string(proto::op_name(static_cast<uint8_t>(*e.op))) + " ";
        CHECK(name.rfind(prefix, 0) == 0);
      }
    }
  }
}

SCENARIO("the handshake example's MACs are the proofs for key \"abc\" and its nonces",
         "[protocol]") {
  GIVEN("the HELLO, AUTH and AUTH_OK frames and the MAC blocks of the document") {
    REQUIRE(doc().found);
    const Block* hello = find_block("frame", "HELLO");
    const Block* auth = find_block("frame", "AUTH");
    const Block* auth_ok = find_block("frame", "AUTH_OK");
    const Block* client_input = find_block("bytes", "client_mac input");
    const Block* client_mac = find_block("bytes", "client_mac");
    const Block* server_input = find_block("bytes", "server_mac input");
    const Block* server_mac = find_block("bytes", "server_mac");
    REQUIRE(hello);
    REQUIRE(auth);
    REQUIRE(auth_ok);
    REQUIRE(client_input);
    REQUIRE(client_mac);
    REQUIRE(server_input);
    REQUIRE(server_mac);
    const auto h = decode_frame(hello->bytes);
    const auto a = decode_frame(auth->bytes);
    const auto ok = decode_frame(auth_ok->bytes);
    REQUIRE(h.status == proto::DecodeStatus::OK);
    REQUIRE(a.status == proto::DecodeStatus::OK);
    REQUIRE(ok.status == proto::DecodeStatus::OK);
    REQUIRE(ok.body.size() == proto::kMacBytes + 4);

    WHEN("the nonces are read from the frames as a client and the manager read them") {
      depot::auth::HelloFrame hf;
      REQUIRE(depot::auth::parse_hello(h.body, hf));
      depot::auth::AuthFrame af;
      REQUIRE(depot::auth::parse_auth(a.body, af));
      const Nonce& sn = hf.server_nonce;
      const Nonce& cn = af.client_nonce;
      // handshake.h reads AUTH_OK only inside ClientHandshake, against the nonce it drew
      // itself, so the document's server_mac is taken from its place in the body.
      const std::string_view doc_server_mac = ok.body.substr(0, proto::kMacBytes);

      THEN("the AUTH frame carries client_proof(\"abc\", server_nonce)") {
        CHECK(depot::auth::mac_equal(depot::auth::client_proof(kKey, sn), af.client_mac));
        CHECK(hex(af.client_mac) == hex(client_mac->bytes));
      }
      THEN("the AUTH_OK frame carries server_proof(\"abc\", client_nonce, server_nonce)") {
        CHECK(depot::auth::mac_equal(depot::auth::server_proof(kKey, cn, sn), doc_server_mac));
        CHECK(hex(doc_server_mac) == hex(server_mac->bytes));
      }
      THEN("the documented MAC inputs are the label followed by the nonces in that order") {
        CHECK(client_input->bytes == cat({"depot-client", depot::auth::as_view(sn)}));
        CHECK(server_input->bytes ==
              cat({"depot-server", depot::auth::as_view(cn), depot::auth::as_view(sn)}));
      }
      THEN("HMAC-SHA256 of each documented input with key \"abc\" is the documented MAC") {
        CHECK(hex(depot::auth::as_view(depot::auth::hmac_sha256(kKey, client_input->bytes))) ==
              hex(client_mac->bytes));
        CHECK(hex(depot::auth::as_view(depot::auth::hmac_sha256(kKey, server_input->bytes))) ==
              hex(server_mac->bytes));
      }
      THEN("a wrong key does not produce the documented proofs") {
        CHECK_FALSE(depot::auth::mac_equal(depot::auth::client_proof("abd", sn), af.client_mac));
        CHECK_FALSE(
            depot::auth::mac_equal(depot::auth::server_proof("abd", cn, sn), doc_server_mac));
      }
    }
    WHEN("a client with key \"abc\" gets the document's HELLO") {
      depot::auth::ClientHandshake client(kKey);
      std::string sent;
      REQUIRE(client.on_hello(h.header, h.body, sent).ok());
      const auto s = decode_frame(sent);
      REQUIRE(s.status == proto::DecodeStatus::OK);
      THEN("its AUTH is the document's but for the client nonce it drew") {
        CHECK(
            hex(std::string_view(sent).substr(0, sent.size() - proto::kNonceBytes)) ==
            hex(std::string_view(auth->bytes).substr(0, auth->bytes.size() - proto::kNonceBytes)));
        CHECK(std::string_view(sent).substr(sent.size() - proto::kNonceBytes) ==
              depot::auth::as_view(client.client_nonce()));
      }
      THEN("it accepts the AUTH_OK the manager builds for its nonce, with the lease it carries") {
        std::string answer;
        depot::auth::append_auth_ok(answer, 0, kKey, client.client_nonce(), kServerNonce, 10000ms);
        const auto d = decode_frame(answer);
        REQUIRE(d.status == proto::DecodeStatus::OK);
        REQUIRE(client.on_auth_reply(d.header, d.body).ok());
        CHECK(client.session_lease() == 10000ms);
      }
      THEN("it refuses the document's AUTH_OK, whose proof covers another client nonce") {
        // A nonce of 20..3f drawn at random would make this fail once in 2^256 runs.
        REQUIRE(client.client_nonce() != kClientNonce);
        const auto r = client.on_auth_reply(ok.header, ok.body);
        CHECK(r.error == depot::auth::HandshakeError::BAD_PROOF);
      }
    }
  }
}

SCENARIO("the document's tables of frame kinds, status codes and opcodes match protocol/",
         "[protocol]") {
  GIVEN("the tables marked in docs/protocol.md") {
    REQUIRE(doc().found);
    WHEN("the frame kind table is read") {
      const Table* t = find_table("frame kinds");
      REQUIRE(t);
      std::vector<std::string> bad;
      const auto rows = table_values(*t, bad);
      THEN("it lists every FrameKind with its value, and nothing else") {
        CHECK(bad.empty());
        const std::map<unsigned, std::string> kinds = {
            {static_cast<unsigned>(FrameKind::HELLO), "HELLO"},
            {static_cast<unsigned>(FrameKind::AUTH), "AUTH"},
            {static_cast<unsigned>(FrameKind::AUTH_OK), "AUTH_OK"},
            {static_cast<unsigned>(FrameKind::REQUEST), "REQUEST"},
            {static_cast<unsigned>(FrameKind::REPLY), "REPLY"},
            {static_cast<unsigned>(FrameKind::PUSH), "PUSH"},
        };
        CHECK(rows == kinds);
      }
    }
    WHEN("the status code table is read") {
      const Table* t = find_table("status codes");
      REQUIRE(t);
      std::vector<std::string> bad;
      const auto rows = table_values(*t, bad);
      THEN("it lists every status sent on the wire, with status.h's name and value") {
        CHECK(bad.empty());
        std::map<unsigned, std::string> statuses;
        for (unsigned v = 0; v < 256; ++v)
          if (depot::status_known(static_cast<uint8_t>(v)))
            statuses.emplace(v, std::string(depot::status_name(static_cast<Status>(v))));
        CHECK(rows == statuses);
      }
    }
    WHEN("the opcode table is read") {
      const Table* t = find_table("opcodes");
      REQUIRE(t);
      std::vector<std::string> bad;
      const auto rows = table_values(*t, bad);
      THEN("it lists every opcode of frame.h with its name and value") {
        CHECK(bad.empty());
        std::map<unsigned, std::string> ops;
        for (unsigned v = 0; v < 256; ++v) {
          const auto name = proto::op_name(static_cast<uint8_t>(v));
          if (!name.empty()) ops.emplace(v, std::string(name));
        }
        CHECK(rows == ops);
      }
    }
    WHEN("the push code table is read") {
      const Table* t = find_table("push codes");
      REQUIRE(t);
      std::vector<std::string> bad;
      const auto rows = table_values(*t, bad);
      THEN("it lists every Push of frame.h with its value") {
        CHECK(bad.empty());
        const std::map<unsigned, std::string> pushes = {
            {static_cast<unsigned>(Push::MESSAGE), "MESSAGE"},
            {static_cast<unsigned>(Push::MONITOR), "MONITOR"},
        };
        CHECK(rows == pushes);
      }
    }
    WHEN("the slow-subscriber policy table is read") {
      const Table* t = find_table("slow-subscriber policies");
      REQUIRE(t);
      std::vector<std::string> bad;
      const auto rows = table_values(*t, bad);
      THEN("it lists every Overflow policy of protocol/wire_types.h with its value") {
        CHECK(bad.empty());
        using depot::Overflow;
        const std::map<unsigned, std::string> policies = {
            {static_cast<unsigned>(Overflow::DropOldest), "DROP_OLDEST"},
            {static_cast<unsigned>(Overflow::DropNewest), "DROP_NEWEST"},
            {static_cast<unsigned>(Overflow::Disconnect), "DISCONNECT"},
        };
        CHECK(rows == policies);
      }
    }
  }
}

SCENARIO("the pub/sub examples fit together as a client decodes them", "[protocol]") {
  GIVEN("the document's SUBSCRIBE reply, PUBLISH request and PUSH MESSAGE frames") {
    REQUIRE(doc().found);
    const Block* sub_reply = find_block("frame", "SUBSCRIBE reply");
    const Block* publish = find_block("frame", "PUBLISH request");
    const Block* message = find_block("frame", "PUSH MESSAGE");
    REQUIRE(sub_reply);
    REQUIRE(publish);
    REQUIRE(message);
    const auto s = decode_frame(sub_reply->bytes);
    const auto p = decode_frame(publish->bytes);
    const auto m = decode_frame(message->bytes);
    REQUIRE(s.status == proto::DecodeStatus::OK);
    REQUIRE(p.status == proto::DecodeStatus::OK);
    REQUIRE(m.status == proto::DecodeStatus::OK);
    WHEN("the push is read as the client's dispatch_push reads it") {
      depot::RawMessage got;
      REQUIRE(req::parse_push_message(m.body, got));
      THEN("it is a MESSAGE for the subscription the SUBSCRIBE reply returned") {
        CHECK(m.header.kind == FrameKind::PUSH);
        CHECK(m.header.code == static_cast<uint8_t>(Push::MESSAGE));
        CHECK(m.header.id == req::parse_subscribe(s.body));
        CHECK(got.dropped == 0);
      }
      THEN("it carries the topic and payload of the PUBLISH request") {
        const auto again = req::publish(got.topic, got.payload);
        CHECK(p.header.code == static_cast<uint8_t>(again.op));
        CHECK(hex(p.body) == hex(again.body));
      }
    }
  }
}

SCENARIO("the defaults docs/protocol.md states are the code's", "[protocol]") {
  GIVEN("the manager's and the pub/sub defaults") {
    const depot::ManagerOptions o;
    const depot::RegistryLimits limits;
    THEN("they are the numbers the document gives") {
      CHECK(o.session_lease == std::chrono::milliseconds(10000));  // AUTH_OK example, limits
      CHECK(o.handshake_timeout == std::chrono::milliseconds(10000));
      CHECK(o.max_connections == 10000);
      CHECK(o.max_unauthenticated == 1000);  // limits table, docs/security.md
      CHECK(o.max_unauthenticated_per_address == 64);
      CHECK(o.max_input_buffered == 268435456);
      CHECK(o.max_output_buffered == 1073741824);
      CHECK(o.max_subscription_bytes == 8388608);
      CHECK(o.auth_failure_burst == 10);
      CHECK(o.auth_failure_refill == std::chrono::milliseconds(6000));
      CHECK(o.max_frame == proto::kDefaultMaxFrame);
      CHECK(proto::kDefaultMaxFrame == 67108864);
      CHECK(limits.max_objects == 1000000);
      CHECK(limits.max_waiters_per_object == 100000);
      CHECK(depot::PubSub::kDefaultBuffer == 1024);  // SUBSCRIBE buffer 0
      CHECK(depot::PubSub::kMaxBuffer == 1000000);
      const depot::QueueSettings qs;  // QUEUE_CONFIGURE's defaults
      CHECK(qs.visibility_ms == 30000);
      CHECK(qs.max_deliveries == 0);
      CHECK(qs.dedup_window_ms == 300000);
      CHECK(qs.dead_letter.empty());
      const depot::QueueConfig client;  // and the client's, which it sends
      CHECK(client.visibility == std::chrono::milliseconds(qs.visibility_ms));
      CHECK(client.max_deliveries == qs.max_deliveries);
      CHECK(client.dedup_window == std::chrono::milliseconds(qs.dedup_window_ms));
      CHECK(client.dead_letter == qs.dead_letter);
    }
  }
}

SCENARIO("the reliable-delivery examples fit together as a client decodes them", "[protocol]") {
  GIVEN("the document's QUEUE_RESERVE reply and the ACK, NACK and TOUCH requests") {
    REQUIRE(doc().found);
    const Block* reserved = find_block("frame", "QUEUE_RESERVE reply");
    const Block* ack = find_block("frame", "QUEUE_ACK request");
    const Block* nack = find_block("frame", "QUEUE_NACK request");
    const Block* touch = find_block("frame", "QUEUE_TOUCH request");
    REQUIRE(reserved);
    REQUIRE(ack);
    REQUIRE(nack);
    REQUIRE(touch);
    const auto rv = decode_frame(reserved->bytes);
    REQUIRE(rv.status == proto::DecodeStatus::OK);
    WHEN("the reservations are read as RawQueue::reserve_many reads them") {
      const auto r = req::parse_queue_reserve(rv.body);
      REQUIRE(r.size() == 2);
      std::vector<uint64_t> ids;
      for (const auto& x : r) {
        CHECK(x.deliveries >= 1);
        ids.push_back(x.id);
      }
      THEN("the ACK request acks those reservation ids, and NACK and TOUCH the second") {
        const auto a = decode_frame(ack->bytes);
        const auto n = decode_frame(nack->bytes);
        const auto t = decode_frame(touch->bytes);
        REQUIRE(a.status == proto::DecodeStatus::OK);
        REQUIRE(n.status == proto::DecodeStatus::OK);
        REQUIRE(t.status == proto::DecodeStatus::OK);
        CHECK(hex(a.body) == hex(req::queue_ack("tasks", ids).body));
        CHECK(hex(n.body) == hex(req::queue_nack("tasks", ids[1], 5000).body));
        CHECK(hex(t.body) == hex(req::queue_touch("tasks", ids[1], 60000).body));
      }
    }
  }
}
