// Internal to manager/: one client connection (Session). Includes Asio.
#pragma once
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "depot/auth/handshake.h"
#include "depot/manager/asio.h"
#include "depot/manager/tls.h"
#include "depot/protocol/frame.h"
#include "depot/queue/object.h"
#include "depot/queue/topic.h"

namespace depot {

class Server;

// One client connection. Reads with async_wait + non-blocking read_some so that a burst of
// pipelined requests is parsed and answered in one pass; replies accumulate in out_ and are
// written once per pass (Server::flush_dirty), like Redis' beforeSleep write.
class Session : public std::enable_shared_from_this<Session>, public SubscriberSink {
 public:
  Session(Server& server, asio::ip::tcp::socket socket, SessionId id);
  void start();
  // Closes at once: drops parked waiters, cancels I/O. Idempotent.
  void close(std::string_view why);
  // Stops reading, closes after pending replies are written (or a grace period passes).
  void close_after_flush();

  // Reply helpers: append a frame to the output and schedule a flush.
  void reply(uint64_t id, Status s, std::string_view body = {});
  void reply_error(uint64_t id, Status s, std::string_view message);
  proto::FrameBuilder begin_reply(uint64_t id, Status s = Status::OK);
  void end_reply(proto::FrameBuilder& b);

  // The socket is readable (or hung up): reads what is there and handles every whole frame.
  void on_readable();
  // Writes pending output; called by the server after each pass.
  void flush();
  // The output so far may leave only once the log is durable up to `position` (fsync always).
  void hold_output(uint64_t position);
  bool has_held_output() const { return !held_.empty(); }
  bool has_output() const { return !out_.empty(); }
  // The log became durable further: held output may go now.
  void output_released() { mark_dirty(); }
  bool listed_held = false;  // in Server::held_
  // Whether output came from a request (timer, closing session) that made records, since
  // the last call; clears it.
  bool take_told_records() { return std::exchange(told_records_, false); }
  // False once the peer is known to be gone; peeks at the socket when asked to.
  bool alive(bool probe);

  // Pub/sub: this session's subscriptions; their messages are written as PUSH frames
  // whenever the output buffer has room.
  void add_subscription(uint64_t id) { subs_.push_back(id); }
  void remove_subscription(uint64_t id);
  void messages_pending() override { mark_dirty(); }
  void overflowed() override;
  // MONITOR: the session receives a record of every served request (Server::start_monitor).
  void set_monitor(bool on) { monitor_ = on; }
  bool monitor() const { return monitor_; }
  // The output not yet written: where a request's reply is found (Server::monitored_dispatch).
  std::string_view output() const { return out_; }
  // Time of the last bytes received (requests or heartbeats), for the session lease.
  std::chrono::steady_clock::time_point last_heard() const { return last_rx_; }

  bool reading_paused() const { return read_paused_ || input_paused_; }
  // How long replies have waited for the client to read them without one byte moving (0
  // when nothing waits for the client): a session lease of it closes the session. Output of
  // pushes only does not count: the subscriptions' slow-subscriber policies govern it.
  std::chrono::steady_clock::duration output_stalled(
      std::chrono::steady_clock::time_point now) const {
    return write_in_flight_ && replies_waiting_ ? now - last_tx_
                                                : std::chrono::steady_clock::duration::zero();
  }
  // --max-input-buffered has room again: read on (Server::reserve_input listed this session).
  void resume_input();
  // Bytes this session makes the manager hold: its input and output buffers and its
  // subscriptions' buffered messages (docs/security.md). The hook for per-user limits.
  size_t buffered_bytes() const;
  size_t subscription_bytes() const;
  SessionId id() const { return id_; }
  const std::string& peer() const { return peer_; }
  // The name the client gave at the handshake (ClientOptions::name; AUTH version 4), empty
  // when it gave none or before it authenticated.
  const std::string& client_name() const { return client_name_; }
  // The peer with the client's name, for log lines: "127.0.0.1:40112 'worker-7'".
  std::string who() const {
    return client_name_.empty() ? peer_ : peer_ + " '" + client_name_ + "'";
  }
  // The peer's address without the port: what the unauthenticated budget and the
  // authentication-failure limit count by.
  const std::string& peer_address() const { return peer_addr_; }
  bool ready() const { return state_ == State::READY; }
  bool authenticating() const { return state_ == State::HANDSHAKE; }
  bool listed_pending = false;  // in Server::pending_
  // The user it authenticated as (Server::user_id), UINT32_MAX before.
  uint32_t user_id() const { return user_id_; }
  bool authenticated() const { return user_attached_; }
  // For operators (manager/inspect.h): when it connected, requests it sent (heartbeats too),
  // its subscriptions' ids.
  std::chrono::system_clock::time_point connected_at() const { return connected_at_; }
  uint64_t requests() const { return requests_; }
  const std::vector<uint64_t>& subscriptions() const { return subs_; }

