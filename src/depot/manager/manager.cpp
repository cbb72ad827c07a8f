// depot::Manager (depot/manager/manager.h): a Server on a thread of its own, or on the
// caller's, with signal handling for the daemon.
#include "depot/manager/manager.h"

#include <atomic>
#include <csignal>
#include <future>
#include <memory>
#include <thread>

#include "depot/admin/admin_server.h"
#include "depot/manager/admin_routes.h"
#include "depot/manager/server.h"

namespace depot {

struct Manager::Impl {
  explicit Impl(ManagerOptions o) : server(std::move(o)) {}
  // Reloads on the calling thread (the loop's, or any while the loop does not run), logging
  // what it loaded or why it kept the old configuration.
  std::string reload_here() {
    try {
      std::string done = server.reload_config();
      log::info(done);
      return done;
    } catch (const std::exception& e) {
      log::error(std::string("reload failed, still serving with the previous configuration: ") +
                 e.what());
      throw;
    }
  }
  Server server;
  std::unique_ptr<admin::AdminServer> admin;  // --admin-address; stopped before the loop ends
  // Starts the admin endpoint (when asked for) once the manager's socket is bound.
  void start_admin() {
    const std::string& address = server.options().admin_address;
    if (address.empty() || admin) return;
    admin::AdminOptions ao;
    ao.address = address;
    admin = std::make_unique<admin::AdminServer>(
        ao, [this](std::function<void()> fn) { asio::post(server.io(), std::move(fn)); },
        [this](const admin::Credential& c) { return admin_authorize(server, c); });
    for (auto table : {metrics_routes(), dashboard_routes()})
      for (const AdminRoute& r : table)
        admin->route(r.prefix,
                     [this, fn = r.fn](const admin::Request& req, const admin::OnLoop& on_loop) {
                       return fn(server, req, on_loop);
                     });
    admin->start();
    if (admin->needs_credential())
      log::warn("admin endpoint on http://" + admin->address() +
                "/ (not loopback): every request needs " +
                (server.has_acl_file()
                     ? "'Authorization: Basic base64(user:key)' of an ACL user with 'allow admin *'"
                     : "'Authorization: Bearer <authkey>'"));
    else
      log::info("admin endpoint on http://" + admin->address() +
                "/ (loopback: no credential needed)");
  }
  void stop_admin() {
    if (admin) admin->stop();
  }
  std::thread thread;
  bool bound = false;
  std::atomic<bool> serving{false};  // the loop runs (reload() posts to it)
  std::unique_ptr<asio::signal_set> signals;
  void wait_signal() {
    signals->async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        log::info("received SIGHUP: reading the configuration again");
        try {
          reload_here();  // on the loop's thread already: Manager::reload() would wait on itself
        } catch (const std::exception&) {  // logged; serving goes on
        }
        wait_signal();
        return;
      }
      log::info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
      server.request_stop();
    });
  }
};

Manager::Manager(ManagerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Manager::~Manager() {
  stop();
}

void Manager::start() {
  if (!impl_->bound) impl_->server.bind();
  impl_->bound = true;
  impl_->start_admin();
  impl_->serving = true;
  impl_->thread = std::thread([this] {
    impl_->server.run_loop();
    impl_->serving = false;
  });
}

void Manager::run(bool handle_signals) {
  run_with_ready(nullptr, handle_signals);
}

void Manager::run_with_ready(const std::function<void(const std::string&)>& ready) {
  run_with_ready(ready, true);
}

void Manager::run_with_ready(const std::function<void(const std::string&)>& ready,
                             bool handle_signals) {
  if (!impl_->bound) impl_->server.bind();
  impl_->bound = true;
  // Signals are caught before "ready" is announced: a supervisor may send SIGTERM as soon
  // as it reads it, and that must already mean a graceful stop.
  if (handle_signals) {
    impl_->signals =
        std::make_unique<asio::signal_set>(impl_->server.io(), SIGINT, SIGTERM, SIGHUP);
    impl_->wait_signal();
  }
  impl_->start_admin();
  impl_->serving = true;
  if (ready) ready(impl_->server.address());
  impl_->server.run_loop();
  impl_->serving = false;
  impl_->stop_admin();
  impl_->signals.reset();
}

std::string Manager::reload() {
  // On the loop's thread, which owns the sessions. A loop that ends before it runs the
  // reload (a stop from another thread) leaves it to this thread.
  auto run = [this] { return impl_->reload_here(); };
  if (!impl_->serving) return run();
  auto done = std::make_shared<std::promise<std::string>>();
  auto result = done->get_future();
  asio::post(impl_->server.io(), [run, done] {
    try {
      done->set_value(run());
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  while (result.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready)
    if (!impl_->serving) return run();
  return result.get();
}

void Manager::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->stop_admin();  // its requests still find the loop running
  impl_->server.request_stop();
  impl_->thread.join();
}

std::string Manager::storage() const {
  store::Store* st = impl_->server.store();
  if (!st) return "in memory only (no --data-dir): a restart loses every queue and variable";
  const store::Stats s = st->stats();
  return "data directory " + st->options().dir + " (fsync " +
         std::string(store::fsync_name(st->options().fsync)) +
         "): " + std::to_string(s.recovered_objects) + " objects from " +
         std::to_string(s.recovered_records) + " records in " + std::to_string(s.recovery_ms) +
         " ms" +
         (s.torn_bytes_dropped
              ? ", a torn last record of " + std::to_string(s.torn_bytes_dropped) + " bytes dropped"
              : std::string());
}

uint16_t Manager::port() const {
  return impl_->server.port();
}
std::string Manager::address() const {
  return impl_->server.address();
}
uint16_t Manager::admin_port() const {
  return impl_->admin ? impl_->admin->port() : 0;
}
std::string Manager::admin_address() const {
  return impl_->admin ? impl_->admin->address() : std::string();
}

}  // namespace depot
