// Handlers for the queue opcodes: decode the body, find or create the queue, call it, and
// reply (at once or when the parked waiter completes). The dispatcher has already checked
// the session is authenticated and the opcode exists.
#include "depot/manager/ops_util.h"
#include "depot/protocol/messages.h"
#include "depot/queue/queue.h"

namespace depot {

namespace {

using proto::Reader;

// Opens (creating if needed, unbounded) the queue named in a request.
Queue* open_queue(Server& srv, Session& s, const proto::Header& h, std::string_view name) {
  return open_object<Queue>(srv, s, h, name, [&] {
    return std::make_unique<Queue>(srv.registry(), std::string(name), 0);
  });
}

// The completion for put and put_many: OK carries the count for put_many only. The captures
// are kept to two words so std::function stores them inline (no allocation per request).
template <bool kMany>
Queue::PutDone put_reply(Session& s, uint64_t id) {
  return [&s, id](Status st, uint32_t accepted, std::string_view msg) {
    if (st == Status::OK) {
      if (!kMany) return s.reply(id, Status::OK);
      auto b = s.begin_reply(id);
      b.u32(accepted);
      return s.end_reply(b);
    }
    auto b = s.begin_reply(id, st);
    b.str(msg);
    if (kMany) b.u32(accepted);
    s.end_reply(b);
  };
}

template <bool kMany>
Queue::GetDone get_reply(Session& s, uint64_t id) {
  return [&s, id](Status st, Queue::Items items, std::string_view msg) {
    if (st != Status::OK) return s.reply_error(id, st, msg);
    auto b = s.begin_reply(id);
    if (kMany) b.u32(static_cast<uint32_t>(items.size()));
    for (auto item : items) b.str(item);
    s.end_reply(b);
  };
}

void handle_queue_declare(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto maxsize = r.u64();
  if (!body_ok(s, h, r, "str name, u64 maxsize")) return;
  auto res = srv.registry().open<Queue>(
      name, [&] { return std::make_unique<Queue>(srv.registry(), std::string(name), maxsize); });
  if (!res.ok()) return s.reply_error(h.id, res.status, res.message);
  if (res.value->maxsize() != maxsize)
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "queue '" + std::string(name) + "' exists with maxsize " +
                             std::to_string(res.value->maxsize()) + ", not " +
                             std::to_string(maxsize) +
                             "; declare it with the same maxsize or delete it first");
  s.reply(h.id, Status::OK);
}

void handle_queue_put(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto timeout = r.i64();
  auto item = r.str();
  if (!body_ok(s, h, r, "str name, i64 timeout_ms, str item")) return;
  if (!srv.within_queue_bytes(s, h, name, item.size())) return;
  if (Queue* q = open_queue(srv, s, h, name))
    q->put(item, make_wait(srv, s, timeout), put_reply<false>(s, h.id));
}

void handle_queue_put_many(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto timeout = r.i64();
  auto count = r.u32();
  std::vector<std::string_view> items;
  // Each item needs at least its 4-byte length: a count beyond that is a lie, not a reserve.
  if (count > r.remaining() / 4) {
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "malformed QUEUE_PUT_MANY body: count " + std::to_string(count) +
                             " exceeds the items present");
  }
  items.reserve(count);
  for (uint32_t i = 0; i < count; ++i) items.push_back(r.str());
  if (!body_ok(s, h, r, "str name, i64 timeout_ms, u32 count, count x str item")) return;
  uint64_t bytes = 0;
  for (auto item : items) bytes += item.size();
  if (!srv.within_queue_bytes(s, h, name, bytes)) return;
  if (Queue* q = open_queue(srv, s, h, name))
    q->put_many(items, make_wait(srv, s, timeout), put_reply<true>(s, h.id));
}

void handle_queue_get(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto timeout = r.i64();
  if (!body_ok(s, h, r, "str name, i64 timeout_ms")) return;
  if (Queue* q = open_queue(srv, s, h, name))
    q->get(make_wait(srv, s, timeout), get_reply<false>(s, h.id));
}

