#include "depot/executor/future.h"

#include <cstdio>

namespace depot {

namespace detail {

using SteadyClock = std::chrono::steady_clock;

namespace {
// A continuation (then(), wait(), as_completed()) that throws must not take the executor's
// thread, or the other continuations, down with it.
void run_callback(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "depot: a future's continuation threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "depot: a future's continuation threw\n");
  }
}
}  // namespace

FutureState::~FutureState() {
  if (key.empty()) return;
  if (auto o = owner.lock()) o->release(key, sid);
}

void FutureState::wait() const {
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return phase != PENDING; });
}

bool FutureState::wait_until(SteadyClock::time_point t) const {
  std::unique_lock lk(mu);
  return cv.wait_until(lk, t, [&] { return phase != PENDING; });
}

bool FutureState::resolve(Phase to, std::string a, std::string message) {
  std::vector<std::pair<uint64_t, std::function<void()>>> cbs;
  std::vector<std::shared_ptr<FutureState>> old;
  {
    std::lock_guard lk(mu);
    if (phase != PENDING) return false;
    phase = to;
    if (to == OK)
      payload = std::move(a);
    else {
      err_type = std::move(a);
      err_message = std::move(message);
    }
    cbs.swap(callbacks);
    old.swap(deps);
  }
  cv.notify_all();
  for (auto& [n, f] : cbs) run_callback(f);
  return true;
}

uint64_t FutureState::on_done(std::function<void()> f) {
  {
    std::lock_guard lk(mu);
    if (phase == PENDING) {
      callbacks.emplace_back(++next_callback, std::move(f));
      return next_callback;
    }
  }
  f();  // on the caller's thread: its exceptions are the caller's
  return 0;
}

void FutureState::forget(uint64_t callback) {
  if (callback == 0) return;
  std::lock_guard lk(mu);
  std::erase_if(callbacks, [&](const auto& c) { return c.first == callback; });
}

void FutureState::rethrow() const {
  std::lock_guard lk(mu);
  if (phase == OK) return;
  if (phase == CANCELLED)
    throw CancelledError("task '" + key + "' (" + function + ") was cancelled" +
                         (err_message.empty() ? "" : ": " + err_message));
  throw RemoteError(function, err_type, err_message, key);
}

std::exception_ptr FutureState::exception() const {
  try {
    rethrow();
    return nullptr;
  } catch (...) {
    return std::current_exception();
  }
}

std::vector<bool> wait_states(const std::vector<std::shared_ptr<FutureState>>& states,
                              std::optional<SteadyClock::time_point> deadline, ReturnWhen when) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    size_t done = 0;
    bool failed = false;
  };
  auto sh = std::make_shared<Shared>();
  std::vector<uint64_t> ids;
  ids.reserve(states.size());
  for (const auto& s : states) {
    ids.push_back(s->on_done([sh, s = s.get()] {
      bool bad;
      {
        std::lock_guard lk(s->mu);
        bad = s->phase != FutureState::OK;
      }
      std::lock_guard lk(sh->mu);
      ++sh->done;
      sh->failed = sh->failed || bad;
      sh->cv.notify_all();
    }));
  }
  auto satisfied = [&] {
    if (sh->done == states.size()) return true;
    if (when == ReturnWhen::FIRST_COMPLETED) return sh->done > 0;
    if (when == ReturnWhen::FIRST_EXCEPTION) return sh->failed;
    return false;
  };
  {
    std::unique_lock lk(sh->mu);
    if (deadline)
      sh->cv.wait_until(lk, *deadline, satisfied);
    else
      sh->cv.wait(lk, satisfied);
  }
  // Futures still pending keep no trace of this wait (a polling loop must not grow them).
  for (size_t i = 0; i < states.size(); ++i) states[i]->forget(ids[i]);
  std::vector<bool> out;
  out.reserve(states.size());
  for (const auto& s : states) out.push_back(s->done());
  return out;
}

}  // namespace detail

bool FutureBase::cancel() {
  auto owner = st_->owner.lock();
  if (!st_->resolve(detail::FutureState::CANCELLED, {}, {})) return false;
  if (owner) owner->cancelled(st_);
  return true;
}

}  // namespace depot
