// Reservations, priorities, delays and dedup at the object layer, on a registry whose clock
// the test drives (ManualClock): no real time passes and nothing depends on it.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "depot/queue/queue.h"
#include "manual_clock.h"

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

constexpr auto tick = test::ManualClock::kTick;

std::vector<uint32_t> deliveries(const ResLog& r) {
  std::vector<uint32_t> out;
  for (auto& i : r.items) out.push_back(i.deliveries);
  return out;
}

}  // namespace

SCENARIO("a reserved item is gone until acked, and back at the head after a nack",
         "[queue][reserve]") {
  Registry reg;
  test::ManualClock clock(reg);
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
  WHEN("the visibility deadline (the queue's default, 30 s) passes") {
    REQUIRE(clock.advance(30s - tick) == 0);
    REQUIRE(q.reserved() == 1);  // one tick before: still reserved
    REQUIRE(q.size() == 1);
    REQUIRE(clock.advance(tick) == 1);
    THEN("the item is back at the head") {
      REQUIRE(q.reserved() == 0);
      REQUIRE(reg.timer_count() == 0);
      REQUIRE(reg.sessions_holding() == 0);
      REQUIRE(drain(q) == std::vector<std::string>{"a", "b"});
    }
    THEN("it is delivered again with its delivery count") {
      ResLog r2;
      q.reserve(2, -1, Wait::now_only(8), r2.fn());
      REQUIRE(r2.data == std::vector<std::string>{"a", "b"});
      REQUIRE(deliveries(r2) == std::vector<uint32_t>{2, 1});
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
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  for (auto v : {"1", "2", "3"}) put(q, v);
  ResLog r;
  q.reserve(3, -1, Wait::now_only(9), r.fn());
  ResLog parked;
  REQUIRE(q.reserve(1, -1, reg.wait_for(10, 86'400'000), parked.fn()) == Status::PARKED);
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
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  ResLog parked;
  REQUIRE(q.reserve(1, -1, reg.wait_for(5, 86'400'000), parked.fn()) == Status::PARKED);
  put(q, "x");
  REQUIRE(parked.calls == 1);
  REQUIRE(parked.data == std::vector<std::string>{"x"});
  REQUIRE(q.size() == 0);

  ResLog second;
  REQUIRE(q.reserve(1, -1, reg.wait_for(6, 86'400'000), second.fn()) == Status::PARKED);
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
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  put(q, "later", {0, 60'000, {}});
  put(q, "now");
  REQUIRE(q.size() == 1);
  REQUIRE(q.delayed() == 1);
  REQUIRE(drain(q) == std::vector<std::string>{"now"});
  ResLog parked;
  REQUIRE(q.reserve(1, -1, Wait{4, TimePoint::max(), true}, parked.fn()) == Status::PARKED);
  REQUIRE(reg.next_deadline() == clock.now() + 60s);
  REQUIRE(clock.advance(60s - tick) == 0);  // one tick before the delay: still hidden
  REQUIRE(parked.calls == 0);
  REQUIRE(q.delayed() == 1);
  REQUIRE(q.size() == 0);
  REQUIRE(clock.advance(tick) == 1);
  REQUIRE(parked.calls == 1);
  REQUIRE(parked.data == std::vector<std::string>{"later"});
  REQUIRE(parked.items[0].deliveries == 1);
  REQUIRE(q.delayed() == 0);
  REQUIRE(q.getters() == 0);
}

SCENARIO("delays count from each put and release items in the order they run out",
         "[queue][delay]") {
  Registry reg;
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  put(q, "ten", {0, 10'000, {}});
  clock.advance(2s);
  put(q, "five", {0, 5'000, {}});  // due at 7 s, before "ten"
  put(q, "twenty", {0, 18'000, {}});
  REQUIRE(q.delayed() == 3);
  REQUIRE(clock.advance(5s - tick) == 0);
  REQUIRE(q.size() == 0);
  REQUIRE(clock.advance(tick) == 1);
  REQUIRE(drain(q) == std::vector<std::string>{"five"});
  REQUIRE(clock.advance(3s - tick) == 0);
  REQUIRE(q.size() == 0);
  REQUIRE(clock.advance(tick) == 1);
  REQUIRE(drain(q) == std::vector<std::string>{"ten"});
  REQUIRE(q.delayed() == 1);
  clock.advance(10s);  // 20 s after the start
  REQUIRE(drain(q) == std::vector<std::string>{"twenty"});
  REQUIRE(q.delayed() == 0);
  REQUIRE(reg.timer_count() == 0);
}

SCENARIO("a nack with a delay retries later", "[queue][delay]") {
  Registry reg;
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  put(q, "t");
  ResLog r;
  q.reserve(1, -1, Wait::now_only(2), r.fn());
  clock.advance(1s);  // the delay counts from the nack, not from the reserve
  bool dead;
  REQUIRE(q.nack(r.items[0].id, 30'000, dead));
  REQUIRE_FALSE(dead);
  REQUIRE(q.size() == 0);
  REQUIRE(q.reserved() == 0);
  REQUIRE(q.delayed() == 1);
  REQUIRE(clock.advance(30s - tick) == 0);
  REQUIRE(q.size() == 0);
  REQUIRE(clock.advance(tick) == 1);
  REQUIRE(q.size() == 1);
  WHEN("it is taken") {
    THEN("it is the item") {
      REQUIRE(drain(q) == std::vector<std::string>{"t"});
    }
  }
  WHEN("it is reserved again") {
    ResLog again;
    q.reserve(1, -1, Wait::now_only(2), again.fn());
    THEN("it carries its delivery count") {
      REQUIRE(again.data == std::vector<std::string>{"t"});
      REQUIRE(again.items[0].deliveries == 2);
    }
  }
}

SCENARIO("a second put with the same dedup id is acknowledged but not enqueued", "[queue][dedup]") {
  Registry reg;
  test::ManualClock clock(reg);
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
  // The default window is five minutes from the accepted put.
  clock.advance(300s - tick);
  q.put_many(Queue::Items(&item, 1), Wait::now_only(1), done, {0, 0, "id-1"});
  REQUIRE(accepted == 0);
  clock.advance(tick);
  q.put_many(Queue::Items(&item, 1), Wait::now_only(1), done, {0, 0, "id-1"});
  REQUIRE(accepted == 1);
  REQUIRE(q.size() == 3);
}

SCENARIO("a dedup id is accepted again once its window has passed", "[queue][dedup]") {
  Registry reg;
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  QueueSettings s;
  s.dedup_window_ms = 1000;
  q.configure(s);
  std::vector<uint32_t> accepted;
  auto put_id = [&](std::string_view item, std::string_view id) {
    q.put_many(Queue::Items(&item, 1), Wait::now_only(1),
               [&](Status st, uint32_t a, std::string_view) {
                 REQUIRE(st == Status::OK);
                 accepted.push_back(a);
               },
               {0, 0, id});
  };
  put_id("first", "id-1");
  clock.advance(400ms);
  put_id("other", "id-2");  // its window ends 400 ms after id-1's
  clock.advance(600ms - tick);
  put_id("again", "id-1");  // one tick before the window ends: refused
  REQUIRE(accepted == std::vector<uint32_t>{1, 1, 0});
  clock.advance(tick);
  WHEN("the window of the first put has passed") {
    put_id("again", "id-1");
    put_id("other again", "id-2");
    THEN(
        "the id is accepted again, though a refused put came late in the window; the other id "
        "is still within its own") {
      // The refused put did not extend the window: only accepted puts are remembered.
      REQUIRE(accepted == std::vector<uint32_t>{1, 1, 0, 1, 0});
      REQUIRE(drain(q) == std::vector<std::string>{"first", "other", "again"});
    }
  }
  WHEN("the id is accepted again") {
    put_id("again", "id-1");
    THEN("a new window starts from that put") {
      clock.advance(1s - tick);
      put_id("third", "id-1");
      REQUIRE(accepted.back() == 0);
      clock.advance(tick);
      put_id("third", "id-1");
      REQUIRE(accepted.back() == 1);
      REQUIRE(drain(q) == std::vector<std::string>{"first", "other", "again", "third"});
    }
  }
}

SCENARIO("touch extends a reservation and deleting a queue drops its reservations",
         "[queue][reserve]") {
  Registry reg;
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  put(q, "long");
  ResLog r;
  q.reserve(1, 1000, Wait::now_only(2), r.fn());
  REQUIRE(q.touch(r.items[0].id, 3'600'000));
  REQUIRE(clock.advance(10s) == 0);
  REQUIRE(q.reserved() == 1);  // the touched deadline is an hour away
  REQUIRE(reg.next_deadline() == clock.now() - 10s + 1h);
  REQUIRE_FALSE(q.touch(r.items[0].id + 12345, 1000));
  REQUIRE(reg.erase("jobs") == Status::OK);
  REQUIRE(reg.sessions_holding() == 0);
  REQUIRE(reg.timer_count() == 0);
  reg.drop_session(2);
}

SCENARIO("a dedup window of 0 remembers no id", "[queue][dedup]") {
  Registry reg;
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  QueueSettings s;
  s.dedup_window_ms = 0;
  q.configure(s);
  std::vector<uint32_t> accepted;
  std::string_view item = "task";
  for (int i = 0; i < 2; ++i)
    q.put_many(Queue::Items(&item, 1), Wait::now_only(1),
               [&](Status, uint32_t a, std::string_view) { accepted.push_back(a); }, {0, 0, "id"});
  REQUIRE(accepted == std::vector<uint32_t>{1, 1});  // the same instant, no time passed
  REQUIRE(q.size() == 2);
}

SCENARIO("touch moves a reservation's deadline to its visibility counted from the touch",
         "[queue][reserve]") {
  Registry reg;
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  QueueSettings settings;
  settings.visibility_ms = 3000;
  q.configure(settings);
  put(q, "job");
  ResLog r;
  q.reserve(1, 1000, Wait::now_only(2), r.fn());  // its own visibility: 1 s
  const uint64_t id = r.items[0].id;
  clock.advance(600ms);
  REQUIRE(q.touch(id, 2000));          // now due 2.6 s after the reserve
  REQUIRE(clock.advance(400ms) == 0);  // the first deadline passes unnoticed
  REQUIRE(q.reserved() == 1);
  REQUIRE(clock.advance(1600ms - tick) == 0);
  REQUIRE(q.reserved() == 1);
  REQUIRE(q.touch(id, -1));  // the queue's setting: 3 s from here
  REQUIRE(clock.advance(3s - tick) == 0);
  REQUIRE(q.reserved() == 1);
  REQUIRE(q.size() == 0);
  REQUIRE(clock.advance(tick) == 1);
  THEN("it is back with its delivery count, and touching it now is refused") {
    REQUIRE(q.reserved() == 0);
    REQUIRE_FALSE(q.touch(id, 1000));
    ResLog again;
    q.reserve(1, -1, Wait::now_only(3), again.fn());
    REQUIRE(again.data == std::vector<std::string>{"job"});
    REQUIRE(again.items[0].deliveries == 2);
    REQUIRE(reg.timer_count() == 1);  // the new reservation's only
  }
}

SCENARIO("a parked reserve's visibility counts from when it is served", "[queue][reserve]") {
  Registry reg;
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  ResLog parked;
  REQUIRE(q.reserve(1, 1000, reg.wait_for(4, 60'000), parked.fn()) == Status::PARKED);
  clock.advance(5s);
  put(q, "x");
  REQUIRE(parked.data == std::vector<std::string>{"x"});
  REQUIRE(q.getters() == 0);
  REQUIRE(clock.advance(1s - tick) == 0);
  REQUIRE(q.reserved() == 1);
  REQUIRE(clock.advance(tick) == 1);
  REQUIRE(q.reserved() == 0);
  REQUIRE(drain(q) == std::vector<std::string>{"x"});
}

SCENARIO("an item whose last visibility deadline passes goes to the dead-letter queue",
         "[queue][reserve]") {
  Registry reg;
  test::ManualClock clock(reg);
  Queue& q = *make_queue(reg, "jobs");
  QueueSettings s;
  s.max_deliveries = 2;
  s.visibility_ms = 500;
  q.configure(s);
  put(q, "hangs");
  for (uint32_t round = 1; round <= 2; ++round) {
    ResLog r;
    q.reserve(1, -1, Wait::now_only(3), r.fn());
    REQUIRE(r.items.size() == 1);
    REQUIRE(r.items[0].deliveries == round);
    REQUIRE(clock.advance(500ms - tick) == 0);
    REQUIRE(q.reserved() == 1);
    REQUIRE(clock.advance(tick) == 1);
    REQUIRE(q.reserved() == 0);
  }
  REQUIRE(q.size() == 0);
  REQUIRE(q.state().find("dead_lettered=1") != std::string::npos);
  auto dlq = reg.find<Queue>("jobs.dead");
  REQUIRE(dlq.ok());
  REQUIRE(drain(*dlq.value) == std::vector<std::string>{"hangs"});
  REQUIRE(reg.sessions_holding() == 0);
}
