// Pub/sub: topics, subscriptions with bounded buffers, and glob patterns.
//
// - publish(topic, payload) offers the message to every subscription whose pattern matches
//   (an exact name, or a glob such as "sensors.*" matched with fnmatch) and returns how many
//   took it. Messages of one publisher reach each subscriber in publish order (one thread
//   serves everything).
// - Each subscription has a bounded buffer in the manager (`limit` messages, and at most
//   max_buffer_bytes bytes, the manager's --max-subscription-bytes). The manager
//   moves buffered messages to the subscriber's connection as fast as it reads them. When
//   the buffer is full the subscription's policy (Overflow) decides: DropOldest makes room by
//   dropping the oldest buffered message, DropNewest drops the new one, Disconnect closes
//   the slow subscriber's connection. Drops are counted and sent with every message, so the
//   subscriber sees them. A slow reader therefore never stalls the publisher or grows the
//   manager's memory past its bound.
// - A subscription belongs to its session; unsubscribe or the session's end removes it and
//   its buffer. Messages are not kept for subscribers that are not connected.
// Topics are a namespace of their own: a topic may share its name with a queue.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "depot/queue/registry.h"

namespace depot {

// Implemented by whoever delivers messages (the manager's session).
class SubscriberSink {
 public:
  virtual ~SubscriberSink() = default;
  virtual void messages_pending() = 0;  // something was buffered: deliver when you can
  virtual void overflowed() = 0;        // Overflow::Disconnect: close the subscriber
};

struct Subscription {
  uint64_t id = 0;
  SessionId session = 0;
  std::string pattern;
  bool glob = false;
  uint32_t limit = 0;
  Overflow policy = Overflow::DropOldest;
  SubscriberSink* sink = nullptr;
  struct Message {
    std::string topic;
    std::string payload;
  };
  std::deque<Message> buffer;
  size_t buffered_bytes = 0;
  // Registry::acting_owner of its SUBSCRIBE: the user whose limit its buffer counts against.
  uint32_t owner = 0;
  uint64_t dropped = 0;
  uint64_t delivered = 0;
};

class PubSub {
 public:
  // Buffers are bounded by count; this caps what one subscriber may ask for.
  static constexpr uint32_t kMaxBuffer = 1'000'000;
  static constexpr uint32_t kDefaultBuffer = 1024;

  explicit PubSub(Registry& registry) : registry_(registry) {}
  // Returns the subscription id, or 0 with `message` (BAD_REQUEST) when the pattern or limit
  // is invalid.
  uint64_t subscribe(SessionId session, std::string_view pattern, uint32_t limit, Overflow policy,
                     SubscriberSink* sink, std::string& message);
  // NOT_FOUND unless the session has that subscription.
  Status unsubscribe(SessionId session, uint64_t id, std::string& message);
  // Offers the message to every matching subscription; returns how many buffered it.
  uint32_t publish(std::string_view topic, std::string_view payload);
  void drop_session(SessionId session);

  Subscription* find(uint64_t id);
  const Subscription* find(uint64_t id) const;
  // Takes the oldest buffered message of a subscription (false when none).
  bool pop(Subscription& sub, Subscription::Message& out);
  size_t subscription_count() const { return subs_.size(); }
  // Bytes (topic + payload) one subscription may buffer, whatever message count it asked
  // for: past it, its slow-subscriber policy applies as when the count is reached.
  void set_max_buffer_bytes(uint64_t n) { max_buffer_bytes_ = n; }
  uint64_t max_buffer_bytes() const { return max_buffer_bytes_; }
  size_t buffered_bytes() const;
  // Whether `owner` may hold `bytes` more (its max-queue-bytes, which buffered messages count
  // against as queued items do: Registry::charge). Unset: every owner may.
  std::function<bool(uint32_t owner, uint64_t bytes)> owner_has_room;
  // One entry per exact topic and per pattern with subscribers.
  std::vector<ObjectInfo> list() const;
  // Since start-up (the admin endpoint's /metrics): messages published, messages handed to
  // subscribers' connections, messages dropped by slow-subscriber policies.
  struct Totals {
    uint64_t published = 0, delivered = 0, dropped = 0;
  };
  const Totals& totals() const { return totals_; }

 private:
  void remove(Subscription* s);
  bool offer(Subscription& s, std::string_view topic, std::string_view payload);

  Registry& registry_;
  std::unordered_map<uint64_t, std::unique_ptr<Subscription>> subs_;
  std::unordered_map<std::string, std::vector<Subscription*>, StringHash, std::equal_to<>> exact_;
  std::vector<Subscription*> globs_;
  uint64_t max_buffer_bytes_ = UINT64_MAX;
  Totals totals_;
};

}  // namespace depot
