// depot-cli monitor: a live line per request the manager serves (docs/cli.md, "monitor").
#include <sys/time.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "cli.h"
#include "depot/protocol/frame.h"

namespace depot::cli {

namespace {

// At most this many lines in one write to standard output.
constexpr size_t kLinesPerWrite = 512;

// "06:52:01.123456", local time.
std::string clock_text(uint64_t time_us) {
  const auto secs = static_cast<time_t>(time_us / 1000000);
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%06u", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(time_us % 1000000));
  return buf;
}

}  // namespace

std::string monitor_line(const MonitorRecord& r) {
  std::string line = clock_text(r.time_us) + " ";
  if (r.type == MonitorRecord::Type::Dropped) {
    // Appended piece by piece: g++ 12 -O3 warns (-Wrestrict, a false positive) on "x" + temporary.
    line += '(';
    line += std::to_string(r.dropped);
    line += " requests not shown: this monitor fell behind and its buffer was full)";
    return line;
  }
  if (r.type == MonitorRecord::Type::Skipped) {
    line += '(';
    line += std::to_string(r.dropped);
    line += " requests not shown: more than this monitor's lines a second; --max-rate N|all)";
    return line;
  }
  // [session who]: the client's name once clients send one, else the user.
  line += '[';
  line += std::to_string(r.session);
  line += ' ';
  const std::string& who = r.client.empty() ? r.user : r.client;
  line += who.empty()
              ? "-"
              : (is_plain_text(who) && who.find(' ') == std::string::npos ? who : quote(who));
  line += "] ";
  const std::string_view op = proto::op_name(r.op);
  line += op.empty() ? "OP_" + std::to_string(r.op) : std::string(op);
  if (!r.object.empty())
    line += " " + (is_plain_text(r.object) && r.object.find(' ') == std::string::npos
                       ? r.object
                       : quote(r.object));
  line += " in=" + std::to_string(r.request_bytes);
  if (r.status == proto::kMonitorNoReply) {
    line += " parked";
  } else {
    line += " out=" + std::to_string(r.reply_bytes) + " ";
    line += status_name(static_cast<Status>(r.status));
  }
  return line;
}

void monitor(Client& client, std::optional<uint64_t> count, Timeout timeout,
             uint32_t max_per_second, const Emit& emit) {
  MonitorOptions o;
  o.max_per_second = max_per_second;
  Monitor mon(client, o);
  std::fprintf(stderr, "depot-cli: monitoring %s (Ctrl-C to stop)\n", client.address().c_str());
  uint64_t shown = 0;
  std::string lines;
  while (!count || shown < *count) {
    std::optional<MonitorRecord> r = mon.next(timeout);
    if (!r)
      throw std::out_of_range("no request was served for the timeout (" + std::to_string(shown) +
                              " shown)");
    // The records that came with it go out in the same write: a line, and a write, per
    // record would cost a busy manager's machine a system call per line shown.
    lines.clear();
    for (size_t n = 0; r; r = mon.next(std::chrono::nanoseconds(0))) {
      if (n++ > 0) lines += '\n';
      lines += monitor_line(*r);
      if (r->type == MonitorRecord::Type::Request) ++shown;
      if (n == kLinesPerWrite || (count && shown >= *count)) break;
    }
    emit(lines);
  }
}

}  // namespace depot::cli
