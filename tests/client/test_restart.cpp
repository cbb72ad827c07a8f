// Clients across a manager restart, as a user meets it: calls waiting for a manager that is
// away each give up at their own time however many wait together, a reconnect releases them
// all, and the client reports the loss and the return once each.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "depot/client/client.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::TestManager;
using Clock = std::chrono::steady_clock;

namespace {

// A manager on `port` (one that a stopped manager used), so clients find it where they look.
std::unique_ptr<TestManager> manager_on(uint16_t port, const std::string& key) {
  return std::make_unique<TestManager>(
      key, [port](ManagerOptions& o) { o.address = "127.0.0.1:" + std::to_string(port); });
}

// What a thread's call ended in, and how long it took.
struct Outcome {
  std::string error;  // empty: it succeeded
  Clock::duration took{};
  Clock::duration bound{};  // its own deadline
};

// Connection reports, as ClientOptions::on_connection receives them.
struct Reports {
  std::mutex mu;
  std::vector<std::pair<ConnectionChange, std::string>> lines;
  std::function<void(ConnectionChange, const std::string&)> sink() {
    return [this](ConnectionChange ch, const std::string& line) {
      std::lock_guard lk(mu);
      lines.emplace_back(ch, line);
    };
  }
  size_t count(ConnectionChange ch) {
    std::lock_guard lk(mu);
    size_t n = 0;
    for (auto& l : lines) n += l.first == ch;
    return n;
  }
  std::string all() {
    std::lock_guard lk(mu);
    std::string s;
    for (auto& l : lines) s += l.second + "\n";
    return s;
  }
};

}  // namespace

SCENARIO("calls waiting for a manager that is away each return by their own deadline",
         "[client][net][restart]") {
  auto m = std::make_unique<TestManager>("k");
  const uint16_t port = m->manager->port();
  ClientOptions o;
  o.quiet = true;
  o.reconnect_initial_backoff = 20ms;
  o.reconnect_max_backoff = 200ms;
  o.reconnect_give_up = 1500ms;  // what bounds a call without a timeout of its own
  Client c(m->address, "k", o);
  c.ping();
  m.reset();  // the manager stops; the client notices without being called
  REQUIRE(test::eventually([&] { return !c.connected(); }));

  WHEN("16 threads call at once: half get(1 s) on a queue, half ping() with no timeout") {
    constexpr int kThreads = 16;
    std::vector<Outcome> out(kThreads);
    std::vector<std::thread> ts;
    for (int i = 0; i < kThreads; ++i)
      ts.emplace_back([&, i] {
        const auto t0 = Clock::now();
        try {
          if (i % 2 == 0) {
            out[i].bound = 1s;
            c.queue<std::string>("tasks").get(1s);
          } else {
            out[i].bound = o.reconnect_give_up;
            c.ping();
          }
          out[i].error = "(it succeeded with no manager)";
        } catch (const ConnectionError& e) {
          out[i].error = e.what();
        } catch (const std::exception& e) {
          out[i].error = std::string("(not a ConnectionError) ") + e.what();
        }
        out[i].took = Clock::now() - t0;
      });
    for (auto& t : ts) t.join();

    THEN("each throws ConnectionError naming the manager, within its own deadline + 2 s") {
      for (int i = 0; i < kThreads; ++i) {
        CAPTURE(i, out[i].error);
        CHECK_THAT(out[i].error, Catch::Contains("the manager at " + test::client_address(port) +
                                                 " is unreachable"));
        CHECK(out[i].took < out[i].bound + 2s);
      }
    }

    AND_WHEN("a manager starts again on the same port") {
      auto m2 = manager_on(port, "k");
      std::vector<std::string> errors(kThreads);
      std::vector<std::thread> again;
      for (int i = 0; i < kThreads; ++i)
        again.emplace_back([&, i] {
          try {
            if (i % 2 == 0)
              c.queue<std::string>("tasks").put("t" + std::to_string(i));
            else
              c.ping();
          } catch (const std::exception& e) {
            errors[i] = e.what();
          }
        });
      for (auto& t : again) t.join();
      THEN("every thread's call succeeds, over one new connection") {
        for (int i = 0; i < kThreads; ++i) {
          CAPTURE(i);
          CHECK(errors[i].empty());
        }
        CHECK(c.queue<std::string>("tasks").qsize() == kThreads / 2);
        CHECK(c.connections() == 2);
      }
    }
  }
}

