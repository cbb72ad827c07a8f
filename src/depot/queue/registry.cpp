#include "depot/queue/registry.h"
#include "depot/protocol/messages.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "depot/protocol/frame.h"
#include "depot/queue/lease.h"
#include "depot/queue/queue.h"
#include "depot/queue/variable.h"

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
  for (const Object* o : fencing_)
    if (o->fences(name))
      return {Status::NOT_FOUND, false,
              "'" + std::string(name) + "' is covered by lease '" + o->name() +
                  "', which expired: the program that held it is gone and what it owned was "
                  "deleted; drop this work, or hold the lease again to use these names"};
  return {Status::OK, true, {}};
}

Status Registry::erase(std::string_view name) {
  auto it = objects_.find(name);
  if (it == objects_.end()) return Status::NOT_FOUND;
  std::unique_ptr<Object> obj = std::move(it->second);
  objects_.erase(it);
  if (journal_ && obj->durable()) journal_->record(Rec::DELETE).str(name);
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

void Registry::fence(Object* o, bool on) {
  auto it = std::find(fencing_.begin(), fencing_.end(), o);
  if (on && it == fencing_.end()) fencing_.push_back(o);
  if (!on && it != fencing_.end()) fencing_.erase(it);
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

uint64_t Registry::queued_items() const {
  uint64_t n = 0;
  for (auto& [name, obj] : objects_)
    if (obj->type() == ObjectType::QUEUE) n += obj->size();
  return n;
}

// ---------------------------------------------------------------- durability

int64_t Registry::compute_wall_offset() const {
  const int64_t wall = wall_clock_ ? wall_clock_()
                                   : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
  const auto mono = std::chrono::duration_cast<std::chrono::nanoseconds>(now().time_since_epoch());
  return wall - mono.count();
}

int64_t Registry::to_wall(TimePoint t) const {
  if (t == TimePoint::max()) return INT64_MAX;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() +
         wall_offset();
}

TimePoint Registry::from_wall(int64_t wall_ns) const {
  if (wall_ns == INT64_MAX) return TimePoint::max();
  // One offset for the whole run keeps the order of every time read back, to the nanosecond.
  const int64_t mono = wall_ns - wall_offset();
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(mono)));
}

void Registry::record_tokens(uint64_t next) {
  token_high_ = next + kTokenBlock;
  journal_->record(Rec::TOKENS).u64(token_high_);
}

void Registry::set_journal(Journal* j) {
  journal_ = j;
  if (j) record_tokens(tokens_ + 1);  // tokens from now on lie below a recorded mark
}

template <class T>
T* Registry::restored(std::string_view name, bool create, std::string& error) {
  auto it = objects_.find(name);
  if (it == objects_.end()) {
    if constexpr (std::is_constructible_v<T, Registry&, std::string>) {
      if (create) {
        auto obj = std::make_unique<T>(*this, std::string(name));
        T* raw = obj.get();
        objects_.emplace(std::string(name), std::move(obj));
        return raw;
      }
    }
    error = "a record names '" + std::string(name) + "', which no earlier record created";
    return nullptr;
  }
  if (it->second->type() != T::kType) {
    error = "a record for a " + std::string(T::kTypeName) + " names '" + std::string(name) +
            "', which is a " + std::string(it->second->type_name());
    return nullptr;
  }
  return static_cast<T*>(it->second.get());
}

bool Registry::restore(Rec type, std::string_view payload, std::string& error) {
  proto::Reader r(payload);
  const auto malformed = [&] {
    error = "a malformed record of type " + std::to_string(static_cast<unsigned>(type));
    return false;
  };
  if (type == Rec::TOKENS) {
    const uint64_t high = r.u64();
    if (!r.at_end()) return malformed();
    // No token at or above `high` was handed out: the next one may be `high` itself, so that
    // a restored registry writes the same mark again (persist is canonical).
    if (high > 0) tokens_ = std::max(tokens_, high - 1);
    return true;
  }
  // Every other record starts with the name of the object it changes.
  const std::string_view name = r.str();
  if (!r.ok()) return malformed();
  switch (type) {
    case Rec::DELETE:
      if (!r.at_end()) return malformed();
      if (objects_.find(name) == objects_.end()) {
        error = "a record deletes '" + std::string(name) + "', which does not exist";
        return false;
      }
      erase(name);
      return true;
    case Rec::Q_CREATE: {
      const uint64_t maxsize = r.u64();
      if (!r.at_end()) return malformed();
      if (objects_.find(name) != objects_.end()) {
        error = "a record creates queue '" + std::string(name) + "', which exists already";
        return false;
      }
      objects_.emplace(std::string(name),
                       std::make_unique<Queue>(*this, std::string(name), maxsize));
      return true;
    }
    case Rec::Q_CONFIG:
    case Rec::Q_PUSH:
    case Rec::Q_POP:
    case Rec::Q_RESERVE:
    case Rec::Q_RESERVE_NEW:
    case Rec::Q_ACK:
    case Rec::Q_RETURN:
    case Rec::Q_DEAD:
    case Rec::Q_DELAY:
    case Rec::Q_RELEASE:
    case Rec::Q_DEDUP:
    case Rec::Q_RETURNED:
    case Rec::Q_ITEMS:
      if (Queue* q = restored<Queue>(name, false, error)) return q->restore(type, r, error);
      return false;
    case Rec::V_SET:
    case Rec::V_DELETE:
      if (auto* v = restored<VariableObject>(name, true, error)) return v->restore(type, r, error);
      return false;
    case Rec::C_SET:
      if (auto* c = restored<CounterObject>(name, true, error)) return c->restore(type, r, error);
      return false;
    case Rec::L_HOLD:
      if (auto* l = restored<LeaseObject>(name, true, error)) return l->restore(type, r, error);
      return false;
    case Rec::L_EXPIRE:
      if (auto* l = restored<LeaseObject>(name, false, error)) return l->restore(type, r, error);
      return false;
    case Rec::TOKENS:
      break;
  }
  error = "a record of unknown type " + std::to_string(static_cast<unsigned>(type));
  return false;
}

void Registry::recovered() {
  // In name order, so that items dead-lettered from several queues into one arrive in an order
  // that depends on the state alone. Collected first: dead-lettering may create queues.
  std::vector<std::pair<std::string, Object*>> all;
  for (auto& [name, obj] : objects_) all.emplace_back(name, obj.get());
  std::sort(all.begin(), all.end());
  for (auto& [name, obj] : all) obj->recovered();
}

void Registry::persist(Journal& out) const {
  out.record(Rec::TOKENS).u64(std::max(tokens_ + 1, token_high_));
  // In name order, so that the same state always gives the same bytes.
  std::vector<const Object*> durable;
  for (const auto& [name, obj] : objects_)
    if (obj->durable()) durable.push_back(obj.get());
  std::sort(durable.begin(), durable.end(),
            [](const Object* a, const Object* b) { return a->name() < b->name(); });
  for (const Object* obj : durable) obj->persist(out);
}

}  // namespace depot
