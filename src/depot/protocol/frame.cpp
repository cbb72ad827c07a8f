#include "depot/protocol/frame.h"

namespace depot::proto {

std::string_view op_name(uint8_t op) {
  switch (static_cast<Op>(op)) {
    case Op::PING:
      return "PING";
    case Op::STATS:
      return "STATS";
    case Op::LIST:
      return "LIST";
    case Op::HEARTBEAT:
      return "HEARTBEAT";
    case Op::DELETE:
      return "DELETE";
    case Op::INSPECT:
      return "INSPECT";
    case Op::MONITOR:
      return "MONITOR";
    case Op::QUEUE_DECLARE:
      return "QUEUE_DECLARE";
    case Op::QUEUE_PUT:
      return "QUEUE_PUT";
    case Op::QUEUE_GET:
      return "QUEUE_GET";
    case Op::QUEUE_PUT_MANY:
      return "QUEUE_PUT_MANY";
    case Op::QUEUE_GET_MANY:
      return "QUEUE_GET_MANY";
    case Op::QUEUE_SIZE:
      return "QUEUE_SIZE";
    case Op::QUEUE_DELETE:
      return "QUEUE_DELETE";
    case Op::QUEUE_CONFIGURE:
      return "QUEUE_CONFIGURE";
    case Op::QUEUE_PUT_EX:
      return "QUEUE_PUT_EX";
    case Op::QUEUE_RESERVE:
      return "QUEUE_RESERVE";
    case Op::QUEUE_ACK:
      return "QUEUE_ACK";
    case Op::QUEUE_NACK:
      return "QUEUE_NACK";
    case Op::QUEUE_TOUCH:
      return "QUEUE_TOUCH";
    case Op::LOCK_ACQUIRE:
      return "LOCK_ACQUIRE";
    case Op::LOCK_RELEASE:
      return "LOCK_RELEASE";
    case Op::SEM_ACQUIRE:
      return "SEM_ACQUIRE";
    case Op::SEM_RELEASE:
      return "SEM_RELEASE";
    case Op::EVENT_SET:
      return "EVENT_SET";
    case Op::EVENT_CLEAR:
      return "EVENT_CLEAR";
    case Op::EVENT_WAIT:
      return "EVENT_WAIT";
    case Op::BARRIER_WAIT:
      return "BARRIER_WAIT";
    case Op::BARRIER_RESET:
      return "BARRIER_RESET";
    case Op::VAR_SET:
      return "VAR_SET";
    case Op::VAR_GET:
      return "VAR_GET";
    case Op::VAR_CAS:
      return "VAR_CAS";
    case Op::VAR_WAIT:
      return "VAR_WAIT";
    case Op::VAR_DELETE:
      return "VAR_DELETE";
    case Op::COUNTER_ADD:
      return "COUNTER_ADD";
    case Op::LEASE_HOLD:
      return "LEASE_HOLD";
    case Op::PUBLISH:
      return "PUBLISH";
    case Op::SUBSCRIBE:
      return "SUBSCRIBE";
    case Op::UNSUBSCRIBE:
      return "UNSUBSCRIBE";
  }
  return {};
}

Decoded decode(const char* buf, size_t n, uint32_t max_body) {
  Decoded d;
  if (n < kHeaderSize) return d;
  d.header.body_len = load_u32(buf);
  const auto magic = static_cast<uint8_t>(buf[4]);
  const auto kind = static_cast<uint8_t>(buf[5]);
  d.header.code = static_cast<uint8_t>(buf[6]);
  d.header.flags = static_cast<uint8_t>(buf[7]);
  d.header.id = load_u64(buf + 8);
  if (magic != kMagic) {
    d.status = DecodeStatus::MALFORMED;
    d.error = "bad frame magic byte " + std::to_string(magic) + " (expected " +
              std::to_string(kMagic) + "): the peer does not speak the depot protocol";
    return d;
  }
  if (kind < static_cast<uint8_t>(FrameKind::HELLO) ||
      kind > static_cast<uint8_t>(FrameKind::PUSH)) {
    d.status = DecodeStatus::MALFORMED;
    d.error = "unknown frame kind " + std::to_string(kind);
    return d;
  }
  d.header.kind = static_cast<FrameKind>(kind);
  if (d.header.body_len > max_body) {
    d.status = DecodeStatus::TOO_LARGE;
    d.error = "frame body of " + std::to_string(d.header.body_len) +
              " bytes exceeds the limit of " + std::to_string(max_body) +
              " bytes; send smaller items or raise the manager's --max-frame";
    return d;
  }
  if (n - kHeaderSize < d.header.body_len) return d;  // NEED_MORE, header already validated
  d.status = DecodeStatus::OK;
  d.body = std::string_view(buf + kHeaderSize, d.header.body_len);
  return d;
}

void append_header(std::string& out, FrameKind kind, uint8_t code, uint64_t id, uint32_t body_len) {
  char h[kHeaderSize];
  store_u32(h, body_len);
  h[4] = static_cast<char>(kMagic);
  h[5] = static_cast<char>(kind);
  h[6] = static_cast<char>(code);
  h[7] = 0;
  store_u64(h + 8, id);
  out.append(h, kHeaderSize);
}

void append_frame(std::string& out, FrameKind kind, uint8_t code, uint64_t id,
                  std::string_view body) {
  append_header(out, kind, code, id, static_cast<uint32_t>(body.size()));
  out.append(body.data(), body.size());
}

FrameBuilder::FrameBuilder(std::string& out, FrameKind kind, uint8_t code, uint64_t id)
    : out_(out), start_(out.size()) {
  append_header(out_, kind, code, id, 0);
}

void FrameBuilder::finish() {
  store_u32(out_.data() + start_, static_cast<uint32_t>(body_size()));
}

std::string_view error_message(std::string_view body) {
  Reader r(body);
  auto msg = r.str();
  return r.ok() ? msg : body;
}

std::string check_name(std::string_view name) {
  if (name.empty()) return "the name is empty; give every object a name of 1 to 255 bytes";
  if (name.size() > kMaxNameBytes)
    return "the name is " + std::to_string(name.size()) + " bytes long; the limit is " +
           std::to_string(kMaxNameBytes);
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return "the name contains a control character; use printable text";
  return {};
}

}  // namespace depot::proto
