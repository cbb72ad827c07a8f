// The plain map.sink path allocates nothing per event: this binary replaces the global
// operator new with one that counts, and emits N items between two readings.
#include <catch2/catch.hpp>

#include <tuple>
#include <vector>

#include "depot/streams/alloc_counter.h"
#include "depot/streams/stream.h"

using depot::stream::Stream;

SCENARIO("emitting through map.sink allocates nothing per event", "[streams][alloc]") {
  Stream<int> source;
  long sum = 0;
  source.map([](int x) { return x + 1; }).sink([&](int x) { sum += x; });
  source.emit(0);  // warm up
  const long before = depot::stream::allocations();
  for (int i = 0; i < 100000; ++i) source.emit(i);
  const long after = depot::stream::allocations();
  REQUIRE(after - before == 0);
  REQUIRE(sum > 0);
}

SCENARIO("partition, filter.map.accumulate, sliding_window and zip allocate nothing per event",
         "[streams][alloc]") {
  Stream<int> source;
  long sum = 0;
  source.partition(5)
      .map([](const std::vector<int>& v) {
        long s = 0;
        for (int x : v) s += x;
        return s;
      })
      .sink([&](long s) { sum += s; });
  source.filter([](int x) { return x % 2 == 0; })
      .map([](int x) { return long{x} * 2; })
      .accumulate([](long a, long b) { return a + b; })
      .sink([&](long) {});
  source.sliding_window(3).sink([&](const std::vector<int>& v) { sum += v.back(); });
  Stream<int> other;
  source.zip(other).sink([&](const std::tuple<int, int>& t) { sum += std::get<1>(t); });
  auto emit_both = [&](int i) {
    source.emit(i);
    other.emit(i);
  };
  for (int i = 0; i < 1000; ++i) emit_both(i);  // warm up: vectors and queues reach their size
  const long before = depot::stream::allocations();
  for (int i = 0; i < 100000; ++i) emit_both(i);
  REQUIRE(depot::stream::allocations() - before == 0);
  REQUIRE(sum > 0);
}
