// streams_tour: every example of the streamz walkthrough (seed 001) that has a fixed output,
// in order, printing what the walkthrough prints. Time-based examples run on a ManualClock,
// so they print the same thing every run; the directory walk walks a tree it creates (the
// walkthrough's, entries in name order); the remote examples run on a small thread-pool
// executor standing in for depot's Executor; the batch example uses fixed values instead of
// random ones. tests/streams/streams_tour.expected is the expected output.
#include <unistd.h>

#include <algorithm>
#include <any>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "depot/protocol/version.h"
#include "depot/streams/stream.h"
#include "depot/streams/table.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using depot::stream::BoundedDeque;
using depot::stream::column;
using depot::stream::ManualClock;
using depot::stream::repr;
using depot::stream::repr_tuple;
using depot::stream::Stream;
using depot::stream::Table;
using depot::stream::to_table;

namespace {

// Python's print(x).
template <class T>
void print(const T& x) {
  std::printf("%s\n", repr(x).c_str());
}
// print(x) of a tuple that streamz builds from a list (partition, collect, sliding_window).
void print_tuple(const std::vector<int>& v) {
  std::printf("%s\n", repr_tuple(v).c_str());
}

int increment(int x) {
  return x * x + 1;
}

// Runs registered functions by name on std::async threads: submit<R>(name, arg) returns a
// future with result() and done(), the interface scatter/gather expects of an executor.
class AsyncExecutor {
 public:
  template <class R>
  struct Future {
    std::shared_future<R> f;
    R result() { return f.get(); }
    bool done() const { return f.wait_for(0s) == std::future_status::ready; }
  };
  template <class R, class T>
  void define(const std::string& name, std::function<R(const T&)> f) {
    functions_[name] = std::move(f);
  }
  template <class R, class T>
  Future<R> submit(const std::string& name, const T& arg) {
    auto f = std::any_cast<std::function<R(const T&)>>(functions_.at(name));
    return Future<R>{std::async(std::launch::async, [f, arg] { return f(arg); }).share()};
  }

