// The event loop: accepting, the session table, dispatch through the opcode table, the pass
// that flushes every session's replies, waiter and timer deadlines, the session lease sweep,
// graceful shutdown and busy polling (docs/design.md, "The manager").
#include "depot/manager/server.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

#include "depot/manager/log.h"
#include "depot/protocol/address.h"
#include "depot/protocol/messages.h"

namespace depot {

Server::Server(ManagerOptions options)
    : options_(std::move(options)),
      io_(1),
      acceptor_(io_),
      deadline_timer_(io_),
      shutdown_timer_(io_),
      lease_timer_(io_),
      registry_(RegistryLimits{options_.max_objects, options_.max_waiters}),
      store_timer_(io_),
      session_epoll_watch_(io_),
      trim_timer_(io_),
      monitor_timer_(io_) {
  pubsub_.set_max_buffer_bytes(options_.max_subscription_bytes);
  session_epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (session_epoll_ < 0)
    throw std::runtime_error(std::string("epoll_create1 failed: ") + std::strerror(errno));
  session_epoll_watch_.assign(session_epoll_);  // closes it when the server goes
  for (auto table : {admin_ops(), queue_ops(), coord_ops(), monitor_ops()})
    for (const OpEntry& e : table) {
      Handler& slot = ops_[static_cast<uint8_t>(e.op)];
      if (slot)
        throw std::logic_error("opcode " + std::string(proto::op_name(static_cast<uint8_t>(e.op))) +
                               " has two handlers");
      slot = e.handler;
      writes_[static_cast<uint8_t>(e.op)] = e.writes;
      perms_[static_cast<uint8_t>(e.op)] = e.perm;
      touches_[static_cast<uint8_t>(e.op)] = e.touches;
    }
  if (!options_.acl_file.empty()) {
    try {
      acl_ = auth::Acl::load(options_.acl_file);
    } catch (const auth::AclError& e) {
      throw std::runtime_error(std::string(e.what()) + " (fix the ACL file; nothing was served)");
    }
  } else if (!options_.authkey.empty()) {
    acl_ = auth::Acl::single(options_.authkey);
  }
  users_.push_back(UserState{});  // id 0: nobody (items read back from the data directory)
  index_users();
  registry_.owner_bytes = [this](uint32_t owner, int64_t delta) {
    if (owner < users_.size()) users_[owner].queue_bytes += static_cast<uint64_t>(delta);
  };
  // Messages buffered for a user's subscriptions count against its max-queue-bytes too.
  pubsub_.owner_has_room = [this](uint32_t owner, uint64_t bytes) {
    if (owner >= users_.size() || users_[owner].index < 0) return true;
    const uint64_t limit = acl_.users[static_cast<size_t>(users_[owner].index)].max_queue_bytes;
    return limit == 0 || users_[owner].queue_bytes + bytes <= limit;
  };
  registry_.session_alive = [this](SessionId id) {
    auto it = sessions_.find(id);
    return it != sessions_.end() && it->second->alive(true);
  };
  registry_.session_name = [this](SessionId id) {
    auto it = sessions_.find(id);
    return it == sessions_.end() ? std::string() : it->second->client_name();
  };
  if (options_.tls.enabled()) tls_ = TlsContext::load(options_.tls);  // throws: bad files
  if (!options_.data_dir.empty()) {
    store::Options so;
    so.dir = options_.data_dir;
    if (!store::parse_fsync(options_.fsync, so.fsync))
      throw std::runtime_error("--fsync takes always, everysec or no, not '" + options_.fsync +
                               "'");
    so.compact_min_bytes = options_.compact_min_bytes;
    so.compact_percent = options_.compact_percent;
    so.warn = [](const std::string& m) { log::warn(m); };
    // The store's thread says when the log is durable further; the loop releases replies.
    store_ = std::make_unique<store::Store>(std::move(so), registry_,
                                            [this] { asio::post(io_, [this] { on_durable(); }); });
  }
}

Server::~Server() {
  for (auto& [id, s] : std::unordered_map(sessions_)) s->close("manager destroyed");
  if (store_) store_->close();  // what the sessions' ends recorded is made durable too
}

void Server::bind() {
  proto::Address a;
  if (auto err = proto::parse_address(options_.address, a); !err.empty())
    throw std::runtime_error(err);
  if (options_.authkey.empty() && options_.acl_file.empty())
    throw std::runtime_error(
        "no authkey given: pass --authkey, --authkey-file or DEPOT_AUTHKEY (or --acl-file)");
  if (a.tls && !options_.tls.enabled())
    throw std::runtime_error("the address " + options_.address +
                             " asks for TLS: pass --tls-cert FILE and --tls-key FILE "
                             "(ManagerOptions::tls), or listen on a plain host:port");
  asio::ip::tcp::resolver resolver(io_);
  boost::system::error_code ec;
  auto results = resolver.resolve(a.host.empty() ? "0.0.0.0" : a.host, std::to_string(a.port),
                                  asio::ip::tcp::resolver::passive, ec);
  if (ec || results.empty())
    throw std::runtime_error("cannot resolve address '" + options_.address + "': " + ec.message());
  auto ep = results.begin()->endpoint();
  acceptor_.open(ep.protocol(), ec);
  // Not inherited by programs an embedding process starts: a child must not keep the port.
  if (!ec) ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(
        "cannot listen on " + options_.address + ": " + ec.message() +
        (ec == asio::error::address_in_use ? " (is another manager running there?)" : ""));
  auto local = acceptor_.local_endpoint();
  port_ = local.port();
  bound_ = (a.host.empty() ? std::string("0.0.0.0") : a.host) + ":" + std::to_string(port_);
  accept();
  watch_sessions();
  sweep_silent_sessions();
}

void Server::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, asio::ip::tcp::socket sock) {
    if (ec) {
      if (ec != asio::error::operation_aborted && !shutting_down_) {
        log::error("accept failed: " + ec.message());
        // EMFILE and friends: back off briefly instead of spinning.
        auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
        t->async_wait([this, t](const boost::system::error_code&) { accept(); });
      }
      return;
    }
    boost::system::error_code pec;
    const auto ep = sock.remote_endpoint(pec);
    const std::string addr = pec ? std::string("unknown peer") : ep.address().to_string();
    uint64_t retry_ms = 0;
    if (auth_blocked(addr, retry_ms)) {
      ++counters_.auth_refused;
      refuse(sock, msg::auth_failures_limit(addr, retry_ms));
      warn_rate_limited("refused a connection from " + addr +
                        ": too many failed authentications (--auth-failure-burst)");
    } else if (authenticated_count() >= options_.max_connections) {
      // Only authenticated sessions count: pending handshakes have a budget of their own.
      refuse(sock, msg::connection_limit(authenticated_count()));
      warn_rate_limited("refused a connection: --max-connections " +
                        std::to_string(options_.max_connections) + " reached");
    } else {
      make_room_for_handshake(addr);
      ::fcntl(sock.native_handle(), F_SETFD, FD_CLOEXEC);  // see bind()
      const SessionId id = next_session_++;
      auto s = std::make_shared<Session>(*this, std::move(sock), id);
      sessions_.emplace(id, s);
      pending_.insert(id);
      pending_by_addr_[s->peer_address()].insert(id);
      s->listed_pending = true;
      ++counters_.connections_total;
      log::debug("connection " + std::to_string(id) + " from " + s->peer());
      s->start();
    }
    end_pass();
    accept();
  });
}

