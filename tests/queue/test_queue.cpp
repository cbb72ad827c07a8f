// Queue semantics without a network: the object layer alone, time driven by hand (the
// registry's clock is a ManualClock wherever time matters).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "depot/queue/item_store.h"
#include "depot/queue/queue.h"
#include "manual_clock.h"

using namespace depot;
using namespace std::chrono_literals;

namespace {

// Records what a completion received.
struct GetLog {
  int calls = 0;
  Status status = Status::PARKED;
  std::vector<std::string> items;
  std::string message;
  Queue::GetDone fn() {
    return [this](Status s, Queue::Items it, std::string_view m) {
      ++calls;
      status = s;
      items.assign(it.begin(), it.end());
      message = m;
    };
  }
};

struct PutLog {
  int calls = 0;
  Status status = Status::PARKED;
  uint32_t accepted = 0;
  std::string message;
  Queue::PutDone fn() {
    return [this](Status s, uint32_t a, std::string_view m) {
      ++calls;
      status = s;
      accepted = a;
      message = m;
    };
  }
};

Queue::PutDone ignore_put() {
  return [](Status, uint32_t, std::string_view) {};
}

Queue* make_queue(Registry& reg, const std::string& name, uint64_t maxsize = 0) {
  auto r = reg.open<Queue>(name, [&] { return std::make_unique<Queue>(reg, name, maxsize); });
  REQUIRE(r.ok());
  return r.value;
}

const TimePoint t0 = TimePoint{} + 1000s;

Wait until(SessionId s, TimePoint deadline) {
  return Wait{s, deadline, true};
}
Wait forever(SessionId s) {
  return Wait{s, TimePoint::max(), true};
}

// A stand-in object of another type, to check names are typed.
struct Gadget : Object {
  static constexpr ObjectType kType = ObjectType::TEST;
  static constexpr std::string_view kTypeName = "gadget";
  using Object::Object;
  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return kTypeName; }
  uint64_t size() const override { return 0; }
  std::string state() const override { return {}; }
  size_t waiter_count() const override { return 0; }
  void cancel(Waiter*, Status, std::string_view) override {}
  void fail_all(Status, std::string_view) override {}
};

}  // namespace

SCENARIO("an item store keeps items in order across chunks", "[queue]") {
  GIVEN("a store filled past several chunks, with empty and large items") {
    ItemStore s;
    std::vector<std::string> expect;
    for (int i = 0; i < 5000; ++i) {
      std::string v = i % 97 == 0 ? std::string() : "item-" + std::to_string(i);
      if (i == 1234) v = std::string(ItemStore::kChunkBytes * 2, 'x');  // its own chunk
      // Lengths at the edges of the 1-, 2- and 3-byte length prefixes.
      for (size_t edge : {127, 128, 16383, 16384})
        if (i == static_cast<int>(edge)) v = std::string(edge, 'e');
      expect.push_back(v);
      s.push(v);
    }
    THEN("size and bytes add up and items come out first in, first out") {
      size_t bytes = 0;
      for (auto& e : expect) bytes += e.size();
      REQUIRE(s.size() == expect.size());
      REQUIRE(s.bytes() == bytes);
      std::vector<std::string> first3;
      s.for_first(3, [&](std::string_view v) { first3.emplace_back(v); });
      REQUIRE(first3 == std::vector<std::string>(expect.begin(), expect.begin() + 3));
      for (auto& e : expect) {
        REQUIRE(s.front() == e);
        s.pop();
      }
      REQUIRE(s.empty());
      REQUIRE(s.bytes() == 0);
    }
  }
  GIVEN("a store that oscillates around empty") {
    ItemStore s;
    THEN("it keeps working through many fill/drain cycles") {
      for (int round = 0; round < 100; ++round) {
        for (int i = 0; i < 1000; ++i) s.push(std::to_string(round * 1000 + i));
        for (int i = 0; i < 1000; ++i) {
          REQUIRE(s.front() == std::to_string(round * 1000 + i));
          s.pop();
        }
      }
      REQUIRE(s.empty());
    }
  }
}