 private:
  enum class State { HANDSHAKE, READY, CLOSING, CLOSED };
  void wait_readable();
  void stop_reading();
  void process_input();
  void handle_frame(const proto::Header& h, std::string_view body);
  void handle_auth(const proto::Header& h, std::string_view body);
  // Counts a reply against its request (Server::note_reply): the one being dispatched, or a
  // parked one.
  void count_reply(uint64_t id, Status s);
  void on_write_done(const boost::system::error_code& ec, size_t n);
  void flush_output();
  void mark_dirty();
  void pump_pushes();
  bool pushes_pending();
  // Makes at least `min_free` bytes free after in_end_; false when --max-input-buffered
  // says wait (reading is then paused until resume_input).
  bool make_input_room(size_t min_free);
  void set_input_size(size_t n);
  void shrink_input();
  void account_output();

  Server& server_;
  asio::ip::tcp::socket socket_;
  SessionTransport transport_{socket_};  // plain, or TLS on socket_'s fd (manager/tls.h)
  SessionId id_;
  std::string peer_;
  std::string peer_addr_;
  std::string client_name_;
  State state_ = State::HANDSHAKE;
  bool peer_gone_ = false;
  bool watched_ = false;       // in the server's epoll set
  bool read_paused_ = false;   // too many unwritten replies: reading waits for the writes
  bool input_paused_ = false;  // --max-input-buffered is full: reading waits for room
  bool dirty_ = false;
  auth::Nonce nonce_{};
  asio::steady_timer timer_;  // handshake deadline, then close grace
  std::vector<char> in_;
  size_t in_begin_ = 0, in_end_ = 0;
  size_t skip_ = 0;           // bytes of an oversized body still to discard
  size_t frame_need_ = 0;     // bytes of the incomplete frame at in_begin_ (0: header not in)
  size_t out_accounted_ = 0;  // out_ + writing_ as last told to Server::account_output
  std::string out_;
  std::string writing_;  // owned by an async_write in flight
  // (end offset in out_, log position it waits for), in order: see hold_output.
  std::deque<std::pair<size_t, uint64_t>> held_;
  size_t writable(uint64_t durable);
  void consumed(size_t n);
  bool write_in_flight_ = false;
  std::vector<uint64_t> subs_;
  bool monitor_ = false;
  uint32_t user_id_ = UINT32_MAX;
  bool user_attached_ = false;  // counted in its user's connections
  void refuse_auth(uint64_t id, Status s, const std::string& user, const std::string& why,
                   const std::string& message);
  std::chrono::steady_clock::time_point last_rx_ = std::chrono::steady_clock::now();
  // When a byte of output last moved to the socket (or a write began waiting for it).
  std::chrono::steady_clock::time_point last_tx_ = last_rx_;
  size_t tx_seen_ = 0;            // bytes the async write in flight has written so far
  bool replies_waiting_ = false;  // a REPLY was queued since the output last drained
  std::chrono::system_clock::time_point connected_at_ = std::chrono::system_clock::now();
  uint64_t requests_ = 0;
  // The request being dispatched, and those parked (answered later), for /metrics: opcode
  // and the time of the read that brought them.
  bool in_request_ = false;
  bool cur_answered_ = false;
  uint8_t cur_op_ = 0;
  uint64_t cur_id_ = 0;
  struct ParkedRequest {
    uint8_t op;
    std::chrono::steady_clock::time_point since;
  };
  std::unordered_map<uint64_t, ParkedRequest> parked_;
  bool told_records_ = false;  // see take_told_records()
};

}  // namespace depot
