// Frame layout, opcodes and the bounds-checked body reader/writer.
//
// Every frame is a 16-byte header followed by `body_len` bytes, all integers little-endian:
//   0  u32 body_len   bytes after the header (limited by the receiver's max frame size)
//   4  u8  magic      0xD7, so a peer speaking something else is detected at once
//   5  u8  kind       FrameKind
//   6  u8  code       opcode (REQUEST), status (REPLY), push type (PUSH), 0 otherwise
//   7  u8  flags      reserved, 0
//   8  u64 id         request id chosen by the client; echoed in the reply
// docs/protocol.md describes every body byte by byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "depot/protocol/status.h"

namespace depot::proto {

// 2: AUTH_OK carries the session lease; HEARTBEAT, coordination objects and PUSH frames.
// 3: AUTH names a user (ACL files, docs/security.md) and its MAC covers the name; DENIED.
// 4: AUTH also carries the client's name (ClientOptions::name), shown in LIST, the admin
//    API and the manager's log lines.
// The newest version: an AUTH with the client's name (and a user, possibly empty).
constexpr uint16_t kVersion = 4;
// The AUTH that names a user but not the client, still accepted.
constexpr uint16_t kVersionUser = 3;
// Longest client name (docs/protocol.md section 3): bytes 0x21 to 0x7e.
constexpr size_t kMaxClientName = 64;
// The AUTH without a user (the default user), still accepted: clients of version 2 keep
// working, and a client given no user sends it.
constexpr uint16_t kVersionNoUser = 2;
// HELLO's version field stays 2, the oldest AUTH the manager accepts, so that version-2
// clients (which refuse a HELLO of another version) still connect.
constexpr uint16_t kHelloVersion = 2;
constexpr uint8_t kMagic = 0xD7;
constexpr size_t kHeaderSize = 16;
// Default limit of one frame's body: large enough for any reasonable task payload, small
// enough that one client cannot make the manager allocate gigabytes. --max-frame changes it.
constexpr uint32_t kDefaultMaxFrame = 64u << 20;
// Names are identifiers, not data: 255 bytes is plenty and keeps listings readable.
constexpr size_t kMaxNameBytes = 255;
constexpr size_t kNonceBytes = 32;
constexpr size_t kMacBytes = 32;
constexpr uint32_t kHelloMagic = 0x544F5044;  // "DPOT" read as little-endian u32
// Bit 0 of the HELLO header's `code` byte: the manager runs TLS, and the client's next bytes
// must be a TLS ClientHello on the same socket (docs/protocol.md section 3). The other bits
// are 0.
constexpr uint8_t kHelloTlsFollows = 0x01;

enum class FrameKind : uint8_t {
  HELLO = 1,    // manager -> client, first frame of a connection
  AUTH = 2,     // client -> manager, answer to HELLO
  AUTH_OK = 3,  // manager -> client, handshake succeeded, carries the manager's proof
  REQUEST = 4,  // client -> manager
  REPLY = 5,    // manager -> client, one per REQUEST, same id
  PUSH = 6,     // manager -> client, unsolicited: a published message for a subscription
};

enum class Op : uint8_t {
  PING = 0x01,
  STATS = 0x02,
  LIST = 0x03,
  HEARTBEAT = 0x04,  // keeps the session alive; the only request that gets no reply
  DELETE = 0x05,     // deletes any object by name
  INSPECT = 0x06,    // who holds what, as JSON (one section)
  MONITOR = 0x07,    // makes the session a monitor: a PUSH MONITOR per batch of served requests
  QUEUE_DECLARE = 0x10,
  QUEUE_PUT = 0x11,
  QUEUE_GET = 0x12,
  QUEUE_PUT_MANY = 0x13,
  QUEUE_GET_MANY = 0x14,
  QUEUE_SIZE = 0x15,
  QUEUE_DELETE = 0x16,
  QUEUE_CONFIGURE = 0x17,  // reservation and dedup settings
  QUEUE_PUT_EX = 0x18,     // put with priority, delay, dedup id
  QUEUE_RESERVE = 0x19,
  QUEUE_ACK = 0x1A,
  QUEUE_NACK = 0x1B,
  QUEUE_TOUCH = 0x1C,
  LOCK_ACQUIRE = 0x20,
  LOCK_RELEASE = 0x21,
  SEM_ACQUIRE = 0x22,
  SEM_RELEASE = 0x23,
  EVENT_SET = 0x24,
  EVENT_CLEAR = 0x25,
  EVENT_WAIT = 0x26,
  BARRIER_WAIT = 0x27,
  BARRIER_RESET = 0x28,
  VAR_SET = 0x29,
  VAR_GET = 0x2A,
  VAR_CAS = 0x2B,
  VAR_WAIT = 0x2C,
  VAR_DELETE = 0x2D,
  COUNTER_ADD = 0x2E,
  LEASE_HOLD = 0x2F,  // holds a lease: objects deleted when their holder's session is gone
  PUBLISH = 0x30,
  SUBSCRIBE = 0x31,
  UNSUBSCRIBE = 0x32,
};

// Push frame codes (FrameKind::PUSH): the frame's id is the subscription id.
enum class Push : uint8_t {
  MESSAGE = 1,  // str topic, u64 dropped so far, str payload
  MONITOR = 2,  // u32 count, count x record (docs/protocol.md, "MONITOR"); id: the monitor id
};

// MONITOR records (docs/protocol.md, "MONITOR (0x07)"): the first byte of each.
enum class MonitorRecordType : uint8_t {
  REQUEST = 0,  // one served request
  DROPPED = 1,  // records the monitor's full buffer lost since the last one it was sent
  SKIPPED = 2,  // requests not recorded since the last one: over the monitor's max_per_second
};
// MONITOR's max_per_second: 0 asks for the default; this one asks for every request.
constexpr uint32_t kMonitorDefaultPerSecond = 10000;
constexpr uint32_t kMonitorEveryRequest = UINT32_MAX;
// The status of a REQUEST record whose request was not answered while it was dispatched
// (it parked, or its session closed).
constexpr uint8_t kMonitorNoReply = 255;

std::string_view op_name(uint8_t op);  // "QUEUE_PUT", or "" for an unknown opcode

// Timeouts on the wire: milliseconds as i64; kWaitForever waits without a deadline and
// kNoWait completes at once.
constexpr int64_t kWaitForever = -1;
constexpr int64_t kNoWait = 0;

struct Header {
  uint32_t body_len = 0;
  FrameKind kind = FrameKind::REQUEST;
  uint8_t code = 0;
  uint8_t flags = 0;
  uint64_t id = 0;
};

inline void store_u16(char* p, uint16_t v) {
  std::memcpy(p, &v, 2);
}
inline void store_u32(char* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
inline void store_u64(char* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
inline uint16_t load_u16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t load_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "depot's wire format is little-endian");

enum class DecodeStatus {
  NEED_MORE,  // fewer than kHeaderSize bytes, or the body is not complete yet
  OK,         // a whole frame is available: kHeaderSize + body_len bytes
  TOO_LARGE,  // the header is valid but body_len exceeds the limit: skip the body, answer
  MALFORMED,  // bad magic or unknown kind: the stream cannot be re-synced, close it
};

struct Decoded {
  DecodeStatus status = DecodeStatus::NEED_MORE;
  Header header;
  std::string_view body;  // valid for OK only; points into the caller's buffer
  std::string error;      // for TOO_LARGE and MALFORMED
};

// Looks at buf[0, n) and never reads past it. Checks the header before waiting for a body,
// so an oversized or malformed frame is reported as soon as its 16 header bytes are in.
Decoded decode(const char* buf, size_t n, uint32_t max_body);

// Appends a header for a body of `body_len` bytes.
void append_header(std::string& out, FrameKind kind, uint8_t code, uint64_t id, uint32_t body_len);

// Appends a whole frame.
void append_frame(std::string& out, FrameKind kind, uint8_t code, uint64_t id,
                  std::string_view body);

// Appends body fields in order, as docs/protocol.md lists them: integers little-endian,
// strings as u32 length + bytes. Shared by FrameBuilder (a body written straight after its
// header) and BodyWriter (a body of its own).
template <class Self>
class FieldWriter {
 public:
  Self& u8(uint8_t v) {
    buf().push_back(static_cast<char>(v));
    return self();
  }
  Self& u16(uint16_t v) { return fixed(v); }
  Self& u32(uint32_t v) { return fixed(v); }
  Self& u64(uint64_t v) { return fixed(v); }
  Self& i32(int32_t v) { return u32(static_cast<uint32_t>(v)); }
  Self& i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
  // A length-prefixed byte string: u32 length then the bytes.
  Self& str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    return raw(s);
  }
  Self& raw(std::string_view s) {
    buf().append(s.data(), s.size());
    return self();
  }

 private:
  template <class T>
  Self& fixed(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian host (asserted above)
    buf().append(b, sizeof(T));
    return self();
  }
  Self& self() { return static_cast<Self&>(*this); }
  std::string& buf() { return static_cast<Self&>(*this).out(); }
};

// Builds a frame in place: reserve the header, append body fields, then finish() patches
// the length. Used for replies so the body is written once, straight into the out buffer.
class FrameBuilder : public FieldWriter<FrameBuilder> {
 public:
  FrameBuilder(std::string& out, FrameKind kind, uint8_t code, uint64_t id);
  size_t body_size() const { return out_.size() - start_ - kHeaderSize; }
  void finish();
  std::string& out() { return out_; }

