// The executor and actors over a manager (docs/executor.md); futures are in
// depot/executor/future.h, workers in depot/executor/worker.h (both included here).
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
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "depot/client/client.h"
#include "depot/executor/future.h"
#include "depot/executor/task.h"
#include "depot/executor/worker.h"

namespace depot {

struct ExecutorOptions {
  // A task whose worker died is run again on another worker this many times, then its
  // future fails with RemoteError type "depot::WorkerLost".
  uint32_t max_retries = 2;
  // What this executor keeps in the manager (its marker, done queue, results and start
  // counters) is held by a lease, "<pool>.lease.<id>" (docs/executor.md, "A master that
  // dies"): when the program dies, or its connection stays down, for orphan_grace, the manager
  // deletes them, workers drop its queued tasks, and for orphan_fence after that a worker
  // that finishes one of its tasks stores nothing.
  std::chrono::milliseconds orphan_grace{30'000};
  std::chrono::milliseconds orphan_fence{3'600'000};
};

struct SubmitOptions {
  // Pure tasks (the default) are keyed by function and arguments: identical submissions
  // share one task and one result while a future for it exists. false: always a new task.
  bool pure = true;
  std::string key;  // explicit key (overrides the computed one)
  int32_t priority = 0;
  // How long submit(), submit_with() and map() may block sending: reconnecting to a manager
  // that is away, or waiting for room in a bounded "<pool>.tasks" queue. When it passes they
  // return anyway, with the futures failed: result() throws RemoteError of type
  // "depot::SubmitFailed" (they never throw for it themselves). nullopt: a manager that is
  // away is waited for up to the client's ClientOptions::reconnect_give_up, and a full queue
  // forever.
  std::optional<std::chrono::milliseconds> timeout;
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
class ExecutorCore;

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {};
template <class T>
struct is_future_vector : std::false_type {};
template <class T>
struct is_future_vector<std::vector<Future<T>>> : std::true_type {};
}  // namespace detail

// A handle on an actor: an instance of a class registered by workers, living on one worker.
// Calls run one at a time, in the order they reach the manager.
class Actor {
 public:
  Actor() = default;
  template <class R = void, class... A>
  Future<R> call(const std::string& method, const A&... args);
  // A one-way call, as in the actor model (the cookbook's send): queued in order with the
  // calls and run once, but nobody waits for it and nothing is stored for it. Returns once the
  // manager has it in the actor's mailbox; a later call's (or close()'s) answer means it ran.
  // If it fails on the worker, WorkerOptions::on_send_error hears of it there.
  template <class... A>
  void send(const std::string& method, const A&... args);
  // Reads an attribute (ordered with the calls).
  template <class R>
  R get(const std::string& attribute) {
    return Future<R>(call_raw(task::Kind::ACTOR_GET, attribute, {})).result();
  }
  // Frees the instance on its worker; later calls fail. Waits for the worker to confirm.
  void close();
  const std::string& id() const;
  const std::string& class_name() const;

 private:
  friend class Executor;
  std::shared_ptr<detail::FutureState> call_raw(task::Kind kind, const std::string& name,
                                                std::vector<task::EncodedArg> args);
  void send_raw(const std::string& name, std::vector<task::EncodedArg> args);
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
  // One task per input, sent in one round trip (opt.timeout bounds the whole of it).
  template <class R, class A>
  std::vector<Future<R>> map(const std::string& function, const std::vector<A>& inputs,
                             const SubmitOptions& opt = {}) {
    std::vector<std::vector<task::EncodedArg>> all;
    all.reserve(inputs.size());
    for (const auto& in : inputs) {
      std::vector<task::EncodedArg> one;
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
  static task::EncodedArg encode_arg(const A& a) {
    task::EncodedArg e;
    if constexpr (detail::is_future<A>::value) {
      e.tag = task::ArgTag::FUTURE;
      e.keys.push_back(a.state()->sid);
      e.deps.push_back(a.state());
    } else if constexpr (detail::is_future_vector<A>::value) {
      e.tag = task::ArgTag::FUTURES;
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
                                                      std::vector<task::EncodedArg> args);
  std::vector<std::shared_ptr<detail::FutureState>> map_encoded(
      const SubmitOptions& opt, const std::string& function,
      std::vector<std::vector<task::EncodedArg>> args);
  std::shared_ptr<detail::ExecutorCore> core_;
};

template <class R, class... A>
Future<R> Actor::call(const std::string& method, const A&... args) {
  return Future<R>(call_raw(task::Kind::ACTOR_CALL, method, {Executor::encode_arg(args)...}));
}

template <class... A>
void Actor::send(const std::string& method, const A&... args) {
  send_raw(method, {Executor::encode_arg(args)...});
}

}  // namespace depot
