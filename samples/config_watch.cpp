// config_watch: broadcasting configuration through a Variable<std::string>. A setter
// changes the value; every watcher blocks in wait_for_change() and wakes with the new
// version and value, however many watchers there are and wherever they run.
//
//   config_watch [--address HOST:PORT --authkey KEY] [--watchers 3] [--values a,b,c]
//   config_watch --address HOST:PORT --authkey KEY --role watcher [--id 1]
//   config_watch --address HOST:PORT --authkey KEY --role setter [--values a,b,c]
//                [--interval-ms 200]
//
// Without --role it is a demo in one process: watcher threads, each with a client of its
// own as separate programs would have, and a setter. With --role, run watchers anywhere,
// then one setter. The setter sets each value of --values, then "stop"; a watcher prints
// every version it sees and exits at "stop":
//
//   set version 12: log=info
//   watcher 1: version 12: log=info
//   ...
//   watcher 1: version 15: stop
//
// A watcher sees the latest value, not necessarily every one: when two changes land while
// it is busy, wait_for_change returns the newer (as a config reload should). Versions only
// rise, so every watcher sees the final one. The demo makes every watcher see every value
// by having the setter wait for each watcher's acknowledgement (a queue) before the next
// change; a real setter would not wait. Without --address it runs a manager of its own.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "depot/client/client.h"
#include "depot/manager/manager.h"
#include "sample_args.h"

namespace {

const char* const kUsage =
    "usage: config_watch [--address HOST:PORT --authkey KEY] [--watchers N] [--values a,b,c]\n"
    "       config_watch --address HOST:PORT --authkey KEY --role watcher [--id N]\n"
    "       config_watch --address HOST:PORT --authkey KEY --role setter [--values a,b,c]"
    " [--interval-ms MS]\n";
const char* const kConfig = "config";
const char* const kAcks = "config.acks";  // demo only: watchers acknowledge each version
const char* const kStop = "stop";

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

// Prints every version of the config it sees until the value is "stop"; returns the last
// version. With `ack`, puts each version it has seen into the acknowledgement queue.
uint64_t watch(const std::string& address, const std::string& authkey, long id, bool ack) {
  depot::Client client(address, authkey);
  auto config = client.variable<std::string>(kConfig);
  auto acks = client.queue<uint64_t>(kAcks);

  // The current state first: a watcher that starts late still learns the value.
  uint64_t seen = 0;
  if (auto current = config.try_get_versioned()) {
    seen = current->version;
    std::printf("watcher %ld: current version %llu: %s\n", id,
                static_cast<unsigned long long>(seen), current->value->c_str());
  } else {
    std::printf("watcher %ld: no value yet\n", id);
  }
  std::printf("watcher %ld: watching '%s'\n", id, kConfig);
  if (ack) acks.put(seen);

  // A "stop" left by an earlier run is not a change: only a newer version counts.
  for (;;) {
    depot::Versioned<std::string> next = config.wait_for_change(seen);  // blocks
    seen = next.version;
    if (!next.value) {
      std::printf("watcher %ld: version %llu: deleted\n", id,
                  static_cast<unsigned long long>(seen));
    } else {
      std::printf("watcher %ld: version %llu: %s\n", id, static_cast<unsigned long long>(seen),
                  next.value->c_str());
    }
    if (ack) acks.put(seen);
    if (next.value == kStop) return seen;
  }
}

// Sets each value, then "stop". With `watchers` > 0 it waits for that many acknowledgements
// before each change (the demo); else it pauses `interval` between changes. Returns the
// version of "stop".
uint64_t set_values(const std::string& address, const std::string& authkey,
                    std::vector<std::string> values, long watchers,
                    std::chrono::milliseconds interval) {
  depot::Client client(address, authkey);
  auto config = client.variable<std::string>(kConfig);
  auto acks = client.queue<uint64_t>(kAcks);
  auto wait_for_watchers = [&] {
    for (long i = 0; i < watchers; ++i) acks.get(std::chrono::seconds(10));  // TimeoutError
  };

  wait_for_watchers();  // each has read the current state
  values.push_back(kStop);
  uint64_t version = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0 && watchers == 0) std::this_thread::sleep_for(interval);
    version = config.set(values[i]);  // returns the new version; wakes every watcher
    std::printf("set version %llu: %s\n", static_cast<unsigned long long>(version),
                values[i].c_str());
    wait_for_watchers();
  }
  return version;
}

// Deletes an object left over from an earlier run against the same manager.
void remove_if_exists(depot::Client& client, const std::string& name) {
  try {
    client.remove(name);
  } catch (const depot::NotFoundError&) {
  }
}

// Watchers and a setter in one process; true when every watcher saw the final version.
bool demo(const std::string& address, const std::string& authkey, long n_watchers,
          const std::vector<std::string>& values) {
  {
    depot::Client client(address, authkey);
    remove_if_exists(client, kAcks);  // stale acknowledgements would let the setter run ahead
  }
  std::vector<uint64_t> last(static_cast<size_t>(n_watchers), 0);
  std::vector<std::thread> threads;
  for (long i = 0; i < n_watchers; ++i)
    threads.emplace_back([&, i] {
      try {
        last[static_cast<size_t>(i)] = watch(address, authkey, i + 1, /*ack=*/true);
      } catch (const depot::Error& e) {
        std::fprintf(stderr, "config_watch: watcher %ld: %s\n", i + 1, e.what());
      }
    });
  uint64_t final_version = 0;
  try {
    final_version = set_values(address, authkey, values, n_watchers, {});
  } catch (const depot::Error& e) {
    std::fprintf(stderr, "config_watch: setter: %s\n", e.what());
    try {  // let the watchers finish
      depot::Client client(address, authkey);
      client.variable<std::string>(kConfig).set(kStop);
    } catch (const depot::Error&) {
    }
  }
  for (auto& t : threads) t.join();

  long saw_final = 0;
  for (uint64_t v : last) saw_final += final_version != 0 && v == final_version ? 1 : 0;
  std::printf("%ld of %ld watchers saw the final version %llu\n", saw_final, n_watchers,
              static_cast<unsigned long long>(final_version));
  return saw_final == n_watchers;
}

}  // namespace

int main(int argc, char** argv) {
  // Without --address this program runs a manager of its own; then it needs no key.
  auto args = sample::parse(argc, argv, kUsage, {}, /*may_embed=*/true);
  const bool have_address = args.address_given;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // whole lines, even when redirected
  const auto values = split(args.get("values", "log=info,log=debug,workers=8"));
  const std::string role = args.get("role", "");

  try {
    if (!role.empty() && !have_address) {
      std::fprintf(stderr, "config_watch: --role %s needs the --address of a shared manager\n%s",
                   role.c_str(), kUsage);
      return 2;
    }
    if (role == "watcher") {
      watch(args.address, args.authkey, args.num("id", 1), /*ack=*/false);
      return 0;
    }
    if (role == "setter") {
      set_values(args.address, args.authkey, values, 0,
                 std::chrono::milliseconds(args.num("interval-ms", 200)));
      return 0;
    }
    if (!role.empty()) {
      std::fprintf(stderr, "config_watch: unknown role '%s'\n%s", role.c_str(), kUsage);
      return 2;
    }

    auto manager = sample::embed_unless_address_given(args);  // none given: run our own
    const std::string address = args.address;
    return demo(address, args.authkey, args.num("watchers", 3), values) ? 0 : 1;
  } catch (const std::exception& e) {  // depot::Error, or a manager that cannot start
    std::fprintf(stderr, "config_watch: %s\n", e.what());
    return 1;
  }
}
