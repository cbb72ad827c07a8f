// samples/futures_sum against two task_pool worker processes: seed 000's output.
#include <catch2/catch.hpp>

#include <random>
#include <regex>

#include "depot/client/client.h"
#include "durable_manager.h"
#include "support.h"

namespace {

// The N of the "task_pool: stopped after N tasks" line a worker prints as it stops; -1 when
// there is no such line.
long long tasks_done(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("task_pool: stopped after (\\d+) tasks\n"))) return -1;
  return std::stoll(m[1]);
}

using test::bin;
using test::Process;
using test::TestManager;

// Two task_pool worker processes on the manager at `address`.
std::vector<std::unique_ptr<Process>> pool_workers(const std::string& address,
                                                   const std::string& authkey) {
  std::vector<std::unique_ptr<Process>> workers;
  for (int i = 0; i < 2; ++i)
    workers.push_back(std::make_unique<Process>(
        std::vector<std::string>{bin("task_pool"), "--address", address, "--authkey", authkey}));
  return workers;
}

// What samples/<name> printed against the manager at `address`; it must exit with 0.
std::string run_sample(const std::string& name, const std::string& address,
                       const std::string& authkey) {
  Process sample({bin(name), "--address", address, "--authkey", authkey});
  INFO(sample.err());
  REQUIRE(sample.wait() == 0);
  return sample.out();
}

}  // namespace

SCENARIO("futures_sum prints the seed's sum and the Counter actor's answers",
         "[samples][executor]") {
  TestManager m;
  auto workers = pool_workers(m.address, m.authkey);
  REQUIRE(run_sample("futures_sum", m.address, m.authkey) == "333283335000\n1\n1\n");
  // The workers stop cleanly on SIGTERM, reporting what they did.
  for (auto& w : workers) {
    w->kill(SIGTERM);
    REQUIRE(w->wait() == 0);
    REQUIRE(tasks_done(w->out()) >= 0);  // it printed its count
  }
}

SCENARIO("actor_cookbook prints the cookbook's outputs, its actors on worker processes",
         "[samples][executor]") {
  TestManager m;
  auto workers = pool_workers(m.address, m.authkey);
  // The Worker actor's add(2, 3).
  REQUIRE(run_sample("actor_cookbook", m.address, m.authkey) == "5\n");
  // The PrintActor's worker printed both messages, in order, before close() was answered:
  // they are in its output now, before it is stopped.
  std::string printed;
  for (auto& w : workers) {
    const std::string out = w->out();
    if (out.find("Got: ") != std::string::npos) printed += out;
  }
  REQUIRE_THAT(printed, Catch::Contains("Got: Hello\nGot: World\n"));
  for (auto& w : workers) {
    w->kill(SIGTERM);
    REQUIRE(w->wait() == 0);
  }
}

SCENARIO("streams_distributed runs a stream step on two worker processes, in order",
         "[samples][streams]") {
  TestManager m;
  auto workers = pool_workers(m.address, m.authkey);
  REQUIRE(run_sample("streams_distributed", m.address, m.authkey) ==
          "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
  // Both workers took part: the step ran in parallel, not one call at a time.
  for (auto& w : workers) {
    w->kill(SIGTERM);
    REQUIRE(w->wait() == 0);
    REQUIRE(tasks_done(w->out()) > 0);
  }

  Process bench({bin("streams_distributed"), "--address", m.address, "--authkey", m.authkey,
                 "--bench", "500"});
  // No workers now: start one so the trivial steps run.
  Process worker({bin("task_pool"), "--address", m.address, "--authkey", m.authkey});
  REQUIRE(bench.wait() == 0);
  // A whole line's fields, so items=5000 or a prefix of another word cannot pass for them.
  REQUIRE(std::regex_search(bench.out(), std::regex("(^|\n)items=500 in_order=yes ")));
}

SCENARIO("futures_sum prints the right sum across a manager SIGKILL and restart",
         "[samples][executor][durable]") {
  test::DurableManager m;
  auto workers = pool_workers(m.address, m.authkey);
  // The kill comes once this many of the 10,000 squares have left the queue (taken by the
  // workers, most of them done): a random moment while the results come in.
  std::random_device rd;
  const uint64_t taken = std::uniform_int_distribution<uint64_t>(300, 9000)(rd);
  CAPTURE(taken);
  Process sample({bin("futures_sum"), "--address", m.address, "--authkey", m.authkey});
  {
    depot::ClientOptions o;
    o.reconnect = false;
    depot::Client probe(m.address, m.authkey, o);
    depot::RawQueue tasks(probe, "pool.tasks");
    bool seen_full = false;  // the map reached the queue
    for (;;) {
      REQUIRE(sample.running());  // the kill must come while it runs
      const auto s = tasks.size();
      if (s.size > 0) seen_full = true;
      if (seen_full && s.size <= 10000 - taken) break;
    }
  }
  REQUIRE(m.kill() == 128 + SIGKILL);
  REQUIRE(sample.running());
  REQUIRE(m.restart());
  INFO(sample.err());
  REQUIRE(sample.wait() == 0);
  REQUIRE(sample.out() == "333283335000\n1\n1\n");
  for (auto& w : workers) {
    w->kill(SIGTERM);
    REQUIRE(w->wait() == 0);  // they lived through the restart
  }
}
