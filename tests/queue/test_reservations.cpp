// Reservations, priorities, delays and dedup at the object layer, time driven by hand.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "depot/queue/queue.h"

using namespace depot;
using namespace std::chrono_literals;

namespace {

struct ResLog {
  int calls = 0;
  Status status = Status::PARKED;
  std::vector<Queue::Reserved> items;
  std::vector<std::string> data;
  Queue::ReserveDone fn() {
    return [this](Status s, std::span<const Queue::Reserved> it, std::string_view) {
      ++calls;
      status = s;
      items.assign(it.begin(), it.end());
      data.clear();
      for (auto& r : it) data.emplace_back(r.item);
    };
  }
};

Queue::PutDone ignore_put() {
  return [](Status, uint32_t, std::string_view) {};
}

Queue* make_queue(Registry& reg, const std::string& name) {
  auto r = reg.open<Queue>(name, [&] { return std::make_unique<Queue>(reg, name, 0); });
  REQUIRE(r.ok());
  return r.value;
}

std::vector<std::string> drain(Queue& q) {
  std::vector<std::string> out;
  q.get_many(1000, Wait::now_only(1),
             [&](Status, Queue::Items it, std::string_view) { out.assign(it.begin(), it.end()); });
  return out;
}

void put(Queue& q, std::string_view v, PutParams p = {}) {
  q.put_many(Queue::Items(&v, 1), Wait::now_only(1), ignore_put(), p);
}

const auto later = [] { return Clock::now() + 24h; };

}  // namespace

SCENARIO("a reserved item is gone until acked, and back at the head after a nack",
         "[queue][reserve]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  put(q, "a");
  put(q, "b");
  ResLog r;
  REQUIRE(q.reserve(1, -1, Wait::now_only(7), r.fn()) == Status::OK);
  REQUIRE(r.data == std::vector<std::string>{"a"});
  REQUIRE(r.items[0].deliveries == 1);
  REQUIRE(q.size() == 1);
  REQUIRE(q.reserved() == 1);
  const uint64_t id = r.items[0].id;

  WHEN("it is nacked") {
    bool dead = true;
    REQUIRE(q.nack(id, 0, dead));
    REQUIRE_FALSE(dead);
    THEN("it is first again and its delivery count grows") {
      ResLog r2;
      q.reserve(1, -1, Wait::now_only(7), r2.fn());
      REQUIRE(r2.data == std::vector<std::string>{"a"});
      REQUIRE(r2.items[0].deliveries == 2);
      REQUIRE(r2.items[0].id != id);
    }
  }
  WHEN("it is acked") {
    const uint64_t ids[] = {id, id};
    REQUIRE(q.ack(ids) == 1);  // the second is no longer held
    THEN("it is gone for good and a nack is refused") {
      bool dead;
      REQUIRE_FALSE(q.nack(id, 0, dead));
      REQUIRE(drain(q) == std::vector<std::string>{"b"});
      REQUIRE(q.reserved() == 0);
      REQUIRE(reg.sessions_holding() == 0);
    }
  }
  WHEN("the visibility deadline passes") {
    reg.expire(later());
    THEN("the item is back at the head") {
      REQUIRE(q.reserved() == 0);
      REQUIRE(drain(q) == std::vector<std::string>{"a", "b"});
    }
  }
  WHEN("the reserving session ends") {
    reg.drop_session(7);
    THEN("the item is back at the head") {
      REQUIRE(drain(q) == std::vector<std::string>{"a", "b"});
    }
  }
}

SCENARIO("reservations returned by a departed session keep their order", "[queue][reserve]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  for (auto v : {"1", "2", "3", "4"}) put(q, v);
  ResLog r;
  q.reserve(3, -1, Wait::now_only(9), r.fn());
  REQUIRE(r.data == std::vector<std::string>{"1", "2", "3"});
  reg.drop_session(9);
  REQUIRE(drain(q) == std::vector<std::string>{"1", "2", "3", "4"});
}

SCENARIO("a parked reserver gets the oldest of a departed session's reservations",
         "[queue][reserve]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  for (auto v : {"1", "2", "3"}) put(q, v);
  ResLog r;
  q.reserve(3, -1, Wait::now_only(9), r.fn());
  ResLog parked;
  REQUIRE(q.reserve(1, -1, Wait{10, later(), true}, parked.fn()) == Status::PARKED);
  reg.drop_session(9);
  REQUIRE(parked.data == std::vector<std::string>{"1"});
  REQUIRE(drain(q) == std::vector<std::string>{"2", "3"});
}

