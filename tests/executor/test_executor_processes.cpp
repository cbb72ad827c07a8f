// Worker processes that die: tasks and resilient actors outlive them.
#include <catch2/catch.hpp>

#include "depot/executor/executor.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::Process;
using test::TestManager;

namespace {

std::unique_ptr<Process> pool_worker(const TestManager& m) {
  return std::make_unique<Process>(std::vector<std::string>{
      std::string(DEPOT_BIN_DIR) + "/task_pool", "--address", m.address, "--authkey", m.authkey});
}

// The reservations LIST shows for the queue (workers holding its tasks); 0 when its state
// shows none (or there is no such queue).
uint64_t reservations(Client& c, const std::string& queue) {
  for (auto& o : c.list())
    if (o.name == queue) {
      auto n = test::state_field(o.state, "reserved");
      return n ? std::stoull(*n) : 0;
    }
  return 0;
}

}  // namespace

SCENARIO("a task whose worker is SIGKILLed completes on another worker", "[executor][process]") {
  TestManager m;
  Client c(m.address, m.authkey);
  Executor ex(c, "pool");
  auto a = pool_worker(m);
  SubmitOptions impure;
  impure.pure = false;
  auto f = ex.submit_with<long>(impure, "sleep_ms", 1500L);
  REQUIRE(test::eventually([&] { return reservations(c, "pool.tasks") == 1; }));
  auto b = pool_worker(m);
  a->kill(SIGKILL);
  REQUIRE(a->wait() == 128 + SIGKILL);
  REQUIRE(f.result(60s) == 1500);
  // Once: a second completion would not change it, and the pool is clean afterwards.
  REQUIRE(ex.submit<long>("square", 4L).result(60s) == 16);
  REQUIRE(test::eventually([&] { return reservations(c, "pool.tasks") == 0; }));
}

SCENARIO("a task that kills every worker it runs on fails once its retries are spent",
         "[executor][process]") {
  TestManager m;
  Client c(m.address, m.authkey);
  ExecutorOptions o;
  o.max_retries = 1;
  Executor ex(c, "pool", o);
  auto f = ex.submit<long>("crash", 3L);
  // Two workers die running it; the third reports instead of running it again.
  for (int i = 0; i < 2; ++i) {
    auto w = pool_worker(m);
    REQUIRE(w->wait() == 3);
  }
  auto survivor = pool_worker(m);
  try {
    f.result(60s);
    FAIL("no exception");
  } catch (const RemoteError& e) {
    REQUIRE(e.type() == "depot::WorkerLost");
    REQUIRE_THAT(e.remote_message(), Catch::Contains("started 2 times"));
  }
  REQUIRE(survivor->running());
}

SCENARIO("calls to an actor whose worker died fail instead of hanging", "[executor][process]") {
  TestManager m;
  Client c(m.address, m.authkey);
  Executor ex(c, "pool");
  auto w = pool_worker(m);
  Actor counter = ex.actor("Counter");
  REQUIRE(counter.call<long>("increment").result(60s) == 1);
  w->kill(SIGKILL);
  w->wait();
  auto f = counter.call<long>("increment");
  try {
    f.result(60s);
    FAIL("no exception");
  } catch (const RemoteError& e) {
    REQUIRE(e.type() == "depot::ActorDied");
    REQUIRE_THAT(e.remote_message(), Catch::Contains("resilient"));
  }
  // Later calls fail at once, and closing it does not wait for a worker that is gone.
  REQUIRE_THROWS_AS(counter.call<long>("increment").result(1s), RemoteError);
  REQUIRE_THROWS_AS(counter.close(), RemoteError);
}

SCENARIO("a resilient actor keeps counting across a worker SIGKILL", "[executor][process]") {
  TestManager m;
  Client c(m.address, m.authkey);
  Executor ex(c, "pool");
  auto a = pool_worker(m);
  ActorOptions o;
  o.resilient = true;
  Actor counter = ex.actor("Counter", o);
  for (long i = 1; i <= 3; ++i) REQUIRE(counter.call<long>("increment").result(60s) == i);
  a->kill(SIGKILL);
  a->wait();
  auto b = pool_worker(m);
  REQUIRE(counter.call<long>("increment").result(60s) == 4);
  REQUIRE(counter.get<long>("n") == 4);
  counter.close();
}