void Server::refuse(asio::ip::tcp::socket& sock, const std::string& message) {
  std::string out;
  proto::FrameBuilder b(out, proto::FrameKind::REPLY, static_cast<uint8_t>(Status::LIMIT), 0);
  b.str(message);
  b.finish();
  boost::system::error_code wec;
  sock.non_blocking(true, wec);
  sock.write_some(asio::buffer(out), wec);
  sock.close(wec);
}

void Server::warn_rate_limited(const std::string& message) {
  if (log::level() < log::Level::WARN) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < quiet_until_) {
    ++quieted_;
    return;
  }
  log::warn(quieted_ ? message + " (and " + std::to_string(quieted_) +
                           " such warnings in the last second, not shown)"
                     : message);
  quieted_ = 0;
  quiet_until_ = now + std::chrono::seconds(1);
}

void Server::make_room_for_handshake(const std::string& addr) {
  const size_t per_addr = std::max<size_t>(options_.max_unauthenticated_per_address, 1);
  const size_t total = std::max<size_t>(options_.max_unauthenticated, 1);
  for (;;) {
    SessionId victim = 0;
    auto it = pending_by_addr_.find(addr);
    if (it != pending_by_addr_.end() && it->second.size() >= per_addr)
      victim = *it->second.begin();  // the address's own oldest: it cannot crowd others out
    else if (pending_.size() >= total)
      victim = *pending_.begin();  // the oldest of all: a real handshake takes a round trip
    else
      return;
    auto s = sessions_.find(victim);
    if (s == sessions_.end()) {  // cannot happen: closing takes it off the lists
      pending_.erase(victim);
      if (it != pending_by_addr_.end()) it->second.erase(victim);
      continue;
    }
    ++counters_.handshakes_evicted;
    warn_rate_limited("dropped the pending handshake of " + s->second->peer() +
                      " for a newer connection: --max-unauthenticated " + std::to_string(total) +
                      " / --max-unauthenticated-per-address " + std::to_string(per_addr) +
                      " reached");
    auto keep = s->second;
    keep->close("pending handshake dropped for a newer one");
  }
}

