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

// CallOptions for a wait that may be sent again after a reconnect: `encode(timeout_ms)`
// rebuilds its body with the time it has left.
inline CallOptions wait_options(Timeout t, std::function<std::string(int64_t)> encode) {
  t = normalize(t);
  CallOptions o;
  if (t) o.deadline = std::chrono::steady_clock::now() + *t;
  auto deadline = o.deadline;
  o.rebuild = [encode = std::move(encode), deadline](std::chrono::steady_clock::time_point now) {
    if (!deadline) return encode(proto::kWaitForever);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - now).count();
    return encode(left > 0 ? left : 0);
  };
  return o;
}

// Sends a wait: re-sendable unless it may not wait at all.
inline Reply call_wait(Client& c, proto::Op op, Timeout t,
                       const std::function<std::string(int64_t)>& encode) {
  const int64_t ms = wire_ms(t);
  if (ms == 0) return c.call(op, encode(0));
  return c.call(op, encode(ms), wait_options(t, encode));
}

// Throws the reply's status as its exception type, with the manager's message.
[[noreturn]] inline void throw_reply(const Reply& r, bool count_tail = false) {
  proto::Reader rd(r.body);
  std::string msg(rd.str());
  size_t accepted = count_tail ? rd.u32() : 0;
  if (!rd.ok()) msg = std::string(r.body);
  throw_status(r.status, msg, accepted);
}

}  // namespace depot::detail