void handle_queue_get_many(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto max = r.u32();
  auto timeout = r.i64();
  if (!body_ok(s, h, r, "str name, u32 max, i64 timeout_ms")) return;
  if (max == 0) return s.reply_error(h.id, Status::BAD_REQUEST, "QUEUE_GET_MANY needs max >= 1");
  // Replies stay within the frame limit clients are told about (--max-frame).
  const size_t max_bytes = srv.options().max_frame > 64 ? srv.options().max_frame - 64 : 1;
  if (Queue* q = open_queue(srv, s, h, name))
    q->get_many(max, make_wait(srv, s, timeout), get_reply<true>(s, h.id), max_bytes);
}

void handle_queue_size(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  if (!body_ok(s, h, r, "str name")) return;
  auto found = srv.registry().find<Queue>(name);
  if (found.status == Status::WRONG_TYPE) return s.reply_error(h.id, found.status, found.message);
  auto b = s.begin_reply(h.id);
  // A queue that does not exist yet is an empty unbounded queue: it is created on first use.
  const Queue* q = found.value;
  b.u64(q ? q->size() : 0).u64(q ? q->maxsize() : 0).u8(q ? 1 : 0);
  s.end_reply(b);
}

void handle_queue_delete(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  if (!body_ok(s, h, r, "str name")) return;
  auto found = srv.registry().find<Queue>(name);
  if (!found.ok())
    return s.reply_error(h.id, found.status,
                         found.status == Status::NOT_FOUND
                             ? "queue '" + std::string(name) + "' does not exist; nothing to delete"
                             : found.message);
  const uint64_t dropped = found.value->size();
  srv.registry().erase(name);
  auto b = s.begin_reply(h.id);
  b.u64(dropped);
  s.end_reply(b);
}

void handle_queue_configure(Server& srv, Session& s, const proto::Header& h,
                            std::string_view body) {
  Reader r(body);
  auto name = r.str();
  QueueSettings qs;
  qs.visibility_ms = r.u64();
  qs.max_deliveries = r.u32();
  qs.dedup_window_ms = r.u64();
  qs.dead_letter = std::string(r.str());
  if (!body_ok(s, h, r,
               "str name, u64 visibility_ms, u32 max_deliveries, u64 dedup_window_ms, "
               "str dead_letter"))
    return;
  if (qs.visibility_ms == 0)
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "queue '" + std::string(name) +
                             "': visibility_ms must be at least 1 (a reservation that "
                             "expires at once would be redelivered in a loop)");
  if (!qs.dead_letter.empty() && qs.dead_letter == name)
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "queue '" + std::string(name) +
                             "' cannot be its own dead-letter queue; name another queue");
  if (Queue* q = open_queue(srv, s, h, name)) {
    q->configure(std::move(qs));
    s.reply(h.id, Status::OK);
  }
}

void handle_queue_put_ex(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto timeout = r.i64();
  PutParams opt;
  opt.priority = static_cast<int32_t>(r.u32());
  opt.delay_ms = r.u64();
  opt.dedup_id = r.str();
  auto item = r.str();
  if (!body_ok(s, h, r,
               "str name, i64 timeout_ms, i32 priority, u64 delay_ms, str dedup_id, str item"))
    return;
  if (!srv.within_queue_bytes(s, h, name, item.size())) return;
  if (Queue* q = open_queue(srv, s, h, name))
    q->put_many(
        Queue::Items(&item, 1), make_wait(srv, s, timeout),
        [&s, id = h.id](Status st, uint32_t accepted, std::string_view msg) {
          if (st != Status::OK) return s.reply_error(id, st, msg);
          auto b = s.begin_reply(id);
          b.u8(accepted > 0 ? 1 : 0);
          s.end_reply(b);
        },
        opt);
}

void handle_queue_reserve(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto max = r.u32();
  auto timeout = r.i64();
  auto visibility = r.i64();
  if (!body_ok(s, h, r, "str name, u32 max, i64 timeout_ms, i64 visibility_ms")) return;
  if (max == 0) return s.reply_error(h.id, Status::BAD_REQUEST, "QUEUE_RESERVE needs max >= 1");
  if (visibility == 0)
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "QUEUE_RESERVE on '" + std::string(name) +
                             "': visibility_ms must be -1 (the queue's setting) or at least 1");
  const size_t max_bytes = srv.options().max_frame > 64 ? srv.options().max_frame - 64 : 1;
  if (Queue* q = open_queue(srv, s, h, name))
    q->reserve(
        max, visibility, make_wait(srv, s, timeout),
        [&s, id = h.id](Status st, std::span<const Queue::Reserved> items, std::string_view msg) {
          if (st != Status::OK) return s.reply_error(id, st, msg);
          auto b = s.begin_reply(id);
          b.u32(static_cast<uint32_t>(items.size()));
          for (const auto& it : items) b.u64(it.id).u32(it.deliveries).str(it.item);
          s.end_reply(b);
        },
        max_bytes);
}

