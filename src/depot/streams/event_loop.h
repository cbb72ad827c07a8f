// Time for the streams library: the EventLoop interface the time-based operators (delay,
// rate_limit, timed_window, buffer, latest) schedule on, a ManualClock that tests and samples
// drive by hand, and a RealTimeLoop that runs on the steady clock.
//
// Threading: a pipeline is not thread-safe, like a streamz graph on its tornado loop. Every
// emit and every timer callback of one pipeline must run on one thread at a time. With
// ManualClock that is the caller's thread (advance() runs due timers inline). With
// RealTimeLoop either call run_for() from the thread that emits, or start() its thread and
// emit through post() so the emits run on the loop thread too.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

namespace depot::stream {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using Duration = SteadyClock::duration;

class EventLoop {
 public:
  using TimerId = std::uint64_t;
  using Callback = std::function<void()>;

  virtual ~EventLoop() = default;
  virtual TimePoint now() const = 0;
  // Runs `cb` once, on the loop, at `when` or later. Timers due at the same time run in the
  // order they were scheduled. Returns an id for cancel(); ids are never 0.
  virtual TimerId call_at(TimePoint when, Callback cb) = 0;
  // Forgets a timer that has not run yet; unknown or already run ids are ignored.
  virtual void cancel(TimerId id) = 0;

  TimerId call_later(Duration d, Callback cb) { return call_at(now() + d, std::move(cb)); }
};

// Pending timers ordered by (time, id): the earliest first, ties in scheduling order.
class TimerQueue {
 public:
  EventLoop::TimerId add(TimePoint when, EventLoop::Callback cb);
  void cancel(EventLoop::TimerId id);
  // Removes and returns the earliest timer due at or before `limit`, if any.
  bool pop_due(TimePoint limit, TimePoint& when, EventLoop::Callback& cb);
  bool empty() const { return timers_.empty(); }
  std::size_t size() const { return timers_.size(); }
  TimePoint next() const { return timers_.begin()->first.first; }

 private:
  using Key = std::pair<TimePoint, EventLoop::TimerId>;
  std::map<Key, EventLoop::Callback> timers_;
  std::unordered_map<EventLoop::TimerId, TimePoint> when_;
  EventLoop::TimerId next_id_ = 1;
};

// A clock that only moves when told to: advance(d) runs, in time order, every timer due up to
// now() + d (timers those callbacks schedule included), then sets now() to now() + d. It
// starts at TimePoint{} (zero). Tests use it so that time-based operators are deterministic.
class ManualClock final : public EventLoop {
 public:
  TimePoint now() const override { return now_; }
  TimerId call_at(TimePoint when, Callback cb) override { return timers_.add(when, std::move(cb)); }
  void cancel(TimerId id) override { timers_.cancel(id); }

  void advance(Duration d);
  // Runs the timers due now (those scheduled "as soon as possible") without moving time.
  void run_pending() { advance(Duration::zero()); }
  std::size_t pending() const { return timers_.size(); }

 private:
  TimePoint now_{};
  TimerQueue timers_;
};

// A loop on the steady clock. run_for(d) runs timers on the calling thread until d has
// passed; start() runs them on a thread of its own until stop() or destruction. post() hands
// a function to the loop thread from any thread (the way to emit into a pipeline that has
// time-based operators while start()ed). call_at, cancel and post are thread-safe.
class RealTimeLoop final : public EventLoop {
 public:
  RealTimeLoop() = default;
  RealTimeLoop(const RealTimeLoop&) = delete;
  RealTimeLoop& operator=(const RealTimeLoop&) = delete;
  ~RealTimeLoop() override { stop(); }

  TimePoint now() const override { return SteadyClock::now(); }
  TimerId call_at(TimePoint when, Callback cb) override;
  void cancel(TimerId id) override;
  TimerId post(Callback cb) { return call_at(now(), std::move(cb)); }

  void run_for(Duration d);
  void start();
  // Stops the thread start() began, after the callback it is running (if any) returns.
  void stop();

 private:
  void run_until(TimePoint end, bool until_stopped);

  std::mutex mu_;
  std::condition_variable cv_;
  TimerQueue timers_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace depot::stream
