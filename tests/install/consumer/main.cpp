// A program outside depot's tree, as a user writes one: connects to the manager named on its
// command line, puts items on queues and gets them back (a string, and a struct of its own
// that travels through Boost.Serialization), then leaves one item for depot-cli.
// tests/install/ builds it against an installed depot (find_package, pkg-config) and from
// depot's sources (add_subdirectory), and runs it against a depot-manager.
#include <depot/client/client.h>
#include <chrono>
#include <cstdio>
#include <string>

// A user's type: Codec<T> sends it as a Boost.Serialization archive (client/codec.h).
struct Job {
  int id = 0;
  std::string name;
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& id& name;
  }
};

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer HOST:PORT AUTHKEY\n");
    return 2;
  }
  try {
    depot::Client client(argv[1], argv[2]);
    auto q = client.queue<std::string>("install-consumer");
    q.put("hello from outside");
    const std::string got = q.get(std::chrono::seconds(30));
    std::printf("got: %s\n", got.c_str());
    std::printf("qsize after get: %zu\n", q.qsize());
    q.destroy();

    auto jobs = client.queue<Job>("install-jobs");
    jobs.put(Job{7, "resize"});
    const Job job = jobs.get(std::chrono::seconds(30));
    std::printf("job %d: %s\n", job.id, job.name.c_str());
    jobs.destroy();
    client.queue<std::string>("install-handoff").put("left for the cli");
  } catch (const depot::Error& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
  return 0;
}