SCENARIO("a queue hands out items first in, first out", "[queue]") {
  Registry reg;
  Queue* q = make_queue(reg, "tasks");
  GIVEN("three items put") {
    for (auto v : {"a", "b", "c"}) REQUIRE(q->put(v, forever(1), ignore_put()) == Status::OK);
    WHEN("they are taken one by one") {
      std::vector<std::string> got;
      for (int i = 0; i < 3; ++i) {
        GetLog g;
        REQUIRE(q->get(Wait::now_only(2), g.fn()) == Status::OK);
        got.push_back(g.items.at(0));
      }
      THEN("they come out in put order and the queue is empty") {
        REQUIRE(got == std::vector<std::string>{"a", "b", "c"});
        REQUIRE(q->size() == 0);
        GetLog g;
        REQUIRE(q->get(Wait::now_only(2), g.fn()) == Status::EMPTY);
        REQUIRE(g.status == Status::EMPTY);
        REQUIRE(g.message.find("'tasks'") != std::string::npos);
      }
    }
  }
}

SCENARIO("a get on an empty queue waits for the next put", "[queue]") {
  Registry reg;
  Queue* q = make_queue(reg, "tasks");
  GIVEN("an empty queue with one parked get") {
    GetLog g;
    REQUIRE(q->get(forever(1), g.fn()) == Status::PARKED);
    REQUIRE(q->getters() == 1);
    WHEN("a put arrives") {
      PutLog p;
      REQUIRE(q->put("task-1", forever(2), p.fn()) == Status::OK);
      THEN("the parked get receives the item and no waiter is left") {
        REQUIRE(g.calls == 1);
        REQUIRE(g.items == std::vector<std::string>{"task-1"});
        REQUIRE(q->size() == 0);
        REQUIRE(q->waiter_count() == 0);
        REQUIRE(reg.waiters().size() == 0);
      }
    }
  }
}

SCENARIO("parked getters are served first come, first served", "[queue]") {
  Registry reg;
  Queue* q = make_queue(reg, "tasks");
  GIVEN("three getters parked in order") {
    GetLog g1, g2, g3;
    q->get(forever(1), g1.fn());
    q->get(forever(2), g2.fn());
    q->get(forever(3), g3.fn());
    WHEN("two items are put") {
      q->put("x", forever(9), ignore_put());
      q->put("y", forever(9), ignore_put());
      THEN("the two oldest getters got them in order and the third still waits") {
        REQUIRE(g1.items == std::vector<std::string>{"x"});
        REQUIRE(g2.items == std::vector<std::string>{"y"});
        REQUIRE(g3.calls == 0);
        REQUIRE(q->getters() == 1);
      }
    }
  }
}

SCENARIO("a bounded queue blocks putters while full", "[queue]") {
  Registry reg;
  Queue* q = make_queue(reg, "bounded", 2);
  GIVEN("a queue of maxsize 2 holding 2 items") {
    REQUIRE(q->put("1", forever(1), ignore_put()) == Status::OK);
    REQUIRE(q->put("2", forever(1), ignore_put()) == Status::OK);
    WHEN("a non-blocking put arrives") {
      PutLog p;
      REQUIRE(q->put("3", Wait::now_only(1), p.fn()) == Status::FULL);
      THEN("it fails FULL at once and nothing is added") {
        REQUIRE(p.status == Status::FULL);
        REQUIRE(p.message.find("maxsize 2") != std::string::npos);
        REQUIRE(q->size() == 2);
      }
    }
    WHEN("two blocking puts park and a get frees room") {
      PutLog p3, p4;
      REQUIRE(q->put("3", forever(1), p3.fn()) == Status::PARKED);
      REQUIRE(q->put("4", forever(2), p4.fn()) == Status::PARKED);
      GetLog g;
      q->get(Wait::now_only(3), g.fn());
      THEN("the oldest putter's item moves in; the other still waits") {
        REQUIRE(g.items == std::vector<std::string>{"1"});
        REQUIRE(p3.status == Status::OK);
        REQUIRE(p4.calls == 0);
        REQUIRE(q->size() == 2);
        AND_THEN("order is kept: 2, 3, then 4 after more room") {
          GetLog a, b, c;
          q->get(Wait::now_only(3), a.fn());
          q->get(Wait::now_only(3), b.fn());
          q->get(Wait::now_only(3), c.fn());
          REQUIRE(a.items.at(0) == "2");
          REQUIRE(b.items.at(0) == "3");
          REQUIRE(c.items.at(0) == "4");
          REQUIRE(p4.status == Status::OK);
          REQUIRE(q->waiter_count() == 0);
        }
      }
    }
    WHEN("a new put arrives while a putter is parked and room appears later") {
      PutLog p3;
      q->put("3", forever(1), p3.fn());
      GetLog g;
      q->get(Wait::now_only(3), g.fn());  // room for "3"
      PutLog p4;
      REQUIRE(q->put("4", Wait::now_only(4), p4.fn()) == Status::FULL);
      THEN("the new put did not overtake the parked one") {
        REQUIRE(p3.status == Status::OK);
      }
    }
  }
}

