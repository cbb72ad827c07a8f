// barrier_phases: parties that work in phases, none starting phase k+1 before every party
// has finished phase k: client.barrier("phases", P).wait() at the end of each phase.
//
//   barrier_phases [--address HOST:PORT --authkey KEY] [--parties 4] [--phases 3]
//                  [--crash-at K]
//   barrier_phases --address HOST:PORT --authkey KEY --party I [--parties 4] [--phases 3]
//
// Without --party it runs every party as a thread with a client of its own, as separate
// programs would; with --party it runs party I alone (start parties 0..P-1 anywhere). Each
// party counts itself in a per-phase Counter, then waits at the barrier; the one that gets
// arrival index 0 reports the phase, when all P have arrived:
//
//   phase 1 done: 4 of 4 parties arrived
//   phase 2 done: 4 of 4 parties arrived
//   phase 3 done: 4 of 4 parties arrived
//
// --crash-at K shows what a crash does: the last party runs as a separate process and, in
// phase K, is killed (SIGKILL) while it waits at the barrier. Its session ends, the barrier
// breaks, and every other party gets depot::BrokenError instead of waiting forever:
//
//   party 0: killed party 3 (pid 4242) while it waited in phase 2
//   party 1: phase 2: barrier 'phases' is broken: a waiting party disconnected; ...
//
// (barrier.reset() would make it usable again.) Without --address it runs a manager of its
// own.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "depot/client/client.h"
#include "depot/manager/manager.h"
#include "sample_args.h"

extern char** environ;

namespace {

const char* const kUsage =
    "usage: barrier_phases [--address HOST:PORT --authkey KEY] [--parties P] [--phases K]"
    " [--crash-at K]\n"
    "       barrier_phases --address HOST:PORT --authkey KEY --party I [--parties P]"
    " [--phases K]\n";
const char* const kBarrier = "phases";
constexpr std::chrono::seconds kPhaseTimeout{30};  // far above any phase of this sample

std::string arrived_name(long phase) {
  return "phase." + std::to_string(phase) + ".arrived";
}

// Called by a party just before it waits at the barrier in `phase`.
using BeforeWait = std::function<void(depot::Client&, long phase)>;

// One party: `phases` rounds, each ended at the barrier. Throws depot::BrokenError when
// another party broke the barrier.
void run_party(const std::string& address, const std::string& authkey, long id, long parties,
               long phases, const BeforeWait& before_wait = nullptr) {
  depot::Client client(address, authkey);
  auto barrier = client.barrier(kBarrier, static_cast<uint32_t>(parties));
  for (long phase = 1; phase <= phases; ++phase) {
    // A real party would do this phase's share of the work here.
    client.counter(arrived_name(phase)).add(1);
    if (before_wait) before_wait(client, phase);
    uint32_t arrival = 0;
    try {
      // Blocks until all parties have arrived. The bound keeps a party that never comes (a
      // bug, a hung machine) from holding the others forever: this wait then throws
      // TimeoutError and breaks the barrier, so the others get BrokenError.
      arrival = barrier.wait(kPhaseTimeout);
    } catch (const depot::BrokenError& e) {  // a party timed out or disconnected while waiting
      std::printf("party %ld: phase %ld: %s\n", id, phase, e.what());
      throw;
    }
    // Exactly one party per phase gets arrival index 0 (as with Python's threading.Barrier):
    // it reports for everyone. All have arrived, so the phase's counter is complete.
    if (arrival == 0)
      std::printf("phase %ld done: %lld of %ld parties arrived\n", phase,
                  static_cast<long long>(client.counter(arrived_name(phase)).value()), parties);
  }
}

// The barrier as the manager lists it (size: parties waiting; state: "... broken").
depot::ObjectInfo barrier_info(depot::Client& client) {
  for (auto& o : client.list())
    if (o.name == kBarrier) return o;
  return {};
}

// Polls `cond` every 5 ms for up to 10 s: waiting on the manager's state, not on time.
bool eventually(const std::function<bool()>& cond) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Deletes an object left over from an earlier run against the same manager.
void remove_if_exists(depot::Client& client, const std::string& name) {
  try {
    client.remove(name);
  } catch (const depot::NotFoundError&) {
  }
}

// Starts a copy of this program as one party (/proc/self/exe is this program's file on
// Linux). It inherits stdout and the environment, which carries the authkey.
pid_t spawn_party(const std::string& address, long id, long parties, long phases) {
  std::vector<std::string> args = {"barrier_phases",
                                   "--address",
                                   address,
                                   "--party",
                                   std::to_string(id),
                                   "--parties",
                                   std::to_string(parties),
                                   "--phases",
                                   std::to_string(phases)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = ::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ))
    throw std::runtime_error(std::string("cannot start a party: ") + std::strerror(rc));
  return pid;
}

