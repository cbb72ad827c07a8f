// A client connection: the handshake, reading and parsing frames, replies and pushes
// written once per pass, backpressure, and the session's end (docs/design.md, "The manager").
#include "depot/manager/session.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "depot/manager/log.h"
#include "depot/manager/server.h"
#include "depot/protocol/messages.h"

namespace depot {

namespace {
// Read at most this much per pass from one connection before letting others run.
constexpr size_t kReadBudget = 1 << 20;
// An authenticated session's input buffer; larger frames grow it as their bytes arrive, and
// it shrinks back once they are handled. Only what is above it counts toward
// --max-input-buffered.
constexpr size_t kInitialInBuffer = 64 * 1024;
// Before authenticating a connection holds this much input (frames are at most 1040 bytes
// then): a flood of silent connections costs little memory.
constexpr size_t kHandshakeInBuffer = 2048;
// Stop reading from a client whose unread replies exceed this: it must drain first.
constexpr size_t kMaxPendingOut = 64u << 20;
// Past --max-output-buffered, sessions with more than this unread stop being read.
constexpr size_t kMinPausedOut = 1u << 20;
// Output buffers larger than this are given back once drained.
constexpr size_t kShrinkOutAbove = 1u << 20;
// Before authentication only HELLO-sized frames are accepted (AUTH is 16 + 66 bytes), so an
// unauthenticated peer cannot make the manager reserve --max-frame bytes per connection.
constexpr uint32_t kMaxHandshakeFrame = 1024;
// Pushes (pub/sub messages) are moved from subscription buffers into the output only while
// it holds less than this, so a subscriber that does not read keeps its messages in its own
// bounded buffer, where the slow-subscriber policy applies, not in an unbounded output.
constexpr size_t kPushBudget = 256 * 1024;
}  // namespace

Session::Session(Server& server, asio::ip::tcp::socket socket, SessionId id)
    : server_(server), socket_(std::move(socket)), id_(id), timer_(server.io()) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  peer_addr_ = ec ? std::string("unknown peer") : ep.address().to_string();
  peer_ = ec ? peer_addr_ : peer_addr_ + ":" + std::to_string(ep.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  if (auto tls = server.tls_context()) transport_.use_tls(std::move(tls), peer_);
}

size_t Session::subscription_bytes() const {
  size_t n = 0;
  for (uint64_t id : subs_)
    if (const Subscription* sub = server_.pubsub().find(id)) n += sub->buffered_bytes;
  return n;
}

size_t Session::buffered_bytes() const {
  return in_.size() + out_.capacity() + writing_.capacity() + subscription_bytes();
}

namespace {
size_t input_extra(size_t size) {
  return size > kInitialInBuffer ? size - kInitialInBuffer : 0;
}
}  // namespace

bool Session::make_input_room(size_t min_free) {
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  if (in_.size() - in_end_ >= min_free) return true;
  if (in_begin_ > 0) {  // compact
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
    if (in_.size() - in_end_ >= min_free) return true;
  }
  // Grow geometrically as bytes arrive, never to a size only declared: a header announcing
  // 64 MiB makes the buffer grow as its body comes in, not at once.
  const size_t base = state_ == State::HANDSHAKE ? kHandshakeInBuffer : kInitialInBuffer;
  size_t target = std::max({in_.size() * 2, in_end_ + min_free, base});
  if (frame_need_ > in_end_) target = std::min(target, std::max(frame_need_, in_end_ + min_free));
  if (!server_.reserve_input(*this, input_extra(in_.size()), input_extra(target))) return false;
  in_.resize(target);
  return true;
}

void Session::shrink_input() {
  // Once a large frame is handled, its memory goes back (also under steady pipelining: what
  // is left is a part of a small frame).
  const size_t avail = in_end_ - in_begin_;
  if (in_.size() <= kInitialInBuffer || avail > kInitialInBuffer / 2 ||
      frame_need_ > kInitialInBuffer / 2)
    return;
  std::vector<char> smaller(kInitialInBuffer);
  std::memcpy(smaller.data(), in_.data() + in_begin_, avail);
  const size_t extra = input_extra(in_.size());
  in_.swap(smaller);
  in_begin_ = 0;
  in_end_ = avail;
  server_.release_input(*this, extra);
  server_.note_freed(extra);
}

void Session::resume_input() {
  if (!input_paused_ || (state_ != State::READY && state_ != State::HANDSHAKE)) return;
  input_paused_ = false;
  last_rx_ = std::chrono::steady_clock::now();  // we were the ones not reading
  if (read_paused_) return;                     // flush() resumes once the replies are out
  wait_readable();
  on_readable();  // the kernel may hold the rest of the frame already
}

void Session::account_output() {
  const size_t now = out_.size() + writing_.size();
  server_.account_output(out_accounted_, now);
  out_accounted_ = now;
}

void Session::start() {
  // HELLO: u32 magic, u16 version, u16 nonce length, nonce.
  try {
    nonce_ = auth::random_nonce();
  } catch (const std::exception& e) {
    log::error(std::string("refusing ") + peer_ + ": " + e.what());
    close("no random nonce");
    return;
  }
  auth::append_hello(out_, nonce_, transport_.tls());
  transport_.on_reread(weak_from_this(), [this] {
    on_readable();
    server_.end_pass();
  });
  mark_dirty();
  auto self = shared_from_this();
  timer_.expires_after(server_.options().handshake_timeout);
  timer_.async_wait([self](const boost::system::error_code& ec) {
    if (ec || self->state_ != State::HANDSHAKE) return;
    self->server_.warn_rate_limited("closing " + self->peer_ +
                                    ": no authentication within the handshake deadline "
                                    "(--handshake-timeout)");
    self->close("handshake timeout");
    self->server_.end_pass();
  });
  wait_readable();
}

void Session::wait_readable() {
  if (state_ == State::CLOSED || state_ == State::CLOSING) return;
  transport_.reread_if_pending();  // TLS: bytes inside OpenSSL that epoll will not announce
  if (watched_) return;
  // The server's epoll set reports the socket readable (level-triggered, registered once):
  // no re-arming per request, and every session that is ready is read in one pass.
  watched_ = server_.watch(socket_.native_handle(), id_, true);
}

void Session::stop_reading() {
  if (!watched_) return;
  server_.watch(socket_.native_handle(), id_, false);
  watched_ = false;
}

void Session::on_readable() {
  if (state_ == State::CLOSED || state_ == State::CLOSING) {
    stop_reading();
    return;
  }
  if (input_paused_) return;
  size_t budget = kReadBudget;
  while (budget > 0) {
    if (!make_input_room(state_ == State::HANDSHAKE ? 1024 : 4096)) {
      // --max-input-buffered is full: Server::wake_input_waiters resumes us.
      input_paused_ = true;
      stop_reading();
      account_output();
      return;
    }
    boost::system::error_code rec;
    const size_t asked = in_.size() - in_end_;
    size_t n = transport_.read_some(in_.data() + in_end_, asked, rec);
    if (rec == asio::error::would_block || rec == asio::error::try_again) break;
    if (rec) {
      if (in_end_ > in_begin_) process_input();  // answer what arrived before the close
      peer_gone_ = true;
      close(rec == asio::error::eof ? "peer closed the connection" : rec.message());
      return;
    }
    // The kernel had no more for now (TLS: OpenSSL's last read was short and it holds none).
    const bool drained = transport_.drained(n, asked);
    last_rx_ = std::chrono::steady_clock::now();
    server_.counters().bytes_in += n;
    in_end_ += n;
    budget -= std::min(budget, n);
    process_input();
    if (state_ != State::HANDSHAKE && state_ != State::READY) return;
    shrink_input();
    // A short read means the socket is empty: skip the read that would only say EAGAIN.
    // Safe with Asio's reactor: re-arming the wait (epoll_ctl MOD) reports data that came
    // in meanwhile.
    if (drained) break;
  }
  account_output();
  const size_t pending = out_.size() + writing_.size();
  if (out_.size() > kMaxPendingOut ||
      (pending > kMinPausedOut && server_.output_bytes() > server_.options().max_output_buffered)) {
    read_paused_ = true;  // resumed by flush() once the replies are written
    stop_reading();
    return;
  }
  wait_readable();
}

void Session::process_input() {
  while (state_ == State::HANDSHAKE || state_ == State::READY) {
    frame_need_ = 0;
    if (skip_ > 0) {
      size_t n = std::min(skip_, in_end_ - in_begin_);
      in_begin_ += n;
      skip_ -= n;
      if (skip_ > 0) return;
    }
    const size_t avail = in_end_ - in_begin_;
    const uint32_t limit =
        state_ == State::HANDSHAKE ? kMaxHandshakeFrame : server_.options().max_frame;
    proto::Decoded d = proto::decode(in_.data() + in_begin_, avail, limit);
    // After the handshake only REQUEST frames are valid. The kind is checked before the size,
    // as soon as the header is in: a wrong kind is a broken peer, not a large request, so it
    // gets BAD_REQUEST and the connection closes, even when its body_len is above --max-frame.
    const bool header_in =
        d.status != proto::DecodeStatus::MALFORMED && avail >= proto::kHeaderSize;
    if (state_ == State::READY && header_in && d.header.kind != proto::FrameKind::REQUEST) {
      ++server_.counters().protocol_errors;
      reply_error(d.header.id, Status::BAD_REQUEST,
                  "clients send REQUEST frames only after the handshake; closing the connection");
      close_after_flush();
      return;
    }
    switch (d.status) {
      case proto::DecodeStatus::NEED_MORE:
        // The buffer grows as the rest arrives (make_input_room), up to this much.
        if (avail >= proto::kHeaderSize) frame_need_ = proto::kHeaderSize + d.header.body_len;
        return;
      case proto::DecodeStatus::MALFORMED:
        ++server_.counters().protocol_errors;
        log::warn("closing " + who() + ": " + d.error);
        reply_error(d.header.id, Status::BAD_REQUEST, d.error + "; closing the connection");
        close_after_flush();
        return;
      case proto::DecodeStatus::TOO_LARGE:
        ++server_.counters().protocol_errors;
        if (state_ == State::HANDSHAKE) {
          log::warn("closing " + who() + ": a " + std::to_string(d.header.body_len) +
                    "-byte frame before authenticating");
          reply_error(d.header.id, Status::TOO_LARGE,
                      "a frame of " + std::to_string(d.header.body_len) +
                          " bytes before authenticating; handshake frame bodies are at most " +
                          std::to_string(kMaxHandshakeFrame) + " bytes");
          close_after_flush();
          return;
        }
        reply_error(d.header.id, Status::TOO_LARGE, d.error);
        in_begin_ += proto::kHeaderSize;
        skip_ = d.header.body_len;
        continue;
      case proto::DecodeStatus::OK:
        break;
    }
    in_begin_ += proto::kHeaderSize + d.header.body_len;
    handle_frame(d.header, d.body);
  }
}

void Session::handle_frame(const proto::Header& h, std::string_view body) {
  if (state_ == State::HANDSHAKE) {
    handle_auth(h, body);
    return;
  }
  ++requests_;
  // The reply is counted against this request (count_reply); one that gets none now is
  // parked, and counted when its reply comes.
  in_request_ = true;
  cur_id_ = h.id;
  cur_op_ = h.code;
  cur_answered_ = false;
  server_.dispatch(*this, h, body);  // process_input let only REQUEST frames through
  in_request_ = false;
  if (!cur_answered_ && h.code != static_cast<uint8_t>(proto::Op::HEARTBEAT) &&
      state_ == State::READY)
    parked_.insert_or_assign(h.id, ParkedRequest{h.code, last_rx_});
}

void Session::count_reply(uint64_t id, Status s) {
  if (in_request_ && id == cur_id_ && !cur_answered_) {
    cur_answered_ = true;
    server_.note_reply(cur_op_, s, last_rx_);
    return;
  }
  if (parked_.empty()) return;
  auto it = parked_.find(id);
  if (it == parked_.end()) return;
  server_.note_reply(it->second.op, s, it->second.since);
  parked_.erase(it);
}

void Session::handle_auth(const proto::Header& h, std::string_view body) {
  if (h.kind != proto::FrameKind::AUTH) {
    server_.auth_failed(*this, "it sent a request before authenticating");
    reply_error(h.id, Status::AUTH_FAILED,
                "authenticate first: answer the manager's HELLO with an AUTH frame");
    close_after_flush();
    return;
  }
  auth::AuthFrame a;
  if (!auth::parse_auth(body, a)) {
    server_.auth_failed(*this, "malformed AUTH frame");
    reply_error(h.id, Status::BAD_REQUEST,
                "malformed AUTH frame: expected u16 version 4, str user, str name, 32-byte mac, "
                "32-byte nonce (or version 3 without the name, or 2 without user and name)");
    close_after_flush();
    return;
  }
  if (a.version != proto::kVersion && a.version != proto::kVersionUser &&
      a.version != proto::kVersionNoUser) {
    reply_error(h.id, Status::BAD_REQUEST,
                "protocol version " + std::to_string(a.version) +
                    " is not supported; this manager speaks versions 2 to " +
                    std::to_string(proto::kVersion) + ": upgrade the client or the manager");
    close_after_flush();
    return;
  }
  if (a.version == proto::kVersion) {
    if (const std::string why = auth::check_client_name(a.name); !why.empty()) {
      reply_error(h.id, Status::BAD_REQUEST,
                  why + "; give the client another name (ClientOptions::name, --name)");
      close_after_flush();
      return;
    }
  }
  const bool named = !a.user.empty() || a.version == proto::kVersionUser;
  const std::string user(named ? a.user : auth::kDefaultUser);
  const auth::User* u = server_.acl().find(user);
  if (!u && !named) {
    refuse_auth(h.id, Status::AUTH_FAILED, user, "a version-2 client names no user",
                "this manager has users (an ACL file) and none named 'default'; a client of "
                "protocol version 2, or one given no user, cannot name one: give the client "
                "its user (ClientOptions::user, DEPOT_USER or --user), upgrading it if needed");
    return;
  }
  // Every key of the user is tried, each compared in constant time, and an unknown user costs
  // one HMAC as well: the time taken says nothing about which key matched or who exists.
  const std::string* matched = nullptr;
  if (u) {
    for (const std::string& key : u->keys)
      if (auth::mac_equal(auth::client_proof(key, nonce_, a.user), a.client_mac) && !matched)
        matched = &key;
  } else {
    (void)auth::mac_equal(auth::client_proof("no such user", nonce_, a.user), a.client_mac);
  }
  if (!matched) {
    refuse_auth(h.id, Status::AUTH_FAILED, user, u ? "wrong key" : "no such user",
                server_.has_acl_file() || named
                    ? msg::user_or_key_refused(user)
                    : "the authkey does not match the manager's; check the key you gave");
    return;
  }
  const uint32_t uid = server_.user_id(user);
  if (u->max_connections && server_.user_connections(uid) >= u->max_connections) {
    refuse_auth(h.id, Status::LIMIT, user, "connection limit",
                "user '" + user + "' has " + std::to_string(server_.user_connections(uid)) +
                    " connections, its limit (max-connections " +
                    std::to_string(u->max_connections) +
                    " in the manager's ACL file); close one of them or ask for a higher limit");
    return;
  }
  if (server_.authenticated_count() >= server_.options().max_connections) {
    reply_error(h.id, Status::LIMIT, msg::connection_limit(server_.authenticated_count()));
    close_after_flush();
    return;
  }
  server_.handshake_done(*this);  // leaves the unauthenticated budget
  user_id_ = uid;
  user_attached_ = true;
  server_.attach_user(uid);
  auth::append_auth_ok(out_, h.id, *matched, a.client_nonce, nonce_,
                       server_.options().session_lease);
  mark_dirty();
  state_ = State::READY;
  timer_.cancel();
  client_name_ = a.name;
  log::debug("session " + std::to_string(id_) + " authenticated from " + who() + " as user '" +
             user + "'");
}

void Session::refuse_auth(uint64_t id, Status s, const std::string& user, const std::string& why,
                          const std::string& message) {
  // A refused key or user counts against the peer address's allowance (Server::auth_failed
  // logs the peer and the user name, never a key); a user's connection limit does not.
  if (s == Status::LIMIT)
    log::warn("refused " + peer_ + " as user '" + user + "': " + why);
  else
    server_.auth_failed(*this, why, user);
  reply_error(id, s, message);
  close_after_flush();
}

void Session::reply(uint64_t id, Status s, std::string_view body) {
  if (state_ == State::CLOSED) return;
  count_reply(id, s);
  proto::append_frame(out_, proto::FrameKind::REPLY, static_cast<uint8_t>(s), id, body);
  replies_waiting_ = true;
  mark_dirty();
}

void Session::reply_error(uint64_t id, Status s, std::string_view message) {
  if (state_ == State::CLOSED) return;
  count_reply(id, s);
  proto::FrameBuilder b(out_, proto::FrameKind::REPLY, static_cast<uint8_t>(s), id);
  b.str(message);
  b.finish();
  replies_waiting_ = true;
  mark_dirty();
}

proto::FrameBuilder Session::begin_reply(uint64_t id, Status s) {
  count_reply(id, s);
  return proto::FrameBuilder(out_, proto::FrameKind::REPLY, static_cast<uint8_t>(s), id);
}

void Session::end_reply(proto::FrameBuilder& b) {
  b.finish();
  replies_waiting_ = true;
  mark_dirty();
}

void Session::mark_dirty() {
  if (server_.making_records()) told_records_ = true;  // (called with each output)
  if (dirty_ || state_ == State::CLOSED) return;
  dirty_ = true;
  server_.mark_dirty(shared_from_this());
}

void Session::remove_subscription(uint64_t id) {
  subs_.erase(std::remove(subs_.begin(), subs_.end(), id), subs_.end());
}

void Session::overflowed() {
  if (state_ != State::READY) return;
  log::warn("closing " + who() + ": a subscriber too slow for its buffer (policy: disconnect)");
  peer_gone_ = true;  // nothing more is delivered to it
  asio::post(server_.io(), [self = shared_from_this()] {
    self->close("slow subscriber");
    self->server_.end_pass();
  });
}

bool Session::pushes_pending() {
  if (state_ != State::READY) return false;
  if (monitor_ && server_.monitor_pending(id_)) return true;
  for (uint64_t id : subs_)
    if (auto* sub = server_.pubsub().find(id); sub && !sub->buffer.empty()) return true;
  return false;
}

void Session::pump_pushes() {
  if (monitor_ && !peer_gone_ && out_.size() < kPushBudget) server_.pump_monitor(id_, out_);
  if (subs_.empty() || peer_gone_) return;
  bool more = true;
  while (more && out_.size() < kPushBudget) {
    more = false;
    for (uint64_t id : subs_) {  // round robin over this session's subscriptions
      Subscription* sub = server_.pubsub().find(id);
      Subscription::Message m;
      if (!sub || !server_.pubsub().pop(*sub, m)) continue;
      proto::FrameBuilder b(out_, proto::FrameKind::PUSH,
                            static_cast<uint8_t>(proto::Push::MESSAGE), id);
      b.str(m.topic).u64(sub->dropped).str(m.payload);
      b.finish();
      server_.note_freed(m.topic.size() + m.payload.size());
      more = more || !sub->buffer.empty();
      if (out_.size() >= kPushBudget) break;
    }
  }
}

void Session::hold_output(uint64_t position) {
  if (out_.empty()) return;
  if (!held_.empty() && held_.back().first == out_.size()) {
    held_.back().second = std::max(held_.back().second, position);  // never an earlier one
    return;
  }
  held_.emplace_back(out_.size(), position);
}

size_t Session::writable(uint64_t durable) {
  // Holds are in order of both offset and position: the prefix up to the last one met may go.
  size_t limit = 0;
  while (!held_.empty() && held_.front().second <= durable) {
    limit = held_.front().first;
    held_.pop_front();
  }
  return held_.empty() ? out_.size() : limit;
}

void Session::consumed(size_t n) {
  out_.erase(0, n);
  for (auto& h : held_) h.first -= n;
}

void Session::flush() {
  flush_output();
  account_output();
}

void Session::flush_output() {
  dirty_ = false;
  if (state_ == State::READY && !write_in_flight_ && held_.empty()) pump_pushes();
  if (state_ == State::CLOSED || write_in_flight_ || out_.empty()) {
    if (state_ == State::CLOSING && !write_in_flight_ && out_.empty()) close("closed after flush");
    return;
  }
  // Under `fsync always`, replies wait until the log is durable past the records they tell of.
  const size_t limit = held_.empty() ? out_.size() : writable(server_.durable_position());
  if (limit == 0) return;  // the store's next fsync marks this session dirty again
  boost::system::error_code ec;
  size_t n = transport_.write_some(out_.data(), limit, ec);
  server_.counters().bytes_out += n;
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    peer_gone_ = true;
    close(ec.message());
    return;
  }
  if (n > 0) last_tx_ = std::chrono::steady_clock::now();
  if (n < out_.size() && n == limit) {  // the rest waits for the log
    consumed(n);
    return;
  }
  if (n == out_.size()) {
    out_.clear();
    replies_waiting_ = false;                 // everything queued is with the kernel now
    if (out_.capacity() > kShrinkOutAbove) {  // a large burst drained: give it back
      server_.note_freed(out_.capacity());
      std::string().swap(out_);
    }
    if (state_ == State::CLOSING) close("closed after flush");
    // Buffered messages may remain: deliver them in a later pass (others go first).
    if (pushes_pending()) mark_dirty();
    if (read_paused_) {
      read_paused_ = false;
      last_rx_ = std::chrono::steady_clock::now();  // its heartbeats waited unread: not silent
      if (!input_paused_) wait_readable();
    }
    return;
  }
  // The kernel buffer is full: hand the rest of what may go to an async write and keep
  // collecting replies.
  writing_.assign(out_, n, limit - n);
  consumed(limit);
  write_in_flight_ = true;
  // The sweep closes a session whose output does not move for a lease: every byte the
  // write gets out counts as progress.
  last_tx_ = std::chrono::steady_clock::now();
  tx_seen_ = 0;
  transport_.async_write(
      writing_,
      [this](size_t done) {
        if (done != tx_seen_) {
          tx_seen_ = done;
          last_tx_ = std::chrono::steady_clock::now();
        }
      },
      [self = shared_from_this()](const boost::system::error_code& e, size_t k) {
        self->on_write_done(e, k);
        self->server_.end_pass();
      });
}

