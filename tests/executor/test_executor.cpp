// Futures, the executor and actors with in-process workers (each with a client of its own,
// as a separate program would have).
#include <catch2/catch.hpp>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "depot/executor/asio_await.h"
#include "depot/executor/executor.h"
#include "depot/executor/local.h"
#include "samples/pool_functions.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::TestManager;

namespace {

// A manager, a pool of in-process workers and an executor on their own connections.
struct Pool {
  explicit Pool(uint32_t threads = 2, std::function<void(Worker&)> extra = nullptr)
      : wc(m.address, m.authkey), ec(m.address, m.authkey), w(wc, "pool", {threads, 64}) {
    sample::register_pool(w);
    if (extra) extra(w);
    w.start();
  }
  TestManager m;
  Client wc, ec;
  Worker w;
};

template <class E, class F>
std::string thrown(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "nothing thrown";
}

// An actor that adds what it is sent to a total the test reads (its worker is in-process).
struct Tally {
  static inline std::atomic<long> total{0};
  void add(long k) { total += k; }
};

// An actor that records the order of its calls.
struct Log {
  std::vector<long> items;
  long push(long v) {
    items.push_back(v);
    return static_cast<long>(items.size());
  }
};

}  // namespace

SCENARIO("a submitted task's future holds the worker's result", "[executor]") {
  Pool p;
  Executor ex(p.ec, "pool");
  auto f = ex.submit<long>("square", 12L);
  REQUIRE(f.result() == 144);
  REQUIRE(f.done());
  REQUIRE(f.exception() == nullptr);
  REQUIRE(ex.submit<long>("increment", 41L).result(10s) == 42);
}

SCENARIO("an exception in a task arrives as RemoteError with its type and message", "[executor]") {
  Pool p;
  Executor ex(p.ec, "pool");
  auto f = ex.submit<long>("fail", std::string("bad input 7"));
  try {
    f.result();
    FAIL("no exception");
  } catch (const RemoteError& e) {
    REQUIRE(e.function() == "fail");
    REQUIRE(e.type() == "std::invalid_argument");
    REQUIRE(e.remote_message() == "bad input 7");
  }
  REQUIRE(f.exception() != nullptr);
  auto g = ex.submit<long>("no_such_function", 1L);
  REQUIRE_THAT(thrown<RemoteError>([&] { g.result(); }),
               Catch::Contains("no function 'no_such_function'") && Catch::Contains("square"));
}

SCENARIO("10,000 tiny tasks complete and a task takes their futures as its argument",
         "[executor]") {
  Pool p;
  Executor ex(p.ec, "pool");
  std::vector<long> inputs(10000);
  for (long i = 0; i < 10000; ++i) inputs[i] = i;
  auto squares = ex.map<long>("square", inputs);
  REQUIRE(squares.size() == 10000);
  auto total = ex.submit<long>("sum", squares);
  REQUIRE(total.result() == 333283335000L);
  long local = 0;
  for (auto& f : squares) local += f.result();
  REQUIRE(local == 333283335000L);
}

SCENARIO("a dependency that fails fails the tasks that take it", "[executor]") {
  Pool p;
  Executor ex(p.ec, "pool");
  std::vector<Future<long>> parts{ex.submit<long>("square", 2L),
                                  ex.submit<long>("fail", std::string("part broke"))};
  auto total = ex.submit<long>("sum", parts);
  REQUIRE_THAT(thrown<RemoteError>([&] { total.result(); }),
               Catch::Contains("DependencyFailed") && Catch::Contains("part broke"));
  // A single future as an argument.
  auto nine = ex.submit<long>("square", 3L);
  REQUIRE(ex.submit<long>("increment", nine).result() == 10);
  // Cancelling a future fails the tasks waiting on it.
  SubmitOptions impure;
  impure.pure = false;
  auto slow = ex.submit_with<long>(impure, "sleep_ms", 300L);
  auto after = ex.submit<long>("increment", slow);
  REQUIRE(slow.cancel());
  REQUIRE_THAT(thrown<RemoteError>([&] { after.result(); }), Catch::Contains("was cancelled"));
}

SCENARIO("identical pure submissions share one task, impure ones do not", "[executor]") {
  std::atomic<int> calls{0};
  Pool p(2, [&](Worker& w) {
    w.def("counted", [&](long x) {
      ++calls;
      std::this_thread::sleep_for(50ms);
      return x * 2;
    });
  });
  Executor ex(p.ec, "pool");
  std::vector<Future<long>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(ex.submit<long>("counted", 21L));
  for (auto& f : fs) REQUIRE(f.result() == 42);
  REQUIRE(calls == 1);
  REQUIRE(fs.front().key() == fs.back().key());

  SubmitOptions impure;
  impure.pure = false;
  std::vector<Future<long>> gs;
  for (int i = 0; i < 5; ++i) gs.push_back(ex.submit_with<long>(impure, "counted", 21L));
  for (auto& g : gs) REQUIRE(g.result() == 42);
  REQUIRE(calls == 6);

  SubmitOptions keyed;
  keyed.key = "my-key";
  auto k = ex.submit_with<long>(keyed, "counted", 1L);
  REQUIRE(k.key() == "my-key");
  REQUIRE(k.result() == 2);
}

