// Leases (the manager side): objects that end with their owner, as ZooKeeper's ephemeral
// nodes or etcd's leases do, so that a program that dies leaves nothing behind.
//
// Semantics (docs/protocol.md, "LEASE_HOLD"):
// - A lease names up to kMaxPatterns patterns: an object name, or PREFIX* (every name that
//   starts with PREFIX). It is held by one session at a time (Registry::hold).
// - When its session ends (disconnect, missed heartbeats, a manager restart), the lease is
//   orphaned: its grace starts. A LEASE_HOLD from any session in that time takes it back and
//   nothing is lost (a client that reconnects holds it again).
// - When the grace passes, the lease expires: every object its patterns match is deleted (a
//   few thousand per pass of the loop, so other clients are served meanwhile) and, for the
//   fence time after, no object whose name they match can be created: a worker that stores a
//   late result for a program that is gone gets NOT_FOUND instead of leaving it behind. Then
//   the lease itself goes. A LEASE_HOLD during the sweep or the fence ends them and holds the
//   lease again (what was deleted stays deleted).
// - Deleting the lease (DELETE) deletes the lease only; its objects stay.
// - With a data directory, leases are durable (queue/journal.h L_HOLD, L_EXPIRE): after a
//   restart no session holds any, so every lease starts its grace again, as etcd re-grants
//   leases on recovery.
#pragma once
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "depot/queue/registry.h"

namespace depot {

class LeaseObject : public Object {
 public:
  static constexpr ObjectType kType = ObjectType::LEASE;
  static constexpr std::string_view kTypeName = "lease";
  static constexpr size_t kMaxPatterns = 5;
  static constexpr uint32_t kMaxMillis = 7u * 24 * 3600 * 1000;  // a week, for grace and fence
  // Objects deleted per pass of the loop while a lease expires.
  static constexpr size_t kSweepChunk = 4096;
  static constexpr std::chrono::milliseconds kSweepStep{1};  // between chunks

  struct Terms {
    uint32_t grace_ms = 0;
    uint32_t fence_ms = 0;
    std::vector<std::string> patterns;
  };
  // What a LEASE_HOLD found (its reply's u8).
  enum class Found : uint8_t {
    CREATED = 0,   // no such lease: made now
    HELD = 1,      // this session held it already (the terms are replaced)
    ORPHANED = 2,  // its session had ended and the grace was running: nothing was deleted
    EXPIRED = 3,   // its grace had passed: its objects were deleted (or were being deleted)
  };
  // Empty when the terms are valid, else what is wrong with them (BAD_REQUEST).
  static std::string check(const Terms& t);
  // Whether `name` matches `pattern` (a name, or PREFIX*).
  static bool matches(std::string_view pattern, std::string_view name);

  LeaseObject(Registry& registry, std::string name);
  ~LeaseObject() override;

  // Holds the lease for `session` with these terms. NOT_OWNER with `message` when another
  // session holds it; otherwise OK with what it found.
  Status hold(SessionId session, Terms terms, Found& found, std::string& message);
  // Whether creating `name` is refused now (the lease expired and fences its patterns).
  bool fences(std::string_view name) const override;
  const Terms& terms() const { return terms_; }

  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return kTypeName; }
  uint64_t size() const override { return terms_.patterns.size(); }
  std::string state() const override;
  size_t waiter_count() const override { return 0; }
  void cancel(Waiter*, Status, std::string_view) override {}
  void fail_all(Status, std::string_view) override {}
  void release_session(SessionId s) override;
  void on_timer(uint64_t tag) override;
  void holds(std::vector<HoldInfo>& out) const override;

  bool durable() const override { return true; }
  void persist(Journal& out) const override;
  bool restore(Rec type, proto::Reader& r, std::string& error) override;
  void recovered() override;

 private:
  enum class Phase : uint8_t { HELD, ORPHANED, SWEEPING, FENCING };
  void schedule(TimePoint at);
  void unschedule();
  void set_fence(bool on);
  void start_sweep();  // fences, and deletes from the next pass of the loop on
  void collect();      // fills doomed_ of every lease waiting to, in one pass over the objects
  void write_hold(Journal& j) const;  // an L_HOLD of the lease as it is

  Phase phase_ = Phase::HELD;
  SessionId holder_ = 0;
  Terms terms_;
  TimePoint until_{};  // ORPHANED: when the grace ends; FENCING: when the fence ends
  Registry::TimerId timer_;
  bool has_timer_ = false;
  uint64_t generation_ = 0;  // the tag of the timer that counts (a stale one is ignored)
  bool fencing_ = false;
  bool collected_ = false;           // SWEEPING: doomed_ holds the names still to delete
  std::vector<std::string> doomed_;  // SWEEPING: names still to delete
};

}  // namespace depot
