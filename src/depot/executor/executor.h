// Futures, an executor and actors over a manager (docs/executor.md).
//
//   // worker program                          // master program
//   depot::Worker w(client, "pool");           depot::Executor ex(client, "pool");
//   w.def("square", [](int x) { return x * x; });   auto f = ex.submit<int>("square", 3);
//   w.run();                                   int nine = f.result();
//
// Tasks travel through the manager's queue "<pool>.tasks" as reservations: a worker that
// dies mid-task gives its task back (its session ends) and another worker runs it
// (at-least-once, up to ExecutorOptions::max_retries retries). Results are stored in the
// manager ("<pool>.r.<submission>") until the last future for them is dropped, and announced to
// the submitting executor through its own queue; a task whose arguments are futures runs
// once they are done, and its worker fetches their values from the manager.
#pragma once
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "depot/client/client.h"
#include "depot/executor/executor_detail.h"

namespace depot {

// A task raised an exception on its worker (or could not run there).
class RemoteError : public Error {
 public:
  RemoteError(std::string function, std::string type, std::string message, std::string key)
      : Error(Status::OK, "task '" + key + "' (" + function + ") raised " + type + ": " + message),
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
  // short, or hand the work to your own loop). See client/asio_await.h for co_await.
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

struct ExecutorOptions {
  // A task whose worker died is run again on another worker this many times, then its
  // future fails with RemoteError type "depot::WorkerLost".
  uint32_t max_retries = 2;
};

struct SubmitOptions {
  // Pure tasks (the default) are keyed by function and arguments: identical submissions
  // share one task and one result while a future for it exists. false: always a new task.
  bool pure = true;
  std::string key;  // explicit key (overrides the computed one)
  int32_t priority = 0;
};

struct ActorOptions {
  // The worker stores the actor's state in the manager after each call; when its worker
  // dies, the next call recreates it on another worker from that snapshot. The class must
  // have a Codec (Boost.Serialization by default) and be registered with resilient().
  bool resilient = false;
};

class Executor;
namespace detail {
struct ActorState;
}

// A handle on an actor: an instance of a class registered by workers, living on one worker.
// Calls run one at a time, in the order they reach the manager.
class Actor {
 public:
  Actor() = default;
  template <class R = void, class... A>
  Future<R> call(const std::string& method, const A&... args);
  // Reads an attribute (ordered with the calls).
  template <class R>
  R get(const std::string& attribute) {
    return Future<R>(call_raw(4, attribute, {})).result();
  }
  // Frees the instance on its worker; later calls fail. Waits for the worker to confirm.
  void close();
  const std::string& id() const;
  const std::string& class_name() const;

 private:
  friend class Executor;
  std::shared_ptr<detail::FutureState> call_raw(uint8_t kind, const std::string& name,
                                                std::vector<detail::EncodedArg> args);
  std::shared_ptr<detail::ActorState> st_;
};

class Executor {
 public:
  Executor(Client& client, std::string pool, ExecutorOptions options = {});
  ~Executor();  // pending futures fail with CancelledError
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  template <class R, class... A>
  Future<R> submit(const std::string& function, const A&... args) {
    return submit_with<R>(SubmitOptions{}, function, args...);
  }
  template <class R, class... A>
  Future<R> submit_with(const SubmitOptions& opt, const std::string& function, const A&... args) {
    return Future<R>(submit_encoded(opt, function, {encode_arg(args)...}));
  }
  // One task per input, sent in one round trip.
  template <class R, class A>
  std::vector<Future<R>> map(const std::string& function, const std::vector<A>& inputs,
                             const SubmitOptions& opt = {}) {
    std::vector<std::vector<detail::EncodedArg>> all;
    all.reserve(inputs.size());
    for (const auto& in : inputs) {
      std::vector<detail::EncodedArg> one;
      one.push_back(encode_arg(in));
      all.push_back(std::move(one));
    }
    auto states = map_encoded(opt, function, std::move(all));
    std::vector<Future<R>> out;
    out.reserve(states.size());
    for (auto& s : states) out.emplace_back(std::move(s));
    return out;
  }

  // Creates an instance of a class registered by the workers; blocks until one of them has it.
  Actor actor(const std::string& class_name, const ActorOptions& options = {});

  const std::string& pool() const;
  Client& client() const;

  template <class A>
  static detail::EncodedArg encode_arg(const A& a) {
    detail::EncodedArg e;
    if constexpr (detail::is_future<A>::value) {
      e.tag = detail::ArgSlot::FUTURE;
      e.keys.push_back(a.state()->sid);
      e.deps.push_back(a.state());
    } else if constexpr (detail::is_future_vector<A>::value) {
      e.tag = detail::ArgSlot::FUTURES;
      for (const auto& f : a) {
        e.keys.push_back(f.state()->sid);
        e.deps.push_back(f.state());
      }
    } else if constexpr (std::is_convertible_v<const A&, std::string_view> &&
                         !std::is_same_v<A, std::string>) {
      e.bytes = std::string(std::string_view(a));
    } else {
      e.bytes = Codec<A>::encode(a);
    }
    return e;
  }

