// Lock and RLock (the manager side): mutual exclusion between sessions, with fencing tokens.
//
// Semantics:
// - acquire grants at once when the lock is free, else parks the request; waiters are served
//   first come, first served, skipping any whose session is gone.
// - Every grant carries a fencing token from Registry::next_token(): strictly increasing
//   across every lock, so a storage system can reject a write from a holder whose lock has
//   since been granted to someone else.
// - The hold belongs to the session (Registry::hold): when the session ends (disconnect or
//   missed heartbeats), the lock passes to the next waiter. An optional TTL per acquire ends
//   the hold by itself (a lease), for holders that may hang while still connected. The TTL
//   counts from the grant (for a parked acquire, from when it is served), on the registry's
//   clock.
// - release must name the hold's token and come from its session; anything else is
//   NOT_OWNER, so a holder whose lease expired cannot free a lock someone else now holds.
// - A reentrant lock (RLock) counts re-acquires by the same owner (session + the client's
//   owner id, one per thread) and is freed when the count drops to zero.
#pragma once
#include <chrono>
#include <functional>
#include <string>

#include "depot/protocol/messages.h"
#include "depot/queue/queue.h"

namespace depot {

class LockObject : public Object {
 public:
  static constexpr ObjectType kType = ObjectType::LOCK;
  static constexpr std::string_view kTypeName = "lock";

  struct Grant {
    uint64_t token = 0;  // fencing token of the hold
    uint32_t count = 0;  // hold count (1 for a plain lock)
  };
  // On OK `grant` is the hold; otherwise `message` says why (TIMEOUT, NOT_FOUND, ...).
  using AcquireDone = std::function<void(Status, Grant grant, std::string_view message)>;

  LockObject(Registry& registry, std::string name, bool reentrant);
  ~LockObject() override;

  // `owner` identifies the holder within its session; `ttl` of zero means no lease.
  Status acquire(const Wait& wait, uint64_t owner, std::chrono::milliseconds ttl, AcquireDone done);
  // Releases one hold (one count of a reentrant one). OK, or NOT_OWNER with `message`.
  // On OK `remaining` is the hold count left (0: the lock was freed).
  Status release(SessionId session, uint64_t token, uint32_t& remaining, std::string& message);

  bool reentrant() const { return reentrant_; }
  bool held() const { return holder_.token != 0; }
  uint64_t token() const { return holder_.token; }
  SessionId holder_session() const { return holder_.session; }

  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return reentrant_ ? "rlock" : "lock"; }
  uint64_t size() const override { return held() ? 1 : 0; }
  std::string state() const override;
  size_t waiter_count() const override { return waiters_.size(); }
  void cancel(Waiter* w, Status s, std::string_view message) override;
  void fail_all(Status s, std::string_view message) override;
  void release_session(SessionId s) override;
  void on_timer(uint64_t tag) override;

  void holds(std::vector<HoldInfo>& out) const override;
  void waits(std::vector<WaitInfo>& out) const override;
  bool leased() const { return holder_.has_lease; }

 private:
  struct Acquirer;
  struct Holder {
    SessionId session = 0;
    uint64_t owner = 0;
    uint64_t token = 0;  // 0 = free
    uint32_t count = 0;
    Registry::TimerId lease;
    bool has_lease = false;
  };
  void grant(SessionId session, uint64_t owner, std::chrono::milliseconds ttl,
             const AcquireDone& done);
  void free_and_pass(const char* why);
  std::string what() const { return msg::object(type_name(), name_); }

  bool reentrant_;
  Holder holder_;
  WaitList waiters_;
};

}  // namespace depot
