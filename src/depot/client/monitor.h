// Monitor: every request a manager serves, as it serves them, like Redis's MONITOR
// (docs/protocol.md, "MONITOR (0x07)"): op, object name, sizes, status, session and user;
// never a payload. Needs admin permission on every name.
//
//   depot::Monitor mon(client);
//   while (auto r = mon.next()) print(*r);
//
// The manager records at most `max_per_second` requests a second for a monitor (10,000
// unless asked otherwise; proto::kMonitorEveryRequest for all) and counts the rest: next()
// returns a Skipped record saying how many. It holds at most `buffer_bytes` of records for
// a monitor that does not keep up and drops the rest, counted: next() then returns a Dropped
// record saying how many (so does a full local buffer). A monitor never slows the manager.
#pragma once
#include <cstdint>
#include <optional>

#include "depot/client/monitor_requests.h"
#include "depot/client/subscription.h"

namespace depot {

class Client;

struct MonitorOptions {
  uint32_t buffer_bytes = 0;          // held by the manager for this monitor: 0 = 1 MiB
  uint32_t max_per_second = 0;        // requests recorded a second: 0 = 10,000
  uint32_t local_records = 1u << 16;  // held here until next() takes them
};

class Monitor {
 public:
  explicit Monitor(Client& client, MonitorOptions options = {});
  ~Monitor() = default;  // stops (the subscription's end)
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // The next record; nullopt when the timeout passes first (or after stop()). Throws
  // ProtocolError for a record it cannot read.
  std::optional<MonitorRecord> next(Timeout timeout = std::nullopt);
  // Records lost so far (the manager's drops reported so far and the local ones).
  uint64_t dropped() const { return reported_local_ + manager_dropped_; }
  // Requests the manager did not record for this monitor (over max_per_second), so far.
  uint64_t skipped() const { return skipped_; }
  void stop() { sub_.unsubscribe(); }

 private:
  RawSubscription sub_;
  uint64_t reported_local_ = 0;
  uint64_t manager_dropped_ = 0;
  uint64_t skipped_ = 0;
};

}  // namespace depot
