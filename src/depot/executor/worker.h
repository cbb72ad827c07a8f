// depot::Worker: runs registered functions and actor classes for a pool (docs/executor.md).
//
//   depot::Worker w(client, "pool", {.threads = 2});
//   w.def("square", [](long x) { return x * x; });
//   w.actor<Counter>("Counter").method("increment", &Counter::increment).attribute("n",
//   &Counter::n); w.run();   // until w.stop()
//
// Tasks are taken from "<pool>.tasks" as reservations, so a task whose worker dies runs on
// another one; see depot/executor/executor.h for the submitting side.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "depot/client/codec.h"
#include "depot/executor/invoke.h"

namespace depot {

class Client;

struct WorkerOptions {
  uint32_t threads = 1;  // tasks run on this many threads at once
  // Tasks taken per round trip at most; the worker takes fewer while tasks are slow, so
  // idle workers are not starved.
  uint32_t max_batch = 256;
  // How long this worker may hold a task (or an actor call) before the manager assumes it
  // hung and hands it to another. A worker that dies is noticed at once, through its session.
  std::chrono::milliseconds task_timeout{3'600'000};
  // Hears of a one-way actor call (Actor::send) that failed here, since no caller waits for
  // it: the actor id, the method, the error's type and message. Called on the actor's thread.
  // Unset: one line on stderr.
  std::function<void(const std::string& actor, const std::string& method, const std::string& type,
                     const std::string& message)>
      on_send_error = nullptr;
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
struct WorkerCore;
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
