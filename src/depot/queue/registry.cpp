#include "depot/queue/registry.h"
#include "depot/protocol/messages.h"

#include <algorithm>
#include <cstdint>

#include "depot/protocol/frame.h"

namespace depot {

WaitList::~WaitList() {
  for (auto& w : items_) table_.unindex(w.get());
}

Waiter* WaitList::push_back(std::unique_ptr<Waiter> w) {
  Waiter* raw = w.get();
  items_.push_back(std::move(w));
  raw->pos = std::prev(items_.end());
  table_.index(raw);
  return raw;
}

std::unique_ptr<Waiter> WaitList::take(Waiter* w) {
  std::unique_ptr<Waiter> owned = std::move(*w->pos);
  items_.erase(w->pos);
  table_.unindex(w);
  return owned;
}

void WaitList::fail_all(Status s, std::string_view message) {
  // Detach first: a callback may touch the object (it must not, but a re-entrant put into a
  // deleted queue must not corrupt this list either).
  auto items = std::move(items_);
  items_.clear();
  for (auto& w : items) table_.unindex(w.get());
  for (auto& w : items) w->fail(s, message);
}

void WaiterTable::index(Waiter* w) {
  if (w->deadline != TimePoint::max()) w->deadline_pos = deadlines_.emplace(w->deadline, w);
  by_session_[w->session].insert(w);
  ++count_;
}

void WaiterTable::unindex(Waiter* w) {
  if (w->deadline != TimePoint::max()) deadlines_.erase(w->deadline_pos);
  auto it = by_session_.find(w->session);
  if (it != by_session_.end()) {
    it->second.erase(w);
    if (it->second.empty()) by_session_.erase(it);
  }
  --count_;
}

Waiter* WaiterTable::due(TimePoint now) const {
  if (deadlines_.empty() || deadlines_.begin()->first > now) return nullptr;
  return deadlines_.begin()->second;
}

Waiter* WaiterTable::first_of_session(SessionId s) const {
  auto it = by_session_.find(s);
  return it == by_session_.end() || it->second.empty() ? nullptr : *it->second.begin();
}

// The wall clock, not now(), on purpose (see next_token): fencing tokens must keep increasing
// across a manager restart, which neither the steady clock nor a test's driven clock says
// anything about.
uint64_t Registry::initial_token() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return ns.count() > 0 ? static_cast<uint64_t>(ns.count()) : 1;
}

Registry::~Registry() {
  // Objects own their wait lists; destroying them unindexes every waiter.
  objects_.clear();
}

Object* Registry::find_any(std::string_view name) {
  auto it = objects_.find(name);
  return it == objects_.end() ? nullptr : it->second.get();
}

Result<bool> Registry::check(std::string_view name) const {
  if (auto why = proto::check_name(name); !why.empty()) return {Status::BAD_REQUEST, false, why};
  if (objects_.size() >= limits_.max_objects)
    return {Status::LIMIT, false,
            "the manager holds " + std::to_string(objects_.size()) +
                " objects, its limit; delete unused ones or raise --max-objects"};
  return {Status::OK, true, {}};
}

Status Registry::erase(std::string_view name) {
  auto it = objects_.find(name);
  if (it == objects_.end()) return Status::NOT_FOUND;
  std::unique_ptr<Object> obj = std::move(it->second);
  objects_.erase(it);
  obj->fail_all(Status::NOT_FOUND, "'" + obj->name() + "' was deleted while this request waited");
  // Forget its leases and timers: nothing may point at it once it is gone. Its destructor
  // cancels the timers it knows of first; any left are removed after.
  const auto gone = reinterpret_cast<std::uintptr_t>(obj.get());
  for (auto h = holds_.begin(); h != holds_.end();) {
    h->second.erase(obj.get());
    h = h->second.empty() ? holds_.erase(h) : std::next(h);
  }
  obj.reset();
  for (auto t = timers_.begin(); t != timers_.end();)
    t = reinterpret_cast<std::uintptr_t>(t->second.first) == gone ? timers_.erase(t) : std::next(t);
  return Status::OK;
}

void Registry::unhold(SessionId s, Object* o) {
  auto it = holds_.find(s);
  if (it == holds_.end()) return;
  it->second.erase(o);
  if (it->second.empty()) holds_.erase(it);
}

void Registry::drop_session(SessionId s) {
  // One at a time, looked up afresh: cancelling one waiter may end others of the same
  // session (a barrier breaks and fails all its parties).
  while (Waiter* w = waiters_.first_of_session(s)) w->object->cancel(w, Status::OK, {});
  auto it = holds_.find(s);
  if (it == holds_.end()) return;
  const std::unordered_set<Object*> held = std::move(it->second);
  holds_.erase(it);
  for (Object* o : held) o->release_session(s);
}

TimePoint Registry::next_deadline() const {
  const TimePoint t = timers_.empty() ? TimePoint::max() : timers_.begin()->first;
  return std::min(t, waiters_.next_deadline());
}

size_t Registry::expire(TimePoint now) {
  size_t n = 0;
  for (;;) {
    Waiter* w = waiters_.due(now);
    const bool timer_due = !timers_.empty() && timers_.begin()->first <= now;
    if (!w && !timer_due) return n;
    ++n;
    if (timer_due && (!w || timers_.begin()->first <= w->deadline)) {
      auto [obj, tag] = timers_.begin()->second;
      timers_.erase(timers_.begin());
      obj->on_timer(tag);
    } else {
      w->object->cancel(w, Status::TIMEOUT, {});
    }
  }
}

void Registry::shutdown() {
  for (auto& [name, obj] : objects_) obj->fail_all(Status::SHUTTING_DOWN, msg::shutting_down());
}

std::vector<ObjectInfo> Registry::list() const {
  std::vector<ObjectInfo> out;
  out.reserve(objects_.size());
  for (auto& [name, obj] : objects_)
    out.push_back({name, std::string(obj->type_name()), obj->size(), obj->state()});
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

}  // namespace depot
