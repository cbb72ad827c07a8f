// task_worker: takes tasks from the shared queue, squares them and puts the results back.
// Run as many as you like, on any machine that reaches the manager. It exits when the task
// queue stays empty for 1 s.
//
//   task_worker --address 127.0.0.1:5000 --authkey abc [--work-ms 1000]
//
// --work-ms is the time each task "works" (1 s by default); pass 0 to go as fast as possible.
//
// Each task is taken as a reservation and acknowledged only after its result is in the
// results queue: a worker interrupted in between (killed, crashed, its machine gone) loses
// nothing, as the manager hands the task to another worker once this one's session ends (or
// its reservation's visibility timeout passes). A task may then run twice (when a worker dies
// after putting the result but before acking), never zero times.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "depot/client/client.h"
#include "sample_args.h"

int main(int argc, char** argv) {
  const auto args =
      sample::parse(argc, argv,
                    "usage: task_worker --address HOST:PORT --authkey KEY [--work-ms 1000]\n"
                    "                   [--give-up-ms MS | --wait-forever]\n");
  const long work_ms = args.num("work-ms", 1000);
  if (work_ms < 0) sample::usage_error(args.program, "--work-ms takes 0 or more", args.usage);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows up even when redirected
  return sample::run_main(args.program, [&] {
    std::printf("Connect to server %s...\n", args.address.c_str());
    depot::Client client(args.address, args.authkey, args.client_options());
    auto task = client.queue<int>("tasks");
    auto result = client.queue<long>("results");
    // Long enough for the work, so a slow task is not handed to a second worker meanwhile.
    const auto visibility = std::chrono::milliseconds(std::max(30'000L, 10 * work_ms));
    for (;;) {
      depot::Reservation<int> r;
      try {
        r = task.reserve(std::chrono::seconds(1), visibility);
      } catch (const depot::TimeoutError&) {
        std::printf("task queue is empty.\n");
        break;
      }
      const int n = r.value;
      std::printf("run task %d * %d...\n", n, n);
      std::fflush(stdout);
      const long sq = static_cast<long>(n) * n;
      if (work_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(work_ms));
      result.put(sq);
      task.ack(r.id);  // only now is the task done: until here it comes back if we die
    }
    std::printf("worker exit.\n");
    return 0;
  });
}
