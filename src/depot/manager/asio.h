// The one place that includes Asio. Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it is included first. Only manager/*.cpp and tools include this.
#pragma once
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on

namespace asio = boost::asio;
