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
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "depot/client/coord.h"
#include "depot/client/coord_typed.h"
#include "depot/client/errors.h"
#include "depot/client/remote_queue.h"
#include "depot/client/subscription.h"
#include "depot/client/types.h"

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

  // Sends one request (client/*_requests.h encode them) and waits for its reply; returns it
  // whatever its status. Throws ConnectionError only.
  Reply call(const Request& request, const CallOptions& options = {});
  Reply call(proto::Op op, std::string_view body, const CallOptions& options = {});
  // Sends several requests in one write and waits for all their replies, in order: one round
  // trip for the lot. Not re-sent after a reconnect (throws ConnectionError, and some may
  // have taken effect).
  // options.deadline bounds the reconnect attempts, as for a call's own timeout.
  std::vector<Reply> call_many(const std::vector<Request>& requests,
                               const CallOptions& options = {});
  // As call(), but throws the status' exception (client/errors.h) unless OK; returns the body.
  std::string request(const Request& request, const CallOptions& options = {});

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

template <class T>
RemoteQueue<T> Client::queue(std::string name) {
  return RemoteQueue<T>(*this, std::move(name));
}

template <class T>
RemoteQueue<T> Client::queue(std::string name, const QueueOptions& options) {
  RemoteQueue<T> q(*this, std::move(name));
  q.raw().declare(options);
  return q;
}

template <class T>
Variable<T> Client::variable(std::string name) {
  return Variable<T>(*this, std::move(name));
}

template <class T>
Topic<T> Client::topic(std::string name) {
  return Topic<T>(*this, std::move(name));
}

}  // namespace depot
