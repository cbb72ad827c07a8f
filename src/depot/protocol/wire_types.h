// Values that travel in request and reply fields and that both the manager's objects and the
// clients name: one definition each, so the two sides cannot drift (docs/protocol.md).
#pragma once
#include <cstdint>
#include <string>

namespace depot {

// One entry of a LIST reply: str name, str type, u64 size, str state.
struct ObjectInfo {
  std::string name;
  std::string type;
  uint64_t size = 0;
  std::string state;
};

// SUBSCRIBE's u8 overflow: what the manager does when a subscriber reads slower than
// messages are published and its buffer there is full (the client bounds its local buffer
// the same way).
enum class Overflow : uint8_t {
  DropOldest = 0,  // make room by dropping the oldest buffered message
  DropNewest = 1,  // drop the new message
  Disconnect = 2,  // close the slow subscriber's connection (it reconnects and resubscribes)
};

// QUEUE_NACK's reply u8.
enum class NackResult : uint8_t {
  Requeued = 1,      // back at the head of the queue (or delayed)
  DeadLettered = 2,  // delivered max_deliveries times: moved to the dead-letter queue
  NotHeld = 3,       // already acked, expired or given back with its session (NOT_FOUND)
};

}  // namespace depot
