#include "depot/client/queue_requests.h"

#include <algorithm>

#include "depot/client/reply_parse.h"

namespace depot::req {

using detail::parse;
using proto::BodyWriter;
using proto::Op;
using proto::Reader;

namespace {
uint64_t non_negative_ms(std::chrono::milliseconds d) {
  return static_cast<uint64_t>(std::max<int64_t>(d.count(), 0));
}
}  // namespace

Request queue_declare(std::string_view name, uint64_t maxsize) {
  return {Op::QUEUE_DECLARE, BodyWriter().str(name).u64(maxsize).take()};
}

Request queue_put(std::string_view name, int64_t timeout_ms, std::string_view item) {
  return {Op::QUEUE_PUT, BodyWriter().str(name).i64(timeout_ms).str(item).take()};
}

Request queue_get(std::string_view name, int64_t timeout_ms) {
  return {Op::QUEUE_GET, BodyWriter().str(name).i64(timeout_ms).take()};
}

std::string parse_queue_get(std::string_view body) {
  return parse(Op::QUEUE_GET, body, [](Reader& r) { return std::string(r.str()); });
}

QueuePutMany::QueuePutMany(std::string_view name, int64_t timeout_ms) {
  w_.str(name).i64(timeout_ms);
  count_at_ = w_.view().size();
  w_.u32(0);  // patched by finish()
}

void QueuePutMany::add(std::string_view item) {
  w_.str(item);
  ++count_;
}

Request QueuePutMany::finish() {
  std::string body = w_.take();
  proto::store_u32(body.data() + count_at_, count_);
  return {Op::QUEUE_PUT_MANY, std::move(body)};
}

Request queue_put_many(std::string_view name, int64_t timeout_ms,
                       const std::vector<std::string>& items) {
  QueuePutMany b(name, timeout_ms);
  for (const auto& i : items) b.add(i);
  return b.finish();
}

uint32_t parse_queue_put_many(std::string_view body) {
  return parse(Op::QUEUE_PUT_MANY, body, [](Reader& r) { return r.u32(); });
}

uint32_t parse_put_many_full(std::string_view error_body) {
  Reader r(error_body);
  r.str();
  return r.u32();
}

Request queue_get_many(std::string_view name, uint32_t max, int64_t timeout_ms) {
  return {Op::QUEUE_GET_MANY, BodyWriter().str(name).u32(max).i64(timeout_ms).take()};
}

std::vector<std::string> parse_queue_get_many(std::string_view body) {
  return parse(Op::QUEUE_GET_MANY, body, [](Reader& r) {
    const uint32_t count = r.u32();
    std::vector<std::string> out;
    out.reserve(std::min<size_t>(count, r.remaining() / 4));
    for (uint32_t i = 0; i < count && r.ok(); ++i) out.emplace_back(r.str());
    return out;
  });
}

Request queue_size(std::string_view name) {
  return {Op::QUEUE_SIZE, BodyWriter().str(name).take()};
}

QueueSize parse_queue_size(std::string_view body) {
  return parse(Op::QUEUE_SIZE, body, [](Reader& r) {
    QueueSize s;
    s.size = r.u64();
    s.maxsize = r.u64();
    s.exists = r.u8() != 0;
    return s;
  });
}

Request queue_delete(std::string_view name) {
  return {Op::QUEUE_DELETE, BodyWriter().str(name).take()};
}

uint64_t parse_queue_delete(std::string_view body) {
  return parse(Op::QUEUE_DELETE, body, [](Reader& r) { return r.u64(); });
}

Request queue_configure(std::string_view name, const QueueConfig& c) {
  return {Op::QUEUE_CONFIGURE,
          BodyWriter()
              .str(name)
              .u64(static_cast<uint64_t>(std::max<int64_t>(c.visibility.count(), 1)))
              .u32(c.max_deliveries)
              .u64(non_negative_ms(c.dedup_window))
              .str(c.dead_letter)
              .take()};
}

Request queue_put_ex(std::string_view name, int64_t timeout_ms, const PutOptions& o,
                     std::string_view item) {
  return {Op::QUEUE_PUT_EX, BodyWriter()
                                .str(name)
                                .i64(timeout_ms)
                                .i32(o.priority)
                                .u64(non_negative_ms(o.delay))
                                .str(o.dedup_id)
                                .str(item)
                                .take()};
}

bool parse_queue_put_ex(std::string_view body) {
  return parse(Op::QUEUE_PUT_EX, body, [](Reader& r) { return r.u8() != 0; });
}

Request queue_reserve(std::string_view name, uint32_t max, int64_t timeout_ms,
                      int64_t visibility_ms) {
  return {Op::QUEUE_RESERVE,
          BodyWriter().str(name).u32(max).i64(timeout_ms).i64(visibility_ms).take()};
}

std::vector<RawReservation> parse_queue_reserve(std::string_view body) {
  return parse(Op::QUEUE_RESERVE, body, [](Reader& r) {
    const uint32_t count = r.u32();
    std::vector<RawReservation> out;
    out.reserve(std::min<size_t>(count, r.remaining() / 16));
    for (uint32_t i = 0; i < count && r.ok(); ++i) {
      RawReservation x;
      x.id = r.u64();
      x.deliveries = r.u32();
      x.item = r.str();
      out.push_back(std::move(x));
    }
    return out;
  });
}

Request queue_ack(std::string_view name, std::span<const uint64_t> ids) {
  BodyWriter w;
  w.str(name).u32(static_cast<uint32_t>(ids.size()));
  for (uint64_t id : ids) w.u64(id);
  return {Op::QUEUE_ACK, w.take()};
}

uint32_t parse_queue_ack(std::string_view body) {
  return parse(Op::QUEUE_ACK, body, [](Reader& r) { return r.u32(); });
}

Request queue_nack(std::string_view name, uint64_t id, uint64_t delay_ms) {
  return {Op::QUEUE_NACK, BodyWriter().str(name).u64(id).u64(delay_ms).take()};
}

NackResult parse_queue_nack(std::string_view body) {
  const auto outcome = parse(Op::QUEUE_NACK, body, [](Reader& r) { return r.u8(); });
  if (outcome == static_cast<uint8_t>(NackResult::Requeued)) return NackResult::Requeued;
  if (outcome == static_cast<uint8_t>(NackResult::DeadLettered)) return NackResult::DeadLettered;
  detail::throw_malformed(Op::QUEUE_NACK);
}

Request queue_touch(std::string_view name, uint64_t id, int64_t visibility_ms) {
  return {Op::QUEUE_TOUCH, BodyWriter().str(name).u64(id).i64(visibility_ms).take()};
}

}  // namespace depot::req
