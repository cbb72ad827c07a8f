// SemaphoreObject: at most `max` leases held at once, across sessions.
//
// - acquire grants a lease (an id from Registry::next_token) while fewer than `max` are
//   held, else parks the request; waiters are served first come, first served.
// - `max` is fixed when the semaphore is created; an acquire naming another max is refused
//   (BAD_REQUEST), so two programs cannot silently disagree about the bound.
// - Leases belong to their session: its end returns them, and release must name a lease the
//   session holds (NOT_OWNER otherwise).
#pragma once
#include <functional>
#include <map>

#include "depot/protocol/messages.h"
#include "depot/queue/queue.h"

namespace depot {

class SemaphoreObject : public Object {
 public:
  static constexpr ObjectType kType = ObjectType::SEMAPHORE;
  static constexpr std::string_view kTypeName = "semaphore";
  using AcquireDone = std::function<void(Status, uint64_t lease, std::string_view message)>;

  SemaphoreObject(Registry& registry, std::string name, uint32_t max);
  ~SemaphoreObject() override = default;

  uint32_t max() const { return max_; }
  Status acquire(const Wait& wait, AcquireDone done);
  Status release(SessionId session, uint64_t lease, std::string& message);
  size_t held() const { return leases_.size(); }

  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return kTypeName; }
  uint64_t size() const override { return leases_.size(); }
  std::string state() const override;
  size_t waiter_count() const override { return waiters_.size(); }
  void cancel(Waiter* w, Status s, std::string_view message) override;
  void fail_all(Status s, std::string_view message) override;
  void release_session(SessionId s) override;

  void holds(std::vector<HoldInfo>& out) const override;
  void waits(std::vector<WaitInfo>& out) const override;

 private:
  struct Acquirer;
  void grant(SessionId s, const AcquireDone& done);
  void pass_on();
  std::string what() const { return msg::object("semaphore", name_); }

  uint32_t max_;
  std::map<uint64_t, SessionId> leases_;
  WaitList waiters_;
};

}  // namespace depot
