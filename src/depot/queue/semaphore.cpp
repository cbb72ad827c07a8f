#include "depot/queue/semaphore.h"

namespace depot {

struct SemaphoreObject::Acquirer : Waiter {
  AcquireDone done;
  void fail(Status s, std::string_view message) override { done(s, 0, message); }
};

SemaphoreObject::SemaphoreObject(Registry& registry, std::string name, uint32_t max)
    : Object(registry, std::move(name)), max_(max), waiters_(registry.waiters()) {}

std::string SemaphoreObject::state() const {
  return "leases=" + std::to_string(leases_.size()) + "/" + std::to_string(max_) +
         " waiters=" + std::to_string(waiters_.size());
}

void SemaphoreObject::grant(SessionId s, const AcquireDone& done) {
  const uint64_t id = registry_.next_token();
  leases_.emplace(id, s);
  registry_.hold(s, this);
  done(Status::OK, id, {});
}

Status SemaphoreObject::acquire(const Wait& wait, AcquireDone done) {
  if (leases_.size() < max_ && waiters_.empty()) {
    grant(wait.session, done);
    return Status::OK;
  }
  if (!wait.may_wait) {
    done(Status::TIMEOUT, 0,
         what() + " has no lease for a new acquire (" + std::to_string(leases_.size()) + " of " +
             std::to_string(max_) + " held, " + std::to_string(waiters_.size()) + " waiting)");
    return Status::TIMEOUT;
  }
  if (waiters_.size() >= registry_.limits().max_waiters_per_object) {
    done(Status::LIMIT, 0, what() + " has too many waiters; raise --max-waiters");
    return Status::LIMIT;
  }
  auto a = std::make_unique<Acquirer>();
  a->session = wait.session;
  a->deadline = wait.deadline;
  a->object = this;
  a->done = std::move(done);
  waiters_.push_back(std::move(a));
  return Status::PARKED;
}

Status SemaphoreObject::release(SessionId session, uint64_t lease, std::string& message) {
  auto it = leases_.find(lease);
  if (it == leases_.end() || it->second != session) {
    message = what() + " has no lease " + std::to_string(lease) +
              " held by this session; it was released already or its session ended";
    return Status::NOT_OWNER;
  }
  leases_.erase(it);
  bool still = false;
  for (auto& [id, s] : leases_) still = still || s == session;
  if (!still) registry_.unhold(session, this);
  pass_on();
  return Status::OK;
}

void SemaphoreObject::pass_on() {
  while (leases_.size() < max_ && !waiters_.empty()) {
    auto* a = static_cast<Acquirer*>(waiters_.front());
    auto owned = waiters_.take(a);
    if (!registry_.session_alive(a->session)) continue;
    grant(a->session, a->done);
  }
}

void SemaphoreObject::cancel(Waiter* w, Status s, std::string_view message) {
  auto owned = waiters_.take(w);
  if (s == Status::OK) return;
  if (s == Status::TIMEOUT && message.empty()) {
    w->fail(Status::TIMEOUT, what() + " had no free lease until the timeout");
    return;
  }
  w->fail(s, message);
}

void SemaphoreObject::fail_all(Status s, std::string_view message) {
  waiters_.fail_all(s, message);
}

void SemaphoreObject::release_session(SessionId s) {
  for (auto it = leases_.begin(); it != leases_.end();)
    it = it->second == s ? leases_.erase(it) : std::next(it);
  pass_on();
}

}  // namespace depot

namespace depot {

void SemaphoreObject::holds(std::vector<HoldInfo>& out) const {
  for (const auto& [lease, session] : leases_) out.push_back({session, lease, 1});
}

void SemaphoreObject::waits(std::vector<WaitInfo>& out) const {
  for (const Waiter* w : waiters_.snapshot()) out.push_back({w->session, "acquire"});
}

}  // namespace depot
