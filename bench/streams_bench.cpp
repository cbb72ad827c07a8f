// depot-streams-bench: the pipelines bench/python/streamz_bench.py runs in streamz, in
// depot::stream, on one thread, with no time-based operators:
//
//   map_sink            source.map(inc).sink(f)
//   filter_map_acc      source.filter(even).map(double).accumulate(add).sink(f)
//   partition_sum       source.partition(5).map(sum).sink(f)
//   sliding_window      source.sliding_window(3).sink(f)
//   zip2                s1.zip(s2).sink(f), emits alternating between s1 and s2
//
//   depot-streams-bench [--n 20000000] [--runs 3] [--only NAME]
//
// Prints one line per pipeline: name events/s (the best run) and allocations per event,
// counted by the operator new this program replaces (so the map_sink figure proves that
// path allocates nothing per event). An event is one emit() call.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "depot/streams/alloc_counter.h"
#include "depot/streams/stream.h"

using depot::stream::Stream;

namespace {

long g_sink = 0;  // what the sinks add to, printed so the work is not optimised away

struct Result {
  double events_per_s;
  double allocs_per_event;
};

// Builds the pipeline with `setup` (which returns the per-event emit function), warms it up,
// then times n events `runs` times and keeps the best.
Result measure(long n, int runs, const std::function<std::function<void(long)>()>& setup) {
  Result best{0, 0};
  for (int r = 0; r < runs; ++r) {
    auto emit = setup();
    for (long i = 0; i < 1000; ++i) emit(i);
    const long news_before = depot::stream::allocations();
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) emit(i);
    const auto t1 = std::chrono::steady_clock::now();
    const long news = depot::stream::allocations() - news_before;
    const double secs = std::chrono::duration<double>(t1 - t0).count();
    const double eps = static_cast<double>(n) / secs;
    if (eps > best.events_per_s) best = {eps, static_cast<double>(news) / static_cast<double>(n)};
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  long n = 20000000;
  int runs = 3;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--n") && i + 1 < argc)
      n = std::atol(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--n N] [--runs R] [--only NAME]\n", argv[0]);
      return 2;
    }
  }
  // The function objects are built once per run, outside the timed loop; the emit lambda
  // holds the source handle (a std::function call per event is part of the measured cost).
  std::vector<std::pair<std::string, std::function<std::function<void(long)>()>>> benches = {
      {"map_sink",
       [] {
         Stream<long> s;
         s.map([](long x) { return x + 1; }).sink([](long x) { g_sink += x; });
         return std::function<void(long)>([s](long i) { s.emit(i); });
       }},
      {"filter_map_acc",
       [] {
         Stream<long> s;
         s.filter([](long x) { return x % 2 == 0; })
             .map([](long x) { return x * 2; })
             .accumulate([](long a, long b) { return a + b; })
             .sink([](long x) { g_sink += x; });
         return std::function<void(long)>([s](long i) { s.emit(i); });
       }},
      {"partition_sum",
       [] {
         Stream<long> s;
         s.partition(5)
             .map([](const std::vector<long>& v) {
               long t = 0;
               for (long x : v) t += x;
               return t;
             })
             .sink([](long x) { g_sink += x; });
         return std::function<void(long)>([s](long i) { s.emit(i); });
       }},
      {"sliding_window",
       [] {
         Stream<long> s;
         s.sliding_window(3).sink([](const std::vector<long>& v) { g_sink += v.back(); });
         return std::function<void(long)>([s](long i) { s.emit(i); });
       }},
      {"zip2",
       [] {
         Stream<long> a, b;
         a.zip(b).sink([](const std::tuple<long, long>& t) { g_sink += std::get<1>(t); });
         return std::function<void(long)>([a, b](long i) {
           if (i & 1)
             b.emit(i);
           else
             a.emit(i);
         });
       }},
  };
  for (const auto& [name, setup] : benches) {
    if (!only.empty() && only != name) continue;
    const Result r = measure(n, runs, setup);
    std::printf("%s %.0f %.4f\n", name.c_str(), r.events_per_s, r.allocs_per_event);
    std::fflush(stdout);
  }
  std::fprintf(stderr, "checksum %ld\n", g_sink);
  return 0;
}
