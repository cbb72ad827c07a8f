// The samples and the daemon, run as programs: what a user copies must keep working.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "support.h"

using namespace std::chrono_literals;
using test::bin;
using test::Process;

namespace {

// Starts depot-manager on a free port and returns its address once it prints "ready".
struct Daemon {
  explicit Daemon(std::vector<std::string> extra = {"--authkey", "abc"},
                  std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {bin("depot-manager"), "--address", "127.0.0.1:0",
                                     "--log-level", "warn"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(argv, env);
    REQUIRE(test::eventually(
        [&] { return proc->out().find("ready") != std::string::npos || !proc->running(); }));
    std::smatch m;
    const std::string out = proc->out();
    if (std::regex_search(out, m, std::regex("listening on (\\S+)"))) address = m[1];
  }
  std::unique_ptr<Process> proc;
  std::string address;
};

std::vector<long> numbers_after(const std::string& text, const std::string& prefix) {
  std::vector<long> out;
  std::regex re(prefix + "(-?\\d+)");
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it)
    out.push_back(std::stol((*it)[1]));
  return out;
}

void check_master_output(const std::string& out, size_t n) {
  auto tasks = numbers_after(out, "Put task ");
  auto results = numbers_after(out, "Result: ");
  REQUIRE(tasks.size() == n);
  REQUIRE(results.size() == n);
  REQUIRE(out.find("Try get results...") != std::string::npos);
  REQUIRE(out.find("master exit.") != std::string::npos);
  std::multiset<long> want, got(results.begin(), results.end());
  for (long t : tasks) want.insert(t * t);
  REQUIRE(got == want);
}

}  // namespace

SCENARIO("task_master and two task_workers run the seed's exchange", "[samples][slow]") {
  Daemon d;
  REQUIRE_FALSE(d.address.empty());
  GIVEN("a manager, two workers and a master") {
    // Workers first, as in the seed; --work-ms keeps each busy long enough to share the work.
    Process w1(
        {bin("task_worker"), "--address", d.address, "--authkey", "abc", "--work-ms", "100"});
    Process w2(
        {bin("task_worker"), "--address", d.address, "--authkey", "abc", "--work-ms", "100"});
    REQUIRE(
        test::eventually([&] { return w1.out().find("Connect to server") != std::string::npos; }));
    Process master({bin("task_master"), "--address", d.address, "--authkey", "abc"});
    THEN("the master gets the 10 squares and both workers exit cleanly") {
      const int code = master.wait();
      INFO("master stderr: " << master.err() << "\nworker 1: " << w1.out() << w1.err()
                             << "\nworker 2: " << w2.out() << w2.err());
      REQUIRE(code == 0);
      check_master_output(master.out(), 10);
      REQUIRE(w1.wait() == 0);
      REQUIRE(w2.wait() == 0);
      const std::string all = w1.out() + w2.out();
      REQUIRE(test::count_of(all, "run task ") == 10);
      REQUIRE(test::count_of(all, "worker exit.") == 2);
      REQUIRE(test::count_of(all, "task queue is empty.") == 2);
      // Every line reads "run task N * N...", and the workers ran exactly the tasks put.
      const std::regex line("run task (-?\\d+) \\* \\1\\.\\.\\.\n");
      REQUIRE(std::distance(std::sregex_iterator(all.begin(), all.end(), line),
                            std::sregex_iterator()) == 10);
      auto ran = numbers_after(all, "run task ");
      auto put = numbers_after(master.out(), "Put task ");
      REQUIRE(std::multiset<long>(ran.begin(), ran.end()) ==
              std::multiset<long>(put.begin(), put.end()));
    }
  }
}

SCENARIO("task_master can run the manager inside its own process", "[samples]") {
  // Take a free port from a throwaway manager, then let the master serve on it.
  uint16_t port;
  {
    test::TestManager tmp("x");
    port = tmp.manager->port();
  }
  const std::string address = "127.0.0.1:" + std::to_string(port);
  Process master(
      {bin("task_master"), "--address", address, "--authkey", "abc", "--embedded", "--tasks", "6"});
  REQUIRE(test::eventually([&] {
    return master.out().find("Try get results") != std::string::npos || !master.running();
  }));
  Process worker({bin("task_worker"), "--address", address, "--authkey", "abc", "--work-ms", "0"});
  REQUIRE(master.wait() == 0);
  check_master_output(master.out(), 6);
  REQUIRE(master.out().find("Manager started on") != std::string::npos);
  REQUIRE(worker.wait() != -1);  // the embedded manager went away with the master: any exit is fine
}

