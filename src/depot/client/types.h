// Small types the client's calls take and return (client/client.h, the request codec in
// client/*_requests.h, the handles).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "depot/protocol/frame.h"
#include "depot/protocol/wire_types.h"

namespace depot {

using Timeout = std::optional<std::chrono::nanoseconds>;  // nullopt = wait forever

// One request: its opcode and body, as encoded by client/*_requests.h.
struct Request {
  proto::Op op = proto::Op::PING;
  std::string body;
};

// A raw reply: status and body as the manager sent them.
struct Reply {
  Status status = Status::OK;
  std::string body;
  // The connection that carried it, numbered as Client::connections() counts them (1 = the
  // first): what a lock granted in this reply belongs to.
  uint64_t connection = 0;
};

// Describes how a request may be retried after a reconnect. A request is re-sent only when
// it parked without effect (a get that delivered nothing); `rebuild` re-encodes its body with
// the time left.
struct CallOptions {
  // When the manager will have answered by (its own timeout); nullopt = waits forever. It
  // also ends the wait to reconnect, if the connection is down (else reconnect_give_up does).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Non-null for reissuable waits: returns the body for a re-send at `now`.
  std::function<std::string(std::chrono::steady_clock::time_point now)> rebuild;
};

// A lease (Client::hold_lease, docs/protocol.md "LEASE_HOLD"): what it owns and how long it
// outlives the session that holds it.
struct LeaseTerms {
  // Object names, or PREFIX* for every name that starts with PREFIX; 1 to 5 of them.
  std::vector<std::string> patterns;
  // After the holder's session ends, how long the lease waits for a hold again before it
  // deletes what its patterns match.
  std::chrono::milliseconds grace{30'000};
  // After that, how long the names stay fenced: creating one gets NotFoundError.
  std::chrono::milliseconds fence{3'600'000};
};
// What a hold found.
enum class LeaseFound : uint8_t {
  CREATED = 0,   // no such lease: made now
  HELD = 1,      // this session held it already
  ORPHANED = 2,  // its session had ended, within the grace: nothing was deleted
  EXPIRED = 3,   // the grace had passed: what it owned was deleted
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

}  // namespace depot
