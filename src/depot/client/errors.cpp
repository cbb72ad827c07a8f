#include "depot/client/errors.h"

#include "depot/client/reply_parse.h"

namespace depot {

void throw_status(Status s, const std::string& m, size_t accepted) {
  switch (s) {
    case Status::TIMEOUT:
      throw TimeoutError(s, m);
    case Status::EMPTY:
      throw EmptyError(s, m);
    case Status::FULL:
      throw FullError(s, m, accepted);
    case Status::NOT_FOUND:
      throw NotFoundError(s, m);
    case Status::WRONG_TYPE:
      throw WrongTypeError(s, m);
    case Status::BAD_REQUEST:
    case Status::TOO_LARGE:
      throw ProtocolError(s, m);
    case Status::AUTH_FAILED:
      throw AuthError(s, m);
    case Status::SHUTTING_DOWN:
      throw ConnectionError(s, m);
    case Status::LIMIT:
      throw LimitError(s, m);
    case Status::NOT_OWNER:
      throw NotOwnerError(s, m);
    case Status::BROKEN:
      throw BrokenError(s, m);
    case Status::INTERNAL:
      throw InternalError(s, m);
    case Status::UNAVAILABLE:
      throw UnavailableError(s, m);
    case Status::DENIED:
      throw DeniedError(s, m);
    case Status::OK:
    case Status::PARKED:
      break;
  }
  throw InternalError(Status::INTERNAL,
                      "unexpected status " + std::string(status_name(s)) + ": " + m);
}

namespace req::detail {
void throw_malformed(proto::Op op) {
  throw ProtocolError("malformed " + std::string(proto::op_name(static_cast<uint8_t>(op))) +
                      " reply from the manager: it does not have the layout of docs/protocol.md "
                      "(a manager of another depot version?)");
}
}  // namespace req::detail

}  // namespace depot
