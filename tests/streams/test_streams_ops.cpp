// The operators without time, checked against the outputs of the streamz walkthrough (seed
// 001) and Python streamz 0.6.4 where the walkthrough leaves a case open.
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "depot/streams/stream.h"
#include "depot/streams/table.h"

using depot::stream::BoundedDeque;
using depot::stream::EmitOn;
using depot::stream::OnClose;
using depot::stream::Stream;
using depot::stream::StreamError;
using V = std::vector<int>;

namespace {

// Collects what reaches a sink.
template <class T>
struct Got {
  std::vector<T> items;
  auto fn() {
    return [this](const T& x) { items.push_back(x); };
  }
};

void emit_range(const Stream<int>& s, int from, int to) {
  for (int i = from; i < to; ++i) s.emit(i);
}

}  // namespace

SCENARIO("map applies a function to every item and sink receives the results", "[streams]") {
  GIVEN("source.map(x*x+1).sink") {
    Stream<int> source;
    Got<int> got;
    source.map([](int x) { return x * x + 1; }).sink(got.fn());
    WHEN("0..9 are emitted") {
      emit_range(source, 0, 10);
      THEN("the seed's outputs arrive in order") {
        REQUIRE(got.items == V{1, 2, 5, 10, 17, 26, 37, 50, 65, 82});
      }
    }
    WHEN("nothing is emitted and the source is closed") {
      source.close();
      THEN("nothing arrives") {
        REQUIRE(got.items.empty());
      }
    }
  }
  GIVEN("a map to another type") {
    Stream<int> source;
    Got<std::string> got;
    source.map([](int x) { return std::string(static_cast<std::size_t>(x), '*'); })
        .map([](const std::string& s) { return s + "|"; })
        .sink(got.fn());
    source.emit(2);
    source.emit(0);
    THEN("the downstream sees the new type") {
      REQUIRE(got.items == std::vector<std::string>{"**|", "|"});
    }
  }
}

SCENARIO("starmap unpacks tuple items into the function's arguments", "[streams]") {
  Stream<std::tuple<int, int>> source;
  Got<int> got;
  source.starmap([](int a, int b) { return a * 10 + b; }).sink(got.fn());
  source.emit({1, 2});
  source.emit({3, 4});
  REQUIRE(got.items == V{12, 34});
}

SCENARIO("filter keeps the items its predicate accepts", "[streams]") {
  Stream<int> source;
  Got<int> got;
  source.filter([](int x) { return x % 2 == 0; }).sink(got.fn());
  emit_range(source, 0, 10);
  REQUIRE(got.items == V{0, 2, 4, 6, 8});
}

SCENARIO("accumulate carries state from item to item", "[streams]") {
  Stream<int> source;
  GIVEN("no start value: the first item is the first state") {
    Got<int> got;
    source.map([](int x) { return x * x + 1; })
        .accumulate([](int a, int b) { return a + b; })
        .sink(got.fn());
    emit_range(source, 0, 10);
    REQUIRE(got.items == V{1, 3, 8, 18, 35, 61, 98, 148, 213, 295});
  }
  GIVEN("a start value of another type") {
    Got<std::string> got;
    source.accumulate([](std::string s, int x) { return s + std::to_string(x); }, std::string(">"))
        .sink(got.fn());
    emit_range(source, 1, 4);
    REQUIRE(got.items == std::vector<std::string>{">1", ">12", ">123"});
  }
  GIVEN("returns_state: the function returns the new state and the result") {
    Got<int> got;
    source
        .accumulate_with_state(
            [](int st, int x) {
              return std::pair<int, int>{st + x, st * 10};
            },
            0)
        .sink(got.fn());
    emit_range(source, 1, 4);
    THEN("the results are emitted, as streamz gives [0, 10, 30]") {
      REQUIRE(got.items == V{0, 10, 30});
    }
  }
  GIVEN("a step that throws on one item") {
    Got<int> got;
    Got<std::string> errors;
    auto acc = source.accumulate(
        [](int a, int x) {
          if (x == 2) throw std::runtime_error("bad item");
          return a + x;
        },
        100);
    acc.sink(got.fn());
    acc.on_error().sink([&](const StreamError& e) { errors.items.push_back(e.input); });
    emit_range(source, 1, 4);
    THEN("the state is what it was before the failed item") {
      REQUIRE(got.items == V{101, 104});
      REQUIRE(errors.items == std::vector<std::string>{"2"});
    }
  }
}

