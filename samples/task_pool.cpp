// task_pool: a worker process for the "pool" executor. It serves square, sum, increment,
// slow_increment, fib, sleep_ms, fail and the Counter actor (samples/pool_functions.h)
// until it is stopped (SIGINT/SIGTERM). Start one or more, then run futures_sum.
//
//   task_pool --address 127.0.0.1:5000 --authkey abc [--threads 1] [--pool pool]
//             [--give-up-ms 60000 | --wait-forever]
//
// A manager that goes away briefly (a restart) is reconnected to; one that stays away
// longer than the give-up time (a minute unless --give-up-ms says otherwise) ends the
// worker with a message and exit code 1, unless --wait-forever.
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
  const auto args =
      sample::parse(argc, argv,
                    "usage: task_pool --address HOST:PORT --authkey KEY [--threads 1] "
                    "[--pool pool] [--give-up-ms MS | --wait-forever]\n");
  const long threads = args.num("threads", 1);
  if (threads < 1 || threads > 1024)
    sample::usage_error(args.program, "--threads takes 1 to 1024", args.usage);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  return sample::run_main(args.program, [&] {
    depot::Client client(args.address, args.authkey, args.client_options());
    depot::WorkerOptions opt;
    opt.threads = static_cast<uint32_t>(threads);
    depot::Worker worker(client, args.get("pool", "pool"), opt);
    sample::register_pool(worker);
    running = &worker;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::optional<sample::GiveUpWatch> watch;
    if (!args.wait_forever) watch.emplace(client, args.give_up, [&] { worker.stop(); });
    worker.start();  // subscribed and serving before it says so
    std::printf("task_pool: serving pool '%s' with %u thread(s)\n",
                args.get("pool", "pool").c_str(), opt.threads);
    worker.run();
    running = nullptr;
    if (watch && watch->gave_up()) {
      std::fprintf(stderr, "task_pool: %s\n", watch->message().c_str());
      return 1;
    }
    std::printf("task_pool: stopped after %llu tasks\n",
                static_cast<unsigned long long>(worker.tasks_done()));
    return 0;
  });
}