void Session::on_write_done(const boost::system::error_code& ec, size_t n) {
  server_.counters().bytes_out += n;
  write_in_flight_ = false;
  last_tx_ = std::chrono::steady_clock::now();
  writing_.clear();
  if (out_.empty()) replies_waiting_ = false;
  if (writing_.capacity() > kShrinkOutAbove) {
    server_.note_freed(writing_.capacity());
    std::string().swap(writing_);
  }
  account_output();
  if (state_ == State::CLOSED) return;
  if (ec) {
    peer_gone_ = true;
    close(ec.message());
    return;
  }
  if (!out_.empty() || state_ == State::CLOSING || pushes_pending()) mark_dirty();
  if (state_ == State::READY || state_ == State::HANDSHAKE) {
    read_paused_ = false;
    last_rx_ = std::chrono::steady_clock::now();  // its heartbeats waited unread: not silent
    if (!input_paused_) wait_readable();
  }
}

bool Session::alive(bool probe) {
  if (state_ == State::CLOSED || peer_gone_) return false;
  if (!probe) return true;
  char c;
  ssize_t r = ::recv(socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    peer_gone_ = true;
    // Close on the next turn of the loop: we may be inside an object's waiter scan.
    asio::post(server_.io(), [self = shared_from_this()] {
      self->close("peer closed the connection");
      self->server_.end_pass();
    });
    return false;
  }
  return true;
}

