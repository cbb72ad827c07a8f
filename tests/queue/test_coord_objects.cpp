// Locks, semaphores, events, barriers, variables, counters and pub/sub without a network.
// Time is the registry's driven clock (ManualClock): no real time passes.
#include <catch2/catch.hpp>

#include "depot/queue/event.h"
#include "depot/queue/lock.h"
#include "depot/queue/semaphore.h"
#include "depot/queue/topic.h"
#include "depot/queue/variable.h"
#include "manual_clock.h"

using namespace depot;
using namespace std::chrono_literals;

namespace {

constexpr auto tick = test::ManualClock::kTick;
Wait forever(SessionId s) {
  return Wait{s, TimePoint::max(), true};
}

struct Grants {
  int calls = 0;
  Status status = Status::PARKED;
  LockObject::Grant grant;
  std::string message;
  LockObject::AcquireDone fn() {
    return [this](Status s, LockObject::Grant g, std::string_view m) {
      ++calls;
      status = s;
      grant = g;
      message = m;
    };
  }
};

template <class T, class... A>
T* make(Registry& reg, const std::string& name, A... args) {
  auto r = reg.open<T>(name, [&] { return std::make_unique<T>(reg, name, args...); });
  REQUIRE(r.ok());
  return r.value;
}

}  // namespace

SCENARIO("a lock is held by one session at a time and passes to waiters in order", "[coord]") {
  Registry reg;
  test::ManualClock clock(reg);
  LockObject* lock = make<LockObject>(reg, "db", false);
  GIVEN("session 1 holding it and sessions 2 and 3 waiting") {
    Grants g1, g2, g3;
    REQUIRE(lock->acquire(forever(1), 0, 0ms, g1.fn()) == Status::OK);
    REQUIRE(lock->acquire(forever(2), 0, 0ms, g2.fn()) == Status::PARKED);
    REQUIRE(lock->acquire(forever(3), 0, 0ms, g3.fn()) == Status::PARKED);
    REQUIRE(reg.sessions_holding() == 1);
    WHEN("session 1 releases") {
      uint32_t remaining = 9;
      std::string msg;
      REQUIRE(lock->release(1, g1.grant.token, remaining, msg) == Status::OK);
      THEN("session 2 gets it with a larger fencing token; 3 still waits") {
        REQUIRE(remaining == 0);
        REQUIRE(g2.status == Status::OK);
        REQUIRE(g2.grant.token > g1.grant.token);
        REQUIRE(g3.calls == 0);
        REQUIRE(lock->holder_session() == 2);
      }
    }
    WHEN("session 1 ends without releasing") {
      reg.drop_session(1);
      THEN("the lock passes to session 2") {
        REQUIRE(g2.status == Status::OK);
        REQUIRE(lock->holder_session() == 2);
      }
    }
    WHEN("a release names a stale token or comes from another session") {
      uint32_t remaining = 0;
      std::string msg;
      THEN("it is NOT_OWNER and the lock stays held") {
        REQUIRE(lock->release(1, g1.grant.token + 100, remaining, msg) == Status::NOT_OWNER);
        REQUIRE(msg.find("lock 'db'") != std::string::npos);
        REQUIRE(lock->release(2, g1.grant.token, remaining, msg) == Status::NOT_OWNER);
        REQUIRE(lock->holder_session() == 1);
      }
    }
    WHEN("session 2's session ends while it waits, then 1 releases") {
      reg.drop_session(2);
      uint32_t remaining = 0;
      std::string msg;
      lock->release(1, g1.grant.token, remaining, msg);
      THEN("3 gets it and 2 was never called") {
        REQUIRE(g2.calls == 0);
        REQUIRE(g3.status == Status::OK);
      }
    }
  }
  GIVEN("a held lock and a try-acquire") {
    Grants g1, g2;
    lock->acquire(forever(1), 0, 0ms, g1.fn());
    REQUIRE(lock->acquire(Wait::now_only(2), 0, 0ms, g2.fn()) == Status::TIMEOUT);
    REQUIRE(lock->waiter_count() == 0);
  }
  GIVEN("a waiter with a deadline") {
    Grants g1, g2;
    lock->acquire(forever(1), 0, 0ms, g1.fn());
    REQUIRE(lock->acquire(reg.wait_for(2, 1000), 0, 0ms, g2.fn()) == Status::PARKED);
    REQUIRE(clock.advance(1s - tick) == 0);
    REQUIRE(g2.calls == 0);
    REQUIRE(lock->waiter_count() == 1);
    REQUIRE(clock.advance(tick) == 1);
    THEN("it times out at its deadline and leaves no trace") {
      REQUIRE(g2.calls == 1);
      REQUIRE(g2.status == Status::TIMEOUT);
      REQUIRE(g2.message.find("lock 'db'") != std::string::npos);
      REQUIRE(lock->waiter_count() == 0);
      REQUIRE(reg.waiters().size() == 0);
      REQUIRE(lock->holder_session() == 1);
    }
  }
}

