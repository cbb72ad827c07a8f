// Internal to manager/: the event loop and dispatch (Server); sessions are in session.h.
// Includes Asio.
#pragma once
#include <array>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "depot/manager/asio.h"
#include "depot/manager/manager.h"
#include "depot/manager/session.h"
#include "depot/manager/tls.h"
#include "depot/protocol/frame.h"
#include "depot/queue/registry.h"
#include "depot/queue/topic.h"
#include "depot/store/store.h"

namespace depot {

using Handler = void (*)(Server&, Session&, const proto::Header&, std::string_view body);

// One opcode's handler. Each *_ops.cpp file ends with its table of these (as Redis's command
// table or dragonfly's Register*Family), and the server installs them all at construction;
// an opcode claimed twice is a bug found there, before anything is served.
struct OpEntry {
  proto::Op op;
  Handler handler;
  // May change durable state (and so write the log): refused with UNAVAILABLE while the data
  // directory cannot be written. Requests that only read are served then.
  bool writes;
};
std::span<const OpEntry> admin_ops();  // admin_ops.cpp: PING, STATS, LIST, DELETE
std::span<const OpEntry> queue_ops();  // queue_ops.cpp: QUEUE_*
std::span<const OpEntry> coord_ops();  // coord_ops.cpp: locks ... pub/sub

struct Counters {
  uint64_t connections_total = 0;
  uint64_t auth_failures = 0;
  uint64_t requests = 0;
  uint64_t protocol_errors = 0;
};

class Server {
 public:
  explicit Server(ManagerOptions options);
  ~Server();
  void bind();
  void run_loop();
  void request_stop();  // thread-safe: posts the graceful shutdown
  // Re-reads the configuration that may change while serving, from any thread: today the
  // TLS certificate, key and CA (one new context for new connections). Throws
  // std::runtime_error, keeping the old state, when something is bad; returns what it did.
  // Whatever else becomes reloadable (access lists, ...) is added here.
  std::string reload_config();
  // The TLS context new sessions use; null without TLS. Thread-safe.
  std::shared_ptr<TlsContext> tls_context() const;

  asio::io_context& io() { return io_; }
  Registry& registry() { return registry_; }
  PubSub& pubsub() { return pubsub_; }
  const ManagerOptions& options() const { return options_; }
  Counters& counters() { return counters_; }
  bool shutting_down() const { return shutting_down_; }
  size_t session_count() const { return sessions_.size(); }
  uint16_t port() const { return port_; }
  std::string address() const { return bound_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  void dispatch(Session& s, const proto::Header& h, std::string_view body);
  void mark_dirty(std::shared_ptr<Session> s);
  // Ends a pass: writes every session's pending replies and re-arms the deadline timer.
  void end_pass();
  void remove_session(SessionId id);
  // Adds the socket of session `id` to the set read by on_sessions_ready, or removes it.
  bool watch(int fd, SessionId id, bool on);
  // How far the log is durable (fsync always) or written (everysec, no): the replies of passes
  // up to there may leave. Without a data directory everything may.
  uint64_t durable_position() const {
    if (!store_) return UINT64_MAX;
    return store_->replies_wait() ? store_->durable() : store_->written();
  }
  store::Store* store() { return store_.get(); }

 private:
  void accept();
  void arm_timer();
  // The store's pending records to the log; says so in the log when a write starts failing.
  void write_records();
  void sweep_silent_sessions();
  void begin_shutdown();

  ManagerOptions options_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer shutdown_timer_;
  asio::steady_timer lease_timer_;
  TimePoint armed_ = TimePoint::max();
  Registry registry_;
  PubSub pubsub_{registry_};
  std::unordered_map<SessionId, std::shared_ptr<Session>> sessions_;
  std::vector<std::shared_ptr<Session>> dirty_;
  std::vector<std::shared_ptr<Session>> flushing_;
  std::array<Handler, 256> ops_{};  // by opcode; HEARTBEAT is the dispatcher's own
  std::array<bool, 256> writes_{};
  // The data directory, when there is one (--data-dir). Declared after io_: destroyed first.
  std::unique_ptr<store::Store> store_;
  std::vector<std::shared_ptr<Session>> held_;  // sessions with replies waiting for the log
  asio::steady_timer store_timer_;              // retries a failed write, polls a compaction
  bool store_timer_armed_ = false;
  void on_durable();
  void arm_store_timer();
  // Sessions' sockets in an epoll set of our own, level-triggered and registered once (Asio
  // re-arms every wait with an epoll_ctl): Asio says when the set has events, and one pass
  // reads every ready session before the replies of all of them are flushed.
  int session_epoll_ = -1;
  asio::posix::stream_descriptor session_epoll_watch_;
  void watch_sessions();
  void on_sessions_ready();
  SessionId next_session_ = 1;
  bool shutting_down_ = false;
  uint16_t port_ = 0;
  std::string bound_;
  Counters counters_;
  mutable std::mutex tls_mu_;  // guards tls_ (reload_config may run on any thread)
  std::shared_ptr<TlsContext> tls_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace depot
