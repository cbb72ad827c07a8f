// The functions and the actors that task_pool workers serve (and that the local-mode samples
// register in-process): the seeds' square, sum, increment, fib, Counter, and the cookbook's
// PrintActor and Worker.
#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "depot/executor/executor.h"

namespace sample {

inline long square(long x) {
  return x * x;
}
inline long sum(const std::vector<long>& xs) {
  long s = 0;
  for (long x : xs) s += x;
  return s;
}
inline long increment(long x) {
  return x + 1;
}
// The streams seed's increment: a tenth of a second of "work".
inline long slow_increment(long x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return x + 1;
}
inline long fib(long n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

// The seeds' actor: state that changes call by call.
struct Counter {
  long n = 0;
  long increment() { return ++n; }
  long add(long k) { return n += k; }
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar& n;
  }
};

// The cookbook's two actors (seed 003, samples/actor_cookbook.cpp): PrintActor prints each
// message sent to it; the cookbook's Worker actor runs add(2, 3) and its caller waits for 5.
struct PrintActor {
  void print(const std::string& msg) {
    std::printf("Got: %s\n", msg.c_str());
    std::fflush(stdout);
  }
};
struct CookbookWorker {
  long add(long x, long y) { return x + y; }
};

inline void register_pool(depot::Worker& w) {
  w.def("square", square);
  w.def("sum", sum);
  w.def("increment", increment);
  w.def("slow_increment", slow_increment);
  w.def("fib", fib);
  // For tests and demos: sleeps, then returns its argument; and a function that throws.
  w.def("sleep_ms", [](long ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  });
  w.def("fail", [](std::string why) -> long { throw std::invalid_argument(why); });
  // Kills the worker process mid-task (to show a task outliving its workers).
  w.def("crash", [](long code) -> long { std::_Exit(static_cast<int>(code)); });
  w.actor<Counter>("Counter")
      .method("increment", &Counter::increment)
      .method("add", &Counter::add)
      .attribute("n", &Counter::n)
      .resilient();
  w.actor<PrintActor>("PrintActor").method("print", &PrintActor::print);
  w.actor<CookbookWorker>("Worker").method("add", &CookbookWorker::add);
}

}  // namespace sample
