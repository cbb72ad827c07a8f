// What goes wrong around the executor: cancelled keys submitted again, executors sharing a
// pool, continuations that throw, executors destroyed with tasks in flight, and a manager
// restart with tasks queued.
#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

#include "depot/executor/executor.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::TestManager;

namespace {

void serve_slow(Worker& w) {
  w.def("slow", [](long x) {
    std::this_thread::sleep_for(200ms);
    return x;
  });
  w.def("square", [](long x) { return x * x; });
  w.def("total", [](const std::vector<long>& xs) {
    long s = 0;
    for (long x : xs) s += x;
    return s;
  });
}

std::vector<std::string> objects_with_prefix(Client& c, const std::string& prefix) {
  std::vector<std::string> names;
  for (auto& o : c.list())
    if (o.name.rfind(prefix, 0) == 0) names.push_back(o.name);
  return names;
}

}  // namespace

SCENARIO("a cancelled pure task can be submitted again, here and by another executor",
         "[executor][recovery]") {
  TestManager m;
  Client wc(m.address, m.authkey), c(m.address, m.authkey);
  Worker w(wc, "pool", {1, 64});
  serve_slow(w);
  w.start();
  Executor ex(c, "pool"), ex2(c, "pool");
  SubmitOptions impure;
  impure.pure = false;
  auto blocker = ex.submit_with<long>(impure, "slow", 0L);
  {
    auto f = ex.submit<long>("slow", 5L);
    REQUIRE(f.cancel());
    auto again = ex.submit<long>("slow", 5L);  // not the cancelled one
    REQUIRE(again.result(30s) == 5);
  }
  REQUIRE(blocker.result(30s) == 0);
  REQUIRE(ex.submit<long>("slow", 5L).result(30s) == 5);
  REQUIRE(ex2.submit<long>("slow", 5L).result(30s) == 5);
}

SCENARIO("executors sharing a pool never release each other's results", "[executor][recovery]") {
  TestManager m;
  Client wc(m.address, m.authkey), c1(m.address, m.authkey), c2(m.address, m.authkey);
  Worker w(wc, "pool");
  serve_slow(w);
  w.start();
  Client probe(m.address, m.authkey);
  Executor ex1(c1, "pool"), ex2(c2, "pool");
  auto b = ex2.submit<long>("square", 3L);
  std::string a_result;
  {
    auto a = ex1.submit<long>("square", 3L);  // the same pure task, another executor
    REQUIRE(a.result(30s) == 9);
    REQUIRE(b.result(30s) == 9);
    // Each submission stores its result under its own name until released.
    a_result = "pool.r." + a.state()->sid;
    const std::string b_result = "pool.r." + b.state()->sid;
    auto held = objects_with_prefix(probe, "pool.r.");
    std::sort(held.begin(), held.end());
    auto want = std::vector<std::string>{a_result, b_result};
    std::sort(want.begin(), want.end());
    REQUIRE(held == want);
  }  // ex1 releases its result
  // Wait until ex1's collector has flushed the release: a's result is gone from the manager.
  REQUIRE(test::eventually([&] {
    auto held = objects_with_prefix(probe, "pool.r.");
    return std::find(held.begin(), held.end(), a_result) == held.end();
  }));
  REQUIRE(objects_with_prefix(probe, "pool.r.") ==
          std::vector<std::string>{"pool.r." + b.state()->sid});  // b's is still there
  REQUIRE(ex2.submit<long>("total", std::vector<Future<long>>{b}).result(30s) == 9);
}

SCENARIO("a continuation that throws does not stop the executor", "[executor][recovery]") {
  TestManager m;
  Client wc(m.address, m.authkey), c(m.address, m.authkey);
  Worker w(wc, "pool");
  serve_slow(w);
  w.start();
  Executor ex(c, "pool");
  SubmitOptions impure;
  impure.pure = false;
  auto f = ex.submit_with<long>(impure, "slow", 1L);
  f.then([](const Future<long>&) { throw std::runtime_error("callback failed"); });
  REQUIRE(f.result(30s) == 1);
  REQUIRE(ex.submit<long>("square", 6L).result(30s) == 36);
}

SCENARIO("an executor destroyed with tasks queued leaves nothing behind", "[executor][recovery]") {
  TestManager m;
  Client c(m.address, m.authkey);
  {
    Executor ex(c, "pool");
    for (long i = 0; i < 5; ++i) ex.submit<long>("square", i);
    auto kept = ex.submit<long>("square", 100L);
  }
  Client wc(m.address, m.authkey);
  Worker w(wc, "pool");
  serve_slow(w);
  w.start();
  // The worker counts a task done once its results, notifications and ack reached the
  // manager (its last write, answered in order): after the sixth, whatever it would leave behind
  // for these tasks is there to see.
  REQUIRE(test::eventually([&] { return w.tasks_done() >= 6; }));
  REQUIRE(w.tasks_done() == 6);  // each task was taken once
  REQUIRE(RawQueue(c, "pool.tasks").size().size == 0);
  REQUIRE(objects_with_prefix(c, "pool.done.").empty());
  REQUIRE(objects_with_prefix(c, "pool.r.").empty());
}

SCENARIO("tasks queued when the manager restarts are sent again and complete",
         "[executor][recovery]") {
  auto m1 = std::make_unique<TestManager>();
  const std::string address = m1->address;
  const std::string port = address.substr(address.rfind(':') + 1);
  ClientOptions fast;
  fast.reconnect_initial_backoff = 10ms;
  fast.reconnect_max_backoff = 100ms;
  fast.reconnect_give_up = 20s;
  Client c(address, m1->authkey, fast);
  Executor ex(c, "pool");
  auto f = ex.submit<long>("square", 3L);   // no worker yet: it waits in the queue
  auto dep = ex.submit<long>("square", f);  // waits for f
  m1.reset();                               // the manager goes, with the queue
  TestManager m2("test-key", [&](ManagerOptions& o) { o.address = "127.0.0.1:" + port; });
  Client wc(address, m2.authkey, fast);
  Worker w(wc, "pool");
  serve_slow(w);
  w.start();
  REQUIRE(f.result(30s) == 9);
  REQUIRE(dep.result(30s) == 81);
}

