// Worker processes that die: tasks and resilient actors outlive them.
#include <catch2/catch.hpp>

#include <numeric>
#include <random>
#include <thread>

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

// Executor options with max_retries 1: a call's worker may die twice, then it fails.
ExecutorOptions one_retry() {
  ExecutorOptions o;
  o.max_retries = 1;
  return o;
}

// Fails unless `f` failed as depot::WorkerLost with `why` in its message.
void require_worker_lost(const Future<long>& f, const std::string& why) {
  try {
    f.result(60s);
    FAIL("no exception");
  } catch (const RemoteError& e) {
    REQUIRE(e.type() == "depot::WorkerLost");
    REQUIRE_THAT(e.remote_message(), Catch::Contains(why));
  }
}

// What the manager holds of executor `ex` of pool "pool": its results, its other objects
// (marker, done queue, start counters) and its lease.
struct Holdings {
  size_t results = 0, others = 0;
  std::optional<std::string> lease;  // its state, if the lease exists
};
Holdings holdings(Client& c, const std::string& ex) {
  Holdings h;
  for (auto& o : c.list()) {
    if (o.name.find(ex) == std::string::npos) continue;
    if (o.name == "pool.lease." + ex)
      h.lease = o.state;
    else if (o.name.rfind("pool.r." + ex + ".", 0) == 0)
      ++h.results;
    else
      ++h.others;
  }
  return h;
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
  Executor ex(c, "pool", one_retry());
  auto f = ex.submit<long>("crash", 3L);
  // Two workers die running it; the third reports instead of running it again.
  for (int i = 0; i < 2; ++i) {
    auto w = pool_worker(m);
    REQUIRE(w->wait() == 3);
  }
  auto survivor = pool_worker(m);
  require_worker_lost(f, "started 2 times");
  REQUIRE(survivor->running());
}

SCENARIO("a worker that dies in a batch charges an attempt only to the call it was running",
         "[executor][process]") {
  TestManager m;
  Client c(m.address, m.authkey);
  Executor ex(c, "pool", one_retry());
  // Quick squares on both sides of the crash, so a worker's batch (it grows to 128 while
  // calls are quick) holds the crash with squares it ran and squares it never started.
  std::vector<long> before(200), after(200);
  std::iota(before.begin(), before.end(), 0L);
  std::iota(after.begin(), after.end(), 200L);
  auto first = ex.map<long>("square", before);
  auto crash = ex.submit<long>("crash", 3L);
  auto rest = ex.map<long>("square", after);
  std::vector<std::unique_ptr<Process>> workers;
  int died = 0;
  for (int i = 0; i < 5 && !crash.done(); ++i) {
    workers.push_back(pool_worker(m));
    REQUIRE(test::eventually([&] { return !workers.back()->running() || crash.done(); }, 60s));
    if (!workers.back()->running()) {
      REQUIRE(workers.back()->wait() == 3);
      ++died;
    }
  }
  // Two runs (max_retries = 1), each killing its worker; then a worker reports it.
  REQUIRE(died == 2);
  require_worker_lost(crash, "started 2 times");
  // The squares shared the dead workers' batches, some of them twice: none was charged.
  for (size_t i = 0; i < before.size(); ++i) {
    REQUIRE(first[i].result(60s) == before[i] * before[i]);
    REQUIRE(rest[i].result(60s) == after[i] * after[i]);
  }
  // The counts of starts went with the results.
  for (auto& obj : c.list()) REQUIRE(obj.name.rfind("pool.starts.", 0) != 0);
}