void Server::handshake_done(Session& s) {
  if (!s.listed_pending) return;
  s.listed_pending = false;
  pending_.erase(s.id());
  auto it = pending_by_addr_.find(s.peer_address());
  if (it == pending_by_addr_.end()) return;
  it->second.erase(s.id());
  if (it->second.empty()) pending_by_addr_.erase(it);
}

void Server::auth_failed(Session& s, std::string_view why, std::string_view user) {
  ++counters_.auth_failures;
  // The peer and (once there are users) the user name; never the key or the MAC.
  warn_rate_limited("authentication failed from " + s.peer() +
                    (user.empty() ? std::string() : " as user '" + std::string(user) + "'") + ": " +
                    std::string(why));
  if (options_.auth_failure_burst == 0) return;
  auto [it, fresh] = auth_buckets_.try_emplace(s.peer_address());
  if (fresh) {
    it->second.tokens = options_.auth_failure_burst;
    it->second.refilled = std::chrono::steady_clock::now();
  }
  uint64_t retry_ms = 0;
  auth_blocked(s.peer_address(), retry_ms);  // refills the allowance up to now
  it->second.tokens = std::max(0.0, it->second.tokens - 1);
}

bool Server::auth_blocked(const std::string& addr, uint64_t& retry_ms) {
  if (options_.auth_failure_burst == 0) return false;
  auto it = auth_buckets_.find(addr);
  if (it == auth_buckets_.end()) return false;
  AuthBucket& b = it->second;
  const auto now = std::chrono::steady_clock::now();
  const double per_ms =
      1.0 / std::max(1.0, static_cast<double>(options_.auth_failure_refill.count()));
  const double ms = std::chrono::duration<double, std::milli>(now - b.refilled).count();
  b.tokens = std::min<double>(options_.auth_failure_burst, b.tokens + ms * per_ms);
  b.refilled = now;
  if (b.tokens >= 1.0) return false;
  retry_ms = static_cast<uint64_t>((1.0 - b.tokens) / per_ms) + 1;
  return true;
}

bool Server::reserve_input(Session& s, size_t old_extra, size_t new_extra) {
  if (new_extra <= old_extra) return true;
  const uint64_t more = new_extra - old_extra;
  if (input_bytes_ + more > options_.max_input_buffered && input_leader_ != s.id()) {
    // One session at a time may go past the cap (by at most one frame), so the frames that
    // wait always get done one after the other instead of all waiting for each other.
    if (input_leader_ != 0 && sessions_.count(input_leader_)) {
      input_waiting_.push_back(s.id());
      return false;
    }
    input_leader_ = s.id();
  }
  input_bytes_ += more;
  return true;
}

