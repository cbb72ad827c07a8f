// Status codes shared by the manager, the objects and the clients.
// Spelled as in docs/protocol.md; the numeric values are on the wire and never change.
#pragma once
#include <cstdint>
#include <string_view>

namespace depot {

enum class Status : uint8_t {
  OK = 0,
  TIMEOUT = 1,        // a blocking call's deadline passed
  EMPTY = 2,          // non-blocking get on an empty queue
  FULL = 3,           // put on a full queue that could not wait (or whose wait timed out)
  NOT_FOUND = 4,      // the named object does not exist (or was deleted while waiting)
  WRONG_TYPE = 5,     // the name belongs to an object of another type
  BAD_REQUEST = 6,    // malformed body, bad name, bad parameter, unknown opcode
  TOO_LARGE = 7,      // a frame above the manager's --max-frame
  AUTH_FAILED = 8,    // handshake failed; the connection is closed
  SHUTTING_DOWN = 9,  // the manager is stopping
  INTERNAL = 10,      // a bug in the manager; the message says where
  LIMIT = 11,         // a configured limit was hit (connections, waiters, ...)
  NOT_OWNER = 12,     // release of a lock or lease this session does not hold
  BROKEN = 13,        // a barrier was broken by a party that left or timed out
  UNAVAILABLE = 14,   // the manager cannot make a write durable now (its disk is full or
                      // failing); reads still work and writes work again once it can
  DENIED = 15,        // the session's user lacks the permission (ACL file) on the object
  PARKED = 255,       // internal only: the operation parked a waiter; never sent
};

constexpr std::string_view status_name(Status s) {
  switch (s) {
    case Status::OK:
      return "OK";
    case Status::TIMEOUT:
      return "TIMEOUT";
    case Status::EMPTY:
      return "EMPTY";
    case Status::FULL:
      return "FULL";
    case Status::NOT_FOUND:
      return "NOT_FOUND";
    case Status::WRONG_TYPE:
      return "WRONG_TYPE";
    case Status::BAD_REQUEST:
      return "BAD_REQUEST";
    case Status::TOO_LARGE:
      return "TOO_LARGE";
    case Status::AUTH_FAILED:
      return "AUTH_FAILED";
    case Status::SHUTTING_DOWN:
      return "SHUTTING_DOWN";
    case Status::INTERNAL:
      return "INTERNAL";
    case Status::LIMIT:
      return "LIMIT";
    case Status::NOT_OWNER:
      return "NOT_OWNER";
    case Status::BROKEN:
      return "BROKEN";
    case Status::UNAVAILABLE:
      return "UNAVAILABLE";
    case Status::DENIED:
      return "DENIED";
    case Status::PARKED:
      return "PARKED";
  }
  return "UNKNOWN";
}

constexpr bool status_known(uint8_t v) {
  return v <= static_cast<uint8_t>(Status::DENIED);
}

}  // namespace depot
