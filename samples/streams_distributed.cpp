// streams_distributed: seed 001's distributed pipeline with depot workers. Ten items go
// through scatter().map(slow_increment).buffer(5).gather(): each call sleeps 100 ms on a
// task_pool worker, up to 5 are in flight, and the results come back in input order.
//
//   task_pool --address 127.0.0.1:5000 --authkey abc &     # two workers
//   task_pool --address 127.0.0.1:5000 --authkey abc &
//   streams_distributed --address 127.0.0.1:5000 --authkey abc
//
// --bench N instead sends N items through scatter().map(increment).gather() with a buffer of
// 64 (trivial work) and prints items per second: the pipeline's overhead per remote step.
#include <chrono>
#include <cstdio>

#include "depot/executor/executor.h"
#include "depot/streams/stream.h"
#include "sample_args.h"

int main(int argc, char** argv) {
  const auto args = sample::parse(
      argc, argv,
      "usage: streams_distributed --address HOST:PORT --authkey KEY [--pool pool] [--bench N]\n");
  try {
    depot::Client client(args.address, args.authkey, args.client_options());
    depot::Executor ex(client, args.get("pool", "pool"));
    depot::stream::Stream<long> source;
    const long bench = args.num("bench", 0);
    if (bench > 0) {
      long received = 0, last = -1;
      bool ordered = true;
      source.scatter(ex).map<long>("increment").buffer(64).gather().sink([&](long v) {
        ordered = ordered && v == last + 2;  // inputs 0,1,2... come back as 1,2,3...
        last = v - 1;
        ++received;
      });
      const auto t0 = std::chrono::steady_clock::now();
      for (long i = 0; i < bench; ++i) source.emit(i);
      source.close();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("items=%ld in_order=%s seconds=%.3f items_per_s=%.0f\n", received,
                  ordered ? "yes" : "no", s, received / s);
      return received == bench && ordered ? 0 : 1;
    }
    source.scatter(ex).map<long>("slow_increment").buffer(5).gather().sink([](long v) {
      std::printf("%ld\n", v);
    });
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < 10; ++i) source.emit(i);
    source.close();  // waits for the calls still in flight
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "10 items in %.2f s (inline: 10 x 0.1 s = 1.00 s)\n", s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "streams_distributed: %s\n", e.what());
    return 1;
  }
  return 0;
}
