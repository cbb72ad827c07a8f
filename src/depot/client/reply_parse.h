// Internal to the request codec (client/*_requests.cpp): reading a reply body whole.
#pragma once
#include <string_view>

#include "depot/protocol/frame.h"

namespace depot::req::detail {

// ProtocolError: the reply to `op` did not have the layout docs/protocol.md gives.
[[noreturn]] void throw_malformed(proto::Op op);

// Reads a reply body with `read(reader)` and checks that it ended exactly there.
template <class F>
auto parse(proto::Op op, std::string_view body, F&& read) {
  proto::Reader r(body);
  auto value = read(r);
  if (!r.at_end()) throw_malformed(op);
  return value;
}

}  // namespace depot::req::detail