SCENARIO("timeouts fire from the registry's clock", "[queue]") {
  Registry reg;
  test::ManualClock clock(reg);
  const TimePoint start = clock.now();
  constexpr auto tick = test::ManualClock::kTick;
  Queue* q = make_queue(reg, "slow", 1);
  GIVEN("a get that waits 1 s and a put that waits 2 s on a full queue") {
    Queue* empty = make_queue(reg, "empty");
    GetLog g;
    REQUIRE(empty->get(reg.wait_for(1, 1000), g.fn()) == Status::PARKED);
    q->put("full", forever(1), ignore_put());
    PutLog p;
    REQUIRE(q->put("more", reg.wait_for(2, 2000), p.fn()) == Status::PARKED);
    REQUIRE(reg.next_deadline() == start + 1s);
    WHEN("time reaches one tick before the get's deadline") {
      REQUIRE(clock.advance(1s - tick) == 0);
      THEN("both still wait") {
        REQUIRE(g.calls == 0);
        REQUIRE(p.calls == 0);
        REQUIRE(reg.waiters().size() == 2);
      }
    }
    WHEN("time reaches the get's deadline") {
      REQUIRE(clock.advance(1s) == 1);
      THEN("the get fails TIMEOUT naming the queue; the put still waits") {
        REQUIRE(g.calls == 1);
        REQUIRE(g.status == Status::TIMEOUT);
        REQUIRE(g.message.find("'empty'") != std::string::npos);
        REQUIRE(p.calls == 0);
        REQUIRE(reg.next_deadline() == start + 2s);
        REQUIRE(clock.advance(1s - tick) == 0);
        REQUIRE(p.calls == 0);
      }
    }
    WHEN("time reaches 5 s") {
      REQUIRE(clock.advance(5s) == 2);
      THEN("the put fails FULL with nothing accepted and no waiter is left") {
        REQUIRE(p.status == Status::FULL);
        REQUIRE(p.accepted == 0);
        REQUIRE(reg.waiters().size() == 0);
        REQUIRE(reg.next_deadline() == TimePoint::max());
        REQUIRE(q->size() == 1);
      }
    }
  }
}

SCENARIO("put_many and get_many move batches", "[queue]") {
  Registry reg;
  GIVEN("an unbounded queue") {
    Queue* q = make_queue(reg, "batch");
    std::vector<std::string> owned;
    for (int i = 0; i < 10; ++i) owned.push_back(std::to_string(i));
    std::vector<std::string_view> items(owned.begin(), owned.end());
    PutLog p;
    REQUIRE(q->put_many(items, forever(1), p.fn()) == Status::OK);
    REQUIRE(p.accepted == 10);
    WHEN("get_many asks for 4, then 100") {
      GetLog a, b;
      q->get_many(4, Wait::now_only(2), a.fn());
      q->get_many(100, Wait::now_only(2), b.fn());
      THEN("it gets 4, then the remaining 6, in order") {
        REQUIRE(a.items == std::vector<std::string>(owned.begin(), owned.begin() + 4));
        REQUIRE(b.items == std::vector<std::string>(owned.begin() + 4, owned.end()));
      }
    }
  }
  GIVEN("a parked get_many for up to 5 and a put_many of 8") {
    Queue* q = make_queue(reg, "batch2");
    GetLog g;
    REQUIRE(q->get_many(5, forever(1), g.fn()) == Status::PARKED);
    std::vector<std::string> owned = {"a", "b", "c", "d", "e", "f", "g", "h"};
    std::vector<std::string_view> items(owned.begin(), owned.end());
    q->put_many(items, forever(2), ignore_put());
    THEN("the getter receives the first 5 and 3 stay queued") {
      REQUIRE(g.items == std::vector<std::string>{"a", "b", "c", "d", "e"});
      REQUIRE(q->size() == 3);
    }
  }
  GIVEN("a bounded queue of 3 and a put_many of 5 that may wait 1 s") {
    test::ManualClock clock(reg);
    Queue* q = make_queue(reg, "b3", 3);
    std::vector<std::string> owned = {"1", "2", "3", "4", "5"};
    std::vector<std::string_view> items(owned.begin(), owned.end());
    PutLog p;
    REQUIRE(q->put_many(items, reg.wait_for(1, 1000), p.fn()) == Status::PARKED);
    REQUIRE(q->size() == 3);
    WHEN("one item is taken and then the deadline passes") {
      GetLog g;
      q->get(Wait::now_only(2), g.fn());
      REQUIRE(clock.advance(1s - test::ManualClock::kTick) == 0);
      REQUIRE(p.calls == 0);
      REQUIRE(clock.advance(test::ManualClock::kTick) == 1);
      THEN("FULL reports that 4 of 5 were accepted, in order") {
        REQUIRE(p.status == Status::FULL);
        REQUIRE(p.accepted == 4);
        REQUIRE(p.message.find("4 of 5") != std::string::npos);
        std::vector<std::string> rest;
        GetLog all;
        q->get_many(10, Wait::now_only(2), all.fn());
        REQUIRE(all.items == std::vector<std::string>{"2", "3", "4"});
      }
    }
  }
}