void handle_queue_ack(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto count = r.u32();
  if (count > r.remaining() / 8)
    return s.reply_error(
        h.id, Status::BAD_REQUEST,
        "malformed QUEUE_ACK body: count " + std::to_string(count) + " exceeds the ids present");
  std::vector<uint64_t> ids(count);
  for (auto& id : ids) id = r.u64();
  if (!body_ok(s, h, r, "str name, u32 count, count x u64 reservation_id")) return;
  if (Queue* q = find_object<Queue>(srv, s, h, name)) {
    auto b = s.begin_reply(h.id);
    b.u32(q->ack(ids));
    s.end_reply(b);
  }
}

void handle_queue_nack(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto rid = r.u64();
  auto delay = r.u64();
  if (!body_ok(s, h, r, "str name, u64 reservation_id, u64 delay_ms")) return;
  if (Queue* q = find_object<Queue>(srv, s, h, name)) {
    bool dead = false;
    if (!q->nack(rid, delay, dead))
      return s.reply_error(h.id, Status::NOT_FOUND, msg::reservation_not_held(name, rid));
    auto b = s.begin_reply(h.id);
    b.u8(dead ? 2 : 1);
    s.end_reply(b);
  }
}

void handle_queue_touch(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  auto rid = r.u64();
  auto visibility = r.i64();
  if (!body_ok(s, h, r, "str name, u64 reservation_id, i64 visibility_ms")) return;
  if (visibility == 0)
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "QUEUE_TOUCH on '" + std::string(name) +
                             "': visibility_ms must be -1 (the queue's setting) or at least 1");
  if (Queue* q = find_object<Queue>(srv, s, h, name)) {
    if (!q->touch(rid, visibility))
      return s.reply_error(h.id, Status::NOT_FOUND, msg::reservation_not_held(name, rid));
    s.reply(h.id, Status::OK);
  }
}

// QUEUE_CONFIGURE changes how a queue behaves for everyone (admin), and names the queue its
// dead letters go to (write; empty: "<name>.dead").
bool configure_touches(std::string_view body, uint8_t perm, Touches& out) {
  Reader r(body);
  const auto name = r.str();
  r.u64();
  r.u32();
  r.u64();
  const auto dead = r.str();
  if (!r.ok()) return false;
  out.add(perm, name);
  if (dead.empty()) {
    out.owned = std::string(name) + ".dead";
    out.add(auth::PERM_WRITE, out.owned);
  } else {
    out.add(auth::PERM_WRITE, dead);
  }
  return true;
}

}  // namespace

std::span<const OpEntry> queue_ops() {
  using proto::Op;
  using namespace auth;
  // Permissions (docs/security.md): write puts items in, read takes them out (get, reserve
  // and what follows a reservation) or looks; admin deletes and configures.
  static constexpr OpEntry table[] = {
      {Op::QUEUE_DECLARE, handle_queue_declare, true, PERM_WRITE},
      {Op::QUEUE_PUT, handle_queue_put, true, PERM_WRITE},
      {Op::QUEUE_GET, handle_queue_get, true, PERM_READ},
      {Op::QUEUE_PUT_MANY, handle_queue_put_many, true, PERM_WRITE},
      {Op::QUEUE_GET_MANY, handle_queue_get_many, true, PERM_READ},
      {Op::QUEUE_SIZE, handle_queue_size, false, PERM_READ},
      {Op::QUEUE_DELETE, handle_queue_delete, true, PERM_ADMIN},
      {Op::QUEUE_CONFIGURE, handle_queue_configure, true, PERM_ADMIN, configure_touches},
      {Op::QUEUE_PUT_EX, handle_queue_put_ex, true, PERM_WRITE},
      {Op::QUEUE_RESERVE, handle_queue_reserve, true, PERM_READ},
      {Op::QUEUE_ACK, handle_queue_ack, true, PERM_READ},
      {Op::QUEUE_NACK, handle_queue_nack, true, PERM_READ},
      {Op::QUEUE_TOUCH, handle_queue_touch, true, PERM_READ},
  };
  return table;
}

}  // namespace depot