void Server::release_input(Session& s, size_t extra) {
  input_bytes_ -= std::min<uint64_t>(input_bytes_, extra);
  if (extra == 0 && input_leader_ != s.id()) return;
  if (input_leader_ == s.id()) input_leader_ = 0;
  if (!input_waiting_.empty()) wake_input_waiters();
}

void Server::wake_input_waiters() {
  asio::post(io_, [this] {
    std::vector<SessionId> waiting;
    waiting.swap(input_waiting_);
    for (SessionId id : waiting)
      if (auto it = sessions_.find(id); it != sessions_.end()) {
        auto keep = it->second;
        keep->resume_input();
      }
    end_pass();
  });
}

void Server::note_freed(size_t bytes) {
  freed_ += bytes;
  // Large drains only, and at most every 200 ms: malloc_trim walks the heap.
  if (freed_ < (4u << 20) || trim_armed_) return;
  trim_armed_ = true;
  trim_timer_.expires_after(std::chrono::milliseconds(200));
  trim_timer_.async_wait([this](const boost::system::error_code& ec) {
    trim_armed_ = false;
    if (ec) return;
    freed_ = 0;
    ::malloc_trim(0);
  });
}

void Server::sweep_silent_sessions() {
  // Checked a few times per lease, so a silent session ends within ~1.25 leases.
  const auto period = std::max<std::chrono::milliseconds>(options_.session_lease / 4,
                                                          std::chrono::milliseconds(10));
  lease_timer_.expires_after(period);
  lease_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutting_down_) return;
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Session>> silent, stalled;
    for (auto& [id, s] : sessions_) {
      if (!s->ready()) continue;
      // A client that does not read its replies for a lease loses its session like a silent
      // one (docs/protocol.md, "The session lease"): its locks must not stay held forever.
      if (s->output_stalled(now) > options_.session_lease) stalled.push_back(s);
      // A session whose reading we paused is not silent: we are the ones not listening.
      else if (!s->reading_paused() && now - s->last_heard() > options_.session_lease)
        silent.push_back(s);
    }
    for (auto& s : silent) {
      warn_rate_limited("closing session " + std::to_string(s->id()) + " (" + s->who() +
                        "): silent for longer than the " +
                        std::to_string(options_.session_lease.count()) +
                        " ms session lease (--session-lease); releasing what it held");
      s->close("session lease expired");
    }
    for (auto& s : stalled) {
      warn_rate_limited("closing session " + std::to_string(s->id()) + " (" + s->who() +
                        "): it read none of its replies for longer than the " +
                        std::to_string(options_.session_lease.count()) +
                        " ms session lease (--session-lease); releasing what it held");
      s->close("replies unread for a session lease");
    }
    // Failed-authentication allowances that have refilled are forgotten.
    for (auto it = auth_buckets_.begin(); it != auth_buckets_.end();) {
      uint64_t retry = 0;
      if (!auth_blocked(it->first, retry) && it->second.tokens >= options_.auth_failure_burst)
        it = auth_buckets_.erase(it);
      else
        ++it;
    }
    end_pass();
    sweep_silent_sessions();
  });
}

void Server::serve(Session& s, const proto::Header& h, std::string_view body) {
  ++counters_.requests;
  ++counters_.by_op[h.code];
  if (h.code == static_cast<uint8_t>(proto::Op::HEARTBEAT)) return;  // reading it was the point
  if (shutting_down_) {
    s.reply_error(h.id, Status::SHUTTING_DOWN, msg::shutting_down());
    return;
  }
  const Handler handler = ops_[h.code];
  if (!handler) {
    s.reply_error(
        h.id, Status::BAD_REQUEST,
        "unknown opcode " + std::to_string(h.code) + "; see docs/protocol.md for the opcodes");
    return;
  }
  if (!permitted(s, h, body)) return;
  if (store_ && writes_[h.code] && !store_->healthy()) {
    s.reply_error(h.id, Status::UNAVAILABLE, store_->problem());
    return;
  }
  // What the request puts in queues is its user's (max-queue-bytes).
  registry_.acting_owner = s.user_id();
  if (store_) made_before_ = store_->made();
  handler(*this, s, h, body);
  if (store_) made_before_ = store_->made();
  registry_.acting_owner = 0;
}

