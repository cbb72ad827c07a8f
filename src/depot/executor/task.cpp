#include "depot/executor/task.h"

#include <algorithm>

#include "depot/client/client.h"
#include "depot/client/coord_requests.h"
#include "depot/protocol/frame.h"

namespace depot::task {

using proto::BodyWriter;
using proto::Reader;

namespace {
std::string joined(std::string_view pool, std::string_view middle, std::string_view last) {
  std::string s(pool);
  s += middle;
  s += last;
  return s;
}
}  // namespace

std::string tasks_queue(std::string_view pool) {
  return joined(pool, ".tasks", "");
}
std::string result_var(std::string_view pool, std::string_view sid) {
  return joined(pool, ".r.", sid);
}
std::string done_queue(std::string_view pool, std::string_view executor) {
  return joined(pool, ".done.", executor);
}
std::string marker_var(std::string_view pool, std::string_view executor) {
  return joined(pool, ".executor.", executor);
}
std::string cancel_topic(std::string_view pool) {
  return joined(pool, ".cancel", "");
}
std::string mailbox(std::string_view pool, std::string_view actor) {
  return joined(pool, ".actor.", actor);
}
std::string alive_lock(std::string_view pool, std::string_view actor) {
  return mailbox(pool, actor) + ".alive";
}
std::string state_var(std::string_view pool, std::string_view actor) {
  return mailbox(pool, actor) + ".state";
}
std::string starts_counter(std::string_view pool, std::string_view sid) {
  return joined(pool, ".starts.", sid);
}

std::string lease_name(std::string_view pool, std::string_view executor) {
  return joined(pool, ".lease.", executor);
}
std::vector<std::string> lease_patterns(std::string_view pool, std::string_view executor) {
  const std::string ex(executor);
  return {marker_var(pool, ex), done_queue(pool, ex), result_var(pool, ex + ".*"),
          starts_counter(pool, ex + ".*")};
}

std::string executor_of(std::string_view pool, std::string_view reply_queue) {
  const std::string prefix = done_queue(pool, "");
  if (reply_queue.substr(0, prefix.size()) != prefix) return {};
  return std::string(reply_queue.substr(prefix.size()));
}

std::string encode(const Record& t) {
  BodyWriter w;
  w.u8(static_cast<uint8_t>(t.kind))
      .str(t.key)
      .str(t.sid)
      .str(t.name)
      .str(t.reply)
      .u32(t.max_attempts)
      .str(t.actor)
      .u8(t.flags)
      .u32(static_cast<uint32_t>(t.args.size()));
  for (const auto& a : t.args) {
    w.u8(static_cast<uint8_t>(a.tag));
    if (a.tag == ArgTag::VALUE) {
      w.str(a.bytes);
    } else {
      w.u32(static_cast<uint32_t>(a.keys.size()));
      for (const auto& k : a.keys) w.str(k);
    }
  }
  return w.take();
}

bool decode(std::string_view b, Record& t) {
  Reader r(b);
  const uint8_t kind = r.u8();
  if (kind < static_cast<uint8_t>(Kind::CALL) || kind > static_cast<uint8_t>(Kind::ACTOR_CLOSE))
    return false;
  t.kind = static_cast<Kind>(kind);
  t.key = r.str();
  t.sid = r.str();
  t.name = r.str();
  t.reply = r.str();
  t.max_attempts = r.u32();
  t.actor = r.str();
  t.flags = r.u8();
  const uint32_t n = r.u32();
  if (n > r.remaining()) return false;
  t.args.resize(n);
  for (auto& a : t.args) {
    const uint8_t tag = r.u8();
    if (tag > static_cast<uint8_t>(ArgTag::FUTURES)) return false;
    a.tag = static_cast<ArgTag>(tag);
    if (a.tag == ArgTag::VALUE) {
      a.bytes = r.str();
    } else {
      const uint32_t k = r.u32();
      if (k > r.remaining() / 4) return false;
      for (uint32_t i = 0; i < k; ++i) a.keys.emplace_back(r.str());
    }
  }
  return r.at_end();
}

std::string ok_record(std::string_view payload) {
  return BodyWriter().u8(1).str(payload).take();
}

std::string error_record(std::string_view type, std::string_view message) {
  return BodyWriter().u8(0).str(type).str(message).take();
}

namespace {
// Reads a result record from `r` (which may hold more before it).
std::optional<Result> read_result(Reader& r) {
  Result out;
  const uint8_t ok = r.u8();
  if (ok == 1) {
    out.ok = true;
    out.payload = r.str();
  } else if (ok == 0) {
    out.type = r.str();
    out.message = r.str();
  } else {
    return std::nullopt;
  }
  if (!r.at_end()) return std::nullopt;
  return out;
}
}  // namespace

std::optional<Result> parse_result(std::string_view record) {
  Reader r(record);
  return read_result(r);
}

std::vector<std::optional<std::string>> stored_results(Client& client, std::string_view pool,
                                                       const std::vector<std::string>& sids) {
  std::vector<std::optional<std::string>> out(sids.size());
  for (size_t at = 0; at < sids.size(); at += 4096) {
    const size_t end = std::min(sids.size(), at + 4096);
    std::vector<Request> reqs;
    reqs.reserve(end - at);
    for (size_t i = at; i < end; ++i)
      reqs.push_back(req::var_get(result_var(pool, sids[i]), proto::kNoWait));
    auto replies = client.call_many(reqs);
    for (size_t i = at; i < end; ++i) {
      const Reply& r = replies[i - at];
      if (r.status != Status::OK) continue;  // not stored yet
      RawVersioned v = req::parse_var_state(r.body);
      if (v.value && parse_result(*v.value)) out[i] = std::move(*v.value);
    }
  }
  return out;
}

std::string notification(std::string_view key, std::string_view sid, std::string_view record) {
  return BodyWriter().str(key).str(sid).raw(record).take();
}

std::optional<Notification> parse_notification(std::string_view bytes) {
  Reader r(bytes);
  Notification n;
  n.key = r.str();
  n.sid = r.str();
  auto res = read_result(r);
  if (!res) return std::nullopt;
  n.result = std::move(*res);
  return n;
}

std::string snapshot(std::string_view last_key, std::string_view state) {
  return BodyWriter().str(last_key).str(state).take();
}

std::optional<Snapshot> parse_snapshot(std::string_view bytes) {
  Reader r(bytes);
  Snapshot s;
  s.last_key = r.str();
  s.state = r.str();
  if (!r.at_end()) return std::nullopt;
  return s;
}

}  // namespace depot::task