SCENARIO("unique drops items seen among the last maxsize distinct items", "[streams]") {
  const V input{1, 2, 3, 2, 3, 2, 2, 4, 5, 6};
  Stream<int> source;
  Got<int> got;
  GIVEN("maxsize 4") {
    source.unique(4).sink(got.fn());
    for (int x : input) source.emit(x);
    REQUIRE(got.items == V{1, 2, 3, 4, 5, 6});
  }
  GIVEN("maxsize 1: only repeats in a row are dropped") {
    source.unique(1).sink(got.fn());
    for (int x : input) source.emit(x);
    REQUIRE(got.items == V{1, 2, 3, 2, 3, 2, 4, 5, 6});
  }
  GIVEN("maxsize 2: a repeat counts as recently seen again (streamz gives [1, 2, 3, 2])") {
    source.unique(2).sink(got.fn());
    for (int x : {1, 2, 1, 3, 1, 2}) source.emit(x);
    REQUIRE(got.items == V{1, 2, 3, 2});
  }
  GIVEN("no maxsize: every item once, ever") {
    source.unique().sink(got.fn());
    for (int x : {5, 1, 5, 2, 1, 9, 5}) source.emit(x);
    REQUIRE(got.items == V{5, 1, 2, 9});
  }
  GIVEN("a key function") {
    source.unique(0, [](int x) { return x % 3; }).sink(got.fn());
    emit_range(source, 0, 10);
    REQUIRE(got.items == V{0, 1, 2});
  }
}

SCENARIO("flatten emits the elements of each item", "[streams]") {
  Stream<V> source;
  Got<int> got;
  source.flatten().sink(got.fn());
  source.emit({1, 2, 3});
  source.emit({});
  source.emit({4, 5});
  source.emit({6, 7, 7});
  REQUIRE(got.items == V{1, 2, 3, 4, 5, 6, 7, 7});
}

SCENARIO("pluck takes one field of each item", "[streams]") {
  GIVEN("tuples") {
    Stream<std::tuple<int, std::string>> source;
    Got<std::string> got;
    source.pluck<1>().sink(got.fn());
    source.emit({1, "a"});
    REQUIRE(got.items == std::vector<std::string>{"a"});
  }
  GIVEN("maps, one without the key") {
    Stream<std::map<std::string, int>> source;
    Got<int> got;
    Got<std::string> errs;
    auto p = source.pluck(std::string("v"));
    p.sink(got.fn());
    p.on_error().sink([&](const StreamError& e) { errs.items.push_back(e.node + " " + e.input); });
    source.emit({{"v", 3}});
    source.emit({{"w", 4}});
    source.emit({{"v", 5}});
    THEN("the missing key is an error with its input, the rest flows") {
      REQUIRE(got.items == V{3, 5});
      REQUIRE(errs.items == std::vector<std::string>{"pluck {'w': 4}"});
    }
  }
  GIVEN("vectors by index") {
    Stream<V> source;
    Got<int> got;
    source.pluck(std::size_t{1}).sink(got.fn());
    source.emit({7, 8, 9});
    REQUIRE(got.items == V{8});
  }
}

SCENARIO("partition groups items into batches of n", "[streams]") {
  Stream<int> source;
  Got<V> got;
  GIVEN("n = 3 and ten items") {
    auto p = source.partition(3);
    p.sink(got.fn());
    emit_range(source, 0, 10);
    THEN("three full batches, the seed's output") {
      REQUIRE(got.items == std::vector<V>{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}});
    }
    WHEN("the source is closed") {
      source.close();
      THEN("the tail batch is emitted, not lost") {
        REQUIRE(got.items.back() == V{9});
      }
      AND_WHEN("it is closed again") {
        source.close();
        THEN("nothing more comes") {
          REQUIRE(got.items.size() == 4);
        }
      }
    }
  }
  GIVEN("n larger than the input") {
    source.partition(100).sink(got.fn());
    emit_range(source, 0, 3);
    REQUIRE(got.items.empty());
    source.close();
    REQUIRE(got.items == std::vector<V>{{0, 1, 2}});
  }
  GIVEN("OnClose::drop, streamz's behaviour") {
    source.partition(3, OnClose::drop).sink(got.fn());
    emit_range(source, 0, 5);
    source.close();
    REQUIRE(got.items == std::vector<V>{{0, 1, 2}});
  }
  GIVEN("no input") {
    source.partition(3).sink(got.fn());
    source.close();
    REQUIRE(got.items.empty());
  }
  GIVEN("n = 0") {
    REQUIRE_THROWS_AS(source.partition(0), std::invalid_argument);
  }
}