SCENARIO("get_many keeps a batch within a byte budget, in order", "[queue]") {
  Registry reg;
  Queue* q = make_queue(reg, "sized");
  for (auto v : {"aaaa", "bbbbbbbbbbbbbbbbbbbb", "cc", "dd"}) q->put(v, forever(1), ignore_put());
  GetLog g;
  q->get_many(10, Wait::now_only(2), g.fn(), 20);  // 4+4 fits, +20+4 does not
  REQUIRE(g.items == std::vector<std::string>{"aaaa"});
  GetLog big;
  q->get_many(10, Wait::now_only(2), big.fn(), 1);  // one item is always given
  REQUIRE(big.items == std::vector<std::string>{"bbbbbbbbbbbbbbbbbbbb"});
  REQUIRE(q->size() == 2);
}

SCENARIO("a timeout too large for the clock waits forever instead of expiring", "[queue]") {
  REQUIRE(deadline_after(t0, INT64_MAX) == TimePoint::max());
  REQUIRE(deadline_after(t0, int64_t{1} << 62) == TimePoint::max());
  REQUIRE(deadline_after(t0, -1) == TimePoint::max());
  REQUIRE(deadline_after(t0, 1500) == t0 + 1500ms);
}

SCENARIO("deleting a queue fails its parked requests", "[queue]") {
  Registry reg;
  GIVEN("a queue with two parked gets") {
    Queue* q = make_queue(reg, "doomed");
    GetLog g1, g2;
    q->get(forever(1), g1.fn());
    q->get(until(2, t0 + 1s), g2.fn());
    WHEN("it is deleted") {
      REQUIRE(reg.erase("doomed") == Status::OK);
      THEN("both get NOT_FOUND naming the queue, and nothing is left parked") {
        REQUIRE(g1.status == Status::NOT_FOUND);
        REQUIRE(g2.status == Status::NOT_FOUND);
        REQUIRE(g1.message.find("'doomed' was deleted") != std::string::npos);
        REQUIRE(reg.waiters().size() == 0);
        REQUIRE(reg.next_deadline() == TimePoint::max());
        REQUIRE(reg.find_any("doomed") == nullptr);
        REQUIRE(reg.erase("doomed") == Status::NOT_FOUND);
      }
    }
  }
}

SCENARIO("a departed session leaves nothing behind and swallows no item", "[queue]") {
  Registry reg;
  Queue* q = make_queue(reg, "tasks");
  GIVEN("session 1 and then session 2 parked on get") {
    GetLog g1, g2;
    q->get(until(1, t0 + 1s), g1.fn());
    q->get(forever(2), g2.fn());
    WHEN("session 1 is dropped and an item is put") {
      reg.drop_session(1);
      q->put("job", forever(3), ignore_put());
      THEN("session 2 gets it; session 1 was never called") {
        REQUIRE(g1.calls == 0);
        REQUIRE(g2.items == std::vector<std::string>{"job"});
        REQUIRE(reg.waiters().size() == 0);
        REQUIRE(reg.next_deadline() == TimePoint::max());
      }
    }
    WHEN("session 1's peer is gone but not yet dropped when the item arrives") {
      reg.session_alive = [](SessionId s) { return s != 1; };
      q->put("job", forever(3), ignore_put());
      THEN("the item skips the dead session and goes to session 2") {
        REQUIRE(g1.calls == 0);
        REQUIRE(g2.items == std::vector<std::string>{"job"});
        REQUIRE(q->getters() == 0);
      }
    }
    WHEN("every getter's session is gone") {
      reg.session_alive = [](SessionId) { return false; };
      q->put("job", forever(3), ignore_put());
      THEN("the item stays in the queue") {
        REQUIRE(q->size() == 1);
        REQUIRE(q->getters() == 0);
      }
    }
  }
}

