// Locks, semaphores, events, barriers, variables, counters and pub/sub through the client,
// against a real manager, including processes that die while holding things.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "depot/client/client.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::TestManager;

namespace {

// Starts depot-test-helper (tests/coord/coord_helper.cpp) as another process.
std::unique_ptr<test::Process> helper(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {test::bin("depot-test-helper")};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<test::Process>(argv);
}

// The first line the helper printed, once it has printed one.
std::string first_line(test::Process& p) {
  REQUIRE(
      test::eventually([&] { return p.out().find('\n') != std::string::npos || !p.running(); }));
  INFO("helper stderr: " << p.err());
  const std::string out = p.out();
  REQUIRE(out.find('\n') != std::string::npos);
  return out.substr(0, out.find('\n'));
}

// Waits until `leases` session leases have surely passed for every session silent since the
// call: each round authenticates a connection that then says nothing, and waits until the
// manager closes it for its silence. The sweep that closes it would close any session silent
// for longer, so a session that survives the rounds was kept alive by its heartbeats.
void outlast_leases(const TestManager& m, const std::string& key, int leases) {
  for (int i = 0; i < leases; ++i) {
    test::RawConn silent(m.manager->port());
    REQUIRE(silent.handshake(key).kind == proto::FrameKind::AUTH_OK);
    REQUIRE(silent.closed_by_peer(10s));
  }
}

std::string state_of(Client& c, const std::string& name) {
  for (auto& o : c.list())
    if (o.name == name) return o.type + " " + o.state;
  return "";
}

}  // namespace

SCENARIO("a lock excludes other clients and hands out increasing fencing tokens", "[coord][net]") {
  TestManager m;
  Client a(m.address, m.authkey), b(m.address, m.authkey);
  auto la = a.lock("db");
  auto lb = b.lock("db");
  const uint64_t t1 = la.acquire();
  THEN("another client cannot take it meanwhile") {
    REQUIRE_FALSE(lb.try_acquire());
    REQUIRE_FALSE(lb.acquire(50ms));
    REQUIRE(test::state_has(state_of(a, "db"), "waiters", 0));  // the timed-out wait left no trace
  }
  THEN("releasing lets the other take it with a larger token") {
    la.release();
    auto t2 = lb.acquire(5s);
    REQUIRE(t2);
    REQUIRE(*t2 > t1);
    REQUIRE(lb.token() == *t2);
    lb.release();
  }
  THEN("a release by a client that does not hold it is NotOwnerError") {
    REQUIRE_THROWS_AS(lb.release(), NotOwnerError);
    la.release();
    REQUIRE_THROWS_AS(la.release(), NotOwnerError);
  }
  THEN("it works with std::scoped_lock and std::unique_lock") {
    la.release();
    {
      std::scoped_lock guard(lb);
      REQUIRE_FALSE(la.try_lock());
    }
    std::unique_lock ul(la, std::defer_lock);
    REQUIRE(ul.try_lock_for(1s));
    REQUIRE_FALSE(lb.try_lock());
  }
  THEN("a name used as a lock is not an rlock") {
    REQUIRE_THROWS_AS(b.rlock("db").try_acquire(), WrongTypeError);
  }
}

SCENARIO("a reentrant lock counts the same thread's holds", "[coord][net]") {
  TestManager m;
  Client a(m.address, m.authkey), b(m.address, m.authkey);
  auto r = a.rlock("re");
  const uint64_t t = r.acquire();
  REQUIRE(r.acquire() == t);
  r.release();
  REQUIRE_FALSE(b.rlock("re").try_acquire());  // still held once
  r.release();
  REQUIRE(b.rlock("re").try_acquire());
}

SCENARIO("a lock holder killed with SIGKILL releases its lock to a waiter in another process",
         "[coord][net]") {
  TestManager m;
  auto child = helper({"hold-lock", m.address, m.authkey, "shared"});
  const uint64_t child_token = std::stoull(first_line(*child));
  Client me(m.address, m.authkey);
  auto lock = me.lock("shared");
  REQUIRE_FALSE(lock.try_acquire());
  std::optional<uint64_t> mine;
  std::thread waiter([&] { mine = lock.acquire(20s); });
  REQUIRE(test::eventually([&] { return test::state_has(state_of(me, "shared"), "waiters", 1); }));
  child->kill(SIGKILL);
  child->wait();
  waiter.join();
  REQUIRE(mine);
  REQUIRE(*mine > child_token);
}

