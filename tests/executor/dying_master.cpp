// depot-dying-master: an executor's master for the tests that SIGKILL it. It maps "square"
// (task_pool's) over N inputs from OFFSET, says "submitted", then waits for every result;
// the test kills it at a random moment before or after that.
//
//   depot-dying-master ADDR KEY POOL N OFFSET GRACE_MS FENCE_MS
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "depot/executor/executor.h"

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s ADDR KEY POOL N OFFSET GRACE_MS FENCE_MS\n", argv[0]);
    return 2;
  }
  try {
    depot::Client client(argv[1], argv[2]);
    depot::ExecutorOptions o;
    o.orphan_grace = std::chrono::milliseconds(std::stol(argv[6]));
    o.orphan_fence = std::chrono::milliseconds(std::stol(argv[7]));
    depot::Executor ex(client, argv[3], o);
    std::vector<long> xs(std::stoul(argv[4]));
    std::iota(xs.begin(), xs.end(), std::stol(argv[5]));
    auto squares = ex.map<long>("square", xs);
    std::printf("submitted\n");
    std::fflush(stdout);
    long sum = 0;
    for (auto& f : squares) sum += f.result();
    std::printf("done %ld\n", sum);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "depot-dying-master: %s\n", e.what());
    return 1;
  }
}