SCENARIO("a shutdown fails every parked request", "[queue]") {
  Registry reg;
  Queue* q = make_queue(reg, "a");
  GetLog g;
  q->get(forever(1), g.fn());
  reg.shutdown();
  REQUIRE(g.status == Status::SHUTTING_DOWN);
  REQUIRE(reg.waiters().size() == 0);
}

SCENARIO("names are typed, checked and bounded", "[queue]") {
  GIVEN("a registry with a queue and another object type") {
    Registry reg(RegistryLimits{3, 2});
    make_queue(reg, "q");
    auto gad = reg.open<Gadget>("g", [&] { return std::make_unique<Gadget>(reg, "g"); });
    REQUIRE(gad.ok());
    THEN("using the queue's name as another type is WRONG_TYPE, and the reverse") {
      auto r = reg.open<Gadget>("q", [&] { return std::make_unique<Gadget>(reg, "q"); });
      REQUIRE(r.status == Status::WRONG_TYPE);
      REQUIRE(r.message.find("'q' is a queue") != std::string::npos);
      auto r2 = reg.find<Queue>("g");
      REQUIRE(r2.status == Status::WRONG_TYPE);
    }
    THEN("an empty or over-long name or one with control characters is BAD_REQUEST") {
      auto mk = [&](std::string n) {
        return reg.open<Queue>(n, [&] { return std::make_unique<Queue>(reg, n, 0); }).status;
      };
      REQUIRE(mk("") == Status::BAD_REQUEST);
      REQUIRE(mk(std::string(256, 'x')) == Status::BAD_REQUEST);
      REQUIRE(mk("bad\nname") == Status::BAD_REQUEST);
    }
    THEN("the object limit is enforced with LIMIT") {
      make_queue(reg, "third");
      auto r = reg.open<Queue>("fourth", [&] { return std::make_unique<Queue>(reg, "fourth", 0); });
      REQUIRE(r.status == Status::LIMIT);
    }
    THEN("the waiter limit per object is enforced with LIMIT") {
      Queue* q = reg.find<Queue>("q").value;
      GetLog a, b, c;
      REQUIRE(q->get(forever(1), a.fn()) == Status::PARKED);
      REQUIRE(q->get(forever(1), b.fn()) == Status::PARKED);
      REQUIRE(q->get(forever(1), c.fn()) == Status::LIMIT);
      REQUIRE(c.status == Status::LIMIT);
      REQUIRE(q->waiter_count() == 2);
    }
    THEN("the listing shows every object with its type and size") {
      auto l = reg.list();
      REQUIRE(l.size() == 2);
      REQUIRE(l[0].name == "g");
      REQUIRE(l[0].type == "gadget");
      REQUIRE(l[1].name == "q");
      REQUIRE(l[1].type == "queue");
      REQUIRE(l[1].state == "maxsize=0 bytes=0 getters=0 putters=0");
    }
  }
}

SCENARIO("a registry reads the steady clock unless given another source", "[queue][clock]") {
  GIVEN("a registry with the default clock") {
    Registry reg;
    const TimePoint before = Clock::now();
    const TimePoint read = reg.now();
    REQUIRE(before <= read);
    REQUIRE(read <= Clock::now());
  }
  GIVEN("a registry built with a source, then given another, then none") {
    TimePoint fixed = t0;
    Registry reg({}, [&] { return fixed; });
    REQUIRE(reg.now() == t0);
    fixed += 5s;
    REQUIRE(reg.now() == t0 + 5s);
    reg.set_clock([] { return t0 - 1s; });
    REQUIRE(reg.now() == t0 - 1s);
    reg.set_clock({});
    const TimePoint before = Clock::now();
    const TimePoint read = reg.now();
    REQUIRE(before <= read);
    REQUIRE(read <= Clock::now());
  }
}

SCENARIO("wait_for turns a wire timeout into a deadline on the registry's clock",
         "[queue][clock]") {
  Registry reg;
  int reads = 0;
  reg.set_clock([&] {
    ++reads;
    return t0;
  });
  const Wait none = reg.wait_for(3, 0);
  REQUIRE(none.session == 3);
  REQUIRE_FALSE(none.may_wait);
  const Wait ever = reg.wait_for(3, -1);
  REQUIRE(ever.may_wait);
  REQUIRE(ever.deadline == TimePoint::max());
  REQUIRE(reads == 0);  // neither needs the time
  const Wait bounded = reg.wait_for(3, 1500);
  REQUIRE(bounded.may_wait);
  REQUIRE(bounded.session == 3);
  REQUIRE(bounded.deadline == t0 + 1500ms);
  REQUIRE(reads == 1);
  REQUIRE(reg.wait_for(3, INT64_MAX).deadline == TimePoint::max());
}

