// depot::stream: streamz-style stream pipelines in C++.
//
//   Stream<int> source;
//   source.map([](int x) { return x * x + 1; }).sink([](int y) { std::printf("%d\n", y); });
//   for (int i = 0; i < 10; ++i) source.emit(i);
//
// A Stream<T> is a cheap handle (a shared pointer) to a node that emits T. Operators make a
// new node downstream and return its handle; a source keeps its whole pipeline alive. Emits
// run synchronously, depth first, on the caller's thread; time-based operators run on the
// EventLoop given to the source. See docs/streams.md for every operator by example.
//
// Differences from streamz, on purpose:
// - close() drains: partition, windows, collect, buffer, delay, rate_limit and gather send on
//   what they hold before closing downstream (OnClose::drop keeps streamz's behaviour).
// - A step that throws sends a StreamError to node.on_error() when that has a downstream;
//   with none the exception leaves emit() as in streamz.
// - union is spelt union_ (a C++ keyword); returns_state is accumulate_with_state.
#pragma once
#include <cstddef>
#include <iterator>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "depot/streams/event_loop.h"
#include "depot/streams/format.h"
#include "depot/streams/node.h"
#include "depot/streams/operators.h"
#include "depot/streams/scatter.h"
#include "depot/streams/timed.h"

namespace depot::stream {

template <class T>
class Stream;

// Which inputs of combine_latest trigger an emit: EmitOn{a, b} with streams among its inputs.
struct EmitOn {
  template <class... S>
  explicit EmitOn(const S&... s) : nodes{s.node_base()...} {}
  std::vector<const NodeBase*> nodes;
};

template <class T>
class Stream {
 public:
  using value_type = T;

  // A new source node.
  Stream() : node_(std::make_shared<PassNode<T>>()) {}
  // A new source whose time-based operators run on `loop` (which must outlive them).
  explicit Stream(EventLoop& loop) : Stream() { node_->set_loop(&loop); }
  explicit Stream(std::shared_ptr<Node<T>> n) : node_(std::move(n)) {}

  // Sends x to every downstream of this node, in the order they were attached. Rethrows what
  // a step threw when its node's on_error() has no downstream.
  void emit(const T& x) const { node_->emit(x); }
  // Drains everything downstream (see the header comment) and closes it.
  void close() const { node_->close(); }
  // Emits what the node holds now: collect's items, gather's calls in flight.
  void flush() const { node_->flush(); }
  // Names the node for visualize() and StreamError::node ("map; name").
  const Stream& name(std::string n) const {
    node_->set_name(std::move(n));
    return *this;
  }
  // The stream of this node's step failures.
  Stream<StreamError> on_error() const { return Stream<StreamError>(node_->errors()); }

  Node<T>& node() const { return *node_; }
  NodeBase* node_base() const { return node_.get(); }
  const std::shared_ptr<Node<T>>& ptr() const { return node_; }

  // --- one item in, one (or none) out ---------------------------------------------------
  template <class F>
  auto map(F f) const {
    using Out = std::decay_t<std::invoke_result_t<F&, const T&>>;
    return attach<Out>(std::make_shared<MapNode<T, Out, F>>(std::move(f)));
  }
  // f(a, b, ...) on a tuple (or pair, array) item.
  template <class F>
  auto starmap(F f) const {
    using Out = std::decay_t<decltype(std::apply(f, std::declval<const T&>()))>;
    return attach<Out>(std::make_shared<StarmapNode<T, Out, F>>(std::move(f)));
  }
  template <class F>
  Stream<T> filter(F pred) const {
    return attach<T>(std::make_shared<FilterNode<T, F>>(std::move(pred)));
  }
  // Calls f on each item; the returned handle is the sink node (for visualize, on_error).
  template <class F>
  Stream<T> sink(F f) const {
    return attach<T>(std::make_shared<SinkNode<T, F>>(std::move(f)));
  }
  // Element I of a tuple item, x.at(key) of a map item or x.at(index) of a vector item.
  template <std::size_t I>
  auto pluck() const {
    return map([](const T& x) { return std::get<I>(x); }).name("[" + std::to_string(I) + "]");
  }
  template <class K>
  auto pluck(K key) const {
    auto f = [key](const T& x) { return x.at(key); };
    using Out = std::decay_t<std::invoke_result_t<decltype(f)&, const T&>>;
    return attach<Out>(std::make_shared<MapNode<T, Out, decltype(f)>>(std::move(f), "pluck"));
  }

