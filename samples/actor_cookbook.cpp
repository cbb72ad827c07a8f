// actor_cookbook: the Python Cookbook's actors (seed 003) over depot. The actors live on the
// pool's workers (start them with task_pool), in another process:
// - PrintActor gets "Hello" and "World" as one-way messages (Actor::send: nobody waits for
//   an answer), then close(), which is queued after them and answered once both have run:
//   the seed's join(). The worker serving it prints "Got: Hello" and "Got: World".
// - The cookbook's Worker actor runs add(2, 3); its caller's Future blocks until the result
//   is set, like the seed's Result. This program prints 5.
//
//   task_pool --address 127.0.0.1:5000 --authkey abc &   # prints Got: Hello, Got: World
//   actor_cookbook --address 127.0.0.1:5000 --authkey abc  # prints 5
#include <cstdio>
#include <string>

#include "depot/executor/executor.h"
#include "sample_args.h"

int main(int argc, char** argv) {
  const auto args = sample::parse(
      argc, argv, "usage: actor_cookbook --address HOST:PORT --authkey KEY [--pool pool]\n");
  return sample::run_main(args.program, [&] {
    depot::Client client(args.address, args.authkey, args.client_options());
    depot::Executor ex(client, args.get("pool", "pool"));

    depot::Actor p = ex.actor("PrintActor");  // p = PrintActor(); p.start()
    p.send("print", std::string("Hello"));    // p.send('Hello')
    p.send("print", std::string("World"));    // p.send('World')
    p.close();                                // p.close(); p.join(): both are printed now

    depot::Actor worker = ex.actor("Worker");
    depot::Future<long> r = worker.call<long>("add", 2L, 3L);  // r = worker.submit(add, 2, 3)
    std::printf("%ld\n", r.result());                          // 5
    worker.close();
    return 0;
  });
}
