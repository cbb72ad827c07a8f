// The journal: a record of every change to the durable objects (queues, variables, counters
// and the token counter), in the order the manager made it, so that replaying the records
// rebuilds the same state (docs/durability.md). The objects write records as they change;
// src/depot/store/ puts them in files, makes them durable and, at start-up, feeds them back
// through Registry::restore. A snapshot is the same records, describing the state at once.
//
// A record on disk and on a replication stream:
//   u32 length   bytes after the checksum: 1 + payload
//   u32 crc32c   CRC-32C (Castagnoli) of the type byte and the payload
//   u8  type     Rec
//   payload      fields as protocol's FieldWriter writes them (little-endian, str = u32 + bytes)
//
// Times that outlive the process (a delayed item's release, a dedup id's expiry) are written
// as nanoseconds of the wall clock (Registry::to_wall), read back with Registry::from_wall.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "depot/protocol/frame.h"

namespace depot {

enum class Rec : uint8_t {
  TOKENS = 1,  // u64 high: no token, id or version at or above it has been handed out
  DELETE = 2,  // str name: the object is gone
  // Queues (queue.cpp writes and reads every one of these).
  Q_CREATE = 10,       // str name, u64 maxsize
  Q_CONFIG = 11,       // str name, u64 visibility_ms, u32 max_deliveries, u64 dedup_window_ms,
                       // str dead_letter
  Q_PUSH = 12,         // str name, i32 priority, str item: a fresh item at its priority's tail
  Q_POP = 13,          // str name, u32 n: the n head items were taken for good
  Q_RESERVE = 14,      // str name, u32 n, n x u64 id: the n head items are reserved, in order
  Q_RESERVE_NEW = 15,  // str name, u64 id, i32 priority, u32 deliveries, str item: reserved
                       // without entering the queue (a put handed to a parked reserve)
  Q_ACK = 16,          // str name, u32 n, n x u64 id
  Q_RETURN = 17,       // str name, u64 id, i64 until (0: ready now), u8 at_head: a reservation
                       // given back
  Q_DEAD = 18,         // str name, u64 id, str dead_letter: a reservation moved to the tail of
                       // the dead-letter queue's given-back items
  Q_DELAY = 19,        // str name, i32 priority, u32 deliveries, i64 until, str item
  Q_RELEASE = 20,      // str name, u32 n: the n first delayed items are ready
  Q_DEDUP = 21,        // str name, str dedup_id, i64 until
  Q_RETURNED = 22,     // str name, i32 priority, u32 deliveries, str item: snapshots only
  Q_ITEMS = 23,        // str name, i32 priority, u32 n, n x str item: fresh items, snapshots
  // Variables and counters (variable.cpp).
  V_SET = 30,     // str name, u64 version, str value
  V_DELETE = 31,  // str name, u64 version
  C_SET = 32,     // str name, i64 value
  // Leases (lease.cpp).
  L_HOLD = 40,    // str name, u32 grace_ms, u32 fence_ms, u16 n, n x str pattern: held (again)
  L_EXPIRE = 41,  // str name: its grace passed; what it matches is being deleted
};

// Bytes of a record's frame before its type byte.
constexpr size_t kRecordHeader = 8;

class Journal {
 public:
  // One record being written: its fields follow through the FieldWriter calls, and it is
  // framed (length, checksum) when the object goes out of scope, at the end of the statement:
  //   journal.record(Rec::Q_POP).str(name).u32(n);
  class Record : public proto::FieldWriter<Record> {
   public:
    Record(Journal& j, Rec type);
    ~Record();
    Record(const Record&) = delete;
    Record& operator=(const Record&) = delete;
    std::string& out() { return j_.buf_; }

   private:
    Journal& j_;
    size_t start_;
  };
  Record record(Rec type) { return Record(*this, type); }

  // Framed records not yet taken. The store takes them at the end of each pass of the loop.
  std::string& pending() { return buf_; }
  bool empty() const { return buf_.empty(); }
  // Position of the end of the last record in the whole log: bytes ever written to it.
  uint64_t position() const { return base_ + buf_.size(); }
  // The store has taken the pending bytes (written them out): position() stays.
  void taken() {
    base_ += buf_.size();
    buf_.clear();
  }
  void set_position(uint64_t p) {
    base_ = p;
    buf_.clear();
  }
  uint64_t records() const { return records_; }
  // Called when pending() passes `bytes` (a snapshot written in pieces), else never.
  void spill_at(size_t bytes, std::function<void(std::string&)> spill) {
    spill_bytes_ = bytes;
    spill_ = std::move(spill);
  }

 private:
  std::string buf_;
  uint64_t base_ = 0;
  uint64_t records_ = 0;
  size_t spill_bytes_ = SIZE_MAX;
  std::function<void(std::string&)> spill_;
};

// One record read back: false when `bytes` (header at bytes[0]) does not start with a whole,
// intact record; `size` is then what a whole one would need (0 when the header is torn).
struct RecordView {
  Rec type;
  std::string_view payload;
  size_t size = 0;  // frame bytes, header included
};
enum class ReadRecord { OK, TORN, CORRUPT };
ReadRecord read_record(std::string_view bytes, RecordView& out);

// CRC-32C (Castagnoli) of the bytes.
uint32_t crc32_of(std::string_view bytes);

}  // namespace depot
