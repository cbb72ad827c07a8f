// Locks, semaphores, events, barriers, variables, counters and pub/sub through the client,
// against a real manager, including processes that die while holding things.
#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "client/client.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::TestManager;

namespace {

// A pipe a forked child writes one line to, and the parent reads.
struct Pipe {
  int fd[2];
  Pipe() { REQUIRE(::pipe(fd) == 0); }
  ~Pipe() {
    ::close(fd[0]);
    ::close(fd[1]);
  }
  void write_line(const std::string& s) {
    std::string l = s + "\n";
    (void)!::write(fd[1], l.data(), l.size());
  }
  std::string read_line() {
    std::string out;
    char c;
    pollfd p{fd[0], POLLIN, 0};
    while (::poll(&p, 1, 10'000) > 0 && ::read(fd[0], &c, 1) == 1 && c != '\n') out += c;
    return out;
  }
};

// Forks a child that runs `body` and exits; returns its pid.
template <class F>
pid_t spawn(F&& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 0;
    try {
      body();
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  return pid;
}

void reap(pid_t pid) {
  int st;
  ::waitpid(pid, &st, 0);
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
    REQUIRE(state_of(a, "db").find("waiters=0") !=
            std::string::npos);  // the timed-out wait left no trace
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
  Pipe pipe;
  pid_t child = spawn([&] {
    Client c(m.address, m.authkey);
    pipe.write_line(std::to_string(c.lock("shared").acquire()));
    for (;;) ::pause();
  });
  const uint64_t child_token = std::stoull(pipe.read_line());
  Client me(m.address, m.authkey);
  auto lock = me.lock("shared");
  REQUIRE_FALSE(lock.try_acquire());
  std::optional<uint64_t> mine;
  std::thread waiter([&] { mine = lock.acquire(20s); });
  REQUIRE(test::eventually(
      [&] { return state_of(me, "shared").find("waiters=1") != std::string::npos; }));
  ::kill(child, SIGKILL);
  reap(child);
  waiter.join();
  REQUIRE(mine);
  REQUIRE(*mine > child_token);
}

SCENARIO("a frozen holder loses its lock after the session lease; a busy one keeps it",
         "[coord][net]") {
  TestManager m("k", [](ManagerOptions& o) { o.session_lease = 400ms; });
  GIVEN("a holder stopped with SIGSTOP (no requests, no heartbeats)") {
    Pipe pipe;
    pid_t child = spawn([&] {
      Client c(m.address, "k");
      pipe.write_line(std::to_string(c.lock("frozen").acquire()));
      for (;;) ::pause();
    });
    const uint64_t frozen_token = std::stoull(pipe.read_line());
    ::kill(child, SIGSTOP);
    Client me(m.address, "k");
    THEN("a waiter gets the lock once the lease passes") {
      auto got = me.lock("frozen").acquire(20s);
      REQUIRE(got);
      REQUIRE(*got > frozen_token);
    }
    ::kill(child, SIGKILL);
    reap(child);
  }
  GIVEN("a holder that computes for several leases without calling the manager") {
    Client holder(m.address, "k");
    Client other(m.address, "k");
    auto lock = holder.lock("busy");
    lock.acquire();
    std::this_thread::sleep_for(1500ms);  // ~4 leases: only the heartbeat thread speaks
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

SCENARIO("50 contending processes: never two inside the critical section", "[coord][net][slow]") {
  TestManager m;
  constexpr int kProcs = 50, kRounds = 10;
  // Shared memory the test itself uses to check exclusion, independent of depot.
  struct Shared {
    std::atomic<int> inside;
    std::atomic<int> violations;
    long unprotected_count;  // incremented without atomics: exact only under mutual exclusion
  };
  auto* sh = static_cast<Shared*>(
      ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  REQUIRE(sh != MAP_FAILED);
  new (sh) Shared{{0}, {0}, 0};
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p)
    kids.push_back(spawn([&] {
      Client c(m.address, m.authkey);
      auto lock = c.lock("critical");
      for (int i = 0; i < kRounds; ++i) {
        std::scoped_lock guard(lock);
        if (sh->inside.fetch_add(1) != 0) sh->violations.fetch_add(1);
        const long v = sh->unprotected_count;
        std::this_thread::yield();  // widen the window a race would need
        sh->unprotected_count = v + 1;
        sh->inside.fetch_sub(1);
      }
    }));
  int failed = 0;
  for (pid_t k : kids) {
    int st;
    ::waitpid(k, &st, 0);
    failed += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  REQUIRE(failed == 0);
  REQUIRE(sh->violations.load() == 0);
  REQUIRE(sh->unprotected_count == kProcs * kRounds);
  ::munmap(sh, sizeof(Shared));
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
    Pipe pipe;
    pid_t child = spawn([&] {
      Client c(m.address, m.authkey);
      c.semaphore("pool", 1).acquire();
      pipe.write_line("held");
      for (;;) ::pause();
    });
    REQUIRE(pipe.read_line() == "held");
    REQUIRE_FALSE(b.semaphore("pool", 1).try_acquire());
    ::kill(child, SIGKILL);
    reap(child);
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
  REQUIRE(
      test::eventually([&] { return state_of(b, "go").find("waiters=2") != std::string::npos; }));
  b.event("go").set();
  t1.join();
  t2.join();
  REQUIRE(woke == 2);
  REQUIRE(b.event("go").is_set());
  b.event("go").clear();
  REQUIRE_FALSE(a.event("go").is_set());
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
    Pipe pipe;
    pid_t child = spawn([&] {
      Client c(m.address, m.authkey);
      pipe.write_line("waiting");
      c.barrier("doomed", 3).wait();
    });
    REQUIRE(pipe.read_line() == "waiting");
    Client me(m.address, m.authkey);
    std::string error;
    std::thread t([&] {
      try {
        me.barrier("doomed", 3).wait(20s);
      } catch (const BrokenError& e) {
        error = e.what();
      }
    });
    REQUIRE(test::eventually(
        [&] { return state_of(me, "doomed").find("waiting=2") != std::string::npos; }));
    ::kill(child, SIGKILL);
    reap(child);
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
  REQUIRE_THROWS_AS(va.get(30ms), TimeoutError);
  std::string first;
  std::thread getter([&] { first = vb.get(); });  // blocks until it exists
  REQUIRE(test::eventually(
      [&] { return state_of(a, "config").find("watchers=1") != std::string::npos; }));
  const uint64_t v1 = va.set("a=1");
  getter.join();
  REQUIRE(first == "a=1");
  WHEN("a watcher waits after v1 and another client updates with CAS") {
    Versioned<std::string> seen;
    std::thread watcher([&] { seen = vb.wait_for_change(v1, 20s); });
    REQUIRE(test::eventually(
        [&] { return state_of(a, "config").find("watchers=1") != std::string::npos; }));
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
      auto at = stats.find("\"pubsub_buffered_bytes\":");
      max_buffered = std::max<size_t>(max_buffered, std::stoull(stats.substr(at + 24)));
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
    REQUIRE(test::eventually(
        [&] { return pub.stats().find("\"subscriptions\":0") != std::string::npos; }));
  }
}

SCENARIO("a session that goes silent is closed after the session lease", "[coord][net]") {
  TestManager m("k", [](ManagerOptions& o) { o.session_lease = 200ms; });
  test::RawConn raw(m.manager->port());
  REQUIRE(raw.handshake("k").kind == proto::FrameKind::AUTH_OK);
  REQUIRE(raw.closed_by_peer(10s));
  THEN("a client library connection, idle but heartbeating, stays") {
    Client c(m.address, "k");
    std::this_thread::sleep_for(700ms);
    c.ping();
    REQUIRE(c.connections() == 1);
  }
}
