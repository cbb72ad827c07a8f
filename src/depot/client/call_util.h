// Internal to client/: turning timeouts into wire fields and re-sendable waits.
#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "depot/client/client.h"

namespace depot::detail {

// A timeout beyond a century is "forever": adding it to the clock would overflow, and
// nanoseconds::max() is a natural way to write "no limit".
inline Timeout normalize(Timeout t) {
  if (t && *t > std::chrono::hours(24 * 365 * 100)) return std::nullopt;
  return t;
}

// Wire timeout: -1 forever, 0 no wait, else milliseconds rounded up.
inline int64_t wire_ms(Timeout t) {
  t = normalize(t);
  if (!t) return proto::kWaitForever;
  if (t->count() <= 0) return 0;
  return (t->count() + 999'999) / 1'000'000;
}

// Encodes a wait with the wire timeout it has left (client/*_requests.h).
using WaitEncoder = std::function<Request(int64_t timeout_ms)>;

// CallOptions for a wait that may be sent again after a reconnect: `encode(timeout_ms)`
// rebuilds its request with the time it has left.
inline CallOptions wait_options(Timeout t, WaitEncoder encode) {
  t = normalize(t);
  CallOptions o;
  if (t) o.deadline = std::chrono::steady_clock::now() + *t;
  auto deadline = o.deadline;
  o.rebuild = [encode = std::move(encode), deadline](std::chrono::steady_clock::time_point now) {
    if (!deadline) return encode(proto::kWaitForever).body;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - now).count();
    return encode(left > 0 ? left : 0).body;
  };
  return o;
}

// Sends a wait: re-sendable unless it may not wait at all.
inline Reply call_wait(Client& c, Timeout t, const WaitEncoder& encode) {
  const int64_t ms = wire_ms(t);
  if (ms == 0) return c.call(encode(0));
  return c.call(encode(ms), wait_options(t, encode));
}

// Throws the reply's status as its exception type, with the manager's message.
[[noreturn]] inline void throw_reply(const Reply& r) {
  throw_status(r.status, std::string(proto::error_message(r.body)));
}

}  // namespace depot::detail
