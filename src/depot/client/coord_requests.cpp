#include "depot/client/coord_requests.h"

#include <algorithm>

#include "depot/client/reply_parse.h"

namespace depot::req {

using detail::parse;
using proto::BodyWriter;
using proto::Op;
using proto::Reader;

namespace {
Request named(Op op, std::string_view name) {
  return {op, BodyWriter().str(name).take()};
}
Request named_wait(Op op, std::string_view name, int64_t timeout_ms) {
  return {op, BodyWriter().str(name).i64(timeout_ms).take()};
}
}  // namespace

Request lock_acquire(std::string_view name, bool reentrant, uint64_t owner, int64_t timeout_ms,
                     int64_t ttl_ms) {
  return {
      Op::LOCK_ACQUIRE,
      BodyWriter().str(name).u8(reentrant ? 1 : 0).u64(owner).i64(timeout_ms).i64(ttl_ms).take()};
}

LockGrant parse_lock_acquire(std::string_view body) {
  return parse(Op::LOCK_ACQUIRE, body, [](Reader& r) {
    LockGrant g;
    g.token = r.u64();
    g.count = r.u32();
    return g;
  });
}

Request lock_release(std::string_view name, uint64_t token) {
  return {Op::LOCK_RELEASE, BodyWriter().str(name).u64(token).take()};
}

LockReleased parse_lock_release(std::string_view body) {
  return parse(Op::LOCK_RELEASE, body, [](Reader& r) {
    LockReleased x;
    x.remaining = r.u32();
    x.token = r.u64();
    return x;
  });
}

Request sem_acquire(std::string_view name, uint32_t max, int64_t timeout_ms) {
  return {Op::SEM_ACQUIRE, BodyWriter().str(name).u32(max).i64(timeout_ms).take()};
}

uint64_t parse_sem_acquire(std::string_view body) {
  return parse(Op::SEM_ACQUIRE, body, [](Reader& r) { return r.u64(); });
}

Request sem_release(std::string_view name, uint64_t lease) {
  return {Op::SEM_RELEASE, BodyWriter().str(name).u64(lease).take()};
}

Request event_set(std::string_view name) {
  return named(Op::EVENT_SET, name);
}
Request event_clear(std::string_view name) {
  return named(Op::EVENT_CLEAR, name);
}
Request event_wait(std::string_view name, int64_t timeout_ms) {
  return named_wait(Op::EVENT_WAIT, name, timeout_ms);
}

Request barrier_wait(std::string_view name, uint32_t parties, int64_t timeout_ms) {
  return {Op::BARRIER_WAIT, BodyWriter().str(name).u32(parties).i64(timeout_ms).take()};
}

uint32_t parse_barrier_wait(std::string_view body) {
  return parse(Op::BARRIER_WAIT, body, [](Reader& r) { return r.u32(); });
}

Request barrier_reset(std::string_view name) {
  return named(Op::BARRIER_RESET, name);
}

Request var_set(std::string_view name, std::string_view value) {
  return {Op::VAR_SET, BodyWriter().str(name).str(value).take()};
}

uint64_t parse_var_set(std::string_view body) {
  return parse(Op::VAR_SET, body, [](Reader& r) { return r.u64(); });
}

Request var_get(std::string_view name, int64_t timeout_ms) {
  return named_wait(Op::VAR_GET, name, timeout_ms);
}

RawVersioned parse_var_state(std::string_view body) {
  return parse(Op::VAR_GET, body, [](Reader& r) {
    RawVersioned v;
    v.version = r.u64();
    const bool exists = r.u8() != 0;
    const std::string_view value = r.str();
    if (exists) v.value = std::string(value);
    return v;
  });
}

Request var_cas(std::string_view name, uint64_t expected_version, std::string_view value) {
  return {Op::VAR_CAS, BodyWriter().str(name).u64(expected_version).str(value).take()};
}

CasResult parse_var_cas(std::string_view body) {
  return parse(Op::VAR_CAS, body, [](Reader& r) {
    CasResult c;
    c.swapped = r.u8() != 0;
    c.version = r.u64();
    return c;
  });
}

Request var_wait(std::string_view name, uint64_t after_version, int64_t timeout_ms) {
  return {Op::VAR_WAIT, BodyWriter().str(name).u64(after_version).i64(timeout_ms).take()};
}

Request var_delete(std::string_view name) {
  return named(Op::VAR_DELETE, name);
}

VarDeleted parse_var_delete(std::string_view body) {
  return parse(Op::VAR_DELETE, body, [](Reader& r) {
    VarDeleted d;
    d.existed = r.u8() != 0;
    d.version = r.u64();
    return d;
  });
}

Request counter_add(std::string_view name, int64_t delta) {
  return {Op::COUNTER_ADD, BodyWriter().str(name).i64(delta).take()};
}

int64_t parse_counter_add(std::string_view body) {
  return parse(Op::COUNTER_ADD, body, [](Reader& r) { return r.i64(); });
}

Request lease_hold(std::string_view name, const LeaseTerms& terms) {
  const auto ms = [](std::chrono::milliseconds d) {
    return static_cast<uint32_t>(std::clamp<int64_t>(d.count(), 0, UINT32_MAX));
  };
  BodyWriter w;
  w.str(name).u32(ms(terms.grace)).u32(ms(terms.fence));
  w.u16(static_cast<uint16_t>(std::min<size_t>(terms.patterns.size(), UINT16_MAX)));
  for (const std::string& p : terms.patterns) w.str(p);
  return {Op::LEASE_HOLD, w.take()};
}

LeaseFound parse_lease_hold(std::string_view body) {
  return parse(Op::LEASE_HOLD, body, [](Reader& r) {
    const uint8_t found = r.u8();
    return found <= 3 ? static_cast<LeaseFound>(found) : LeaseFound::CREATED;
  });
}

Request publish(std::string_view topic, std::string_view payload) {
  return {Op::PUBLISH, BodyWriter().str(topic).str(payload).take()};
}

uint32_t parse_publish(std::string_view body) {
  return parse(Op::PUBLISH, body, [](Reader& r) { return r.u32(); });
}

Request subscribe(std::string_view pattern, uint32_t buffer, Overflow overflow) {
  return {Op::SUBSCRIBE,
          BodyWriter().str(pattern).u32(buffer).u8(static_cast<uint8_t>(overflow)).take()};
}

uint64_t parse_subscribe(std::string_view body) {
  return parse(Op::SUBSCRIBE, body, [](Reader& r) { return r.u64(); });
}

Request unsubscribe(uint64_t id) {
  return {Op::UNSUBSCRIBE, BodyWriter().u64(id).take()};
}

bool parse_push_message(std::string_view body, RawMessage& out) {
  Reader r(body);
  out.topic = r.str();
  out.dropped = r.u64();
  out.payload = r.str();
  return r.at_end();
}

}  // namespace depot::req
