// depot-test-helper: the other processes of the coordination tests. Tests spawn it (fork +
// exec) rather than forking themselves, because a forked copy of a process running a manager
// thread may inherit a lock (OpenSSL's, malloc's) that thread held, and hang.
//
//   depot-test-helper hold-lock ADDR KEY NAME         print the fencing token, hold until killed
//   depot-test-helper hold-sem ADDR KEY NAME MAX      print "held", hold a lease until killed
//   depot-test-helper barrier ADDR KEY NAME PARTIES   print "waiting", wait at the barrier
//   depot-test-helper contend ADDR KEY NAME ROUNDS FILE
//        ROUNDS times: take the lock, check in FILE (a shared mapping) that nobody else is
//        inside, bump an unprotected count, leave. Exit 0 unless something failed.
//   depot-test-helper park-get ADDR KEY QUEUE         print "parked", wait on get forever
//   depot-test-helper watch-lock ADDR KEY NAME        print the fencing token, hold until
//        killed, and print "lost: WHY" when the hold is lost with its session (no call made)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "depot/client/client.h"

namespace {

struct Shared {
  std::atomic<int> inside;
  std::atomic<int> violations;
  long unprotected_count;
};

void say(const std::string& s) {
  std::printf("%s\n", s.c_str());
  std::fflush(stdout);
}

[[noreturn]] void forever() {
  for (;;) ::pause();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  const std::string mode = argv[1];
  try {
    depot::Client c(argv[2], argv[3]);
    const std::string name = argv[4];
    if (mode == "hold-lock") {
      say(std::to_string(c.lock(name).acquire()));
      forever();
    }
    if (mode == "watch-lock") {
      auto lock = c.lock(name);
      lock.on_lost([](const std::string& why) { say("lost: " + why); });
      say(std::to_string(lock.acquire()));
      forever();
    }
    if (mode == "hold-sem" && argc == 6) {
      c.semaphore(name, static_cast<uint32_t>(std::stoul(argv[5]))).acquire();
      say("held");
      forever();
    }
    if (mode == "barrier" && argc == 6) {
      say("waiting");
      c.barrier(name, static_cast<uint32_t>(std::stoul(argv[5]))).wait();
      return 0;
    }
    if (mode == "park-get") {
      say("parked");
      c.queue<std::string>(name).get();
      return 0;
    }
    if (mode == "contend" && argc == 7) {
      const int rounds = std::stoi(argv[5]);
      int fd = ::open(argv[6], O_RDWR);
      if (fd < 0) return 3;
      auto* sh = static_cast<Shared*>(
          ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
      if (sh == MAP_FAILED) return 3;
      auto lock = c.lock(name);
      for (int i = 0; i < rounds; ++i) {
        std::scoped_lock guard(lock);
        if (sh->inside.fetch_add(1) != 0) sh->violations.fetch_add(1);
        const long v = sh->unprotected_count;
        std::this_thread::yield();  // widen the window a race would need
        sh->unprotected_count = v + 1;
        sh->inside.fetch_sub(1);
      }
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "depot-test-helper: %s\n", e.what());
    return 1;
  }
  return 2;
}
