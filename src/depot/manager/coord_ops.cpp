// Handlers for the coordination objects: locks, semaphores, events, barriers, variables,
// counters and pub/sub. Each decodes its body, finds or creates the
// object, and replies at once or when the parked request completes.
#include "depot/manager/ops_util.h"
#include "depot/queue/event.h"
#include "depot/queue/lease.h"
#include "depot/queue/lock.h"
#include "depot/queue/semaphore.h"
#include "depot/queue/topic.h"
#include "depot/queue/variable.h"

namespace depot {

namespace {

using proto::Reader;

void reply_ok_empty(Session& s, uint64_t id) {
  s.reply(id, Status::OK);
}

// ---------------------------------------------------------------- locks

void handle_lock_acquire(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const bool reentrant = r.u8() != 0;
  const uint64_t owner = r.u64();
  const int64_t timeout = r.i64();
  const int64_t ttl = r.i64();
  if (!body_ok(s, h, r, "str name, u8 reentrant, u64 owner, i64 timeout_ms, i64 ttl_ms")) return;
  if (ttl < 0)
    return s.reply_error(h.id, Status::BAD_REQUEST, "ttl_ms must be 0 (no lease) or positive");
  LockObject* lock = open_object<LockObject>(srv, s, h, name, [&] {
    return std::make_unique<LockObject>(srv.registry(), std::string(name), reentrant);
  });
  if (!lock) return;
  if (lock->reentrant() != reentrant)
    return s.reply_error(h.id, Status::WRONG_TYPE,
                         "'" + std::string(name) + "' is a" +
                             (reentrant ? " lock, not an rlock" : "n rlock, not a lock") +
                             "; use another name or delete it first");
  lock->acquire(make_wait(srv, s, timeout), owner, std::chrono::milliseconds(ttl),
                [&s, id = h.id](Status st, LockObject::Grant g, std::string_view msg) {
                  if (st != Status::OK) return s.reply_error(id, st, msg);
                  auto b = s.begin_reply(id);
                  b.u64(g.token).u32(g.count);
                  s.end_reply(b);
                });
}

void handle_lock_release(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const uint64_t token = r.u64();
  if (!body_ok(s, h, r, "str name, u64 token")) return;
  LockObject* lock = find_object<LockObject>(srv, s, h, name);
  if (!lock) return;
  uint32_t remaining = 0;
  std::string message;
  Status st;
  if (token == 0) {
    // Forced release (an operator's `depot-cli lock release NAME`): frees the lock whoever
    // holds it. The fencing token is what protects storage from the former holder.
    if (!lock->held())
      return s.reply_error(h.id, Status::NOT_OWNER, "lock '" + std::string(name) + "' is not held");
    const uint64_t broken = lock->token();
    uint32_t rem = 0;
    do {
      st = lock->release(lock->holder_session(), broken, rem, message);
    } while (st == Status::OK && rem > 0);
    auto b = s.begin_reply(h.id);
    b.u32(0).u64(broken);
    return s.end_reply(b);
  }
  st = lock->release(s.id(), token, remaining, message);
  if (st != Status::OK) return s.reply_error(h.id, st, message);
  auto b = s.begin_reply(h.id);
  b.u32(remaining).u64(token);
  s.end_reply(b);
}

// ---------------------------------------------------------------- semaphores

void handle_sem_acquire(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const uint32_t max = r.u32();
  const int64_t timeout = r.i64();
  if (!body_ok(s, h, r, "str name, u32 max, i64 timeout_ms")) return;
  if (max == 0) return s.reply_error(h.id, Status::BAD_REQUEST, "a semaphore needs max >= 1");
  SemaphoreObject* sem = open_fixed<SemaphoreObject>(
      srv, s, h, name, max, [](auto& o) { return o.max(); }, "max");
  if (!sem) return;
  sem->acquire(make_wait(srv, s, timeout),
               [&s, id = h.id](Status st, uint64_t lease, std::string_view msg) {
                 if (st != Status::OK) return s.reply_error(id, st, msg);
                 auto b = s.begin_reply(id);
                 b.u64(lease);
                 s.end_reply(b);
               });
}

void handle_sem_release(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const uint64_t lease = r.u64();
  if (!body_ok(s, h, r, "str name, u64 lease")) return;
  SemaphoreObject* sem = find_object<SemaphoreObject>(srv, s, h, name);
  if (!sem) return;
  std::string message;
  Status st = sem->release(s.id(), lease, message);
  if (st != Status::OK) return s.reply_error(h.id, st, message);
  reply_ok_empty(s, h.id);
}

// ---------------------------------------------------------------- events and barriers

EventObject* open_event(Server& srv, Session& s, const proto::Header& h, std::string_view name) {
  return open_object<EventObject>(srv, s, h, name, [&] {
    return std::make_unique<EventObject>(srv.registry(), std::string(name));
  });
}

void handle_event_set(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  if (!body_ok(s, h, r, "str name")) return;
  if (EventObject* e = open_event(srv, s, h, name)) {
    e->set();
    reply_ok_empty(s, h.id);
  }
}

void handle_event_clear(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  if (!body_ok(s, h, r, "str name")) return;
  if (EventObject* e = open_event(srv, s, h, name)) {
    e->clear();
    reply_ok_empty(s, h.id);
  }
}

void handle_event_wait(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const int64_t timeout = r.i64();
  if (!body_ok(s, h, r, "str name, i64 timeout_ms")) return;
  if (EventObject* e = open_event(srv, s, h, name))
    e->wait(make_wait(srv, s, timeout), [&s, id = h.id](Status st, std::string_view msg) {
      if (st != Status::OK) return s.reply_error(id, st, msg);
      reply_ok_empty(s, id);
    });
}

void handle_barrier_wait(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const uint32_t parties = r.u32();
  const int64_t timeout = r.i64();
  if (!body_ok(s, h, r, "str name, u32 parties, i64 timeout_ms")) return;
  if (parties == 0) return s.reply_error(h.id, Status::BAD_REQUEST, "a barrier needs parties >= 1");
  BarrierObject* b = open_fixed<BarrierObject>(
      srv, s, h, name, parties, [](auto& o) { return o.parties(); }, "parties");
  if (!b) return;
  b->wait(make_wait(srv, s, timeout),
          [&s, id = h.id](Status st, uint32_t index, std::string_view msg) {
            if (st != Status::OK) return s.reply_error(id, st, msg);
            auto fb = s.begin_reply(id);
            fb.u32(index);
            s.end_reply(fb);
          });
}

void handle_barrier_reset(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  if (!body_ok(s, h, r, "str name")) return;
  if (BarrierObject* b = find_object<BarrierObject>(srv, s, h, name)) {
    b->reset();
    reply_ok_empty(s, h.id);
  }
}

// ---------------------------------------------------------------- variables and counters

VariableObject* open_variable(Server& srv, Session& s, const proto::Header& h,
                              std::string_view name) {
  return open_object<VariableObject>(srv, s, h, name, [&] {
    return std::make_unique<VariableObject>(srv.registry(), std::string(name));
  });
}

// OK body of VAR_GET and VAR_WAIT: u64 version, u8 exists, str value.
VariableObject::Done variable_reply(Session& s, uint64_t id) {
  return [&s, id](Status st, const VariableObject::Snapshot& snap, std::string_view msg) {
    if (st != Status::OK) return s.reply_error(id, st, msg);
    auto b = s.begin_reply(id);
    b.u64(snap.version).u8(snap.exists ? 1 : 0).str(snap.value);
    s.end_reply(b);
  };
}

void handle_var_set(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto value = r.str();
  if (!body_ok(s, h, r, "str name, str value")) return;
  if (VariableObject* v = open_variable(srv, s, h, name)) {
    const uint64_t version = v->set(value);
    auto b = s.begin_reply(h.id);
    b.u64(version);
    s.end_reply(b);
  }
}

void handle_var_get(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const int64_t timeout = r.i64();
  if (!body_ok(s, h, r, "str name, i64 timeout_ms")) return;
  if (timeout == proto::kNoWait) {
    // A look that cannot wait leaves nothing behind: a missing variable has no value, and
    // creating it would list (and keep) an object nobody made, such as an executor's marker
    // that its master has just deleted.
    auto found = srv.registry().find<VariableObject>(name);
    if (found.status == Status::NOT_FOUND)
      return s.reply_error(h.id, Status::NOT_FOUND, msg::has_no_value(name));
  }
  if (VariableObject* v = open_variable(srv, s, h, name))
    v->get(make_wait(srv, s, timeout), variable_reply(s, h.id));
}

void handle_var_cas(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const uint64_t expected = r.u64();
  auto value = r.str();
  if (!body_ok(s, h, r, "str name, u64 expected_version, str value")) return;
  if (VariableObject* v = open_variable(srv, s, h, name)) {
    uint64_t version = 0;
    const bool swapped = v->compare_and_set(expected, value, version);
    auto b = s.begin_reply(h.id);
    b.u8(swapped ? 1 : 0).u64(version);
    s.end_reply(b);
  }
}

void handle_var_wait(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const uint64_t after = r.u64();
  const int64_t timeout = r.i64();
  if (!body_ok(s, h, r, "str name, u64 after_version, i64 timeout_ms")) return;
  if (VariableObject* v = open_variable(srv, s, h, name))
    v->wait_for_change(after, make_wait(srv, s, timeout), variable_reply(s, h.id));
}

void handle_var_delete(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  if (!body_ok(s, h, r, "str name")) return;
  if (VariableObject* v = find_object<VariableObject>(srv, s, h, name)) {
    const bool existed = v->erase_value();
    auto b = s.begin_reply(h.id);
    b.u8(existed ? 1 : 0).u64(v->version());
    s.end_reply(b);
  }
}

void handle_counter_add(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  const int64_t delta = r.i64();
  if (!body_ok(s, h, r, "str name, i64 delta")) return;
  CounterObject* c = open_object<CounterObject>(srv, s, h, name, [&] {
    return std::make_unique<CounterObject>(srv.registry(), std::string(name));
  });
  if (!c) return;
  bool overflow = false;
  const int64_t value = c->add(delta, overflow);
  if (overflow)
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "counter '" + std::string(name) +
                             "' would overflow 64 bits; it stays at " + std::to_string(value));
  auto b = s.begin_reply(h.id);
  b.i64(value);
  s.end_reply(b);
}

// ---------------------------------------------------------------- pub/sub

void handle_publish(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto topic = r.str();
  auto payload = r.str();
  if (!body_ok(s, h, r, "str topic, str payload")) return;
  if (auto why = proto::check_name(topic); !why.empty())
    return s.reply_error(h.id, Status::BAD_REQUEST, "topic: " + why);
  const uint32_t n = srv.pubsub().publish(topic, payload);
  auto b = s.begin_reply(h.id);
  b.u32(n);
  s.end_reply(b);
}

void handle_subscribe(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto pattern = r.str();
  const uint32_t buffer = r.u32();
  const uint8_t policy = r.u8();
  if (!body_ok(s, h, r, "str pattern, u32 buffer, u8 policy")) return;
  std::string message;
  const uint64_t id =
      srv.pubsub().subscribe(s.id(), pattern, buffer, static_cast<Overflow>(policy), &s, message);
  if (id == 0) return s.reply_error(h.id, Status::BAD_REQUEST, message);
  s.add_subscription(id);
  auto b = s.begin_reply(h.id);
  b.u64(id);
  s.end_reply(b);
}

void handle_unsubscribe(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  const uint64_t id = r.u64();
  if (!body_ok(s, h, r, "u64 subscription")) return;
  std::string message;
  Status st = srv.pubsub().unsubscribe(s.id(), id, message);
  if (st != Status::OK) return s.reply_error(h.id, st, message);
  s.remove_subscription(id);
  reply_ok_empty(s, h.id);
}

// ---------------------------------------------------------------- leases

// LEASE_HOLD: str name, u32 grace_ms, u32 fence_ms, u16 n, n x str pattern -> u8 found. The
// patterns are views into the body (the permission check reads them where they are).
struct LeaseRequest {
  std::string_view name;
  uint32_t grace_ms = 0, fence_ms = 0;
  std::vector<std::string_view> patterns;
};
bool read_lease(Reader& r, LeaseRequest& q) {
  q.name = r.str();
  q.grace_ms = r.u32();
  q.fence_ms = r.u32();
  const uint16_t n = r.u16();
  for (uint16_t i = 0; i < n && r.ok(); ++i) q.patterns.push_back(r.str());
  return r.ok();
}

void handle_lease_hold(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  LeaseRequest q;
  read_lease(r, q);
  if (!body_ok(s, h, r, "str name, u32 grace_ms, u32 fence_ms, u16 n, n x str pattern")) return;
  LeaseObject::Terms terms{q.grace_ms, q.fence_ms, {q.patterns.begin(), q.patterns.end()}};
  if (auto why = LeaseObject::check(terms); !why.empty())
    return s.reply_error(h.id, Status::BAD_REQUEST, "lease '" + std::string(q.name) + "': " + why);
  LeaseObject* lease = open_object<LeaseObject>(srv, s, h, q.name, [&] {
    return std::make_unique<LeaseObject>(srv.registry(), std::string(q.name));
  });
  if (!lease) return;
  LeaseObject::Found found{};
  std::string message;
  const Status st = lease->hold(s.id(), std::move(terms), found, message);
  if (st != Status::OK) return s.reply_error(h.id, st, message);
  auto b = s.begin_reply(h.id);
  b.u8(static_cast<uint8_t>(found));
  s.end_reply(b);
}

// A lease's holder writes the lease; its patterns name objects it may have deleted: admin on
// each (a PREFIX* pattern on every name it can match).
bool lease_touches(std::string_view body, uint8_t perm, Touches& out) {
  Reader r(body);
  LeaseRequest q;
  // Too many patterns: the handler says what is wrong.
  if (!read_lease(r, q) || q.patterns.size() > LeaseObject::kMaxPatterns) return false;
  out.add(perm, q.name);
  for (const std::string_view p : q.patterns)
    out.add(static_cast<uint8_t>(auth::PERM_ADMIN), p, p.find('*') != std::string_view::npos);
  return true;
}

// A release with token 0 is forced (whoever holds the lock): admin; else write.
bool lock_release_touches(std::string_view body, uint8_t perm, Touches& out) {
  Reader r(body);
  const auto name = r.str();
  const uint64_t token = r.u64();
  if (!r.ok()) return false;
  out.add(token == 0 ? static_cast<uint8_t>(auth::PERM_ADMIN) : perm, name);
  return true;
}

// A pattern subscription must be allowed on every topic the pattern can match.
bool subscribe_touches(std::string_view body, uint8_t perm, Touches& out) {
  Reader r(body);
  const auto pattern = r.str();
  if (!r.ok()) return false;
  out.add(perm, pattern, true);
  return true;
}

}  // namespace

