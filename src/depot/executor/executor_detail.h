// Internal to the executor: how arguments and results travel, and the shared state of a
// future. Users include client/executor.h.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

// Task arguments are often vectors and strings (sum of a list of futures): their
// Boost.Serialization support comes with the executor.
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "depot/client/codec.h"
#include "depot/client/errors.h"

namespace depot {

template <class T>
class Future;

namespace detail {

class ExecutorCore;

// One argument of a task as the worker sees it: a value's bytes, or the result bytes of one
// or several futures the task depends on (fetched by the worker, not the submitter).
struct ArgSlot {
  enum Tag : uint8_t { VALUE = 0, FUTURE = 1, FUTURES = 2 };
  Tag tag = VALUE;
  std::string_view bytes;              // VALUE and FUTURE
  std::vector<std::string_view> list;  // FUTURES
};
using Args = std::vector<ArgSlot>;

// An argument as the submitter encodes it.
struct EncodedArg {
  ArgSlot::Tag tag = ArgSlot::VALUE;
  std::string bytes;              // VALUE
  std::vector<std::string> keys;  // submission ids: FUTURE (one) or FUTURES
  std::vector<std::shared_ptr<struct FutureState>> deps;
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
  std::weak_ptr<ExecutorCore> core;
  std::string actor;  // non-empty for actor calls
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

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {};
template <class T>
struct is_future_vector : std::false_type {};
template <class T>
struct is_future_vector<std::vector<Future<T>>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class E, class A>
struct is_vector<std::vector<E, A>> : std::true_type {
  using element = E;
};

// Decodes parameter P of a registered function from its slot.
template <class P>
P decode_arg(const ArgSlot& s) {
  if (s.tag == ArgSlot::FUTURES) {
    if constexpr (is_vector<P>::value && !std::is_same_v<P, std::vector<char>>) {
      using E = typename is_vector<P>::element;
      P out;
      out.reserve(s.list.size());
      for (auto b : s.list) out.push_back(Codec<E>::decode(b));
      return out;
    } else {
      throw CodecError(Status::OK,
                       "a list of futures was passed where the function takes a single value");
    }
  }
  return Codec<P>::decode(s.bytes);
}

// Call signature of a registered callable.
template <class F>
struct fn_traits : fn_traits<decltype(&F::operator())> {};
template <class R, class... A>
struct fn_traits<R (*)(A...)> {
  using ret = R;
  using args = std::tuple<std::decay_t<A>...>;
};
template <class R, class... A>
struct fn_traits<R(A...)> : fn_traits<R (*)(A...)> {};
template <class R, class C, class... A>
struct fn_traits<R (C::*)(A...) const> : fn_traits<R (*)(A...)> {};
template <class R, class C, class... A>
struct fn_traits<R (C::*)(A...)> : fn_traits<R (*)(A...)> {};

// Calls f with the slots decoded as its parameters; returns the encoded result.
template <class Tuple, class F, size_t... I>
std::string invoke_decoded(F& f, const Args& args, std::index_sequence<I...>) {
  using R = decltype(f(std::declval<std::tuple_element_t<I, Tuple>>()...));
  if constexpr (std::is_void_v<R>) {
    f(decode_arg<std::tuple_element_t<I, Tuple>>(args[I])...);
    return {};
  } else {
    return Codec<std::decay_t<R>>::encode(
        f(decode_arg<std::tuple_element_t<I, Tuple>>(args[I])...));
  }
}

using Invoker = std::function<std::string(const Args&)>;

template <class F>
Invoker make_invoker(F f, const std::string& name) {
  using Tuple = typename fn_traits<std::decay_t<F>>::args;
  constexpr size_t n = std::tuple_size_v<Tuple>;
  return [f = std::move(f), name](const Args& args) mutable -> std::string {
    if (args.size() != n)
      throw CodecError(Status::OK, "function '" + name + "' takes " + std::to_string(n) +
                                       " arguments, the task has " + std::to_string(args.size()));
    return invoke_decoded<Tuple>(f, args, std::make_index_sequence<n>{});
  };
}

}  // namespace detail
}  // namespace depot
