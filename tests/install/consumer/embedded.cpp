// A program outside depot's tree that embeds a manager (depot::manager) and talks to it
// through a client on a free port; takes no arguments.
#include <chrono>
#include <cstdio>
#include <string>

#include "depot/client/client.h"
#include "depot/manager/manager.h"

int main() {
  try {
    depot::ManagerOptions options;
    options.address = "127.0.0.1:0";  // a free port
    options.authkey = "install-test-key";
    depot::log::set_level(depot::log::Level::WARN);
    depot::Manager manager(options);
    manager.start();
    {
      depot::Client client(manager.address(), options.authkey);
      auto q = client.queue<int>("install-embedded");
      q.put_many({1, 2, 3});
      int sum = 0;
      for (int n : q.get_many(3, std::chrono::seconds(30))) sum += n;
      std::printf("embedded manager: sum %d, qsize %zu\n", sum, q.qsize());
    }
    manager.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer_embedded: %s\n", e.what());
    return 1;
  }
  return 0;
}
