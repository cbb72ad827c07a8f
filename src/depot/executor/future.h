// depot::Future<T> and the calls that wait on several (wait, as_completed), as Python's
// concurrent.futures and dask have them. Executor::submit and Actor::call make futures
// (depot/executor/executor.h); co_await them with depot/executor/asio_await.h.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "depot/client/codec.h"
#include "depot/client/errors.h"
#include "depot/client/types.h"

namespace depot {

// A task raised an exception on its worker (or could not run there). type() is the
// exception's demangled C++ type, or one of the executor's own (depot/executor/task.h:
// depot::WorkerLost, depot::DependencyFailed, ...).
class RemoteError : public Error {
 public:
  RemoteError(std::string function, std::string type, std::string message, std::string key)
      : Error("task '" + key + "' (" + function + ") raised " + type + ": " + message),
        function_(std::move(function)),
        type_(std::move(type)),
        message_(std::move(message)),
        key_(std::move(key)) {}
  const std::string& function() const { return function_; }
  const std::string& type() const { return type_; }  // e.g. "std::invalid_argument"
  const std::string& remote_message() const { return message_; }
  const std::string& key() const { return key_; }

 private:
  std::string function_, type_, message_, key_;
};

// result() of a cancelled future.
class CancelledError : public Error {
  using Error::Error;
};

namespace detail {

struct FutureState;

// Whoever resolves futures (the executor): told when the last handle on a future goes, and
// when one is cancelled.
class FutureOwner {
 public:
  virtual ~FutureOwner() = default;
  virtual void release(const std::string& key, const std::string& sid) = 0;
  virtual void cancelled(const std::shared_ptr<FutureState>& state) = 0;
};

// What every future shares: filled in once by the executor's collector thread.
struct FutureState {
  enum Phase : uint8_t { PENDING, OK, FAILED, CANCELLED };
  std::string key;  // what identical pure submissions share
  std::string sid;  // this submission: names its result variable in the manager
  std::string function;
  std::string record;  // the task as sent (re-sent if the manager restarts before it is done)
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  Phase phase = PENDING;
  std::string payload;  // OK: the encoded result
  std::string err_type, err_message;
  // Run once, when it leaves PENDING; the number lets a waiter that gave up remove its own.
  std::vector<std::pair<uint64_t, std::function<void()>>> callbacks;
  uint64_t next_callback = 0;
  std::vector<std::shared_ptr<FutureState>> deps;  // kept until this one resolves
  std::weak_ptr<FutureOwner> owner;
  std::string actor;  // non-empty for actor calls and creations
  ~FutureState();

  bool done() const {
    std::lock_guard lk(mu);
    return phase != PENDING;
  }
  // Moves PENDING to `to` and runs the callbacks; false if it had resolved already.
  bool resolve(Phase to, std::string payload_or_type, std::string message = {});
  // Runs f when resolved (at once, on this thread, if it is).
  // Returns a number for forget(), or 0 when f ran at once (it had resolved).
  uint64_t on_done(std::function<void()> f);
  void forget(uint64_t callback);
  void wait() const;
  bool wait_until(std::chrono::steady_clock::time_point t) const;
  // Throws the failure (RemoteError, CancelledError) if it failed; call when resolved.
  void rethrow() const;
  std::exception_ptr exception() const;
};

}  // namespace detail

// The part of a future that does not depend on its type.
class FutureBase {
 public:
  FutureBase() = default;
  explicit FutureBase(std::shared_ptr<detail::FutureState> st) : st_(std::move(st)) {}
  bool valid() const { return static_cast<bool>(st_); }
  bool done() const { return st_->done(); }
  // Cancels a task that has not finished: its future fails with CancelledError and workers
  // skip it if they have not started it. False when it had finished already.
  bool cancel();
  void wait() const { st_->wait(); }
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> timeout) const {
    return st_->wait_until(std::chrono::steady_clock::now() + timeout);
  }
  // Waits; nullptr when the task succeeded, else its RemoteError or CancelledError.
  std::exception_ptr exception() const {
    st_->wait();
    return st_->exception();
  }
  const std::string& key() const { return st_->key; }
  const std::shared_ptr<detail::FutureState>& state() const { return st_; }

