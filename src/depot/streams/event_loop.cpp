#include "depot/streams/event_loop.h"

namespace depot::stream {

EventLoop::TimerId TimerQueue::add(TimePoint when, EventLoop::Callback cb) {
  const EventLoop::TimerId id = next_id_++;
  timers_.emplace(Key{when, id}, std::move(cb));
  when_.emplace(id, when);
  return id;
}

void TimerQueue::cancel(EventLoop::TimerId id) {
  auto it = when_.find(id);
  if (it == when_.end()) return;
  timers_.erase(Key{it->second, id});
  when_.erase(it);
}

bool TimerQueue::pop_due(TimePoint limit, TimePoint& when, EventLoop::Callback& cb) {
  if (timers_.empty() || timers_.begin()->first.first > limit) return false;
  auto node = timers_.extract(timers_.begin());
  when = node.key().first;
  when_.erase(node.key().second);
  cb = std::move(node.mapped());
  return true;
}

void ManualClock::advance(Duration d) {
  const TimePoint target = now_ + d;
  TimePoint when;
  Callback cb;
  while (timers_.pop_due(target, when, cb)) {
    if (when > now_) now_ = when;
    cb();
  }
  now_ = target;
}

EventLoop::TimerId RealTimeLoop::call_at(TimePoint when, Callback cb) {
  std::lock_guard lock(mu_);
  const TimerId id = timers_.add(when, std::move(cb));
  cv_.notify_all();
  return id;
}

void RealTimeLoop::cancel(TimerId id) {
  std::lock_guard lock(mu_);
  timers_.cancel(id);
}

void RealTimeLoop::run_for(Duration d) {
  run_until(SteadyClock::now() + d, false);
}

void RealTimeLoop::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run_until(TimePoint::max(), true); });
}

void RealTimeLoop::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void RealTimeLoop::run_until(TimePoint end, bool until_stopped) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (until_stopped && stopping_) return;
    const TimePoint now = SteadyClock::now();
    if (!until_stopped && now >= end) return;
    TimePoint when;
    Callback cb;
    if (timers_.pop_due(now, when, cb)) {
      // Callbacks run unlocked: they schedule timers of their own.
      lock.unlock();
      cb();
      lock.lock();
      continue;
    }
    TimePoint wake = end;
    if (!timers_.empty() && timers_.next() < wake) wake = timers_.next();
    if (wake == TimePoint::max())
      cv_.wait(lock);
    else
      cv_.wait_until(lock, wake);
  }
}

}  // namespace depot::stream