std::span<const OpEntry> coord_ops() {
  using proto::Op;
  using namespace auth;
  // Permissions (docs/security.md): write changes an object (or takes part in it: locks,
  // semaphores, barriers, publishing), read waits on or looks at it; a forced lock release is
  // admin; UNSUBSCRIBE ends the session's own subscription.
  static constexpr OpEntry table[] = {
      {Op::LOCK_ACQUIRE, handle_lock_acquire, true, PERM_WRITE},
      {Op::LOCK_RELEASE, handle_lock_release, true, PERM_WRITE, lock_release_touches},
      {Op::SEM_ACQUIRE, handle_sem_acquire, true, PERM_WRITE},
      {Op::SEM_RELEASE, handle_sem_release, true, PERM_WRITE},
      {Op::EVENT_SET, handle_event_set, false, PERM_WRITE},
      {Op::EVENT_CLEAR, handle_event_clear, false, PERM_WRITE},
      {Op::EVENT_WAIT, handle_event_wait, false, PERM_READ},
      {Op::BARRIER_WAIT, handle_barrier_wait, false, PERM_WRITE},
      {Op::BARRIER_RESET, handle_barrier_reset, false, PERM_WRITE},
      {Op::VAR_SET, handle_var_set, true, PERM_WRITE},
      {Op::VAR_GET, handle_var_get, false, PERM_READ},
      {Op::VAR_CAS, handle_var_cas, true, PERM_WRITE},
      {Op::VAR_WAIT, handle_var_wait, false, PERM_READ},
      {Op::VAR_DELETE, handle_var_delete, true, PERM_WRITE},
      {Op::COUNTER_ADD, handle_counter_add, true, PERM_WRITE},
      {Op::LEASE_HOLD, handle_lease_hold, true, PERM_WRITE, lease_touches},
      {Op::PUBLISH, handle_publish, false, PERM_WRITE},
      {Op::SUBSCRIBE, handle_subscribe, false, PERM_READ, subscribe_touches},
      {Op::UNSUBSCRIBE, handle_unsubscribe, false, PERM_NONE},
  };
  return table;
}

}  // namespace depot
