// depot-cli stat: per-second rates from the manager's STATS, like `redis-cli --stat`
// (docs/cli.md, "stat").
#include <charconv>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "cli.h"

namespace depot::cli {

namespace {

struct Sample {
  std::chrono::steady_clock::time_point at;
  uint64_t connections = 0, objects = 0, items = 0, parked = 0, requests = 0, puts = 0, gets = 0,
           bytes_in = 0, bytes_out = 0, monitor_dropped = 0;
};

// A counter of STATS: the manager writes one flat object whose counters are unsigned
// integers ("requests":5120), keys with no quotes or escapes in them (admin_ops.cpp), so a
// key is found by its quoted name followed by a colon. A key that is missing (a manager
// before these counters) reads as 0.
uint64_t counter(std::string_view json, std::string_view key) {
  // Appended piece by piece: g++ 12 -O3 warns (-Wrestrict, a false positive) on "x" + temporary.
  std::string needle = "\"";
  needle += key;
  needle += "\":";
  const size_t at = json.find(needle);
  if (at == std::string_view::npos) return 0;
  uint64_t v = 0;
  const char* p = json.data() + at + needle.size();
  const auto [end, ec] = std::from_chars(p, json.data() + json.size(), v);
  if (ec != std::errc() || end == p)
    throw std::runtime_error("the manager's STATS has no number for \"" + std::string(key) + "\"");
  return v;
}

Sample take(Client& client) {
  Sample s;
  const std::string json = client.stats();
  s.at = std::chrono::steady_clock::now();
  auto get = [&json](const char* key) { return counter(json, key); };
  s.connections = get("connections");
  s.objects = get("objects");
  s.items = get("queued_items");
  s.parked = get("parked");
  s.requests = get("requests");
  s.puts = get("put_requests");
  s.gets = get("get_requests");
  s.bytes_in = get("bytes_in");
  s.bytes_out = get("bytes_out");
  s.monitor_dropped = get("monitor_dropped");
  return s;
}

// 1234567 -> "1.2M"; below 10000 as it is.
std::string human(double v) {
  char buf[32];
  if (v < 10000)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (v < 10e6)
    std::snprintf(buf, sizeof buf, "%.1fK", v / 1e3);
  else if (v < 10e9)
    std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1fG", v / 1e9);
  return buf;
}

std::string row(const std::vector<std::string>& cells) {
  static constexpr int kWidth[] = {7, 8, 10, 7, 9, 9, 9, 9, 9};
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    std::string c = cells[i];
    if (i + 1 < cells.size() && c.size() < static_cast<size_t>(kWidth[i]))
      c.resize(static_cast<size_t>(kWidth[i]), ' ');
    else if (i + 1 < cells.size())
      c += ' ';
    line += c;
  }
  return line;
}

}  // namespace

void stat(Client& client, double interval, std::optional<uint64_t> count, const Emit& emit) {
  const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(interval));
  emit(row({"conns", "objects", "items", "parked", "req/s", "puts/s", "gets/s", "in/s", "out/s"}));
  Sample prev = take(client);
  auto next = prev.at + period;
  for (uint64_t n = 0; !count || n < *count; ++n) {
    std::this_thread::sleep_until(next);
    next += period;
    const Sample cur = take(client);
    const double secs = std::chrono::duration<double>(cur.at - prev.at).count();
    auto rate = [secs](uint64_t a, uint64_t b) { return human(b >= a ? (b - a) / secs : 0); };
    emit(row({std::to_string(cur.connections), std::to_string(cur.objects), human(cur.items),
              std::to_string(cur.parked), rate(prev.requests, cur.requests),
              rate(prev.puts, cur.puts), rate(prev.gets, cur.gets),
              rate(prev.bytes_in, cur.bytes_in), rate(prev.bytes_out, cur.bytes_out)}));
    prev = cur;
  }
}

}  // namespace depot::cli