bool Server::within_queue_bytes(Session& s, const proto::Header& h, std::string_view queue,
                                uint64_t bytes) {
  const auth::User* u = user_of(s);
  if (!u || u->max_queue_bytes == 0) return true;
  const uint64_t held = user_queue_bytes(s.user_id());
  if (held + bytes <= u->max_queue_bytes) return true;
  s.reply_error(h.id, Status::LIMIT,
                "user '" + u->name + "' holds " + std::to_string(held) +
                    " bytes in queues and its limit is " + std::to_string(u->max_queue_bytes) +
                    " (max-queue-bytes in the manager's ACL file): this put of " +
                    std::to_string(bytes) + " bytes to queue '" + std::string(queue) +
                    "' would pass it; take items out (get, or reserve and ack) or ask for a "
                    "higher limit");
  return false;
}

bool Server::permitted(Session& s, const proto::Header& h, std::string_view body) {
  const auth::User* u = user_of(s);
  if (!u) {  // removed by a reload that has not closed it yet
    s.close("its user is no longer in the ACL file");
    return false;
  }
  const uint8_t perm = perms_[h.code];
  if (perm == auth::PERM_NONE) return true;
  Touches t;
  if (const TouchFn f = touches_[h.code]) {
    if (!f(body, perm, t)) return true;  // the handler answers the malformed body
  } else {
    proto::Reader r(body);
    const std::string_view name = r.str();
    if (!r.ok()) return true;
    t.add(perm, name);
  }
  for (size_t i = 0; i < t.n; ++i) {
    const Touches::Touch& x = t.t[i];
    if (x.pattern ? u->allows_all(x.perm, x.name) : u->allows(x.perm, x.name)) continue;
    ++counters_.denied;
    const std::string_view op = proto::op_name(h.code);
    log::info("denied: user '" + u->name + "' (" + s.who() + ") may not " +
              std::string(auth::perm_name(x.perm)) + " '" + std::string(x.name) + "' (" +
              std::string(op) + ")");
    s.reply_error(h.id, Status::DENIED, msg::denied(u->name, auth::perm_name(x.perm), op, x.name));
    return false;
  }
  return true;
}

uint32_t Server::user_id(std::string_view name) {
  auto it = user_ids_.find(std::string(name));
  if (it != user_ids_.end()) return it->second;
  const auto id = static_cast<uint32_t>(users_.size());
  users_.push_back(UserState{std::string(name), acl_.index_of(name), 0, 0});
  user_ids_.emplace(std::string(name), id);
  return id;
}

void Server::index_users() {
  for (const auth::User& u : acl_.users) user_id(u.name);
  for (UserState& st : users_) st.index = acl_.index_of(st.name);
}

const auth::User* Server::user_of(const Session& s) const {
  if (s.user_id() >= users_.size()) return nullptr;
  const int i = users_[s.user_id()].index;
  return i < 0 ? nullptr : &acl_.users[static_cast<size_t>(i)];
}

size_t Server::user_connections(uint32_t id) const {
  return id < users_.size() ? users_[id].connections : 0;
}
void Server::attach_user(uint32_t id) {
  if (id < users_.size()) ++users_[id].connections;
}
void Server::detach_user(uint32_t id) {
  if (id < users_.size() && users_[id].connections > 0) --users_[id].connections;
}
uint64_t Server::user_queue_bytes(uint32_t id) const {
  return id < users_.size() ? users_[id].queue_bytes : 0;
}

void Server::mark_dirty(std::shared_ptr<Session> s) {
  dirty_.push_back(std::move(s));
}

