#include "depot/client/call_util.h"

namespace depot {

using detail::throw_reply;
using detail::wait_options;
using detail::wire_ms;

void RawQueue::declare(const QueueOptions& options) {
  client_->request(proto::Op::QUEUE_DECLARE, BodyWriter().str(name_).u64(options.maxsize).take());
}

void RawQueue::put(std::string_view item, Timeout timeout) {
  Reply r = client_->call(proto::Op::QUEUE_PUT,
                          BodyWriter().str(name_).i64(wire_ms(timeout)).str(item).take());
  if (r.status != Status::OK) throw_reply(r);
}

bool RawQueue::try_put(std::string_view item) {
  Reply r = client_->call(proto::Op::QUEUE_PUT, BodyWriter().str(name_).i64(0).str(item).take());
  if (r.status == Status::FULL) return false;
  if (r.status != Status::OK) throw_reply(r);
  return true;
}

std::string RawQueue::get(Timeout timeout) {
  const int64_t ms = wire_ms(timeout);
  auto encode = [this](int64_t t) { return BodyWriter().str(name_).i64(t).take(); };
  Reply r = ms == 0
                ? client_->call(proto::Op::QUEUE_GET, encode(0))
                : client_->call(proto::Op::QUEUE_GET, encode(ms), wait_options(timeout, encode));
  if (r.status == Status::EMPTY && ms != 0)  // a re-sent wait whose time had run out
    throw TimeoutError(Status::TIMEOUT, "queue '" + name_ + "' stayed empty until the timeout");
  if (r.status != Status::OK) throw_reply(r);
  proto::Reader rd(r.body);
  auto item = rd.str();
  if (!rd.at_end())
    throw ProtocolError(Status::BAD_REQUEST, "malformed QUEUE_GET reply for '" + name_ + "'");
  return std::string(item);
}

std::optional<std::string> RawQueue::try_get() {
  try {
    return get(std::chrono::nanoseconds(0));
  } catch (const EmptyError&) {
    return std::nullopt;
  }
}

size_t RawQueue::put_many(const std::vector<std::string>& items, Timeout timeout) {
  BodyWriter w;
  w.str(name_).i64(wire_ms(timeout)).u32(static_cast<uint32_t>(items.size()));
  for (const auto& i : items) w.str(i);
  Reply r = client_->call(proto::Op::QUEUE_PUT_MANY, w.view());
  if (r.status != Status::OK) throw_reply(r, r.status == Status::FULL);
  proto::Reader rd(r.body);
  return rd.u32();
}

namespace {
// Sends a wait for up to n items (GET_MANY, RESERVE): its reply, or nullopt when the queue
// was empty and the caller did not wait. TimeoutError when a wait ran out.
std::optional<Reply> batch_wait(Client& c, proto::Op op, const std::string& name, Timeout timeout,
                                const std::function<std::string(int64_t)>& encode) {
  Reply r = detail::call_wait(c, op, timeout, encode);
  if (r.status == Status::EMPTY) {
    if (wire_ms(timeout) == 0) return std::nullopt;
    throw TimeoutError(Status::TIMEOUT, "queue '" + name + "' stayed empty until the timeout");
  }
  if (r.status != Status::OK) throw_reply(r);
  return r;
}
}  // namespace

std::vector<std::string> RawQueue::get_many(size_t max, Timeout timeout) {
  if (max == 0) return {};
  const auto n = static_cast<uint32_t>(std::min<size_t>(max, UINT32_MAX));
  auto r = batch_wait(*client_, proto::Op::QUEUE_GET_MANY, name_, timeout, [this, n](int64_t t) {
    return BodyWriter().str(name_).u32(n).i64(t).take();
  });
  if (!r) return {};
  proto::Reader rd(r->body);
  uint32_t count = rd.u32();
  std::vector<std::string> out;
  out.reserve(std::min<uint32_t>(count, 1 << 20));
  for (uint32_t i = 0; i < count && rd.ok(); ++i) out.emplace_back(rd.str());
  if (!rd.at_end())
    throw ProtocolError(Status::BAD_REQUEST, "malformed QUEUE_GET_MANY reply for '" + name_ + "'");
  return out;
}

void RawQueue::configure(const QueueConfig& c) {
  client_->request(proto::Op::QUEUE_CONFIGURE,
                   BodyWriter()
                       .str(name_)
                       .u64(static_cast<uint64_t>(std::max<int64_t>(c.visibility.count(), 1)))
                       .u32(c.max_deliveries)
                       .u64(static_cast<uint64_t>(std::max<int64_t>(c.dedup_window.count(), 0)))
                       .str(c.dead_letter)
                       .take());
}

bool RawQueue::put(std::string_view item, const PutOptions& o, Timeout timeout) {
  Reply r = client_->call(proto::Op::QUEUE_PUT_EX,
                          BodyWriter()
                              .str(name_)
                              .i64(wire_ms(timeout))
                              .u32(static_cast<uint32_t>(o.priority))
                              .u64(static_cast<uint64_t>(std::max<int64_t>(o.delay.count(), 0)))
                              .str(o.dedup_id)
                              .str(item)
                              .take());
  if (r.status != Status::OK) throw_reply(r);
  proto::Reader rd(r.body);
  return rd.u8() != 0;
}

namespace {
int64_t visibility_ms(std::optional<std::chrono::milliseconds> v) {
  return v ? std::max<int64_t>(v->count(), 1) : -1;
}
}  // namespace

std::vector<RawReservation> RawQueue::reserve_many(size_t max, Timeout timeout,
                                                   std::optional<std::chrono::milliseconds> vis) {
  if (max == 0) return {};
  const auto n = static_cast<uint32_t>(std::min<size_t>(max, UINT32_MAX));
  const int64_t v = visibility_ms(vis);
  auto r = batch_wait(*client_, proto::Op::QUEUE_RESERVE, name_, timeout, [this, n, v](int64_t t) {
    return BodyWriter().str(name_).u32(n).i64(t).i64(v).take();
  });
  if (!r) return {};
  proto::Reader rd(r->body);
  uint32_t count = rd.u32();
  std::vector<RawReservation> out;
  out.reserve(std::min<uint32_t>(count, 1 << 16));
  for (uint32_t i = 0; i < count && rd.ok(); ++i) {
    RawReservation x;
    x.id = rd.u64();
    x.deliveries = rd.u32();
    x.item = rd.str();
    out.push_back(std::move(x));
  }
  if (!rd.at_end())
    throw ProtocolError(Status::BAD_REQUEST, "malformed QUEUE_RESERVE reply for '" + name_ + "'");
  return out;
}

RawReservation RawQueue::reserve(Timeout timeout, std::optional<std::chrono::milliseconds> vis) {
  auto v = reserve_many(1, timeout, vis);
  if (v.empty()) throw EmptyError(Status::EMPTY, "queue '" + name_ + "' is empty");
  return std::move(v.front());
}

std::optional<RawReservation> RawQueue::try_reserve(std::optional<std::chrono::milliseconds> vis) {
  auto v = reserve_many(1, std::chrono::nanoseconds(0), vis);
  if (v.empty()) return std::nullopt;
  return std::move(v.front());
}

size_t RawQueue::ack_many(const std::vector<uint64_t>& ids) {
  BodyWriter w;
  w.str(name_).u32(static_cast<uint32_t>(ids.size()));
  for (uint64_t id : ids) w.u64(id);
  std::string body = client_->request(proto::Op::QUEUE_ACK, w.view());
  proto::Reader rd(body);
  return rd.u32();
}

bool RawQueue::ack(uint64_t id) {
  return ack_many({id}) == 1;
}

NackResult RawQueue::nack(uint64_t id, std::chrono::milliseconds delay) {
  Reply r = client_->call(proto::Op::QUEUE_NACK,
                          BodyWriter()
                              .str(name_)
                              .u64(id)
                              .u64(static_cast<uint64_t>(std::max<int64_t>(delay.count(), 0)))
                              .take());
  if (r.status == Status::NOT_FOUND) return NackResult::NotHeld;
  if (r.status != Status::OK) throw_reply(r);
  proto::Reader rd(r.body);
  return rd.u8() == 2 ? NackResult::DeadLettered : NackResult::Requeued;
}

bool RawQueue::touch(uint64_t id, std::optional<std::chrono::milliseconds> vis) {
  Reply r = client_->call(proto::Op::QUEUE_TOUCH,
                          BodyWriter().str(name_).u64(id).i64(visibility_ms(vis)).take());
  if (r.status == Status::NOT_FOUND) return false;
  if (r.status != Status::OK) throw_reply(r);
  return true;
}

QueueSize RawQueue::size() {
  std::string body = client_->request(proto::Op::QUEUE_SIZE, BodyWriter().str(name_).take());
  proto::Reader rd(body);
  QueueSize s;
  s.size = rd.u64();
  s.maxsize = rd.u64();
  s.exists = rd.u8() != 0;
  return s;
}

uint64_t RawQueue::destroy() {
  std::string body = client_->request(proto::Op::QUEUE_DELETE, BodyWriter().str(name_).take());
  proto::Reader rd(body);
  return rd.u64();
}

}  // namespace depot
