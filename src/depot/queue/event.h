// EventObject: a flag that sessions set, clear and wait for (threading.EventObject across
// machines). set() wakes every waiter at once; wait() on a set event returns at once.
#pragma once
#include <functional>

#include "depot/protocol/messages.h"
#include "depot/queue/queue.h"

namespace depot {

class EventObject : public Object {
 public:
  static constexpr ObjectType kType = ObjectType::EVENT;
  static constexpr std::string_view kTypeName = "event";
  using WaitDone = std::function<void(Status, std::string_view message)>;

  EventObject(Registry& registry, std::string name);
  void set();
  void clear() { set_ = false; }
  bool is_set() const { return set_; }
  // OK at once when set; TIMEOUT at once when not and the wait may not park; else parks.
  Status wait(const Wait& wait, WaitDone done);

  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return kTypeName; }
  uint64_t size() const override { return set_ ? 1 : 0; }
  std::string state() const override;
  size_t waiter_count() const override { return waiters_.size(); }
  void cancel(Waiter* w, Status s, std::string_view message) override;
  void fail_all(Status s, std::string_view message) override { waiters_.fail_all(s, message); }

  void waits(std::vector<WaitInfo>& out) const override;

 private:
  struct Waiting;
  bool set_ = false;
  WaitList waiters_;
};

// BarrierObject: `parties` sessions wait until all have arrived, then all proceed (cyclic, like
// threading.BarrierObject). Each gets its arrival index (0 = first). A party that times out or
// whose session ends while waiting breaks the barrier: the others get BROKEN, and so does
// every later wait until reset(). --max-waiters does not apply: `parties` bounds the waiters.
class BarrierObject : public Object {
 public:
  static constexpr ObjectType kType = ObjectType::BARRIER;
  static constexpr std::string_view kTypeName = "barrier";
  using WaitDone = std::function<void(Status, uint32_t index, std::string_view message)>;

  BarrierObject(Registry& registry, std::string name, uint32_t parties);
  uint32_t parties() const { return parties_; }
  bool broken() const { return broken_; }
  Status wait(const Wait& wait, WaitDone done);
  // Fails the current waiters with BROKEN and makes the barrier usable again.
  void reset();

  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return kTypeName; }
  uint64_t size() const override { return waiters_.size(); }
  std::string state() const override;
  size_t waiter_count() const override { return waiters_.size(); }
  void cancel(Waiter* w, Status s, std::string_view message) override;
  void fail_all(Status s, std::string_view message) override { waiters_.fail_all(s, message); }

  void waits(std::vector<WaitInfo>& out) const override;

 private:
  struct Party;
  void break_barrier(const std::string& why);
  std::string what() const { return msg::object("barrier", name_); }

  uint32_t parties_;
  bool broken_ = false;
  std::string broken_why_;
  WaitList waiters_;
};

}  // namespace depot
