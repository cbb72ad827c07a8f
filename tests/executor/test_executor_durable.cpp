// The executor over a durable manager (docs/executor.md, "Manager restart"): a depot-manager
// process with a data directory is SIGKILLed while a master waits on futures and workers run
// tasks, and started again on the same directory and port. Queued tasks, results and
// resilient actors' snapshots survive it; the master that stayed up gets every future
// resolved, without sending its tasks again; actors keep their state, each call applied once.
#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <thread>

#include "depot/executor/executor.h"
#include "durable_manager.h"
#include "samples/pool_functions.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::DurableManager;
using test::Process;

namespace {

// Quick reconnects, so that the restart is noticed at once; a minute before giving up.
ClientOptions reconnecting() {
  ClientOptions o;
  o.quiet = true;
  o.reconnect_initial_backoff = 10ms;
  o.reconnect_max_backoff = 100ms;
  o.reconnect_give_up = 60s;
  return o;
}

long random_between(long lo, long hi) {
  std::random_device rd;
  return std::uniform_int_distribution<long>(lo, hi)(rd);
}

std::unique_ptr<Process> pool_worker(const DurableManager& m) {
  return std::make_unique<Process>(std::vector<std::string>{test::bin("task_pool"), "--address",
                                                            m.address, "--authkey", m.authkey});
}

// Calls counter.increment() `calls` times, one at a time, on a thread of its own (joined on the
// way out of a failed REQUIRE too): call k answers k when every call is applied once.
class Caller {
 public:
  Caller(Actor& counter, long calls)
      : thread_([this, &counter, calls] {
          try {
            for (long k = 1; k <= calls; ++k) {
              answers_.push_back(counter.call<long>("increment").result(60s));
              ++acked_;
            }
          } catch (const std::exception& e) {
            failure_ = e.what();
          }
          done_ = true;
        }) {}
  long acked() const { return acked_.load(); }
  bool done() const { return done_.load(); }
  // Waits for the last call; its answers, and what ended it early (empty if nothing did).
  const std::vector<long>& answers() {
    if (thread_.joinable()) thread_.join();
    return answers_;
  }
  const std::string& failure() {
    answers();
    return failure_;
  }

 private:
  std::atomic<long> acked_{0};
  std::atomic<bool> done_{false};
  std::vector<long> answers_;
  std::string failure_;
  std::jthread thread_;  // last: it starts once the rest is there
};

// What a Caller must end with: every call acknowledged, with the count after it.
void require_counted(Caller& caller, Actor& counter, long calls) {
  INFO(caller.failure());
  REQUIRE(caller.failure().empty());
  const auto& answers = caller.answers();
  REQUIRE(answers.size() == static_cast<size_t>(calls));
  for (long k = 1; k <= calls; ++k) {
    CAPTURE(k);
    REQUIRE(answers[static_cast<size_t>(k - 1)] == k);
  }
  REQUIRE(counter.get<long>("n") == calls);
}

}  // namespace