  // --- state ------------------------------------------------------------------------------
  // state = f(state, x), emitted; the first item is the first state.
  template <class F>
  Stream<T> accumulate(F f) const {
    return attach<T>(std::make_shared<AccumulateNode<T, F>>(std::move(f)));
  }
  template <class F, class S>
  Stream<S> accumulate(F f, S start) const {
    return attach<S>(
        std::make_shared<AccumulateStartNode<T, S, S, F, false>>(std::move(f), std::move(start)));
  }
  // streamz's returns_state=True: f(state, x) returns {new state, result}; result is emitted.
  template <class F, class S>
  auto accumulate_with_state(F f, S start) const {
    using Ret = std::decay_t<std::invoke_result_t<F&, S&, const T&>>;
    using R = std::decay_t<std::tuple_element_t<1, Ret>>;
    return attach<R>(
        std::make_shared<AccumulateStartNode<T, S, R, F, true>>(std::move(f), std::move(start)));
  }
  // Drops items seen among the last maxsize distinct ones (ever, when maxsize is 0).
  Stream<T> unique(std::size_t maxsize = 0) const { return unique(maxsize, Identity{}); }
  template <class KeyF>
  Stream<T> unique(std::size_t maxsize, KeyF key) const {
    using K = std::decay_t<std::invoke_result_t<KeyF&, const T&>>;
    return attach<T>(std::make_shared<UniqueNode<T, K, KeyF>>(maxsize, std::move(key)));
  }

  // --- many items from one, one from many ----------------------------------------------
  auto flatten() const {
    using V = std::decay_t<decltype(*std::begin(std::declval<const T&>()))>;
    return attach<V>(std::make_shared<FlattenNode<T, V>>());
  }
  Stream<std::vector<T>> partition(std::size_t n, OnClose oc = OnClose::emit) const {
    return attach<std::vector<T>>(std::make_shared<PartitionNode<T>>(n, oc));
  }
  Stream<std::vector<T>> sliding_window(std::size_t n, bool return_partial = true,
                                        OnClose oc = OnClose::emit) const {
    return attach<std::vector<T>>(std::make_shared<SlidingWindowNode<T>>(n, return_partial, oc));
  }
  // Holds items until flush() on the returned handle; `cache` (the caller's, bounded or not)
  // keeps them in between and must outlive the node.
  Stream<std::vector<T>> collect(OnClose oc = OnClose::emit) const {
    return attach<std::vector<T>>(std::make_shared<CollectNode<T>>(nullptr, oc));
  }
  Stream<std::vector<T>> collect(BoundedDeque<T>& cache, OnClose oc = OnClose::emit) const {
    return attach<std::vector<T>>(std::make_shared<CollectNode<T>>(&cache, oc));
  }

  // --- several streams ------------------------------------------------------------------
  // Every item of this stream and of the others, as they come.
  template <class... S>
  Stream<T> union_(const S&... others) const {
    auto n = std::make_shared<PassNode<T>>("union");
    node_->connect_to(*n);
    (others.node().connect_to(*n), ...);
    return Stream<T>(std::shared_ptr<Node<T>>(n));
  }
  // Tuples of the i-th item of every stream; unmatched items wait (they are dropped on close).
  template <class... U>
  Stream<std::tuple<T, U...>> zip(const Stream<U>&... others) const {
    return join(std::make_shared<ZipNode<T, U...>>(), others...);
  }
  // The latest item of every stream, each time any of them emits once all have.
  template <class... U>
  Stream<std::tuple<T, U...>> combine_latest(const Stream<U>&... others) const {
    return join(std::make_shared<CombineLatestNode<T, U...>>(std::vector<std::size_t>{}),
                others...);
  }
  template <class... U>
  Stream<std::tuple<T, U...>> combine_latest(const EmitOn& on, const Stream<U>&... others) const {
    std::vector<const NodeBase*> inputs{node_base(), others.node_base()...};
    std::vector<std::size_t> idx;
    for (const NodeBase* n : on.nodes)
      for (std::size_t i = 0; i < inputs.size(); ++i)
        if (inputs[i] == n) idx.push_back(i);
    return join(std::make_shared<CombineLatestNode<T, U...>>(std::move(idx)), others...);
  }
  // Every item of this stream once, with the latest of the others (lossless on this one).
  template <class... U>
  Stream<std::tuple<T, U...>> zip_latest(const Stream<U>&... others) const {
    return join(std::make_shared<ZipLatestNode<T, U...>>(), others...);
  }

