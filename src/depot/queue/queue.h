// A named queue of opaque items, bounded (maxsize > 0) or not (maxsize 0).
//
// Semantics (as Python's queue.Queue, without threads):
// - put appends; when the queue is full it completes FULL at once (timeout 0) or parks a
//   putter until room appears or its deadline passes (FULL then, with what was accepted).
// - get removes the head item; when empty it completes EMPTY at once (timeout 0) or parks
//   a getter until an item arrives or its deadline passes (TIMEOUT).
// - Waiters are served first come, first served: a put with getters parked hands its item
//   to the oldest live getter; a get that frees room moves the oldest putter's item in.
// - Invariants: getters wait only while no item is ready; putters only while it is full.
// - A getter whose session is gone is skipped and dropped (Registry::session_alive), so an
//   item is never handed to a dead session. A departed session's waiters are removed
//   without a reply; a deleted queue fails its waiters with NOT_FOUND.
//
// Per item (put_ex): a priority (lower first, FIFO within a priority; 0 by default), a delay
// (the item is not ready before it passes) and a dedup id (a second put with the same id
// within the dedup window is acknowledged but not enqueued).
//
// Reservations (beanstalkd's reserve/delete/TTR): reserve hands out the head item without
// removing it for good. ack deletes it; nack, the visibility deadline or the end of the
// reserving session puts it back at the head of its priority with its delivery count, or,
// once it was delivered max_deliveries times, into the dead-letter queue.
//
// Time (delays, dedup windows, visibility deadlines) is the registry's clock, Registry::now(),
// read only by those timed operations. A delay counts from when the item enters the queue (a
// put, a parked put let in, a nack); a dedup window from the put that was accepted (a refused
// duplicate does not extend it); a visibility deadline from when the item is handed out (or
// touched).
#pragma once
#include <deque>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "depot/protocol/messages.h"
#include "depot/queue/item_store.h"
#include "depot/queue/registry.h"

namespace depot {

// Per-queue settings for reservations and dedup (QUEUE_CONFIGURE).
struct QueueSettings {
  uint64_t visibility_ms = 30'000;  // a reservation's default deadline
  uint32_t max_deliveries = 0;      // 0: redeliver forever; n: the n-th return dead-letters
  uint64_t dedup_window_ms = 300'000;
  std::string dead_letter;  // empty: "<name>.dead"
};

// Per-put options (QUEUE_PUT_EX).
struct PutParams {
  int32_t priority = 0;
  uint64_t delay_ms = 0;
  std::string_view dedup_id;  // empty: none
};

class Queue : public Object {
 public:
  static constexpr ObjectType kType = ObjectType::QUEUE;
  static constexpr std::string_view kTypeName = "queue";

  // get/get_many completion: on OK, `items` holds 1..max views valid only during the call;
  // otherwise `message` says why (status TIMEOUT, EMPTY, NOT_FOUND, SHUTTING_DOWN, LIMIT).
  using Items = std::span<const std::string_view>;
  using GetDone = std::function<void(Status, Items items, std::string_view message)>;
  // put/put_many completion: `accepted` items were enqueued (all of them on OK; 0 on OK for
  // a put whose dedup id was seen within the window).
  using PutDone = std::function<void(Status, uint32_t accepted, std::string_view message)>;
  // A reserved item: views valid only during the completion call.
  struct Reserved {
    uint64_t id;
    uint32_t deliveries;  // 1 on the first delivery
    std::string_view item;
  };
  using ReserveDone =
      std::function<void(Status, std::span<const Reserved> items, std::string_view message)>;

  Queue(Registry& registry, std::string name, uint64_t maxsize);
  ~Queue() override;