 private:
  friend class Actor;
  std::shared_ptr<detail::FutureState> submit_encoded(const SubmitOptions& opt,
                                                      const std::string& function,
                                                      std::vector<detail::EncodedArg> args);
  std::vector<std::shared_ptr<detail::FutureState>> map_encoded(
      const SubmitOptions& opt, const std::string& function,
      std::vector<std::vector<detail::EncodedArg>> args);
  std::shared_ptr<detail::ExecutorCore> core_;
};

template <class R, class... A>
Future<R> Actor::call(const std::string& method, const A&... args) {
  return Future<R>(call_raw(3, method, {Executor::encode_arg(args)...}));
}

struct WorkerOptions {
  uint32_t threads = 1;  // tasks run on this many threads at once
  // Tasks taken per round trip at most; the worker takes fewer while tasks are slow, so
  // idle workers are not starved.
  uint32_t max_batch = 256;
  // How long this worker may hold a task (or an actor call) before the manager assumes it
  // hung and hands it to another. A worker that dies is noticed at once, through its session.
  std::chrono::milliseconds task_timeout{3'600'000};
};

namespace detail {
// How a worker makes, calls and snapshots instances of one actor class.
struct ActorDef {
  std::function<std::shared_ptr<void>()> make;
  std::map<std::string, std::function<std::string(void*, const Args&)>> methods;
  std::map<std::string, std::function<std::string(void*)>> attributes;
  std::function<std::string(void*)> snapshot;
  std::function<std::shared_ptr<void>(std::string_view)> restore;
};
}  // namespace detail

// A class workers can instantiate as an actor.
template <class C>
class ActorClass {
 public:
  template <class R, class... A>
  ActorClass& method(const std::string& name, R (C::*m)(A...)) {
    def_->methods[name] = [m, name](void* self, const detail::Args& args) {
      auto f = [self, m](std::decay_t<A>... a) -> R {
        return (static_cast<C*>(self)->*m)(std::move(a)...);
      };
      return detail::make_invoker(f, name)(args);
    };
    return *this;
  }
  template <class R, class... A>
  ActorClass& method(const std::string& name, R (C::*m)(A...) const) {
    def_->methods[name] = [m, name](void* self, const detail::Args& args) {
      auto f = [self, m](std::decay_t<A>... a) -> R {
        return (static_cast<const C*>(self)->*m)(std::move(a)...);
      };
      return detail::make_invoker(f, name)(args);
    };
    return *this;
  }
  template <class T>
  ActorClass& attribute(const std::string& name, T C::*a) {
    def_->attributes[name] = [a](void* self) {
      return Codec<T>::encode(static_cast<C*>(self)->*a);
    };
    return *this;
  }
  // State snapshots through Codec<C>, so the actor survives its worker (ActorOptions).
  ActorClass& resilient() {
    def_->snapshot = [](void* self) { return Codec<C>::encode(*static_cast<C*>(self)); };
    def_->restore = [](std::string_view b) {
      return std::shared_ptr<void>(new C(Codec<C>::decode(b)),
                                   [](void* p) { delete static_cast<C*>(p); });
    };
    return *this;
  }

  using Def = detail::ActorDef;
  explicit ActorClass(std::shared_ptr<Def> d) : def_(std::move(d)) {
    def_->make = [] {
      return std::shared_ptr<void>(new C(), [](void* p) { delete static_cast<C*>(p); });
    };
  }

 private:
  std::shared_ptr<Def> def_;
};

namespace detail {
struct WorkerCore;
}  // namespace detail

// Runs registered functions and actors for a pool. Register everything, then run().
class Worker {
 public:
  Worker(Client& client, std::string pool, WorkerOptions options = {});
  ~Worker();  // stops and joins
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  template <class F>
  Worker& def(const std::string& name, F f) {
    add_function(name, detail::make_invoker(std::move(f), name));
    return *this;
  }
  template <class C>
  ActorClass<C> actor(const std::string& class_name) {
    auto d = std::make_shared<detail::ActorDef>();
    ActorClass<C> c(d);
    add_actor_class(class_name, d);
    return c;
  }
  // Serves tasks until stop() (from another thread or a signal handler's thread).
  void run();
  // Serves tasks on background threads; returns at once.
  void start();
  void stop();
  // Tasks this worker has finished (successfully or not).
  uint64_t tasks_done() const;

 private:
  void add_function(const std::string& name, detail::Invoker f);
  void add_actor_class(const std::string& name, std::shared_ptr<detail::ActorDef> d);
  std::shared_ptr<detail::WorkerCore> core_;
};

}  // namespace depot
