#include "depot/client/remote_queue.h"

#include "depot/client/call_util.h"
#include "depot/protocol/messages.h"

namespace depot {

using detail::throw_reply;
using detail::wire_ms;

namespace {

int64_t visibility_ms(std::optional<std::chrono::milliseconds> v) {
  return v ? std::max<int64_t>(v->count(), 1) : -1;
}

// Sends a wait for items (GET, GET_MANY, RESERVE): its reply, or nullopt when the queue was
// empty and the caller did not wait. TimeoutError when a wait ran out (also a re-sent wait
// whose time had run out, which the manager answers EMPTY).
std::optional<Reply> wait_for_items(Client& c, const std::string& name, Timeout timeout,
                                    const detail::WaitEncoder& encode) {
  Reply r = detail::call_wait(c, timeout, encode);
  if (r.status == Status::EMPTY) {
    if (wire_ms(timeout) == 0) return std::nullopt;
    throw TimeoutError(Status::TIMEOUT, msg::stayed_empty(name));
  }
  if (r.status != Status::OK) throw_reply(r);
  return r;
}

}  // namespace

void RawQueue::declare(const QueueOptions& options) {
  client_->request(req::queue_declare(name_, options.maxsize));
}

void RawQueue::put(std::string_view item, Timeout timeout) {
  Reply r = client_->call(req::queue_put(name_, wire_ms(timeout), item));
  if (r.status != Status::OK) throw_reply(r);
}

bool RawQueue::try_put(std::string_view item) {
  Reply r = client_->call(req::queue_put(name_, proto::kNoWait, item));
  if (r.status == Status::FULL) return false;
  if (r.status != Status::OK) throw_reply(r);
  return true;
}

std::string RawQueue::get(Timeout timeout) {
  Reply r =
      detail::call_wait(*client_, timeout, [this](int64_t t) { return req::queue_get(name_, t); });
  if (r.status == Status::EMPTY && wire_ms(timeout) != 0)  // a re-sent wait whose time ran out
    throw TimeoutError(Status::TIMEOUT, msg::stayed_empty(name_));
  if (r.status != Status::OK) throw_reply(r);  // EMPTY: EmptyError with the manager's message
  return req::parse_queue_get(r.body);
}

std::optional<std::string> RawQueue::try_get() {
  try {
    return get(std::chrono::nanoseconds(0));
  } catch (const EmptyError&) {
    return std::nullopt;
  }
}

size_t RawQueue::put_many(const std::vector<std::string>& items, Timeout timeout) {
  Reply r = client_->call(req::queue_put_many(name_, wire_ms(timeout), items));
  if (r.status == Status::FULL)
    throw FullError(r.status, std::string(proto::error_message(r.body)),
                    req::parse_put_many_full(r.body));
  if (r.status != Status::OK) throw_reply(r);
  return req::parse_queue_put_many(r.body);
}

std::vector<std::string> RawQueue::get_many(size_t max, Timeout timeout) {
  if (max == 0) return {};
  const auto n = static_cast<uint32_t>(std::min<size_t>(max, UINT32_MAX));
  auto r = wait_for_items(*client_, name_, timeout,
                          [this, n](int64_t t) { return req::queue_get_many(name_, n, t); });
  if (!r) return {};
  return req::parse_queue_get_many(r->body);
}

void RawQueue::configure(const QueueConfig& c) {
  client_->request(req::queue_configure(name_, c));
}

bool RawQueue::put(std::string_view item, const PutOptions& o, Timeout timeout) {
  Reply r = client_->call(req::queue_put_ex(name_, wire_ms(timeout), o, item));
  if (r.status != Status::OK) throw_reply(r);
  return req::parse_queue_put_ex(r.body);
}

std::vector<RawReservation> RawQueue::reserve_many(size_t max, Timeout timeout,
                                                   std::optional<std::chrono::milliseconds> vis) {
  if (max == 0) return {};
  const auto n = static_cast<uint32_t>(std::min<size_t>(max, UINT32_MAX));
  const int64_t v = visibility_ms(vis);
  auto r = wait_for_items(*client_, name_, timeout,
                          [this, n, v](int64_t t) { return req::queue_reserve(name_, n, t, v); });
  if (!r) return {};
  return req::parse_queue_reserve(r->body);
}

RawReservation RawQueue::reserve(Timeout timeout, std::optional<std::chrono::milliseconds> vis) {
  auto v = reserve_many(1, timeout, vis);
  if (v.empty()) throw EmptyError(Status::EMPTY, msg::is_empty(name_));
  return std::move(v.front());
}

std::optional<RawReservation> RawQueue::try_reserve(std::optional<std::chrono::milliseconds> vis) {
  auto v = reserve_many(1, std::chrono::nanoseconds(0), vis);
  if (v.empty()) return std::nullopt;
  return std::move(v.front());
}

size_t RawQueue::ack_many(const std::vector<uint64_t>& ids) {
  return req::parse_queue_ack(client_->request(req::queue_ack(name_, ids)));
}

bool RawQueue::ack(uint64_t id) {
  return ack_many({id}) == 1;
}

NackResult RawQueue::nack(uint64_t id, std::chrono::milliseconds delay) {
  Reply r = client_->call(
      req::queue_nack(name_, id, static_cast<uint64_t>(std::max<int64_t>(delay.count(), 0))));
  if (r.status == Status::NOT_FOUND) return NackResult::NotHeld;
  if (r.status != Status::OK) throw_reply(r);
  return req::parse_queue_nack(r.body);
}

bool RawQueue::touch(uint64_t id, std::optional<std::chrono::milliseconds> vis) {
  Reply r = client_->call(req::queue_touch(name_, id, visibility_ms(vis)));
  if (r.status == Status::NOT_FOUND) return false;
  if (r.status != Status::OK) throw_reply(r);
  return true;
}

QueueSize RawQueue::size() {
  return req::parse_queue_size(client_->request(req::queue_size(name_)));
}

uint64_t RawQueue::destroy() {
  return req::parse_queue_delete(client_->request(req::queue_delete(name_)));
}

}  // namespace depot
