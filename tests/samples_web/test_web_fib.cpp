// samples/web_fib run as a program, as in seed 002: a manager, two task_pool workers and the
// web server, driven over HTTP. Behaviour only: what each page answers, that /fast
// answers while a /fib is still waiting on the pool, and what it answers while the manager is
// away and once it is back.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <regex>
#include <thread>

#include "support.h"

using test::bin;
using test::Process;

namespace {

// depot-manager on a free port (or on `at`, where a stopped one was); its address once it
// prints "ready".
struct Daemon {
  explicit Daemon(const std::string& at = "127.0.0.1:0") {
    proc = std::make_unique<Process>(std::vector<std::string>{
        bin("depot-manager"), "--address", at, "--log-level", "warn", "--authkey", "abc"});
    REQUIRE(test::eventually(
        [&] { return proc->out().find("ready") != std::string::npos || !proc->running(); }));
    std::smatch m;
    const std::string out = proc->out();
    REQUIRE(std::regex_search(out, m, std::regex("listening on (\\S+)")));
    address = m[1];
  }
  std::unique_ptr<Process> proc;
  std::string address;
};

// A task_pool worker, once it serves.
std::unique_ptr<Process> start_worker(const std::string& address) {
  auto w = std::make_unique<Process>(
      std::vector<std::string>{bin("task_pool"), "--address", address, "--authkey", "abc"});
  REQUIRE(test::eventually(
      [&] { return w->out().find("serving pool") != std::string::npos || !w->running(); }));
  INFO("task_pool: " << w->out() << w->err());
  REQUIRE(w->running());
  return w;
}

// web_fib on a free port; its port once it prints "listening on".
struct Web {
  Web(const std::string& address, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {bin("web_fib"), "--address", address, "--authkey",
                                     "abc",          "--port",    "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(argv);
    std::smatch m;
    REQUIRE(test::eventually([&] {
      const std::string out = proc->out();
      return std::regex_search(out, m, std::regex("listening on [^:]+:(\\d+)")) || !proc->running();
    }));
    INFO("web_fib: " << proc->out() << proc->err());
    const std::string out = proc->out();
    REQUIRE(std::regex_search(out, m, std::regex("listening on [^:]+:(\\d+)")));
    port = static_cast<uint16_t>(std::stoi(m[1]));
  }
  std::unique_ptr<Process> proc;
  uint16_t port = 0;
};

struct Answer {
  int status = 0;
  std::string body;
};

// One GET; a generous timeout turns a hang into a failure.
Answer get(uint16_t port, const std::string& path) {
  Poco::Net::HTTPClientSession s("127.0.0.1", port);
  s.setTimeout(Poco::Timespan(60, 0));
  Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, path,
                             Poco::Net::HTTPMessage::HTTP_1_1);
  s.sendRequest(req);
  Poco::Net::HTTPResponse resp;
  std::istream& in = s.receiveResponse(resp);
  Answer a;
  a.status = static_cast<int>(resp.getStatus());
  Poco::StreamCopier::copyToString(in, a.body);
  return a;
}

}  // namespace

SCENARIO("web_fib offloads /fib to two task_pool workers", "[samples][web]") {
  Daemon d;
  auto w1 = start_worker(d.address);
  auto w2 = start_worker(d.address);
  Web web(d.address);

  THEN("/fib/20 is 6765 and /fast says hello") {
    auto a = get(web.port, "/fib/20");
    CHECK(a.status == 200);
    CHECK(a.body == "6765");
    a = get(web.port, "/fast");
    CHECK(a.status == 200);
    CHECK(a.body == "Hello!");
  }

  THEN("/fast answers while a /fib/32 waits on the pool") {
    // Stopped workers cannot finish the task: /fib/32 is in flight for certain while /fast
    // is asked, whatever the speed of the machine.
    w1->kill(SIGSTOP);
    w2->kill(SIGSTOP);
    std::atomic<bool> fib_done{false};
    Answer fib;
    std::thread slow([&] {
      fib = get(web.port, "/fib/32");
      fib_done = true;
    });
    const Answer fast = get(web.port, "/fast");
    const bool fib_was_pending = !fib_done.load();
    w1->kill(SIGCONT);
    w2->kill(SIGCONT);
    slow.join();
    CHECK(fast.status == 200);
    CHECK(fast.body == "Hello!");
    CHECK(fib_was_pending);
    CHECK(fib.status == 200);
    CHECK(fib.body == "2178309");
  }

  THEN("many /fib requests at once all get their own answer") {
    const long want[] = {6765, 10946, 17711, 28657, 46368};  // fib(20..24)
    std::vector<Answer> got(20);
    std::vector<std::thread> ts;
    for (size_t i = 0; i < got.size(); ++i)
      ts.emplace_back([&, i] { got[i] = get(web.port, "/fib/" + std::to_string(20 + i % 5)); });
    for (auto& t : ts) t.join();
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].status == 200);
      CHECK(got[i].body == std::to_string(want[i % 5]));
    }
  }

  THEN("a bad n is a 400 and an unknown path a 404") {
    CHECK(get(web.port, "/fib/abc").status == 400);
    CHECK(get(web.port, "/fib/-3").status == 400);
    CHECK(get(web.port, "/fib/1000").status == 400);
    CHECK(get(web.port, "/fib/").status == 400);
    CHECK(get(web.port, "/nope").status == 404);
    CHECK(get(web.port, "/").status == 404);
  }

  THEN("a task that fails on its worker is a 500 carrying its message") {
    const auto a = get(web.port, "/fail/no-such-luck");
    CHECK(a.status == 500);
    CHECK_THAT(a.body, Catch::Contains("no-such-luck") && Catch::Contains("invalid_argument"));
  }

  THEN("SIGTERM stops it cleanly") {
    web.proc->kill(SIGTERM);
    CHECK(web.proc->wait() == 0);
  }
}

