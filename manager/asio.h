// The one place that includes Asio. Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so it is included first. Only manager/*.cpp and tools include this.
#pragma once
#include <boost/asio.hpp>
#include <utility>

namespace asio = boost::asio;