SCENARIO("threads waiting to reconnect are all released when the manager comes back",
         "[client][net][restart]") {
  auto m = std::make_unique<TestManager>("k");
  const uint16_t port = m->manager->port();
  ClientOptions o;
  o.quiet = true;
  o.reconnect_initial_backoff = 20ms;
  o.reconnect_max_backoff = 100ms;
  o.reconnect_give_up = 60s;
  Client c(m->address, "k", o);
  m.reset();
  REQUIRE(test::eventually([&] { return !c.connected(); }));
  constexpr int kThreads = 8;
  std::atomic<int> started{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i)
    ts.emplace_back([&, i] {
      ++started;
      try {
        c.ping();  // waits to reconnect, for up to a minute
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  REQUIRE(test::eventually([&] { return started == kThreads; }));
  auto m2 = manager_on(port, "k");
  for (auto& t : ts) t.join();
  for (int i = 0; i < kThreads; ++i) {
    CAPTURE(i);
    CHECK(errors[i].empty());
  }
  CHECK(c.connections() == 2);
}

SCENARIO("a client reports a lost manager once and its return once", "[client][net][restart]") {
  auto m = std::make_unique<TestManager>("k");
  const uint16_t port = m->manager->port();
  const std::string where = "the manager at " + test::client_address(port);
  Reports reports;
  ClientOptions o;
  o.reconnect_initial_backoff = 10ms;
  o.reconnect_max_backoff = 50ms;
  o.on_connection = reports.sink();
  Client c(m->address, "k", o);
  c.ping();
  REQUIRE(reports.all().empty());

  WHEN("the manager stops while the client is idle") {
    m.reset();
    THEN("one line says it was lost, without any call") {
      REQUIRE(test::eventually([&] { return reports.count(ConnectionChange::Lost) == 1; }));
      CHECK_THAT(reports.all(), Catch::Contains("lost the connection to " + where));

      AND_WHEN("calls fail to reconnect many times, then the manager is back") {
        for (int i = 0; i < 5; ++i)
          CHECK_THROWS_AS(c.queue<std::string>("q").get(200ms), ConnectionError);
        CHECK(reports.count(ConnectionChange::Lost) == 1);
        CHECK(reports.count(ConnectionChange::Restored) == 0);
        auto m2 = manager_on(port, "k");
        c.ping();
        THEN("one line says it is back; each outage is reported once more") {
          REQUIRE(test::eventually([&] { return reports.count(ConnectionChange::Restored) == 1; }));
          CHECK_THAT(reports.all(), Catch::Contains("reconnected to " + where));
          CHECK(reports.count(ConnectionChange::Lost) == 1);
          m2.reset();
          REQUIRE(test::eventually([&] { return reports.count(ConnectionChange::Lost) == 2; }));
          auto m3 = manager_on(port, "k");
          c.ping();
          REQUIRE(test::eventually([&] { return reports.count(ConnectionChange::Restored) == 2; }));
          CAPTURE(reports.all());
          CHECK(reports.lines.size() == 4);
          CHECK(reports.lines[2].first == ConnectionChange::Lost);
          CHECK(reports.lines[3].first == ConnectionChange::Restored);
        }
      }
    }
  }
}

SCENARIO("a client whose reconnecting is off says so once it has lost the manager",
         "[client][net][restart]") {
  auto m = std::make_unique<TestManager>("k");
  Reports reports;
  ClientOptions o;
  o.reconnect = false;
  o.on_connection = reports.sink();
  Client c(m->address, "k", o);
  m.reset();
  REQUIRE(test::eventually([&] { return reports.count(ConnectionChange::Lost) == 1; }));
  CHECK_THAT(reports.all(), Catch::Contains("reconnecting is off"));
  CHECK_THROWS_WITH(c.ping(), Catch::Contains("reconnecting is off"));
  CHECK(reports.count(ConnectionChange::Lost) == 1);
}
