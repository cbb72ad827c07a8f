// task_pool: a worker process for the "pool" executor. It serves square, sum, increment,
// slow_increment, fib, sleep_ms, fail and the Counter actor (samples/pool_functions.h)
// until it is stopped (SIGINT/SIGTERM). Start one or more, then run futures_sum.
//
//   task_pool --address 127.0.0.1:5000 --authkey abc [--threads 1] [--pool pool]
#include <csignal>
#include <cstdio>

#include "pool_functions.h"
#include "sample_args.h"

namespace {
depot::Worker* running = nullptr;
extern "C" void on_signal(int) {
  if (running) running->stop();  // only sets an atomic flag
}
}  // namespace

int main(int argc, char** argv) {
  const auto args = sample::parse(
      argc, argv,
      "usage: task_pool --address HOST:PORT --authkey KEY [--threads 1] [--pool pool]\n");
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    depot::ClientOptions options;
    options.user = args.user;
    depot::Client client(args.address, args.authkey, options);
    depot::WorkerOptions opt;
    opt.threads = static_cast<uint32_t>(args.num("threads", 1));
    depot::Worker worker(client, args.get("pool", "pool"), opt);
    sample::register_pool(worker);
    running = &worker;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::printf("task_pool: serving pool '%s' with %u thread(s)\n",
                args.get("pool", "pool").c_str(), opt.threads);
    worker.run();
    std::printf("task_pool: stopped after %llu tasks\n",
                static_cast<unsigned long long>(worker.tasks_done()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "task_pool: %s\n", e.what());
    return 1;
  }
  return 0;
}