  // Each returns the status it completed with, or PARKED; done() is called exactly once in
  // either case (synchronously unless parked).
  Status put(std::string_view item, const Wait& wait, PutDone done);
  Status put_many(Items items, const Wait& wait, PutDone done, const PutParams& opt = {});
  Status get(const Wait& wait, GetDone done) { return get_many(1, wait, std::move(done)); }
  // Takes up to `max` items, fewer if their total size would pass `max_bytes` (always at
  // least one), so a reply never outgrows a frame.
  Status get_many(uint32_t max, const Wait& wait, GetDone done, size_t max_bytes = SIZE_MAX);
  // As get_many, but the items stay reserved by the session until acked; visibility_ms < 0
  // uses the queue's setting.
  Status reserve(uint32_t max, int64_t visibility_ms, const Wait& wait, ReserveDone done,
                 size_t max_bytes = SIZE_MAX);
  // Deletes reserved items for good; returns how many of `ids` were still reserved.
  uint32_t ack(std::span<const uint64_t> ids);
  // Returns a reserved item to the queue (after delay_ms); false if it is not reserved.
  // `dead` is set when it went to the dead-letter queue instead.
  bool nack(uint64_t id, uint64_t delay_ms, bool& dead);
  // Moves a reservation's deadline to now + visibility_ms (< 0: the queue's setting).
  bool touch(uint64_t id, int64_t visibility_ms);

  void configure(QueueSettings s);
  const QueueSettings& settings() const { return settings_; }

  uint64_t maxsize() const { return maxsize_; }
  uint64_t size() const override { return ready_; }  // items a get could take now
  size_t bytes() const { return bytes_; }
  size_t reserved() const { return reserved_.size(); }
  size_t delayed() const { return delayed_.size(); }
  size_t getters() const { return getters_.size(); }
  size_t putters() const { return putters_.size(); }
  size_t waiter_count() const override { return getters_.size() + putters_.size(); }
  // Items through the queue since it was made (the admin endpoint's /metrics; plain
  // increments on the loop thread). puts: accepted by a put (stored, delayed or handed
  // straight to a getter; a duplicate is not); gets: taken by get; reserves: taken by
  // reserve, of which redeliveries had been delivered before; acks, nacks: reservations
  // acknowledged, given back by nack.
  struct Totals {
    uint64_t puts = 0, gets = 0, reserves = 0, redeliveries = 0, acks = 0, nacks = 0;
  };
  const Totals& totals() const { return totals_; }
  uint64_t dead_lettered() const { return dead_lettered_; }  // moved to its dead-letter queue

  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return kTypeName; }
  std::string state() const override;
  void cancel(Waiter* w, Status s, std::string_view message) override;
  void fail_all(Status s, std::string_view message) override;
  void release_session(SessionId s) override;
  void on_timer(uint64_t tag) override;
  bool durable() const override { return true; }
  void created() override;
  void persist(Journal& out) const override;
  bool restore(Rec type, proto::Reader& r, std::string& error) override;
  void recovered() override;

  void holds(std::vector<HoldInfo>& out) const override;
  void waits(std::vector<WaitInfo>& out) const override;

 private:
  struct Getter;
  struct Putter;
  // An item that was delivered before (or delayed): it keeps its own string.
  struct Entry {
    std::string data;
    uint32_t deliveries = 0;
    uint32_t owner = 0;  // Registry::acting_owner of its put, which it counts against
  };
  // One priority: returned items first (at the head), then fresh ones in arrival order.
  struct Level {
    std::deque<Entry> returned;
    ItemStore fresh;
    // The owners of the fresh items, in their order, as runs of (owner, count): one entry
    // while one user fills the queue.
    std::deque<std::pair<uint32_t, uint32_t>> fresh_owners;
    bool empty() const { return returned.empty() && fresh.empty(); }
    void push_fresh_owner(uint32_t owner) {
      if (!fresh_owners.empty() && fresh_owners.back().first == owner)
        ++fresh_owners.back().second;
      else
        fresh_owners.emplace_back(owner, 1);
    }
    uint32_t pop_fresh_owner() {
      if (fresh_owners.empty()) return 0;
      const uint32_t o = fresh_owners.front().first;
      if (--fresh_owners.front().second == 0) fresh_owners.pop_front();
      return o;
    }
  };
  struct Reservation {
    std::string data;
    int32_t priority = 0;
    uint32_t deliveries = 0;
    SessionId session = 0;
    Registry::TimerId timer;
    uint32_t owner = 0;
  };
  struct Delayed {
    std::string data;
    int32_t priority = 0;
    uint32_t deliveries = 0;
    uint32_t owner = 0;
  };