SCENARIO("partition then aggregate: the running mean of a field over batches of 5", "[streams]") {
  struct Rec {
    std::string key;
    int value;
  };
  Stream<Rec> source;
  Got<double> got;
  source.partition(5)
      .accumulate_with_state(
          [](std::pair<double, int> st, const std::vector<Rec>& batch) {
            for (const Rec& r : batch) st.first += r.value, ++st.second;
            return std::pair{st, st.first / st.second};
          },
          std::pair<double, int>{0, 0})
      .sink(got.fn());
  for (int i = 1; i <= 12; ++i) source.emit(Rec{"a", i});
  source.close();
  REQUIRE(got.items == std::vector<double>{3.0, 5.5, 6.5});
}

SCENARIO("sliding_window emits the last n items on every item", "[streams]") {
  Stream<int> source;
  Got<V> got;
  GIVEN("return_partial") {
    source.sliding_window(3, true).sink(got.fn());
    emit_range(source, 0, 5);
    REQUIRE(got.items == std::vector<V>{{0}, {0, 1}, {0, 1, 2}, {1, 2, 3}, {2, 3, 4}});
  }
  GIVEN("no partial windows") {
    source.sliding_window(3, false).sink(got.fn());
    emit_range(source, 0, 5);
    REQUIRE(got.items == std::vector<V>{{0, 1, 2}, {1, 2, 3}, {2, 3, 4}});
    source.close();
    THEN("close has nothing left to emit") {
      REQUIRE(got.items.size() == 3);
    }
  }
  GIVEN("no partial windows and n larger than the input") {
    source.sliding_window(5, false).sink(got.fn());
    emit_range(source, 0, 2);
    REQUIRE(got.items.empty());
    source.close();
    THEN("close emits the short window (streamz loses it)") {
      REQUIRE(got.items == std::vector<V>{{0, 1}});
    }
  }
  GIVEN("the same with OnClose::drop") {
    source.sliding_window(5, false, OnClose::drop).sink(got.fn());
    emit_range(source, 0, 2);
    source.close();
    REQUIRE(got.items.empty());
  }
}

SCENARIO("collect holds items until flush", "[streams]") {
  Stream<int> source1;
  Stream<std::string> source2;
  Got<V> got;
  GIVEN("its own cache") {
    auto collector = source1.collect();
    collector.sink(got.fn());
    source2.sink([collector](const std::string&) { collector.flush(); });
    emit_range(source1, 0, 10);
    REQUIRE(got.items.empty());
    source2.emit("anything");
    REQUIRE(got.items == std::vector<V>{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}});
    WHEN("flushed with nothing held") {
      collector.flush();
      THEN("an empty batch goes out, as in streamz") {
        REQUIRE(got.items.back().empty());
      }
    }
  }
  GIVEN("the caller's bounded deque") {
    BoundedDeque<int> cache(5);
    auto collector = source1.collect(cache);
    collector.sink(got.fn());
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 10; ++i) {
      source1.emit(i);
      sizes.push_back(cache.size());
    }
    REQUIRE(sizes == std::vector<std::size_t>{1, 2, 3, 4, 5, 5, 5, 5, 5, 5});
    collector.flush();
    REQUIRE(got.items == std::vector<V>{{5, 6, 7, 8, 9}});
    REQUIRE(cache.empty());
    REQUIRE(depot::stream::repr(cache) == "deque([])");
  }
  GIVEN("items held when the source closes") {
    source1.collect().sink(got.fn());
    emit_range(source1, 0, 2);
    source1.close();
    REQUIRE(got.items == std::vector<V>{{0, 1}});
  }
}

SCENARIO("one node with several downstreams emits to each in order", "[streams]") {
  Stream<int> source;
  std::vector<int> out;
  source.map([](int x) { return x + 1; }).sink([&](int x) { out.push_back(x); });
  source.map([](int x) { return x - 1; }).sink([&](int x) { out.push_back(x); });
  emit_range(source, 0, 3);
  REQUIRE(out == V{1, -1, 2, 0, 3, 1});
}

