// co_await a depot future from an Asio coroutine without blocking its event loop:
//
//   asio::awaitable<void> handle(depot::Executor& ex) {
//     long r = co_await depot::async_result(ex.submit<long>("fib", 28));   // loop keeps serving
//   }
//
// The future's completion is posted to the coroutine's executor, so the coroutine resumes
// on its own loop. Kept out of client/executor.h: only code that uses Asio pays for it.
#pragma once
#include <memory>
#include <utility>
// clang-format off
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
// clang-format on

#include "depot/executor/executor.h"

namespace depot {

// Waits for f without blocking the loop; returns its result or throws its error.
template <class T>
boost::asio::awaitable<T> async_result(Future<T> f) {
  auto ex = co_await boost::asio::this_coro::executor;
  co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void()>(
      [f, ex](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        f.then([h, ex](const Future<T>&) {
          boost::asio::post(ex, [h]() mutable { std::move (*h)(); });
        });
      },
      boost::asio::use_awaitable);
  co_return f.result();
}

}  // namespace depot
