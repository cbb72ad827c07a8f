// Operators that take time: delay, rate_limit, timed_window, buffer and latest. They schedule
// on the EventLoop their source was created with (Stream<T>(loop)); each keeps at most one
// timer armed and cancels it when destroyed, so the loop must outlive the pipeline.
#pragma once
#include <deque>
#include <stdexcept>
#include <utility>
#include <vector>

#include "depot/streams/operators.h"

namespace depot::stream {

inline EventLoop& require_loop(NodeBase& n, const char* op) {
  if (!n.loop())
    throw std::logic_error(std::string(op) +
                           " needs an event loop: create the source as Stream<T>(loop)");
  return *n.loop();
}

// One timer at a time for a node: arm(t) (re)schedules it, disarm() forgets it.
class NodeTimer {
 public:
  ~NodeTimer() { disarm(); }
  template <class F>
  void arm(EventLoop& loop, TimePoint when, F f) {
    disarm();
    loop_ = &loop;
    id_ = loop.call_at(when, [this, f] {
      id_ = 0;
      f();
    });
  }
  void disarm() {
    if (id_ != 0) loop_->cancel(id_);
    id_ = 0;
  }
  bool armed() const { return id_ != 0; }

 private:
  EventLoop* loop_ = nullptr;
  EventLoop::TimerId id_ = 0;
};

// delay(d): each item goes out d after it arrived. rate_limit(d): items go out in order, at
// least d apart (the first at once), as streamz computes next = max(now, next) + d.
template <class T>
class ScheduleNode final : public Op<T, T> {
 public:
  ScheduleNode(const char* kind, Duration d, bool rate) : Op<T, T>(kind), d_(d), rate_(rate) {}
  void on_value(const T& x, int) override {
    EventLoop& loop = require_loop(*this, this->kind().c_str());
    const TimePoint now = loop.now();
    TimePoint due = now + d_;
    if (rate_) {
      due = std::max(now, next_);
      next_ = due + d_;
      if (due <= now && pending_.empty()) {
        this->emit(x);
        return;
      }
    }
    pending_.push_back({due, x});
    if (!timer_.armed()) arm();
  }

 private:
  void arm() {
    timer_.arm(*this->loop(), pending_.front().first, [this] { release(); });
  }
  void release() {
    const TimePoint now = this->loop()->now();
    while (!pending_.empty() && pending_.front().first <= now) {
      T x = std::move(pending_.front().second);
      pending_.pop_front();
      this->emit(x);
    }
    if (!pending_.empty() && !timer_.armed()) arm();
  }
  void on_close() override {
    // Close does not wait: everything pending goes out now, in order.
    timer_.disarm();
    while (!pending_.empty()) {
      T x = std::move(pending_.front().second);
      pending_.pop_front();
      this->emit(x);
    }
  }

  Duration d_;
  bool rate_;
  TimePoint next_{};
  Ring<std::pair<TimePoint, T>> pending_;
  NodeTimer timer_;
};

// timed_window(d): every d (from when the node was made) the items of the last d go out as a
// list, an empty one if none came, as streamz does.
template <class T>
class TimedWindowNode final : public Op<T, std::vector<T>> {
 public:
  TimedWindowNode(EventLoop& loop, Duration d, OnClose oc)
      : Op<T, std::vector<T>>("timed_window"), d_(d), oc_(oc) {
    if (d_ <= Duration::zero()) throw std::invalid_argument("timed_window: interval must be > 0");
    this->set_loop(&loop);
    next_ = loop.now() + d_;
    arm();
  }
  void on_value(const T& x, int) override { buf_.push_back(x); }

 private:
  void arm() {
    timer_.arm(*this->loop(), next_, [this] {
      next_ += d_;
      arm();
      emit_buffer();
    });
  }
  void emit_buffer() {
    out_.swap(buf_);
    buf_.clear();
    this->emit(out_);
    out_.clear();
  }
  void on_close() override {
    timer_.disarm();
    if (!buf_.empty() && oc_ == OnClose::emit) emit_buffer();
    buf_.clear();
  }

  Duration d_;
  OnClose oc_;
  TimePoint next_;
  std::vector<T> buf_, out_;
  NodeTimer timer_;
};

// buffer(n): with a loop, items wait in a queue of up to n that the loop drains as soon as it
// runs; an item arriving at a full queue first sends the oldest on (the emitter does the work:
// that is the back-pressure). Without a loop it passes items straight on.
template <class T>
class BufferNode final : public Op<T, T> {
 public:
  explicit BufferNode(std::size_t n) : Op<T, T>("buffer"), n_(n) {
    if (n_ == 0) throw std::invalid_argument("buffer: n must be at least 1");
  }
  void on_value(const T& x, int) override {
    EventLoop* loop = this->loop();
    if (!loop) {
      this->emit(x);
      return;
    }
    while (queue_.size() >= n_) pop_one();
    queue_.push_back(x);
    if (!timer_.armed()) timer_.arm(*loop, loop->now(), [this] { drain(); });
  }
  std::size_t queued() const { return queue_.size(); }

 private:
  void pop_one() {
    T x = std::move(queue_.front());
    queue_.pop_front();
    this->emit(x);
  }
  void drain() {
    while (!queue_.empty()) pop_one();
  }
  void on_close() override {
    timer_.disarm();
    drain();
  }

  std::size_t n_;
  Ring<T> queue_;
  NodeTimer timer_;
};

// latest(): with a loop, items arriving before the loop runs collapse into the last one;
// without a loop it passes items straight on.
template <class T>
class LatestNode final : public Op<T, T> {
 public:
  LatestNode() : Op<T, T>("latest") {}
  void on_value(const T& x, int) override {
    EventLoop* loop = this->loop();
    if (!loop) {
      this->emit(x);
      return;
    }
    latest_ = x;
    if (!timer_.armed()) timer_.arm(*loop, loop->now(), [this] { release(); });
  }

 private:
  void release() {
    if (!latest_) return;
    T x = std::move(*latest_);
    latest_.reset();
    this->emit(x);
  }
  void on_close() override {
    timer_.disarm();
    release();
  }

  std::optional<T> latest_;
  NodeTimer timer_;
};

}  // namespace depot::stream
