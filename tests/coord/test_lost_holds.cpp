// A holder whose session ended is told at once: when the connection ends (the manager stops,
// or closes the session of a holder that was frozen past its lease), every Lock and Semaphore
// hold made on it is lost, without waiting for the program's next call.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "depot/client/client.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::TestManager;

namespace {

// What an on_lost callback was told.
struct Told {
  std::mutex mu;
  std::vector<std::string> why;
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& w) {
      std::lock_guard lk(mu);
      why.push_back(w);
    };
  }
  size_t count() {
    std::lock_guard lk(mu);
    return why.size();
  }
  std::string first() {
    std::lock_guard lk(mu);
    return why.empty() ? "" : why.front();
  }
};

// Options whose connection reports set `lost` (they come after the holds' callbacks).
ClientOptions reporting(std::atomic<bool>& lost) {
  ClientOptions o;
  o.on_connection = [&lost](ConnectionChange ch, const std::string&) {
    if (ch == ConnectionChange::Lost) lost = true;
  };
  return o;
}

}  // namespace

SCENARIO("a lock holder is told at once when the manager goes away", "[coord][net][restart]") {
  auto m = std::make_unique<TestManager>("k");
  const std::string where = "the manager at " + m->address;
  std::atomic<bool> reported_lost{false};
  Client c(m->address, "k", reporting(reported_lost));
  Told lock_told, sem_told;
  auto lock = c.lock("L");
  lock.on_lost(lock_told.sink());
  const uint64_t token = lock.acquire();
  auto sem = c.semaphore("S", 2);
  sem.on_lost(sem_told.sink());
  const uint64_t lease = sem.acquire();
  REQUIRE_FALSE(lock.lost());
  REQUIRE_FALSE(sem.lost());
  REQUIRE(lock.token() == token);

  WHEN("the manager stops while the program makes no call") {
    m.reset();
    THEN("lost() turns true and each callback runs once, naming the hold and the cause") {
      REQUIRE(test::eventually([&] { return lock.lost() && lock_told.count() == 1; }));
      REQUIRE(test::eventually([&] { return sem.lost() && sem_told.count() == 1; }));
      CHECK_THAT(lock_told.first(),
                 Catch::Contains("lock 'L' was lost with its session") && Catch::Contains(where));
      CHECK_THAT(sem_told.first(),
                 Catch::Contains("semaphore 'S'") && Catch::Contains(std::to_string(lease)));
      CHECK(lock.token() == 0);

      AND_THEN("release says the hold was lost, once; after that nothing is held") {
        CHECK_THROWS_WITH(lock.release(), Catch::Contains("was lost with its session"));
        CHECK_FALSE(lock.lost());
        CHECK_THROWS_WITH(lock.release(), Catch::Contains("is not held by this thread"));
        CHECK_THROWS_WITH(sem.release(lease), Catch::Contains("was lost with its session"));
        CHECK_FALSE(sem.lost());
      }
      AND_THEN("a lock guard's unlock records it instead of throwing") {
        lock.unlock();
        CHECK_THAT(lock.unlock_error(), Catch::Contains("was lost with its session"));
        sem.unlock();
        CHECK_THAT(sem.unlock_error(), Catch::Contains("was lost with its session"));
      }
      AND_THEN("the lock can be taken again once a manager is back") {
        const uint16_t port = static_cast<uint16_t>(std::stoi(where.substr(where.rfind(':') + 1)));
        TestManager m2(
            "k", [port](ManagerOptions& o) { o.address = "127.0.0.1:" + std::to_string(port); });
        const uint64_t again = lock.acquire();
        CHECK(again > 0);
        CHECK(lock.token() == again);
        CHECK_FALSE(lock.lost());
        CHECK_NOTHROW(lock.release());
        CHECK(lock_told.count() == 1);
      }
    }
  }

  WHEN("the holds are released before the manager stops") {
    lock.release();
    sem.release(lease);
    m.reset();
    THEN("nothing is reported lost") {
      // The holds' callbacks, had there been any, ran before the report.
      REQUIRE(test::eventually([&] { return reported_lost.load(); }));
      CHECK_FALSE(lock.lost());
      CHECK_FALSE(sem.lost());
      CHECK(lock_told.count() == 0);
      CHECK(sem_told.count() == 0);
    }
  }
}

SCENARIO("a holder frozen past its session lease learns it lost the lock as soon as it resumes",
         "[coord][net][restart]") {
  TestManager m("k", [](ManagerOptions& o) { o.session_lease = 400ms; });
  test::Process child({test::bin("depot-test-helper"), "watch-lock", m.address, "k", "frozen"});
  REQUIRE(test::eventually(
      [&] { return child.out().find('\n') != std::string::npos || !child.running(); }));
  INFO("helper: " << child.out() << child.err());
  const uint64_t frozen_token = std::stoull(child.out());
  child.kill(SIGSTOP);
  Client me(m.address, "k");
  auto got = me.lock("frozen").acquire(20s);  // granted once the frozen session is closed
  REQUIRE(got);
  REQUIRE(*got > frozen_token);
  child.kill(SIGCONT);  // it makes no call: its background thread finds the closed session
  REQUIRE(test::eventually([&] {
    return child.out().find("lost: lock 'frozen' was lost with its session") != std::string::npos;
  }));
  child.kill(SIGKILL);
  child.wait();
}
