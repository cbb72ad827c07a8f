// Time-based operators on a ManualClock: time moves only in advance(), so every assertion is
// about what has arrived by a given instant, never about how long anything took.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <vector>

#include "depot/streams/stream.h"

using depot::stream::ManualClock;
using depot::stream::OnClose;
using depot::stream::RealTimeLoop;
using depot::stream::Stream;
using namespace std::chrono_literals;
using V = std::vector<int>;

SCENARIO("delay sends each item on after the interval", "[streams][time]") {
  ManualClock clock;
  Stream<int> source(clock);
  V got;
  source.delay(1s).filter([](int x) { return x % 2 == 0; }).sink([&](int x) { got.push_back(x); });
  for (int i = 0; i < 10; ++i) source.emit(i);
  THEN("nothing before the interval, everything in order after it") {
    clock.advance(999ms);
    REQUIRE(got.empty());
    clock.advance(1ms);
    REQUIRE(got == V{0, 2, 4, 6, 8});
    REQUIRE(clock.pending() == 0);
  }
  WHEN("items arrive at different times") {
    clock.advance(5s);
    got.clear();
    source.emit(10);
    clock.advance(500ms);
    source.emit(12);
    clock.advance(500ms);
    THEN("each waits its own interval") {
      REQUIRE(got == V{10});
      clock.advance(500ms);
      REQUIRE(got == V{10, 12});
    }
  }
  WHEN("the source closes with items pending") {
    source.close();
    THEN("they go out at once, in order") {
      REQUIRE(got == V{0, 2, 4, 6, 8});
    }
  }
}

SCENARIO("rate_limit spaces items at least the interval apart", "[streams][time]") {
  ManualClock clock;
  Stream<int> source(clock);
  V got;
  source.rate_limit(1s).sink([&](int x) { got.push_back(x); });
  for (int i = 0; i < 10; ++i) source.emit(i);
  THEN("the first goes at once, then one per interval") {
    REQUIRE(got == V{0});
    clock.advance(1s);
    REQUIRE(got == V{0, 1});
    clock.advance(2500ms);
    REQUIRE(got == V{0, 1, 2, 3});
    clock.advance(10s);
    REQUIRE(got == V{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }
  WHEN("an item comes after a quiet period") {
    clock.advance(60s);
    got.clear();
    source.emit(42);
    THEN("it goes at once") {
      REQUIRE(got == V{42});
    }
  }
}

SCENARIO("timed_window emits what arrived in each interval", "[streams][time]") {
  ManualClock clock;
  Stream<int> source(clock);
  std::vector<V> got;
  auto w = source.timed_window(3s);
  w.sink([&](const V& v) { got.push_back(v); });
  // One item every 500 ms, from 500 ms to 5 s: the windows end at 3 s and 6 s.
  for (int i = 0; i < 10; ++i) {
    clock.advance(500ms);
    source.emit(i);
  }
  THEN("a window at each tick, items in order") {
    REQUIRE(got == std::vector<V>{{0, 1, 2, 3, 4}});
    clock.advance(1s);
    REQUIRE(got == std::vector<V>{{0, 1, 2, 3, 4}, {5, 6, 7, 8, 9}});
  }
  THEN("an interval without items gives an empty window, as in streamz") {
    clock.advance(4s);
    REQUIRE(got.size() == 3);
    REQUIRE(got[2].empty());
  }
  WHEN("the source closes mid-window") {
    source.close();
    THEN("the partial window goes out and the timer stops") {
      REQUIRE(got == std::vector<V>{{0, 1, 2, 3, 4}, {5, 6, 7, 8, 9}});
      REQUIRE(clock.pending() == 0);
    }
  }
}

SCENARIO("timed_window with OnClose::drop loses the partial window, as streamz",
         "[streams][time]") {
  ManualClock clock;
  Stream<int> source(clock);
  std::vector<V> got;
  source.timed_window(3s, OnClose::drop).sink([&](const V& v) { got.push_back(v); });
  source.emit(1);
  source.close();
  REQUIRE(got.empty());
}

SCENARIO("buffer on a loop holds up to n items until the loop runs", "[streams][time]") {
  ManualClock clock;
  Stream<int> source(clock);
  V got;
  source.buffer(3).map([](int x) { return x * x + 1; }).sink([&](int x) { got.push_back(x); });
  source.emit(0);
  source.emit(1);
  REQUIRE(got.empty());
  WHEN("the loop runs") {
    clock.run_pending();
    THEN("they all go on") {
      REQUIRE(got == V{1, 2});
    }
  }
  WHEN("the buffer is full") {
    source.emit(2);
    source.emit(3);
    THEN("the emitter sends the oldest on first (back-pressure)") {
      REQUIRE(got == V{1});
    }
  }
  WHEN("the source closes") {
    source.close();
    THEN("the buffer drains") {
      REQUIRE(got == V{1, 2});
      REQUIRE(clock.pending() == 0);
    }
  }
}

SCENARIO("latest on a loop keeps only the newest item until the loop runs", "[streams][time]") {
  ManualClock clock;
  Stream<int> source(clock);
  V got;
  source.latest().sink([&](int x) { got.push_back(x); });
  source.emit(1);
  source.emit(2);
  source.emit(3);
  clock.run_pending();
  source.emit(4);
  clock.run_pending();
  REQUIRE(got == V{3, 4});
}

SCENARIO("time-based operators need a loop", "[streams][time]") {
  Stream<int> source;
  REQUIRE_THROWS_AS(source.delay(1s), std::logic_error);
  REQUIRE_THROWS_AS(source.rate_limit(1s), std::logic_error);
  REQUIRE_THROWS_AS(source.timed_window(1s), std::logic_error);
}

SCENARIO("a RealTimeLoop runs the same operators on the steady clock", "[streams][time]") {
  GIVEN("run_for on the emitting thread") {
    RealTimeLoop loop;
    Stream<int> source(loop);
    V got;
    source.delay(1ms).sink([&](int x) { got.push_back(x); });
    source.emit(7);
    for (int i = 0; i < 1000 && got.empty(); ++i) loop.run_for(5ms);
    REQUIRE(got == V{7});
  }
  GIVEN("its own thread, emits posted to it") {
    RealTimeLoop loop;
    Stream<int> source(loop);
    std::atomic<int> sum{0};
    source.rate_limit(1ms).sink([&](int x) { sum += x; });
    loop.start();
    for (int i = 1; i <= 4; ++i) loop.post([&, i] { source.emit(i); });
    for (int i = 0; i < 2000 && sum != 10; ++i) std::this_thread::sleep_for(5ms);
    loop.stop();
    REQUIRE(sum == 10);
  }
}