 protected:
  std::shared_ptr<detail::FutureState> st_;
};

template <class T>
class Future : public FutureBase {
 public:
  using FutureBase::FutureBase;
  using value_type = T;
  // Waits for the result; throws RemoteError / CancelledError if the task failed.
  T result() const {
    st_->wait();
    return value();
  }
  template <class Rep, class Period>
  T result(std::chrono::duration<Rep, Period> timeout) const {
    if (!wait(timeout))
      throw TimeoutError(Status::TIMEOUT, "task '" + key() + "' did not finish within the timeout");
    return value();
  }
  // Calls f(future) once it is done: at once if it is, else on the executor's thread (keep f
  // short, or hand the work to your own loop). See depot/executor/asio_await.h for co_await.
  template <class F>
  void then(F f) const {
    Future<T> self = *this;
    st_->on_done([self, f = std::move(f)]() mutable { f(self); });
  }

 private:
  T value() const {
    st_->rethrow();
    if constexpr (!std::is_void_v<T>) return Codec<T>::decode(st_->payload);
  }
};

enum class ReturnWhen : uint8_t { FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::FIRST_COMPLETED;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::FIRST_EXCEPTION;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::ALL_COMPLETED;

template <class F>
struct DoneAndNotDone {
  std::vector<F> done;
  std::vector<F> not_done;
};

namespace detail {
// Waits until `when` holds for the states, or the deadline; returns which are done.
std::vector<bool> wait_states(const std::vector<std::shared_ptr<FutureState>>& states,
                              std::optional<std::chrono::steady_clock::time_point> deadline,
                              ReturnWhen when);
}  // namespace detail

// As Python's concurrent.futures.wait: returns when the condition holds or the timeout passes.
template <class F>
DoneAndNotDone<F> wait(const std::vector<F>& futures, Timeout timeout = std::nullopt,
                       ReturnWhen when = ALL_COMPLETED) {
  std::vector<std::shared_ptr<detail::FutureState>> st;
  st.reserve(futures.size());
  for (const auto& f : futures) st.push_back(f.state());
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
  auto done = detail::wait_states(st, deadline, when);
  DoneAndNotDone<F> out;
  for (size_t i = 0; i < futures.size(); ++i)
    (done[i] ? out.done : out.not_done).push_back(futures[i]);
  return out;
}

// Yields futures in the order they complete: for (auto& f : depot::as_completed(fs)) ...
template <class F>
class AsCompleted {
 public:
  explicit AsCompleted(std::vector<F> futures) : q_(std::make_shared<Shared>()) {
    q_->total = futures.size();
    for (auto& f : futures) {
      auto q = q_;
      F copy = f;
      f.state()->on_done([q, copy] {
        std::lock_guard lk(q->mu);
        q->ready.push_back(copy);
        q->cv.notify_all();
      });
    }
  }
  class iterator {
   public:
    iterator(AsCompleted* owner, bool end) : owner_(owner), end_(end) {
      if (!end_) advance();
    }
    const F& operator*() const { return cur_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    bool operator!=(const iterator& o) const { return end_ != o.end_; }
    bool operator==(const iterator& o) const { return end_ == o.end_; }

   private:
    void advance() {
      auto& q = *owner_->q_;
      std::unique_lock lk(q.mu);
      if (q.taken == q.total) {
        end_ = true;
        return;
      }
      q.cv.wait(lk, [&] { return !q.ready.empty(); });
      cur_ = std::move(q.ready.front());
      q.ready.pop_front();
      ++q.taken;
    }
    AsCompleted* owner_;
    bool end_;
    F cur_;
  };
  iterator begin() { return iterator(this, false); }
  iterator end() { return iterator(this, true); }

 private:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<F> ready;
    size_t total = 0, taken = 0;
  };
  std::shared_ptr<Shared> q_;
};

template <class F>
AsCompleted<F> as_completed(const std::vector<F>& futures) {
  return AsCompleted<F>(futures);
}

}  // namespace depot