SCENARIO("a frozen holder loses its lock after the session lease but a busy one keeps it",
         "[coord][net]") {
  TestManager m("k", [](ManagerOptions& o) { o.session_lease = 400ms; });
  GIVEN("a holder stopped with SIGSTOP (no requests, no heartbeats)") {
    auto child = helper({"hold-lock", m.address, "k", "frozen"});
    const uint64_t frozen_token = std::stoull(first_line(*child));
    child->kill(SIGSTOP);
    Client me(m.address, "k");
    THEN("a waiter gets the lock once the lease passes") {
      auto got = me.lock("frozen").acquire(20s);
      REQUIRE(got);
      REQUIRE(*got > frozen_token);
    }
    child->kill(SIGKILL);
    child->wait();
  }
  GIVEN("a holder that computes for several leases without calling the manager") {
    Client holder(m.address, "k");
    Client other(m.address, "k");
    auto lock = holder.lock("busy");
    lock.acquire();
    outlast_leases(m, "k", 4);  // only the heartbeat thread speaks meanwhile
    THEN("it still holds the lock and releases it normally") {
      REQUIRE_FALSE(other.lock("busy").try_acquire());
      REQUIRE_NOTHROW(lock.release());
      REQUIRE(other.lock("busy").try_acquire());
    }
  }
}

SCENARIO("a lock lease TTL frees a hung holder's lock", "[coord][net]") {
  TestManager m;
  Client a(m.address, m.authkey), b(m.address, m.authkey);
  auto la = a.lock("ttl");
  la.lease(100ms);
  const uint64_t t1 = la.acquire();
  auto t2 = b.lock("ttl").acquire(10s);
  REQUIRE(t2);
  REQUIRE(*t2 > t1);
  REQUIRE_THROWS_AS(la.release(), NotOwnerError);
}

SCENARIO("a lock guard whose hold was lost does not terminate the program", "[coord][net]") {
  TestManager m;
  Client a(m.address, m.authkey), b(m.address, m.authkey);
  auto la = a.lock("guarded");
  la.lease(50ms);
  {
    std::scoped_lock guard(la);
    auto t = b.lock("guarded").acquire(10s);  // granted once the lease ran out
    REQUIRE(t);
  }  // the guard's unlock finds the hold gone: recorded, not thrown
  REQUIRE_THAT(la.unlock_error(), Catch::Contains("lock 'guarded'"));
  REQUIRE_THROWS_AS(la.release(), NotOwnerError);
}

SCENARIO("50 contending processes: never two inside the critical section", "[coord][net][slow]") {
  TestManager m;
  constexpr int kProcs = 50, kRounds = 10;
  // Shared memory the test itself uses to check exclusion, independent of depot: a file the
  // helpers map too.
  struct Shared {
    std::atomic<int> inside;
    std::atomic<int> violations;
    long unprotected_count;  // incremented without atomics: exact only under mutual exclusion
  };
  const std::string path = "/tmp/depot-contend-" + std::to_string(::getpid());
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, sizeof(Shared)) == 0);
  auto* sh = static_cast<Shared*>(
      ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  REQUIRE(sh != MAP_FAILED);
  new (sh) Shared{{0}, {0}, 0};
  std::vector<std::unique_ptr<test::Process>> kids;
  for (int p = 0; p < kProcs; ++p)
    kids.push_back(
        helper({"contend", m.address, m.authkey, "critical", std::to_string(kRounds), path}));
  int failed = 0;
  for (auto& k : kids) {
    const int code = k->wait(std::chrono::seconds(120));
    if (code != 0) {
      ++failed;
      WARN("helper exited " << code << ": " << k->err());
    }
  }
  REQUIRE(failed == 0);
  REQUIRE(sh->violations.load() == 0);
  REQUIRE(sh->unprotected_count == kProcs * kRounds);
  ::munmap(sh, sizeof(Shared));
  ::close(fd);
  ::unlink(path.c_str());
}

