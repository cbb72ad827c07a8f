// The admin endpoint's HTTP side (admin_server.h): POCO's HTTPServer, the route table, the
// credential rule and the bounded hand-off to the loop thread.
#include "depot/admin/admin_server.h"

#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/String.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include <condition_variable>
#include <istream>
#include <map>
#include <mutex>

namespace depot::admin {

namespace {

constexpr size_t kMaxBody = 1u << 20;  // request bodies past this are refused (413)

// One function handed to the loop: the loop runs it unless the HTTP thread gave up first.
struct Handoff {
  enum class State { Pending, Running, Done, Abandoned };
  std::mutex mu;
  std::condition_variable cv;
  State state = State::Pending;
  std::function<void()> fn;
  std::exception_ptr error;
};

Credential parse_credential(const std::string& header) {
  Credential c;
  if (header.empty()) return c;
  const size_t sp = header.find(' ');
  const std::string scheme = header.substr(0, sp);
  const std::string rest = sp == std::string::npos ? std::string() : header.substr(sp + 1);
  auto iequals = [](const std::string& a, const char* b) { return Poco::icompare(a, b) == 0; };
  if (iequals(scheme, "Bearer")) {
    c.scheme = Credential::Scheme::Bearer;
    c.key = rest;
  } else if (iequals(scheme, "Basic")) {
    c.scheme = Credential::Scheme::Basic;
    try {
      Poco::Net::HTTPBasicCredentials b(rest);
      c.user = b.getUsername();
      c.key = b.getPassword();
    } catch (const Poco::Exception&) {
      c.scheme = Credential::Scheme::Other;  // not base64 of user:key
    }
  } else {
    c.scheme = Credential::Scheme::Other;
  }
  return c;
}

}  // namespace

struct AdminServer::Impl {
  AdminOptions options;
  Post post;
  Authorizer authorize;
  OnLoop on_loop;
  bool loopback = true;
  std::mutex routes_mu;
  std::map<std::string, RouteHandler> routes;  // by prefix
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
  std::string bound;

  void run_on_loop(const std::function<void()>& fn) {
    auto h = std::make_shared<Handoff>();
    h->fn = fn;
    post([h] {
      {
        std::lock_guard lk(h->mu);
        if (h->state == Handoff::State::Abandoned) return;
        h->state = Handoff::State::Running;
      }
      try {
        h->fn();
      } catch (...) {
        h->error = std::current_exception();
      }
      std::lock_guard lk(h->mu);
      h->state = Handoff::State::Done;
      h->cv.notify_all();
    });
    std::unique_lock lk(h->mu);
    if (!h->cv.wait_for(lk, options.loop_timeout,
                        [&] { return h->state == Handoff::State::Done; })) {
      if (h->state == Handoff::State::Pending) {
        h->state = Handoff::State::Abandoned;
        throw LoopUnavailable("the manager's loop thread did not answer within " +
                              std::to_string(options.loop_timeout.count()) +
                              " ms (it is busy or stopping); try again");
      }
      // It started: it finishes soon, and it may be using what `fn` refers to.
      h->cv.wait(lk, [&] { return h->state == Handoff::State::Done; });
    }
    if (h->error) std::rethrow_exception(h->error);
  }

  RouteHandler find(const std::string& path) {
    std::lock_guard lk(routes_mu);
    const RouteHandler* best = nullptr;
    size_t best_len = 0;
    for (const auto& [prefix, handler] : routes) {
      const bool match = path == prefix || (!prefix.empty() && prefix.back() == '/' &&
                                            path.compare(0, prefix.size(), prefix) == 0);
      if (match && (!best || prefix.size() > best_len)) {
        best = &handler;
        best_len = prefix.size();
      }
    }
    return best ? *best : RouteHandler();
  }

