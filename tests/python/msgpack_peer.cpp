// The C++ side of python/tests/test_msgpack.py: puts and reads the portable values (Codec<T>
// as MessagePack) a Python client reads and writes with depot.codecs.MSGPACK.
//
//   depot-msgpack-peer ADDRESS AUTHKEY put QUEUE     puts kMap, then kPoint
//   depot-msgpack-peer ADDRESS AUTHKEY check QUEUE   gets a map then a Point, exit 0 if they
//                                                    are kMap and kPoint (else says what differs)
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "depot/client/client.h"

namespace {

struct Point {
  int x = 0;
  double y = 0;
  std::string label;
  std::vector<std::string> tags;
  std::optional<int> weight;
  DEPOT_FIELDS(x, y, label, tags, weight);
};

const std::map<std::string, std::vector<int>> kMap = {
    {"empty", {}}, {"small", {1, 2, 3}}, {"wide", {-1, 300, 70000, -2147483647 - 1}}};
const Point kPoint{7, 2.5, "été", {"a", "b"}, std::nullopt};

std::string show(const std::map<std::string, std::vector<int>>& m) {
  std::string s = "{";
  for (const auto& [k, v] : m) {
    s += k + ":[";
    for (int i : v) s += std::to_string(i) + ",";
    s += "] ";
  }
  return s + "}";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: depot-msgpack-peer ADDRESS AUTHKEY put|check QUEUE\n");
    return 2;
  }
  try {
    depot::Client c(argv[1], argv[2]);
    const std::string cmd = argv[3];
    if (cmd == "put") {
      c.queue<std::map<std::string, std::vector<int>>>(argv[4]).put(kMap);
      c.queue<Point>(argv[4]).put(kPoint);
      return 0;
    }
    const auto m = c.queue<std::map<std::string, std::vector<int>>>(argv[4]).get();
    const auto p = c.queue<Point>(argv[4]).get();
    int rc = 0;
    if (m != kMap) {
      std::fprintf(stderr, "the map read is %s, not %s\n", show(m).c_str(), show(kMap).c_str());
      rc = 1;
    }
    if (p.x != kPoint.x || p.y != kPoint.y || p.label != kPoint.label || p.tags != kPoint.tags ||
        p.weight != kPoint.weight) {
      std::fprintf(stderr, "the Point read is {%d, %g, %s, %zu tags, weight %s}\n", p.x, p.y,
                   p.label.c_str(), p.tags.size(), p.weight ? "set" : "unset");
      rc = 1;
    }
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "depot-msgpack-peer: %s\n", e.what());
    return 1;
  }
}