SCENARIO("a lock's lease TTL ends the hold by itself", "[coord]") {
  Registry reg;
  test::ManualClock clock(reg);
  LockObject* lock = make<LockObject>(reg, "leased", false);
  Grants g1, g2;
  lock->acquire(forever(1), 0, 100ms, g1.fn());
  lock->acquire(forever(2), 0, 0ms, g2.fn());
  REQUIRE(reg.timer_count() == 1);
  REQUIRE(reg.next_deadline() == clock.now() + 100ms);
  WHEN("the lease passes") {
    REQUIRE(clock.advance(100ms - tick) == 0);
    REQUIRE(lock->holder_session() == 1);  // one tick before the TTL: still held
    REQUIRE(lock->token() == g1.grant.token);
    REQUIRE(g2.calls == 0);
    REQUIRE(clock.advance(tick) == 1);
    THEN("the waiter holds it, and the old holder's release is NOT_OWNER") {
      REQUIRE(g2.status == Status::OK);
      REQUIRE(lock->holder_session() == 2);
      REQUIRE(g2.grant.token > g1.grant.token);
      uint32_t r = 0;
      std::string msg;
      REQUIRE(lock->release(1, g1.grant.token, r, msg) == Status::NOT_OWNER);
      REQUIRE(reg.timer_count() == 0);
    }
  }
  WHEN("the holder releases before the lease passes") {
    uint32_t r = 0;
    std::string msg;
    REQUIRE(lock->release(1, g1.grant.token, r, msg) == Status::OK);
    THEN("its timer is gone") {
      REQUIRE(reg.timer_count() == 0);
    }
  }
}

SCENARIO("a reentrant lock counts the holder's re-acquires", "[coord]") {
  Registry reg;
  LockObject* lock = make<LockObject>(reg, "r", true);
  Grants a, b, other;
  lock->acquire(forever(1), 7, 0ms, a.fn());
  lock->acquire(forever(1), 7, 0ms, b.fn());
  REQUIRE(b.grant.count == 2);
  REQUIRE(b.grant.token == a.grant.token);
  // The same session but another owner (thread) waits.
  REQUIRE(lock->acquire(forever(1), 8, 0ms, other.fn()) == Status::PARKED);
  uint32_t remaining = 0;
  std::string msg;
  REQUIRE(lock->release(1, a.grant.token, remaining, msg) == Status::OK);
  REQUIRE(remaining == 1);
  REQUIRE(other.calls == 0);
  REQUIRE(lock->release(1, a.grant.token, remaining, msg) == Status::OK);
  REQUIRE(remaining == 0);
  REQUIRE(other.status == Status::OK);
}

SCENARIO("a semaphore grants at most max leases and returns a departed session's", "[coord]") {
  Registry reg;
  SemaphoreObject* sem = make<SemaphoreObject>(reg, "slots", 2u);
  uint64_t l1 = 0, l2 = 0, l3 = 0;
  Status s3 = Status::PARKED;
  sem->acquire(forever(1), [&](Status, uint64_t l, std::string_view) { l1 = l; });
  sem->acquire(forever(2), [&](Status, uint64_t l, std::string_view) { l2 = l; });
  sem->acquire(forever(3), [&](Status s, uint64_t l, std::string_view) {
    s3 = s;
    l3 = l;
  });
  REQUIRE(sem->held() == 2);
  REQUIRE(s3 == Status::PARKED);
  std::string msg;
  REQUIRE(sem->release(2, l1, msg) == Status::NOT_OWNER);  // session 2 does not hold l1
  reg.drop_session(1);
  REQUIRE(s3 == Status::OK);
  REQUIRE(l3 > l2);
  REQUIRE(sem->release(3, l3, msg) == Status::OK);
  REQUIRE(sem->release(3, l3, msg) == Status::NOT_OWNER);
  REQUIRE(sem->held() == 1);
}

