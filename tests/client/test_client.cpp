// The C++ client against a real manager over loopback.
#include <catch2/catch.hpp>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "depot/auth/handshake.h"
#include "depot/client/client.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::TestManager;

namespace {

struct Task {
  int id = 0;
  std::string name;
  std::vector<double> weights;
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& id& name& weights;
  }
  bool operator==(const Task&) const = default;
};

bool has_getter(Client& c, const std::string& queue, int n = 1) {
  for (auto& o : c.list())
    if (o.name == queue && test::state_has(o.state, "getters", static_cast<uint64_t>(n)))
      return true;
  return false;
}

// The message of the E that f() throws, or a note that it threw nothing of that type.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no exception of the expected type)";
}

}  // namespace

SCENARIO("values of every codec round-trip through a queue", "[client]") {
  TestManager m;
  Client c(m.address, m.authkey);
  GIVEN("queues of strings, bytes, numbers, bools and a serialisable struct") {
    auto s = c.queue<std::string>("s");
    auto b = c.queue<std::vector<uint8_t>>("b");
    auto i = c.queue<int64_t>("i");
    auto d = c.queue<double>("d");
    auto f = c.queue<bool>("f");
    auto t = c.queue<Task>("t");
    s.put(std::string("with\0nul", 8));
    b.put({0, 255, 7});
    i.put(-9'000'000'000'000LL);
    d.put(0.1);
    f.put(true);
    Task task{7, "seven", {0.5, 1.25}};
    t.put(task);
    THEN("each comes back equal") {
      REQUIRE(s.get() == std::string("with\0nul", 8));
      REQUIRE(b.get() == std::vector<uint8_t>{0, 255, 7});
      REQUIRE(i.get() == -9'000'000'000'000LL);
      REQUIRE(d.get() == 0.1);
      REQUIRE(f.get() == true);
      REQUIRE(t.get() == task);
    }
    THEN("numbers travel as decimal text, readable by other clients") {
      c.queue<int>("text").put(42);
      REQUIRE(c.queue<std::string>("text").get() == "42");
    }
    THEN("an item that is not a valid number throws CodecError") {
      s.put("not a number");
      REQUIRE_THROWS_AS(c.queue<int>("s").get(), CodecError);
    }
  }
}

SCENARIO("queue calls throw typed errors carrying the manager's message", "[client]") {
  TestManager m;
  Client c(m.address, m.authkey);
  auto q = c.queue<int>("jobs", QueueOptions{.maxsize = 2});
  WHEN("a timed get finds nothing") {
    THEN("TimeoutError names the queue") {
      REQUIRE_THROWS_MATCHES(q.get(50ms), TimeoutError,
                             Catch::Message("queue 'jobs' stayed empty until the timeout"));
    }
    THEN("try_get returns nothing and try_get_many an empty batch") {
      REQUIRE_FALSE(q.try_get().has_value());
      REQUIRE(q.try_get_many(5).empty());
    }
  }
  WHEN("the queue is full") {
    q.put(1);
    q.put(2);
    THEN("try_put is false, a timed put throws FullError, and full() says so") {
      REQUIRE(q.full());
      REQUIRE_FALSE(q.try_put(3));
      REQUIRE_THROWS_AS(q.put(3, 30ms), FullError);
      REQUIRE(q.qsize() == 2);
    }
    THEN("a put_many that cannot finish reports how many it put") {
      q.get();
      try {
        q.put_many({10, 11, 12}, 30ms);
        FAIL("put_many should have thrown");
      } catch (const FullError& e) {
        REQUIRE(e.accepted() == 1);
        REQUIRE(std::string(e.what()).find("1 of 3") != std::string::npos);
      }
    }
  }
  WHEN("it is declared again with another maxsize") {
    THEN("ProtocolError says how to fix it") {
      REQUIRE_THROWS_WITH(c.queue<int>("jobs", QueueOptions{.maxsize = 5}),
                          Catch::Contains("exists with maxsize 2"));
    }
  }
  WHEN("a queue that does not exist is deleted") {
    THEN("NotFoundError") {
      REQUIRE_THROWS_AS(c.queue<int>("ghost").destroy(), NotFoundError);
    }
  }
  WHEN("the queue is deleted while a get waits on it") {
    std::atomic<bool> not_found{false};
    std::thread t([&] {
      Client other(m.address, m.authkey);
      try {
        other.queue<int>("jobs").get();
      } catch (const NotFoundError&) {
        not_found = true;
      }
    });
    REQUIRE(test::eventually([&] { return has_getter(c, "jobs"); }));
    q.destroy();
    t.join();
    THEN("the waiter gets NotFoundError") {
      REQUIRE(not_found);
    }
  }
}

