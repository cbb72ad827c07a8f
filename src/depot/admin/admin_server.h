// depot::admin::AdminServer: the manager's HTTP admin endpoint (--admin-address,
// docs/operations.md). POCO's HTTPServer on threads of its own; a handler never touches the
// manager's objects from its thread but asks the loop thread for what it needs
// (`on_loop(fn)`), with a bounded wait: a loop that does not answer gets the client a 503.
//
//   admin::AdminServer a({.address = "127.0.0.1:5001"}, post_to_loop, authorize);
//   a.route("/metrics", [](const admin::Request&, const admin::OnLoop& on_loop) {
//     Snapshot snap;
//     on_loop([&] { snap = take_snapshot(); });   // runs on the loop thread, copies only
//     return admin::Response{200, admin::kPrometheusType, format(snap)};  // off the loop
//   });
//   a.start();    // binds (port 0 picks one: a.port())
//
// Routes: a path matches a route when it equals its prefix, or when the prefix ends in '/'
// and the path starts with it; the longest match wins ("/" is the fallback for every path).
// POCO stays out of this header.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace depot::admin {

// The content type of the Prometheus text exposition format.
inline constexpr const char* kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr const char* kJsonType = "application/json";
inline constexpr const char* kTextType = "text/plain; charset=utf-8";

struct Request {
  std::string method;  // GET, POST, ...
  std::string path;    // without the query: "/api/queues"
  std::string query;   // after '?', undecoded; empty when none
  std::string body;
  std::string peer;  // the client's host:port
};

struct Response {
  Response() = default;
  Response(int status_, std::string content_type_, std::string body_)
      : status(status_), content_type(std::move(content_type_)), body(std::move(body_)) {}
  int status = 200;
  std::string content_type = kTextType;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
};

// Thrown by OnLoop when the loop thread did not run the function within the admin server's
// loop timeout (the function then never runs). The server answers 503 with its message.
class LoopUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs `fn` on the manager's loop thread and returns once it has run there (an exception it
// throws comes back here); throws LoopUnavailable when the loop did not get to it in time.
using OnLoop = std::function<void(const std::function<void()>& fn)>;
// Serves one request on an HTTP thread; reads manager state only through on_loop.
using RouteHandler = std::function<Response(const Request&, const OnLoop& on_loop)>;
// Puts a function on the loop's queue (asio::post); called from HTTP threads.
using Post = std::function<void(std::function<void()>)>;

// What a request presented in its Authorization header.
struct Credential {
  enum class Scheme { None, Bearer, Basic, Other };
  Scheme scheme = Scheme::None;
  std::string user;  // Basic only
  std::string key;   // Bearer's token, Basic's password
};
// Decides on a request's credential, on the loop thread (where the ACL lives): empty when
// it is good, else the message the 401 carries (what to send instead).
using Authorizer = std::function<std::string(const Credential&)>;

struct AdminOptions {
  std::string address;  // host:port; port 0 picks a free one
  // How long a handler waits for the loop thread before answering 503.
  std::chrono::milliseconds loop_timeout{2'000};
  int threads = 4;  // HTTP threads (POCO's pool)
};

// Whether `host` (of host:port) is a loopback address: 127.0.0.0/8, ::1 or localhost.
bool is_loopback_host(const std::string& host);

class AdminServer {
 public:
  // `authorize` is consulted for every request when the address is not loopback.
  AdminServer(AdminOptions options, Post post, Authorizer authorize);
  ~AdminServer();  // stops
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Adds (or replaces) a route; thread-safe, before or after start().
  void route(std::string prefix, RouteHandler handler);
  // Binds and serves (throws std::runtime_error naming the address and why it cannot bind).
  void start();
  // Stops accepting, ends the HTTP threads. Idempotent.
  void stop();

  uint16_t port() const;        // the bound port, after start()
  std::string address() const;  // host:port as bound
  // False on loopback: every request on any other address needs a credential.
  bool needs_credential() const;
  // The OnLoop the handlers get (for code that wants the loop outside a request).
  const OnLoop& on_loop() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot::admin