SCENARIO("an item delivered max_deliveries times goes to the dead-letter queue",
         "[queue][reserve]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  QueueSettings s;
  s.max_deliveries = 2;
  q.configure(s);
  put(q, "poison");
  for (uint32_t round = 1; round <= 2; ++round) {
    ResLog r;
    q.reserve(1, -1, Wait::now_only(3), r.fn());
    REQUIRE(r.status == Status::OK);
    REQUIRE(r.items[0].deliveries == round);
    bool dead = false;
    REQUIRE(q.nack(r.items[0].id, 0, dead));
    REQUIRE(dead == (round == 2));
  }
  REQUIRE(q.size() == 0);
  auto dlq = reg.find<Queue>("jobs.dead");
  REQUIRE(dlq.ok());
  REQUIRE(drain(*dlq.value) == std::vector<std::string>{"poison"});
}

SCENARIO("a parked reserve is served by a put and by a returned item", "[queue][reserve]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  ResLog parked;
  REQUIRE(q.reserve(1, -1, Wait{5, later(), true}, parked.fn()) == Status::PARKED);
  put(q, "x");
  REQUIRE(parked.calls == 1);
  REQUIRE(parked.data == std::vector<std::string>{"x"});
  REQUIRE(q.size() == 0);

  ResLog second;
  REQUIRE(q.reserve(1, -1, Wait{6, later(), true}, second.fn()) == Status::PARKED);
  reg.drop_session(5);  // the first consumer dies: its item goes to the parked one
  REQUIRE(second.calls == 1);
  REQUIRE(second.data == std::vector<std::string>{"x"});
  REQUIRE(second.items[0].deliveries == 2);
}

SCENARIO("priorities are served lowest first, FIFO within one", "[queue][priority]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  put(q, "p5-a", {5, 0, {}});
  put(q, "p0-a");
  put(q, "pm1", {-1, 0, {}});
  put(q, "p5-b", {5, 0, {}});
  put(q, "p0-b");
  REQUIRE(q.size() == 5);
  REQUIRE(drain(q) == std::vector<std::string>{"pm1", "p0-a", "p0-b", "p5-a", "p5-b"});
  REQUIRE(q.size() == 0);
  REQUIRE(q.bytes() == 0);
}

SCENARIO("a delayed item is not handed out before its delay", "[queue][delay]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  put(q, "later", {0, 60'000, {}});
  put(q, "now");
  REQUIRE(q.size() == 1);
  REQUIRE(q.delayed() == 1);
  REQUIRE(drain(q) == std::vector<std::string>{"now"});
  ResLog parked;
  REQUIRE(q.reserve(1, -1, Wait{4, TimePoint::max(), true}, parked.fn()) == Status::PARKED);
  reg.expire(Clock::now() + 61s);
  REQUIRE(parked.data == std::vector<std::string>{"later"});
  REQUIRE(q.delayed() == 0);
}

SCENARIO("a nack with a delay retries later", "[queue][delay]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  put(q, "t");
  ResLog r;
  q.reserve(1, -1, Wait::now_only(2), r.fn());
  bool dead;
  REQUIRE(q.nack(r.items[0].id, 30'000, dead));
  REQUIRE(q.size() == 0);
  reg.expire(Clock::now() + 31s);
  REQUIRE(drain(q) == std::vector<std::string>{"t"});
}

SCENARIO("a second put with the same dedup id is acknowledged but not enqueued", "[queue][dedup]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  uint32_t accepted = 99;
  auto done = [&](Status s, uint32_t a, std::string_view) {
    REQUIRE(s == Status::OK);
    accepted = a;
  };
  std::string_view item = "task";
  q.put_many(Queue::Items(&item, 1), Wait::now_only(1), done, {0, 0, "id-1"});
  REQUIRE(accepted == 1);
  q.put_many(Queue::Items(&item, 1), Wait::now_only(1), done, {0, 0, "id-1"});
  REQUIRE(accepted == 0);
  q.put_many(Queue::Items(&item, 1), Wait::now_only(1), done, {0, 0, "id-2"});
  REQUIRE(accepted == 1);
  REQUIRE(q.size() == 2);
}

SCENARIO("touch extends a reservation and deleting a queue drops its reservations",
         "[queue][reserve]") {
  Registry reg;
  Queue& q = *make_queue(reg, "jobs");
  put(q, "long");
  ResLog r;
  q.reserve(1, 1000, Wait::now_only(2), r.fn());
  REQUIRE(q.touch(r.items[0].id, 3'600'000));
  reg.expire(Clock::now() + 10s);
  REQUIRE(q.reserved() == 1);  // the touched deadline is an hour away
  REQUIRE_FALSE(q.touch(r.items[0].id + 12345, 1000));
  REQUIRE(reg.erase("jobs") == Status::OK);
  REQUIRE(reg.sessions_holding() == 0);
  REQUIRE(reg.timer_count() == 0);
  reg.drop_session(2);
}
