#include "depot/queue/lock.h"

namespace depot {

struct LockObject::Acquirer : Waiter {
  uint64_t owner = 0;
  std::chrono::milliseconds ttl{0};
  AcquireDone done;
  void fail(Status s, std::string_view message) override { done(s, {}, message); }
};

LockObject::LockObject(Registry& registry, std::string name, bool reentrant)
    : Object(registry, std::move(name)), reentrant_(reentrant), waiters_(registry.waiters()) {}

LockObject::~LockObject() {
  if (holder_.has_lease) registry_.cancel_timer(holder_.lease);
}

std::string LockObject::state() const {
  if (!held()) return "free waiters=" + std::to_string(waiters_.size());
  const std::string name = registry_.session_name(holder_.session);
  return "held session=" + std::to_string(holder_.session) +
         (name.empty() ? std::string() : " name=" + name) +
         " token=" + std::to_string(holder_.token) +
         (reentrant_ ? " count=" + std::to_string(holder_.count) : std::string()) +
         (holder_.has_lease ? " lease=yes" : "") + " waiters=" + std::to_string(waiters_.size());
}

void LockObject::grant(SessionId session, uint64_t owner, std::chrono::milliseconds ttl,
                       const AcquireDone& done) {
  holder_.session = session;
  holder_.owner = owner;
  holder_.token = registry_.next_token();
  holder_.count = 1;
  // A TTL too large for the clock means no lease at all (it saturates like a wait's timeout).
  const TimePoint until =
      ttl.count() > 0 ? deadline_after(registry_.now(), ttl.count()) : TimePoint::max();
  holder_.has_lease = until != TimePoint::max();
  if (holder_.has_lease) holder_.lease = registry_.set_timer(until, this, holder_.token);
  registry_.hold(session, this);
  done(Status::OK, Grant{holder_.token, 1}, {});
}

Status LockObject::acquire(const Wait& wait, uint64_t owner, std::chrono::milliseconds ttl,
                           AcquireDone done) {
  if (!held()) {
    grant(wait.session, owner, ttl, done);
    return Status::OK;
  }
  if (reentrant_ && holder_.session == wait.session && holder_.owner == owner) {
    ++holder_.count;
    done(Status::OK, Grant{holder_.token, holder_.count}, {});
    return Status::OK;
  }
  if (!wait.may_wait) {
    done(Status::TIMEOUT, {}, what() + " is held by another holder");
    return Status::TIMEOUT;
  }
  if (waiters_.size() >= registry_.limits().max_waiters_per_object) {
    done(Status::LIMIT, {},
         what() + " already has " + std::to_string(waiters_.size()) +
             " waiters, its limit; raise --max-waiters");
    return Status::LIMIT;
  }
  auto a = std::make_unique<Acquirer>();
  a->session = wait.session;
  a->deadline = wait.deadline;
  a->object = this;
  a->owner = owner;
  a->ttl = ttl;
  a->done = std::move(done);
  waiters_.push_back(std::move(a));
  return Status::PARKED;
}

Status LockObject::release(SessionId session, uint64_t token, uint32_t& remaining,
                           std::string& message) {
  if (!held() || holder_.token != token || holder_.session != session) {
    message = what() + (held() ? " is held under another fencing token" : " is not held") +
              " (yours was " + std::to_string(token) +
              "); its lease may have expired or its session ended, so another holder may have it";
    return Status::NOT_OWNER;
  }
  if (--holder_.count > 0) {
    remaining = holder_.count;
    return Status::OK;
  }
  remaining = 0;
  free_and_pass("released");
  return Status::OK;
}

void LockObject::free_and_pass(const char*) {
  registry_.unhold(holder_.session, this);
  if (holder_.has_lease) registry_.cancel_timer(holder_.lease);
  holder_ = Holder{};
  while (!waiters_.empty()) {
    auto* a = static_cast<Acquirer*>(waiters_.front());
    auto owned = waiters_.take(a);
    if (!registry_.session_alive(a->session)) continue;
    grant(a->session, a->owner, a->ttl, a->done);
    return;
  }
}

void LockObject::cancel(Waiter* w, Status s, std::string_view message) {
  auto owned = waiters_.take(w);
  if (s == Status::OK) return;
  if (s == Status::TIMEOUT && message.empty()) {
    w->fail(Status::TIMEOUT, what() + " was still held when the timeout passed");
    return;
  }
  w->fail(s, message);
}

void LockObject::fail_all(Status s, std::string_view message) {
  waiters_.fail_all(s, message);
}

void LockObject::release_session(SessionId s) {
  if (held() && holder_.session == s) free_and_pass("session ended");
}

void LockObject::on_timer(uint64_t tag) {
  if (!held() || holder_.token != tag) return;
  holder_.has_lease = false;  // this timer is the one firing: nothing to cancel
  free_and_pass("lease expired");
}

}  // namespace depot

namespace depot {

void LockObject::holds(std::vector<HoldInfo>& out) const {
  if (held()) out.push_back({holder_.session, holder_.token, holder_.count});
}

void LockObject::waits(std::vector<WaitInfo>& out) const {
  for (const Waiter* w : waiters_.snapshot()) out.push_back({w->session, "acquire"});
}

}  // namespace depot
