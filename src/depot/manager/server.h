// Internal to manager/: the event loop and dispatch (Server); sessions are in session.h.
// Includes Asio.
#pragma once
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "depot/auth/acl.h"
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

// What a request touches, for the permission check before its handler (docs/security.md):
// up to six names, each with the permission it needs. `pattern`: the name is a glob and the
// user must be allowed every name it can match (SUBSCRIBE, STATS's "*").
struct Touches {
  struct Touch {
    uint8_t perm;
    std::string_view name;
    bool pattern;
  };
  std::array<Touch, 6> t;  // LEASE_HOLD: its name and up to five patterns
  size_t n = 0;
  std::string owned;  // a name made up from the body (the default dead-letter queue)
  void add(uint8_t perm, std::string_view name, bool pattern = false) {
    t[n++] = Touch{perm, name, pattern};
  }
};
// Fills `out` from a request body; false when the body does not even hold the names (the
// handler then answers BAD_REQUEST without touching anything).
using TouchFn = bool (*)(std::string_view body, uint8_t perm, Touches& out);

// One opcode's handler. Each *_ops.cpp file ends with its table of these (as Redis's command
// table or dragonfly's Register*Family), and the server installs them all at construction;
// an opcode claimed twice is a bug found there, before anything is served.
struct OpEntry {
  proto::Op op;
  Handler handler;
  // May change durable state (and so write the log): refused with UNAVAILABLE while the data
  // directory cannot be written. Requests that only read are served then.
  bool writes;
  // The permission the request needs (auth::PERM_READ, PERM_WRITE, PERM_ADMIN) on the names
  // it touches, or PERM_NONE: every user may send it.
  uint8_t perm = auth::PERM_NONE;
  // Where those names are: nullptr, the body's first field (a str), else this function.
  TouchFn touches = nullptr;
};
std::span<const OpEntry> admin_ops();    // admin_ops.cpp: PING, STATS, LIST, DELETE, INSPECT
std::span<const OpEntry> queue_ops();    // queue_ops.cpp: QUEUE_*
std::span<const OpEntry> coord_ops();    // coord_ops.cpp: locks ... pub/sub
std::span<const OpEntry> monitor_ops();  // monitor.cpp: MONITOR

// A session that watches every served request (MONITOR, manager/monitor.cpp): it is sent a
// record of at most `per_second` requests a second (a token bucket holding one second's
// worth; the others are counted as skipped). Records wait in `buffer`, at most `cap` bytes,
// until its output has room for a PUSH; past the cap they are dropped and counted, and the
// next PUSH says how many of each.
struct MonitorState {
  Session* session = nullptr;  // a session stops monitoring when it closes (Session::close)
  uint64_t id = 0;
  size_t cap = 0;
  uint32_t per_second = 0;   // proto::kMonitorEveryRequest: no limit
  double tokens = 0;         // records it may be sent now
  uint64_t refilled_us = 0;  // steady clock of the last refill
  uint64_t next_us = 0;      // admits nothing before this (steady): its bucket is empty
  std::string buffer;        // encoded records, back to back
  uint32_t count = 0;        // records in buffer
  uint64_t dropped = 0;      // not reported yet
  uint64_t skipped = 0;      // not reported yet
  bool due = false;          // may go out now: the buffer is large, or the flush timer fired
  bool has_news() const { return count > 0 || dropped > 0 || skipped > 0; }
  // Whether a request served at `now_us` (steady) gets a record.
  bool admit(uint64_t now_us);
};

struct Counters {
  uint64_t connections_total = 0;
  uint64_t auth_failures = 0;
  uint64_t denied = 0;
  uint64_t requests = 0;
  uint64_t protocol_errors = 0;
  uint64_t bytes_in = 0;              // read from sessions' sockets (after TLS)
  uint64_t bytes_out = 0;             // written to them
  std::array<uint64_t, 256> by_op{};  // requests dispatched, by opcode
  uint64_t handshakes_evicted = 0;    // pending handshakes dropped for newer ones
  uint64_t auth_refused = 0;          // connections refused for too many failed authentications
};

// Requests by opcode and reply status, and the time each took in the manager: from the read
// that brought it to the end of the pass that answered it (one clock read per pass; a
// parked request's time includes its wait). For /metrics (Server::note_reply).
struct RequestStats {
  static constexpr size_t kStatuses = 16;  // Status values 0..15
  // Histogram bucket upper bounds (ns): 50 us to 10 s.
  static constexpr std::array<uint64_t, 16> kBoundsNs = {
      50'000,      100'000,       250'000,       500'000,       1'000'000,   2'500'000,
      5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000, 250'000'000,
      500'000'000, 1'000'000'000, 2'500'000'000, 10'000'000'000};
  std::array<std::array<uint64_t, kStatuses>, 256> replies{};             // [op][status]
  std::array<std::array<uint64_t, kBoundsNs.size() + 1>, 256> latency{};  // [op][bucket]
  std::array<uint64_t, 256> latency_sum_ns{};
};

class Server {
 public:
  explicit Server(ManagerOptions options);
  ~Server();
  void bind();
  void run_loop();
  void request_stop();  // thread-safe: posts the graceful shutdown
  // Re-reads the configuration that may change while serving (Manager::reload, SIGHUP): the
  // TLS certificate, key and CA (one new context for new connections) and the ACL file (new
  // users and permissions apply to every session's next request; removed users' sessions are
  // closed). Everything is loaded before anything is replaced: throws std::runtime_error,
  // keeping all the old state, when something is bad; returns what it did. Loop thread only
  // once the loop runs (Manager::reload posts it there).
  std::string reload_config();
  // The TLS context new sessions use; null without TLS. Thread-safe.
  std::shared_ptr<TlsContext> tls_context() const;