void Session::close_after_flush() {
  if (state_ == State::CLOSED || state_ == State::CLOSING) return;
  state_ = State::CLOSING;
  server_.registry().drop_session(id_);
  server_.pubsub().drop_session(id_);
  subs_.clear();
  if (monitor_) server_.stop_monitor(id_);
  mark_dirty();
  // A peer that never reads must not keep the session forever.
  timer_.expires_after(std::chrono::seconds(2));
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->close("close grace period over");
  });
}

void Session::close(std::string_view why) {
  if (state_ == State::CLOSED) return;
  const bool was_ready = state_ == State::READY || state_ == State::CLOSING;
  const size_t held = buffered_bytes();
  state_ = State::CLOSED;
  server_.handshake_done(*this);
  if (user_attached_) {
    user_attached_ = false;
    server_.detach_user(user_id_);
  }
  server_.registry().drop_session(id_);
  server_.pubsub().drop_session(id_);
  subs_.clear();
  if (monitor_) server_.stop_monitor(id_);
  boost::system::error_code ec;
  timer_.cancel();
  stop_reading();
  if (!peer_gone_) transport_.shutdown();  // TLS: close_notify
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  std::string().swap(out_);
  held_.clear();
  account_output();  // what an async write still holds is released when it ends
  server_.release_input(*this, input_extra(in_.size()));
  std::vector<char>().swap(in_);
  in_begin_ = in_end_ = 0;
  server_.note_freed(held);
  if (was_ready)
    log::debug("session " + std::to_string(id_) + " (" + who() + ") closed: " + std::string(why));
  server_.remove_session(id_);
}

}  // namespace depot
