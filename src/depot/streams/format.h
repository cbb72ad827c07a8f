// Python-style text of values, for printing what flows through a stream the way the streamz
// walkthrough prints it and for describing the input of a failed step in StreamError.
//   repr(3) == "3", repr(2.5) == "2.5", repr(4.0) == "4.0", repr(std::string("a")) == "'a'",
//   repr(std::vector{1, 2}) == "[1, 2]", repr(std::tuple{1, 2}) == "(1, 2)",
//   repr_tuple(std::vector{0}) == "(0,)"  (a streamz partition/sliding_window prints tuples)
// Types it does not know are printed with operator<< when they have one, else as <type>.
#pragma once
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <deque>
#include <iterator>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace depot::stream {

template <class T>
std::string repr(const T& x);

// A deque with a maximum length, like Python's deque([], maxlen): a push beyond the length
// drops the oldest item. maxlen 0 means unbounded. collect() can keep its items in one the
// caller owns, so the most recent items can be read outside the stream.
template <class T>
class BoundedDeque {
 public:
  using value_type = T;
  explicit BoundedDeque(std::size_t maxlen = 0) : maxlen_(maxlen) {}
  void push_back(const T& x) {
    if (maxlen_ != 0 && items_.size() == maxlen_) items_.pop_front();
    items_.push_back(x);
  }
  void clear() { items_.clear(); }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::size_t maxlen() const { return maxlen_; }
  const T& operator[](std::size_t i) const { return items_[i]; }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::size_t maxlen_;
  std::deque<T> items_;
};

namespace detail {

template <class T>
concept Streamable = requires(std::ostream& os, const T& x) {
  os << x;
};
template <class T>
concept TupleLike = requires {
  std::tuple_size<T>::value;
}
&&!requires(const T& x) {
  std::begin(x);
};
template <class T>
concept Range = requires(const T& x) {
  std::begin(x);
  std::end(x);
};
template <class T>
struct IsBoundedDeque : std::false_type {};
template <class T>
struct IsBoundedDeque<BoundedDeque<T>> : std::true_type {};

inline std::string repr_string(std::string_view s) {
  // Python uses single quotes unless the text has one and no double quote.
  const bool dq = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == '\\' || c == q) out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += q;
  return out;
}

inline std::string repr_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  // Shortest text that reads back as the same double, as Python's repr.
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

template <class R>
std::string join(const R& r, const char* open, const char* close, bool tuple) {
  std::string out = open;
  std::size_t n = 0;
  for (const auto& x : r) {
    if (n++) out += ", ";
    out += repr(x);
  }
  if (tuple && n == 1) out += ",";
  out += close;
  return out;
}

template <class T, std::size_t... I>
std::string repr_tuple_like(const T& t, std::index_sequence<I...>) {
  std::string out = "(";
  ((out += (I ? ", " : ""), out += repr(std::get<I>(t))), ...);
  if (sizeof...(I) == 1) out += ",";
  return out + ")";
}

}  // namespace detail

template <class T>
std::string repr(const T& x) {
  if constexpr (std::is_same_v<T, bool>) {
    return x ? "True" : "False";
  } else if constexpr (std::is_same_v<T, char>) {
    return detail::repr_string(std::string_view(&x, 1));
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(x);
  } else if constexpr (std::is_floating_point_v<T>) {
    return detail::repr_double(static_cast<double>(x));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return detail::repr_string(std::string_view(x));
  } else if constexpr (detail::IsBoundedDeque<T>::value) {
    return "deque(" + detail::join(x, "[", "]", false) + ")";
  } else if constexpr (detail::TupleLike<T>) {
    return detail::repr_tuple_like(x, std::make_index_sequence<std::tuple_size_v<T>>{});
  } else if constexpr (requires {
                         x.has_value();
                         *x;
                       }) {
    return x.has_value() ? repr(*x) : std::string("None");
  } else if constexpr (requires { typename T::mapped_type; } && detail::Range<T>) {
    std::string out = "{";
    std::size_t n = 0;
    for (const auto& [k, v] : x) {
      if (n++) out += ", ";
      out += repr(k) + ": " + repr(v);
    }
    return out + "}";
  } else if constexpr (detail::Range<T>) {
    return detail::join(x, "[", "]", false);
  } else if constexpr (detail::Streamable<T>) {
    std::ostringstream os;
    os << x;
    return os.str();
  } else {
    return std::string("<") + typeid(T).name() + ">";
  }
}

// The items of a range as a Python tuple: "(0, 1, 2)", "(0,)", "()".
template <class R>
std::string repr_tuple(const R& r) {
  return detail::join(r, "(", ")", true);
}

}  // namespace depot::stream