SCENARIO("an event wakes every waiter when set", "[coord]") {
  Registry reg;
  EventObject* e = make<EventObject>(reg, "ready");
  int woken = 0;
  e->wait(forever(1), [&](Status s, std::string_view) { woken += s == Status::OK; });
  e->wait(forever(2), [&](Status s, std::string_view) { woken += s == Status::OK; });
  Status quick = Status::PARKED;
  e->wait(Wait::now_only(3), [&](Status s, std::string_view) { quick = s; });
  REQUIRE(quick == Status::TIMEOUT);
  e->set();
  REQUIRE(woken == 2);
  REQUIRE(e->waiter_count() == 0);
  e->wait(Wait::now_only(3), [&](Status s, std::string_view) { quick = s; });
  REQUIRE(quick == Status::OK);
  e->clear();
  REQUIRE_FALSE(e->is_set());
}

SCENARIO("a barrier releases all parties with arrival indexes, and breaks when one leaves",
         "[coord]") {
  Registry reg;
  test::ManualClock clock(reg);
  BarrierObject* b = make<BarrierObject>(reg, "phase", 3u);
  std::vector<std::pair<Status, uint32_t>> got(3, {Status::PARKED, 99});
  auto fn = [&](int i) {
    return [&, i](Status s, uint32_t idx, std::string_view) { got[i] = {s, idx}; };
  };
  WHEN("all three arrive") {
    b->wait(forever(1), fn(0));
    b->wait(forever(2), fn(1));
    REQUIRE(got[0].first == Status::PARKED);
    b->wait(forever(3), fn(2));
    THEN("each proceeds with its arrival index and the barrier is reusable") {
      REQUIRE(got[0] == std::make_pair(Status::OK, 0u));
      REQUIRE(got[1] == std::make_pair(Status::OK, 1u));
      REQUIRE(got[2] == std::make_pair(Status::OK, 2u));
      REQUIRE(b->waiter_count() == 0);
      REQUIRE_FALSE(b->broken());
    }
  }
  WHEN("a waiting party's session ends") {
    b->wait(forever(1), fn(0));
    b->wait(forever(2), fn(1));
    reg.drop_session(1);
    THEN("the others get BROKEN, and so do later waits until reset") {
      REQUIRE(got[1].first == Status::BROKEN);
      Status later = Status::PARKED;
      b->wait(forever(3), [&](Status s, uint32_t, std::string_view) { later = s; });
      REQUIRE(later == Status::BROKEN);
      b->reset();
      Status after_reset = Status::PARKED;
      REQUIRE(b->wait(forever(3), [&](Status s, uint32_t, std::string_view) { after_reset = s; }) ==
              Status::PARKED);
      REQUIRE(after_reset == Status::PARKED);
    }
  }
  WHEN("a waiting party times out") {
    REQUIRE(b->wait(reg.wait_for(1, 1000), fn(0)) == Status::PARKED);
    b->wait(forever(2), fn(1));
    REQUIRE(clock.advance(1s - tick) == 0);
    REQUIRE(got[0].first == Status::PARKED);
    REQUIRE(got[1].first == Status::PARKED);
    REQUIRE(clock.advance(tick) == 1);
    THEN("it gets TIMEOUT and the other BROKEN") {
      REQUIRE(got[0].first == Status::TIMEOUT);
      REQUIRE(got[1].first == Status::BROKEN);
      REQUIRE(b->waiter_count() == 0);
      REQUIRE(b->broken());
    }
  }
}

