// The operator nodes behind Stream<T>'s methods. Each runs its step inside a try block that
// covers only the user's function: an exception there goes to the node's error stream (see
// NodeBase::fail), one from further downstream passes through untouched.
#pragma once
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "depot/streams/node.h"

namespace depot::stream {

// A FIFO queue on a circular buffer (capacity a power of two) that grows by doubling and never
// shrinks, so a queue that stays short (zip's, a buffer's) allocates nothing per item, unlike
// std::deque, which takes and frees a block every few hundred bytes of traffic.
template <class T>
class Ring {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  T& front() { return *slots_[head_]; }
  const T& front() const { return *slots_[head_]; }
  void push_back(T x) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) & (slots_.size() - 1)].emplace(std::move(x));
    ++size_;
  }
  void pop_front() {
    slots_[head_].reset();
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
  }
  void clear() {
    while (!empty()) pop_front();
  }

 private:
  void grow() {
    std::vector<std::optional<T>> bigger(slots_.empty() ? 4 : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i)
      bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    slots_ = std::move(bigger);
    head_ = 0;
  }
  std::vector<std::optional<T>> slots_;
  std::size_t head_ = 0, size_ = 0;
};

// One-input operator: a Node<Out> that is an Input<In>.
template <class In, class Out>
class Op : public Node<Out>, public Input<In> {
 public:
  using Node<Out>::Node;
  NodeBase* owner() override { return this; }

 protected:
  // Runs the step for input x and emits what it returns. An exception from the step goes to
  // this node's error stream (fail); one from further down (inside emit) passes through.
  template <class X, class Step>
  void run_step(const X& x, Step&& step) {
    bool in_step = true;
    try {
      auto&& y = step();
      in_step = false;
      this->emit(y);
    } catch (...) {
      if (!in_step) throw;
      this->fail(x);
    }
  }
};

template <class In, class Out, class F>
class MapNode final : public Op<In, Out> {
 public:
  MapNode(F f, std::string kind = "map") : Op<In, Out>(std::move(kind)), f_(std::move(f)) {}
  void on_value(const In& x, int) override {
    this->run_step(x, [&]() -> Out { return std::invoke(f_, x); });
  }

 private:
  F f_;
};

template <class In, class Out, class F>
class StarmapNode final : public Op<In, Out> {
 public:
  explicit StarmapNode(F f) : Op<In, Out>("starmap"), f_(std::move(f)) {}
  void on_value(const In& x, int) override {
    this->run_step(x, [&]() -> Out { return std::apply(f_, x); });
  }

 private:
  F f_;
};

template <class T, class F>
class FilterNode final : public Op<T, T> {
 public:
  explicit FilterNode(F f) : Op<T, T>("filter"), f_(std::move(f)) {}
  void on_value(const T& x, int) override {
    bool keep = false;
    try {
      keep = static_cast<bool>(std::invoke(f_, x));
    } catch (...) {
      this->fail(x);
      return;
    }
    if (keep) this->emit(x);
  }

 private:
  F f_;
};

template <class T, class F>
class SinkNode final : public Op<T, T> {
 public:
  explicit SinkNode(F f) : Op<T, T>("sink"), f_(std::move(f)) {}
  void on_value(const T& x, int) override {
    try {
      std::invoke(f_, x);
    } catch (...) {
      this->fail(x);
    }
  }

 private:
  F f_;
};

// accumulate(f): the first item becomes the state and is emitted; then state = f(state, x).
template <class T, class F>
class AccumulateNode final : public Op<T, T> {
 public:
  explicit AccumulateNode(F f) : Op<T, T>("accumulate"), f_(std::move(f)) {}
  void on_value(const T& x, int) override {
    if (!state_) {
      state_.emplace(x);
    } else {
      try {
        T next = std::invoke(f_, *state_, x);
        *state_ = std::move(next);
      } catch (...) {
        this->fail(x);
        return;
      }
    }
    this->emit(*state_);
  }

 private:
  F f_;
  std::optional<T> state_;
};

// accumulate(f, start): state = f(state, x), emitted. With returns_state, f returns
// (new state, result) and the result is emitted.
template <class T, class S, class R, class F, bool ReturnsState>
class AccumulateStartNode final : public Op<T, R> {
 public:
  AccumulateStartNode(F f, S start)
      : Op<T, R>("accumulate"), f_(std::move(f)), state_(std::move(start)) {}
  void on_value(const T& x, int) override {
    if constexpr (ReturnsState) {
      this->run_step(x, [&]() -> R {
        auto r = std::invoke(f_, state_, x);
        state_ = std::move(std::get<0>(r));
        return std::move(std::get<1>(r));
      });
    } else {
      try {
        S next = std::invoke(f_, state_, x);
        state_ = std::move(next);
      } catch (...) {
        this->fail(x);
        return;
      }
      this->emit(state_);
    }
  }

 private:
  F f_;
  S state_;
};

struct Identity {
  template <class X>
  const X& operator()(const X& x) const {
    return x;
  }
};