SCENARIO("a large map and its sum end with the exact sum or WorkerLost while workers are killed",
         "[executor][process]") {
  TestManager m;
  Client c(m.address, m.authkey);
  Executor ex(c, "pool");
  std::mt19937 rng(std::random_device{}());
  std::vector<std::unique_ptr<Process>> workers;
  workers.push_back(pool_worker(m));
  workers.push_back(pool_worker(m));
  int exact = 0, lost = 0, kills = 0;
  for (long round = 0; round < 3; ++round) {
    constexpr long kN = 20000;
    std::vector<long> xs(kN);
    std::iota(xs.begin(), xs.end(), round * kN);  // new inputs: no result is shared
    long want = 0;
    for (long x : xs) want += x * x;
    auto squares = ex.map<long>("square", xs);
    auto total = ex.submit<long>("sum", squares);
    // SIGKILL a worker at random moments (up to 30 of them) while the round runs, and start
    // another in its place.
    for (int k = 0; k < 30 && !total.done(); ++k) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 300)(rng)));
      auto& w = workers[std::uniform_int_distribution<size_t>(0, 1)(rng)];
      w->kill(SIGKILL);
      w->wait();
      w = pool_worker(m);
      ++kills;
    }
    try {
      // Never a hang: the sum or the documented error, every time.
      if (total.result(120s) == want) ++exact;
    } catch (const RemoteError& e) {
      // The sum itself, or a square it needed, was started and killed max_retries + 1 times.
      INFO(e.type() << ": " << e.remote_message());
      REQUIRE((e.type() == "depot::WorkerLost" || e.type() == "depot::DependencyFailed"));
      ++lost;
    }
  }
  WARN("rounds: " << exact << " exact sums, " << lost << " retries spent, across " << kills
                  << " worker kills");
  REQUIRE(exact + lost == 3);  // a wrong sum is neither
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

SCENARIO("a master SIGKILLed at a random moment leaves nothing behind once its grace passes",
         "[executor][process][lease]") {
  TestManager m;
  Client c(m.address, m.authkey);
  std::mt19937 rng(std::random_device{}());
  std::vector<std::unique_ptr<Process>> workers;
  workers.push_back(pool_worker(m));
  workers.push_back(pool_worker(m));
  constexpr int kRounds = 5;
  constexpr long kTasks = 50000;
  size_t results_at_kill = 0, queued_at_kill = 0, left_behind = 0;
  int killed = 0;
  std::vector<std::string> seen;  // the leases of earlier rounds' masters (fenced meanwhile)
  for (int round = 0; round < kRounds; ++round) {
    Process master({std::string(DEPOT_BIN_DIR) + "/depot-dying-master", m.address, m.authkey,
                    "pool", std::to_string(kTasks), std::to_string(round * kTasks), "300",
                    "60000"});
    // Its lease, the first thing its executor makes.
    std::string ex;
    for (int i = 0; i < 3000 && ex.empty(); ++i) {
      for (auto& o : c.list())
        if (o.name.rfind("pool.lease.", 0) == 0 &&
            std::find(seen.begin(), seen.end(), o.name) == seen.end())
          ex = o.name.substr(std::string("pool.lease.").size());
      if (ex.empty()) std::this_thread::sleep_for(10ms);
    }
    REQUIRE(!ex.empty());
    seen.push_back("pool.lease." + ex);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 600)(rng)));
    // (A master that got every result first closed its executor: that deletes the lease.)
    const bool kill = master.running();
    killed += kill ? 1 : 0;
    master.kill(SIGKILL);
    master.wait();
    const Holdings at_kill = holdings(c, ex);
    results_at_kill += at_kill.results;
    for (auto& o : c.list())
      if (o.name == "pool.tasks") queued_at_kill += o.size;
    // The grace (300 ms), then each worker's next look at the marker (at most a second) and
    // the dropping of the queued tasks; bounded at a minute.
    Holdings after = holdings(c, ex);
    for (int i = 0; i < 6000; ++i) {
      after = holdings(c, ex);
      uint64_t queued = 0;
      for (auto& o : c.list())
        if (o.name == "pool.tasks") queued = o.size;
      if (after.results + after.others == 0 && queued == 0 && reservations(c, "pool.tasks") == 0)
        break;
      std::this_thread::sleep_for(10ms);
    }
    INFO("round " << round << ": " << after.results << " results and " << after.others
                  << " other objects left of executor " << ex);
    left_behind += after.results + after.others;
    // The lease stays, fencing the names for its 60 s: a worker that finishes a task of the
    // dead master now stores nothing.
    if (!kill) continue;
    REQUIRE(after.lease);
    CHECK_THAT(*after.lease, Catch::Contains("expired"));
    REQUIRE_THROWS_AS(RawVariable(c, "pool.r." + ex + ".late").set("1"), NotFoundError);
  }
  REQUIRE(killed > 0);
  WARN(killed << " of " << kRounds << " masters SIGKILLed holding " << results_at_kill
              << " results, with " << queued_at_kill << " of their tasks queued: " << left_behind
              << " objects left behind");
  REQUIRE(left_behind == 0);
}
