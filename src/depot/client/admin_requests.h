// Requests about the manager itself and the generic DELETE, opposite manager/admin_ops.cpp
// (docs/protocol.md, "Manager requests"). Encoders return a Request; parsers take an OK
// reply's body and throw ProtocolError when it does not have the documented layout.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "depot/client/types.h"

namespace depot::req {

// PING: any body -> the same body.
Request ping(std::string_view body);
// STATS: empty -> str JSON object.
Request stats();
std::string parse_stats(std::string_view body);
// INSPECT: str section -> str JSON object (docs/operations.md, "Dashboard and admin API").
Request inspect(std::string_view section);
std::string parse_inspect(std::string_view body);
// LIST: empty -> u32 count, count x (str name, str type, u64 size, str state).
Request list();
std::vector<ObjectInfo> parse_list(std::string_view body);
// HEARTBEAT: empty; the only request that gets no reply.
Request heartbeat();
// DELETE: str name -> str type of the object deleted.
Request remove(std::string_view name);
std::string parse_remove(std::string_view body);

}  // namespace depot::req
