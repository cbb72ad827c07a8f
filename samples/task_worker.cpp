// task_worker: takes tasks from the shared queue, squares them and puts the results back:
// seed 004's task_worker.py, in C++. Run as many as you like, on any machine that reaches
// the manager. It exits when the task queue stays empty for 1 s.
//
//   task_worker --address 127.0.0.1:5000 --authkey abc [--work-ms 1000]
//
// --work-ms is the seed's time.sleep(1) per task; pass 0 to go as fast as possible.
#include <chrono>
#include <cstdio>
#include <thread>

#include "depot/client/client.h"
#include "sample_args.h"

int main(int argc, char** argv) {
  const auto args = sample::parse(
      argc, argv, "usage: task_worker --address HOST:PORT --authkey KEY [--work-ms 1000]\n");
  const long work_ms = args.num("work-ms", 1000);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows up even when redirected
  try {
    std::printf("Connect to server %s...\n", args.address.c_str());
    depot::ClientOptions options;
    options.user = args.user;
    depot::Client client(args.address, args.authkey, options);
    auto task = client.queue<int>("tasks");
    auto result = client.queue<long>("results");
    for (;;) {
      int n;
      try {
        n = task.get(std::chrono::seconds(1));
      } catch (const depot::TimeoutError&) {
        std::printf("task queue is empty.\n");
        break;
      }
      std::printf("run task %d * %d...\n", n, n);
      std::fflush(stdout);
      const long r = static_cast<long>(n) * n;
      if (work_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(work_ms));
      result.put(r);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "task_worker: %s\n", e.what());
    return 1;
  }
  std::printf("worker exit.\n");
  return 0;
}