SCENARIO("the client reports connection and authentication failures clearly", "[client]") {
  TestManager m;
  THEN("a wrong key throws AuthError saying authentication failed") {
    REQUIRE_THAT(message_of<AuthError>([&] { Client(m.address, "nope"); }),
                 Catch::Contains("authentication"));
  }
  THEN("an unreachable address throws ConnectionError saying it cannot connect") {
    // A port that was just free: bind, read it, close.
    uint16_t port;
    {
      test::TestManager tmp;
      port = tmp.manager->port();
    }
    REQUIRE_THAT(
        message_of<ConnectionError>([&] { Client("127.0.0.1:" + std::to_string(port), "k"); }),
        Catch::Contains("cannot connect"));
  }
  THEN("a malformed address is rejected") {
    REQUIRE_THROWS_AS(Client("no-port", "k"), ConnectionError);
  }
  THEN("ping, stats and list work") {
    Client c(m.address, m.authkey);
    REQUIRE(c.ping() > 0ns);
    REQUIRE(c.stats().find("\"connections\"") != std::string::npos);
    c.queue<int>("a").put(1);
    auto l = c.list();
    REQUIRE(l.size() == 1);
    REQUIRE(l[0].name == "a");
    REQUIRE(l[0].type == "queue");
    REQUIRE(l[0].size == 1);
  }
}

SCENARIO("clients have names the manager shows", "[client]") {
  TestManager m;
  GIVEN("a client named holder-1 holding a lock") {
    ClientOptions o;
    o.name = "holder-1";
    Client holder(m.address, m.authkey, o);
    REQUIRE(holder.name() == "holder-1");
    auto lock = holder.lock("jobs.lock");
    const uint64_t token = lock.acquire();
    THEN("another client's LIST names the holder") {
      Client other(m.address, m.authkey);
      std::string state;
      for (auto& e : other.list())
        if (e.name == "jobs.lock") state = e.state;
      REQUIRE_THAT(state, Catch::Contains("name=holder-1 token=" + std::to_string(token)));
    }
  }
  THEN("a client given no name is called after its program and pid") {
    Client c(m.address, m.authkey);
    REQUIRE_THAT(c.name(), Catch::EndsWith("-" + std::to_string(::getpid())));
    REQUIRE(auth::check_client_name(c.name()).empty());
  }
  THEN("a name with a space or of 65 bytes is refused before connecting, saying why") {
    ClientOptions o;
    o.name = "has space";
    REQUIRE_THAT(
        message_of<std::invalid_argument>([&] { Client(m.address, m.authkey, o); }),
        Catch::Contains("ClientOptions::name 'has space'") && Catch::Contains("printable ASCII"));
    o.name = std::string(65, 'n');
    REQUIRE_THAT(message_of<std::invalid_argument>([&] { Client(m.address, m.authkey, o); }),
                 Catch::Contains("at most 64 bytes"));
  }
  // Raw frames speak plain TCP: the suite's TLS registration leaves these two out.
  if (!test::tls_mode())
    THEN("the manager refuses a version-4 AUTH whose name breaks the rule, naming it") {
      test::RawConn raw(m.manager->port());
      std::string body;
      const auto h = raw.handshake(m.authkey, nullptr, nullptr, "tab\tname", &body);
      REQUIRE(h.kind == proto::FrameKind::REPLY);
      REQUIRE(static_cast<Status>(h.code) == Status::BAD_REQUEST);
      REQUIRE_THAT(std::string(proto::error_message(body)),
                   Catch::Contains("printable ASCII") && Catch::Contains("another name"));
      REQUIRE(raw.closed_by_peer());
    }
  if (!test::tls_mode()) THEN("a version-2 AUTH (an older client, no name) still works") {
      test::RawConn raw(m.manager->port());
      REQUIRE(raw.handshake(m.authkey).kind == proto::FrameKind::AUTH_OK);
    }
}

SCENARIO("a get parked in one client is woken by a put from another", "[client][net]") {
  TestManager m;
  Client a(m.address, m.authkey), b(m.address, m.authkey);
  std::string got;
  std::thread t([&] { got = a.queue<std::string>("wake").get(); });
  REQUIRE(test::eventually([&] { return has_getter(b, "wake"); }));
  b.queue<std::string>("wake").put("hello");
  t.join();
  REQUIRE(got == "hello");
}

SCENARIO("several threads share one client", "[client][net]") {
  TestManager m;
  Client c(m.address, m.authkey);
  constexpr int kThreads = 8, kEach = 300;
  std::vector<std::thread> ts;
  std::atomic<long> sum{0};
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      auto q = c.queue<int>("shared");
      for (int i = 0; i < kEach; ++i) {
        q.put(t * kEach + i);
        sum += q.get(10s);
      }
    });
  for (auto& t : ts) t.join();
  const long n = kThreads * kEach;
  REQUIRE(sum == n * (n - 1) / 2);
  REQUIRE(c.queue<int>("shared").qsize() == 0);
}

