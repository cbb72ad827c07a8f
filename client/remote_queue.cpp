#include "client/call_util.h"

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

std::vector<std::string> RawQueue::get_many(size_t max, Timeout timeout) {
  if (max == 0) return {};
  const int64_t ms = wire_ms(timeout);
  const auto n = static_cast<uint32_t>(std::min<size_t>(max, UINT32_MAX));
  auto encode = [this, n](int64_t t) { return BodyWriter().str(name_).u32(n).i64(t).take(); };
  Reply r =
      ms == 0 ? client_->call(proto::Op::QUEUE_GET_MANY, encode(0))
              : client_->call(proto::Op::QUEUE_GET_MANY, encode(ms), wait_options(timeout, encode));
  if (r.status == Status::EMPTY) {
    if (ms == 0) return {};
    throw TimeoutError(Status::TIMEOUT, "queue '" + name_ + "' stayed empty until the timeout");
  }
  if (r.status != Status::OK) throw_reply(r);
  proto::Reader rd(r.body);
  uint32_t count = rd.u32();
  std::vector<std::string> out;
  out.reserve(std::min<uint32_t>(count, 1 << 20));
  for (uint32_t i = 0; i < count && rd.ok(); ++i) out.emplace_back(rd.str());
  if (!rd.at_end())
    throw ProtocolError(Status::BAD_REQUEST, "malformed QUEUE_GET_MANY reply for '" + name_ + "'");
  return out;
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