SCENARIO("a task cancelled before it starts never runs", "[executor]") {
  std::atomic<int> ran{0};
  Pool p(1, [&](Worker& w) {
    w.def("mark", [&](long x) {
      ++ran;
      return x;
    });
  });
  Executor ex(p.ec, "pool");
  SubmitOptions impure;
  impure.pure = false;
  auto blocker = ex.submit_with<long>(impure, "sleep_ms", 300L);
  auto victim = ex.submit_with<long>(impure, "mark", 1L);
  REQUIRE(victim.cancel());
  REQUIRE_FALSE(victim.cancel());  // once
  REQUIRE_THAT(thrown<CancelledError>([&] { victim.result(); }), Catch::Contains("cancelled"));
  REQUIRE(blocker.result() == 300);
  // FIFO on one worker thread: once this one ran, the cancelled one was skipped.
  REQUIRE(ex.submit_with<long>(impure, "increment", 1L).result() == 2);
  REQUIRE(ran == 0);
  REQUIRE_FALSE(blocker.cancel());  // finished
}

SCENARIO("wait returns on a timeout or the first completion", "[executor]") {
  Pool p(2);
  Executor ex(p.ec, "pool");
  SubmitOptions impure;
  impure.pure = false;
  auto slow = ex.submit_with<long>(impure, "sleep_ms", 1500L);
  auto r = depot::wait(std::vector<Future<long>>{slow}, std::chrono::milliseconds(30));
  REQUIRE(r.done.empty());
  REQUIRE(r.not_done.size() == 1);
  REQUIRE_THROWS_AS(slow.result(10ms), TimeoutError);
  // Waits that time out leave nothing behind on the future they waited for.
  for (int i = 0; i < 50; ++i) depot::wait(std::vector<Future<long>>{slow}, 1ms);
  {
    std::lock_guard lk(slow.state()->mu);
    REQUIRE(slow.state()->callbacks.empty());
  }

  auto fast = ex.submit_with<long>(impure, "square", 5L);
  auto first = depot::wait(std::vector<Future<long>>{slow, fast}, std::nullopt, FIRST_COMPLETED);
  REQUIRE(first.done.size() >= 1);
  REQUIRE(first.done.front().key() == fast.key());

  auto bad = ex.submit_with<long>(impure, "fail", std::string("x"));
  auto fe = depot::wait(std::vector<Future<long>>{slow, bad}, std::nullopt, FIRST_EXCEPTION);
  REQUIRE(fe.done.size() >= 1);

  auto all = depot::wait(std::vector<Future<long>>{slow, fast, bad});
  REQUIRE(all.done.size() == 3);
  REQUIRE(all.not_done.empty());
}

SCENARIO("as_completed yields every future once, then() runs a continuation", "[executor]") {
  Pool p(2);
  Executor ex(p.ec, "pool");
  SubmitOptions impure;
  impure.pure = false;
  std::vector<Future<long>> fs;
  for (long ms : {400L, 10L, 200L}) fs.push_back(ex.submit_with<long>(impure, "sleep_ms", ms));
  std::vector<long> order;
  for (const auto& f : depot::as_completed(fs)) order.push_back(f.result());
  REQUIRE(order.size() == 3);
  REQUIRE(std::set<long>(order.begin(), order.end()) == std::set<long>{10, 200, 400});
  REQUIRE(order.front() == 10);

  std::promise<long> got;
  auto value = got.get_future();
  ex.submit<long>("square", 9L).then([&](const Future<long>& f) { got.set_value(f.result()); });
  REQUIRE(value.get() == 81);
}

SCENARIO("co_await on a future keeps the Asio loop serving", "[executor][async]") {
  Pool p(1);
  Executor ex(p.ec, "pool");
  boost::asio::io_context io;
  std::vector<std::string> events;
  SubmitOptions impure;
  impure.pure = false;
  auto f = ex.submit_with<long>(impure, "sleep_ms", 200L);
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        long v = co_await depot::async_result(f);
        events.push_back("result " + std::to_string(v));
      },
      boost::asio::detached);
  boost::asio::post(io, [&] { events.push_back("other work"); });
  io.run();
  REQUIRE(events == std::vector<std::string>{"other work", "result 200"});
}

SCENARIO("an actor runs its calls in arrival order, one at a time", "[executor][actor]") {
  Pool p(2, [](Worker& w) {
    w.actor<Log>("Log").method("push", &Log::push).attribute("items", &Log::items);
  });
  Executor ex(p.ec, "pool");
  Actor log = ex.actor("Log");
  std::vector<std::thread> callers;
  std::mutex mu;
  std::vector<Future<long>> all;
  for (long t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (long i = 0; i < 50; ++i) {
        auto f = log.call<long>("push", t * 1000 + i);
        std::lock_guard lk(mu);
        all.push_back(f);
      }
    });
  for (auto& c : callers) c.join();
  auto done = depot::wait(all);
  REQUIRE(done.done.size() == 200);
  std::set<long> sizes;
  for (auto& f : all) sizes.insert(f.result());
  REQUIRE(sizes.size() == 200);  // each call saw its own state: one at a time
  auto items = log.get<std::vector<long>>("items");
  REQUIRE(items.size() == 200);
  std::vector<long> last(4, -1);
  for (long v : items) {  // each caller's calls in the order it made them
    REQUIRE(v % 1000 > last[v / 1000]);
    last[v / 1000] = v % 1000;
  }
}