SCENARIO("100 clients x 1,000 items: every item is received exactly once", "[client][net][slow]") {
  TestManager m;
  constexpr int kProducers = 100, kEach = 1000, kConsumers = 4;
  std::vector<std::thread> ts;
  std::mutex mu;
  std::multiset<std::string> received;
  std::atomic<int> done_producers{0};
  for (int p = 0; p < kProducers; ++p)
    ts.emplace_back([&, p] {
      Client c(m.address, m.authkey);
      auto q = c.queue<std::string>("many");
      // Half put one by one, half in batches, to cover both paths.
      if (p % 2 == 0) {
        for (int i = 0; i < kEach; ++i) q.put(std::to_string(p) + ":" + std::to_string(i));
      } else {
        std::vector<std::string> batch;
        for (int i = 0; i < kEach; ++i)
          batch.push_back(std::to_string(p) + ":" + std::to_string(i));
        q.put_many(batch);
      }
      ++done_producers;
    });
  for (int k = 0; k < kConsumers; ++k)
    ts.emplace_back([&, k] {
      Client c(m.address, m.authkey);
      auto q = c.queue<std::string>("many");
      for (;;) {
        std::vector<std::string> got;
        if (k % 2 == 0) {
          try {
            got.push_back(q.get(200ms));
          } catch (const TimeoutError&) {
          }
        } else {
          got = q.try_get_many(64);
          if (got.empty()) std::this_thread::sleep_for(1ms);
        }
        if (got.empty() && done_producers == kProducers && q.qsize() == 0) break;
        std::lock_guard lk(mu);
        received.insert(got.begin(), got.end());
      }
    });
  for (auto& t : ts) t.join();
  REQUIRE(received.size() == static_cast<size_t>(kProducers * kEach));
  std::set<std::string> unique(received.begin(), received.end());
  REQUIRE(unique.size() == received.size());
}

SCENARIO("a client killed while parked on get does not swallow the next item", "[client][net]") {
  TestManager m;
  Client c(m.address, m.authkey);
  GIVEN("another process parked on get") {
    // A separate program (fork + exec): a forked copy of this process, which runs a manager
    // thread, could inherit a lock that thread holds.
    test::Process victim(
        {test::bin("depot-test-helper"), "park-get", m.address, m.authkey, "precious"});
    REQUIRE(test::eventually([&] { return has_getter(c, "precious"); }));
    WHEN("it is killed with SIGKILL and an item is put") {
      victim.kill(SIGKILL);
      victim.wait();
      c.queue<std::string>("precious").put("the only copy");
      THEN("the item is still there for the next get") {
        REQUIRE(c.queue<std::string>("precious").get(5s) == "the only copy");
        REQUIRE(test::eventually([&] { return has_getter(c, "precious", 0); }));
      }
    }
  }
}

SCENARIO("a client survives a manager restart", "[client][net]") {
  // The same port for both managers: take a free one from a first manager.
  auto m1 = std::make_unique<TestManager>("k");
  const std::string address = m1->address;
  ClientOptions fast;
  fast.reconnect_initial_backoff = 10ms;
  fast.reconnect_max_backoff = 100ms;
  fast.reconnect_give_up = 20s;
  Client worker(address, "k", fast);
  Client master(address, "k", fast);

  GIVEN("a worker parked on get when the manager stops") {
    std::string got;
    std::string error;
    std::thread t([&] {
      try {
        got = worker.queue<std::string>("tasks").get(30s);
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
    REQUIRE(test::eventually([&] { return has_getter(master, "tasks"); }));
    m1.reset();  // graceful stop: the parked get receives SHUTTING_DOWN

    WHEN("a new manager starts on the same address and a task is put") {
      const uint16_t port =
          static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
      TestManager m2("k",
                     [&](ManagerOptions& o) { o.address = "127.0.0.1:" + std::to_string(port); });
      try {
        master.queue<std::string>("tasks").put("after restart");  // master reconnects too
      } catch (const std::exception& e) {
        error = std::string("master: ") + e.what();
      }
      t.join();
      THEN("the worker's get was re-issued and receives it") {
        CAPTURE(error);
        REQUIRE(error.empty());
        REQUIRE(got == "after restart");
        REQUIRE(worker.connections() == 2);
        REQUIRE(master.connections() == 2);
      }
    }
  }
}

SCENARIO("a put in flight when the manager stops fails with ConnectionError", "[client][net]") {
  auto m = std::make_unique<TestManager>("k");
  ClientOptions no_reconnect;
  no_reconnect.reconnect = false;
  Client c(m->address, "k", no_reconnect);
  auto q = c.queue<int>("full", QueueOptions{.maxsize = 1});
  q.put(1);
  std::string error;
  std::thread t([&] {
    try {
      q.put(2);  // parks: the queue is full
    } catch (const ConnectionError& e) {
      error = e.what();
    }
  });
  Client probe(m->address, "k");
  REQUIRE(test::eventually([&] {
    for (auto& o : probe.list())
      if (test::state_has(o.state, "putters", 1)) return true;
    return false;
  }));
  m->manager->stop();
  t.join();
  REQUIRE(error.find("shutting down") != std::string::npos);
  THEN("with reconnect off, later calls say the connection is gone") {
    REQUIRE(test::eventually([&] {
      try {
        c.ping();
        return false;
      } catch (const ConnectionError& e) {
        return std::string(e.what()).find("reconnect") != std::string::npos;
      }
    }));
  }
}