  bool full() const { return maxsize_ != 0 && ready_ + delayed_.size() >= maxsize_; }
  Level& level(int32_t priority) { return priority == 0 ? level0_ : others_[priority]; }
  // The level a get takes from next, or nullptr when no item is ready.
  Level* head_level(int32_t* priority = nullptr);
  void push_fresh(int32_t priority, std::string_view item, uint32_t owner = 0);
  // Calls f(view, deliveries) for up to n head items in order, stopping early when f
  // returns false; returns how many it visited. Nothing is removed.
  template <class F>
  size_t peek(size_t n, F&& f);
  void pop_head(size_t n);
  // Moves the head item out (with its priority).
  Entry take_head(int32_t& priority);
  // Hands ready items to parked getters while both exist, then lets putters in.
  void serve_getters();
  // Hands items[from..] of a put to parked getters; returns the next unconsumed.
  size_t feed_getters(Items items, size_t from, int32_t priority, uint32_t owner);
  uint64_t make_reservation(std::string data, int32_t priority, uint32_t deliveries,
                            SessionId session, int64_t visibility_ms, uint32_t owner = 0);
  // A reservation ends without an ack: back to the queue (or dead-letter queue).
  // `serve`: hand it to a parked getter at once (false while several are given back together,
  // so that the oldest, put back last at the head, is served first).
  bool give_back(uint64_t id, uint64_t delay_ms, bool& dead, bool timer_fired, bool serve = true);
  // Puts an item back: ready at the head (or tail) of its priority, or delayed until `at`
  // (TimePoint::min(): not delayed).
  void requeue(Entry e, int32_t priority, TimePoint at, bool at_head, bool serve = true);
  // When an item delayed by delay_ms from now is due (TimePoint::min() for no delay).
  TimePoint due_after(uint64_t delay_ms) const;
  // Records the fresh items a put let in (queue/journal.h: Q_ITEMS).
  void log_items(int32_t priority, Items items) const;
  Journal* journal() const { return registry_.journal(); }
  void arm_delay_timer();
  void release_delayed(TimePoint now);
  void ready_first_delayed();
  // Reservations read back from a journal belong to no session until recovered().
  static constexpr SessionId kRestored = UINT64_MAX;
  void restore_reservation(uint64_t id, std::string data, int32_t priority, uint32_t deliveries);
  void drop_from_session(SessionId session, uint64_t id);
  bool duplicate(std::string_view id);
  void remember(std::string_view id);
  void drain_putters();
  Status park_limit(std::string& message) const;
  Status park_getter(uint32_t max, bool reserve, int64_t visibility_ms, const Wait& wait,
                     GetDone& done, ReserveDone& rdone, std::string& message, size_t max_bytes);
  std::string what() const { return msg::object("queue", name_); }

  uint64_t maxsize_;
  QueueSettings settings_;
  Level level0_;                     // the default priority, kept even when empty
  std::map<int32_t, Level> others_;  // other priorities, only while they hold items
  size_t ready_ = 0;
  size_t bytes_ = 0;  // payload bytes ready, delayed or reserved
  std::multimap<TimePoint, Delayed> delayed_;
  Registry::TimerId delay_timer_;
  bool delay_timer_set_ = false;
  TimePoint delay_timer_at_;
  std::unordered_map<uint64_t, Reservation> reserved_;
  std::unordered_map<SessionId, std::unordered_set<uint64_t>> by_session_;
  std::unordered_map<std::string, TimePoint> dedup_;
  std::deque<std::pair<TimePoint, std::string>> dedup_order_;
  uint64_t dead_lettered_ = 0;
  Totals totals_;
  WaitList getters_;
  WaitList putters_;
};

}  // namespace depot