 private:
  std::map<std::string, std::any> functions_;
};

void basics() {
  {  // map, sink
    Stream<int> source;
    source.map(increment).sink(print<int>);
    for (int i = 0; i < 10; ++i) source.emit(i);
  }
  {  // buffer: the loop drains it
    ManualClock loop;
    Stream<int> source(loop);
    source.buffer(100).map(increment).sink(print<int>);
    for (int i = 0; i < 10; ++i) source.emit(i);
    loop.run_pending();
  }
  {  // accumulate
    Stream<int> source;
    source.map(increment).accumulate([](int x, int y) { return x + y; }).sink(print<int>);
    for (int i = 0; i < 10; ++i) source.emit(i);
  }
  {  // unique
    Stream<int> source;
    source.unique(4).sink(print<int>);
    for (int i : {1, 2, 3, 2, 3, 2, 2, 4, 5, 6}) source.emit(i);
    std::printf("##################\n");
    Stream<int> source2;
    source2.unique(1).sink(print<int>);
    for (int i : {1, 2, 3, 2, 3, 2, 2, 4, 5, 6}) source2.emit(i);
  }
  {  // filter
    Stream<int> source;
    source.filter([](int x) { return x % 2 == 0; }).sink(print<int>);
    for (int i = 0; i < 10; ++i) source.emit(i);
  }
  {  // flatten
    Stream<std::vector<int>> source;
    source.flatten().sink(print<int>);
    for (const auto& v : {std::vector{1, 2, 3}, std::vector{4, 5}, std::vector{6, 7, 7}})
      source.emit(v);
  }
  {  // delay(1 s): nothing until the clock moves a second
    ManualClock loop;
    Stream<int> source(loop);
    source.delay(1s).filter([](int x) { return x % 2 == 0; }).sink(print<int>);
    for (int i = 0; i < 10; ++i) source.emit(i);
    loop.advance(1s);
  }
  {  // rate_limit(1 s): one a second
    ManualClock loop;
    Stream<int> source(loop);
    source.rate_limit(1s).sink(print<int>);
    for (int i = 0; i < 10; ++i) source.emit(i);
    loop.advance(10s);
  }
}

void windows() {
  {  // partition: without close() the tail (9) stays held, as in streamz
    Stream<int> source;
    source.partition(3).sink(print_tuple);
    for (int i = 0; i < 10; ++i) source.emit(i);
  }
  {  // collect, flushed by another stream
    Stream<int> source1;
    Stream<std::string> source2;
    auto collector = source1.collect();
    collector.sink(print_tuple);
    source2.sink([collector](const std::string&) { collector.flush(); });
    for (int i = 0; i < 10; ++i) source1.emit(i);
    source2.emit("anything");
  }
  {  // collect into the caller's bounded deque
    BoundedDeque<int> cache(5);
    Stream<int> source1;
    Stream<std::string> source2;
    auto collector = source1.collect(cache);
    collector.sink(print_tuple);
    source2.sink([collector](const std::string&) { collector.flush(); });
    for (int i = 0; i < 10; ++i) {
      source1.emit(i);
      std::printf("%zu\n", cache.size());
    }
    source2.emit("anything");
    print(cache);
  }
  {  // sliding_window
    Stream<int> source;
    source.sliding_window(3, true).sink(print_tuple);
    for (int i = 0; i < 10; ++i) source.emit(i);
    Stream<int> source2;
    source2.sliding_window(3, false).sink(print_tuple);
    for (int i = 0; i < 10; ++i) source2.emit(i);
  }
  {  // timed_window(3 s), an item every 0.5 s, then 12 s of quiet
    ManualClock loop;
    Stream<int> source(loop);
    source.timed_window(3s).sink(print<std::vector<int>>);
    for (int i = 0; i < 30; ++i) {
      loop.advance(500ms);
      source.emit(i);
    }
    loop.advance(12s);
  }
}

void combining() {
  {  // one source, two branches
    Stream<int> source;
    source.map([](int x) { return x + 1; }).name("increment").sink(print<int>);
    auto b = source.map([](int x) { return x - 1; }).name("decrement").sink(print<int>);
    const fs::path png =
        fs::temp_directory_path() / ("streams_tour_fork_" + std::to_string(::getpid()) + ".png");
    b.visualize(png.string(), "LR");  // .dot beside it; the PNG when Graphviz is installed
    fs::remove(png);
    fs::remove(fs::path(png).replace_extension(".dot"));
    for (int i = 0; i < 5; ++i) source.emit(i);
  }
  {  // union
    Stream<int> source1, source2;
    source1.union_(source2).map([](int x) { return x * x; }).sink(print<int>);
    for (int i = 0, j = 20; i < 10; ++i, ++j) {
      source1.emit(i);
      source2.emit(j);
    }
  }
  using Pair = std::tuple<int, int>;
  {  // combine_latest
    Stream<int> source1, source2;
    source1.combine_latest(source2).sink(print<Pair>);
    for (int i = 0, j = 20; i < 10; ++i, ++j) {
      source1.emit(i);
      if (j % 2 == 0) source2.emit(j);
    }
  }
  {  // zip
    Stream<int> source1, source2;
    source1.zip(source2).sink(print<Pair>);
    for (int i = 0, j = 20; i < 10; ++i, ++j) {
      source1.emit(i);
      if (j % 2 == 0) source2.emit(j);
    }
  }
  {  // zip_latest
    Stream<int> source1, source2;
    source1.zip_latest(source2).sink(print<Pair>);
    for (int i = 0, j = 20; i < 10; ++i, ++j) {
      source1.emit(i);
      if (j % 2 == 0) source2.emit(j);
    }
  }
}

// The walkthrough's folder, recreated (files empty).
const char* const kTree[] = {
    "分布式数据结构.ipynb",
    ".DS_Store",
    "mystream.png",
    "source/collections-schedulers.png",
    "README.ipynb",
    "dask作为算力池.ipynb",
    "code/.DS_Store",
    "code/streaming/streaming_async.py",
    "code/realtime/async_actor.py",
    "code/realtime/.vscode/settings.json",
    "code/realtime/async_submit.py",
    "实时任务提交.ipynb",
    "README.md",
    ".ipynb_checkpoints/分布式数据结构-checkpoint.ipynb",
    ".ipynb_checkpoints/外部数据读取-checkpoint.ipynb",
    ".ipynb_checkpoints/README-checkpoint.ipynb",
    ".ipynb_checkpoints/流处理-checkpoint.ipynb",
    ".ipynb_checkpoints/dask作为算力池-checkpoint.ipynb",
    ".ipynb_checkpoints/实时任务提交-checkpoint.ipynb",
    "mydask.png",
    "流处理.ipynb",
    "服务化.ipynb",
};

void feedback() {
  const fs::path root =
      fs::temp_directory_path() / ("streams_tour_walk_" + std::to_string(::getpid()));
  fs::remove_all(root);
  for (const char* f : kTree) {
    const fs::path p = root / fs::u8path(f);
    fs::create_directories(p.parent_path());
    std::ofstream{p};
  }
  const fs::path cwd = fs::current_path();
  fs::current_path(root);
  {
    Stream<std::string> source;
    auto my_path = source.unique();
    my_path.sink([](const std::string& p) { std::printf("%s\n", p.c_str()); });
    // Path(x).iterdir() as text: "./" + name prints as name, as pathlib does. Name order,
    // where the walkthrough got its file system's order.
    auto inner_dir = [](const std::string& x) {
      std::vector<std::string> out;
      for (const auto& e : fs::directory_iterator(x)) {
        const std::string name = e.path().filename().string();
        out.push_back(x == "./" ? name : x + "/" + name);
      }
      std::sort(out.begin(), out.end());
      return out;
    };
    auto content = my_path.filter([](const std::string& x) { return fs::is_directory(x); });
    auto links = content.map(inner_dir).flatten();
    links.connect(source);  // pipe new links back into the source
    source.emit("./");
  }
  fs::current_path(cwd);
  fs::remove_all(root);
}

struct Record {
  std::string name;
  int x, y;
};
// A column store of two int64 columns and a named result column, pandas' print of a Series.
struct Frame {
  std::vector<long> x, y;
};
struct Series {
  std::string name;
  std::vector<long> values;
};
void print_series(const Series& s) {
  std::size_t w = 0;
  for (long v : s.values) w = std::max(w, std::to_string(v).size());
  for (std::size_t i = 0; i < s.values.size(); ++i)
    std::printf("%zu    %*ld\n", i, static_cast<int>(w), s.values[i]);
  std::printf("Name: %s, dtype: int64\n", s.name.c_str());
}

void remote() {
  AsyncExecutor ex;
  ex.define<int, int>("increment", [](const int& x) {
    std::this_thread::sleep_for(10ms);  // a blocking function
    return x + 1;
  });
  ex.define<std::string, std::vector<Record>>("json_dumps", [](const std::vector<Record>& rs) {
    std::string out = "[";
    for (const Record& r : rs) {
      if (out.size() > 1) out += ", ";
      out += "{\"name\": \"" + r.name + "\", \"x\": " + std::to_string(r.x) +
             ", \"y\": " + std::to_string(r.y) + "}";
    }
    return out + "]";
  });
  ex.define<Series, Frame>("x_squared_plus_3", [](const Frame& f) {
    Series s{"x", {}};
    for (long v : f.x) s.values.push_back(v * v + 3);
    return s;
  });
  {  // scatter, remote map, five in flight, gather, local sink
    Stream<int> source;
    source.scatter(ex).map<int>("increment").buffer(5).gather().sink(print<int>);
    for (int x = 0; x < 10; ++x) source.emit(x);
    source.close();  // waits for the calls still in flight
  }
  {  // a batch of records through a remote function
    Stream<std::vector<Record>> stream;
    stream.scatter(ex).map<std::string>("json_dumps").gather().sink([](const std::string& s) {
      std::printf("%s\n", s.c_str());
    });
    stream.emit({Record{"Alice", 1, 2}});
  }
  {  // a columnar batch through a remote function
    Stream<Frame> stream;
    stream.scatter(ex).map<Series>("x_squared_plus_3").gather().sink(print_series);
    stream.emit(Frame{{1, 2, 3}, {4, 5, 6}});
  }
}

void batches() {
  // partition(5), each batch as a table of columns, then the running mean of the value
  // column over all batches so far (streamz: sdf.value.mean() on a streaming dataframe).
  struct Item {
    std::string key;
    int value;
  };
  const char* keys[] = {"a", "b", "c"};
  Stream<Item> stream;
  stream.partition(5)
      .map([](const std::vector<Item>& batch) {
        return to_table(batch, column("value", &Item::value));
      })
      .accumulate_with_state(
          [](std::pair<double, double> st, const Table& t) {
            st.first += t["value"].sum();
            st.second += static_cast<double>(t.rows());
            return std::pair{st, st.first / st.second};
          },
          std::pair<double, double>{0, 0})
      .sink(print<double>);
  // Fixed values in random.randint(20, 100)'s range instead of random ones.
  for (int i = 0; i < 100; ++i) stream.emit(Item{keys[i % 3], 20 + (i * 37) % 81});
}

}  // namespace

int main(int argc, char** argv) {
  const std::string arg = argc > 1 ? argv[1] : "";
  if (arg == "--help" || arg == "-h" || arg == "--version") {
    std::printf(arg == "--version" ? "streams_tour (depot %s)\n"
                                   : "usage: streams_tour\n\nPrints every example of the streamz "
                                     "walkthrough in order (depot %s).\n",
                depot::version());
    return 0;
  }
  if (argc > 1) {
    std::fprintf(stderr, "streams_tour: takes no arguments, got '%s' (--help says more)\n",
                 argv[1]);
    return 2;
  }
  basics();
  windows();
  combining();
  feedback();
  remote();
  batches();
  return 0;
}