SCENARIO("the samples explain a wrong authkey and an unreachable manager", "[samples]") {
  Daemon d;
  WHEN("the key is wrong") {
    Process master({bin("task_master"), "--address", d.address, "--authkey", "wrong"});
    Process worker({bin("task_worker"), "--address", d.address, "--authkey", "wrong"});
    THEN("they exit non-zero saying authentication failed") {
      REQUIRE(master.wait() != 0);
      REQUIRE(worker.wait() != 0);
      REQUIRE_THAT(master.err(), Catch::Contains("authentication") && Catch::Contains("failed"));
      REQUIRE_THAT(worker.err(), Catch::Contains("authentication") && Catch::Contains("failed"));
    }
  }
  WHEN("nothing listens at the address") {
    d.proc->kill(SIGTERM);
    REQUIRE(d.proc->wait() == 0);
    Process master({bin("task_master"), "--address", d.address, "--authkey", "abc"});
    THEN("it exits non-zero saying it cannot connect to that address") {
      REQUIRE(master.wait() != 0);
      REQUIRE_THAT(master.err(), Catch::Contains("cannot connect") && Catch::Contains(d.address));
    }
  }
}

SCENARIO("the quickstart runs as the README shows", "[samples]") {
  Process q({bin("quickstart")});
  REQUIRE(q.wait() == 0);
  const std::string out = q.out();
  REQUIRE_THAT(out, Catch::Contains("hello world"));
  REQUIRE_THAT(out, Catch::Contains("sum of 5 numbers: 15"));
  REQUIRE_THAT(out, Catch::Contains("numbers is empty"));
  REQUIRE_THAT(out, Catch::Contains("timeout: queue 'numbers' stayed empty"));
}