void Server::record_latencies() {
  const auto now = std::chrono::steady_clock::now();
  for (const Answered& a : answered_) {
    const auto d = now - a.start;
    const uint64_t ns =
        d.count() > 0 ? static_cast<uint64_t>(std::chrono::nanoseconds(d).count()) : 0;
    size_t b = 0;
    while (b < RequestStats::kBoundsNs.size() && ns > RequestStats::kBoundsNs[b]) ++b;
    ++requests_.latency[a.op][b];
    requests_.latency_sum_ns[a.op] += ns;
  }
  answered_.clear();
}

void Server::end_pass() {
  if (!answered_.empty()) record_latencies();
  // Flushing can close sessions, which can complete waiters of others: loop until quiet.
  while (!dirty_.empty()) {
    if (store_) {
      // Group commit: the records of every request of the pass go out in one write, and
      // under `fsync always` the pass's replies wait until one fdatasync covers them.
      // A session given output by a request that made records (or by a timer or a closing
      // session that did) waits for them, also when a failed write keeps them in memory
      // (whatever the policy: nothing is acknowledged that is not written); the others wait
      // only for what was written (fsync always), so that reads are answered while the disk
      // fails, in the pass that filled it too. (Healthy, the two marks are one: logged() ==
      // written() after the write.)
      write_records();
      const uint64_t told = store_->logged(), written = store_->written();
      const uint64_t durable = durable_position();
      for (auto& s : dirty_) {
        const uint64_t mark = s->take_told_records() ? told : written;
        if (mark > durable) s->hold_output(mark);
      }
      made_before_ = store_->made();
    }
    flushing_.swap(dirty_);  // both vectors keep their capacity: no allocation per pass
    for (auto& s : flushing_) {
      s->flush();
      if (store_ && s->has_held_output() && !s->listed_held) {
        s->listed_held = true;
        held_.push_back(s);
      }
    }
    flushing_.clear();
  }
  if (store_) {
    write_records();  // records no reply waits for (a timer, a session's end)
    if (store_->replies_wait()) store_->note_waiting(static_cast<uint32_t>(held_.size()));
    store_->maybe_compact();
    if (!store_->healthy() || store_->compacting()) arm_store_timer();
  }
  arm_timer();
  if (shutting_down_ && sessions_.empty()) {
    shutdown_timer_.cancel();
    io_.stop();
  }
}

void Server::write_records() {
  const bool was_healthy = store_->healthy();
  store_->write_pending();
  if (was_healthy && !store_->healthy()) log::warn(store_->problem());
}

void Server::arm_timer() {
  const TimePoint next = registry_.next_deadline();
  if (next == armed_) return;
  armed_ = next;
  if (next == TimePoint::max()) {
    deadline_timer_.cancel();
    return;
  }
  deadline_timer_.expires_at(next);
  deadline_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed or cancelled
    armed_ = TimePoint::max();
    registry_.expire(registry_.now());
    end_pass();
  });
}

void Server::on_durable() {
  std::vector<std::shared_ptr<Session>> held;
  held.swap(held_);
  uint32_t released = 0;
  for (auto& s : held) {
    s->listed_held = false;
    if (s->has_held_output()) {
      s->output_released();
      ++released;
    }
  }
  if (store_) store_->note_released(released);
  end_pass();
}

void Server::arm_store_timer() {
  if (store_timer_armed_) return;
  store_timer_armed_ = true;
  // A failed write is tried again, and a compaction's child looked for, a few times a second.
  store_timer_.expires_after(std::chrono::milliseconds(store_->healthy() ? 20 : 200));
  store_timer_.async_wait([this](const boost::system::error_code& ec) {
    store_timer_armed_ = false;
    if (ec || !store_) return;
    if (!store_->healthy() && store_->retry()) {
      log::warn("writing to the data directory works again; writes are accepted");
      on_durable();  // the replies that waited for the write may go (or wait for its fsync)
      return;
    }
    end_pass();
  });
}

bool Server::watch(int fd, SessionId id, bool on) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = id;
  return ::epoll_ctl(session_epoll_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) == 0;
}

void Server::watch_sessions() {
  session_epoll_watch_.async_wait(asio::posix::stream_descriptor::wait_read,
                                  [this](const boost::system::error_code& ec) {
                                    if (ec) return;  // the server is going
                                    on_sessions_ready();
                                    watch_sessions();
                                  });
}

