#include "depot/client/admin_requests.h"

#include "depot/client/reply_parse.h"

namespace depot::req {

using detail::parse;
using proto::BodyWriter;
using proto::Op;
using proto::Reader;

Request ping(std::string_view body) {
  return {Op::PING, std::string(body)};
}

Request stats() {
  return {Op::STATS, {}};
}

std::string parse_stats(std::string_view body) {
  return parse(Op::STATS, body, [](Reader& r) { return std::string(r.str()); });
}

Request inspect(std::string_view section) {
  return {Op::INSPECT, BodyWriter().str(section).take()};
}

std::string parse_inspect(std::string_view body) {
  return parse(Op::INSPECT, body, [](Reader& r) { return std::string(r.str()); });
}

Request list() {
  return {Op::LIST, {}};
}

std::vector<ObjectInfo> parse_list(std::string_view body) {
  return parse(Op::LIST, body, [](Reader& r) {
    const uint32_t n = r.u32();
    std::vector<ObjectInfo> out;
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      ObjectInfo o;
      o.name = r.str();
      o.type = r.str();
      o.size = r.u64();
      o.state = r.str();
      out.push_back(std::move(o));
    }
    return out;
  });
}

Request heartbeat() {
  return {Op::HEARTBEAT, {}};
}

Request remove(std::string_view name) {
  return {Op::DELETE, BodyWriter().str(name).take()};
}

std::string parse_remove(std::string_view body) {
  return parse(Op::DELETE, body, [](Reader& r) { return std::string(r.str()); });
}

}  // namespace depot::req
