// Keeps docs/protocol.md honest. Every hex example in it must be exactly the bytes that the
// encoders in protocol/frame.h and auth/auth.h build from the fields the example describes,
// and its tables of frame kinds, status codes and opcodes must match the enums. A protocol
// change that forgets the document (or a document edit that gets a byte wrong) fails here.
//
// What the test looks for in the document:
//   <!-- frame: NAME -->  then a ```hex block holding one whole frame
//   <!-- bytes: NAME -->  then a ```hex block holding a byte string (the HMAC inputs/outputs)
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
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "depot/auth/auth.h"
#include "depot/manager/manager.h"
#include "depot/protocol/frame.h"
#include "depot/queue/queue.h"
#include "depot/queue/registry.h"
#include "depot/queue/topic.h"

namespace {

using depot::Status;
using depot::auth::Nonce;
using depot::proto::FrameBuilder;
using depot::proto::FrameKind;
using depot::proto::Op;
using depot::proto::Push;

constexpr const char* kDocPath = DEPOT_SOURCE_DIR "/docs/protocol.md";

// ------------------------------------------------------------ reading the document

struct Block {
  std::string kind;  // "frame" or "bytes"
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
    if (kind == "frame" || kind == "bytes") {
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

std::string build(FrameKind kind, uint8_t code, uint64_t id, const Body& body) {
  std::string out;
  FrameBuilder b(out, kind, code, id);
  body(b);
  b.finish();
  return out;
}

std::string request(Op op, uint64_t id, const Body& body) {
  return build(FrameKind::REQUEST, static_cast<uint8_t>(op), id, body);
}

std::string reply(Status s, uint64_t id, const Body& body) {
  return build(FrameKind::REPLY, static_cast<uint8_t>(s), id, body);
}

// An error reply: str message, then the opcode's tail if any (as the manager's reply_error).
std::string error_reply(
    Status s, uint64_t id, std::string_view message, const Body& tail = [](FrameBuilder&) {}) {
  return reply(s, id, [&](FrameBuilder& b) {
    b.str(message);
    tail(b);
  });
}

// A frame with a fixed body, through append_frame rather than FrameBuilder.
std::string whole(FrameKind kind, uint8_t code, uint64_t id, std::string_view body = {}) {
  std::string out;
  depot::proto::append_frame(out, kind, code, id, body);
  return out;
}

uint8_t code(Op op) {
  return static_cast<uint8_t>(op);
}
uint8_t code(Status s) {
  return static_cast<uint8_t>(s);
}

// Tokens, lease ids, versions and subscription ids in the examples. They come from the
// registry's one counter (Registry::next_token), which starts at the wall clock in
// nanoseconds; the document's examples start it at 2025-11-22 00:00 UTC.
constexpr uint64_t kTokenBase = 1763769600000000000ull;
uint64_t tok(uint64_t n) {
  return kTokenBase + n;
}

// A PUSH frame, as Session::pump_pushes builds it: the id is the subscription's.
std::string push(Push type, uint64_t subscription, const Body& body) {
  return build(FrameKind::PUSH, static_cast<uint8_t>(type), subscription, body);
}

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

// Every example the document must show, by marker name ("frame: X" or "bytes: X").
std::map<std::string, std::string> expected_examples() {
  using depot::auth::as_view;
  using depot::auth::client_proof;
  using depot::auth::server_proof;
  namespace proto = depot::proto;
  const auto client_mac = client_proof(kKey, kServerNonce);
  const auto server_mac = server_proof(kKey, kClientNonce, kServerNonce);
  std::map<std::string, std::string> e;
  auto frame = [&e](const std::string& name, std::string bytes) {
    e.emplace("frame: " + name, std::move(bytes));
  };
  auto bytes = [&e](const std::string& name, std::string b) {
    e.emplace("bytes: " + name, std::move(b));
  };

  // Handshake, as manager/server.cpp (Session::start, handle_auth) and client/client.cpp
  // (connect_once) build it.
  frame("HELLO", build(FrameKind::HELLO, 0, 0, [&](FrameBuilder& b) {
          b.u32(proto::kHelloMagic)
              .u16(proto::kVersion)
              .u16(proto::kNonceBytes)
              .raw(as_view(kServerNonce));
        }));
  frame("AUTH", build(FrameKind::AUTH, 0, 0, [&](FrameBuilder& b) {
          b.u16(proto::kVersion).raw(as_view(client_mac)).raw(as_view(kClientNonce));
        }));
  frame("AUTH_OK", build(FrameKind::AUTH_OK, 0, 0,
                         [&](FrameBuilder& b) { b.raw(as_view(server_mac)).u32(10000); }));
  bytes("client_mac input", cat({"depot-client", as_view(kServerNonce)}));
  bytes("client_mac", std::string(as_view(client_mac)));
  bytes("server_mac input", cat({"depot-server", as_view(kClientNonce), as_view(kServerNonce)}));
  bytes("server_mac", std::string(as_view(server_mac)));
  frame("AUTH_FAILED reply",
        error_reply(Status::AUTH_FAILED, 0,
                    "the authkey does not match the manager's; check the key you gave"));
  frame("max-connections refusal",
        error_reply(Status::LIMIT, 0,
                    "the manager has 10000 connections, its limit (--max-connections); retry "
                    "later"));

  // Errors any request may get.
  frame("unknown opcode request", whole(FrameKind::REQUEST, 0x7f, 11));
  frame("unknown opcode reply",
        error_reply(Status::BAD_REQUEST, 11,
                    "unknown opcode 127; see docs/protocol.md for the opcodes"));
  frame("TOO_LARGE reply",
        error_reply(Status::TOO_LARGE, 12,
                    "frame body of 67108865 bytes exceeds the limit of 67108864 bytes; send "
                    "smaller items or raise the manager's --max-frame"));

  // PING, STATS, LIST.
  frame("PING request", whole(FrameKind::REQUEST, code(Op::PING), 1, "ping"));
  frame("PING reply", whole(FrameKind::REPLY, code(Status::OK), 1, "ping"));
  frame("STATS request", whole(FrameKind::REQUEST, code(Op::STATS), 2));
  frame("STATS reply", reply(Status::OK, 2, [](FrameBuilder& b) {
          b.str(R"({"version":"2","address":"127.0.0.1:5000","uptime_s":42,"connections":1,)"
                R"("connections_total":1,"auth_failures":0,"requests":3,"protocol_errors":0,)"
                R"("objects":1,"parked":0,"sessions_holding":0,"subscriptions":0,)"
                R"("pubsub_buffered_bytes":0})");
        }));
  frame("LIST request", whole(FrameKind::REQUEST, code(Op::LIST), 3));
  frame("LIST reply", reply(Status::OK, 3, [](FrameBuilder& b) {
          b.u32(1).str("tasks").str("queue").u64(1).str("maxsize=2 bytes=5 getters=0 putters=0");
        }));

  // Queue operations.
  frame("QUEUE_DECLARE request",
        request(Op::QUEUE_DECLARE, 4, [](FrameBuilder& b) { b.str("tasks").u64(2); }));
  frame("QUEUE_DECLARE reply", whole(FrameKind::REPLY, code(Status::OK), 4));
  frame("QUEUE_DECLARE reply BAD_REQUEST",
        error_reply(Status::BAD_REQUEST, 4,
                    "queue 'tasks' exists with maxsize 0, not 2; declare it with the same "
                    "maxsize or delete it first"));
  frame("QUEUE_PUT request", request(Op::QUEUE_PUT, 5, [](FrameBuilder& b) {
          b.str("tasks").i64(proto::kWaitForever).str("job-1");
        }));
  frame("QUEUE_PUT reply", whole(FrameKind::REPLY, code(Status::OK), 5));
  frame("QUEUE_GET request",
        request(Op::QUEUE_GET, 6, [](FrameBuilder& b) { b.str("tasks").i64(1000); }));
  frame("QUEUE_GET reply", reply(Status::OK, 6, [](FrameBuilder& b) { b.str("job-1"); }));
  frame("QUEUE_GET reply TIMEOUT",
        error_reply(Status::TIMEOUT, 6, "queue 'tasks' stayed empty until the timeout"));
  frame("parked QUEUE_GET reply NOT_FOUND",
        error_reply(Status::NOT_FOUND, 6, "'tasks' was deleted while this request waited"));
  frame("QUEUE_PUT_MANY request", request(Op::QUEUE_PUT_MANY, 7, [](FrameBuilder& b) {
          b.str("tasks").i64(proto::kNoWait).u32(3).str("a").str("b").str("c");
        }));
  frame("QUEUE_PUT_MANY reply", reply(Status::OK, 7, [](FrameBuilder& b) { b.u32(3); }));
  frame("QUEUE_PUT_MANY reply FULL",
        error_reply(Status::FULL, 7,
                    "queue 'tasks' is full (maxsize 2); 2 of 3 items were put; retry later or "
                    "put with a timeout",
                    [](FrameBuilder& b) { b.u32(2); }));
  frame("QUEUE_GET_MANY request", request(Op::QUEUE_GET_MANY, 8, [](FrameBuilder& b) {
          b.str("tasks").u32(10).i64(proto::kNoWait);
        }));
  frame("QUEUE_GET_MANY reply",
        reply(Status::OK, 8, [](FrameBuilder& b) { b.u32(2).str("a").str("b"); }));
  frame("QUEUE_GET_MANY reply EMPTY", error_reply(Status::EMPTY, 8, "queue 'tasks' is empty"));
  frame("QUEUE_SIZE request", request(Op::QUEUE_SIZE, 9, [](FrameBuilder& b) { b.str("tasks"); }));
  frame("QUEUE_SIZE reply", reply(Status::OK, 9, [](FrameBuilder& b) { b.u64(1).u64(2).u8(1); }));
  frame("QUEUE_DELETE request",
        request(Op::QUEUE_DELETE, 10, [](FrameBuilder& b) { b.str("tasks"); }));
  frame("QUEUE_DELETE reply", reply(Status::OK, 10, [](FrameBuilder& b) { b.u64(1); }));
  frame("QUEUE_DELETE reply NOT_FOUND",
        error_reply(Status::NOT_FOUND, 10, "queue 'tasks' does not exist; nothing to delete"));

  // Reliable delivery (manager/queue_ops.cpp, queue/queue.cpp). Reservation ids come from
  // the same counter as tokens.
  frame("QUEUE_CONFIGURE request", request(Op::QUEUE_CONFIGURE, 31, [](FrameBuilder& b) {
          b.str("tasks").u64(30000).u32(3).u64(300000).str("");
        }));
  frame("QUEUE_CONFIGURE reply", whole(FrameKind::REPLY, code(Status::OK), 31));
  frame("QUEUE_CONFIGURE reply BAD_REQUEST",
        error_reply(Status::BAD_REQUEST, 31,
                    "queue 'tasks' cannot be its own dead-letter queue; name another queue"));
  frame("QUEUE_PUT_EX request", request(Op::QUEUE_PUT_EX, 32, [](FrameBuilder& b) {
          b.str("tasks")
              .i64(proto::kWaitForever)
              .u32(static_cast<uint32_t>(int32_t{-1}))  // priority: an i32 sent as u32
              .u64(0)
              .str("order-17")
              .str("job-2");
        }));
  frame("QUEUE_PUT_EX reply", reply(Status::OK, 32, [](FrameBuilder& b) { b.u8(1); }));
  frame("QUEUE_PUT_EX reply duplicate", reply(Status::OK, 32, [](FrameBuilder& b) { b.u8(0); }));
  frame("QUEUE_RESERVE request", request(Op::QUEUE_RESERVE, 33, [](FrameBuilder& b) {
          b.str("tasks").u32(10).i64(1000).i64(-1);
        }));
  frame("QUEUE_RESERVE reply", reply(Status::OK, 33, [](FrameBuilder& b) {
          b.u32(2).u64(tok(35)).u32(1).str("job-2").u64(tok(36)).u32(2).str("job-1");
        }));
  frame("QUEUE_RESERVE reply BAD_REQUEST",
        error_reply(Status::BAD_REQUEST, 33,
                    "QUEUE_RESERVE on 'tasks': visibility_ms must be -1 (the queue's setting) or "
                    "at least 1"));
  frame("QUEUE_ACK request", request(Op::QUEUE_ACK, 34, [](FrameBuilder& b) {
          b.str("tasks").u32(2).u64(tok(35)).u64(tok(36));
        }));
  frame("QUEUE_ACK reply", reply(Status::OK, 34, [](FrameBuilder& b) { b.u32(1); }));
  frame("QUEUE_NACK request", request(Op::QUEUE_NACK, 35, [](FrameBuilder& b) {
          b.str("tasks").u64(tok(36)).u64(5000);
        }));
  frame("QUEUE_NACK reply", reply(Status::OK, 35, [](FrameBuilder& b) { b.u8(1); }));
  frame("QUEUE_NACK reply dead-lettered", reply(Status::OK, 35, [](FrameBuilder& b) { b.u8(2); }));
  frame("QUEUE_NACK reply NOT_FOUND",
        error_reply(Status::NOT_FOUND, 35,
                    "reservation " + std::to_string(tok(36)) +
                        " is not held on queue 'tasks': it was acked, or its visibility timeout "
                        "passed or its session ended and the item was given back (another "
                        "consumer may have it now)"));
  frame("QUEUE_TOUCH request", request(Op::QUEUE_TOUCH, 36, [](FrameBuilder& b) {
          b.str("tasks").u64(tok(36)).i64(60000);
        }));
  frame("QUEUE_TOUCH reply", whole(FrameKind::REPLY, code(Status::OK), 36));

  // HEARTBEAT (no reply, id 0 as client/client.cpp's keep_alive sends it) and DELETE, as
  // manager/server.cpp (Server::dispatch) and manager/coord_ops.cpp (handle_delete) do them.
  frame("HEARTBEAT request", whole(FrameKind::REQUEST, code(Op::HEARTBEAT), 0));
  frame("DELETE request", request(Op::DELETE, 13, [](FrameBuilder& b) { b.str("tasks"); }));
  frame("DELETE reply", reply(Status::OK, 13, [](FrameBuilder& b) { b.str("queue"); }));
  frame("DELETE reply NOT_FOUND",
        error_reply(Status::NOT_FOUND, 13, "no object named 'tasks'; nothing to delete"));

  // Locks and semaphores (manager/coord_ops.cpp, queue/lock.cpp, queue/semaphore.cpp).
  frame("LOCK_ACQUIRE request", request(Op::LOCK_ACQUIRE, 14, [](FrameBuilder& b) {
          b.str("db").u8(0).u64(1).i64(5000).i64(30000);
        }));
  frame("LOCK_ACQUIRE reply",
        reply(Status::OK, 14, [](FrameBuilder& b) { b.u64(tok(17)).u32(1); }));
  frame("LOCK_ACQUIRE reply TIMEOUT",
        error_reply(Status::TIMEOUT, 14, "lock 'db' was still held when the timeout passed"));
  frame("LOCK_RELEASE request",
        request(Op::LOCK_RELEASE, 15, [](FrameBuilder& b) { b.str("db").u64(tok(17)); }));
  frame("LOCK_RELEASE reply",
        reply(Status::OK, 15, [](FrameBuilder& b) { b.u32(0).u64(tok(17)); }));
  frame("LOCK_RELEASE reply NOT_OWNER",
        error_reply(Status::NOT_OWNER, 15,
                    "lock 'db' is held under another fencing token (yours was " +
                        std::to_string(tok(17)) +
                        "); its lease may have expired or its session ended, so another holder "
                        "may have it"));
  frame("LOCK_RELEASE forced request",
        request(Op::LOCK_RELEASE, 16, [](FrameBuilder& b) { b.str("db").u64(0); }));
  frame("LOCK_RELEASE forced reply",
        reply(Status::OK, 16, [](FrameBuilder& b) { b.u32(0).u64(tok(21)); }));
  frame("SEM_ACQUIRE request", request(Op::SEM_ACQUIRE, 17, [](FrameBuilder& b) {
          b.str("slots").u32(3).i64(proto::kNoWait);
        }));
  frame("SEM_ACQUIRE reply", reply(Status::OK, 17, [](FrameBuilder& b) { b.u64(tok(22)); }));
  frame("SEM_ACQUIRE reply TIMEOUT",
        error_reply(Status::TIMEOUT, 17,
                    "semaphore 'slots' has no lease for a new acquire (3 of 3 held, 0 waiting)"));
  frame("SEM_RELEASE request",
        request(Op::SEM_RELEASE, 18, [](FrameBuilder& b) { b.str("slots").u64(tok(22)); }));
  frame("SEM_RELEASE reply", whole(FrameKind::REPLY, code(Status::OK), 18));

  // Events and barriers (queue/event.cpp).
  frame("EVENT_SET request", request(Op::EVENT_SET, 19, [](FrameBuilder& b) { b.str("ready"); }));
  frame("EVENT_SET reply", whole(FrameKind::REPLY, code(Status::OK), 19));
  frame("EVENT_WAIT request",
        request(Op::EVENT_WAIT, 20, [](FrameBuilder& b) { b.str("ready").i64(2000); }));
  frame("EVENT_WAIT reply", whole(FrameKind::REPLY, code(Status::OK), 20));
  frame("EVENT_WAIT reply TIMEOUT",
        error_reply(Status::TIMEOUT, 20, "event 'ready' was not set before the timeout"));
  frame("BARRIER_WAIT request",
        request(Op::BARRIER_WAIT, 21, [](FrameBuilder& b) { b.str("start").u32(3).i64(10000); }));
  frame("BARRIER_WAIT reply", reply(Status::OK, 21, [](FrameBuilder& b) { b.u32(2); }));
  frame("BARRIER_WAIT reply BROKEN",
        error_reply(Status::BROKEN, 21,
                    "barrier 'start' is broken: a party timed out; reset it to use it again"));

  // Variables and counters (queue/variable.cpp).
  frame("VAR_SET request",
        request(Op::VAR_SET, 22, [](FrameBuilder& b) { b.str("config").str("v=1"); }));
  frame("VAR_SET reply", reply(Status::OK, 22, [](FrameBuilder& b) { b.u64(tok(30)); }));
  frame("VAR_GET request",
        request(Op::VAR_GET, 23, [](FrameBuilder& b) { b.str("config").i64(proto::kNoWait); }));
  frame("VAR_GET reply",
        reply(Status::OK, 23, [](FrameBuilder& b) { b.u64(tok(30)).u8(1).str("v=1"); }));
  frame("VAR_GET reply NOT_FOUND",
        error_reply(Status::NOT_FOUND, 23, "variable 'config' has no value"));
  frame("VAR_CAS request",
        request(Op::VAR_CAS, 24, [](FrameBuilder& b) { b.str("config").u64(tok(30)).str("v=2"); }));
  frame("VAR_CAS reply", reply(Status::OK, 24, [](FrameBuilder& b) { b.u8(1).u64(tok(31)); }));
  frame("VAR_CAS reply not swapped",
        reply(Status::OK, 24, [](FrameBuilder& b) { b.u8(0).u64(tok(31)); }));
  frame("VAR_WAIT request", request(Op::VAR_WAIT, 25, [](FrameBuilder& b) {
          b.str("config").u64(tok(31)).i64(proto::kWaitForever);
        }));
  frame("VAR_WAIT reply",
        reply(Status::OK, 25, [](FrameBuilder& b) { b.u64(tok(32)).u8(1).str("v=3"); }));
  frame("VAR_DELETE request",
        request(Op::VAR_DELETE, 26, [](FrameBuilder& b) { b.str("config"); }));
  frame("VAR_DELETE reply", reply(Status::OK, 26, [](FrameBuilder& b) { b.u8(1).u64(tok(33)); }));
  frame("COUNTER_ADD request",
        request(Op::COUNTER_ADD, 27, [](FrameBuilder& b) { b.str("hits").i64(5); }));
  frame("COUNTER_ADD reply", reply(Status::OK, 27, [](FrameBuilder& b) { b.i64(5); }));

  // Pub/sub (manager/coord_ops.cpp, queue/topic.cpp) and the push of manager/server.cpp.
  frame("SUBSCRIBE request", request(Op::SUBSCRIBE, 28, [](FrameBuilder& b) {
          b.str("sensors.*").u32(0).u8(static_cast<uint8_t>(depot::Overflow::DropOldest));
        }));
  frame("SUBSCRIBE reply", reply(Status::OK, 28, [](FrameBuilder& b) { b.u64(tok(34)); }));
  frame("SUBSCRIBE reply BAD_REQUEST",
        error_reply(Status::BAD_REQUEST, 28,
                    "unknown slow-subscriber policy 3 (0 drop oldest, 1 drop newest, 2 "
                    "disconnect)"));
  frame("PUBLISH request",
        request(Op::PUBLISH, 29, [](FrameBuilder& b) { b.str("sensors.temp").str("21.5"); }));
  frame("PUBLISH reply", reply(Status::OK, 29, [](FrameBuilder& b) { b.u32(1); }));
  frame("PUSH MESSAGE", push(Push::MESSAGE, tok(34),
                             [](FrameBuilder& b) { b.str("sensors.temp").u64(0).str("21.5"); }));
  frame("UNSUBSCRIBE request",
        request(Op::UNSUBSCRIBE, 30, [](FrameBuilder& b) { b.u64(tok(34)); }));
  frame("UNSUBSCRIBE reply", whole(FrameKind::REPLY, code(Status::OK), 30));
  frame("UNSUBSCRIBE reply NOT_FOUND",
        error_reply(Status::NOT_FOUND, 30,
                    "no subscription " + std::to_string(tok(34)) + " on this connection"));
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
    const auto expected = expected_examples();
    std::set<std::string> in_doc;
    for (const auto& b : doc().blocks) in_doc.insert(b.kind + ": " + b.name);
    THEN("every example built here is in the document") {
      for (const auto& [name, bytes] : expected) {
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
  GIVEN("the examples built with FrameBuilder, append_frame and the auth proofs") {
    REQUIRE(doc().found);
    const auto expected = expected_examples();
    WHEN("each example of the document is compared with its built bytes") {
      THEN("they are equal") {
        for (const auto& b : doc().blocks) {
          auto it = expected.find(b.kind + ": " + b.name);
          if (it == expected.end()) continue;  // reported by the scenario above
          INFO("docs/protocol.md line " << b.line << ": " << b.kind << ": " << b.name);
          CHECK(hex(b.bytes) == hex(it->second));
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
          const auto d =
              depot::proto::decode(b.bytes.data(), b.bytes.size(), depot::proto::kDefaultMaxFrame);
          REQUIRE(d.status == depot::proto::DecodeStatus::OK);
          CHECK(depot::proto::kHeaderSize + d.header.body_len == b.bytes.size());
          CHECK(d.header.flags == 0);
          if (d.header.kind == FrameKind::REPLY) CHECK(depot::status_known(d.header.code));
          if (d.header.kind == FrameKind::REQUEST && b.name != "unknown opcode request")
            CHECK(!depot::proto::op_name(d.header.code).empty());
          if (d.header.kind == FrameKind::PUSH)
            CHECK(d.header.code == static_cast<uint8_t>(Push::MESSAGE));
        }
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
    REQUIRE(hello->bytes.size() == 16 + 40);
    REQUIRE(auth->bytes.size() == 16 + 66);
    REQUIRE(auth_ok->bytes.size() == 16 + 32 + 4);

    WHEN("the nonces are read from the frames as a client and the manager would") {
      depot::proto::Reader h(std::string_view(hello->bytes).substr(16));
      CHECK(h.u32() == depot::proto::kHelloMagic);
      CHECK(h.u16() == depot::proto::kVersion);
      CHECK(h.u16() == depot::proto::kNonceBytes);
      Nonce sn{};
      std::memcpy(sn.data(), h.raw(sn.size()).data(), sn.size());
      depot::proto::Reader a(std::string_view(auth->bytes).substr(16));
      CHECK(a.u16() == depot::proto::kVersion);
      const std::string_view doc_client_mac = a.raw(depot::proto::kMacBytes);
      Nonce cn{};
      std::memcpy(cn.data(), a.raw(cn.size()).data(), cn.size());
      REQUIRE(h.at_end());
      REQUIRE(a.at_end());
      const std::string_view doc_server_mac = std::string_view(auth_ok->bytes).substr(16, 32);

      THEN("the AUTH frame carries client_proof(\"abc\", server_nonce)") {
        CHECK(depot::auth::mac_equal(depot::auth::client_proof(kKey, sn), doc_client_mac));
        CHECK(hex(doc_client_mac) == hex(client_mac->bytes));
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
        CHECK_FALSE(depot::auth::mac_equal(depot::auth::client_proof("abd", sn), doc_client_mac));
        CHECK_FALSE(
            depot::auth::mac_equal(depot::auth::server_proof("abd", cn, sn), doc_server_mac));
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
          const auto name = depot::proto::op_name(static_cast<uint8_t>(v));
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
    const auto max = depot::proto::kDefaultMaxFrame;
    const auto s = depot::proto::decode(sub_reply->bytes.data(), sub_reply->bytes.size(), max);
    const auto p = depot::proto::decode(publish->bytes.data(), publish->bytes.size(), max);
    const auto m = depot::proto::decode(message->bytes.data(), message->bytes.size(), max);
    REQUIRE(s.status == depot::proto::DecodeStatus::OK);
    REQUIRE(p.status == depot::proto::DecodeStatus::OK);
    REQUIRE(m.status == depot::proto::DecodeStatus::OK);
    WHEN("the push is read as client/client.cpp's dispatch_push reads it") {
      depot::proto::Reader r(m.body);
      const auto topic = r.str();
      const uint64_t dropped = r.u64();
      const auto payload = r.str();
      REQUIRE(r.at_end());
      THEN("it is a MESSAGE for the subscription the SUBSCRIBE reply returned") {
        CHECK(m.header.kind == FrameKind::PUSH);
        CHECK(m.header.code == static_cast<uint8_t>(Push::MESSAGE));
        depot::proto::Reader sr(s.body);
        CHECK(m.header.id == sr.u64());
        CHECK(sr.at_end());
        CHECK(dropped == 0);
      }
      THEN("it carries the topic and payload of the PUBLISH request") {
        depot::proto::Reader pr(p.body);
        CHECK(topic == pr.str());
        CHECK(payload == pr.str());
        CHECK(pr.at_end());
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
      CHECK(o.max_frame == depot::proto::kDefaultMaxFrame);
      CHECK(depot::proto::kDefaultMaxFrame == 67108864);
      CHECK(limits.max_objects == 1000000);
      CHECK(limits.max_waiters_per_object == 100000);
      CHECK(depot::PubSub::kDefaultBuffer == 1024);  // SUBSCRIBE buffer 0
      CHECK(depot::PubSub::kMaxBuffer == 1000000);
      const depot::QueueSettings qs;  // QUEUE_CONFIGURE's defaults
      CHECK(qs.visibility_ms == 30000);
      CHECK(qs.max_deliveries == 0);
      CHECK(qs.dedup_window_ms == 300000);
      CHECK(qs.dead_letter.empty());
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
    const auto max = depot::proto::kDefaultMaxFrame;
    const auto rv = depot::proto::decode(reserved->bytes.data(), reserved->bytes.size(), max);
    REQUIRE(rv.status == depot::proto::DecodeStatus::OK);
    WHEN("the reservations are read as client/remote_queue.cpp's reserve_many reads them") {
      depot::proto::Reader r(rv.body);
      const uint32_t count = r.u32();
      std::vector<uint64_t> ids;
      for (uint32_t i = 0; i < count && r.ok(); ++i) {
        ids.push_back(r.u64());
        const uint32_t deliveries = r.u32();
        CHECK(deliveries >= 1);
        r.str();
      }
      REQUIRE(r.at_end());
      THEN("the ACK request names those reservation ids, and NACK and TOUCH one of them") {
        const auto a = depot::proto::decode(ack->bytes.data(), ack->bytes.size(), max);
        REQUIRE(a.status == depot::proto::DecodeStatus::OK);
        depot::proto::Reader ar(a.body);
        CHECK(ar.str() == "tasks");
        std::vector<uint64_t> acked(ar.u32());
        for (auto& id : acked) id = ar.u64();
        CHECK(ar.at_end());
        CHECK(acked == ids);
        for (const Block* b : {nack, touch}) {
          const auto d = depot::proto::decode(b->bytes.data(), b->bytes.size(), max);
          REQUIRE(d.status == depot::proto::DecodeStatus::OK);
          depot::proto::Reader br(d.body);
          CHECK(br.str() == "tasks");
          CHECK(std::find(ids.begin(), ids.end(), br.u64()) != ids.end());
        }
      }
    }
  }
}