// unique(maxsize, key): drops an item whose key is among the last `maxsize` distinct keys
// seen (all keys when maxsize is 0). A repeated key counts as recently seen again (LRU), as
// in streamz.
template <class T, class K, class KeyF>
class UniqueNode final : public Op<T, T> {
 public:
  UniqueNode(std::size_t maxsize, KeyF key)
      : Op<T, T>("unique"), maxsize_(maxsize), key_(std::move(key)) {}
  void on_value(const T& x, int) override {
    std::optional<K> k;
    try {
      k.emplace(std::invoke(key_, x));
    } catch (...) {
      this->fail(x);
      return;
    }
    if (maxsize_ != 0) {
      auto it = std::find(recent_.begin(), recent_.end(), *k);
      if (it != recent_.end()) {
        recent_.erase(it);
        recent_.push_front(std::move(*k));
        return;
      }
      recent_.push_front(std::move(*k));
      if (recent_.size() > maxsize_) recent_.pop_back();
    } else if (!all_.insert(std::move(*k)).second) {
      return;
    }
    this->emit(x);
  }

 private:
  template <class X>
  static constexpr bool hashable = requires(const X& x) {
    std::hash<X>{}(x);
  };
  using Seen = std::conditional_t<hashable<K>, std::unordered_set<K>, std::set<K>>;

  std::size_t maxsize_;
  KeyF key_;
  std::deque<K> recent_;  // most recent first
  Seen all_;
};

template <class C, class V>
class FlattenNode final : public Op<C, V> {
 public:
  FlattenNode() : Op<C, V>("flatten") {}
  void on_value(const C& xs, int) override {
    for (const auto& x : xs) this->emit(x);
  }
};

// partition(n): batches of n, handed on as const std::vector<T>& (the vector is reused).
template <class T>
class PartitionNode final : public Op<T, std::vector<T>> {
 public:
  PartitionNode(std::size_t n, OnClose oc) : Op<T, std::vector<T>>("partition"), n_(n), oc_(oc) {
    if (n_ == 0) throw std::invalid_argument("partition: n must be at least 1");
    buf_.reserve(n_);
    out_.reserve(n_);
  }
  void on_value(const T& x, int) override {
    buf_.push_back(x);
    if (buf_.size() >= n_) emit_buffer();
  }

 private:
  void emit_buffer() {
    // Swap first: a feedback loop may bring items back into this node while we emit.
    out_.swap(buf_);
    buf_.clear();
    this->emit(out_);
    out_.clear();
  }
  void on_close() override {
    if (buf_.empty()) return;
    if (oc_ == OnClose::drop) {
      buf_.clear();
      return;
    }
    emit_buffer();
  }

  std::size_t n_;
  OnClose oc_;
  std::vector<T> buf_, out_;
};

// sliding_window(n, return_partial): the last n items, oldest first, on every item.
template <class T>
class SlidingWindowNode final : public Op<T, std::vector<T>> {
 public:
  SlidingWindowNode(std::size_t n, bool partial, OnClose oc)
      : Op<T, std::vector<T>>("sliding_window"), n_(n), partial_(partial), oc_(oc) {
    if (n_ == 0) throw std::invalid_argument("sliding_window: n must be at least 1");
    win_.reserve(n_);
    out_.reserve(n_);
  }
  void on_value(const T& x, int) override {
    if (win_.size() == n_) win_.erase(win_.begin());  // O(n), as the copy out is anyway
    win_.push_back(x);
    if (partial_ || win_.size() == n_) {
      emitted_ = true;
      emit_window();
    }
  }

 private:
  void emit_window() {
    out_.assign(win_.begin(), win_.end());
    this->emit(out_);
  }
  void on_close() override {
    // Only a window never emitted (fewer than n items, return_partial off) is still held.
    if (!emitted_ && !win_.empty() && oc_ == OnClose::emit) emit_window();
    win_.clear();
    emitted_ = false;
  }

  std::size_t n_;
  bool partial_;
  OnClose oc_;
  bool emitted_ = false;
  std::vector<T> win_, out_;
};

// collect(): holds items until flush(), which emits them all (even none) and empties the
// cache. The cache may be the caller's BoundedDeque.
template <class T>
class CollectNode final : public Op<T, std::vector<T>> {
 public:
  CollectNode(BoundedDeque<T>* cache, OnClose oc)
      : Op<T, std::vector<T>>("collect"), cache_(cache ? cache : &own_), oc_(oc) {}
  void on_value(const T& x, int) override { cache_->push_back(x); }
  void flush() override {
    out_.assign(cache_->begin(), cache_->end());
    cache_->clear();
    this->emit(out_);
  }

 private:
  void on_close() override {
    if (cache_->empty()) return;
    if (oc_ == OnClose::drop)
      cache_->clear();
    else
      flush();
  }

  BoundedDeque<T> own_;
  BoundedDeque<T>* cache_;
  OnClose oc_;
  std::vector<T> out_;
};

// An input slot of a node with several inputs (zip and friends): forwards to owner->on<I>.
template <class X, class Owner, std::size_t I>
class Slot final : public Input<X> {
 public:
  explicit Slot(Owner* o) : owner_(o) {}
  void on_value(const X& x, int) override { owner_->template on<I>(x); }
  NodeBase* owner() override { return owner_; }

