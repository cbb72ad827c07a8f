#include "depot/queue/topic.h"

#include <fnmatch.h>

#include <algorithm>
#include <map>

#include "depot/protocol/frame.h"

namespace depot {

namespace {
bool is_glob(std::string_view p) {
  return p.find_first_of("*?[") != std::string_view::npos;
}
}  // namespace

uint64_t PubSub::subscribe(SessionId session, std::string_view pattern, uint32_t limit,
                           Overflow policy, SubscriberSink* sink, std::string& message) {
  if (auto why = proto::check_name(pattern); !why.empty()) {
    message = "topic pattern: " + why;
    return 0;
  }
  if (limit == 0) limit = kDefaultBuffer;
  if (limit > kMaxBuffer) {
    message = "a subscription buffer of " + std::to_string(limit) +
              " messages is above the limit of " + std::to_string(kMaxBuffer);
    return 0;
  }
  if (static_cast<uint8_t>(policy) > static_cast<uint8_t>(Overflow::Disconnect)) {
    message = "unknown slow-subscriber policy " + std::to_string(static_cast<int>(policy)) +
              " (0 drop oldest, 1 drop newest, 2 disconnect)";
    return 0;
  }
  auto s = std::make_unique<Subscription>();
  s->id = registry_.next_token();
  s->session = session;
  s->pattern = std::string(pattern);
  s->glob = is_glob(pattern);
  s->limit = limit;
  s->policy = policy;
  s->sink = sink;
  s->owner = registry_.acting_owner;
  Subscription* raw = s.get();
  if (raw->glob) {
    globs_.push_back(raw);
  } else {
    exact_[raw->pattern].push_back(raw);
  }
  subs_.emplace(raw->id, std::move(s));
  return raw->id;
}

Subscription* PubSub::find(uint64_t id) {
  auto it = subs_.find(id);
  return it == subs_.end() ? nullptr : it->second.get();
}

const Subscription* PubSub::find(uint64_t id) const {
  auto it = subs_.find(id);
  return it == subs_.end() ? nullptr : it->second.get();
}

void PubSub::remove(Subscription* s) {
  if (s->glob) {
    globs_.erase(std::remove(globs_.begin(), globs_.end(), s), globs_.end());
  } else {
    auto it = exact_.find(s->pattern);
    if (it != exact_.end()) {
      auto& v = it->second;
      v.erase(std::remove(v.begin(), v.end(), s), v.end());
      if (v.empty()) exact_.erase(it);
    }
  }
  registry_.charge(s->owner, -static_cast<int64_t>(s->buffered_bytes));
  subs_.erase(s->id);
}

Status PubSub::unsubscribe(SessionId session, uint64_t id, std::string& message) {
  Subscription* s = find(id);
  if (!s || s->session != session) {
    message = "no subscription " + std::to_string(id) + " on this connection";
    return Status::NOT_FOUND;
  }
  remove(s);
  return Status::OK;
}

void PubSub::drop_session(SessionId session) {
  std::vector<Subscription*> gone;
  for (auto& [id, s] : subs_)
    if (s->session == session) gone.push_back(s.get());
  for (auto* s : gone) remove(s);
}

bool PubSub::offer(Subscription& s, std::string_view topic, std::string_view payload) {
  const size_t bytes = topic.size() + payload.size();
  // Full by count, or by bytes (a message larger than the whole cap still goes into an empty
  // buffer: it is no larger than a frame).
  // The subscriber's user may be at its max-queue-bytes (with items in queues, or messages in
  // its other subscriptions): then the buffer is full too.
  auto owner_full = [&] {
    return s.owner != 0 && owner_has_room && !owner_has_room(s.owner, bytes);
  };
  auto full = [&] {
    return !s.buffer.empty() && (s.buffer.size() >= s.limit ||
                                 s.buffered_bytes + bytes > max_buffer_bytes_ || owner_full());
  };
  auto overflow = [&] {
    ++s.dropped;
    ++totals_.dropped;
    if (s.policy == Overflow::Disconnect) s.sink->overflowed();
    return false;
  };
  while (full()) {
    if (s.policy != Overflow::DropOldest) return overflow();
    const size_t front = s.buffer.front().topic.size() + s.buffer.front().payload.size();
    s.buffered_bytes -= front;
    registry_.charge(s.owner, -static_cast<int64_t>(front));
    s.buffer.pop_front();
    ++s.dropped;
    ++totals_.dropped;
  }
  // Room in the buffer but none left in the user's limit (other buffers, queued items).
  if (owner_full()) return overflow();
  s.buffer.push_back({std::string(topic), std::string(payload)});
  s.buffered_bytes += bytes;
  registry_.charge(s.owner, static_cast<int64_t>(bytes));
  s.sink->messages_pending();
  return true;
}

uint32_t PubSub::publish(std::string_view topic, std::string_view payload) {
  uint32_t n = 0;
  ++totals_.published;
  if (auto it = exact_.find(topic); it != exact_.end()) {
    // Copy: an Overflow::Disconnect may end a session, which must not disturb this loop.
    const std::vector<Subscription*> subs = it->second;
    for (Subscription* s : subs) n += offer(*s, topic, payload) ? 1 : 0;
  }
  if (!globs_.empty()) {
    const std::string t(topic);
    const std::vector<Subscription*> globs = globs_;
    for (Subscription* s : globs)
      if (::fnmatch(s->pattern.c_str(), t.c_str(), 0) == 0) n += offer(*s, topic, payload) ? 1 : 0;
  }
  return n;
}

bool PubSub::pop(Subscription& sub, Subscription::Message& out) {
  if (sub.buffer.empty()) return false;
  out = std::move(sub.buffer.front());
  sub.buffer.pop_front();
  sub.buffered_bytes -= out.topic.size() + out.payload.size();
  registry_.charge(sub.owner, -static_cast<int64_t>(out.topic.size() + out.payload.size()));
  ++sub.delivered;
  ++totals_.delivered;
  return true;
}

size_t PubSub::buffered_bytes() const {
  size_t n = 0;
  for (auto& [id, s] : subs_) n += s->buffered_bytes;
  return n;
}

std::vector<ObjectInfo> PubSub::list() const {
  std::map<std::string, ObjectInfo> by_name;
  for (auto& [id, s] : subs_) {
    auto& info = by_name[s->pattern];
    info.name = s->pattern;
    info.type = s->glob ? "pattern" : "topic";
    ++info.size;  // subscribers
  }
  std::vector<ObjectInfo> out;
  for (auto& [name, info] : by_name) {
    ObjectInfo i = info;
    size_t buffered = 0;
    uint64_t dropped = 0;
    for (auto& [id, s] : subs_)
      if (s->pattern == name) {
        buffered += s->buffer.size();
        dropped += s->dropped;
      }
    i.state = "subscribers=" + std::to_string(i.size) + " buffered=" + std::to_string(buffered) +
              " dropped=" + std::to_string(dropped);
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace depot