  Response serve(Poco::Net::HTTPServerRequest& req) {
    Request r;
    r.method = req.getMethod();
    r.peer = req.clientAddress().toString();
    try {
      Poco::URI uri(req.getURI());
      r.path = uri.getPath();
      r.query = uri.getRawQuery();
    } catch (const Poco::Exception& e) {
      return {400, kTextType, "bad request URI: " + e.displayText() + "\n"};
    }
    if (req.hasContentLength() && req.getContentLength64() > static_cast<int64_t>(kMaxBody))
      return {413, kTextType, "request body over " + std::to_string(kMaxBody) + " bytes\n"};
    if (req.hasContentLength() && req.getContentLength64() > 0) {
      r.body.resize(static_cast<size_t>(req.getContentLength64()));
      req.stream().read(r.body.data(), static_cast<std::streamsize>(r.body.size()));
      r.body.resize(static_cast<size_t>(req.stream().gcount()));
    }
    try {
      if (!loopback) {
        const Credential c = parse_credential(req.get("Authorization", ""));
        std::string why;
        on_loop([&] { why = authorize(c); });
        if (!why.empty()) {
          Response denied{401, kTextType, why + "\n"};
          denied.headers.emplace_back("WWW-Authenticate",
                                      std::string(c.scheme == Credential::Scheme::Basic ||
                                                          why.find("Basic") != std::string::npos
                                                      ? "Basic"
                                                      : "Bearer") +
                                          " realm=\"depot admin\"");
          return denied;
        }
      }
      RouteHandler handler = find(r.path);
      if (!handler) return {404, kTextType, "no admin page at " + r.path + "\n"};
      return handler(r, on_loop);
    } catch (const LoopUnavailable& e) {
      Response busy{503, kTextType, std::string(e.what()) + "\n"};
      busy.headers.emplace_back("Retry-After", "1");
      return busy;
    } catch (const std::exception& e) {
      return {500, kTextType,
              std::string("internal error serving ") + r.path + ": " + e.what() + "\n"};
    }
  }
};

namespace {

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(AdminServer::Impl& impl) : impl_(impl) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req,
                     Poco::Net::HTTPServerResponse& resp) override {
    Response r = impl_.serve(req);
    resp.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(r.status));
    resp.setContentType(r.content_type);
    resp.set("Cache-Control", "no-store");
    for (const auto& [k, v] : r.headers) resp.set(k, v);
    resp.setContentLength64(static_cast<Poco::Int64>(r.body.size()));
    if (req.getMethod() == Poco::Net::HTTPRequest::HTTP_HEAD) {
      resp.send();
      return;
    }
    resp.sendBuffer(r.body.data(), r.body.size());
  }

 private:
  AdminServer::Impl& impl_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(AdminServer::Impl& impl) : impl_(impl) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Handler(impl_);
  }

 private:
  AdminServer::Impl& impl_;
};

}  // namespace

AdminServer::AdminServer(AdminOptions options, Post post, Authorizer authorize)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->post = std::move(post);
  impl_->authorize = std::move(authorize);
  impl_->on_loop = [impl = impl_.get()](const std::function<void()>& fn) { impl->run_on_loop(fn); };
  const std::string& a = impl_->options.address;
  const size_t colon = a.rfind(':');
  impl_->loopback = is_loopback_host(colon == std::string::npos ? a : a.substr(0, colon));
}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::route(std::string prefix, RouteHandler handler) {
  std::lock_guard lk(impl_->routes_mu);
  impl_->routes[std::move(prefix)] = std::move(handler);
}

void AdminServer::start() {
  if (impl_->http) return;
  const std::string& a = impl_->options.address;
  Poco::Net::ServerSocket sock;
  try {
    Poco::Net::SocketAddress addr(a);
    sock.bind(addr, true);
    sock.listen(64);
  } catch (const Poco::Exception& e) {
    throw std::runtime_error("cannot serve the admin endpoint on " + a +
                             " (--admin-address): " + e.displayText());
  }
  impl_->port = sock.address().port();
  impl_->bound = sock.address().toString();
  auto params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(impl_->options.threads);
  params->setMaxQueued(64);
  // One request per connection: POCO keeps a thread on a kept-alive connection for as long as
  // the client keeps it, so a dashboard tab polling over a few of them would hold every thread
  // and shut out scrapers (test_admin). A new loopback connection a second costs nothing.
  params->setKeepAlive(false);
  params->setTimeout(Poco::Timespan(10, 0));
  params->setServerName("depot-manager");
  impl_->pool = std::make_unique<Poco::ThreadPool>(1, impl_->options.threads + 1);
  impl_->http =
      std::make_unique<Poco::Net::HTTPServer>(new Factory(*impl_), *impl_->pool, sock, params);
  impl_->http->start();
}

void AdminServer::stop() {
  if (!impl_ || !impl_->http) return;
  impl_->http->stopAll(true);
  impl_->pool->joinAll();
  impl_->http.reset();
  impl_->pool.reset();
}

uint16_t AdminServer::port() const {
  return impl_->port;
}
std::string AdminServer::address() const {
  return impl_->bound;
}
bool AdminServer::needs_credential() const {
  return !impl_->loopback;
}
const OnLoop& AdminServer::on_loop() const {
  return impl_->on_loop;
}

}  // namespace depot::admin