SCENARIO("a barrier with more parties than --max-waiters fills and releases everyone", "[coord]") {
  Registry reg(RegistryLimits{100, 2});  // two parked requests per object
  BarrierObject* b = make<BarrierObject>(reg, "crowd", 5u);
  std::vector<std::pair<Status, uint32_t>> got(5, {Status::PARKED, 99});
  WHEN("five parties arrive, each in its own session") {
    for (int i = 0; i < 4; ++i)
      REQUIRE(b->wait(forever(static_cast<SessionId>(i + 1)),
                      [&, i](Status s, uint32_t idx, std::string_view) {
                        got[i] = {s, idx};
                      }) == Status::PARKED);
    REQUIRE(b->waiter_count() == 4);  // above the limit of 2: barriers are excepted
    REQUIRE(b->wait(forever(5), [&](Status s, uint32_t idx, std::string_view) {
      got[4] = {s, idx};
    }) == Status::OK);
    THEN("every party proceeds with its arrival index and nothing is left parked") {
      for (uint32_t i = 0; i < 5; ++i) REQUIRE(got[i] == std::make_pair(Status::OK, i));
      REQUIRE(b->waiter_count() == 0);
      REQUIRE(reg.waiters().size() == 0);
      REQUIRE_FALSE(b->broken());
    }
  }
  WHEN("an event gets as many waits") {
    EventObject* e = make<EventObject>(reg, "limited");
    Status third = Status::PARKED;
    REQUIRE(e->wait(forever(1), [](Status, std::string_view) {}) == Status::PARKED);
    REQUIRE(e->wait(forever(2), [](Status, std::string_view) {}) == Status::PARKED);
    THEN("the limit applies to it: the third is refused with LIMIT") {
      REQUIRE(e->wait(forever(3), [&](Status s, std::string_view) { third = s; }) == Status::LIMIT);
      REQUIRE(third == Status::LIMIT);
      REQUIRE(e->waiter_count() == 2);
    }
  }
}

SCENARIO("a variable versions every change and wakes watchers", "[coord]") {
  Registry reg;
  VariableObject* v = make<VariableObject>(reg, "config");
  Status got_status = Status::PARKED;
  std::string got_value;
  uint64_t got_version = 0;
  auto record = [&](Status s, const VariableObject::Snapshot& snap, std::string_view) {
    got_status = s;
    got_value = std::string(snap.value);
    got_version = snap.version;
  };
  GIVEN("a get waiting for a value") {
    REQUIRE(v->get(forever(1), record) == Status::PARKED);
    const uint64_t v1 = v->set("a=1");
    THEN("it receives the first value and version") {
      REQUIRE(got_status == Status::OK);
      REQUIRE(got_value == "a=1");
      REQUIRE(got_version == v1);
    }
  }
  GIVEN("a value at version v1 and a watcher after v1") {
    const uint64_t v1 = v->set("a=1");
    REQUIRE(v->wait_for_change(v1, forever(1), record) == Status::PARKED);
    WHEN("a compare_and_set names a stale version") {
      uint64_t version = 0;
      REQUIRE_FALSE(v->compare_and_set(v1 - 1, "x", version));
      THEN("nothing changes and the current version is reported") {
        REQUIRE(version == v1);
        REQUIRE(got_status == Status::PARKED);
      }
    }
    WHEN("a compare_and_set names the current version") {
      uint64_t version = 0;
      REQUIRE(v->compare_and_set(v1, "a=2", version));
      THEN("the watcher sees the new value and a larger version") {
        REQUIRE(version > v1);
        REQUIRE(got_value == "a=2");
        REQUIRE(got_version == version);
      }
    }
    WHEN("the value is deleted") {
      REQUIRE(v->erase_value());
      THEN("the watcher sees a new version with no value; CAS from 0 works again") {
        REQUIRE(got_status == Status::OK);
        REQUIRE(got_version > v1);
        REQUIRE_FALSE(v->exists());
        uint64_t version = 0;
        REQUIRE(v->compare_and_set(0, "fresh", version));
      }
    }
  }
  GIVEN("no value") {
    REQUIRE(v->get(Wait::now_only(1), record) == Status::NOT_FOUND);
  }
}