SCENARIO("puts and gets without a timeout, delay or dedup id never read the clock",
         "[queue][clock]") {
  Registry reg;
  int reads = 0;
  reg.set_clock([&] {
    ++reads;
    return t0;
  });
  Queue* q = make_queue(reg, "hot");
  GetLog parked;
  REQUIRE(q->get(reg.wait_for(1, -1), parked.fn()) == Status::PARKED);
  q->put("a", reg.wait_for(2, -1), ignore_put());
  REQUIRE(parked.items == std::vector<std::string>{"a"});
  std::vector<std::string_view> batch = {"b", "c", "d"};
  q->put_many(batch, reg.wait_for(2, 0), ignore_put());
  GetLog one, many;
  q->get(reg.wait_for(1, 0), one.fn());
  q->get_many(10, reg.wait_for(1, 0), many.fn());
  REQUIRE(one.items == std::vector<std::string>{"b"});
  REQUIRE(many.items == std::vector<std::string>{"c", "d"});
  REQUIRE(reads == 0);
  WHEN("a put carries a dedup id") {
    std::string_view item = "e";
    q->put_many(Queue::Items(&item, 1), Wait::now_only(2), ignore_put(), {0, 0, "once"});
    THEN("it reads the clock (to check and to remember the id's window)") {
      REQUIRE(reads >= 1);
    }
  }
}

SCENARIO("a parked get times out exactly at its deadline, not before", "[queue][clock]") {
  Registry reg;
  test::ManualClock clock(reg);
  constexpr auto tick = test::ManualClock::kTick;
  Queue* q = make_queue(reg, "idle");
  GetLog early, late;
  REQUIRE(q->get(reg.wait_for(1, 250), early.fn()) == Status::PARKED);
  clock.advance(100ms);
  REQUIRE(q->get(reg.wait_for(2, 250), late.fn()) == Status::PARKED);  // due at 350 ms
  REQUIRE(clock.advance(150ms - tick) == 0);
  REQUIRE(early.calls == 0);
  REQUIRE(q->getters() == 2);
  REQUIRE(clock.advance(tick) == 1);
  REQUIRE(early.status == Status::TIMEOUT);
  REQUIRE(early.message.find("queue 'idle' stayed empty") != std::string::npos);
  REQUIRE(late.calls == 0);
  REQUIRE(clock.advance(100ms - tick) == 0);
  REQUIRE(late.calls == 0);
  WHEN("an item arrives one tick before the second deadline") {
    q->put("just in time", forever(3), ignore_put());
    THEN("the waiter gets it and nothing times out later") {
      REQUIRE(late.status == Status::OK);
      REQUIRE(late.items == std::vector<std::string>{"just in time"});
      REQUIRE(clock.advance(1h) == 0);
      REQUIRE(reg.waiters().size() == 0);
    }
  }
  WHEN("the second deadline passes") {
    REQUIRE(clock.advance(tick) == 1);
    THEN("it fails TIMEOUT and no waiter is left") {
      REQUIRE(late.status == Status::TIMEOUT);
      REQUIRE(q->getters() == 0);
      REQUIRE(reg.waiters().size() == 0);
      REQUIRE(reg.next_deadline() == TimePoint::max());
    }
  }
}

SCENARIO("a parked reserve with a timeout fails TIMEOUT at its deadline", "[queue][clock]") {
  Registry reg;
  test::ManualClock clock(reg);
  Queue* q = make_queue(reg, "jobs");
  int calls = 0;
  Status status = Status::PARKED;
  REQUIRE(q->reserve(1, -1, reg.wait_for(4, 500),
                     [&](Status s, std::span<const Queue::Reserved>, std::string_view) {
                       ++calls;
                       status = s;
                     }) == Status::PARKED);
  REQUIRE(clock.advance(500ms - test::ManualClock::kTick) == 0);
  REQUIRE(calls == 0);
  REQUIRE(clock.advance(test::ManualClock::kTick) == 1);
  REQUIRE(calls == 1);
  REQUIRE(status == Status::TIMEOUT);
  REQUIRE(q->reserved() == 0);
  REQUIRE(reg.waiters().size() == 0);
}
