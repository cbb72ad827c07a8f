// The registry names the shared objects and owns the waiter table.
//
// One thread owns a Registry (the manager's event loop): nothing here locks. Objects are
// created on first use; a name used with the wrong type gets WRONG_TYPE.
//
// Time: the registry owns the clock of everything in it. Objects read the time only through
// now() (reservation and visibility deadlines, delays, dedup windows, lock lease TTLs) and the
// manager takes wait deadlines (wait_for) and expire()'s time from it too. It is the steady
// clock unless set_clock() installs another source: tests install one they move by hand, so
// every timed behaviour runs without real time passing. Timeouts are driven from outside: the
// loop asks next_deadline(), sleeps until then, and calls expire(now()). The manager sleeps on
// an Asio steady timer, so its registry keeps the default clock.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "depot/queue/journal.h"
#include "depot/queue/object.h"

namespace depot {

struct RegistryLimits {
  // A million names is far beyond any sane deployment and bounds the damage of a client
  // that creates names in a loop.
  size_t max_objects = 1'000'000;
  // Parked waiters per object, barriers excepted: each is ~100 bytes plus, for a put, its item.
  size_t max_waiters_per_object = 100'000;
};

template <class T>
struct Result {
  Status status = Status::OK;
  T value{};
  std::string message;
  bool ok() const { return status == Status::OK; }
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Registry {
 public:
  using ClockSource = std::function<TimePoint()>;
  // `clock` empty: the steady clock.
  explicit Registry(RegistryLimits limits = {}, ClockSource clock = {})
      : limits_(limits), clock_(std::move(clock)) {}
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Finds `name` as a T, creating it with make() when absent. WRONG_TYPE, LIMIT or
  // BAD_REQUEST (invalid name) otherwise.
  template <class T, class Make>
  Result<T*> open(std::string_view name, Make&& make) {
    auto it = objects_.find(name);
    if (it != objects_.end()) return typed<T>(it->second.get());
    if (auto why = check(name); why.status != Status::OK) return {why.status, nullptr, why.message};
    std::unique_ptr<T> obj = make();
    T* raw = obj.get();
    objects_.emplace(std::string(name), std::move(obj));
    if (journal_) raw->created();
    return {Status::OK, raw, {}};
  }
  template <class T>
  Result<T*> find(std::string_view name) {
    auto it = objects_.find(name);
    if (it == objects_.end())
      return {Status::NOT_FOUND, nullptr, "no object named '" + std::string(name) + "'"};
    return typed<T>(it->second.get());
  }
  Object* find_any(std::string_view name);

  // Owners of queued items (the manager's users, docs/security.md "Limits"): a queue tags each
  // item it stores with the owner acting when it was put (0: nobody, e.g. items read back
  // from a journal) and reports every change of the bytes an owner has in queues.
  uint32_t acting_owner = 0;
  std::function<void(uint32_t owner, int64_t delta)> owner_bytes;
  void charge(uint32_t owner, int64_t delta) {
    if (owner != 0 && owner_bytes) owner_bytes(owner, delta);
  }

  // Deletes an object; its waiters fail with NOT_FOUND.
  Status erase(std::string_view name);

  // The time every object here reads. Only timed operations ask (a put or get without a
  // timeout, delay or dedup id never does), and with the default source it is one branch and
  // an inlined steady_clock::now(), no call through the std::function.
  TimePoint now() const { return clock_ ? clock_() : Clock::now(); }
  // Replaces the time source (empty: back to the steady clock). Deadlines already set stay
  // where they are, so install it before anything is timed.
  void set_clock(ClockSource clock) {
    clock_ = std::move(clock);
    wall_offset_known_ = false;
  }
  // The wall clock (nanoseconds since the epoch) that to_wall/from_wall convert with; empty:
  // the system clock. A test that drives now() drives this too, so that every registry it
  // makes agrees on what a wall time read back from a journal means.
  void set_wall_clock(std::function<int64_t()> wall) {
    wall_clock_ = std::move(wall);
    wall_offset_known_ = false;
  }
  // The Wait of a request from session s with a wire timeout (ms; -1 forever, 0 no wait):
  // its deadline counts from now(), which is read only for a timeout above 0.
  Wait wait_for(SessionId s, int64_t timeout_ms) const {
    if (timeout_ms == 0) return Wait::now_only(s);
    if (timeout_ms < 0) return Wait{s, TimePoint::max(), true};
    return Wait{s, deadline_after(now(), timeout_ms), true};
  }

  WaiterTable& waiters() { return waiters_; }
  const RegistryLimits& limits() const { return limits_; }

  // Removes every waiter a departed session had parked, without completing them, then
  // releases what it held (Object::release_session).
  void drop_session(SessionId s);
  // The earliest waiter deadline or object timer.
  TimePoint next_deadline() const;
  // Fails every waiter whose deadline is <= now with TIMEOUT and fires every due timer, in
  // deadline order; returns how many. `now` is normally now(); a caller may pass a time
  // ahead of it, and a due timer then acts as of its own time at least (Queue::on_timer).
  size_t expire(TimePoint now);

  // Session leases: an object records that a session holds something in it, so that the
  // session's end releases it. hold() is idempotent; unhold() when it holds nothing more.
  void hold(SessionId s, Object* o) { holds_[s].insert(o); }
  void unhold(SessionId s, Object* o);
  size_t sessions_holding() const { return holds_.size(); }

  // Objects that refuse the creation of some names (expired leases, Object::fences): while
  // any is listed, Registry::open asks each before it makes an object.
  void fence(Object* o, bool on);
  size_t fencing() const { return fencing_.size(); }
  const std::vector<Object*>& fencing_objects() const { return fencing_; }

  // Object timers (lock lease TTLs and the like): on_timer(tag) is called at `at`.
  using TimerId = std::multimap<TimePoint, std::pair<Object*, uint64_t>>::iterator;
  TimerId set_timer(TimePoint at, Object* o, uint64_t tag) {
    return timers_.emplace(at, std::make_pair(o, tag));
  }
  void cancel_timer(TimerId id) { timers_.erase(id); }
  TimerId no_timer() { return timers_.end(); }
  size_t timer_count() const { return timers_.size(); }

  // Strictly increasing across every object: fencing tokens, lease ids, variable versions.
  // The counter starts at the wall clock in nanoseconds, so tokens keep increasing across a
  // manager restart too (storage that fences on them must not accept an old holder's writes
  // from before the restart); it would take more than one token per nanosecond, or a clock
  // set back, to break that. This is the one place that reads the wall clock rather than
  // now(), on purpose: a driven or steady clock says nothing about time across restarts.
  // With a journal, the counter's high-water mark is recorded ahead of the tokens handed out
  // (in blocks of kTokenBlock), so a restarted manager never hands out one again.
  uint64_t next_token() {
    if (journal_ && tokens_ + 1 >= token_high_) record_tokens(tokens_ + 1);
    return ++tokens_;
  }
  static constexpr uint64_t kTokenBlock = 1u << 20;

  // ---------------------------------------------------------------- durability
  // The journal the durable objects record their changes in (queue/journal.h), or nullptr
  // when the manager keeps everything in memory only. Set after recovery.
  Journal* journal() const { return journal_; }
  void set_journal(Journal* j);
  // Applies one record read back from a log or snapshot (the journal is not set meanwhile);
  // false with `error` when it does not fit the state (a corrupt or foreign log).
  bool restore(Rec type, std::string_view payload, std::string& error);
  // Ends a recovery: what was reserved is given back, as when its session ends.
  void recovered();
  // Writes records that rebuild the durable state as it is now (a snapshot).
  void persist(Journal& out) const;
  // Nanoseconds of the wall clock at `t` (a time that must outlive this process), and back.
  int64_t to_wall(TimePoint t) const;
  TimePoint from_wall(int64_t wall_ns) const;
  // Fails every waiter with SHUTTING_DOWN.
  void shutdown();

  std::vector<ObjectInfo> list() const;
  // Items ready in all queues (the sum of their sizes): one pass over the objects.
  uint64_t queued_items() const;
  size_t object_count() const { return objects_.size(); }
  // Calls f(const Object&) for every object, in no order (the admin endpoint's snapshot).
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [name, obj] : objects_) f(*obj);
  }