SCENARIO("a counter adds atomically and refuses to overflow", "[coord]") {
  Registry reg;
  CounterObject* c = make<CounterObject>(reg, "done");
  bool sat = false;
  REQUIRE(c->add(5, sat) == 5);
  REQUIRE(c->add(-2, sat) == 3);
  REQUIRE_FALSE(sat);
  REQUIRE(c->add(INT64_MAX, sat) == 3);  // would overflow: refused, unchanged
  REQUIRE(sat);
  REQUIRE(c->value() == 3);
}

namespace {
struct FakeSink : SubscriberSink {
  int pending = 0, overflows = 0;
  void messages_pending() override { ++pending; }
  void overflowed() override { ++overflows; }
};
}  // namespace

SCENARIO("pub/sub delivers to exact and pattern subscribers, in order, within a bound",
         "[coord][pubsub]") {
  Registry reg;
  PubSub ps(reg);
  FakeSink sink;
  std::string err;
  const uint64_t exact = ps.subscribe(1, "sensors.temp", 10, Overflow::DropOldest, &sink, err);
  const uint64_t glob = ps.subscribe(2, "sensors.*", 3, Overflow::DropOldest, &sink, err);
  const uint64_t newest = ps.subscribe(3, "sensors.temp", 3, Overflow::DropNewest, &sink, err);
  const uint64_t strict = ps.subscribe(4, "sensors.temp", 3, Overflow::Disconnect, &sink, err);
  REQUIRE(exact);
  REQUIRE(glob);
  WHEN("5 messages are published to sensors.temp and one to sensors.hum and other.x") {
    std::vector<uint32_t> reached;
    for (int i = 0; i < 5; ++i) reached.push_back(ps.publish("sensors.temp", std::to_string(i)));
    REQUIRE(ps.publish("sensors.hum", "h") == 1);
    REQUIRE(ps.publish("other.x", "o") == 0);
    THEN("each subscription holds what its bound and policy allow, in order") {
      REQUIRE(reached == std::vector<uint32_t>{4, 4, 4, 2, 2});  // newest and strict refuse #4, #5
      auto drain = [&](uint64_t id) {
        std::vector<std::string> out;
        Subscription::Message m;
        while (ps.pop(*ps.find(id), m)) out.push_back(m.payload);
        return out;
      };
      REQUIRE(drain(exact) == std::vector<std::string>{"0", "1", "2", "3", "4"});
      REQUIRE(ps.find(glob)->dropped == 3);
      REQUIRE(drain(glob) == std::vector<std::string>{"3", "4", "h"});  // oldest dropped
      REQUIRE(drain(newest) == std::vector<std::string>{"0", "1", "2"});
      REQUIRE(ps.find(newest)->dropped == 2);
      REQUIRE(sink.overflows == 2);  // the DISCONNECT subscriber was told, twice
      REQUIRE(ps.find(strict)->dropped == 2);
    }
  }
  WHEN("a session ends and another unsubscribes") {
    ps.drop_session(2);
    REQUIRE(ps.unsubscribe(1, exact, err) == Status::OK);
    REQUIRE(ps.unsubscribe(1, exact, err) == Status::NOT_FOUND);
    THEN("their subscriptions are gone from the listing") {
      REQUIRE(ps.subscription_count() == 2);
      auto l = ps.list();
      REQUIRE(l.size() == 1);
      REQUIRE(l[0].name == "sensors.temp");
      REQUIRE(l[0].size == 2);
    }
  }
  THEN("bad patterns and buffers are refused") {
    REQUIRE(ps.subscribe(1, "", 1, Overflow::DropOldest, &sink, err) == 0);
    REQUIRE(ps.subscribe(1, "x", PubSub::kMaxBuffer + 1, Overflow::DropOldest, &sink, err) == 0);
    REQUIRE(ps.subscribe(1, "x", 1, static_cast<Overflow>(9), &sink, err) == 0);
  }
}

