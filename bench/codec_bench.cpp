// Codec<T>'s portable encoding (client/msgpack.h, hand-written MessagePack) against the
// Boost.Serialization binary archive it replaces for containers, and msgpack-cxx (Debian's
// libmsgpack-cxx-dev) when installed: encode and decode time per value, and size.
// Results and the command: bench/RESULTS.md, "Value encodings". Python's figures for the
// same values: bench/python/codec_bench.py.
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "depot/client/codec.h"

#if __has_include(<msgpack.hpp>)
#include <msgpack.hpp>
#define HAVE_MSGPACK_CXX 1
#endif

namespace {

struct Record {
  int id = 0;
  double score = 0;
  std::string name;
  std::vector<int> tags;
  bool active = false;
  DEPOT_FIELDS(id, score, name, tags, active);
  template <class A>
  void serialize(A& a, unsigned) {
    a& id& score& name& tags& active;
  }
#ifdef HAVE_MSGPACK_CXX
  MSGPACK_DEFINE(id, score, name, tags, active);
#endif
  bool operator==(const Record&) const = default;
};

template <class T>
std::string boost_encode(const T& v) {
  std::ostringstream os;
  {
    boost::archive::binary_oarchive ar(os, boost::archive::no_header);
    ar << v;
  }
  return std::move(os).str();
}
template <class T>
T boost_decode(const std::string& b) {
  std::istringstream is(b);
  boost::archive::binary_iarchive ar(is, boost::archive::no_header);
  T v{};
  ar >> v;
  return v;
}

#ifdef HAVE_MSGPACK_CXX
template <class T>
std::string cxx_encode(const T& v) {
  msgpack::sbuffer sb;
  msgpack::pack(sb, v);
  return std::string(sb.data(), sb.size());
}
template <class T>
T cxx_decode(const std::string& b) {
  msgpack::object_handle oh = msgpack::unpack(b.data(), b.size());
  return oh.get().as<T>();
}
#endif

volatile size_t g_sink;

// Keeps a decoded value from being optimised away.
template <class T>
void keep(const T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

// ns per call of f, over enough calls to take ~0.2 s.
template <class F>
double time_ns(F f) {
  using C = std::chrono::steady_clock;
  size_t n = 1;
  for (;;) {
    const auto t0 = C::now();
    for (size_t i = 0; i < n; ++i) f();
    const double ns = std::chrono::duration<double, std::nano>(C::now() - t0).count();
    if (ns > 2e8) return ns / static_cast<double>(n);
    n *= 2;
  }
}

template <class T>
void row(const char* what, const T& v) {
  const std::string mp = depot::Codec<T>::encode(v);
  const std::string bo = boost_encode(v);
  if (!(depot::Codec<T>::decode(mp) == v) || !(boost_decode<T>(bo) == v)) {
    std::fprintf(stderr, "codec_bench: %s does not round-trip\n", what);
    std::exit(1);
  }
  auto line = [&](const char* codec, size_t size, double enc, double dec) {
    std::printf("%-22s %-16s %7zu %10.0f %10.0f\n", what, codec, size, enc, dec);
  };
  line("depot msgpack", mp.size(), time_ns([&] { g_sink = depot::Codec<T>::encode(v).size(); }),
       time_ns([&] { keep(depot::Codec<T>::decode(mp)); }));
  line("boost binary", bo.size(), time_ns([&] { g_sink = boost_encode(v).size(); }),
       time_ns([&] { keep(boost_decode<T>(bo)); }));
#ifdef HAVE_MSGPACK_CXX
  const std::string cx = cxx_encode(v);
  if (cx != mp)
    std::fprintf(stderr, "codec_bench: note: msgpack-cxx writes other bytes for %s\n", what);
  line("msgpack-cxx", cx.size(), time_ns([&] { g_sink = cxx_encode(v).size(); }),
       time_ns([&] { keep(cxx_decode<T>(cx)); }));
#endif
}

}  // namespace

int main() {
  std::vector<int> ints(1000);
  for (size_t i = 0; i < ints.size(); ++i) ints[i] = static_cast<int>(i * 37);
  std::map<std::string, int> dict;
  for (int i = 0; i < 100; ++i) dict["key-" + std::to_string(i)] = i * 1000;
  const Record rec{42, 3.25, "sensor-17", {1, 2, 3}, true};
  std::vector<std::string> strs;
  for (int i = 0; i < 100; ++i) strs.push_back("item-" + std::to_string(i));
  std::printf("%-22s %-16s %7s %10s %10s\n", "value", "codec", "bytes", "encode ns", "decode ns");
  row("vector<int> x1000", ints);
  row("map<string,int> x100", dict);
  row("struct of 5 fields", rec);
  row("vector<string> x100", strs);
}
