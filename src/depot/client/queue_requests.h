// The queue opcodes' request bodies and reply bodies, opposite manager/queue_ops.cpp: the one
// place a client encodes these layouts (docs/protocol.md, "Queues" and "Reliable delivery").
// Encoders return a Request; parsers take an OK reply's body and throw ProtocolError when it
// does not have the documented layout. Timeouts are wire milliseconds (-1 forever, 0 no wait).
#pragma once
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "depot/client/types.h"

namespace depot {

struct QueueOptions {
  uint64_t maxsize = 0;  // 0 = unbounded
};

// Reliable delivery settings of a queue (RawQueue::configure), applied to reservations made
// from then on.
struct QueueConfig {
  std::chrono::milliseconds visibility{30'000};  // a reservation's deadline unless reserve() says
  uint32_t max_deliveries = 0;  // 0: redeliver forever; n: after n deliveries, dead-letter it
  std::chrono::milliseconds dedup_window{300'000};  // how long a dedup id is remembered
  std::string dead_letter;                          // empty: "<queue>.dead"
};

// Per-item options of a put.
struct PutOptions {
  int32_t priority = 0;                // lower first; FIFO within a priority
  std::chrono::milliseconds delay{0};  // not handed out before this passes
  std::string dedup_id;  // a second put with this id within the dedup window is not enqueued
};

// An item handed out by reserve(): ack(id) when done with it, or nack(id) to give it back.
struct RawReservation {
  uint64_t id = 0;
  uint32_t deliveries = 0;  // 1 the first time; more when a consumer died or nacked it
  std::string item;
};

struct QueueSize {
  uint64_t size = 0;
  uint64_t maxsize = 0;
  bool exists = false;
};

namespace req {

// QUEUE_DECLARE: str name, u64 maxsize -> empty.
Request queue_declare(std::string_view name, uint64_t maxsize);
// QUEUE_PUT: str name, i64 timeout_ms, str item -> empty.
Request queue_put(std::string_view name, int64_t timeout_ms, std::string_view item);
// QUEUE_GET: str name, i64 timeout_ms -> str item.
Request queue_get(std::string_view name, int64_t timeout_ms);
std::string parse_queue_get(std::string_view body);

// QUEUE_PUT_MANY: str name, i64 timeout_ms, u32 count, count x str item -> u32 accepted.
// Built item by item, so a caller can cut batches by size.
class QueuePutMany {
 public:
  QueuePutMany(std::string_view name, int64_t timeout_ms);
  void add(std::string_view item);
  uint32_t count() const { return count_; }
  size_t bytes() const { return w_.view().size(); }
  Request finish();

 private:
  proto::BodyWriter w_;
  size_t count_at_ = 0;
  uint32_t count_ = 0;
};
Request queue_put_many(std::string_view name, int64_t timeout_ms,
                       const std::vector<std::string>& items);
uint32_t parse_queue_put_many(std::string_view body);
// A FULL reply to QUEUE_PUT_MANY: str message, then u32 accepted.
uint32_t parse_put_many_full(std::string_view error_body);

// QUEUE_GET_MANY: str name, u32 max, i64 timeout_ms -> u32 count, count x str item.
Request queue_get_many(std::string_view name, uint32_t max, int64_t timeout_ms);
std::vector<std::string> parse_queue_get_many(std::string_view body);

// QUEUE_SIZE: str name -> u64 size, u64 maxsize, u8 exists.
Request queue_size(std::string_view name);
QueueSize parse_queue_size(std::string_view body);

// QUEUE_DELETE: str name -> u64 items dropped.
Request queue_delete(std::string_view name);
uint64_t parse_queue_delete(std::string_view body);

// QUEUE_CONFIGURE: str name, u64 visibility_ms, u32 max_deliveries, u64 dedup_window_ms,
// str dead_letter -> empty.
Request queue_configure(std::string_view name, const QueueConfig& config);

// QUEUE_PUT_EX: str name, i64 timeout_ms, i32 priority, u64 delay_ms, str dedup_id,
// str item -> u8 accepted (0: a duplicate of its dedup id).
Request queue_put_ex(std::string_view name, int64_t timeout_ms, const PutOptions& options,
                     std::string_view item);
bool parse_queue_put_ex(std::string_view body);

// QUEUE_RESERVE: str name, u32 max, i64 timeout_ms, i64 visibility_ms (-1: the queue's)
// -> u32 count, count x (u64 reservation_id, u32 deliveries, str item).
Request queue_reserve(std::string_view name, uint32_t max, int64_t timeout_ms,
                      int64_t visibility_ms);
std::vector<RawReservation> parse_queue_reserve(std::string_view body);

// QUEUE_ACK: str name, u32 count, count x u64 reservation_id -> u32 acked.
Request queue_ack(std::string_view name, std::span<const uint64_t> ids);
uint32_t parse_queue_ack(std::string_view body);

// QUEUE_NACK: str name, u64 reservation_id, u64 delay_ms -> u8 1 requeued / 2 dead-lettered.
Request queue_nack(std::string_view name, uint64_t id, uint64_t delay_ms);
NackResult parse_queue_nack(std::string_view body);

// QUEUE_TOUCH: str name, u64 reservation_id, i64 visibility_ms (-1: the queue's) -> empty.
Request queue_touch(std::string_view name, uint64_t id, int64_t visibility_ms);

}  // namespace req
}  // namespace depot