SCENARIO("regressions found in review of the coordination objects", "[coord]") {
  Registry reg;
  test::ManualClock clock(reg);
  WHEN("a lock held with a TTL is deleted") {
    LockObject* lock = make<LockObject>(reg, "ttl-held", false);
    Grants g;
    lock->acquire(forever(1), 0, 100ms, g.fn());
    REQUIRE(reg.timer_count() == 1);
    THEN("its timer goes with it (no double free) and the session holds nothing") {
      REQUIRE(reg.erase("ttl-held") == Status::OK);
      REQUIRE(reg.timer_count() == 0);
      REQUIRE(reg.sessions_holding() == 0);
      REQUIRE(clock.advance(1h) == 0);
    }
  }
  WHEN("a session with two parties waiting at one barrier ends") {
    BarrierObject* b = make<BarrierObject>(reg, "twice", 3u);
    int failed = 0;
    auto fn = [&](Status s, uint32_t, std::string_view) { failed += s != Status::OK; };
    b->wait(forever(1), fn);
    b->wait(forever(1), fn);
    reg.drop_session(1);  // cancelling one breaks the barrier and ends the other
    THEN("both are gone, without touching a freed waiter") {
      REQUIRE(b->waiter_count() == 0);
      REQUIRE(reg.waiters().size() == 0);
      REQUIRE(b->broken());
    }
  }
  WHEN("a lock is taken with a TTL too large for the clock") {
    LockObject* lock = make<LockObject>(reg, "long", false);
    Grants g;
    lock->acquire(forever(1), 0, std::chrono::milliseconds(INT64_MAX), g.fn());
    THEN("it is a hold without a lease, not one that ends at once") {
      REQUIRE(reg.timer_count() == 0);
      REQUIRE(clock.advance(24h) == 0);
      REQUIRE(lock->held());
    }
  }
  WHEN("a compare_and_set names the version a delete made") {
    VariableObject* v = make<VariableObject>(reg, "cfg");
    v->set("a");
    v->erase_value();
    const uint64_t deleted_at = v->version();
    uint64_t version = 0;
    THEN("it matches, as it would for any other change") {
      REQUIRE(v->compare_and_set(deleted_at, "b", version));
      REQUIRE(version > deleted_at);
    }
  }
}

SCENARIO("a lease passed to a waiter counts its own TTL from the grant", "[coord]") {
  Registry reg;
  test::ManualClock clock(reg);
  LockObject* lock = make<LockObject>(reg, "chain", false);
  Grants g1, g2, g3;
  lock->acquire(forever(1), 0, 100ms, g1.fn());
  lock->acquire(forever(2), 0, 300ms, g2.fn());  // parked: its TTL starts when it is granted
  lock->acquire(forever(3), 0, 0ms, g3.fn());
  clock.advance(100ms);
  REQUIRE(lock->holder_session() == 2);
  REQUIRE(g2.status == Status::OK);
  REQUIRE(reg.timer_count() == 1);
  REQUIRE(clock.advance(300ms - tick) == 0);
  REQUIRE(lock->holder_session() == 2);
  REQUIRE(g3.calls == 0);
  REQUIRE(clock.advance(tick) == 1);
  THEN("the third waiter holds it without a lease, and nothing is left timed") {
    REQUIRE(lock->holder_session() == 3);
    REQUIRE(g3.status == Status::OK);
    REQUIRE(g3.grant.token > g2.grant.token);
    REQUIRE(reg.timer_count() == 0);
    REQUIRE(reg.next_deadline() == TimePoint::max());
    uint32_t r = 0;
    std::string msg;
    REQUIRE(lock->release(2, g2.grant.token, r, msg) == Status::NOT_OWNER);
    REQUIRE(lock->release(3, g3.grant.token, r, msg) == Status::OK);
    REQUIRE_FALSE(lock->held());
    REQUIRE(reg.sessions_holding() == 0);
  }
}

SCENARIO("a lease released and re-acquired gets a fresh TTL, and the old timer stays quiet",
         "[coord]") {
  Registry reg;
  test::ManualClock clock(reg);
  LockObject* lock = make<LockObject>(reg, "again", false);
  Grants g1, g2;
  lock->acquire(forever(1), 0, 100ms, g1.fn());
  clock.advance(50ms);
  uint32_t r = 0;
  std::string msg;
  REQUIRE(lock->release(1, g1.grant.token, r, msg) == Status::OK);
  lock->acquire(forever(1), 0, 100ms, g2.fn());
  REQUIRE(clock.advance(100ms - tick) == 0);  // past the first lease's end: still held
  REQUIRE(lock->token() == g2.grant.token);
  REQUIRE(clock.advance(tick) == 1);
  REQUIRE_FALSE(lock->held());
  REQUIRE(reg.sessions_holding() == 0);
}

