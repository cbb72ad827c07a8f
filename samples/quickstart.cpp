// quickstart: the client API in one page. Connects to a running manager when given
// --address/--authkey (e.g. the one `make run` starts), else runs a manager of its own.
#include <cstdio>
#include <memory>
#include <string>

#include "depot/client/client.h"
#include "depot/manager/manager.h"
#include "sample_args.h"  // --address, --authkey, --help, --version; bad ones exit 2

int main(int argc, char** argv) {
  auto args = sample::parse(argc, argv, "usage: quickstart [--address HOST:PORT --authkey KEY]\n",
                            {}, /*may_embed=*/true);
  auto manager = sample::embed_unless_address_given(args);  // no address: a manager of its own
  try {
    depot::Client client(args.address, args.authkey);  // connects and authenticates, or throws

    // A queue of strings: created on first use, FIFO, shared by every client.
    auto greetings = client.queue<std::string>("greetings");
    greetings.put("hello");
    greetings.put("world");
    const std::string first = greetings.get();  // blocks until an item is there
    const std::string second = greetings.get();
    std::printf("%s %s\n", first.c_str(), second.c_str());

    // Numbers travel as text, so the CLI and other languages can read them.
    auto numbers = client.queue<int>("numbers", depot::QueueOptions{.maxsize = 100});
    numbers.put_many({1, 2, 3, 4, 5});  // one round trip
    std::printf("qsize: %zu\n", numbers.qsize());
    auto batch = numbers.get_many(10);  // up to 10, waits for at least one
    int sum = 0;
    for (int n : batch) sum += n;
    std::printf("sum of %zu numbers: %d\n", batch.size(), sum);

    // Timeouts and non-blocking calls.
    if (!numbers.try_get()) std::printf("numbers is empty\n");
    try {
      numbers.get(std::chrono::milliseconds(100));
    } catch (const depot::TimeoutError& e) {
      std::printf("timeout: %s\n", e.what());
    }

    for (const auto& o : client.list())
      std::printf("%s %s size=%llu\n", o.type.c_str(), o.name.c_str(),
                  static_cast<unsigned long long>(o.size));
    greetings.destroy();
    numbers.destroy();
  } catch (const depot::Error& e) {  // ConnectionError, AuthError, ...: every depot error
    std::fprintf(stderr, "quickstart: %s\n", e.what());
    return 1;
  }
  return 0;
}