  // Asked before an item is handed to a parked waiter: an item is never handed to a session
  // whose peer is gone. The manager installs a check of the socket; the default says alive.
  std::function<bool(SessionId)> session_alive = [](SessionId) { return true; };
  // The name a session's client gave (ClientOptions::name), for LIST's state; the manager
  // installs a lookup; empty when it gave none.
  std::function<std::string(SessionId)> session_name = [](SessionId) { return std::string(); };

 private:
  template <class T>
  Result<T*> typed(Object* o) {
    if (o->type() != T::kType)
      return {Status::WRONG_TYPE, nullptr,
              "'" + o->name() + "' is a " + std::string(o->type_name()) + ", not a " +
                  std::string(T::kTypeName) + "; use another name or delete it first"};
    return {Status::OK, static_cast<T*>(o), {}};
  }
  Result<bool> check(std::string_view name) const;
  void record_tokens(uint64_t next);
  int64_t compute_wall_offset() const;
  // The queue, variable or counter a record names (created for the latter two).
  template <class T>
  T* restored(std::string_view name, bool create, std::string& error);

  RegistryLimits limits_;
  ClockSource clock_;                    // empty: Clock::now()
  std::function<int64_t()> wall_clock_;  // empty: the system clock
  WaiterTable waiters_;
  std::unordered_map<SessionId, std::unordered_set<Object*>> holds_;
  std::multimap<TimePoint, std::pair<Object*, uint64_t>> timers_;
  std::vector<Object*> fencing_;
  uint64_t tokens_ = initial_token();
  uint64_t token_high_ = 0;  // with a journal: recorded; no token at or above it handed out
  Journal* journal_ = nullptr;
  // Wall clock ns minus now()'s ns, read once per clock on first use (so that objects that
  // keep no journal never read the clock for it).
  mutable int64_t wall_offset_ = 0;
  mutable bool wall_offset_known_ = false;
  int64_t wall_offset() const {
    if (!wall_offset_known_) {
      wall_offset_ = compute_wall_offset();
      wall_offset_known_ = true;
    }
    return wall_offset_;
  }
  static uint64_t initial_token();
  std::unordered_map<std::string, std::unique_ptr<Object>, StringHash, std::equal_to<>> objects_;
};

}  // namespace depot