SCENARIO("the README shows samples/quickstart.cpp byte for byte", "[samples][docs]") {
  auto slurp = [](const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  const std::string readme = slurp(std::string(DEPOT_SOURCE_DIR) + "/README.md");
  const std::string code = slurp(std::string(DEPOT_SOURCE_DIR) + "/samples/quickstart.cpp");
  const std::string marker = "<!-- quickstart.cpp";
  auto at = readme.find(marker);
  REQUIRE(at != std::string::npos);
  auto begin = readme.find("```cpp\n", at);
  REQUIRE(begin != std::string::npos);
  begin += 7;
  auto end = readme.find("```", begin);
  REQUIRE(readme.substr(begin, end - begin) == code);
}

SCENARIO("depot-manager takes its key from a flag, a file or the environment", "[samples]") {
  WHEN("the key is in a file") {
    const std::string path = "/tmp/depot-key-" + std::to_string(::getpid());
    std::ofstream(path) << "filekey\n";
    Daemon d({"--authkey-file", path});
    Process w(
        {bin("task_worker"), "--address", d.address, "--authkey", "filekey", "--work-ms", "0"});
    THEN("a client with that key (without the newline) connects") {
      REQUIRE(w.wait() == 0);
    }
    ::unlink(path.c_str());
  }
  WHEN("the key is in DEPOT_AUTHKEY") {
    Daemon d({}, {"DEPOT_AUTHKEY=envkey"});
    Process w({bin("task_worker"), "--address", d.address, "--work-ms", "0"},
              {"DEPOT_AUTHKEY=envkey"});
    THEN("clients reading the same variable connect") {
      REQUIRE(w.wait() == 0);
    }
  }
  WHEN("there is no key at all") {
    Process m({bin("depot-manager"), "--address", "127.0.0.1:0"}, {"DEPOT_AUTHKEY="});
    THEN("it refuses to start and says how to give one") {
      REQUIRE(m.wait() == 2);
      REQUIRE_THAT(m.err(), Catch::Contains("--authkey"));
    }
  }
  WHEN("--generate-authkey is given") {
    Daemon d({"--generate-authkey"});
    std::smatch mt;
    const std::string out = d.proc->out();
    REQUIRE(std::regex_search(out, mt, std::regex("authkey: (\\S+)")));
    Process w({bin("task_worker"), "--address", d.address, "--authkey", mt[1], "--work-ms", "0"});
    THEN("the printed key works") {
      REQUIRE(w.wait() == 0);
    }
  }
  WHEN("the address is taken") {
    Daemon first;
    Process second({bin("depot-manager"), "--address", first.address, "--authkey", "abc"});
    THEN("the second exits non-zero naming the address") {
      REQUIRE(second.wait() == 1);
      REQUIRE_THAT(second.err(), Catch::Contains(first.address) && Catch::Contains("in use"));
    }
  }
  WHEN("SIGTERM arrives") {
    Daemon d;
    d.proc->kill(SIGTERM);
    THEN("it shuts down gracefully with exit code 0") {
      REQUIRE(d.proc->wait() == 0);
    }
  }
}

SCENARIO("a task_worker killed between reserve and ack loses no task", "[samples]") {
  Daemon d;
  GIVEN("a master waiting for the results of 4 tasks") {
    Process master(
        {bin("task_master"), "--address", d.address, "--authkey", "abc", "--tasks", "4"});
    REQUIRE(test::eventually([&] {
      return master.out().find("Try get results") != std::string::npos || !master.running();
    }));
    WHEN("a worker takes a task and is killed before it puts the result and acks") {
      // --work-ms: it sits on the task far longer than the test runs.
      Process slow(
          {bin("task_worker"), "--address=" + d.address, "--authkey=abc", "--work-ms=600000"});
      REQUIRE(test::eventually([&] { return slow.out().find("run task ") != std::string::npos; }));
      const auto taken = numbers_after(slow.out(), "run task ");
      REQUIRE(taken.size() == 1);
      slow.kill(SIGKILL);
      REQUIRE(slow.wait() == 128 + SIGKILL);
      Process fast(
          {bin("task_worker"), "--address", d.address, "--authkey", "abc", "--work-ms", "0"});
      THEN("another worker runs it and the master gets every result") {
        const int code = master.wait();
        INFO("master: " << master.out() << master.err() << "\nworker: " << fast.out()
                        << fast.err());
        REQUIRE(code == 0);
        check_master_output(master.out(), 4);
        REQUIRE(fast.wait() == 0);
        const auto ran = numbers_after(fast.out(), "run task ");
        REQUIRE(ran.size() == 4);  // the killed worker's task among them
        REQUIRE(std::count(ran.begin(), ran.end(), taken[0]) >= 1);
      }
    }
  }
}

SCENARIO("task_pool gives up on a manager that is gone, after its give-up time", "[samples]") {
  Daemon d;
  Process pool(
      {bin("task_pool"), "--address", d.address, "--authkey", "abc", "--give-up-ms", "500"});
  REQUIRE(test::eventually(
      [&] { return pool.out().find("serving pool") != std::string::npos || !pool.running(); }));
  REQUIRE(pool.running());
  WHEN("the manager goes away for good") {
    d.proc->kill(SIGKILL);
    REQUIRE(d.proc->wait() == 128 + SIGKILL);
    THEN("the worker exits 1 saying the manager is unreachable and that it gives up") {
      const int code = pool.wait(std::chrono::seconds(60));
      INFO(pool.out() << pool.err());
      REQUIRE(code == 1);
      REQUIRE_THAT(pool.err(), Catch::Contains("task_pool: the manager at " + d.address) &&
                                   Catch::Contains("unreachable") && Catch::Contains("giving up") &&
                                   Catch::Contains("--wait-forever"));
    }
  }
}

SCENARIO("the samples report bad arguments with a message and exit code 2", "[samples]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{bin("task_worker"), "--authkey", "abc", "--work-ms", "soon"},
       "task_worker: --work-ms needs a whole number, got 'soon'"},
      {{bin("task_master"), "--authkey", "abc", "--tasks"}, "task_master: --tasks needs a value"},
      {{bin("task_pool"), "--authkey", "abc", "--threads", "0"}, "task_pool: --threads takes 1"},
      {{bin("task_pool"), "--authkey", "abc", "--give-up-ms", "10", "--wait-forever"},
       "pass --give-up-ms or --wait-forever"},
      {{bin("quickstart"), "127.0.0.1:5000", "abc"}, "quickstart: unexpected argument"},
      {{bin("task_worker"), "--authkey", "abc", "--authkey-file", "/nonexistent"}, "task_worker:"},
      {{bin("task_worker"), "--wait-forever=1", "--authkey", "abc"}, "takes no value"},
  };
  for (const auto& [argv, message] : bad) {
    Process p(argv);
    INFO(argv[0] << ": " << p.err());
    CHECK(p.wait() == 2);
    CHECK_THAT(p.err(), Catch::Contains(message) && Catch::Contains("usage:"));
  }
  WHEN("quickstart is pointed at a manager that is not there") {
    Process q({bin("quickstart"), "--address", "127.0.0.1:1", "--authkey", "abc"});
    THEN("it says so and exits 1, without aborting") {
      REQUIRE(q.wait() == 1);
      REQUIRE_THAT(q.err(), Catch::Contains("quickstart: cannot connect to the manager at "
                                            "127.0.0.1:1"));
    }
  }
}
