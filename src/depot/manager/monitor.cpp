// MONITOR: sessions that see a record of every request the manager serves, like Redis's
// MONITOR (docs/protocol.md, "MONITOR (0x07)"). Records are taken where requests are
// dispatched (Server::dispatch: one branch when nobody monitors), wait in each monitor's
// bounded buffer, and leave as PUSH MONITOR frames whenever the monitor's output has room.
// A monitor that does not read loses records (counted, and told how many) instead of
// making the manager hold more or serve slower. Never a payload: names and sizes only.
#include <algorithm>
#include <chrono>

#include "depot/manager/ops_util.h"

namespace depot {

namespace {

using proto::Reader;

// MONITOR's buffer: 0 asks for the default; more than the maximum is refused.
constexpr size_t kDefaultMonitorBytes = 1u << 20;
constexpr size_t kMaxMonitorBytes = 64u << 20;
// Records leave in batches: at this many bytes, or this long after the first of a batch.
constexpr size_t kMonitorFlushBytes = 64u << 10;
constexpr auto kMonitorFlushInterval = std::chrono::milliseconds(50);

// Microseconds since a clock's epoch.
template <class TimePoint>
uint64_t micros(TimePoint t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}

uint64_t now_us() {
  return micros(std::chrono::system_clock::now());
}

// A short string: u8 length, then at most 255 bytes of it.
void put_str8(std::string& out, std::string_view s) {
  if (s.size() > 255) s = s.substr(0, 255);
  out.push_back(static_cast<char>(s.size()));
  out.append(s.data(), s.size());
}

// Opcodes whose body does not start with an object's name.
bool names_an_object(uint8_t op) {
  switch (static_cast<proto::Op>(op)) {
    case proto::Op::PING:
    case proto::Op::STATS:
    case proto::Op::LIST:
    case proto::Op::HEARTBEAT:
    case proto::Op::MONITOR:
    case proto::Op::UNSUBSCRIBE:
      return false;
    default:
      return !proto::op_name(op).empty();
  }
}

void handle_monitor(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  const uint8_t on = r.u8();
  const uint32_t buffer = r.u32();
  // max_per_second came later: a 5-byte body (clients before it) asks for the default.
  const uint32_t per_second = r.at_end() ? 0 : r.u32();
  if (!body_ok(s, h, r, "u8 on, u32 buffer_bytes, u32 max_per_second")) return;
  if (on > 1)
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "MONITOR's on is 1 (start) or 0 (stop), not " + std::to_string(on));
  if (on == 0) {
    if (!srv.stop_monitor(s.id()))
      return s.reply_error(h.id, Status::NOT_FOUND,
                           "this session is not a monitor; nothing to stop");
    return s.reply(h.id, Status::OK);
  }
  if (buffer > kMaxMonitorBytes)
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "a monitor buffer of " + std::to_string(buffer) +
                             " bytes is above the limit of " + std::to_string(kMaxMonitorBytes) +
                             "; ask for less (0: the default, 1 MiB)");
  if (s.monitor())
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "this session is a monitor already; stop it (MONITOR with on 0) first");
  // The reply goes out before the monitor exists, so no PUSH can precede it.
  const uint64_t id = srv.registry().next_token();
  auto b = s.begin_reply(h.id);
  b.u64(id);
  s.end_reply(b);
  srv.start_monitor(s, buffer == 0 ? kDefaultMonitorBytes : buffer,
                    per_second == 0 ? proto::kMonitorDefaultPerSecond : per_second, id);
}

// MONITOR sees every request of every user: admin on every name, as STATS.
bool monitor_touches(std::string_view, uint8_t perm, Touches& out) {
  out.add(perm, "*", true);
  return true;
}

}  // namespace

std::span<const OpEntry> monitor_ops() {
  static constexpr OpEntry table[] = {
      {proto::Op::MONITOR, handle_monitor, false, auth::PERM_ADMIN, monitor_touches},
  };
  return table;
}

bool MonitorState::admit(uint64_t now) {
  if (per_second == proto::kMonitorEveryRequest) return true;
  if (now < next_us) return false;
  const double full = per_second;  // the bucket holds one second's worth
  if (now > refilled_us) {         // (a request read before the last refill adds nothing)
    tokens = std::min(full, tokens + static_cast<double>(now - refilled_us) * full * 1e-6);
    refilled_us = now;
  }
  const bool admitted = tokens >= 1;
  if (admitted) tokens -= 1;
  // Empty now: nothing is admitted until the next whole token has come in.
  next_us = tokens >= 1 ? 0 : now + static_cast<uint64_t>((1 - tokens) * 1e6 / full) + 1;
  return admitted;
}

void Server::settle_unrecorded() {
  if (monitor_unrecorded_ == 0) return;
  for (MonitorState& m : monitors_) m.skipped += monitor_unrecorded_;
  monitor_unrecorded_ = 0;
}

void Server::start_monitor(Session& s, size_t cap, uint32_t per_second, uint64_t id) {
  settle_unrecorded();       // the others' counts, not the new one's
  monitor_quiet_until_ = 0;  // its bucket starts full
  s.set_monitor(true);
  MonitorState m;
  m.session = &s;
  m.id = id;
  m.cap = cap;
  m.per_second = per_second;
  m.tokens = per_second;  // starts full
  m.refilled_us = micros(std::chrono::steady_clock::now());
  monitors_.push_back(std::move(m));
}

bool Server::stop_monitor(SessionId id) {
  settle_unrecorded();
  for (auto it = monitors_.begin(); it != monitors_.end(); ++it) {
    if (it->session->id() != id) continue;
    it->session->set_monitor(false);
    note_freed(it->buffer.capacity());
    monitors_.erase(it);
    return true;
  }
  return false;
}

