// What every shared object has in common: a name, a type, a waiter list, and the
// bookkeeping that lets the registry time out waiters and drop a departed session's waiters
// without the object knowing anything about sockets.
//
// A Waiter is a parked operation: a small struct with a deadline and a completion callback.
// Objects own their waiters (in a WaitList); the registry's WaiterTable indexes them by
// deadline and by session so that timeouts and disconnects find them in O(log n).
//
// Every time point here is on the registry's clock (Registry::now()): objects never read a
// clock themselves, so a test that drives the registry's clock drives all of their timing.
#pragma once
#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "depot/protocol/frame.h"
#include "depot/protocol/status.h"
#include "depot/protocol/wire_types.h"

namespace depot {

// The registry's default time source. Objects do not call Clock::now(): they ask
// Registry::now(), which a test may drive by hand.
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using SessionId = uint64_t;

class Object;
class Journal;
enum class Rec : uint8_t;

struct Waiter {
  virtual ~Waiter() = default;
  // Ends the waiter without serving it: TIMEOUT, NOT_FOUND (object deleted), SHUTTING_DOWN.
  virtual void fail(Status s, std::string_view message) = 0;

  SessionId session = 0;
  TimePoint deadline = TimePoint::max();  // max() = waits forever
  Object* object = nullptr;
  // Bookkeeping owned by WaitList and WaiterTable.
  std::list<std::unique_ptr<Waiter>>::iterator pos;
  std::multimap<TimePoint, Waiter*>::iterator deadline_pos;
};

// Converts a wire timeout (ms; -1 forever, 0 no wait) into a deadline. A timeout too large
// for the clock (beyond ~292 years of nanoseconds) waits forever instead of overflowing.
inline TimePoint deadline_after(TimePoint now, int64_t timeout_ms) {
  if (timeout_ms < 0) return TimePoint::max();
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(TimePoint::max() - now);
  if (timeout_ms >= room.count()) return TimePoint::max();
  return now + std::chrono::milliseconds(timeout_ms);
}

// What a blocking operation may do: which session asks, and until when it may wait (on the
// registry's clock: Registry::wait_for makes one from a wire timeout).
struct Wait {
  SessionId session = 0;
  TimePoint deadline = TimePoint::max();
  bool may_wait = true;  // false: complete at once (timeout 0)
  static Wait now_only(SessionId s) { return {s, TimePoint::max(), false}; }
};

class WaiterTable;

// The waiters of one object, in arrival order (first come, first served).
class WaitList {
 public:
  explicit WaitList(WaiterTable& table) : table_(table) {}
  ~WaitList();
  Waiter* push_back(std::unique_ptr<Waiter> w);
  Waiter* front() const { return items_.empty() ? nullptr : items_.front().get(); }
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  // Unlinks a waiter from this list and from the table's indexes; the caller completes it.
  std::unique_ptr<Waiter> take(Waiter* w);
  // Fails every waiter with s (delete, shutdown).
  void fail_all(Status s, std::string_view message);
  // The waiters in arrival order (a copy, so the caller may take() from the list).
  std::vector<Waiter*> snapshot() const {
    std::vector<Waiter*> out;
    out.reserve(items_.size());
    for (auto& w : items_) out.push_back(w.get());
    return out;
  }

 private:
  WaiterTable& table_;
  std::list<std::unique_ptr<Waiter>> items_;
};

class WaiterTable {
 public:
  void index(Waiter* w);
  void unindex(Waiter* w);
  size_t size() const { return count_; }
  TimePoint next_deadline() const {
    return deadlines_.empty() ? TimePoint::max() : deadlines_.begin()->first;
  }
  // The waiter with the earliest deadline if it is due, else nullptr.
  Waiter* due(TimePoint now) const;
  // Any one waiter parked by a session, or nullptr.
  Waiter* first_of_session(SessionId s) const;

 private:
  std::multimap<TimePoint, Waiter*> deadlines_;
  std::unordered_map<SessionId, std::unordered_set<Waiter*>> by_session_;
  size_t count_ = 0;
};

enum class ObjectType : uint8_t {
  QUEUE = 1,
  LOCK = 2,  // Lock and RLock (Lock::reentrant)
  SEMAPHORE = 3,
  EVENT = 4,
  BARRIER = 5,
  VARIABLE = 6,
  COUNTER = 7,
  TOPIC = 8,
  LEASE = 9,
  TEST = 250,
};

class Registry;

// Introspection, for operators (the manager's INSPECT and admin API): who holds what in an
// object and who waits on it. Names and counts only, never an item or a value.
struct HoldInfo {
  SessionId session = 0;
  uint64_t token = 0;  // a lock's fencing token, a semaphore's lease id (0 for reservations)
  uint64_t count = 1;  // an rlock's hold count, a session's reservations in a queue
};
struct WaitInfo {
  SessionId session = 0;
  std::string_view op;  // "get", "reserve", "put", "acquire", "wait"
};

class Object {
 public:
  Object(Registry& registry, std::string name) : registry_(registry), name_(std::move(name)) {}
  virtual ~Object() = default;
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  virtual ObjectType type() const = 0;
  virtual std::string_view type_name() const = 0;
  virtual uint64_t size() const = 0;
  virtual std::string state() const = 0;
  virtual size_t waiter_count() const = 0;
  // Removes a waiter whose deadline passed or whose session ended, failing it with s
  // (no callback when s is OK: the session is gone and nobody is listening).
  virtual void cancel(Waiter* w, Status s, std::string_view message) = 0;
  // The object is being deleted or the manager stops: fail every waiter.
  virtual void fail_all(Status s, std::string_view message) = 0;
  // A session that held something here (Registry::hold: a lock, a lease) has ended: give
  // back whatever it held, as if it had released it.
  virtual void release_session(SessionId) {}
  // Appends what sessions hold here, and the parked requests in the order they are served.
  virtual void holds(std::vector<HoldInfo>&) const {}
  virtual void waits(std::vector<WaitInfo>&) const {}
  // A timer set with Registry::set_timer is due: Registry::expire reached its time.
  virtual void on_timer(uint64_t /*tag*/) {}
  // An object that Registry::fence lists: whether it refuses the creation of `name` (an
  // expired lease, queue/lease.h).
  virtual bool fences(std::string_view /*name*/) const { return false; }

  // Durability (queue/journal.h): objects that survive a restart (queues, variables,
  // counters) record each change in registry().journal() when there is one.
  virtual bool durable() const { return false; }
  // Just created by Registry::open, with a journal: record the creation.
  virtual void created() {}
  // Writes records that rebuild this object as it is now.
  virtual void persist(Journal&) const {}
  // Applies one of its own records; false with `error` when it does not fit.
  virtual bool restore(Rec, proto::Reader&, std::string& error) {
    error = "'" + name_ + "' keeps no journal";
    return false;
  }
  // After every record was applied: give back what the gone sessions held.
  virtual void recovered() {}

  const std::string& name() const { return name_; }
  Registry& registry() { return registry_; }

 protected:
  Registry& registry_;
  std::string name_;
};

}  // namespace depot
