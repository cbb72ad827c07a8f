// samples/futures_sum against two task_pool worker processes: seed 000's output.
#include <catch2/catch.hpp>

#include "depot/client/client.h"
#include "support.h"

using test::bin;
using test::Process;
using test::TestManager;

SCENARIO("futures_sum prints the seed's sum and the Counter actor's answers",
         "[samples][executor]") {
  TestManager m;
  std::vector<std::unique_ptr<Process>> workers;
  for (int i = 0; i < 2; ++i)
    workers.push_back(std::make_unique<Process>(std::vector<std::string>{
        bin("task_pool"), "--address", m.address, "--authkey", m.authkey}));
  Process sample({bin("futures_sum"), "--address", m.address, "--authkey", m.authkey});
  INFO(sample.err());
  REQUIRE(sample.wait() == 0);
  REQUIRE(sample.out() == "333283335000\n1\n1\n");
  // The workers stop cleanly on SIGTERM, reporting what they did.
  for (auto& w : workers) {
    w->kill(SIGTERM);
    REQUIRE(w->wait() == 0);
    REQUIRE_THAT(w->out(), Catch::Contains("stopped after"));
  }
}

SCENARIO("streams_distributed runs a stream step on two worker processes, in order",
         "[samples][streams]") {
  TestManager m;
  std::vector<std::unique_ptr<Process>> workers;
  for (int i = 0; i < 2; ++i)
    workers.push_back(std::make_unique<Process>(std::vector<std::string>{
        bin("task_pool"), "--address", m.address, "--authkey", m.authkey}));
  Process sample({bin("streams_distributed"), "--address", m.address, "--authkey", m.authkey});
  INFO(sample.err());
  REQUIRE(sample.wait() == 0);
  REQUIRE(sample.out() == "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
  // Both workers took part: the step ran in parallel, not one call at a time.
  for (auto& w : workers) {
    w->kill(SIGTERM);
    REQUIRE(w->wait() == 0);
    REQUIRE_THAT(w->out(), !Catch::Contains("stopped after 0 tasks"));
  }

  Process bench({bin("streams_distributed"), "--address", m.address, "--authkey", m.authkey,
                 "--bench", "500"});
  // No workers now: start one so the trivial steps run.
  Process worker({bin("task_pool"), "--address", m.address, "--authkey", m.authkey});
  REQUIRE(bench.wait() == 0);
  REQUIRE_THAT(bench.out(), Catch::Contains("items=500 in_order=yes"));
}