SCENARIO("union merges streams as items come", "[streams]") {
  Stream<int> s1, s2, s3;
  Got<int> got;
  auto u = s1.union_(s2, s3);
  u.map([](int x) { return x * x; }).sink(got.fn());
  s1.emit(1);
  s2.emit(20);
  s3.emit(3);
  s1.emit(4);
  REQUIRE(got.items == V{1, 400, 9, 16});
}

SCENARIO("zip pairs the i-th items of each stream", "[streams]") {
  Stream<int> s1, s2;
  Got<std::tuple<int, int>> got;
  s1.zip(s2).sink(got.fn());
  GIVEN("an uneven second source, the seed's example") {
    for (int i = 0, j = 20; i < 10; ++i, ++j) {
      s1.emit(i);
      if (j % 2 == 0) s2.emit(j);
    }
    REQUIRE(got.items ==
            std::vector<std::tuple<int, int>>{{0, 20}, {1, 22}, {2, 24}, {3, 26}, {4, 28}});
  }
  GIVEN("three streams of different types") {
    Stream<std::string> s3;
    Got<std::tuple<int, int, std::string>> got3;
    s1.zip(s2, s3).sink(got3.fn());
    s3.emit("a");
    s3.emit("b");
    s1.emit(1);
    s2.emit(2);
    REQUIRE(got3.items == std::vector<std::tuple<int, int, std::string>>{{1, 2, "a"}});
  }
}

SCENARIO("combine_latest emits the latest of every stream", "[streams]") {
  Stream<int> s1, s2;
  Got<std::tuple<int, int>> got;
  GIVEN("the seed's example") {
    s1.combine_latest(s2).sink(got.fn());
    for (int i = 0, j = 20; i < 10; ++i, ++j) {
      s1.emit(i);
      if (j % 2 == 0) s2.emit(j);
    }
    const std::vector<std::tuple<int, int>> want{{0, 20}, {1, 20}, {2, 20}, {2, 22}, {3, 22},
                                                 {4, 22}, {4, 24}, {5, 24}, {6, 24}, {6, 26},
                                                 {7, 26}, {8, 26}, {8, 28}, {9, 28}};
    REQUIRE(got.items == want);
  }
  GIVEN("emit_on the first stream (streamz gives [(2, 11)])") {
    s1.combine_latest(EmitOn{s1}, s2).sink(got.fn());
    s1.emit(1);
    s2.emit(10);
    s2.emit(11);
    s1.emit(2);
    REQUIRE(got.items == std::vector<std::tuple<int, int>>{{2, 11}});
  }
}

SCENARIO("zip_latest emits every item of the first stream once", "[streams]") {
  Stream<int> s1, s2;
  Got<std::tuple<int, int>> got;
  s1.zip_latest(s2).sink(got.fn());
  GIVEN("the seed's example") {
    for (int i = 0, j = 20; i < 10; ++i, ++j) {
      s1.emit(i);
      if (j % 2 == 0) s2.emit(j);
    }
    const std::vector<std::tuple<int, int>> want{{0, 20}, {1, 20}, {2, 20}, {3, 22}, {4, 22},
                                                 {5, 24}, {6, 24}, {7, 26}, {8, 26}, {9, 28}};
    REQUIRE(got.items == want);
  }
  GIVEN("items waiting for the second stream (streamz gives [(1,10),(2,10),(3,11)])") {
    s1.emit(1);
    s1.emit(2);
    s2.emit(10);
    s2.emit(11);
    s1.emit(3);
    REQUIRE(got.items == std::vector<std::tuple<int, int>>{{1, 10}, {2, 10}, {3, 11}});
  }
}

