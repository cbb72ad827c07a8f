// task_master: puts tasks into a shared queue and collects the results that workers
// (task_worker) put back, the classic multiprocessing.managers task/result exchange. With
// --embedded the master also runs the manager inside its own process, as a Python master
// does with manager.start().
//
//   task_master --address 127.0.0.1:5000 --authkey abc [--tasks 10] [--embedded]
//
// It waits 10 s at most for each result, and exits 1 saying so when none comes.
#include <cstdio>
#include <memory>
#include <random>

#include "depot/client/client.h"
#include "depot/manager/manager.h"
#include "sample_args.h"

int main(int argc, char** argv) {
  const auto args = sample::parse(
      argc, argv, "usage: task_master --address HOST:PORT --authkey KEY [--tasks N] [--embedded]\n",
      {"--embedded"});
  const long n_tasks = args.num("tasks", 10);
  if (n_tasks < 0) sample::usage_error(args.program, "--tasks takes 0 or more", args.usage);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows up even when redirected
  try {
    std::unique_ptr<depot::Manager> manager;
    std::string address = args.address;
    if (args.has("embedded")) {  // serve the queues from this process
      depot::ManagerOptions opts;
      opts.address = args.address;
      opts.authkey = args.authkey;
      manager = std::make_unique<depot::Manager>(opts);
      manager->start();
      std::printf("Manager started on %s\n", manager->address().c_str());
      address = "127.0.0.1:" + std::to_string(manager->port());
    }
    depot::Client client(address, args.authkey, args.client_options());
    auto task = client.queue<int>("tasks");
    auto result = client.queue<long>("results");

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> dist(0, 10000);
    for (long i = 0; i < n_tasks; ++i) {
      const int n = dist(rng);
      std::printf("Put task %d...\n", n);
      task.put(n);
    }
    std::printf("Try get results...\n");
    std::fflush(stdout);
    for (long i = 0; i < n_tasks; ++i) {
      const long r = result.get(std::chrono::seconds(10));
      std::printf("Result: %ld\n", r);
    }
    if (manager) manager->stop();
    std::printf("master exit.\n");
  } catch (const depot::TimeoutError& e) {
    std::fprintf(stderr, "task_master: no result within 10 s: %s (are workers running?)\n",
                 e.what());
    return 1;
  } catch (const depot::AuthError& e) {
    std::fprintf(stderr, "task_master: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "task_master: %s\n", e.what());
    return 1;
  }
  return 0;
}