SCENARIO("a semaphore bounds concurrent leases and returns a dead session's", "[coord][net]") {
  TestManager m;
  Client a(m.address, m.authkey), b(m.address, m.authkey);
  auto sa = a.semaphore("slots", 2);
  sa.acquire();
  sa.acquire();
  REQUIRE_FALSE(b.semaphore("slots", 2).try_acquire());
  THEN("a different max is refused") {
    REQUIRE_THROWS_WITH(b.semaphore("slots", 3).try_acquire(), Catch::Contains("max 2"));
  }
  THEN("a release by a non-holder is NotOwnerError") {
    REQUIRE_THROWS_AS(b.semaphore("slots", 2).release(), NotOwnerError);
  }
  THEN("a release frees a lease for another client") {
    sa.release();
    REQUIRE(b.semaphore("slots", 2).try_acquire());
  }
  THEN("a dead holder's leases come back") {
    auto child = helper({"hold-sem", m.address, m.authkey, "pool", "1"});
    REQUIRE(first_line(*child) == "held");
    REQUIRE_FALSE(b.semaphore("pool", 1).try_acquire());
    child->kill(SIGKILL);
    child->wait();
    REQUIRE(b.semaphore("pool", 1).acquire(10s));
  }
}

SCENARIO("an event set by one client wakes waiters in others", "[coord][net]") {
  TestManager m;
  Client a(m.address, m.authkey), b(m.address, m.authkey);
  REQUIRE_FALSE(a.event("go").is_set());
  REQUIRE_FALSE(a.event("go").wait(30ms));
  std::atomic<int> woke{0};
  std::thread t1([&] {
    a.event("go").wait();
    ++woke;
  });
  Client c(m.address, m.authkey);
  std::thread t2([&] {
    if (c.event("go").wait(20s)) ++woke;
  });
  REQUIRE(test::eventually([&] { return test::state_has(state_of(b, "go"), "waiters", 2); }));
  b.event("go").set();
  t1.join();
  t2.join();
  REQUIRE(woke == 2);
  REQUIRE(b.event("go").is_set());
  b.event("go").clear();
  REQUIRE_FALSE(a.event("go").is_set());
}

SCENARIO("a wait with the largest timeout waits forever instead of overflowing", "[coord][net]") {
  TestManager m;
  Client c(m.address, m.authkey), setter(m.address, m.authkey);
  std::atomic<bool> woke{false};
  std::thread t([&] { woke = c.event("forever").wait(std::chrono::nanoseconds::max()); });
  REQUIRE(
      test::eventually([&] { return test::state_has(state_of(setter, "forever"), "waiters", 1); }));
  // Meanwhile the same client's other calls work: no reconnect storm, no failed calls.
  for (int i = 0; i < 50; ++i) c.counter("calls").add(1);
  setter.event("forever").set();
  t.join();
  REQUIRE(woke);
  REQUIRE(c.connections() == 1);
  REQUIRE(c.counter("calls").value() == 50);
  auto sub = c.topic<int>("t").subscribe();
  setter.topic<int>("t").publish(7);
  REQUIRE(sub.next(std::chrono::nanoseconds::max())->value == 7);
}

SCENARIO("a barrier releases its parties together and breaks when one dies", "[coord][net]") {
  TestManager m;
  WHEN("three clients wait") {
    std::vector<uint32_t> idx(3);
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i)
      ts.emplace_back([&, i] {
        Client c(m.address, m.authkey);
        for (int phase = 0; phase < 3; ++phase) idx[i] += c.barrier("phase", 3).wait(20s);
      });
    for (auto& t : ts) t.join();
    THEN("every phase handed out the indexes 0, 1, 2") {
      REQUIRE(idx[0] + idx[1] + idx[2] == 3 * 3);
    }
  }
  WHEN("one party dies while the others wait") {
    auto child = helper({"barrier", m.address, m.authkey, "doomed", "3"});
    REQUIRE(first_line(*child) == "waiting");
    Client me(m.address, m.authkey);
    std::string error;
    std::thread t([&] {
      try {
        me.barrier("doomed", 3).wait(20s);
      } catch (const BrokenError& e) {
        error = e.what();
      }
    });
    REQUIRE(
        test::eventually([&] { return test::state_has(state_of(me, "doomed"), "waiting", 2); }));
    child->kill(SIGKILL);
    child->wait();
    t.join();
    THEN("the survivor gets BrokenError saying why, until reset") {
      REQUIRE(error.find("disconnected") != std::string::npos);
      REQUIRE_THROWS_AS(me.barrier("doomed", 3).wait(1s), BrokenError);
      me.barrier("doomed", 3).reset();
      REQUIRE_THROWS_AS(me.barrier("doomed", 3).wait(50ms), TimeoutError);
    }
  }
}