 private:
  std::string& out_;
  size_t start_;
};

// A request body of its own (the client's requests, records stored as items).
class BodyWriter : public FieldWriter<BodyWriter> {
 public:
  std::string take() { return std::move(s_); }
  const std::string& view() const { return s_; }
  std::string& out() { return s_; }

 private:
  std::string s_;
};

// Appends body fields to a string the caller owns (a record built inside a larger buffer).
class AppendWriter : public FieldWriter<AppendWriter> {
 public:
  explicit AppendWriter(std::string& out) : out_(out) {}
  std::string& out() { return out_; }

 private:
  std::string& out_;
};

// Reads body fields in order. Every read checks the remaining length; after the first
// failure ok() is false and every later read returns a zero value, so a handler reads all
// its fields and checks ok() once.
class Reader {
 public:
  explicit Reader(std::string_view body) : p_(body.data()), end_(body.data() + body.size()) {}
  uint8_t u8() { return fits(1) ? static_cast<uint8_t>(*p_++) : 0; }
  uint16_t u16() { return fits(2) ? advance(load_u16(p_), 2) : 0; }
  uint32_t u32() { return fits(4) ? advance(load_u32(p_), 4) : 0; }
  uint64_t u64() { return fits(8) ? advance(load_u64(p_), 8) : 0; }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string_view str() {
    uint32_t n = u32();
    if (!fits(n)) return {};
    std::string_view s(p_, n);
    p_ += n;
    return s;
  }
  std::string_view raw(size_t n) {
    if (!fits(n)) return {};
    std::string_view s(p_, n);
    p_ += n;
    return s;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && p_ == end_; }
  size_t remaining() const { return ok_ ? static_cast<size_t>(end_ - p_) : 0; }

 private:
  bool fits(size_t n) {
    if (ok_ && static_cast<size_t>(end_ - p_) >= n) return true;
    ok_ = false;
    p_ = end_;
    return false;
  }
  template <class T>
  T advance(T v, size_t n) {
    p_ += n;
    return v;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

// The body of an error reply: u32 length + UTF-8 message, then optional opcode-specific
// fields (QUEUE_PUT_MANY's FULL carries the number of items accepted).
std::string_view error_message(std::string_view body);

// A name must be 1..kMaxNameBytes bytes with no control characters. Returns an empty string
// when valid, else the reason.
std::string check_name(std::string_view name);

}  // namespace depot::proto
