// The one place that includes Asio. Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it is included first. Only manager/*.cpp and tools include this.
#pragma once
#include <utility>
#include <boost/asio.hpp>

namespace asio = boost::asio;
