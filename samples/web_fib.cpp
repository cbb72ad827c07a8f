// web_fib: seed 002's web server (a fast page and a slow Fibonacci page) with the slow work
// offloaded to the depot pool. Start a manager and some task_pool workers, then:
//
//   web_fib --address 127.0.0.1:5000 --authkey abc --port 8888          # /fib runs on the pool
//   web_fib --address 127.0.0.1:5000 --authkey abc --port 8888 --inline # /fib runs in the handler
//   curl localhost:8888/fast          # Hello!
//   curl localhost:8888/fib/28        # 317811
//
// Offloaded, a /fib handler only submits fib(n) and waits on its future: request threads
// do no computing, so the server's thread pool (--threads, default 64) is sized for many
// requests waiting at once, while the pool's workers (other processes, other machines)
// compute in parallel. --inline is the seed's blocking baseline: the handler computes
// fib(n) itself on a single request thread (--threads 1 by default, like the seed's
// one-threaded Tornado loop), so one slow page holds up every other request.
//
// Routes: /fast -> "Hello!"; /fib/<n> -> fib(n), 0 <= n <= --max-n (default 45), else 400;
// /fail/<why> -> runs the pool's "fail" function, to show a task's error as a 500.
// Errors: a task that failed on its worker -> 500 with its message; no result within
// --timeout-ms (default 60000) -> 504; the manager unreachable -> 503 ("the depot manager at
// H:P is unreachable"), also within --timeout-ms, which bounds submitting as well as waiting
// (SubmitOptions::timeout), and it serves again once the manager is back. Identical pure
// submissions share one task while it runs (as dask's pure submit does in the seed);
// --impure makes every request its own task.
// Prints "listening on HOST:PORT" once it serves (--port 0 picks a free port); stops on
// SIGINT/SIGTERM.
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>

#include "depot/executor/executor.h"
#include "pool_functions.h"
#include "sample_args.h"

namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

struct Config {
  bool inline_fib = false;
  bool pure = true;
  long max_n = 45;
  std::chrono::milliseconds timeout{60'000};
  std::string manager;              // its address, for the 503 text
  depot::Client* client = nullptr;  // null in --inline mode
  // Null in --inline mode and once shutting down; submissions hold mu shared.
  std::shared_mutex mu;
  depot::Executor* ex = nullptr;

  // Submits under the lock, so the executor cannot go away mid-call. Waiting on the future
  // needs no lock: a future outlives its executor (and is cancelled by its destructor).
  template <class... A>
  depot::Future<long> submit(depot::SubmitOptions opt, const std::string& fn, const A&... a) {
    // A manager that is away must not hold the request past its timeout: the future then
    // fails with depot::SubmitFailed instead.
    opt.timeout = timeout;
    std::shared_lock lk(mu);
    if (!ex) throw std::runtime_error("web_fib is shutting down");
    return ex->submit_with<long>(opt, fn, a...);
  }
};

using Clock = std::chrono::steady_clock;

void reply(HTTPServerResponse& resp, HTTPResponse::HTTPStatus status, const std::string& body) {
  resp.setStatusAndReason(status);  // "503 Service Unavailable", not "503 OK"
  resp.setContentType("text/plain");
  resp.setContentLength(static_cast<std::streamsize>(body.size()));
  resp.send() << body;
}

// Digits only, at most 9 of them; nullopt otherwise.
std::optional<long> parse_n(const std::string& s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  long n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// 503: the manager is away, so the request can be tried again later.
void unavailable(const Config& cfg, HTTPServerResponse& resp) {
  resp.set("Retry-After", "1");
  reply(resp, HTTPResponse::HTTP_SERVICE_UNAVAILABLE,
        "the depot manager at " + cfg.manager + " is unreachable; try again later\n");
}

// Waits on a pool task and answers with its result, or with the error it ended in; all
// within the request's --timeout-ms, counted from `started`.
void answer_from_pool(const Config& cfg, depot::Future<long> f, Clock::time_point started,
                      HTTPServerResponse& resp) {
  const auto left = std::max(Clock::duration::zero(), started + cfg.timeout - Clock::now());
  try {
    // The request thread only waits here: the work happens on a pool worker.
    const long v = f.result(left);
    reply(resp, HTTPResponse::HTTP_OK, std::to_string(v));
  } catch (const depot::TimeoutError& e) {
    // Answer first: cancelling tells the workers through the manager.
    if (!cfg.client->connected())
      unavailable(cfg, resp);
    else
      reply(resp, HTTPResponse::HTTP_GATEWAY_TIMEOUT, std::string(e.what()) + "\n");
    f.cancel();
  } catch (const depot::RemoteError& e) {
    if (e.type() != depot::task::kSubmitFailed)  // the task itself failed
      reply(resp, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, std::string(e.what()) + "\n");
    else if (!cfg.client->connected())
      unavailable(cfg, resp);
    else  // sent nowhere for another reason (the tasks queue stayed full): try later too
      reply(resp, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, std::string(e.what()) + "\n");
  } catch (const depot::ConnectionError&) {
    unavailable(cfg, resp);
  } catch (const std::exception& e) {  // CancelledError (shutting down)
    reply(resp, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, std::string(e.what()) + "\n");
  }
}

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(Config& cfg) : cfg_(cfg) {}

  void handleRequest(HTTPServerRequest& req, HTTPServerResponse& resp) override {
    const auto started = Clock::now();
    std::string path = req.getURI();
    if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
    if (req.getMethod() != Poco::Net::HTTPRequest::HTTP_GET) {
      reply(resp, HTTPResponse::HTTP_METHOD_NOT_ALLOWED, "only GET\n");
      return;
    }
    if (path == "/fast") {
      reply(resp, HTTPResponse::HTTP_OK, "Hello!");
      return;
    }
    static const std::string fib_prefix = "/fib/", fail_prefix = "/fail/";
    if (path.rfind(fib_prefix, 0) == 0) {
      const auto n = parse_n(path.substr(fib_prefix.size()));
      if (!n || *n > cfg_.max_n) {
        reply(resp, HTTPResponse::HTTP_BAD_REQUEST,
              "bad n: want an integer from 0 to " + std::to_string(cfg_.max_n) + "\n");
        return;
      }
      if (cfg_.inline_fib) {  // the seed's baseline: compute right here, blocking this thread
        reply(resp, HTTPResponse::HTTP_OK, std::to_string(sample::fib(*n)));
        return;
      }
      depot::SubmitOptions opt;
      opt.pure = cfg_.pure;
      std::optional<depot::Future<long>> f;
      try {
        f = cfg_.submit(opt, "fib", *n);
      } catch (const depot::ConnectionError&) {
        unavailable(cfg_, resp);
        return;
      } catch (const std::exception& e) {
        reply(resp, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, std::string(e.what()) + "\n");
        return;
      }
      answer_from_pool(cfg_, *f, started, resp);
      return;
    }
    if (path.rfind(fail_prefix, 0) == 0 && !cfg_.inline_fib) {
      std::optional<depot::Future<long>> f;
      try {
        f = cfg_.submit(depot::SubmitOptions{}, "fail", path.substr(fail_prefix.size()));
      } catch (const depot::ConnectionError&) {
        unavailable(cfg_, resp);
        return;
      } catch (const std::exception& e) {
        reply(resp, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, std::string(e.what()) + "\n");
        return;
      }
      answer_from_pool(cfg_, *f, started, resp);
      return;
    }
    reply(resp, HTTPResponse::HTTP_NOT_FOUND, "not found: " + path + "\n");
  }

 private:
  Config& cfg_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(Config& cfg) : cfg_(cfg) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new Handler(cfg_);
  }

