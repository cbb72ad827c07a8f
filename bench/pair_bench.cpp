// depot-pair-bench: seed 004's task_master / task_worker exchange as a benchmark, through the
// public client library (depot::Client, RemoteQueue). bench/compare_managers.sh runs it next
// to the same exchange over Python's multiprocessing.managers (bench/python/seed_*.py).
//
//   depot-pair-bench worker --address A --authkey K [--batch B] [--prefix P] [--timeout-ms T]
//   depot-pair-bench master --address A --authkey K --tasks N [--batch B] [--prefix P]
//   depot-pair-bench size --address A --authkey K --queue NAME   (prints the queue's size)
//
// The master puts N random ints into "<P>tasks", then reads N results from "<P>results";
// it times itself from the first put to the last result and prints tasks/s. Workers get a
// task, square it and put the result back, with no sleep; a worker exits when no task came
// for --timeout-ms (1000, like the seed's get(timeout=1)). Start the workers first: they
// wait in get() (--first-timeout-ms, default 10000) until the master's first put.
// --batch 0 (default) moves one item per call with put / get; --batch B moves up to B items
// per call with put_many / get_many. The master checks the sum of the results.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "depot/client/client.h"

namespace {

using Clock = std::chrono::steady_clock;

// CPU seconds (user + system) this process has used so far.
double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

struct Args {
  std::string mode;
  std::string address = "127.0.0.1:5000";
  std::string authkey;
  long tasks = 10000;
  long batch = 0;
  std::string prefix;
  long timeout_ms = 1000;
  long first_timeout_ms = 10000;
  std::string queue;
  long spin_us = 50;     // ClientOptions::spin
  bool overlap = false;  // --overlap 1: put and get loops of the master on two threads
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: depot-pair-bench master|worker --address HOST:PORT --authkey KEY "
               "[--tasks N] [--batch B] [--prefix P] [--timeout-ms T] [--first-timeout-ms T]\n"
               "       depot-pair-bench size --address HOST:PORT --authkey KEY --queue NAME\n");
  std::exit(2);
}

depot::ClientOptions options(const Args& a) {
  depot::ClientOptions o;
  o.spin = std::chrono::microseconds(a.spin_us);
  return o;
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage();
  Args a;
  a.mode = argv[1];
  if (a.mode != "master" && a.mode != "worker" && a.mode != "size") usage();
  if (const char* env = std::getenv("DEPOT_AUTHKEY")) a.authkey = env;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) usage();
    std::string v = argv[++i];
    if (k == "--address")
      a.address = v;
    else if (k == "--authkey")
      a.authkey = v;
    else if (k == "--tasks")
      a.tasks = std::atol(v.c_str());
    else if (k == "--batch")
      a.batch = std::atol(v.c_str());
    else if (k == "--prefix")
      a.prefix = v;
    else if (k == "--timeout-ms")
      a.timeout_ms = std::atol(v.c_str());
    else if (k == "--first-timeout-ms")
      a.first_timeout_ms = std::atol(v.c_str());
    else if (k == "--queue")
      a.queue = v;
    else if (k == "--overlap")
      a.overlap = v == "1";
    else if (k == "--spin-us")
      a.spin_us = std::atol(v.c_str());
    else
      usage();
  }
  if (a.authkey.empty() || a.tasks < 1 || a.batch < 0) usage();
  return a;
}

int run_master(const Args& a) {
  depot::Client client(a.address, a.authkey, options(a));
  auto task = client.queue<int>(a.prefix + "tasks");
  auto result = client.queue<long>(a.prefix + "results");
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> dist(0, 10000);
  std::vector<int> values(static_cast<size_t>(a.tasks));
  long long expected = 0;
  for (auto& v : values) {
    v = dist(rng);
    expected += static_cast<long long>(v) * v;
  }
  const auto result_timeout = std::chrono::seconds(10);  // the seed's result.get(timeout=10)
  long long sum = 0;
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  auto t_put = t0;
  if (a.batch == 0 && a.overlap) {
    // The same per-item calls, with the put loop on a second thread sharing the client:
    // results are collected while tasks are still being put, pipelined on one connection.
    std::thread putter([&] {
      for (int v : values) task.put(v);
      t_put = Clock::now();
    });
    for (long i = 0; i < a.tasks; ++i) sum += result.get(result_timeout);
    putter.join();
  } else if (a.batch == 0) {
    for (int v : values) task.put(v);
    t_put = Clock::now();
    for (long i = 0; i < a.tasks; ++i) sum += result.get(result_timeout);
  } else {
    const size_t b = static_cast<size_t>(a.batch);
    for (size_t i = 0; i < values.size(); i += b) {
      std::vector<int> chunk(values.begin() + static_cast<long>(i),
                             values.begin() + static_cast<long>(std::min(values.size(), i + b)));
      task.put_many(chunk);
    }
    t_put = Clock::now();
    for (long got = 0; got < a.tasks;) {
      for (long r : result.get_many(b, result_timeout)) {
        sum += r;
        ++got;
      }
    }
  }
  const auto t1 = Clock::now();
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  if (sum != expected) {
    std::fprintf(stderr, "depot-pair-bench: results sum to %lld, expected %lld\n", sum, expected);
    return 1;
  }
  std::printf("depot %s: %ld tasks in %.4f s: %.1f tasks/s\n",
              a.batch == 0 ? (a.overlap ? "per-item, overlapped" : "per-item")
                           : ("batch " + std::to_string(a.batch)).c_str(),
              a.tasks, secs, static_cast<double>(a.tasks) / secs);
  std::printf("  puts %.4f s, then results %.4f s; master CPU %.4f s (%.1f us per task)\n",
              std::chrono::duration<double>(t_put - t0).count(),
              std::chrono::duration<double>(t1 - t_put).count(), cpu,
              cpu * 1e6 / static_cast<double>(a.tasks));
  std::printf("tasks_per_s %.1f\n", static_cast<double>(a.tasks) / secs);
  return 0;
}

int run_worker(const Args& a) {
  depot::Client client(a.address, a.authkey, options(a));
  auto task = client.queue<int>(a.prefix + "tasks");
  auto result = client.queue<long>(a.prefix + "results");
  long done = 0;
  auto timeout = std::chrono::milliseconds(a.first_timeout_ms);
  for (;;) {
    try {
      if (a.batch == 0) {
        const int n = task.get(timeout);
        result.put(static_cast<long>(n) * n);
        ++done;
      } else {
        std::vector<long> out;
        for (int n : task.get_many(static_cast<size_t>(a.batch), timeout))
          out.push_back(static_cast<long>(n) * n);
        result.put_many(out);
        done += static_cast<long>(out.size());
      }
    } catch (const depot::TimeoutError&) {
      break;  // the seed's queue.Empty: no more tasks
    }
    timeout = std::chrono::milliseconds(a.timeout_ms);
  }
  std::printf("worker exit after %ld tasks, CPU %.4f s\n", done, cpu_seconds());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    if (a.mode == "size") {
      depot::Client client(a.address, a.authkey, options(a));
      std::printf("%zu\n", client.queue<std::string>(a.queue).qsize());
      return 0;
    }
    return a.mode == "master" ? run_master(a) : run_worker(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "depot-pair-bench %s: %s\n", a.mode.c_str(), e.what());
    return 1;
  }
}
