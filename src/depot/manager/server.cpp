// The event loop: accepting, the session table, dispatch through the opcode table, the pass
// that flushes every session's replies, waiter and timer deadlines, the session lease sweep,
// graceful shutdown and busy polling (docs/design.md, "The manager").
#include "depot/manager/server.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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
      session_epoll_watch_(io_) {
  session_epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (session_epoll_ < 0)
    throw std::runtime_error(std::string("epoll_create1 failed: ") + std::strerror(errno));
  session_epoll_watch_.assign(session_epoll_);  // closes it when the server goes
  for (auto table : {admin_ops(), queue_ops(), coord_ops()})
    for (const OpEntry& e : table) {
      Handler& slot = ops_[static_cast<uint8_t>(e.op)];
      if (slot)
        throw std::logic_error("opcode " + std::string(proto::op_name(static_cast<uint8_t>(e.op))) +
                               " has two handlers");
      slot = e.handler;
      writes_[static_cast<uint8_t>(e.op)] = e.writes;
    }
  registry_.session_alive = [this](SessionId id) {
    auto it = sessions_.find(id);
    return it != sessions_.end() && it->second->alive(true);
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
  if (options_.authkey.empty())
    throw std::runtime_error("no authkey given: pass --authkey, --authkey-file or DEPOT_AUTHKEY");
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
    if (sessions_.size() >= options_.max_connections) {
      std::string out;
      proto::FrameBuilder b(out, proto::FrameKind::REPLY, static_cast<uint8_t>(Status::LIMIT), 0);
      b.str("the manager has " + std::to_string(sessions_.size()) +
            " connections, its limit (--max-connections); retry later");
      b.finish();
      boost::system::error_code wec;
      sock.non_blocking(true, wec);
      sock.write_some(asio::buffer(out), wec);
      log::warn("refused a connection: --max-connections " +
                std::to_string(options_.max_connections) + " reached");
      sock.close(wec);
    } else {
      ::fcntl(sock.native_handle(), F_SETFD, FD_CLOEXEC);  // see bind()
      const SessionId id = next_session_++;
      auto s = std::make_shared<Session>(*this, std::move(sock), id);
      sessions_.emplace(id, s);
      ++counters_.connections_total;
      log::info("connection " + std::to_string(id) + " from " + s->peer());
      s->start();
    }
    end_pass();
    accept();
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
    std::vector<std::shared_ptr<Session>> silent;
    for (auto& [id, s] : sessions_)
      // A session whose reading we paused (its replies pile up unread) is not silent: we are
      // the ones not listening.
      if (s->ready() && !s->reading_paused() && now - s->last_heard() > options_.session_lease)
        silent.push_back(s);
    for (auto& s : silent) {
      log::warn("closing session " + std::to_string(s->id()) + " (" + s->peer() +
                "): silent for longer than the " + std::to_string(options_.session_lease.count()) +
                " ms session lease; releasing what it held");
      s->close("session lease expired");
    }
    end_pass();
    sweep_silent_sessions();
  });
}

void Server::dispatch(Session& s, const proto::Header& h, std::string_view body) {
  ++counters_.requests;
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
  if (store_ && writes_[h.code] && !store_->healthy()) {
    s.reply_error(h.id, Status::UNAVAILABLE, store_->problem());
    return;
  }
  handler(*this, s, h, body);
}

void Server::mark_dirty(std::shared_ptr<Session> s) {
  dirty_.push_back(std::move(s));
}

void Server::end_pass() {
  // Flushing can close sessions, which can complete waiters of others: loop until quiet.
  while (!dirty_.empty()) {
    if (store_) {
      // Group commit: the records of every request of the pass go out in one write, and
      // under `fsync always` the pass's replies wait until one fdatasync covers them.
      // A pass that made records waits for them, also when a failed write keeps them in
      // memory (whatever the policy: nothing is acknowledged that is not written); a pass that
      // made none waits only for what was written before it (fsync always), so that reads
      // are answered while the disk fails.
      const bool made_records = store_->has_pending();
      write_records();
      const uint64_t mark = made_records ? store_->logged() : store_->written();
      if (mark > durable_position())
        for (auto& s : dirty_) s->hold_output(mark);
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
  std::string done;
  // TLS: a new context for new connections; sessions keep the one they were accepted with
  // (it lives as long as they do). A bad file throws here, before anything is replaced.
  if (options_.tls.enabled()) {
    auto fresh = TlsContext::load(options_.tls);
    {
      std::lock_guard lk(tls_mu_);
      tls_ = fresh;
    }
    done += "reloaded TLS " + fresh->description();
  }
  // (Other reloadable configuration goes here, each loaded fully before it replaces the old.)
  return done.empty() ? std::string("nothing to reload (no TLS, no reloadable files)") : done;
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
