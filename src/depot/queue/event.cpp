#include "depot/queue/event.h"

namespace depot {

struct EventObject::Waiting : Waiter {
  WaitDone done;
  void fail(Status s, std::string_view message) override { done(s, message); }
};

EventObject::EventObject(Registry& registry, std::string name)
    : Object(registry, std::move(name)), waiters_(registry.waiters()) {}

std::string EventObject::state() const {
  return std::string(set_ ? "set" : "clear") + " waiters=" + std::to_string(waiters_.size());
}

void EventObject::set() {
  set_ = true;
  while (!waiters_.empty()) {
    auto* w = static_cast<Waiting*>(waiters_.front());
    auto owned = waiters_.take(w);
    w->done(Status::OK, {});
  }
}

Status EventObject::wait(const Wait& wait, WaitDone done) {
  if (set_) {
    done(Status::OK, {});
    return Status::OK;
  }
  if (!wait.may_wait) {
    done(Status::TIMEOUT, "event '" + name_ + "' is not set");
    return Status::TIMEOUT;
  }
  if (waiters_.size() >= registry_.limits().max_waiters_per_object) {
    done(Status::LIMIT, "event '" + name_ + "' has too many waiters; raise --max-waiters");
    return Status::LIMIT;
  }
  auto w = std::make_unique<Waiting>();
  w->session = wait.session;
  w->deadline = wait.deadline;
  w->object = this;
  w->done = std::move(done);
  waiters_.push_back(std::move(w));
  return Status::PARKED;
}

void EventObject::cancel(Waiter* w, Status s, std::string_view message) {
  auto owned = waiters_.take(w);
  if (s == Status::OK) return;
  if (s == Status::TIMEOUT && message.empty()) {
    w->fail(Status::TIMEOUT, "event '" + name_ + "' was not set before the timeout");
    return;
  }
  w->fail(s, message);
}

struct BarrierObject::Party : Waiter {
  uint32_t index = 0;
  WaitDone done;
  void fail(Status s, std::string_view message) override { done(s, index, message); }
};

BarrierObject::BarrierObject(Registry& registry, std::string name, uint32_t parties)
    : Object(registry, std::move(name)), parties_(parties), waiters_(registry.waiters()) {}

std::string BarrierObject::state() const {
  return "parties=" + std::to_string(parties_) + " waiting=" + std::to_string(waiters_.size()) +
         (broken_ ? " broken" : "");
}

Status BarrierObject::wait(const Wait& wait, WaitDone done) {
  if (broken_) {
    done(Status::BROKEN, 0, what() + " is broken (" + broken_why_ + "); reset it to use it again");
    return Status::BROKEN;
  }
  const auto index = static_cast<uint32_t>(waiters_.size());
  if (index + 1 == parties_) {  // the last party: everyone proceeds
    while (!waiters_.empty()) {
      auto* p = static_cast<Party*>(waiters_.front());
      auto owned = waiters_.take(p);
      p->done(Status::OK, p->index, {});
    }
    done(Status::OK, index, {});
    return Status::OK;
  }
  // No --max-waiters check here (docs/protocol.md: barriers are excepted): a barrier with
  // more parties than the limit could then never fill. What waits is bounded by `parties`,
  // which its creator chose, and each party is a request some connection sent.
  if (!wait.may_wait) {
    break_barrier("a party would not wait");
    done(Status::BROKEN, index, what() + " is broken: a party arrived with no time to wait");
    return Status::BROKEN;
  }
  auto p = std::make_unique<Party>();
  p->session = wait.session;
  p->deadline = wait.deadline;
  p->object = this;
  p->index = index;
  p->done = std::move(done);
  waiters_.push_back(std::move(p));
  return Status::PARKED;
}

void BarrierObject::break_barrier(const std::string& why) {
  broken_ = true;
  broken_why_ = why;
  waiters_.fail_all(Status::BROKEN, what() + " is broken: " + why + "; reset it to use it again");
}

void BarrierObject::reset() {
  waiters_.fail_all(Status::BROKEN, what() + " was reset while this party waited");
  broken_ = false;
  broken_why_.clear();
}

void BarrierObject::cancel(Waiter* w, Status s, std::string_view message) {
  auto owned = waiters_.take(w);
  if (s == Status::OK) {  // its session ended: the others can never complete
    break_barrier("a waiting party disconnected");
    return;
  }
  if (s == Status::TIMEOUT && message.empty()) {
    w->fail(Status::TIMEOUT, what() + " did not fill before the timeout; it is now broken");
    break_barrier("a party timed out");
    return;
  }
  w->fail(s, message);
}

}  // namespace depot

namespace depot {

void EventObject::waits(std::vector<WaitInfo>& out) const {
  for (const Waiter* w : waiters_.snapshot()) out.push_back({w->session, "wait"});
}

void BarrierObject::waits(std::vector<WaitInfo>& out) const {
  for (const Waiter* w : waiters_.snapshot()) out.push_back({w->session, "wait"});
}

}  // namespace depot
