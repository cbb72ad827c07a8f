// depot-executor-bench: the executor's three figures that bench/compare_dask.sh puts beside
// dask's (bench/python/dask_bench.py measures the same on a LocalCluster):
//
//   roundtrip  submit(increment, i).result() one at a time, distinct i (never deduplicated)
//   map_sum    A = map(square, range(10000)); submit(sum, A).result() == 333283335000
//   actor      Counter.increment() call round trip, one at a time
//
// Run it against a manager with workers serving the pool (samples/task_pool), e.g.
//
//   depot-manager --address 127.0.0.1:5000 --authkey abc &
//   task_pool --address 127.0.0.1:5000 --authkey abc & task_pool ... &
//   depot-executor-bench --address 127.0.0.1:5000 --authkey abc [--pool pool] [--n 2000]
//                        [--warmup 200] [--map 10000] [--runs 5]
//
// One line per metric, key=value pairs after the metric's name; times in microseconds for
// the round trips, milliseconds for map_sum (median and min over --runs).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "depot/executor/executor.h"

namespace {

using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

// Nearest-rank percentile of sorted samples.
double pct(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()));
  return sorted[std::min(i, sorted.size() - 1)];
}

void print_latencies(const char* metric, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  std::printf("%s p50_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f max_us=%.1f n=%zu\n", metric,
              pct(v, 50), pct(v, 99), sum / static_cast<double>(v.size()), v.front(), v.back(),
              v.size());
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: depot-executor-bench --address HOST:PORT --authkey KEY [--pool pool]\n"
               "       [--n 2000] [--warmup 200] [--map 10000] [--runs 5] [--only "
               "roundtrip|map_sum|actor]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a = {{"pool", "pool"}, {"n", "2000"},  {"warmup", "200"},
                                          {"map", "10000"}, {"runs", "5"},  {"only", ""},
                                          {"address", ""},  {"authkey", ""}};
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc || !a.count(k.substr(2))) usage();
    a[k.substr(2)] = argv[++i];
  }
  if (a["address"].empty()) usage();
  if (a["authkey"].empty())
    if (const char* e = std::getenv("DEPOT_AUTHKEY")) a["authkey"] = e;
  const long n = std::stol(a["n"]), warmup = std::stol(a["warmup"]);
  const long map_n = std::stol(a["map"]), runs = std::stol(a["runs"]);
  const std::string only = a["only"];
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  try {
    depot::Client client(a["address"], a["authkey"]);
    depot::Executor ex(client, a["pool"]);
    // A random base keeps the arguments distinct from any earlier run's, though a pure task
    // is only shared while a future for it is alive anyway.
    long base = static_cast<long>(std::random_device{}() % 1'000'000) * 1'000'000;

    if (only.empty() || only == "roundtrip") {
      std::vector<double> lat;
      lat.reserve(static_cast<size_t>(n));
      for (long i = 0; i < warmup + n; ++i) {
        const long x = base + i;
        auto t0 = Clock::now();
        long r = ex.submit<long>("increment", x).result();
        double us = us_since(t0);
        if (r != x + 1) {
          std::fprintf(stderr, "increment(%ld) gave %ld\n", x, r);
          return 1;
        }
        if (i >= warmup) lat.push_back(us);
      }
      print_latencies("roundtrip", lat);
    }

    if (only.empty() || only == "map_sum") {
      std::vector<long> inputs(static_cast<size_t>(map_n));
      for (long i = 0; i < map_n; ++i) inputs[static_cast<size_t>(i)] = i;
      long want = 0;
      for (long i = 0; i < map_n; ++i) want += i * i;
      std::vector<double> ms;
      for (long r = 0; r < runs + 1; ++r) {  // the first run warms up
        auto t0 = Clock::now();
        long total;
        {
          std::vector<depot::Future<long>> A = ex.map<long>("square", inputs);
          total = ex.submit<long>("sum", A).result();
        }
        double t = us_since(t0) / 1000.0;
        if (total != want) {
          std::fprintf(stderr, "sum of squares gave %ld, want %ld\n", total, want);
          return 1;
        }
        if (r > 0) ms.push_back(t);
      }
      std::sort(ms.begin(), ms.end());
      std::printf("map_sum median_ms=%.2f min_ms=%.2f max_ms=%.2f runs=%zu tasks=%ld sum=%ld\n",
                  ms[ms.size() / 2], ms.front(), ms.back(), ms.size(), map_n + 1, want);
    }

    if (only.empty() || only == "actor") {
      depot::Actor counter = ex.actor("Counter");
      std::vector<double> lat;
      lat.reserve(static_cast<size_t>(n));
      for (long i = 0; i < warmup + n; ++i) {
        auto t0 = Clock::now();
        long v = counter.call<long>("increment").result();
        double us = us_since(t0);
        if (v != i + 1) {
          std::fprintf(stderr, "Counter.increment() gave %ld, want %ld\n", v, i + 1);
          return 1;
        }
        if (i >= warmup) lat.push_back(us);
      }
      if (counter.get<long>("n") != warmup + n) {
        std::fprintf(stderr, "Counter.n is wrong\n");
        return 1;
      }
      counter.close();
      print_latencies("actor", lat);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "depot-executor-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