SCENARIO("waits with a timeout on the coordination objects end exactly at their deadline",
         "[coord]") {
  Registry reg;
  test::ManualClock clock(reg);
  std::vector<Status> got;
  std::vector<std::string> messages;
  auto record = [&](Status s, std::string_view m) {
    got.push_back(s);
    messages.emplace_back(m);
  };
  GIVEN("a semaphore with no free lease and an acquire that waits 2 s") {
    SemaphoreObject* sem = make<SemaphoreObject>(reg, "slots", 1u);
    sem->acquire(forever(1), [](Status, uint64_t, std::string_view) {});
    REQUIRE(sem->acquire(reg.wait_for(2, 2000), [&](Status s, uint64_t, std::string_view m) {
      record(s, m);
    }) == Status::PARKED);
    REQUIRE(clock.advance(2s - tick) == 0);
    REQUIRE(got.empty());
    REQUIRE(sem->waiter_count() == 1);
    REQUIRE(clock.advance(tick) == 1);
    THEN("it fails TIMEOUT naming the semaphore, and the held lease is untouched") {
      REQUIRE(got == std::vector<Status>{Status::TIMEOUT});
      REQUIRE(messages[0].find("'slots'") != std::string::npos);
      REQUIRE(sem->waiter_count() == 0);
      REQUIRE(sem->held() == 1);
      REQUIRE(reg.waiters().size() == 0);
    }
  }
  GIVEN("an unset event and a wait of 2 s") {
    EventObject* e = make<EventObject>(reg, "go");
    REQUIRE(e->wait(reg.wait_for(1, 2000), record) == Status::PARKED);
    REQUIRE(clock.advance(2s - tick) == 0);
    REQUIRE(got.empty());
    WHEN("it is set one tick before the deadline") {
      e->set();
      THEN("the waiter proceeds and nothing times out later") {
        REQUIRE(got == std::vector<Status>{Status::OK});
        REQUIRE(clock.advance(1h) == 0);
      }
    }
    WHEN("the deadline passes") {
      REQUIRE(clock.advance(tick) == 1);
      THEN("it fails TIMEOUT naming the event") {
        REQUIRE(got == std::vector<Status>{Status::TIMEOUT});
        REQUIRE(messages[0].find("event 'go'") != std::string::npos);
        REQUIRE(e->waiter_count() == 0);
      }
    }
  }
  GIVEN("a variable without a value, a get waiting 1 s and a watcher waiting 3 s") {
    VariableObject* v = make<VariableObject>(reg, "cfg");
    std::vector<Status> watched;
    auto on_get = [&](Status s, const VariableObject::Snapshot&, std::string_view m) {
      record(s, m);
    };
    auto on_watch = [&](Status s, const VariableObject::Snapshot&, std::string_view) {
      watched.push_back(s);
    };
    REQUIRE(v->get(reg.wait_for(1, 1000), on_get) == Status::PARKED);
    REQUIRE(v->wait_for_change(0, reg.wait_for(2, 3000), on_watch) == Status::PARKED);
    REQUIRE(clock.advance(1s - tick) == 0);
    REQUIRE(got.empty());
    REQUIRE(clock.advance(tick) == 1);
    REQUIRE(got == std::vector<Status>{Status::TIMEOUT});
    REQUIRE(messages[0].find("had no value") != std::string::npos);
    REQUIRE(watched.empty());
    REQUIRE(clock.advance(2s - tick) == 0);
    REQUIRE(watched.empty());
    REQUIRE(clock.advance(tick) == 1);
    THEN("the watcher fails TIMEOUT at its own deadline") {
      REQUIRE(watched == std::vector<Status>{Status::TIMEOUT});
      REQUIRE(v->waiter_count() == 0);
      REQUIRE(reg.waiters().size() == 0);
    }
  }
}
