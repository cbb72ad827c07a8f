// Exceptions thrown by the client library. Every one derives from depot::Error and carries
// a message that names the object and what to do. Errors the manager reported also carry its
// Status; errors the client found itself (a value that does not decode, a lost connection)
// have none.
#pragma once
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "depot/protocol/status.h"

namespace depot {

class Error : public std::runtime_error {
 public:
  // An error the manager reported with status `status`.
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  // An error found by the client itself.
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  // The manager's status, or nullopt when the error did not come from the manager.
  std::optional<Status> status() const { return status_; }

 private:
  std::optional<Status> status_;
};

// A blocking call's timeout passed (get on a queue that stayed empty, ...).
class TimeoutError : public Error {
  using Error::Error;
};
// A non-blocking get found the queue empty.
class EmptyError : public Error {
  using Error::Error;
};
// A put found the queue full (at once, or until its timeout). accepted() items of a
// put_many were enqueued, in order, before it gave up.
class FullError : public Error {
 public:
  FullError(Status s, const std::string& m, size_t accepted = 0)
      : Error(s, m), accepted_(accepted) {}
  size_t accepted() const { return accepted_; }

 private:
  size_t accepted_;
};
class NotFoundError : public Error {
  using Error::Error;
};
class WrongTypeError : public Error {
  using Error::Error;
};
// The authkey was refused, or the manager could not prove it knows it.
class AuthError : public Error {
  using Error::Error;
};
// The request or a frame was malformed, too large, or not understood.
class ProtocolError : public Error {
  using Error::Error;
};
// The manager cannot be reached, the connection was lost with this request in flight, or
// the manager is shutting down.
class ConnectionError : public Error {
  using Error::Error;
};
// A configured limit of the manager was hit (connections, parked requests, objects).
class LimitError : public Error {
  using Error::Error;
};
// Release of a lock or semaphore lease that this client does not hold (any more: its lease
// may have expired, or its session ended and the lock passed on).
class NotOwnerError : public Error {
  using Error::Error;
};
// A barrier was broken: a party timed out or disconnected, or it was reset.
class BrokenError : public Error {
  using Error::Error;
};
// The manager could not make a write durable (its data directory is full or failing); the
// write did not take effect. Reads still work; retry the write later.
class UnavailableError : public Error {
  using Error::Error;
};
// The session's user lacks the permission the request needs on an object it names (the
// manager's ACL file, docs/security.md); the message names the user, the operation and the
// object. Nothing was done.
class DeniedError : public Error {
  using Error::Error;
};
// A value could not be decoded as the handle's type.
class CodecError : public Error {
  using Error::Error;
};
// The manager reported a bug of its own.
class InternalError : public Error {
  using Error::Error;
};

// Throws the exception type for `s` (which must not be OK) with `message`.
[[noreturn]] void throw_status(Status s, const std::string& message, size_t accepted = 0);

}  // namespace depot