bool Server::monitor_pending(SessionId id) const {
  for (const MonitorState& m : monitors_)
    if (m.session->id() == id) return m.due && (m.has_news() || monitor_unrecorded_ > 0);
  return false;
}

size_t Server::monitor_buffered_bytes() const {
  size_t n = 0;
  for (const MonitorState& m : monitors_) n += m.buffer.size();
  return n;
}

void Server::pump_monitor(SessionId id, std::string& out) {
  settle_unrecorded();
  for (MonitorState& m : monitors_) {
    if (m.session->id() != id) continue;
    if (!m.due || !m.has_news()) return;
    m.due = false;
    const uint32_t count = m.count + (m.dropped > 0 ? 1 : 0) + (m.skipped > 0 ? 1 : 0);
    proto::FrameBuilder b(out, proto::FrameKind::PUSH, static_cast<uint8_t>(proto::Push::MONITOR),
                          m.id);
    b.u32(count);
    const uint64_t now = (m.dropped > 0 || m.skipped > 0) ? now_us() : 0;
    if (m.dropped > 0)  // first: the records lost before these
      b.u8(static_cast<uint8_t>(proto::MonitorRecordType::DROPPED)).u64(now).u64(m.dropped);
    if (m.skipped > 0)  // then the requests not recorded, over its max_per_second
      b.u8(static_cast<uint8_t>(proto::MonitorRecordType::SKIPPED)).u64(now).u64(m.skipped);
    b.raw(m.buffer);
    b.finish();
    m.buffer.clear();
    m.count = 0;
    m.dropped = 0;
    m.skipped = 0;
    // A burst's buffer goes back once sent (it is at most the cap; keep small ones).
    if (m.buffer.capacity() > (256u << 10)) {
      note_freed(m.buffer.capacity());
      std::string().swap(m.buffer);
    }
    return;
  }
}

void Server::monitored_dispatch(Session& s, const proto::Header& h, std::string_view body) {
  const size_t before = s.output().size();
  serve(s, h, body);
  if (h.code == static_cast<uint8_t>(proto::Op::HEARTBEAT)) return;  // keep-alives are noise
  // Which monitors get this one: past its max_per_second a monitor only counts it, and when
  // none gets it the request costs no record at all. The clock is the read that brought the
  // request (the session took it then), so this reads none. While every monitor's bucket is
  // empty (most requests of a busy manager), a request costs a compare and a count.
  const uint64_t now = micros(s.last_heard());
  if (now < monitor_quiet_until_) {
    ++monitor_unrecorded_;
    if (!monitor_timer_armed_) arm_monitor_timer();  // the count goes out even if no request
    return;                                          // comes after
  }
  settle_unrecorded();
  std::string& rec = record_;
  bool encoded = false;
  auto encode = [&] {
    // The reply, if the request was answered at once: the REPLY with its id among the frames
    // the request appended to its session's output (a put may complete the session's own
    // parked get first).
    uint8_t status = proto::kMonitorNoReply;
    uint32_t reply_bytes = 0;
    const std::string_view out = s.output();
    for (size_t at = before; out.size() >= before && at < out.size();) {
      const proto::Decoded d = proto::decode(out.data() + at, out.size() - at, UINT32_MAX);
      if (d.status != proto::DecodeStatus::OK) break;
      if (d.header.kind == proto::FrameKind::REPLY && d.header.id == h.id) {
        status = d.header.code;
        reply_bytes = d.header.body_len;
        break;
      }
      at += proto::kHeaderSize + d.header.body_len;
    }
    std::string_view object;
    if (names_an_object(h.code)) {
      Reader r(body);
      object = r.str();
      if (!r.ok()) object = {};
    }
    rec.clear();
    proto::AppendWriter(rec)
        .u8(static_cast<uint8_t>(proto::MonitorRecordType::REQUEST))
        .u64(now_us())
        .u64(s.id())
        .u8(h.code)
        .u8(status)
        .u32(static_cast<uint32_t>(body.size()))
        .u32(reply_bytes);
    put_str8(rec, object);
    put_str8(rec, s.authenticated() ? user_name(s.user_id()) : std::string_view());
    put_str8(rec, s.client_name());  // empty for clients before protocol version 4
  };
  for (MonitorState& m : monitors_) {
    if (!m.admit(now)) {
      ++m.skipped;
      arm_monitor_timer();  // the count goes out even if no request comes after
      continue;
    }
    if (!encoded) {  // once, for the first monitor that takes it
      encode();
      encoded = true;
    }
    if (m.buffer.size() + rec.size() > m.cap) {
      ++m.dropped;
      ++monitor_dropped_;
    } else {
      m.buffer += rec;
      ++m.count;
    }
    if (m.buffer.size() >= kMonitorFlushBytes || m.buffer.size() + rec.size() > m.cap) {
      m.due = true;
      m.session->messages_pending();
    } else {
      arm_monitor_timer();
    }
  }
  uint64_t quiet = UINT64_MAX;
  for (const MonitorState& m : monitors_) quiet = std::min(quiet, m.next_us);
  monitor_quiet_until_ = quiet;  // (the timer is armed: the skipped count goes out)
}

void Server::arm_monitor_timer() {
  if (monitor_timer_armed_) return;
  monitor_timer_armed_ = true;
  monitor_timer_.expires_after(kMonitorFlushInterval);
  monitor_timer_.async_wait([this](const boost::system::error_code& ec) {
    monitor_timer_armed_ = false;
    if (ec) return;
    settle_unrecorded();
    for (MonitorState& m : monitors_) {
      if (!m.has_news()) continue;
      m.due = true;
      m.session->messages_pending();
    }
    end_pass();
  });
}

}  // namespace depot