 private:
  Config& cfg_;
};

}  // namespace

int main(int argc, char** argv) {
  const auto args = sample::parse(
      argc, argv,
      "usage: web_fib --address HOST:PORT --authkey KEY [--port 8888] [--host 127.0.0.1]\n"
      "               [--inline] [--impure] [--pool pool] [--threads N] [--max-n 45]\n"
      "               [--timeout-ms 60000]\n",
      {"--inline", "--impure"});
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  // SIGINT/SIGTERM are taken by sigwait below; block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Config cfg;
  cfg.inline_fib = args.has("inline");
  cfg.pure = !args.has("impure");
  try {
    cfg.max_n = args.num("max-n", 45);
    cfg.timeout = std::chrono::milliseconds(args.num("timeout-ms", 60'000));
    // Offloaded, request threads mostly wait: many of them are cheap. Inline, one thread
    // reproduces the seed's single event loop.
    const int threads = static_cast<int>(args.num("threads", cfg.inline_fib ? 1 : 64));
    if (threads < 1) throw std::invalid_argument("--threads must be at least 1");
    const std::string host = args.get("host", "127.0.0.1");
    const auto port = static_cast<Poco::UInt16>(args.num("port", 8888));

    std::unique_ptr<depot::Client> client;
    std::unique_ptr<depot::Executor> ex;
    if (!cfg.inline_fib) {
      // Losing the manager and getting it back are reported on stderr, one line each.
      client = std::make_unique<depot::Client>(args.address, args.authkey, args.client_options());
      ex = std::make_unique<depot::Executor>(*client, args.get("pool", "pool"));
      cfg.manager = args.address;
      cfg.client = client.get();
      cfg.ex = ex.get();
    }

    Poco::ThreadPool threads_pool(1, threads);
    auto params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(threads);
    params->setMaxQueued(4096);
    // A keep-alive connection holds its request thread while idle: not with a single one.
    params->setKeepAlive(threads > 1);
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress(host, port), 1024);
    Poco::Net::HTTPServer server(new Factory(cfg), threads_pool, socket, params);
    server.start();
    std::printf("web_fib: /fib %s, %d request thread(s)\n",
                cfg.inline_fib ? "computed inline" : "offloaded to the depot pool", threads);
    std::printf("listening on %s:%u\n", host.c_str(), socket.address().port());

    // A manager gone for longer than the give-up time ends the server (exit 1), as it does
    // the workers: a supervisor restarts it. Until then /fib answers 503.
    std::optional<sample::GiveUpWatch> watch;
    if (client && !args.wait_forever)
      watch.emplace(*client, args.give_up, [] { ::kill(::getpid(), SIGTERM); });

    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
    {
      std::unique_lock lk(cfg.mu);
      cfg.ex = nullptr;
    }
    ex.reset();  // handlers still waiting get CancelledError and answer 500
    server.stopAll(true);
    threads_pool.joinAll();
    if (watch && watch->gave_up()) {
      std::fprintf(stderr, "web_fib: %s\n", watch->message().c_str());
      return 1;
    }
    std::printf("web_fib: stopped\n");
  } catch (const Poco::Exception& e) {
    std::fprintf(stderr, "web_fib: %s\n", e.displayText().c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "web_fib: %s\n", e.what());
    return 1;
  }
  return 0;
}