SCENARIO("a variable is versioned, watched and updated with compare-and-set", "[coord][net]") {
  TestManager m;
  Client a(m.address, m.authkey), b(m.address, m.authkey);
  auto va = a.variable<std::string>("config");
  auto vb = b.variable<std::string>("config");
  REQUIRE_FALSE(va.try_get());
  REQUIRE(state_of(a, "config").empty());  // a look that cannot wait creates nothing
  REQUIRE_THROWS_AS(va.get(30ms), TimeoutError);
  REQUIRE(state_of(a, "config").rfind("variable ", 0) == 0);  // a wait made it, to wait on it
  std::string first;
  std::thread getter([&] { first = vb.get(); });  // blocks until it exists
  REQUIRE(test::eventually([&] { return test::state_has(state_of(a, "config"), "watchers", 1); }));
  const uint64_t v1 = va.set("a=1");
  getter.join();
  REQUIRE(first == "a=1");
  WHEN("a watcher waits after v1 and another client updates with CAS") {
    Versioned<std::string> seen;
    std::thread watcher([&] { seen = vb.wait_for_change(v1, 20s); });
    REQUIRE(
        test::eventually([&] { return test::state_has(state_of(a, "config"), "watchers", 1); }));
    auto stale = va.compare_and_set(v1 - 1, "nope");
    REQUIRE_FALSE(stale.swapped);
    REQUIRE(stale.version == v1);
    auto ok = va.compare_and_set(v1, "a=2");
    watcher.join();
    THEN("the watcher sees the new value and version") {
      REQUIRE(ok.swapped);
      REQUIRE(seen.version == ok.version);
      REQUIRE(seen.value == std::optional<std::string>("a=2"));
      REQUIRE(vb.try_get_versioned()->version == ok.version);
    }
  }
  WHEN("it is deleted") {
    REQUIRE(va.erase());
    THEN("it has no value, and a later version") {
      REQUIRE_FALSE(vb.try_get());
      auto change = vb.wait_for_change(v1, 1s);
      REQUIRE(change.version > v1);
      REQUIRE_FALSE(change.value);
      REQUIRE_FALSE(va.erase());
    }
  }
}

SCENARIO("a counter counts exactly under concurrent adds", "[coord][net]") {
  TestManager m;
  Client c(m.address, m.authkey);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 250; ++i) c.counter("done").add(1);
    });
  for (auto& t : ts) t.join();
  REQUIRE(c.counter("done").value() == 1000);
  REQUIRE(c.counter("done").add(-1000) == 0);
}

SCENARIO("published messages reach every subscriber in order, patterns included",
         "[coord][net][pubsub]") {
  TestManager m;
  Client pub(m.address, m.authkey), s1(m.address, m.authkey), s2(m.address, m.authkey);
  auto exact = s1.topic<int>("sensors.temp").subscribe();
  auto pattern = s2.topic<int>("sensors.*").subscribe();
  REQUIRE(pub.topic<int>("sensors.temp").publish(1) == 2);
  REQUIRE(pub.topic<int>("sensors.hum").publish(2) == 1);
  REQUIRE(pub.topic<int>("elsewhere").publish(3) == 0);
  for (int i = 10; i < 1010; ++i) pub.topic<int>("sensors.temp").publish(i);
  THEN("each gets its messages in publish order, with their topics") {
    auto m1 = exact.next(5s);
    REQUIRE(m1);
    REQUIRE(m1->value == 1);
    REQUIRE(m1->topic == "sensors.temp");
    for (int i = 10; i < 1010; ++i) REQUIRE(exact.next(5s)->value == i);
    REQUIRE(pattern.next(5s)->value == 1);
    auto hum = pattern.next(5s);
    REQUIRE(hum->topic == "sensors.hum");
    REQUIRE(hum->value == 2);
    REQUIRE_FALSE(exact.next(20ms));
    REQUIRE(exact.dropped() == 0);
  }
  THEN("unsubscribing leaves nothing behind") {
    exact.unsubscribe();
    pattern.unsubscribe();
    REQUIRE(test::eventually([&] { return pub.list().empty(); }));
    REQUIRE(pub.topic<int>("sensors.temp").publish(5) == 0);
  }
}

