// counter_lock: worker processes increment one shared number under a shared lock: the
// read-modify-write that needs mutual exclusion across processes and machines.
//
//   counter_lock [--address HOST:PORT --authkey KEY] [--workers 4] [--increments 200]
//                [--unlocked]
//
// The number lives in a Variable<long>; each increment reads it and writes it back while
// holding client.lock("counter-lock"). Each worker also bumps a Counter, whose add() is
// atomic in the manager, the lock-free way to count, for comparison. The parent starts the
// workers as copies of this program (`--worker ID`), waits for them and checks the total:
//
//   worker 2: 200 increments, fencing tokens 9..1597, each above the last
//   ...
//   final count: 800 (expected 800)
//   counter:     800 (expected 800)
//
// It exits 0 only when both match. --unlocked skips the lock to show what it prevents: two
// workers read the same value, both write value + 1, and one increment is lost.
// Without --address it runs a manager of its own on a free port.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "depot/client/client.h"
#include "depot/manager/manager.h"
#include "sample_args.h"

extern char** environ;

namespace {

const char* const kUsage =
    "usage: counter_lock [--address HOST:PORT --authkey KEY] [--workers N] [--increments M]"
    " [--unlocked]\n";
const char* const kLockName = "counter-lock";
const char* const kValueName = "counter-value";
const char* const kCounterName = "counter-count";

// One worker: `increments` read-modify-writes of the shared value.
int run_worker(const sample::Args& args) {
  const long id = args.num("worker", 0);
  const long increments = args.num("increments", 200);
  const bool use_lock = !args.has("unlocked");

  depot::Client client(args.address, args.authkey, args.client_options());
  auto lock = client.lock(kLockName);
  auto value = client.variable<long>(kValueName);
  auto counter = client.counter(kCounterName);

  uint64_t first_token = 0;
  uint64_t last_token = 0;
  for (long i = 0; i < increments; ++i) {
    if (use_lock) {
      // Acquires the lock here and releases it at the end of the block, as with std::mutex.
      std::scoped_lock hold(lock);
      // The fencing token of this hold: it rises with every acquire in the manager, so a
      // store that remembers the highest token it has seen can refuse a late write from a
      // holder whose lock was taken over (its lease expired, its session ended).
      const uint64_t token = lock.token();
      if (token <= last_token) {
        std::fprintf(stderr, "worker %ld: fencing token %llu is not above %llu\n", id,
                     static_cast<unsigned long long>(token),
                     static_cast<unsigned long long>(last_token));
        return 1;
      }
      if (first_token == 0) first_token = token;
      last_token = token;
      value.set(value.get() + 1);  // nobody else writes between this get and set
    } else {
      value.set(value.get() + 1);  // another worker may read the same value: a lost update
    }
    counter.add(1);  // atomic in the manager: never loses an increment, needs no lock
  }
  if (use_lock)
    std::printf("worker %ld: %ld increments, fencing tokens %llu..%llu, each above the last\n", id,
                increments, static_cast<unsigned long long>(first_token),
                static_cast<unsigned long long>(last_token));
  else
    std::printf("worker %ld: %ld increments without the lock\n", id, increments);
  return 0;
}

// Starts a copy of this program with `args` (/proc/self/exe is this program's file on
// Linux). It inherits stdout and the environment, which carries the authkey.
pid_t spawn_self(const std::vector<std::string>& args) {
  std::vector<char*> argv{const_cast<char*>("counter_lock")};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = ::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ))
    throw std::runtime_error(std::string("cannot start a worker: ") + std::strerror(rc));
  return pid;
}

// Deletes an object left over from an earlier run against the same manager.
void remove_if_exists(depot::Client& client, const std::string& name) {
  try {
    client.remove(name);
  } catch (const depot::NotFoundError&) {
  }
}

int run_parent(const sample::Args& args, const std::string& address) {
  const long workers = args.num("workers", 4);
  const long increments = args.num("increments", 200);

  depot::Client client(address, args.authkey, args.client_options());
  auto value = client.variable<long>(kValueName);
  auto counter = client.counter(kCounterName);
  value.set(0);
  remove_if_exists(client, kCounterName);  // a Counter starts at 0 when first used

  // The workers find the key in the environment: a command line is visible to `ps`.
  ::setenv("DEPOT_AUTHKEY", args.authkey.c_str(), 1);
  std::vector<pid_t> pids;
  for (long i = 1; i <= workers; ++i) {
    std::vector<std::string> wargs = {"--worker", std::to_string(i), "--address",
                                      address,    "--increments",    std::to_string(increments)};
    if (args.has("unlocked")) wargs.push_back("--unlocked");
    pids.push_back(spawn_self(wargs));
  }
  bool workers_ok = true;
  for (size_t i = 0; i < pids.size(); ++i) {
    int status = 0;
    ::waitpid(pids[i], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "counter_lock: worker %zu failed (status %d)\n", i + 1, status);
      workers_ok = false;
    }
  }

  const long expected = workers * increments;
  const long final_count = value.get();
  const long counted = static_cast<long>(counter.value());
  std::printf("final count: %ld (expected %ld)\n", final_count, expected);
  std::printf("counter:     %ld (expected %ld)\n", counted, expected);
  return workers_ok && final_count == expected && counted == expected ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Without --address this program runs a manager of its own; then it needs no key.
  auto args = sample::parse(argc, argv, kUsage, {"--unlocked"}, /*may_embed=*/true);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // whole lines, even when redirected

  try {
    if (args.has("worker")) return run_worker(args);

    auto manager = sample::embed_unless_address_given(args);  // none given: run our own
    const std::string address = args.address;
    return run_parent(args, address);
  } catch (const depot::Error& e) {
    std::fprintf(stderr, "counter_lock: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "counter_lock: %s\n", e.what());
    return 1;
  }
}