  // --- time -----------------------------------------------------------------------------
  Stream<T> buffer(std::size_t n) const { return attach<T>(std::make_shared<BufferNode<T>>(n)); }
  Stream<T> delay(Duration d) const {
    require_loop(*node_, "delay");
    return attach<T>(std::make_shared<ScheduleNode<T>>("delay", d, false));
  }
  Stream<T> rate_limit(Duration d) const {
    require_loop(*node_, "rate_limit");
    return attach<T>(std::make_shared<ScheduleNode<T>>("rate_limit", d, true));
  }
  Stream<std::vector<T>> timed_window(Duration d, OnClose oc = OnClose::emit) const {
    EventLoop& loop = require_loop(*node_, "timed_window");
    return attach<std::vector<T>>(std::make_shared<TimedWindowNode<T>>(loop, d, oc));
  }
  Stream<T> latest() const { return attach<T>(std::make_shared<LatestNode<T>>()); }

  // --- graph ------------------------------------------------------------------------------
  // Makes `downstream` receive this stream's items (its input must take T). Connecting back
  // into an ancestor makes a feedback loop; that edge does not own its target.
  template <class U>
  void connect(const Stream<U>& downstream) const {
    auto* in = dynamic_cast<Input<T>*>(downstream.node_base());
    if (!in)
      throw std::invalid_argument("connect: " + downstream.node().label() +
                                  " does not take this stream's item type");
    node_->connect_to(*in);
  }
  template <class U>
  void disconnect(const Stream<U>& downstream) const {
    node_->disconnect_from(downstream.node_base());
  }
  // The remote step: scatter(ex).map<R>("fname").buffer(n).gather() (scatter.h).
  template <class Ex>
  Scattered<T, Ex> scatter(Ex& ex) const {
    return Scattered<T, Ex>(node_, &ex);
  }
  // The graph this node belongs to as Graphviz DOT; visualize() writes it (and a PNG when
  // `filename` ends in .png and Graphviz is installed).
  std::string to_dot(const std::string& rankdir = "TB") const {
    return depot::stream::to_dot(node_.get(), rankdir);
  }
  bool visualize(const std::string& filename = "mystream.png",
                 const std::string& rankdir = "TB") const {
    return depot::stream::visualize(node_.get(), filename, rankdir);
  }

 private:
  template <class Out, class N>
  Stream<Out> attach(std::shared_ptr<N> n) const {
    node_->connect_to(*n);
    return Stream<Out>(std::shared_ptr<Node<Out>>(std::move(n)));
  }
  template <class N, class... U>
  auto join(std::shared_ptr<N> n, const Stream<U>&... others) const {
    join_slots(*n, std::index_sequence_for<T, U...>{}, *node_, others.node()...);
    using Out = typename N::value_type;
    return Stream<Out>(std::shared_ptr<Node<Out>>(std::move(n)));
  }
  template <class N, std::size_t... I, class... Ups>
  static void join_slots(N& n, std::index_sequence<I...>, Ups&... ups) {
    (ups.connect_to(std::get<I>(n.slots_), static_cast<int>(I)), ...);
  }

  std::shared_ptr<Node<T>> node_;
};

template <class T, class R, class Ex>
Stream<R> RemoteMap<T, R, Ex>::gather() const {
  auto n = std::make_shared<GatherNode<T, R, Ex>>(*ex_, fname_, n_);
  up_->connect_to(*n);
  return Stream<R>(std::shared_ptr<Node<R>>(std::move(n)));
}

}  // namespace depot::stream
