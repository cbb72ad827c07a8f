// RawSubscription: a subscription to a topic or glob pattern (`sensors.*`), untyped.
// Topic<T>::subscribe (client/coord_typed.h) wraps it with a codec.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "depot/client/types.h"

namespace depot {

class Client;
struct SubState;

// The manager pushes matching messages; next() takes them in order. Messages published
// while the client is disconnected are not kept for it (the subscription is renewed on the
// new connection). Thread-safe, but one thread at a time should call next().
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
  friend class Monitor;  // client/monitor.h: the same machinery with MONITOR instead
  struct MonitorTag {};
  RawSubscription(Client& client, MonitorTag, uint32_t buffer_bytes, uint32_t per_second,
                  uint32_t local_records);
  void subscribe_on_current();
  Client* client_;
  std::shared_ptr<SubState> st_;
};

}  // namespace depot
