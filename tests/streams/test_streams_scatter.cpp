// scatter/gather against a fake executor that runs named functions on a thread pool: the
// stand-in for depot's Executor, with the same submit<R>(name, arg) / result() / done().
#include <catch2/catch.hpp>

#include <any>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "depot/streams/stream.h"

using depot::stream::Stream;
using depot::stream::StreamError;
using V = std::vector<int>;

namespace {

class PoolExecutor {
 public:
  template <class R>
  class Future {
   public:
    explicit Future(std::shared_future<R> f) : f_(std::move(f)) {}
    R result() { return f_.get(); }
    bool done() const { return f_.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }

   private:
    std::shared_future<R> f_;
  };

  explicit PoolExecutor(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~PoolExecutor() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  template <class R, class T>
  void define(const std::string& name, std::function<R(const T&)> f) {
    functions_[name] = std::move(f);
  }
  template <class R, class T>
  Future<R> submit(const std::string& name, const T& arg) {
    auto it = functions_.find(name);
    if (it == functions_.end()) throw std::invalid_argument("no function " + name);
    auto f = std::any_cast<std::function<R(const T&)>>(it->second);
    auto task = std::make_shared<std::packaged_task<R()>>([f, arg] { return f(arg); });
    Future<R> fut(task->get_future().share());
    {
      std::lock_guard l(mu_);
      tasks_.push_back([task] { (*task)(); });
      ++submitted_;
    }
    cv_.notify_one();
    return fut;
  }
  int submitted() const { return submitted_; }
  // Calls that have run to the end: their futures are ready.
  int completed() const { return completed_; }

 private:
  void work() {
    for (;;) {
      std::function<void()> t;
      {
        std::unique_lock l(mu_);
        cv_.wait(l, [&] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        t = std::move(tasks_.front());
        tasks_.pop_front();
      }
      t();
      ++completed_;
    }
  }
  std::map<std::string, std::any> functions_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::atomic<int> submitted_{0};
  std::atomic<int> completed_{0};
  std::vector<std::thread> workers_;
};

// A gate the remote function waits on, so a test decides when calls finish.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  int open = 0;  // how many calls may finish
  std::atomic<int> started{0}, running{0}, max_running{0}, finished{0};
  void pass() {
    std::unique_lock l(mu);
    ++started;
    int r = ++running;
    int m = max_running;
    while (r > m && !max_running.compare_exchange_weak(m, r)) {
    }
    cv.wait(l, [&] { return open > 0; });
    --open;
    --running;
    ++finished;
  }
  void release(int n) {
    {
      std::lock_guard l(mu);
      open += n;
    }
    cv.notify_all();
  }
};

}  // namespace

SCENARIO("scatter/gather runs a named function remotely and keeps the input order",
         "[streams][scatter]") {
  PoolExecutor ex(4);
  ex.define<int, int>("increment", [](const int& x) {
    // Later items finish first: the order must come from gather, not from the pool.
    std::this_thread::sleep_for(std::chrono::milliseconds(10 - x));
    return x + 1;
  });
  Stream<int> source;
  V got;
  source.scatter(ex).map<int>("increment").buffer(5).gather().sink([&](int x) {
    got.push_back(x);
  });
  for (int x = 0; x < 10; ++x) source.emit(x);
  source.close();
  REQUIRE(got == V{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  REQUIRE(ex.submitted() == 10);
}

SCENARIO("gather keeps at most buffer calls in flight", "[streams][scatter]") {
  Gate gate;  // before the pool: its threads wait on it until the pool is gone
  PoolExecutor ex(8);
  // Opens the gate however the scenario ends, before the pool joins its threads.
  struct OpenAtEnd {
    Gate& g;
    ~OpenAtEnd() { g.release(1000); }
  } open_at_end{gate};
  ex.define<int, int>("slow", [&](const int& x) {
    gate.pass();
    return x * 10;
  });
  Stream<int> source;
  V got;
  auto g = source.scatter(ex).map<int>("slow").buffer(3).gather();
  g.sink([&](int x) { got.push_back(x); });
  for (int x = 0; x < 3; ++x) source.emit(x);
  THEN("three calls are in flight and nothing has come back") {
    REQUIRE(got.empty());
    auto* node = dynamic_cast<depot::stream::GatherNode<int, int, PoolExecutor>*>(&g.node());
    REQUIRE(node != nullptr);
    REQUIRE(node->in_flight() == 3);
  }
  WHEN("a fourth item comes") {
    std::thread opener([&] {
      while (gate.started < 3) std::this_thread::yield();
      gate.release(1);  // lets one call (not necessarily the oldest) finish
      while (gate.finished < 1) std::this_thread::yield();
      gate.release(100);
    });
    source.emit(3);
    opener.join();
    THEN("the emit waited for the oldest, which went on first") {
      REQUIRE(!got.empty());
      REQUIRE(got.front() == 0);
      REQUIRE(gate.max_running <= 3);
    }
    g.flush();
    THEN("flush waits for the rest, in order") {
      REQUIRE(got == V{0, 10, 20, 30});
    }
  }
}

SCENARIO("gather forwards results already done without waiting for the buffer to fill",
         "[streams][scatter]") {
  PoolExecutor ex(2);
  ex.define<int, int>("fast", [](const int& x) { return -x; });
  Stream<int> source;
  V got;
  source.scatter(ex).map<int>("fast").buffer(100).gather().sink([&](int x) { got.push_back(x); });
  source.emit(1);
  // Wait on state until the first call is done, then emit once more: far below the buffer of
  // 100, so only forwarding what is done can bring -1 out.
  for (int i = 0; i < 2000 && ex.completed() < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(ex.completed() == 1);
  source.emit(2);
  REQUIRE(!got.empty());
  REQUIRE(got.front() == -1);
  REQUIRE(got.size() <= 2);  // -2 too if its call was already done
  source.close();
  REQUIRE(got == V{-1, -2});
}

SCENARIO("a remote call that throws goes to gather's error stream", "[streams][scatter]") {
  PoolExecutor ex(2);
  ex.define<int, int>("picky", [](const int& x) {
    if (x == 2) throw std::runtime_error("no twos");
    return x;
  });
  Stream<int> source;
  V got;
  std::vector<StreamError> errs;
  auto g = source.scatter(ex).map<int>("picky").buffer(2).gather();
  g.sink([&](int x) { got.push_back(x); });
  g.on_error().sink([&](const StreamError& e) { errs.push_back(e); });
  for (int x = 0; x < 5; ++x) source.emit(x);
  source.close();
  REQUIRE(got == V{0, 1, 3, 4});
  REQUIRE(errs.size() == 1);
  REQUIRE(errs[0].node == "gather; picky");
  REQUIRE(errs[0].input == "2");
  REQUIRE(errs[0].message == "no twos");
  WHEN("the function name is unknown") {
    auto bad = source.scatter(ex).map<int>("missing").gather();
    std::vector<std::string> msgs;
    bad.on_error().sink([&](const StreamError& e) { msgs.push_back(e.message); });
    source.emit(1);
    REQUIRE(msgs == std::vector<std::string>{"no function missing"});
  }
}
