// The owner tag of queued items (Registry::acting_owner, Registry::owner_bytes): what the
// manager's max-queue-bytes counts. Every way an item enters or leaves a queue changes its
// owner's bytes, and only those.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "depot/queue/queue.h"
#include "manual_clock.h"

using namespace depot;
using namespace std::chrono_literals;

namespace {

// Declared after the registry, so it goes first: it stops listening then (the registry's
// queues report their items as they are destroyed).
struct Owned {
  explicit Owned(Registry& r) : reg(r) {
    reg.owner_bytes = [this](uint32_t o, int64_t d) { bytes[o] += d; };
  }
  ~Owned() { reg.owner_bytes = nullptr; }
  Registry& reg;
  std::map<uint32_t, int64_t> bytes;
};

Queue* make_queue(Registry& reg, const std::string& name) {
  auto r = reg.open<Queue>(name, [&] { return std::make_unique<Queue>(reg, name, 0); });
  REQUIRE(r.ok());
  return r.value;
}

void put_as(Registry& reg, Queue& q, uint32_t owner, std::string_view v, PutParams p = {}) {
  reg.acting_owner = owner;
  q.put_many(
      Queue::Items(&v, 1), Wait::now_only(1), [](Status, uint32_t, std::string_view) {}, p);
  reg.acting_owner = 0;
}

std::vector<uint64_t> reserve(Queue& q, uint32_t max) {
  std::vector<uint64_t> ids;
  q.reserve(max, -1, Wait::now_only(1),
            [&](Status, std::span<const Queue::Reserved> it, std::string_view) {
              for (auto& r : it) ids.push_back(r.id);
            });
  return ids;
}

}  // namespace

SCENARIO("an item counts against the owner of its put while a queue holds it", "[queue][owners]") {
  Registry reg;
  test::ManualClock clock(reg);
  Owned owned(reg);
  Queue* q = make_queue(reg, "q");
  put_as(reg, *q, 1, "aaaa");
  put_as(reg, *q, 2, "bb");
  put_as(reg, *q, 1, "c");
  put_as(reg, *q, 0, "nobody's");
  CHECK(owned.bytes[1] == 5);
  CHECK(owned.bytes[2] == 2);
  CHECK(owned.bytes.count(0) == 0);  // owner 0 is never reported

  WHEN("items are taken with get, in order") {
    q->get_many(2, Wait::now_only(1), [](Status, Queue::Items, std::string_view) {});
    THEN("each owner is credited for its own") {
      CHECK(owned.bytes[1] == 1);
      CHECK(owned.bytes[2] == 0);
    }
  }
  WHEN("items are reserved, nacked, acked") {
    const auto ids = reserve(*q, 2);
    REQUIRE(ids.size() == 2);
    THEN("a reservation still counts; a nack keeps it counted; an ack frees it") {
      CHECK(owned.bytes[1] == 5);
      bool dead = false;
      REQUIRE(q->nack(ids[0], 0, dead));
      CHECK(owned.bytes[1] == 5);
      CHECK(q->ack(std::span<const uint64_t>(&ids[1], 1)) == 1);
      CHECK(owned.bytes[2] == 0);
      const auto again = reserve(*q, 1);  // the nacked "aaaa", at the head
      REQUIRE(again.size() == 1);
      q->ack(again);
      CHECK(owned.bytes[1] == 1);
    }
  }
  WHEN("a reservation's deadline passes and it goes to the dead-letter queue") {
    QueueSettings s;
    s.max_deliveries = 1;
    s.visibility_ms = 10;
    q->configure(s);
    REQUIRE(reserve(*q, 1).size() == 1);
    clock.advance(20ms);
    THEN("it still counts, now in q.dead") {
      CHECK(owned.bytes[1] == 5);
      Queue* dead = make_queue(reg, "q.dead");
      CHECK(dead->size() == 1);
      reg.erase("q.dead");
      CHECK(owned.bytes[1] == 1);
    }
  }
  WHEN("a delayed put waits and is released") {
    PutParams p;
    p.delay_ms = 5;
    put_as(reg, *q, 3, "later", p);
    CHECK(owned.bytes[3] == 5);
    clock.advance(10ms);
    q->get_many(10, Wait::now_only(1), [](Status, Queue::Items, std::string_view) {});
    THEN("it counted while delayed and is freed when taken") {
      CHECK(owned.bytes[3] == 0);
    }
  }
  WHEN("the queue is deleted") {
    reserve(*q, 1);
    reg.erase("q");
    THEN("every owner is credited for everything it held there") {
      CHECK(owned.bytes[1] == 0);
      CHECK(owned.bytes[2] == 0);
    }
  }
}

SCENARIO("a parked put counts against its owner once it is let in", "[queue][owners]") {
  Registry reg;
  Owned owned(reg);
  auto r = reg.open<Queue>("b", [&] { return std::make_unique<Queue>(reg, "b", 1); });
  Queue* q = r.value;
  put_as(reg, *q, 1, "one");
  reg.acting_owner = 2;
  std::string_view two = "two!";
  q->put_many(Queue::Items(&two, 1), Wait{1, TimePoint::max(), true},
              [](Status, uint32_t, std::string_view) {});
  reg.acting_owner = 0;
  CHECK(owned.bytes[2] == 0);  // parked: not in the queue yet
  // A get by someone else (acting owner 0) lets the putter in: still owner 2's item.
  q->get_many(1, Wait::now_only(3), [](Status, Queue::Items, std::string_view) {});
  CHECK(owned.bytes[1] == 0);
  CHECK(owned.bytes[2] == 4);
}
