// How a worker calls a registered function with a task's arguments: each argument is
// decoded (depot::Codec) as the type the function declares. Used by depot/executor/worker.h.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

// Task arguments are often vectors and strings (sum of a list of futures): their
// Boost.Serialization support comes with the executor.
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "depot/client/codec.h"
#include "depot/client/errors.h"
#include "depot/executor/task.h"

namespace depot::detail {

// One argument of a task as the worker sees it: a value's bytes, or the result bytes of one
// or several futures the task depends on (fetched by the worker, not the submitter).
struct ArgSlot {
  task::ArgTag tag = task::ArgTag::VALUE;
  std::string_view bytes;              // VALUE and FUTURE
  std::vector<std::string_view> list;  // FUTURES
};
using Args = std::vector<ArgSlot>;

template <class T>
struct is_vector : std::false_type {};
template <class E, class A>
struct is_vector<std::vector<E, A>> : std::true_type {
  using element = E;
};

// Decodes parameter P of a registered function from its slot.
template <class P>
P decode_arg(const ArgSlot& s) {
  if (s.tag == task::ArgTag::FUTURES) {
    if constexpr (is_vector<P>::value && !std::is_same_v<P, std::vector<char>>) {
      using E = typename is_vector<P>::element;
      P out;
      out.reserve(s.list.size());
      for (auto b : s.list) out.push_back(Codec<E>::decode(b));
      return out;
    } else {
      throw CodecError("a list of futures was passed where the function takes a single value");
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
      throw CodecError("function '" + name + "' takes " + std::to_string(n) +
                       " arguments, the task has " + std::to_string(args.size()));
    return invoke_decoded<Tuple>(f, args, std::make_index_sequence<n>{});
  };
}

}  // namespace depot::detail
