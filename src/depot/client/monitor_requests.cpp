#include "depot/client/monitor_requests.h"

#include "depot/client/reply_parse.h"

namespace depot::req {

using detail::parse;
using proto::BodyWriter;
using proto::Op;
using proto::Reader;

namespace {

// A REQUEST record's fixed part: type, time, session, op, status, two sizes.
constexpr size_t kRequestFixed = 1 + 8 + 8 + 1 + 1 + 4 + 4;
constexpr size_t kDroppedSize = 1 + 8 + 8;

// The size of the record at the start of `in`, or 0 when it is cut short or unknown.
size_t record_size(std::string_view in) {
  if (in.empty()) return 0;
  const auto type = static_cast<proto::MonitorRecordType>(in[0]);
  if (type == proto::MonitorRecordType::DROPPED || type == proto::MonitorRecordType::SKIPPED)
    return in.size() >= kDroppedSize ? kDroppedSize : 0;
  if (type != proto::MonitorRecordType::REQUEST) return 0;
  size_t at = kRequestFixed;
  for (int i = 0; i < 3; ++i) {  // object, user, client: u8 length, bytes
    if (at >= in.size()) return 0;
    at += 1 + static_cast<uint8_t>(in[at]);
  }
  return at <= in.size() ? at : 0;
}

std::string str8(Reader& r) {
  const uint8_t n = r.u8();
  return std::string(r.raw(n));
}

}  // namespace

Request monitor_start(uint32_t buffer_bytes, uint32_t max_per_second) {
  return {Op::MONITOR, BodyWriter().u8(1).u32(buffer_bytes).u32(max_per_second).take()};
}

uint64_t parse_monitor_start(std::string_view body) {
  return parse(Op::MONITOR, body, [](Reader& r) { return r.u64(); });
}

Request monitor_stop() {
  return {Op::MONITOR, BodyWriter().u8(0).u32(0).u32(0).take()};
}

bool split_monitor_push(std::string_view body, std::vector<std::string_view>& records) {
  Reader r(body);
  const uint32_t count = r.u32();
  if (!r.ok()) return false;
  std::string_view rest = body.substr(4);
  records.clear();
  for (uint32_t i = 0; i < count; ++i) {
    const size_t n = record_size(rest);
    if (n == 0) return false;
    records.push_back(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  return rest.empty();
}

bool parse_monitor_record(std::string_view bytes, MonitorRecord& out) {
  if (record_size(bytes) != bytes.size()) return false;
  Reader r(bytes);
  out = MonitorRecord{};
  out.type = static_cast<MonitorRecord::Type>(r.u8());
  out.time_us = r.u64();
  if (out.type == MonitorRecord::Type::Dropped || out.type == MonitorRecord::Type::Skipped) {
    out.dropped = r.u64();
    return r.at_end();
  }
  out.session = r.u64();
  out.op = r.u8();
  out.status = r.u8();
  out.request_bytes = r.u32();
  out.reply_bytes = r.u32();
  out.object = str8(r);
  out.user = str8(r);
  out.client = str8(r);
  return r.at_end();
}

}  // namespace depot::req
