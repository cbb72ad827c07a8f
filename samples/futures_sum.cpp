// futures_sum: seed 000's dask example with depot futures. map(square, range(10000)) runs on
// the pool's workers (start them with task_pool); submit(sum, A) takes the 10,000 futures
// as its argument, so the squares go from the workers to the manager to the worker running
// sum, never through this program.
//
//   task_pool --address 127.0.0.1:5000 --authkey abc &
//   futures_sum --address 127.0.0.1:5000 --authkey abc        # prints 333283335000
#include <cstdio>
#include <vector>

#include "depot/executor/executor.h"
#include "sample_args.h"

int main(int argc, char** argv) {
  const auto args = sample::parse(
      argc, argv, "usage: futures_sum --address HOST:PORT --authkey KEY [--pool pool]\n");
  try {
    depot::Client client(args.address, args.authkey, args.client_options());
    depot::Executor ex(client, args.get("pool", "pool"));

    std::vector<long> inputs(10000);
    for (long i = 0; i < 10000; ++i) inputs[i] = i;
    std::vector<depot::Future<long>> A = ex.map<long>("square", inputs);
    depot::Future<long> total = ex.submit<long>("sum", A);
    std::printf("%ld\n", total.result());

    // The actor from the same seed: state that lives on one worker.
    depot::Actor counter = ex.actor("Counter");
    depot::Future<long> f = counter.call<long>("increment");
    std::printf("%ld\n", f.result());              // 1
    std::printf("%ld\n", counter.get<long>("n"));  // 1
    counter.close();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "futures_sum: %s\n", e.what());
    return 1;
  }
  return 0;
}