  asio::io_context& io() { return io_; }
  Registry& registry() { return registry_; }
  PubSub& pubsub() { return pubsub_; }
  const ManagerOptions& options() const { return options_; }
  Counters& counters() { return counters_; }
  const Counters& counters() const { return counters_; }
  // A reply to a request with opcode `op`, read at `start` (Session::count_reply).
  void note_reply(uint8_t op, Status s, std::chrono::steady_clock::time_point start) {
    ++requests_.replies[op][std::min<size_t>(static_cast<uint8_t>(s), RequestStats::kStatuses - 1)];
    answered_.push_back({op, start});
  }
  const RequestStats& request_stats() const { return requests_; }
  // Every session, for the admin endpoint's snapshots (loop thread only).
  const std::unordered_map<SessionId, std::shared_ptr<Session>>& sessions() const {
    return sessions_;
  }
  bool shutting_down() const { return shutting_down_; }
  size_t session_count() const { return sessions_.size(); }
  // Calls f(const Session&) for every session, in no particular order (manager/inspect.h).
  template <class F>
  void for_each_session(F&& f) const {
    for (const auto& [id, s] : sessions_) f(*s);
  }
  uint16_t port() const { return port_; }
  std::string address() const { return bound_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // Serves one request; with a monitor attached, records it for the monitors too.
  void dispatch(Session& s, const proto::Header& h, std::string_view body) {
    if (monitors_.empty()) [[likely]]
      return serve(s, h, body);
    monitored_dispatch(s, h, body);
  }

  // MONITOR (manager/monitor.cpp).
  void start_monitor(Session& s, size_t cap, uint32_t per_second, uint64_t id);
  bool stop_monitor(SessionId id);  // false: it was not a monitor
  bool monitor_pending(SessionId id) const;
  // Moves the session's buffered records into `out` as one PUSH MONITOR frame.
  void pump_monitor(SessionId id, std::string& out);
  size_t monitors() const { return monitors_.size(); }
  uint64_t monitor_dropped() const { return monitor_dropped_; }
  size_t monitor_buffered_bytes() const;
  std::string_view user_name(uint32_t id) const {
    return id < users_.size() ? std::string_view(users_[id].name) : std::string_view();
  }

  // Users (docs/security.md). The ACL in force: the --acl-file's, or Acl::single(authkey).
  const auth::Acl& acl() const { return acl_; }
  bool has_acl_file() const { return !options_.acl_file.empty(); }
  // A user's stable id (kept across reloads; never reused), made on first use.
  uint32_t user_id(std::string_view name);
  // The session's user as the ACL now has it, or nullptr (not authenticated, or removed).
  const auth::User* user_of(const Session& s) const;
  // Sessions authenticated as user id `id` right now.
  size_t user_connections(uint32_t id) const;
  void attach_user(uint32_t id);
  void detach_user(uint32_t id);
  // Bytes of items put by user `id` still held in queues (its max-queue-bytes counts these).
  uint64_t user_queue_bytes(uint32_t id) const;
  // Whether the session's user may put `bytes` more into queues; replies LIMIT when not.
  bool within_queue_bytes(Session& s, const proto::Header& h, std::string_view queue,
                          uint64_t bytes);
  void mark_dirty(std::shared_ptr<Session> s);
  // Ends a pass: writes every session's pending replies and re-arms the deadline timer.
  void end_pass();
  void remove_session(SessionId id);
  // Adds the socket of session `id` to the set read by on_sessions_ready, or removes it.
  bool watch(int fd, SessionId id, bool on);
  // Whether the request (or timer, or closing session) being handled has made records: an
  // output it gives a session now may tell of them (Session::mark_dirty notes that).
  bool making_records() const { return store_ && store_->made() != made_before_; }
  // How far the log is durable (fsync always) or written (everysec, no): the replies of passes
  // up to there may leave. Without a data directory everything may.
  uint64_t durable_position() const {
    if (!store_) return UINT64_MAX;
    return store_->replies_wait() ? store_->durable() : store_->written();
  }
  store::Store* store() { return store_.get(); }

  // Hardening (docs/security.md, "Hardening / limits").
  // Authenticated sessions: the ones --max-connections counts.
  size_t authenticated_count() const { return sessions_.size() - pending_.size(); }
  // The session finished its handshake (or ended): it leaves the unauthenticated budget.
  void handshake_done(Session& s);
  // A failed authentication from `s`: counted, logged with the peer (and the user name once
  // there are users), never the key; charged to the peer address's allowance.
  void auth_failed(Session& s, std::string_view why, std::string_view user = {});
  // Input buffered for incomplete frames past the sessions' base buffers, all sessions.
  uint64_t input_bytes() const { return input_bytes_; }
  // `s` wants `more` bytes of input buffer: true when it may have them (under
  // --max-input-buffered, or as the one session allowed past it); else it is listed and
  // resumed (Session::resume_input) once another session gives memory back.
  bool reserve_input(Session& s, size_t old_extra, size_t new_extra);
  void release_input(Session& s, size_t extra);
  // Unwritten replies of all sessions (--max-output-buffered).
  uint64_t output_bytes() const { return output_bytes_; }
  void account_output(size_t old_bytes, size_t new_bytes) {
    output_bytes_ += new_bytes;
    output_bytes_ -= old_bytes;
  }
  // Memory was given back (a large buffer drained, a session ended): returns it to the
  // system with malloc_trim, at most a few times a second.
  void note_freed(size_t bytes);
  // A warning a flood could repeat thousands of times a second: logged at most once a
  // second, with the count of those left out.
  void warn_rate_limited(const std::string& message);

 private:
  void serve(Session& s, const proto::Header& h, std::string_view body);
  void monitored_dispatch(Session& s, const proto::Header& h, std::string_view body);
  // Adds the requests no monitor recorded (monitor_unrecorded_) to each one's skipped.
  void settle_unrecorded();
  std::vector<MonitorState> monitors_;
  uint64_t monitor_dropped_ = 0;
  // Until this time (steady, us) every monitor's bucket is empty: a request served before it
  // is only counted, in monitor_unrecorded_, for all of them at once.
  uint64_t monitor_quiet_until_ = 0;
  uint64_t monitor_unrecorded_ = 0;
  std::string record_;  // the record being encoded (kept for its capacity)
  void accept();
  void arm_timer();
  // The store's pending records to the log; says so in the log when a write starts failing.
  void write_records();
  void sweep_silent_sessions();
  void begin_shutdown();
  // Refuses an accepted socket with a LIMIT frame carrying `message`, then closes it.
  static void refuse(asio::ip::tcp::socket& sock, const std::string& message);
  // Drops pending handshakes until the one from `addr` fits the unauthenticated budget.
  void make_room_for_handshake(const std::string& addr);
  // Whether `addr` has used up its failed authentications; `retry_ms` says for how long.
  bool auth_blocked(const std::string& addr, uint64_t& retry_ms);
  void wake_input_waiters();

  ManagerOptions options_;
  auth::Acl acl_;
  struct UserState {
    std::string name;
    int index = -1;  // in acl_.users, -1 when the ACL no longer has it
    size_t connections = 0;
    uint64_t queue_bytes = 0;
  };
  std::vector<UserState> users_;  // by user id
  std::unordered_map<std::string, uint32_t> user_ids_;
  void index_users();
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
  uint64_t made_before_ = 0;  // Store::made() before the request being handled
  std::vector<std::shared_ptr<Session>> flushing_;
  std::array<Handler, 256> ops_{};  // by opcode; HEARTBEAT is the dispatcher's own
  std::array<bool, 256> writes_{};
  std::array<uint8_t, 256> perms_{};
  std::array<TouchFn, 256> touches_{};
  // The permission check of dispatch: true when the request may go to its handler (else it
  // was answered DENIED, or the session closed).
  bool permitted(Session& s, const proto::Header& h, std::string_view body);
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
  RequestStats requests_;
  struct Answered {
    uint8_t op;
    std::chrono::steady_clock::time_point start;
  };
  std::vector<Answered> answered_;  // in this pass, timed at its end (record_latencies)
  void record_latencies();
  mutable std::mutex tls_mu_;  // guards tls_ (reload_config may run on any thread)
  std::shared_ptr<TlsContext> tls_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  // Hardening (docs/security.md): declared after io_, which trim_timer_ uses.
  // Pending handshakes, oldest (smallest id) first, in all and by peer address.
  std::set<SessionId> pending_;
  std::unordered_map<std::string, std::set<SessionId>> pending_by_addr_;
  struct AuthBucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
  };
  std::unordered_map<std::string, AuthBucket> auth_buckets_;
  uint64_t input_bytes_ = 0;
  SessionId input_leader_ = 0;  // the one session allowed past --max-input-buffered
  std::vector<SessionId> input_waiting_;
  uint64_t output_bytes_ = 0;
  size_t freed_ = 0;
  bool trim_armed_ = false;
  asio::steady_timer trim_timer_;
  // Monitors' records go out in batches: when a buffer passes kMonitorFlushBytes, or when
  // this timer fires (kMonitorFlushInterval after a record found it unarmed), so watching
  // costs the data path no extra write per pass (manager/monitor.cpp).
  asio::steady_timer monitor_timer_;
  bool monitor_timer_armed_ = false;
  void arm_monitor_timer();
  // warn_rate_limited: quiet until then, and how many were left out.
  std::chrono::steady_clock::time_point quiet_until_{};
  uint64_t quieted_ = 0;
};

}  // namespace depot