SCENARIO("a map whose manager is SIGKILLed and restarted mid-way resolves every future",
         "[executor][durable][process]") {
  constexpr long kTasks = 400;
  // Each worker holds at most this many tasks at once: those are the ones a kill may run twice.
  constexpr uint32_t kBatch = 8;
  DurableManager m;
  std::vector<std::atomic<int>> runs(kTasks);
  std::atomic<long> ran{0};
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < 2; ++w) {
    clients.push_back(std::make_unique<Client>(m.address, m.authkey, reconnecting()));
    workers.push_back(std::make_unique<Worker>(*clients.back(), "pool", WorkerOptions{1, kBatch}));
    workers.back()->def("count", [&](long x) {
      std::this_thread::sleep_for(2ms);  // work that takes a while, so the kill finds it running
      ++runs.at(static_cast<size_t>(x));
      ++ran;
      return x * x;
    });
    workers.back()->start();
  }
  Client mc(m.address, m.authkey, reconnecting());
  Executor ex(mc, "pool");
  std::vector<long> inputs(kTasks);
  for (long i = 0; i < kTasks; ++i) inputs[static_cast<size_t>(i)] = i;
  auto fs = ex.map<long>("count", inputs);

  const long kill_after = random_between(kTasks / 10, kTasks / 2);
  CAPTURE(kill_after);
  REQUIRE(test::eventually([&] { return ran.load() >= kill_after; }, 30s));
  REQUIRE(m.kill() == 128 + SIGKILL);
  const long ran_at_kill = ran.load();
  CAPTURE(ran_at_kill);
  REQUIRE(ran_at_kill < kTasks);  // the kill came mid-way
  REQUIRE(m.restart());

  THEN("every future resolves with its task's value") {
    for (long i = 0; i < kTasks; ++i) {
      CAPTURE(i);
      REQUIRE(fs[static_cast<size_t>(i)].result(60s) == i * i);
    }
    AND_THEN("every task ran, and only those the workers held at the kill ran twice") {
      long total = 0;
      for (long i = 0; i < kTasks; ++i) {
        CAPTURE(i);
        CHECK(runs[static_cast<size_t>(i)].load() >= 1);
        total += runs[static_cast<size_t>(i)].load();
      }
      // The master did not send its tasks again (that would run each unfinished one twice):
      // only the reservations the two workers held when the manager died came back.
      CHECK(total <= kTasks + 2 * kBatch);
      Client probe(m.address, m.authkey, reconnecting());
      CHECK(RawQueue(probe, "pool.tasks").size().size == 0);
      // The executor's lease came back orphaned (no session survives a restart) and the
      // master's reconnected session holds it again, within its grace.
      CHECK(test::eventually(
          [&] {
            for (auto& o : probe.list())
              if (o.name.rfind("pool.lease.", 0) == 0 && o.state.rfind("held ", 0) == 0)
                return true;
            return false;
          },
          30s));
    }
  }
}

SCENARIO("a resilient actor keeps counting across a manager SIGKILL, each call applied once",
         "[executor][durable][process]") {
  constexpr long kCalls = 150;
  DurableManager m;
  auto w1 = pool_worker(m);
  auto w2 = pool_worker(m);
  Client mc(m.address, m.authkey, reconnecting());
  Executor ex(mc, "pool");
  ActorOptions resilient;
  resilient.resilient = true;
  Actor counter = ex.actor("Counter", resilient);
  Caller caller(counter, kCalls);
  const long kill_after = random_between(5, kCalls / 2);
  CAPTURE(kill_after);
  REQUIRE(test::eventually([&] { return caller.acked() >= kill_after || caller.done(); }, 30s));
  REQUIRE_FALSE(caller.done());

  WHEN("only the manager is killed: the workers stay up") {
    REQUIRE(m.kill() == 128 + SIGKILL);
    REQUIRE(m.restart());
    THEN("every call is acknowledged once and counted once") {
      require_counted(caller, counter, kCalls);
      counter.close();
    }
  }
  WHEN("the manager and every worker are killed: new workers restore it from its snapshot") {
    REQUIRE(m.kill() == 128 + SIGKILL);
    w1->kill(SIGKILL);
    w2->kill(SIGKILL);
    REQUIRE(w1->wait() == 128 + SIGKILL);
    REQUIRE(w2->wait() == 128 + SIGKILL);
    REQUIRE(m.restart());
    w1 = pool_worker(m);
    w2 = pool_worker(m);
    THEN("every call is acknowledged once and counted once") {
      require_counted(caller, counter, kCalls);
      counter.close();
    }
  }
}

SCENARIO("an actor that is not resilient is served on by its worker across a manager SIGKILL",
         "[executor][durable][process]") {
  constexpr long kCalls = 100;
  DurableManager m;
  auto w = pool_worker(m);
  Client mc(m.address, m.authkey, reconnecting());
  Executor ex(mc, "pool");
  Actor counter = ex.actor("Counter");
  Caller caller(counter, kCalls);
  const long kill_after = random_between(5, kCalls / 2);
  CAPTURE(kill_after);
  REQUIRE(test::eventually([&] { return caller.acked() >= kill_after || caller.done(); }, 30s));
  REQUIRE_FALSE(caller.done());
  REQUIRE(m.kill() == 128 + SIGKILL);
  REQUIRE(m.restart());
  // Its worker reconnects and takes the actor's lock again: the instance, with its state in
  // the worker's memory, answers every call once.
  require_counted(caller, counter, kCalls);
  counter.close();
  REQUIRE(w->running());
}