SCENARIO("the seed's Counter actor, and closing an actor", "[executor][actor]") {
  Pool p;
  Executor ex(p.ec, "pool");
  Actor counter = ex.actor("Counter");
  REQUIRE(counter.call<long>("increment").result() == 1);
  REQUIRE(counter.get<long>("n") == 1);
  REQUIRE(counter.call<long>("add", 10L).result() == 11);
  auto bad = counter.call<long>("no_method");
  REQUIRE_THAT(thrown<RemoteError>([&] { bad.result(); }), Catch::Contains("no method"));
  counter.close();
  REQUIRE_THAT(thrown<NotFoundError>([&] { counter.call<long>("increment"); }),
               Catch::Contains("was closed"));
  // Nothing of it is left in the manager: no mailbox, no liveness lock, no snapshot.
  auto left = [&] {
    std::vector<std::string> names;
    for (auto& o : p.ec.list())
      if (o.name.starts_with("pool.actor.")) names.push_back(o.name + " (" + o.type + ")");
    return names;
  };
  test::eventually([&] { return left().empty(); });
  CAPTURE(left());
  REQUIRE(left().empty());
  REQUIRE_THAT(thrown<RemoteError>([&] { ex.actor("Nope"); }),
               Catch::Contains("no actor class 'Nope'"));
}

SCENARIO("one-way sends run in order with an actor's calls, and store no results",
         "[executor][actor]") {
  TestManager m;
  Client wc(m.address, m.authkey), ec(m.address, m.authkey);
  std::mutex mu;
  std::vector<std::string> failed;  // what on_send_error heard
  WorkerOptions opt{2, 64};
  opt.on_send_error = [&](const std::string& actor, const std::string& method,
                          const std::string& type, const std::string& message) {
    std::lock_guard lk(mu);
    failed.push_back(actor + " " + method + " " + type + ": " + message);
  };
  Worker w(wc, "pool", opt);
  w.actor<Log>("Log").method("push", &Log::push).attribute("items", &Log::items);
  w.actor<Tally>("Tally").method("add", &Tally::add);
  w.start();
  Executor ex(ec, "pool");
  Actor log = ex.actor("Log");
  auto results = [&] {
    size_t n = 0;
    for (auto& o : ec.list()) n += o.name.starts_with("pool.r.");
    return n;
  };
  const size_t before = results();
  // Sends 1-4, a call that pushes 5, sends 6-9, a call that pushes 10: each call answers the
  // number of items, so every send queued before it has run, in order.
  for (long i = 1; i <= 10; ++i) {
    if (i % 5 != 0) {
      log.send("push", i);
      continue;
    }
    auto f = log.call<long>("push", i);
    REQUIRE(f.result() == i);
    if (i == 5) {
      CAPTURE(before, results());
      REQUIRE(results() <= before + 1);  // the call's result; the four sends stored nothing
    }
  }
  std::vector<long> want{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  REQUIRE(log.get<std::vector<long>>("items") == want);
  {
    std::lock_guard lk(mu);
    REQUIRE(failed.empty());
  }
  WHEN("a send fails on the worker") {
    log.send("no_such_method", 1L);
    REQUIRE(log.call<long>("push", 11L).result() == 11);  // the actor serves on
    THEN("on_send_error heard of it before the next call ran, with the actor and the reason") {
      std::lock_guard lk(mu);
      REQUIRE(failed.size() == 1);
      REQUIRE_THAT(failed[0], Catch::StartsWith(log.id() + " no_such_method ") &&
                                  Catch::Contains(std::string(task::kUnknownMethod)) &&
                                  Catch::Contains("has no method 'no_such_method'"));
    }
  }
  WHEN("an actor is closed after sends (the cookbook's close() and join())") {
    Actor tally = ex.actor("Tally");
    Tally::total = 0;
    for (long k = 1; k <= 20; ++k) tally.send("add", k);
    tally.close();
    THEN("close is answered after they all ran, and later sends are refused") {
      REQUIRE(Tally::total.load() == 210);  // the instance lives in this process's worker
      REQUIRE_THAT(thrown<NotFoundError>([&] { tally.send("add", 1L); }),
                   Catch::Contains("was closed"));
    }
  }
}

SCENARIO("local mode runs the same API over an embedded manager", "[executor][local]") {
  LocalCluster cluster({2, "local", "127.0.0.1:0"});
  cluster.worker().def("cube", [](long x) { return x * x * x; });
  auto& ex = cluster.executor();
  REQUIRE(ex.submit<long>("cube", 3L).result() == 27);
  std::vector<long> in{1, 2, 3};
  auto fs = ex.map<long>("cube", in);
  REQUIRE(fs[2].result() == 27);
}
