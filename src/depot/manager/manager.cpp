// depot::Manager (depot/manager/manager.h): a Server on a thread of its own, or on the
// caller's, with signal handling for the daemon.
#include "depot/manager/manager.h"

#include <csignal>
#include <functional>
#include <memory>
#include <thread>

#include "depot/manager/server.h"

namespace depot {

struct Manager::Impl {
  explicit Impl(ManagerOptions o) : server(std::move(o)) {}
  Server server;
  std::thread thread;
  bool bound = false;
};

Manager::Manager(ManagerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Manager::~Manager() {
  stop();
}

void Manager::start() {
  if (!impl_->bound) impl_->server.bind();
  impl_->bound = true;
  impl_->thread = std::thread([this] { impl_->server.run_loop(); });
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
  // SIGHUP reloads certificates (reload()) and waits for the next signal.
  std::unique_ptr<asio::signal_set> signals;
  std::function<void()> wait_signal;
  if (handle_signals) {
    signals = std::make_unique<asio::signal_set>(impl_->server.io(), SIGINT, SIGTERM, SIGHUP);
    wait_signal = [this, &signals, &wait_signal] {
      signals->async_wait([this, &wait_signal](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          log::info("received SIGHUP: reloading");
          try {
            reload();
          } catch (const std::exception&) {  // reload() logged it; serving goes on
          }
          wait_signal();
          return;
        }
        log::info(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
        impl_->server.request_stop();
      });
    };
    wait_signal();
  }
  if (ready) ready(impl_->server.address());
  impl_->server.run_loop();
}

void Manager::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->server.request_stop();
  impl_->thread.join();
}

std::string Manager::reload() {
  try {
    std::string done = impl_->server.reload_config();
    log::info(done);
    return done;
  } catch (const std::exception& e) {
    log::error(std::string("reload failed, still serving with the previous configuration: ") +
               e.what());
    throw;
  }
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

}  // namespace depot