// Every party in this process (the last one in a child process with --crash-at); true when
// the run went as it should.
bool demo(const std::string& address, const std::string& authkey, long parties, long phases,
          long crash_at) {
  depot::Client admin(address, authkey);
  remove_if_exists(admin, kBarrier);
  for (long phase = 1; phase <= phases; ++phase) remove_if_exists(admin, arrived_name(phase));

  pid_t crasher = 0;
  const long crasher_id = parties - 1;
  BeforeWait before_wait;
  if (crash_at > 0) {
    // The key travels in the environment: a command line is visible to `ps`.
    ::setenv("DEPOT_AUTHKEY", authkey.c_str(), 1);
    crasher = spawn_party(address, crasher_id, parties, phases);
    // Party 0 plays the operator: in phase K it lets the others arrive first, kills the
    // child party while it waits, and arrives only once the manager has broken the barrier
    // (arriving earlier, it would be the last party and complete it).
    before_wait = [&](depot::Client& client, long phase) {
      if (phase != crash_at) return;
      if (!eventually(
              [&] { return barrier_info(client).size == static_cast<uint64_t>(parties - 1); }))
        throw std::runtime_error("the other parties did not reach phase " + std::to_string(phase));
      ::kill(crasher, SIGKILL);
      ::waitpid(crasher, nullptr, 0);
      std::printf("party 0: killed party %ld (pid %d) while it waited in phase %ld\n", crasher_id,
                  static_cast<int>(crasher), phase);
      crasher = 0;
      if (!eventually(
              [&] { return barrier_info(client).state.find("broken") != std::string::npos; }))
        throw std::runtime_error("the barrier did not break");
    };
  }

  const long threads_n = crash_at > 0 ? parties - 1 : parties;
  std::atomic<long> finished{0}, broken{0}, failed{0};
  std::vector<std::thread> threads;
  for (long id = 0; id < threads_n; ++id)
    threads.emplace_back([&, id] {
      try {
        run_party(address, authkey, id, parties, phases, id == 0 ? before_wait : nullptr);
        ++finished;
      } catch (const depot::BrokenError&) {  // run_party said so
        ++broken;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "barrier_phases: party %ld: %s\n", id, e.what());
        ++failed;
      }
    });
  for (auto& t : threads) t.join();
  if (crasher > 0) {  // party 0 failed before killing it
    ::kill(crasher, SIGKILL);
    ::waitpid(crasher, nullptr, 0);
  }

  remove_if_exists(admin, kBarrier);
  for (long phase = 1; phase <= phases; ++phase) remove_if_exists(admin, arrived_name(phase));
  if (crash_at > 0) {
    std::printf("%ld of %ld parties saw the barrier break\n", broken.load(), threads_n);
    return broken == threads_n;
  }
  std::printf("all %ld parties finished %ld phases\n", finished.load(), phases);
  return finished == parties;
}

}  // namespace

int main(int argc, char** argv) {
  // Without --address this program runs a manager of its own; then it needs no key.
  auto args = sample::parse(argc, argv, kUsage, {}, /*may_embed=*/true);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // whole lines, even when redirected
  const long parties = args.num("parties", 4);
  const long phases = args.num("phases", 3);
  const long crash_at = args.num("crash-at", 0);
  if (parties < 1 || (crash_at != 0 && (parties < 2 || crash_at < 1 || crash_at > phases))) {
    std::fprintf(stderr,
                 "barrier_phases: need parties >= 1 (2 with --crash-at) and 1 <= K <= phases\n%s",
                 kUsage);
    return 2;
  }

  try {
    if (args.has("party")) {  // one party of a run spread over processes
      const long id = args.num("party", 0);
      run_party(args.address, args.authkey, id, parties, phases);
      return 0;
    }

    auto manager = sample::embed_unless_address_given(args);  // none given: run our own
    const std::string address = args.address;
    return demo(address, args.authkey, parties, phases, crash_at) ? 0 : 1;
  } catch (const depot::Error& e) {
    std::fprintf(stderr, "barrier_phases: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "barrier_phases: %s\n", e.what());
    return 1;
  }
}