 private:
  Owner* owner_;
};

template <class Owner, class Seq, class... X>
struct SlotsOf;
template <class Owner, std::size_t... I, class... X>
struct SlotsOf<Owner, std::index_sequence<I...>, X...> {
  using type = std::tuple<Slot<X, Owner, I>...>;
};
template <class Owner, class... X>
using Slots = typename SlotsOf<Owner, std::index_sequence_for<X...>, X...>::type;

template <class Owner, class... X, std::size_t... I>
Slots<Owner, X...> make_slots(Owner* o, std::index_sequence<I...>) {
  return Slots<Owner, X...>{Slot<X, Owner, I>(o)...};
}

// zip: one queue per input; a tuple goes out when every queue has an item.
template <class... X>
class ZipNode final : public Node<std::tuple<X...>> {
 public:
  ZipNode()
      : Node<std::tuple<X...>>("zip"),
        slots_(make_slots<ZipNode, X...>(this, std::index_sequence_for<X...>{})) {}
  template <std::size_t I>
  void on(const std::tuple_element_t<I, std::tuple<X...>>& x) {
    std::get<I>(queues_).push_back(x);
    if (!all_ready(std::index_sequence_for<X...>{})) return;
    const auto t = pop_front(std::index_sequence_for<X...>{});
    this->emit(t);
  }
  Slots<ZipNode, X...> slots_;

 private:
  template <std::size_t... I>
  bool all_ready(std::index_sequence<I...>) const {
    return (!std::get<I>(queues_).empty() && ...);
  }
  template <std::size_t... I>
  std::tuple<X...> pop_front(std::index_sequence<I...>) {
    std::tuple<X...> t(std::move(std::get<I>(queues_).front())...);
    (std::get<I>(queues_).pop_front(), ...);
    return t;
  }
  std::tuple<Ring<X>...> queues_;
};

// combine_latest: the latest item of every input, on each item once all have one; with
// emit_on, only items from the listed inputs trigger the emit.
template <class... X>
class CombineLatestNode final : public Node<std::tuple<X...>> {
 public:
  explicit CombineLatestNode(std::vector<std::size_t> emit_on)
      : Node<std::tuple<X...>>("combine_latest"),
        slots_(make_slots<CombineLatestNode, X...>(this, std::index_sequence_for<X...>{})),
        emit_on_(std::move(emit_on)) {}
  template <std::size_t I>
  void on(const std::tuple_element_t<I, std::tuple<X...>>& x) {
    std::get<I>(latest_) = x;
    if (!emit_on_.empty() && std::find(emit_on_.begin(), emit_on_.end(), I) == emit_on_.end())
      return;
    if (!all_ready(std::index_sequence_for<X...>{})) return;
    const auto t = current(std::index_sequence_for<X...>{});
    this->emit(t);
  }
  Slots<CombineLatestNode, X...> slots_;

 private:
  template <std::size_t... I>
  bool all_ready(std::index_sequence<I...>) const {
    return (std::get<I>(latest_).has_value() && ...);
  }
  template <std::size_t... I>
  std::tuple<X...> current(std::index_sequence<I...>) const {
    return std::tuple<X...>(*std::get<I>(latest_)...);
  }
  std::tuple<std::optional<X>...> latest_;
  std::vector<std::size_t> emit_on_;
};

// zip_latest: every item of the first input goes out once, with the latest of the others.
template <class... X>
class ZipLatestNode final : public Node<std::tuple<X...>> {
 public:
  ZipLatestNode()
      : Node<std::tuple<X...>>("zip_latest"),
        slots_(make_slots<ZipLatestNode, X...>(this, std::index_sequence_for<X...>{})) {}
  template <std::size_t I>
  void on(const std::tuple_element_t<I, std::tuple<X...>>& x) {
    if constexpr (I == 0)
      lossless_.push_back(x);
    else
      std::get<I>(latest_) = x;
    if (!others_ready(std::index_sequence_for<X...>{})) return;
    while (!lossless_.empty()) {
      auto t = current(std::index_sequence_for<X...>{});
      lossless_.pop_front();
      this->emit(t);
    }
  }
  Slots<ZipLatestNode, X...> slots_;

 private:
  template <std::size_t... I>
  bool others_ready(std::index_sequence<I...>) const {
    return ((I == 0 || std::get<I>(latest_).has_value()) && ...);
  }
  template <std::size_t... I>
  std::tuple<X...> current(std::index_sequence<I...>) const {
    return std::tuple<X...>(pick<I>()...);
  }
  template <std::size_t I>
  const std::tuple_element_t<I, std::tuple<X...>>& pick() const {
    if constexpr (I == 0)
      return lossless_.front();
    else
      return *std::get<I>(latest_);
  }
  Ring<std::tuple_element_t<0, std::tuple<X...>>> lossless_;
  std::tuple<std::optional<X>...> latest_;  // element 0 unused
};

}  // namespace depot::stream