SCENARIO("submit and map with a timeout fail their futures within it while the manager is away",
         "[executor][recovery][restart]") {
  auto m1 = std::make_unique<TestManager>();
  const std::string address = m1->address;
  const std::string port = address.substr(address.rfind(':') + 1);
  ClientOptions o;
  o.quiet = true;
  o.reconnect_initial_backoff = 10ms;
  o.reconnect_max_backoff = 100ms;
  Client c(address, m1->authkey, o);  // reconnect_give_up: the default minute
  Executor ex(c, "pool");
  m1.reset();
  REQUIRE(test::eventually([&] { return !c.connected(); }));
  SubmitOptions within;
  within.timeout = 1s;
  within.pure = false;
  using Clock = std::chrono::steady_clock;
  // The failure a future ended in: its type and message.
  auto failure = [](Future<long>& f) {
    try {
      f.result(10s);
    } catch (const RemoteError& e) {
      return e.type() + ": " + e.what();
    } catch (const std::exception& e) {
      return std::string("(not a RemoteError) ") + e.what();
    }
    return std::string("(it succeeded)");
  };

  WHEN("a task is submitted with a 1 s timeout") {
    const auto t0 = Clock::now();
    auto f = ex.submit_with<long>(within, "square", 3L);
    const auto took = Clock::now() - t0;
    THEN("submit returns within it + 2 s, with the future failed as depot::SubmitFailed") {
      CHECK(took < 3s);
      CHECK_THAT(failure(f), Catch::StartsWith(std::string(task::kSubmitFailed)) &&
                                 Catch::Contains("the manager at " + address + " is unreachable"));
    }
  }
  WHEN("three tasks are mapped with a 1 s timeout") {
    const auto t0 = Clock::now();
    auto fs = ex.map<long>("square", std::vector<long>{1, 2, 3}, within);
    const auto took = Clock::now() - t0;
    THEN("map returns within it + 2 s, with every future failed as depot::SubmitFailed") {
      CHECK(took < 3s);
      REQUIRE(fs.size() == 3);
      for (auto& f : fs)
        CHECK_THAT(failure(f), Catch::StartsWith(std::string(task::kSubmitFailed)));
    }
  }
  WHEN("the manager is back on the same port, with a worker") {
    TestManager m2("test-key", [&](ManagerOptions& mo) { mo.address = "127.0.0.1:" + port; });
    Client wc(address, m2.authkey, o);
    Worker w(wc, "pool");
    serve_slow(w);
    w.start();
    THEN("a submission with the same timeout succeeds") {
      // The first call after the outage reconnects, well within the timeout.
      auto f = ex.submit_with<long>(within, "square", 4L);
      CHECK(f.result(30s) == 16);
    }
  }
}

SCENARIO("a result the manager cannot store fails its future with the reason",
         "[executor][recovery]") {
  // Room for the pool's own objects and a few dozen results, not for a hundred.
  TestManager m("test-key", [](ManagerOptions& o) { o.max_objects = 40; });
  Client c(m.address, m.authkey), wc(m.address, m.authkey);
  Worker w(wc, "pool");
  serve_slow(w);
  w.start();
  Executor ex(c, "pool");
  std::vector<long> xs(100);
  for (long i = 0; i < 100; ++i) xs[static_cast<size_t>(i)] = i;
  auto squares = ex.map<long>("square", xs);
  auto total = ex.submit<long>("total", squares);
  int stored = 0, refused = 0;
  for (long i = 0; i < 100; ++i) {
    CAPTURE(i);
    try {
      const long v = squares[static_cast<size_t>(i)].result(60s);  // outside REQUIRE: it throws
      REQUIRE(v == i * i);
      ++stored;
    } catch (const RemoteError& e) {
      // Not "DependencyFailed ... released, or the manager restarted" later, in a dependent.
      REQUIRE(e.type() == "depot::ResultNotStored");
      REQUIRE_THAT(e.remote_message(), Catch::Contains("could not be stored") &&
                                           Catch::Contains("LIMIT") &&
                                           Catch::Contains("--max-objects"));
      ++refused;
    }
  }
  CHECK(stored > 0);
  CHECK(refused > 0);
  try {
    total.result(60s);
    FAIL("the sum of results that were not stored succeeded");
  } catch (const RemoteError& e) {
    REQUIRE(e.type() == "depot::DependencyFailed");
    REQUIRE_THAT(e.remote_message(), Catch::Contains("could not be stored"));
  }
}

SCENARIO("an executor closed while its futures live leaves no results behind",
         "[executor][recovery]") {
  TestManager m;
  Client c(m.address, m.authkey), wc(m.address, m.authkey);
  Worker w(wc, "pool");
  serve_slow(w);
  w.start();
  std::vector<Future<long>> kept;
  {
    Executor ex(c, "pool");
    kept = ex.map<long>("square", std::vector<long>{1, 2, 3, 4});
    for (auto& f : kept) REQUIRE(f.result(60s) > 0);
    REQUIRE(objects_with_prefix(c, "pool.r.").size() == 4);
  }
  // The futures still hold their values; the manager holds nothing of the executor.
  CHECK(kept[3].result(1s) == 16);
  CHECK(objects_with_prefix(c, "pool.r.").empty());
  CHECK(objects_with_prefix(c, "pool.lease.").empty());
}