SCENARIO("a feedback loop made with connect terminates", "[streams]") {
  GIVEN("a counter that feeds x+1 back while x < 5") {
    Stream<int> source;
    Got<int> got;
    auto seen = source.unique();
    seen.sink(got.fn());
    auto next = seen.filter([](int x) { return x < 5; }).map([](int x) { return x + 1; });
    Got<V> tail;  // what the loop's last node emits, in pairs: the close drains the odd one
    next.partition(2).sink(tail.fn());
    next.connect(source);
    source.emit(0);
    REQUIRE(got.items == V{0, 1, 2, 3, 4, 5});
    REQUIRE(tail.items == std::vector<V>{{1, 2}, {3, 4}});
    WHEN("the source is closed") {
      source.close();
      THEN("the close goes round the loop once and returns, without feeding anything back") {
        REQUIRE(tail.items == std::vector<V>{{1, 2}, {3, 4}, {5}});  // it reached the end
        REQUIRE(got.items == V{0, 1, 2, 3, 4, 5});                   // nothing went round again
      }
      AND_THEN("the loop still runs, and closes again") {
        source.emit(-1);  // unique passes -1; its successor 0 was seen before
        REQUIRE(got.items == V{0, 1, 2, 3, 4, 5, -1});
        source.close();
        REQUIRE(tail.items == std::vector<V>{{1, 2}, {3, 4}, {5}, {0}});
      }
    }
    WHEN("the loop is disconnected") {
      auto back = seen.filter([](int x) { return x < 100; }).map([](int x) { return x + 1; });
      back.connect(source);
      back.disconnect(source);
      source.emit(50);
      THEN("only the item itself arrives") {
        REQUIRE(got.items.back() == 50);
      }
    }
  }
  GIVEN("a walk of a directory tree, the seed's example") {
    namespace fs = std::filesystem;
    const fs::path root =
        fs::temp_directory_path() / ("depot-streams-walk-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "a" / "b");
    std::ofstream(root / "a" / "b" / "f.txt") << "x";
    std::ofstream(root / "top.txt") << "x";
    Stream<std::string> source;
    std::vector<std::string> printed;
    auto path = source.unique();
    path.sink([&](const std::string& p) { printed.push_back(fs::relative(p, root).string()); });
    path.filter([](const std::string& p) { return fs::is_directory(p); })
        .map([](const std::string& p) {
          std::vector<std::string> out;
          for (const auto& e : fs::directory_iterator(p)) out.push_back(e.path().string());
          std::sort(out.begin(), out.end());
          return out;
        })
        .flatten()
        .connect(source);
    source.emit(root.string());
    fs::remove_all(root);
    REQUIRE(printed == std::vector<std::string>{".", "a", "a/b", "a/b/f.txt", "top.txt"});
  }
}

SCENARIO("an exception in a step goes to that node's error stream", "[streams]") {
  Stream<int> source;
  Got<int> got;
  std::vector<StreamError> errors;
  auto m = source.map([](int x) {
    if (x == 3) throw std::runtime_error("three is not allowed");
    return x * 2;
  });
  m.name("double");
  m.sink(got.fn());
  GIVEN("a sink on on_error") {
    m.on_error().sink([&](const StreamError& e) { errors.push_back(e); });
    emit_range(source, 0, 6);
    THEN("the failure is reported with its node, input and message, the rest flows") {
      REQUIRE(got.items == V{0, 2, 4, 8, 10});
      REQUIRE(errors.size() == 1);
      REQUIRE(errors[0].node == "map; double");
      REQUIRE(errors[0].input == "3");
      REQUIRE(errors[0].message == "three is not allowed");
      REQUIRE_THROWS_AS(std::rethrow_exception(errors[0].error), std::runtime_error);
    }
  }
  GIVEN("nothing listening to on_error") {
    THEN("emit throws, as in streamz, and the pipeline keeps working") {
      REQUIRE_THROWS_WITH(source.emit(3), "three is not allowed");
      source.emit(4);
      REQUIRE(got.items == V{8});
    }
  }
  GIVEN("a failure further downstream") {
    std::vector<std::string> upstream_errors, sink_errors;
    m.on_error().sink([&](const StreamError& e) { upstream_errors.push_back(e.node); });
    auto s = m.sink([](int x) {
      if (x == 8) throw std::logic_error("sink failed");
    });
    s.on_error().sink([&](const StreamError& e) { sink_errors.push_back(e.input); });
    emit_range(source, 4, 5);
    THEN("it is reported by the node that failed, not by its upstream") {
      REQUIRE(upstream_errors.empty());
      REQUIRE(sink_errors == std::vector<std::string>{"8"});
    }
  }
}

SCENARIO("close drains every node downstream once all its upstreams closed", "[streams]") {
  Stream<int> s1, s2;
  Got<V> got;
  s1.union_(s2).partition(10).sink(got.fn());
  s1.emit(1);
  s2.emit(2);
  s1.close();
  REQUIRE(got.items.empty());
  s1.close();
  REQUIRE(got.items.empty());
  s2.close();
  REQUIRE(got.items == std::vector<V>{{1, 2}});
}

SCENARIO("nodes live as long as a handle reaches them", "[streams]") {
  Got<int> got;
  Stream<int> tail;
  {
    Stream<int> source;
    tail = source.map([](int x) { return x + 1; });
    tail.sink(got.fn());
    source.emit(1);
  }
  THEN("a downstream outlives its dropped source and still works when emitted into") {
    tail.emit(10);
    REQUIRE(got.items == V{2, 10});
    REQUIRE(tail.node().upstreams().empty());
  }
}

SCENARIO("connect checks the item type", "[streams]") {
  Stream<int> a;
  Stream<std::string> b;
  REQUIRE_THROWS_AS(a.connect(b), std::invalid_argument);
}

SCENARIO("buffer without an event loop passes items straight on", "[streams]") {
  Stream<int> source;
  Got<int> got;
  source.buffer(100).map([](int x) { return x * x + 1; }).sink(got.fn());
  emit_range(source, 0, 3);
  REQUIRE(got.items == V{1, 2, 5});
}

SCENARIO("visualize writes the graph as Graphviz DOT", "[streams]") {
  Stream<int> source;
  source.map([](int x) { return x + 1; }).name("increment").sink([](int) {});
  auto b = source.map([](int x) { return x - 1; }).name("decrement").sink([](int) {});
  const std::string dot = b.to_dot("LR");
  REQUIRE(dot.find("rankdir=LR;") != std::string::npos);
  REQUIRE(dot.find("[label=\"map; increment\"]") != std::string::npos);
  REQUIRE(dot.find("[label=\"map; decrement\"]") != std::string::npos);
  REQUIRE(dot.find("n0 -> n1;") != std::string::npos);
  const auto path = std::filesystem::temp_directory_path() /
                    ("depot-streams-vis-" + std::to_string(::getpid()) + ".dot");
  b.visualize(path.string(), "LR");
  REQUIRE(std::filesystem::file_size(path) == dot.size());
  std::filesystem::remove(path);
}

SCENARIO("a batch of records becomes a table of columns", "[streams]") {
  struct Rec {
    std::string key;
    int value;
    double weight;
  };
  using depot::stream::column;
  using depot::stream::Table;
  Stream<Rec> source;
  std::vector<double> means;
  std::vector<std::size_t> rows;
  source.partition(2)
      .map([](const std::vector<Rec>& b) {
        return depot::stream::to_table(b, column("value", &Rec::value),
                                       column("weight", &Rec::weight));
      })
      .sink([&](const Table& t) {
        means.push_back(t["value"].mean());
        rows.push_back(t.rows());
        REQUIRE_THROWS_AS(t["key"], std::out_of_range);
      });
  source.emit(Rec{"a", 1, 0.5});
  source.emit(Rec{"b", 4, 0.5});
  source.emit(Rec{"c", 7, 1.0});
  source.close();
  REQUIRE(means == std::vector<double>{2.5, 7.0});
  REQUIRE(rows == std::vector<std::size_t>{2, 1});
}

SCENARIO("visualize draws feedback edges dashed and error streams dotted", "[streams]") {
  Stream<int> source;
  auto u = source.unique();
  auto back = u.filter([](int x) { return x < 3; }).map([](int x) { return x + 1; });
  back.connect(source);
  u.on_error().sink([](const StreamError&) {});
  const std::string dot = u.to_dot();
  THEN("the loop's entry is numbered first and its closing edge is dashed") {
    REQUIRE(dot.find("n0 [label=\"Stream\"];") != std::string::npos);
    REQUIRE(dot.find("-> n0 [style=dashed];") != std::string::npos);
    REQUIRE(dot.find("[label=\"on_error\"]") != std::string::npos);
    REQUIRE(dot.find("[style=dotted];") != std::string::npos);
  }
  THEN("a PNG is made exactly when Graphviz is installed") {
    const auto png = std::filesystem::temp_directory_path() /
                     ("depot-streams-vis-" + std::to_string(::getpid()) + ".png");
    const bool have_dot = std::system("command -v dot >/dev/null 2>&1") == 0;
    REQUIRE(u.visualize(png.string(), "LR") == have_dot);
    REQUIRE(std::filesystem::exists(png) == have_dot);
    std::filesystem::remove(png);
    std::filesystem::remove(std::filesystem::path(png).replace_extension(".dot"));
  }
}