void Server::on_sessions_ready() {
  // Everything ready now, then one pass: the log is written once for all of them, and every
  // session's replies leave in one write each (as Redis' beforeSleep).
  epoll_event events[256];
  for (int round = 0; round < 4; ++round) {
    const int n = ::epoll_wait(session_epoll_, events, 256, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      auto it = sessions_.find(events[i].data.u64);
      if (it != sessions_.end()) it->second->on_readable();
    }
    if (n < 256) break;
  }
  end_pass();
}

void Server::remove_session(SessionId id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  // Keep the object alive until the current handler returns.
  asio::post(io_, [s = std::move(it->second)] {});
  sessions_.erase(it);
}

std::shared_ptr<TlsContext> Server::tls_context() const {
  std::lock_guard lk(tls_mu_);
  return tls_;
}

std::string Server::reload_config() {
  // Everything is read and checked first; nothing is replaced unless all of it loads.
  // TLS: a new context for new connections; sessions keep the one they were accepted with
  // (it lives as long as they do). A bad file throws here, naming it.
  std::shared_ptr<TlsContext> fresh;
  if (options_.tls.enabled()) fresh = TlsContext::load(options_.tls);
  std::optional<auth::Acl> next;
  if (!options_.acl_file.empty()) {
    try {
      next = auth::Acl::load(options_.acl_file);
    } catch (const auth::AclError& e) {
      throw std::runtime_error(std::string("keeping the ACL in force: ") + e.what());
    }
  }
  std::string done;
  if (fresh) {
    {
      std::lock_guard lk(tls_mu_);
      tls_ = fresh;
    }
    done += "reloaded TLS " + fresh->description();
  }
  if (next) {
    acl_ = std::move(*next);
    index_users();
    // Permission changes apply at each session's next request; a removed user's sessions end.
    std::vector<std::shared_ptr<Session>> gone;
    for (auto& [id, s] : sessions_)
      if (s->authenticated() && !user_of(*s)) gone.push_back(s);
    for (auto& s : gone) {
      log::warn("closing session " + std::to_string(s->id()) + " (" + s->who() + "): user '" +
                users_[s->user_id()].name + "' is no longer in the ACL file");
      s->close("user removed from the ACL file");
    }
    if (!done.empty()) done += "; ";
    done += "reloaded the ACL file " + options_.acl_file + ": " +
            std::to_string(acl_.users.size()) + " users, " + std::to_string(gone.size()) +
            " sessions of removed users closed";
    end_pass();
  }
  return done.empty() ? std::string("nothing to reload (no TLS, no --acl-file)") : done;
}

void Server::request_stop() {
  asio::post(io_, [this] { begin_shutdown(); });
}

void Server::begin_shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  log::info("shutting down: " + std::to_string(sessions_.size()) + " sessions, " +
            std::to_string(registry_.waiters().size()) + " parked requests get SHUTTING_DOWN");
  boost::system::error_code ec;
  acceptor_.close(ec);
  lease_timer_.cancel();
  monitor_timer_.cancel();
  registry_.shutdown();
  for (auto& [id, s] : std::unordered_map(sessions_)) s->close_after_flush();
  shutdown_timer_.expires_after(options_.shutdown_grace);
  shutdown_timer_.async_wait([this](const boost::system::error_code& e) {
    if (e) return;
    for (auto& [id, s] : std::unordered_map(sessions_)) s->close("shutdown grace period over");
    io_.stop();
  });
  end_pass();
}

void Server::run_loop() {
  if (options_.busy_poll.count() <= 0) {
    io_.run();
    return;
  }
  auto last_work = Clock::now();
  while (!io_.stopped()) {
    if (io_.poll() > 0) {
      last_work = Clock::now();
    } else if (Clock::now() - last_work <= options_.busy_poll) {
      // Polling, but a runnable client or worker on this core goes first: on a small
      // machine the spinning manager must not starve the programs it is waiting for.
      std::this_thread::yield();
    } else {
      io_.run_one();
      last_work = Clock::now();
    }
  }
}

}  // namespace depot
