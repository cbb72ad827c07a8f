// A named FIFO queue of opaque items, bounded (maxsize > 0) or not (maxsize 0).
//
// Semantics (as Python's queue.Queue, without threads):
// - put appends; when the queue is full it completes FULL at once (timeout 0) or parks a
//   putter until room appears or its deadline passes (FULL then, with what was accepted).
// - get removes the oldest item; when empty it completes EMPTY at once (timeout 0) or parks
//   a getter until an item arrives or its deadline passes (TIMEOUT).
// - Waiters are served first come, first served: a put with getters parked hands its item
//   to the oldest live getter; a get that frees room moves the oldest putter's item in.
// - Invariants: getters wait only while the queue is empty; putters only while it is full.
// - A getter whose session is gone is skipped and dropped (Registry::session_alive), so an
//   item is never handed to a dead session. A departed session's waiters are removed
//   without a reply; a deleted queue fails its waiters with NOT_FOUND.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "queue/item_store.h"
#include "queue/registry.h"

namespace depot {

class Queue : public Object {
 public:
  static constexpr ObjectType kType = ObjectType::QUEUE;
  static constexpr std::string_view kTypeName = "queue";

  // get/get_many completion: on OK, `items` holds 1..max views valid only during the call;
  // otherwise `message` says why (status TIMEOUT, EMPTY, NOT_FOUND, SHUTTING_DOWN, LIMIT).
  using Items = std::span<const std::string_view>;
  using GetDone = std::function<void(Status, Items items, std::string_view message)>;
  // put/put_many completion: `accepted` items were enqueued (all of them on OK).
  using PutDone = std::function<void(Status, uint32_t accepted, std::string_view message)>;

  Queue(Registry& registry, std::string name, uint64_t maxsize);
  ~Queue() override;

  // Each returns the status it completed with, or PARKED; done() is called exactly once in
  // either case (synchronously unless parked).
  Status put(std::string_view item, const Wait& wait, PutDone done);
  Status put_many(Items items, const Wait& wait, PutDone done);
  Status get(const Wait& wait, GetDone done) { return get_many(1, wait, std::move(done)); }
  // Takes up to `max` items, fewer if their total size would pass `max_bytes` (always at
  // least one), so a reply never outgrows a frame.
  Status get_many(uint32_t max, const Wait& wait, GetDone done, size_t max_bytes = SIZE_MAX);

  uint64_t maxsize() const { return maxsize_; }
  uint64_t size() const override { return items_.size(); }
  size_t bytes() const { return items_.bytes(); }
  size_t getters() const { return getters_.size(); }
  size_t putters() const { return putters_.size(); }
  size_t waiter_count() const override { return getters_.size() + putters_.size(); }

  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return kTypeName; }
  std::string state() const override;
  void cancel(Waiter* w, Status s, std::string_view message) override;
  void fail_all(Status s, std::string_view message) override;

 private:
  struct Getter;
  struct Putter;
  bool full() const { return maxsize_ != 0 && items_.size() >= maxsize_; }
  uint64_t room() const;
  // Hands items[from..] to parked getters while any are live; returns the next unconsumed.
  size_t feed_getters(Items items, size_t from);
  // After room appeared, moves items of the oldest putters in and completes finished ones.
  void drain_putters();
  Status park_limit(std::string& message) const;
  std::string what() const { return "queue '" + name_ + "'"; }

  uint64_t maxsize_;
  ItemStore items_;
  WaitList getters_;
  WaitList putters_;
};

}  // namespace depot
