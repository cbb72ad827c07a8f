// scatter/gather: a step run by an executor (depot's Executor later; any type with this
// interface now), with a bounded number of calls in flight and results in input order.
//
//   auto f = ex.template submit<R>(std::string fname, const T& arg);  // a future:
//   R f.result();       // blocks until done, throws what the remote call threw
//   bool f.done() const;
//
//   source.scatter(ex).map<R>("fname").buffer(5).gather().sink(write);
//
// Each item is submitted as it arrives. When `buffer` calls are in flight, the emit waits for
// the oldest and sends its result on first (back-pressure on the emitter); without buffer()
// each emit waits for its own call. After each submit
// the results already done at the head of the line go on, so output keeps flowing without
// waiting for the buffer to fill. flush() and close() wait for every call in flight. A call
// that throws becomes a StreamError on the gather node's error stream, with its input.
#pragma once
#include <deque>
#include <string>
#include <utility>

#include "depot/streams/operators.h"

namespace depot::stream {

template <class T>
class Stream;

template <class T, class R, class Ex>
class GatherNode final : public Op<T, R> {
 public:
  using Future = decltype(std::declval<Ex&>().template submit<R>(std::declval<std::string>(),
                                                                 std::declval<const T&>()));
  GatherNode(Ex& ex, std::string fname, std::size_t n)
      : Op<T, R>("gather"), ex_(&ex), fname_(std::move(fname)), n_(n) {
    this->set_name(fname_);
  }
  void on_value(const T& x, int) override {
    forward_done();
    while (!flight_.empty() && flight_.size() >= n_) pop_front();
    try {
      flight_.push_back(Call{ex_->template submit<R>(fname_, x), x});
    } catch (...) {
      this->fail(x);
      return;
    }
    if (n_ == 0)
      flush();  // no buffer(): each call is waited for, as streamz's gather does
    else
      forward_done();
  }
  void flush() override {
    while (!flight_.empty()) pop_front();
  }
  std::size_t in_flight() const { return flight_.size(); }

 private:
  struct Call {
    Future future;
    T input;
  };
  void forward_done() {
    while (!flight_.empty() && flight_.front().future.done()) pop_front();
  }
  void pop_front() {
    Call c = std::move(flight_.front());
    flight_.pop_front();
    this->run_step(c.input, [&]() -> R { return c.future.result(); });
  }
  void on_close() override { flush(); }

  Ex* ex_;
  std::string fname_;
  std::size_t n_;
  std::deque<Call> flight_;
};

// source.scatter(ex).map<R>("f"): the remote step, not yet wired; buffer(n) sets how many
// calls may be in flight (without it, emit waits for each call); gather() makes the node.
template <class T, class R, class Ex>
class RemoteMap {
 public:
  RemoteMap(std::shared_ptr<Node<T>> up, Ex* ex, std::string fname, std::size_t n)
      : up_(std::move(up)), ex_(ex), fname_(std::move(fname)), n_(n) {}
  RemoteMap buffer(std::size_t n) const { return RemoteMap(up_, ex_, fname_, n); }
  Stream<R> gather() const;

 private:
  std::shared_ptr<Node<T>> up_;
  Ex* ex_;
  std::string fname_;
  std::size_t n_;
};

template <class T, class Ex>
class Scattered {
 public:
  Scattered(std::shared_ptr<Node<T>> up, Ex* ex) : up_(std::move(up)), ex_(ex) {}
  template <class R>
  RemoteMap<T, R, Ex> map(std::string fname) const {
    return RemoteMap<T, R, Ex>(up_, ex_, std::move(fname), 0);
  }

 private:
  std::shared_ptr<Node<T>> up_;
  Ex* ex_;
};

}  // namespace depot::stream
