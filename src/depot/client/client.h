// depot::Client: one authenticated connection to a manager, shared by any number of threads.
//
//   depot::Client c("127.0.0.1:5000", "abc");   // connects and authenticates, or throws
//   auto tasks = c.queue<int>("tasks");          // see client/remote_queue.h
//
// Thread safety: every method may be called from several threads at once. Requests are
// pipelined on the one connection and matched to replies by id; while a thread waits, it
// reads replies for everyone (no extra I/O thread, so a lone caller's round trip costs one
// wake-up, not two).
//
// Connection loss: the client reconnects with capped exponential backoff and authenticates
// again. A request in flight when the connection dropped fails with ConnectionError, except
// a parked wait (a get that had not delivered) which is sent again with its remaining
// timeout, so a worker blocked in get() survives a manager restart.
//
// Throws: ConnectionError (cannot connect, or lost and not recovered within
// reconnect_give_up), AuthError (wrong authkey), and per-call errors (client/errors.h).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "depot/client/errors.h"
#include "depot/protocol/frame.h"

namespace depot {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};  // per connection attempt
  bool reconnect = true;
  std::chrono::milliseconds reconnect_initial_backoff{50};
  std::chrono::milliseconds reconnect_max_backoff{2'000};
  // How long one call keeps trying to reconnect before it throws ConnectionError.
  std::chrono::milliseconds reconnect_give_up{60'000};
  // A reply not seen this long after a request's own timeout means the connection is dead.
  std::chrono::milliseconds reply_grace{10'000};
  // A waiting caller polls the socket this long (yielding between polls) before sleeping in
  // poll(2): a reply that comes back within it costs no wake-up, which on this class of VM
  // is worth more than the round trip itself. 0 sleeps at once.
  std::chrono::microseconds spin{50};
};

struct ObjectInfo {
  std::string name;
  std::string type;
  uint64_t size = 0;
  std::string state;
};

// A raw reply: status and body as the manager sent them.
struct Reply {
  Status status = Status::OK;
  std::string body;
};

// Describes how a request may be retried after a reconnect. A request is re-sent only when
// it parked without effect (a get that delivered nothing); `rebuild` re-encodes its body with
// the time left.
struct CallOptions {
  // When the manager will have answered by (its own timeout); nullopt = waits forever.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Non-null for reissuable waits: returns the body for a re-send at `now`.
  std::function<std::string(std::chrono::steady_clock::time_point now)> rebuild;
};

template <class T>
class RemoteQueue;
struct QueueOptions;
class Lock;
class Semaphore;
class Event;
class Barrier;
class Counter;
template <class T>
class Variable;
template <class T>
class Topic;
class RawSubscription;
using Timeout = std::optional<std::chrono::nanoseconds>;  // nullopt = wait forever

// What the manager does when a subscriber reads slower than messages are published and its
// buffer there is full (the same bound applies to the client's local buffer).
enum class Overflow : uint8_t {
  DropOldest = 0,  // make room by dropping the oldest buffered message
  DropNewest = 1,  // drop the new message
  Disconnect = 2,  // close the slow subscriber's connection (it reconnects and resubscribes)
};

struct SubscribeOptions {
  uint32_t buffer = 1024;  // messages held for this subscriber (manager side, and locally)
  Overflow overflow = Overflow::DropOldest;
};

// A message as it arrived: its topic (useful with patterns), payload, and how many messages
// this subscription has lost so far to a full buffer.
struct RawMessage {
  std::string topic;
  std::string payload;
  uint64_t dropped = 0;
};

class Client {
 public:
  Client(std::string address, std::string authkey, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A handle on a queue; no round trip (the manager creates queues on first use).
  template <class T>
  RemoteQueue<T> queue(std::string name);
  // Declares the queue with options (one round trip); throws ProtocolError if it exists
  // with a different maxsize.
  template <class T>
  RemoteQueue<T> queue(std::string name, const QueueOptions& options);

  // Coordination objects (client/coord.h): no round trip until used.
  Lock lock(std::string name);
  Lock rlock(std::string name);  // reentrant
  Semaphore semaphore(std::string name, uint32_t max_leases);
  Event event(std::string name);
  Barrier barrier(std::string name, uint32_t parties);
  Counter counter(std::string name);
  template <class T>
  Variable<T> variable(std::string name);
  template <class T>
  Topic<T> topic(std::string name);
  // Deletes any object by name (its parked requests get NotFoundError); returns its type.
  std::string remove(std::string_view name);

  // Round trip to the manager; returns the time it took.
  std::chrono::nanoseconds ping();
  // The manager's counters as a JSON object.
  std::string stats();
  // Every object with its type, size and state.
  std::vector<ObjectInfo> list();

  // Sends one request and waits for its reply; returns it whatever its status. Throws
  // ConnectionError only.
  Reply call(proto::Op op, std::string_view body, const CallOptions& options = {});
  // Sends several requests in one write and waits for all their replies, in order: one round
  // trip for the lot. Not re-sent after a reconnect (throws ConnectionError, and some may
  // have taken effect).
  // options.deadline bounds the reconnect attempts, as for a call's own timeout.
  std::vector<Reply> call_many(const std::vector<std::pair<proto::Op, std::string>>& requests,
                               const CallOptions& options = {});
  // As call(), but throws the status' exception unless OK; returns the body.
  std::string request(proto::Op op, std::string_view body, const CallOptions& options = {});

  const std::string& address() const;
  // Connections made so far (1 + reconnects).
  uint64_t connections() const;
  // Whether a connection is up now (false after a loss, until a call reconnects).
  bool connected() const;

 private:
  friend class RawSubscription;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A subscription to a topic or glob pattern (`sensors.*`): the manager pushes matching
// messages; next() takes them in order. Messages published while the client is disconnected
// are not kept for it (the subscription is renewed on the new connection). Thread-safe,
// but one thread at a time should call next(). Topic<T>::subscribe wraps it with a codec.
class RawSubscription {
 public:
  RawSubscription(Client& client, std::string pattern, SubscribeOptions options = {});
  ~RawSubscription();  // unsubscribes
  RawSubscription(const RawSubscription&) = delete;
  RawSubscription& operator=(const RawSubscription&) = delete;

  // The next message; nullopt when the timeout passes first (or after unsubscribe()).
  std::optional<RawMessage> next(Timeout timeout = std::nullopt);
  // Messages lost so far to a full buffer (the manager's and the local one).
  uint64_t dropped() const;
  const std::string& pattern() const;
  void unsubscribe();

 private:
  void subscribe_on_current();
  Client* client_;
  std::shared_ptr<struct SubState> st_;
};

// Body encoding helper for requests: fields in order, as in docs/protocol.md.
class BodyWriter {
 public:
  BodyWriter& u8(uint8_t v) {
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  BodyWriter& u32(uint32_t v) {
    char b[4];
    proto::store_u32(b, v);
    s_.append(b, 4);
    return *this;
  }
  BodyWriter& u64(uint64_t v) {
    char b[8];
    proto::store_u64(b, v);
    s_.append(b, 8);
    return *this;
  }
  BodyWriter& i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
  BodyWriter& str(std::string_view v) {
    u32(static_cast<uint32_t>(v.size()));
    s_.append(v);
    return *this;
  }
  std::string take() { return std::move(s_); }
  const std::string& view() const { return s_; }

 private:
  std::string s_;
};

}  // namespace depot

#include "depot/client/coord_typed.h"
#include "depot/client/remote_queue.h"

namespace depot {
template <class T>
Variable<T> Client::variable(std::string name) {
  return Variable<T>(*this, std::move(name));
}
template <class T>
Topic<T> Client::topic(std::string name) {
  return Topic<T>(*this, std::move(name));
}
}  // namespace depot
