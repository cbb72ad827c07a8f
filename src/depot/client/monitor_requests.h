// MONITOR, opposite manager/monitor.cpp (docs/protocol.md, "MONITOR (0x07)"): the request, its
// reply and the records of a PUSH MONITOR frame.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "depot/client/types.h"

namespace depot {

// One record of a monitor: a request the manager served, how many records were lost, or how
// many requests went unrecorded over the monitor's max_per_second.
struct MonitorRecord {
  enum class Type : uint8_t { Request = 0, Dropped = 1, Skipped = 2 };
  Type type = Type::Request;
  uint64_t time_us = 0;  // wall clock, microseconds since 1970, when it was served (or lost)
  // Request:
  uint64_t session = 0;
  uint8_t op = 0;  // the opcode (proto::op_name)
  // The reply's status, or proto::kMonitorNoReply: not answered at once (it parked, to be
  // answered later, or its session closed).
  uint8_t status = 0;
  uint32_t request_bytes = 0;  // the request's body
  uint32_t reply_bytes = 0;    // the reply's body (0 without a reply)
  std::string object;          // the name the request's body starts with; empty for none
  std::string user;            // the session's user
  std::string client;          // the client's name, when it sent one
  // Dropped: records this monitor lost to its full buffer since the previous record.
  // Skipped: requests served since the previous record that got no record, because they came
  // faster than the monitor's max_per_second.
  uint64_t dropped = 0;
};

namespace req {

// MONITOR: u8 on (1), u32 buffer_bytes (0: 1 MiB), u32 max_per_second (0: 10,000;
// proto::kMonitorEveryRequest: no limit) -> u64 monitor id.
Request monitor_start(uint32_t buffer_bytes, uint32_t max_per_second = 0);
uint64_t parse_monitor_start(std::string_view body);
// MONITOR: u8 on (0), u32 0, u32 0 -> empty.
Request monitor_stop();
// A PUSH MONITOR body: u32 count, count x record. Each record's bytes, in order; false when
// the body is not laid out so.
bool split_monitor_push(std::string_view body, std::vector<std::string_view>& records);
// One record's bytes (from split_monitor_push); false when malformed.
bool parse_monitor_record(std::string_view bytes, MonitorRecord& out);

}  // namespace req
}  // namespace depot