SCENARIO("web_fib answers 503 within its timeout while the manager is away, 200 once it is back",
         "[samples][web][restart]") {
  auto d = std::make_unique<Daemon>();
  const std::string address = d->address;
  auto w = start_worker(address);
  Web web(address, {"--timeout-ms", "3000"});
  REQUIRE(get(web.port, "/fib/20").body == "6765");

  WHEN("the manager dies") {
    d->proc->kill(SIGKILL);
    d->proc->wait();
    // Each request is new to the pool (fib 21..28), so none is answered from a task in flight.
    constexpr int kRequests = 8;
    std::vector<Answer> got(kRequests);
    std::vector<std::chrono::steady_clock::duration> took(kRequests);
    std::vector<std::thread> ts;
    for (int i = 0; i < kRequests; ++i)
      ts.emplace_back([&, i] {
        const auto t0 = std::chrono::steady_clock::now();
        got[i] = get(web.port, "/fib/" + std::to_string(21 + i));
        took[i] = std::chrono::steady_clock::now() - t0;
      });
    for (auto& t : ts) t.join();
    THEN("every /fib request, however many at once, is a 503 naming the manager within 3 s + 2 s") {
      for (int i = 0; i < kRequests; ++i) {
        CAPTURE(i, got[i].body);
        CHECK(got[i].status == 503);
        CHECK_THAT(got[i].body,
                   Catch::Contains("manager at " + address) && Catch::Contains("unreachable"));
        CHECK(took[i] < std::chrono::seconds(5));
      }
      CHECK(get(web.port, "/fast").body == "Hello!");
    }

    AND_WHEN("a manager starts again on the same address") {
      Daemon back(address);
      THEN("/fib is answered again, and web_fib reported the outage in one line each way") {
        Answer a;
        REQUIRE(test::eventually(
            [&] {
              a = get(web.port, "/fib/25");
              return a.status == 200;
            },
            std::chrono::seconds(60)));
        CHECK(a.body == "75025");
        // The client's background thread writes the "reconnected" line, so it may follow the
        // first answer by a moment: wait for it, then count both lines.
        std::string err;
        CHECK(test::eventually(
            [&] {
              err = web.proc->err();
              return test::count_of(err, "reconnected to the manager at " + address) > 0;
            },
            std::chrono::seconds(10)));
        CAPTURE(err);
        CHECK(test::count_of(err, "lost the connection to the manager at " + address) == 1);
        CHECK(test::count_of(err, "reconnected to the manager at " + address) == 1);
      }
    }
  }
}

SCENARIO("web_fib exits 1 once the manager has been gone for its give-up time", "[samples][web]") {
  Daemon d;
  Web web(d.address, {"--give-up-ms", "500"});
  REQUIRE(get(web.port, "/fast").body == "Hello!");
  d.proc->kill(SIGKILL);
  d.proc->wait();
  const int code = web.proc->wait(std::chrono::seconds(60));
  INFO(web.proc->out() << web.proc->err());
  REQUIRE(code == 1);
  REQUIRE_THAT(web.proc->err(), Catch::Contains("web_fib: the manager at " + d.address) &&
                                    Catch::Contains("giving up"));
}

SCENARIO("web_fib --inline computes /fib in its handler, with no pool", "[samples][web]") {
  // No manager at all: inline mode never connects.
  Web web("127.0.0.1:1", {"--inline"});
  CHECK(get(web.port, "/fib/20").body == "6765");
  CHECK(get(web.port, "/fast").body == "Hello!");
  CHECK(get(web.port, "/fib/x").status == 400);
  CHECK(get(web.port, "/nope").status == 404);
  web.proc->kill(SIGTERM);
  CHECK(web.proc->wait() == 0);
}