SCENARIO("a subscription made while messages flow receives the first one delivered to it",
         "[coord][net][pubsub]") {
  TestManager m;
  Client sub(m.address, m.authkey);
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> last_receivers{1};
  std::mutex mu;
  std::vector<int> first_delivered;  // per round: the first value publish() says reached it
  std::thread publisher([&] {
    Client p(m.address, m.authkey);
    uint32_t before = 0;
    for (int v = 0; !stop; ++v) {
      const uint32_t n = p.topic<int>("stream").publish(v);
      if (n == 1 && before == 0) {
        std::lock_guard lk(mu);
        first_delivered.push_back(v);
      }
      before = n;
      last_receivers = n;
    }
  });
  struct Join {  // stops the publisher however the scenario ends
    std::atomic<bool>& stop;
    std::thread& t;
    ~Join() {
      stop = true;
      t.join();
    }
  } join{stop, publisher};
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    // The publisher has seen this subscriber gone, so the next "1" starts this round.
    REQUIRE(test::eventually([&] { return last_receivers == 0; }));
    std::optional<Message<int>> first;
    {
      auto s = sub.topic<int>("stream").subscribe();
      first = s.next(10s);
      REQUIRE(first);
      auto second = s.next(10s);  // and the ones after follow without a gap
      REQUIRE(second);
      REQUIRE(second->value == first->value + 1);
    }  // unsubscribed
    REQUIRE(test::eventually([&] {
      std::lock_guard lk(mu);
      return first_delivered.size() > static_cast<size_t>(round);
    }));
    std::lock_guard lk(mu);
    REQUIRE(first->value == first_delivered[round]);
  }
}

SCENARIO("a callback subscription runs the callback for each message", "[coord][net][pubsub]") {
  TestManager m;
  Client pub(m.address, m.authkey), sub(m.address, m.authkey);
  std::mutex mu;
  std::vector<std::string> got;
  auto s = sub.topic<std::string>("news").subscribe([&](const Message<std::string>& msg) {
    std::lock_guard lk(mu);
    got.push_back(msg.value);
  });
  REQUIRE(pub.topic<std::string>("news").publish("a") == 1);
  pub.topic<std::string>("news").publish("b");
  REQUIRE(test::eventually([&] {
    std::lock_guard lk(mu);
    return got.size() == 2;
  }));
  REQUIRE(got == std::vector<std::string>{"a", "b"});
}

SCENARIO("a slow subscriber never grows the manager's memory past its buffer bound",
         "[coord][net][pubsub]") {
  TestManager m;
  Client pub(m.address, m.authkey), slow(m.address, m.authkey);
  auto sub = slow.topic<std::string>("firehose")
                 .subscribe(SubscribeOptions{.buffer = 100, .overflow = Overflow::DropOldest});
  // 40 MB: more than the kernel's socket buffers can absorb, so the manager must buffer and drop.
  constexpr int kMessages = 40'000;
  const std::string payload(1024, 'x');
  size_t max_buffered = 0;
  for (int i = 0; i < kMessages; ++i) {
    pub.topic<std::string>("firehose").publish(payload);
    if (i % 1000 == 0) {
      const std::string stats = pub.stats();
      max_buffered = std::max<size_t>(
          max_buffered, static_cast<size_t>(test::json_number(stats, "pubsub_buffered_bytes")));
    }
  }
  THEN("the manager held at most 100 messages and the subscriber sees the drops") {
    REQUIRE(max_buffered <= 100 * (payload.size() + 9));
    size_t received = 0;
    while (sub.next(200ms)) ++received;
    REQUIRE(received > 0);
    REQUIRE(received < static_cast<size_t>(kMessages));
    REQUIRE(sub.dropped() > 0);
  }
}

SCENARIO("a subscriber with the disconnect policy is cut off when it falls behind",
         "[coord][net][pubsub]") {
  TestManager m;
  Client pub(m.address, m.authkey), slow(m.address, m.authkey);
  auto sub = slow.topic<std::string>("burst").subscribe(
      SubscribeOptions{.buffer = 10, .overflow = Overflow::Disconnect});
  const std::string payload(64 * 1024, 'y');  // enough to fill the socket and the buffer
  for (int i = 0; i < 200; ++i) pub.topic<std::string>("burst").publish(payload);
  THEN("its connection was closed and the manager kept no subscription for it") {
    REQUIRE(test::eventually([&] { return test::json_number(pub.stats(), "subscriptions") == 0; }));
  }
}

SCENARIO("a session that goes silent is closed after the session lease", "[coord][net]") {
  TestManager m("k", [](ManagerOptions& o) { o.session_lease = 200ms; });
  test::RawConn raw(m.manager->port());
  REQUIRE(raw.handshake("k").kind == proto::FrameKind::AUTH_OK);
  REQUIRE(raw.closed_by_peer(10s));
  THEN("a client library connection, idle but heartbeating, stays") {
    Client c(m.address, "k");
    outlast_leases(m, "k", 3);
    c.ping();
    REQUIRE(c.connections() == 1);
  }
}
