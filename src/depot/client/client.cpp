#include "depot/client/client.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "depot/auth/handshake.h"
#include "depot/client/admin_requests.h"
#include "depot/client/coord_requests.h"
#include "depot/client/monitor.h"
#include "depot/client/monitor_requests.h"
#include "depot/client/tls.h"
#include "depot/protocol/address.h"
#include "depot/protocol/messages.h"

namespace depot {

using SteadyClock = std::chrono::steady_clock;

namespace {

// $DEPOT_CLIENT_NAME, else "<program>-<pid>", the program's name cut and cleaned to fit
// auth::check_client_name.
std::string default_client_name() {
  if (const char* env = std::getenv("DEPOT_CLIENT_NAME"); env && *env) return env;
  std::string program = program_invocation_short_name ? program_invocation_short_name : "";
  for (char& c : program)
    if (c < 0x21 || c > 0x7e) c = '_';
  if (program.empty()) program = "client";
  const std::string pid = "-" + std::to_string(::getpid());
  program.resize(std::min(program.size(), proto::kMaxClientName - pid.size()));
  return program + pid;
}

// States of a call waiting for its reply.
enum : uint32_t {
  kWaiting = 0,  // in flight
  kDone = 1,     // reply (or loss) recorded
  kResend = 2,   // connection lost before a reissuable wait delivered: send it again
  kRead = 3,     // handed the reader role: read replies for everyone
  kIdle = 4,     // in flight, but its thread waits on another call first (call_many)
};

std::string errno_text(int e) {
  return std::strerror(e);
}

int ms_until(SteadyClock::time_point t) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t - SteadyClock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1'000'000));
}

// Waits while `a` holds `expected`, until woken or `deadline` (none: forever). The C++20
// atomic wait has no timeout; a subscription's next(timeout) needs one.
void futex_wait(std::atomic<uint32_t>& a, uint32_t expected,
                std::optional<SteadyClock::time_point> deadline) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  timespec ts{};
  timespec* tsp = nullptr;
  if (deadline) {
    auto left = *deadline - SteadyClock::now();
    if (left <= SteadyClock::duration::zero()) return;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&a), FUTEX_WAIT_PRIVATE, expected, tsp, nullptr,
            0);
}

void futex_wake(std::atomic<uint32_t>& a) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&a), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
}

// Moves a slot to `to` and wakes its thread.
void signal(std::atomic<uint32_t>& state, uint32_t to) {
  state.store(to, std::memory_order_release);
  futex_wake(state);
}

}  // namespace

// A thread waiting for something the reader will hand it: a reply or a pushed message.
struct Slot {
  std::atomic<uint32_t> state{kWaiting};
};

struct PendingCall : Slot {
  Reply reply;
  bool reissuable = false;
  bool lost = false;
  std::string lost_reason;
};

// One TCP connection. Shared by the threads using it; the fd closes with the last of them,
// so a thread still polling a dead connection can never touch a reused descriptor.
//
// Its transport is plain (recv/send; the socket blocks for send) or TLS (the socket never
// blocks; waits are poll(2) on the fd). An SSL object is not safe for concurrent use, so
// every call on `tls` holds tls_mu, and tls_mu is never held while waiting in poll: the
// reader polls for input while a sender polls for room. Senders still take write_mu first,
// so frames never interleave (and a TLS write that must be retried is retried by its own
// sender, with the same bytes, before anyone else writes).
struct Conn {
  int fd = -1;
  std::mutex write_mu;
  std::unique_ptr<tls::ClientTlsStream> tls;  // null: plain TCP
  std::mutex tls_mu;
  std::string tls_error;  // why the last TLS read failed (the reader's only)
  std::string inbuf;      // touched only by the thread holding the reader role
  size_t in_begin = 0;
  std::chrono::milliseconds session_lease{0};  // from AUTH_OK: heartbeat well within it
  uint64_t number = 0;  // 1 for the first connection, then one more per reconnect
  ~Conn() {
    tls.reset();
    if (fd >= 0) ::close(fd);
  }
  // Reads what has arrived without waiting: > 0 bytes, 0 at the end, -1 with errno (EAGAIN:
  // nothing now, poll for `wait`; EPROTO: a TLS error, error_text says which).
  ssize_t read_some(char* p, size_t n, short& wait);
  // Writes all of it, waiting for room as long as it takes (fail()'s shutdown ends a wait).
  bool send_all(const char* p, size_t n);
  // Writes `frame` whole if the socket has room now, else nothing; whether it was written.
  bool send_if_room(const std::string& frame);
  std::string error_text(int e) const {
    return e == EPROTO && !tls_error.empty() ? "TLS: " + tls_error : std::strerror(e);
  }
};

ssize_t Conn::read_some(char* p, size_t n, short& wait) {
  wait = POLLIN;
  if (!tls) return ::recv(fd, p, n, MSG_DONTWAIT);
  size_t got = 0;
  std::string err;
  tls::Io io;
  {
    std::lock_guard lk(tls_mu);
    io = tls->read(p, n, got, err);
  }
  switch (io) {
    case tls::Io::OK:
      return static_cast<ssize_t>(got);
    case tls::Io::CLOSED:
      return 0;
    case tls::Io::WANT_WRITE:
      wait = POLLOUT;
      [[fallthrough]];
    case tls::Io::WANT_READ:
      errno = EAGAIN;
      return -1;
    case tls::Io::FAILED:
      break;
  }
  tls_error = err;
  errno = EPROTO;
  return -1;
}

bool Conn::send_all(const char* p, size_t n) {
  if (!tls) {
    while (n > 0) {
      ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
      if (k < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {  // cannot happen on the blocking socket; never spin
          pollfd w{fd, POLLOUT, 0};
          ::poll(&w, 1, 100);
          continue;
        }
        return false;
      }
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }
  while (n > 0) {
    size_t k = 0;
    std::string err;
    tls::Io io;
    {
      std::lock_guard lk(tls_mu);
      io = tls->write(p, n, k, err);
    }
    if (io == tls::Io::OK) {
      p += k;
      n -= k;
      continue;
    }
    if (io == tls::Io::WANT_WRITE || io == tls::Io::WANT_READ) {
      // Wait without the lock (the reader goes on); then the same bytes again.
      pollfd w{fd, static_cast<short>(io == tls::Io::WANT_WRITE ? POLLOUT : POLLIN), 0};
      if (::poll(&w, 1, io == tls::Io::WANT_WRITE ? -1 : 10) < 0 && errno != EINTR) return false;
      continue;
    }
    errno = io == tls::Io::CLOSED ? EPIPE : ECONNRESET;
    return false;
  }
  return true;
}

bool Conn::send_if_room(const std::string& frame) {
  if (!tls) {
    const ssize_t n = ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0 && static_cast<size_t>(n) < frame.size())  // never leave half a frame behind
      send_all(frame.data() + n, frame.size() - static_cast<size_t>(n));
    return n > 0;
  }
  // A TLS record cannot be left half written either: start only when the socket has room.
  pollfd w{fd, POLLOUT, 0};
  if (::poll(&w, 1, 0) <= 0 || !(w.revents & POLLOUT)) return false;
  return send_all(frame.data(), frame.size());
}

// A subscription's client side: messages pushed for it wait here until next() takes them.
struct SubState {
  std::string pattern;
  SubscribeOptions options;
  uint64_t id = 0;           // the manager's subscription id on `conn`
  std::weak_ptr<Conn> conn;  // the connection it was made on; another one needs a new SUBSCRIBE
  std::deque<RawMessage> queue;
  uint64_t local_dropped = 0;  // dropped here because the local buffer was full
  uint64_t manager_dropped = 0;
  Slot* waiter = nullptr;  // the thread in next(), if any
  bool closed = false;
  bool monitor = false;  // a Monitor: MONITOR instead of SUBSCRIBE, a record per message
  uint32_t monitor_bytes = 0;
  uint32_t monitor_per_second = 0;
};

struct Client::Impl {
  std::string address;
  proto::Address addr;
  std::shared_ptr<tls::ClientTlsContext> tls_ctx;  // TLS to the manager, else null
  std::string authkey;
  ClientOptions opt;

  std::mutex mu;  // guards conn, pending, reader_active
  std::shared_ptr<Conn> conn;
  std::unordered_map<uint64_t, PendingCall*> pending;
  std::unordered_map<uint64_t, std::shared_ptr<SubState>> subs;  // by the manager's id
  std::unordered_set<Slot*> push_waiters;  // threads in a subscription's next()
  // Pushes can arrive right behind a SUBSCRIBE's reply, before the subscription is known
  // here: while any SUBSCRIBE is in flight, pushes for unknown ids wait in `orphans` for the
  // subscription to claim them.
  int subscribing = 0;
  std::unordered_map<uint64_t, std::deque<RawMessage>> orphans;
  size_t orphan_count = 0;
  bool reader_active = false;

  // The background thread: heartbeats keep the session alive while the program computes, it
  // watches an idle connection for the manager hanging up, and it runs `notes`.
  std::thread keeper;
  int wake_fd = -1;  // an eventfd: wakes the background thread (stop, notes, a new connection)
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> last_send_ns{0};
  void keep_alive();
  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof one);
  }
  // The manager hung up on `c` (seen by the background thread): read what it sent before
  // closing, as the reader, then fail the connection. False if another thread holds the
  // reader role (it sees the end itself).
  bool take_hangup(const std::shared_ptr<Conn>& c);
  void note_send() {
    last_send_ns.store(SteadyClock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }

  // Work for the background thread, run there in order with no lock held (guarded by mu):
  // the lost/restored reports and the session-end callbacks of locks and leases. Never run
  // where the loss is found (a reader, a caller): a callback that calls the client would
  // wait on itself.
  std::deque<std::function<void()>> notes;
  struct Watch {
    uint64_t connection;
    std::function<void(const std::string&)> fn;
  };
  std::unordered_map<uint64_t, Watch> watches;  // watch_session, by id
  uint64_t next_watch = 1;
  void say(ConnectionChange change, const std::string& line) const;

  // Reconnecting (guarded by mu): one thread at a time tries (`connecting`), the others wait
  // on connect_cv, each only until its own time is up. Backoff is shared, so a thread that
  // takes over from one that gave up keeps the pace.
  bool connecting = false;
  std::condition_variable connect_cv;
  std::chrono::milliseconds backoff{0};
  SteadyClock::time_point next_attempt{};
  std::string last_connect_error;
  SteadyClock::time_point lost_at{};
  std::string lost_reason;  // why connection number lost_number ended
  uint64_t lost_number = 0;
  std::string unreachable() const;  // mu held

  std::atomic<uint64_t> next_id{1};
  std::atomic<uint64_t> connections{0};

  std::shared_ptr<Conn> connect_once(SteadyClock::time_point deadline);
  std::shared_ptr<Conn> ensure_connected(SteadyClock::time_point give_up);
  // The connection to send on, or nullptr after finding it closed (the caller tries again).
  std::shared_ptr<Conn> usable_connection(SteadyClock::time_point give_up);
  void fail(const std::shared_ptr<Conn>& c, const std::string& reason);
  void wait_reply(const std::shared_ptr<Conn>& c, PendingCall& pc,
                  std::optional<SteadyClock::time_point> deadline);
  // Reads for everyone until `mine` leaves kWaiting. With fail_on_deadline, a reply not seen
  // by deadline + reply_grace means the connection is dead; without, the deadline just ends
  // the wait (a subscription's next(timeout)).
  void read_loop(const std::shared_ptr<Conn>& c, Slot& mine,
                 std::optional<SteadyClock::time_point> deadline, bool fail_on_deadline = true);
  void release_reader(Slot& mine);
  // A waiter handed the reader role (kRead) that will not read after all (its wait ended)
  // must pass it on, or the others would wait with nobody reading.
  void pass_baton(Slot& mine);
  void hand_on(Slot& mine);  // with mu held and no reader active
  bool dispatch_buffered(Conn& c);
  void dispatch_push(const proto::Header& h, std::string_view body);
  std::string where() const { return "the manager at " + address; }
};

// ------------------------------------------------------------ connecting

namespace {

// Blocking read of one whole frame during the handshake, bounded by `deadline`.
bool read_frame(Conn& c, std::string& buf, SteadyClock::time_point deadline, proto::Decoded& out,
                std::string& err) {
  short wait = POLLIN;
  for (;;) {
    out = proto::decode(buf.data(), buf.size(), 1u << 20);
    if (out.status == proto::DecodeStatus::OK) return true;
    if (out.status != proto::DecodeStatus::NEED_MORE) {
      err = out.error;
      return false;
    }
    char tmp[4096];
    ssize_t n = c.read_some(tmp, sizeof tmp, wait);
    if (n == 0) {
      err = "it closed the connection during the handshake";
      return false;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        err = c.error_text(errno);
        return false;
      }
      pollfd p{c.fd, wait, 0};
      int r = ::poll(&p, 1, ms_until(deadline));
      if (r == 0) {
        err = "no answer within the connect timeout (is it a depot manager?)";
        return false;
      }
      if (r < 0 && errno != EINTR) {
        err = errno_text(errno);
        return false;
      }
      continue;
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
}

// True when the manager has closed a connection (EOF or reset is pending on it).
bool peer_closed(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace

std::shared_ptr<Conn> Client::Impl::connect_once(SteadyClock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string host = addr.host.empty() ? "127.0.0.1" : addr.host;
  int gai = ::getaddrinfo(host.c_str(), std::to_string(addr.port).c_str(), &hints, &res);
  if (gai != 0)
    throw ConnectionError("cannot connect to " + where() + ": cannot resolve '" + host +
                          "': " + ::gai_strerror(gai));
  std::string last_error = "no address";
  auto c = std::make_shared<Conn>();
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last_error = errno_text(errno);
      continue;
    }
    int r = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r < 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      r = ::poll(&p, 1, ms_until(deadline));
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (r == 0) {
        last_error = "timed out";
        r = -1;
      } else if (r > 0) {
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr) last_error = errno_text(soerr);
        r = soerr ? -1 : 0;
      } else {
        last_error = errno_text(errno);
      }
    } else if (r < 0) {
      last_error = errno_text(errno);
    }
    if (r == 0) {
      c->fd = fd;
      break;
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (c->fd < 0)
    throw ConnectionError("cannot connect to " + where() + ": " + last_error +
                          " (is depot-manager running there?)");
  int one = 1;
  ::setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  // Plain: blocking for send(); reads use MSG_DONTWAIT + poll. TLS: never blocking (every
  // wait is a poll without the TLS lock, see Conn).
  if (!tls_ctx) {
    int fl = ::fcntl(c->fd, F_GETFL);
    ::fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
  }

  // Handshake: HELLO -> AUTH -> AUTH_OK (auth/handshake.h has the frames). With TLS the
  // HELLO comes in clear and announces it; AUTH and everything after travel inside TLS.
  auth::ClientHandshake hs(authkey, opt.user, opt.name);
  std::string buf;
  proto::Decoded d;
  std::string err;
  if (!read_frame(*c, buf, deadline, d, err))
    throw ConnectionError("cannot connect to " + where() + ": " + err);
  std::string out;
  auth::HandshakeResult step = hs.on_hello(d.header, d.body, out);
  switch (step.error) {
    case auth::HandshakeError::NONE:
      break;
    case auth::HandshakeError::REFUSED:
      throw ConnectionError(
          step.status, "the manager at " + address + " refused the connection: " + step.message);
    default:
      throw ProtocolError(step.status, where() + " " + step.message);
  }
  // The manager's HELLO decides nothing: the address does. A mismatch is an error naming
  // the fix, never a fallback to plain TCP.
  const std::string host_port = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                                ":" + std::to_string(addr.port);
  if (hs.tls_follows() && !tls_ctx) throw ConnectionError(msg::tls_required(host_port));
  if (!hs.tls_follows() && tls_ctx) throw ConnectionError(msg::tls_not_used(host_port));
  buf.erase(0, proto::kHeaderSize + d.header.body_len);
  if (tls_ctx) {
    if (!buf.empty())
      throw ProtocolError(Status::BAD_REQUEST,
                          where() + " sent bytes between its HELLO and the TLS handshake");
    c->tls = std::make_unique<tls::ClientTlsStream>(*tls_ctx, c->fd, host);
    for (;;) {
      std::string why;
      tls::Io io;
      {
        std::lock_guard lk(c->tls_mu);
        io = c->tls->handshake(why);
      }
      if (io == tls::Io::OK) break;
      if (io != tls::Io::WANT_READ && io != tls::Io::WANT_WRITE)
        throw ConnectionError("cannot connect to " + where() + ": TLS handshake failed: " + why);
      pollfd p{c->fd, static_cast<short>(io == tls::Io::WANT_READ ? POLLIN : POLLOUT), 0};
      const int r = ::poll(&p, 1, ms_until(deadline));
      if (r == 0)
        throw ConnectionError("cannot connect to " + where() +
                              ": the TLS handshake did not finish within the connect timeout");
      if (r < 0 && errno != EINTR)
        throw ConnectionError("cannot connect to " + where() + ": " + errno_text(errno));
    }
  }
  const bool sent = c->send_all(out.data(), out.size());
  const int send_errno = errno;
  // A TLS manager that refused our certificate may have closed before the AUTH arrived:
  // its alert is still there to read, and says why.
  if (!sent && !c->tls)
    throw ConnectionError("cannot connect to " + where() + ": " + errno_text(send_errno));
  if (!read_frame(*c, buf, deadline, d, err)) {
    // TLS 1.3: the manager checks a client certificate after the client's handshake is
    // done, so its refusal (an alert) arrives here.
    if (c->tls && !c->tls_error.empty() && err.rfind("TLS: ", 0) == 0)
      throw ConnectionError("cannot authenticate with " + where() +
                            ": the manager refused the TLS session (" + c->tls_error +
                            "); it wants a client certificate signed by its CA "
                            "(TlsClientOptions::cert_file and key_file, --tls-cert and "
                            "--tls-key, or DEPOT_TLS_CERT and DEPOT_TLS_KEY)");
    if (!sent)
      throw ConnectionError("cannot connect to " + where() + ": " + errno_text(send_errno));
    throw ConnectionError("cannot authenticate with " + where() + ": " + err);
  }
  step = hs.on_auth_reply(d.header, d.body);
  if (step.error == auth::HandshakeError::AUTH_FAILED) {
    if (step.status == Status::AUTH_FAILED)
      throw AuthError(step.status, "authentication with " + where() + " failed: " + step.message);
    throw_status(step.status, "handshake with " + where() + " failed: " + step.message);
  }
  if (!step.ok()) throw AuthError(step.status, where() + " " + step.message);
  buf.erase(0, proto::kHeaderSize + d.header.body_len);
  c->inbuf = std::move(buf);  // anything after AUTH_OK belongs to the session
  c->session_lease = hs.session_lease();
  return c;
}

namespace {

std::string seconds_since(SteadyClock::time_point t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s",
                std::chrono::duration<double>(SteadyClock::now() - t).count());
  return buf;
}

}  // namespace

std::string Client::Impl::unreachable() const {
  std::string s =
      where() + " is unreachable: the connection was lost " + seconds_since(lost_at) + " ago";
  if (!lost_reason.empty()) s += " (" + lost_reason + ")";
  s += " and reconnecting did not succeed within this call's time (its timeout, else "
       "ClientOptions::reconnect_give_up)";
  s += last_connect_error.empty() ? "; no attempt has finished yet"
                                  : "; last attempt: " + last_connect_error;
  return s;
}

std::shared_ptr<Conn> Client::Impl::ensure_connected(SteadyClock::time_point give_up) {
  std::unique_lock lk(mu);
  for (;;) {
    if (conn) return conn;
    if (!opt.reconnect)
      throw ConnectionError("the connection to " + where() +
                            " was lost and reconnecting is off (ClientOptions::reconnect)");
    if (!connecting) break;
    // Another thread is reconnecting: wait for it, but only as long as this call may.
    if (!connect_cv.wait_until(lk, give_up, [&] { return conn || !connecting; }))
      throw ConnectionError(unreachable());
  }
  // This thread reconnects. Whatever ends its attempts, the next waiter may take over.
  connecting = true;
  struct Handover {
    Impl& im;
    std::unique_lock<std::mutex>& lk;
    ~Handover() {
      if (!lk.owns_lock()) lk.lock();
      im.connecting = false;
      im.connect_cv.notify_all();
    }
  } handover{*this, lk};
  for (;;) {
    const auto now = SteadyClock::now();
    if (now >= give_up) throw ConnectionError(unreachable());
    if (now < next_attempt) {
      const auto until = std::min(next_attempt, give_up);
      lk.unlock();
      std::this_thread::sleep_until(until);
      lk.lock();
      continue;
    }
    lk.unlock();
    std::shared_ptr<Conn> c;
    std::string error;
    try {
      c = connect_once(std::min(now + opt.connect_timeout, give_up));
    } catch (const AuthError&) {
      throw;  // a wrong key stays wrong: no retry
    } catch (const Error& e) {
      error = e.what();
    }
    lk.lock();
    if (c) {
      c->number = ++connections;
      conn = c;
      backoff = opt.reconnect_initial_backoff;
      next_attempt = {};
      last_connect_error.clear();
      const std::string line = "reconnected to " + where() + " after " + seconds_since(lost_at);
      notes.push_back([this, line] { say(ConnectionChange::Restored, line); });
      wake();  // the background thread watches the new connection, and reports
      return c;
    }
    last_connect_error = std::move(error);
    next_attempt = SteadyClock::now() + backoff;
    backoff = std::min(backoff * 2, opt.reconnect_max_backoff);
  }
}

void Client::Impl::fail(const std::shared_ptr<Conn>& c, const std::string& reason) {
  {
    std::lock_guard lk(mu);
    if (conn != c) return;  // already failed
    conn.reset();
    for (auto& [id, pc] : pending) {
      if (pc->reissuable) {
        pc->state.store(kResend, std::memory_order_release);
      } else {
        pc->lost = true;
        pc->lost_reason = reason;
        pc->state.store(kDone, std::memory_order_release);
      }
      futex_wake(pc->state);
    }
    pending.clear();
    for (Slot* w : push_waiters) signal(w->state, kResend);  // they subscribe again
    // One report per loss; the attempts to reconnect report nothing until one succeeds.
    lost_at = SteadyClock::now();
    lost_reason = reason;
    lost_number = c->number;
    backoff = opt.reconnect_initial_backoff;
    next_attempt = {};  // the first attempt is at once
    // Every lock and lease held on this session ended with it. Their callbacks run before
    // the report, so whoever sees the report knows they have run.
    const std::string why = "the connection to " + where() + " was lost (" + reason + ")";
    for (auto it = watches.begin(); it != watches.end();) {
      if (it->second.connection != c->number) {
        ++it;
        continue;
      }
      notes.push_back([fn = std::move(it->second.fn), why] { fn(why); });
      it = watches.erase(it);
    }
    const std::string line = "lost the connection to " + where() + " (" + reason + "); " +
                             (opt.reconnect ? "the next call reconnects"
                                            : "reconnecting is off (ClientOptions::reconnect)");
    notes.push_back([this, line] { say(ConnectionChange::Lost, line); });
  }
  // Wakes any thread polling or sending on it; the fd closes with the last reference.
  ::shutdown(c->fd, SHUT_RDWR);
  wake();
}

void Client::Impl::say(ConnectionChange change, const std::string& line) const {
  if (opt.on_connection) {
    opt.on_connection(change, line);
  } else if (!opt.quiet) {
    std::fprintf(stderr, "depot: %s\n", line.c_str());
  }
}

uint64_t Client::watch_session(uint64_t connection,
                               std::function<void(const std::string& why)> fn) {
  Impl& im = *impl_;
  std::lock_guard lk(im.mu);
  const uint64_t id = im.next_watch++;
  if (im.conn && im.conn->number == connection) {
    im.watches.emplace(id, Impl::Watch{connection, std::move(fn)});
    return id;
  }
  // That connection has ended already (the hold was granted just before the loss).
  std::string why = "the connection to " + im.where() + " was lost";
  if (im.lost_number == connection && !im.lost_reason.empty()) why += " (" + im.lost_reason + ")";
  im.notes.push_back([fn = std::move(fn), why] { fn(why); });
  im.wake();
  return id;
}

void Client::unwatch_session(uint64_t id) {
  std::lock_guard lk(impl_->mu);
  impl_->watches.erase(id);
}

// ------------------------------------------------------------ waiting for replies

bool Client::Impl::dispatch_buffered(Conn& c) {
  for (;;) {
    const size_t avail = c.inbuf.size() - c.in_begin;
    proto::Decoded d = proto::decode(c.inbuf.data() + c.in_begin, avail, UINT32_MAX);
    if (d.status == proto::DecodeStatus::NEED_MORE) {
      if (c.in_begin > 0 && (c.in_begin == c.inbuf.size() || c.in_begin > (1u << 16))) {
        c.inbuf.erase(0, c.in_begin);
        c.in_begin = 0;
      }
      return true;
    }
    if (d.status != proto::DecodeStatus::OK) return false;
    c.in_begin += proto::kHeaderSize + d.header.body_len;
    if (d.header.kind == proto::FrameKind::PUSH) {
      dispatch_push(d.header, d.body);
      continue;
    }
    if (d.header.kind != proto::FrameKind::REPLY) continue;
    std::lock_guard lk(mu);
    auto it = pending.find(d.header.id);
    if (it == pending.end()) continue;
    PendingCall* pc = it->second;
    pending.erase(it);
    pc->reply.status = static_cast<Status>(d.header.code);
    pc->reply.body.assign(d.body.data(), d.body.size());
    signal(pc->state, kDone);
  }
}

void Client::Impl::dispatch_push(const proto::Header& h, std::string_view body) {
  if (h.code == static_cast<uint8_t>(proto::Push::MONITOR)) {
    // Each record becomes a message of the Monitor's subscription state (the payload).
    std::vector<std::string_view> records;
    if (!req::split_monitor_push(body, records)) return;
    std::lock_guard lk(mu);
    auto it = subs.find(h.id);
    if (it == subs.end()) {
      if (subscribing > 0 && orphan_count < 1'000'000) {
        for (auto rec : records) orphans[h.id].push_back(RawMessage{{}, std::string(rec), 0});
        orphan_count += records.size();
      }
      return;
    }
    SubState& st = *it->second;
    for (auto rec : records) {
      if (st.queue.size() >= st.options.buffer) {
        ++st.local_dropped;
        st.queue.pop_front();
      }
      st.queue.push_back(RawMessage{{}, std::string(rec), 0});
    }
    if (st.waiter) signal(st.waiter->state, kDone);
    return;
  }
  if (h.code != static_cast<uint8_t>(proto::Push::MESSAGE)) return;  // a kind this client predates
  RawMessage m;
  if (!req::parse_push_message(body, m)) return;
  const uint64_t dropped = m.dropped;
  std::lock_guard lk(mu);
  auto it = subs.find(h.id);
  if (it == subs.end()) {
    // Bounded like a subscription buffer; beyond it they are not ours to keep.
    if (subscribing > 0 && orphan_count < 1'000'000) {
      m.dropped = dropped;
      orphans[h.id].push_back(std::move(m));
      ++orphan_count;
    }
    return;  // else: unsubscribed meanwhile
  }
  SubState& st = *it->second;
  st.manager_dropped = dropped;
  // Nobody may be taking messages: the local buffer is bounded like the manager's.
  if (st.queue.size() >= st.options.buffer) {
    ++st.local_dropped;
    if (st.options.overflow == Overflow::DropNewest) return;
    st.queue.pop_front();
  }
  m.dropped = st.manager_dropped + st.local_dropped;
  st.queue.push_back(std::move(m));
  if (st.waiter) signal(st.waiter->state, kDone);
}

void Client::Impl::read_loop(const std::shared_ptr<Conn>& c, Slot& mine,
                             std::optional<SteadyClock::time_point> deadline,
                             bool fail_on_deadline) {
  // TimePoint::max() = no limit (a wait without a deadline).
  const auto grace =
      fail_on_deadline ? SteadyClock::duration(opt.reply_grace) : SteadyClock::duration::zero();
  const bool bounded = deadline.has_value() && *deadline < SteadyClock::time_point::max() - grace;
  const auto give_up = bounded ? *deadline + grace : SteadyClock::time_point::max();
  auto spin_until = SteadyClock::now() + opt.spin;
  char tmp[64 * 1024];
  for (;;) {
    if (!dispatch_buffered(*c)) {
      fail(c, "the manager sent a malformed frame");
      return;
    }
    if (mine.state.load(std::memory_order_acquire) != kWaiting) return;
    const bool spinning = opt.spin.count() > 0 && SteadyClock::now() < spin_until;
    ssize_t n;
    short wait = POLLIN;
    if (spinning || bounded || c->tls) {
      n = c->read_some(tmp, sizeof tmp, wait);
    } else {
      // Nothing to time out and no spinning: one blocking recv is the cheapest wait.
      n = ::recv(c->fd, tmp, sizeof tmp, 0);
    }
    if (n > 0) {
      c->inbuf.append(tmp, static_cast<size_t>(n));
      spin_until = SteadyClock::now() + opt.spin;
      continue;
    }
    if (n == 0) {
      fail(c, "the manager closed the connection");
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      fail(c, c->error_text(errno));
      return;
    }
    if (spinning) {
      std::this_thread::yield();  // let other runnable work (a worker, the manager) go first
      continue;
    }
    pollfd p{c->fd, wait, 0};
    int r = ::poll(&p, 1, ms_until(give_up));
    if (r == 0 && SteadyClock::now() >= give_up) {
      if (!fail_on_deadline) return;
      fail(c, "no reply within " + std::to_string(opt.reply_grace.count()) +
                  " ms after the request's own timeout");
      return;
    }
  }
}

void Client::Impl::release_reader(Slot& mine) {
  std::lock_guard lk(mu);
  reader_active = false;
  hand_on(mine);
}

void Client::Impl::pass_baton(Slot& mine) {
  std::lock_guard lk(mu);
  if (!reader_active) hand_on(mine);
}

void Client::Impl::hand_on(Slot& mine) {
  // Hand the role to another thread still waiting, so replies and pushes keep flowing.
  auto hand_to = [&](Slot* s) {
    if (s == &mine) return false;
    uint32_t expected = kWaiting;
    if (!s->state.compare_exchange_strong(expected, kRead, std::memory_order_acq_rel)) return false;
    futex_wake(s->state);
    return true;
  };
  for (auto& [id, pc] : pending)
    if (hand_to(pc)) return;
  for (Slot* w : push_waiters)
    if (hand_to(w)) return;
}

void Client::Impl::wait_reply(const std::shared_ptr<Conn>& c, PendingCall& pc,
                              std::optional<SteadyClock::time_point> deadline) {
  for (;;) {
    uint32_t st = pc.state.load(std::memory_order_acquire);
    if (st == kDone || st == kResend) return;
    if (st == kRead) pc.state.compare_exchange_strong(st, kWaiting, std::memory_order_acq_rel);
    bool become_reader = false;
    {
      std::lock_guard lk(mu);
      st = pc.state.load(std::memory_order_acquire);
      if (st == kDone || st == kResend) return;
      if (!reader_active) reader_active = become_reader = true;
    }
    if (become_reader) {
      read_loop(c, pc, deadline);
      release_reader(pc);
      continue;
    }
    futex_wait(pc.state, kWaiting, std::nullopt);
  }
}

// ------------------------------------------------------------ public API

Client::Client(std::string address, std::string authkey, ClientOptions options)
    : impl_(std::make_shared<Impl>()) {
  impl_->address = std::move(address);
  impl_->authkey = std::move(authkey);
  impl_->opt = std::move(options);
  impl_->backoff = impl_->opt.reconnect_initial_backoff;
  const bool named = !impl_->opt.name.empty();
  if (!named) impl_->opt.name = default_client_name();
  if (auto why = auth::check_client_name(impl_->opt.name); !why.empty())
    throw std::invalid_argument(std::string(named ? "ClientOptions::name" : "DEPOT_CLIENT_NAME") +
                                " '" + impl_->opt.name + "': " + why + "; choose another name");
  if (auto err = proto::parse_address(impl_->address, impl_->addr); !err.empty())
    throw ConnectionError(err);
  if (impl_->addr.tls || impl_->opt.tls.enabled)
    impl_->tls_ctx = std::make_shared<tls::ClientTlsContext>(impl_->opt.tls, impl_->where());
  impl_->conn = impl_->connect_once(SteadyClock::now() + impl_->opt.connect_timeout);
  impl_->conn->number = 1;
  impl_->connections = 1;
  impl_->note_send();
  impl_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl_->wake_fd < 0)
    throw ConnectionError("cannot start the client for " + impl_->where() +
                          ": eventfd: " + errno_text(errno));
  impl_->keeper = std::thread([im = impl_.get()] { im->keep_alive(); });
}

Client::~Client() {
  impl_->stopping = true;
  impl_->wake();
  impl_->keeper.join();
  ::close(impl_->wake_fd);
  std::shared_ptr<Conn> c;
  {
    std::lock_guard lk(impl_->mu);
    c = std::move(impl_->conn);
  }
  if (c && c->tls) {
    std::lock_guard lk(c->tls_mu);
    c->tls->shutdown();  // close_notify, if the socket takes it now
  }
  if (c) ::shutdown(c->fd, SHUT_RDWR);
}

void Client::Impl::keep_alive() {
  // Sends a HEARTBEAT when nothing else was sent for a third of the session lease, so a
  // program that computes for minutes while holding a lock never loses it. Between
  // heartbeats it sleeps in poll(2) on the connection, for hang-up only (POLLRDHUP: it never
  // reads unless it takes the reader role), so a manager that restarts or ends the session is
  // noticed at once, not at the program's next call: the locks held on it are lost now.
  std::string frame;
  const Request hb = req::heartbeat();
  proto::append_frame(frame, proto::FrameKind::REQUEST, static_cast<uint8_t>(hb.op), 0, hb.body);
  for (;;) {
    std::deque<std::function<void()>> todo;
    std::shared_ptr<Conn> c;
    {
      std::lock_guard g(mu);
      todo.swap(notes);
      c = conn;
    }
    for (auto& note : todo) {
      try {
        note();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "depot: a connection callback threw: %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "depot: a connection callback threw\n");
      }
    }
    if (stopping.load()) return;
    const auto lease =
        c && c->session_lease.count() > 0 ? c->session_lease : std::chrono::milliseconds(10'000);
    const auto every = std::max<std::chrono::milliseconds>(lease / 3, std::chrono::milliseconds(5));
    pollfd p[2] = {{wake_fd, POLLIN, 0}, {c ? c->fd : -1, POLLRDHUP, 0}};
    if (::poll(p, 2, static_cast<int>((every / 2).count())) < 0 && errno != EINTR)
      std::this_thread::sleep_for(every / 2);  // cannot happen with valid fds; never spin
    if (p[0].revents & POLLIN) {
      uint64_t n;
      [[maybe_unused]] ssize_t r = ::read(wake_fd, &n, sizeof n);
    }
    if (stopping.load()) return;
    if (!c) continue;
    if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
      // A reader busy on it will read the end itself, within moments.
      if (!take_hangup(c)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const auto since = SteadyClock::now().time_since_epoch().count() -
                       last_send_ns.load(std::memory_order_relaxed);
    if (std::chrono::nanoseconds(since) < every) continue;
    std::lock_guard wl(c->write_mu);
    // Never block here: a full socket means requests are flowing, which keeps the session.
    if (c->send_if_room(frame)) note_send();
  }
}

bool Client::Impl::take_hangup(const std::shared_ptr<Conn>& c) {
  {
    std::lock_guard lk(mu);
    if (conn != c) return true;  // already failed
    if (reader_active) return false;
    reader_active = true;
  }
  Slot me;  // waits for nothing: only reads what came before the end
  std::string why;
  bool again = false;
  char tmp[64 * 1024];
  for (;;) {
    short wait;
    const ssize_t n = c->read_some(tmp, sizeof tmp, wait);
    if (n > 0) {
      c->inbuf.append(tmp, static_cast<size_t>(n));
      if (!dispatch_buffered(*c)) {
        why = "the manager sent a malformed frame";
        break;
      }
      continue;
    }
    if (n == 0) {
      why = "the manager closed the connection";
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      again = true;  // not the end after all
      break;
    }
    why = c->error_text(errno);
    break;
  }
  if (!why.empty()) fail(c, why);
  release_reader(me);
  return !again;
}

const std::string& Client::address() const {
  return impl_->address;
}
const std::string& Client::name() const {
  return impl_->opt.name;
}
uint64_t Client::connections() const {
  return impl_->connections;
}
bool Client::connected() const {
  std::lock_guard lk(impl_->mu);
  return impl_->conn != nullptr;
}
TlsInfo Client::tls_info() const {
  std::shared_ptr<Conn> c;
  {
    std::lock_guard lk(impl_->mu);
    c = impl_->conn;
  }
  if (!c || !c->tls) return {};
  std::lock_guard lk(c->tls_mu);
  return c->tls->info();
}

std::shared_ptr<Conn> Client::Impl::usable_connection(SteadyClock::time_point give_up) {
  std::shared_ptr<Conn> c = ensure_connected(give_up);
  // An idle connection may have been closed by a manager that restarted since the last
  // call: find out before sending, so the request is not lost in a dead socket.
  bool idle;
  {
    std::lock_guard lk(mu);
    idle = pending.empty();
  }
  if (idle && peer_closed(c->fd)) {
    fail(c, "the manager closed the connection");
    return nullptr;
  }
  return c;
}

Reply Client::call(const Request& request, const CallOptions& options) {
  return call(request.op, request.body, options);
}

Reply Client::call(proto::Op op, std::string_view body, const CallOptions& options) {
  Impl& im = *impl_;
  // A wait with a deadline stops trying to reconnect when its own time is up.
  auto give_up = SteadyClock::now() + im.opt.reconnect_give_up;
  if (options.deadline && *options.deadline < give_up) give_up = *options.deadline;
  std::string rebuilt;
  std::string frame;
  for (;;) {
    std::shared_ptr<Conn> c = im.usable_connection(give_up);
    if (!c) continue;
    PendingCall pc;
    pc.reissuable = static_cast<bool>(options.rebuild);
    const uint64_t id = im.next_id.fetch_add(1, std::memory_order_relaxed);
    frame.clear();
    proto::append_frame(frame, proto::FrameKind::REQUEST, static_cast<uint8_t>(op), id, body);
    {
      std::lock_guard lk(im.mu);
      if (im.conn != c) continue;  // lost meanwhile: connect again
      im.pending.emplace(id, &pc);
    }
    bool sent;
    {
      std::lock_guard wl(c->write_mu);
      sent = c->send_all(frame.data(), frame.size());
    }
    im.note_send();
    if (!sent) im.fail(c, "sending failed: " + errno_text(errno));
    im.wait_reply(c, pc, options.deadline);
    if (pc.state.load(std::memory_order_acquire) == kDone) {
      if (pc.lost)
        throw ConnectionError("the connection to " + im.where() + " was lost while " +
                              std::string(proto::op_name(static_cast<uint8_t>(op))) +
                              " was in flight (" + pc.lost_reason +
                              "); it may or may not have taken effect");
      // A parked wait told the manager is stopping delivered nothing: wait on its successor.
      // Told the manager is stopping: back off until it has closed the connection (a re-send
      // on it meanwhile goes unanswered and fails with it), then wait on its successor.
      if (pc.reply.status == Status::SHUTTING_DOWN && pc.reissuable && im.opt.reconnect &&
          SteadyClock::now() < give_up) {
        std::this_thread::sleep_for(im.opt.reconnect_initial_backoff);
        rebuilt = options.rebuild(SteadyClock::now());
        body = rebuilt;
        continue;
      }
      pc.reply.connection = c->number;
      return std::move(pc.reply);
    }
    rebuilt = options.rebuild(SteadyClock::now());  // kResend
    body = rebuilt;
  }
}

std::vector<Reply> Client::call_many(const std::vector<Request>& requests,
                                     const CallOptions& options) {
  Impl& im = *impl_;
  std::vector<Reply> out;
  if (requests.empty()) return out;
  auto give_up = SteadyClock::now() + im.opt.reconnect_give_up;
  if (options.deadline && *options.deadline < give_up) give_up = *options.deadline;
  for (;;) {
    std::shared_ptr<Conn> c = im.usable_connection(give_up);
    if (!c) continue;
    const size_t n = requests.size();
    auto pcs = std::make_unique<PendingCall[]>(n);
    // Only the call its thread sleeps on may be handed the reader role (hand_on): the others
    // stay kIdle until their turn, or a wake-up would go to a slot nobody watches.
    for (size_t i = 0; i < n; ++i) pcs[i].state.store(kIdle, std::memory_order_relaxed);
    std::string frames;
    const uint64_t first = im.next_id.fetch_add(n, std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i)
      proto::append_frame(frames, proto::FrameKind::REQUEST, static_cast<uint8_t>(requests[i].op),
                          first + i, requests[i].body);
    {
      std::lock_guard lk(im.mu);
      if (im.conn != c) continue;
      for (size_t i = 0; i < n; ++i) im.pending.emplace(first + i, &pcs[i]);
    }
    bool sent;
    {
      std::lock_guard wl(c->write_mu);
      sent = c->send_all(frames.data(), frames.size());
    }
    im.note_send();
    if (!sent) im.fail(c, "sending failed: " + errno_text(errno));
    std::string lost;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      uint32_t idle = kIdle;
      pcs[i].state.compare_exchange_strong(idle, kWaiting, std::memory_order_acq_rel);
      im.wait_reply(c, pcs[i], options.deadline);
      if (pcs[i].lost && lost.empty()) lost = pcs[i].lost_reason;
      pcs[i].reply.connection = c->number;
      out.push_back(std::move(pcs[i].reply));
    }
    if (!lost.empty())
      throw ConnectionError("the connection to " + im.where() + " was lost while " +
                            std::to_string(n) + " pipelined requests were in flight (" + lost +
                            "); some may have taken effect");
    return out;
  }
}

std::string Client::request(const Request& request, const CallOptions& options) {
  Reply r = call(request, options);
  if (r.status != Status::OK) throw_status(r.status, std::string(proto::error_message(r.body)));
  return std::move(r.body);
}

std::chrono::nanoseconds Client::ping() {
  const auto t0 = SteadyClock::now();
  request(req::ping("ping"));
  return SteadyClock::now() - t0;
}

std::string Client::stats() {
  return req::parse_stats(request(req::stats()));
}

std::string Client::inspect(std::string_view section) {
  return req::parse_inspect(request(req::inspect(section)));
}

std::string Client::remove(std::string_view name) {
  return req::parse_remove(request(req::remove(name)));
}

LeaseFound Client::hold_lease(std::string_view name, const LeaseTerms& terms) {
  return req::parse_lease_hold(request(req::lease_hold(name, terms)));
}

std::vector<ObjectInfo> Client::list() {
  return req::parse_list(request(req::list()));
}

// ------------------------------------------------------------ subscriptions

RawSubscription::RawSubscription(Client& client, std::string pattern, SubscribeOptions options)
    : client_(&client), st_(std::make_shared<SubState>()) {
  if (options.buffer == 0) options.buffer = 1024;
  st_->pattern = std::move(pattern);
  st_->options = options;
  subscribe_on_current();
}

RawSubscription::RawSubscription(Client& client, MonitorTag, uint32_t buffer_bytes,
                                 uint32_t per_second, uint32_t local_records)
    : client_(&client), st_(std::make_shared<SubState>()) {
  st_->monitor = true;
  st_->monitor_bytes = buffer_bytes;
  st_->monitor_per_second = per_second;
  st_->pattern = "(monitor)";
  st_->options.buffer = local_records == 0 ? 1 : local_records;
  subscribe_on_current();
}

RawSubscription::~RawSubscription() {
  try {
    unsubscribe();
  } catch (...) {  // best effort: the session's end removes it anyway
  }
}

void RawSubscription::subscribe_on_current() {
  Client::Impl& im = *client_->impl_;
  {
    std::lock_guard lk(im.mu);
    ++im.subscribing;
  }
  std::string reply;
  try {
    reply = client_->request(
        st_->monitor ? req::monitor_start(st_->monitor_bytes, st_->monitor_per_second)
                     : req::subscribe(st_->pattern, st_->options.buffer, st_->options.overflow));
  } catch (...) {
    std::lock_guard lk(im.mu);
    if (--im.subscribing == 0) {
      im.orphans.clear();
      im.orphan_count = 0;
    }
    throw;
  }
  const uint64_t id = st_->monitor ? req::parse_monitor_start(reply) : req::parse_subscribe(reply);
  std::unique_lock lk(im.mu);
  if (st_->closed) {  // unsubscribed while this SUBSCRIBE was in flight: undo it
    if (--im.subscribing == 0) {
      im.orphans.clear();
      im.orphan_count = 0;
    }
    lk.unlock();
    try {
      client_->request(st_->monitor ? req::monitor_stop() : req::unsubscribe(id));
    } catch (const Error&) {  // the session's end removes it anyway
    }
    return;
  }
  if (st_->id) im.subs.erase(st_->id);
  st_->id = id;
  st_->conn = im.conn;
  im.subs[id] = st_;
  // Messages that arrived before we knew the id are the subscription's first ones.
  if (auto o = im.orphans.find(id); o != im.orphans.end()) {
    for (auto& m : o->second) {
      st_->manager_dropped = m.dropped;
      st_->queue.push_back(std::move(m));
    }
    im.orphan_count -= o->second.size();
    im.orphans.erase(o);
  }
  if (--im.subscribing == 0) {
    im.orphans.clear();
    im.orphan_count = 0;
  }
}

std::optional<RawMessage> RawSubscription::next(Timeout timeout) {
  Client::Impl& im = *client_->impl_;
  std::optional<SteadyClock::time_point> deadline;
  if (timeout && *timeout <= std::chrono::hours(24 * 365 * 100))  // beyond: forever
    deadline = SteadyClock::now() + *timeout;
  for (;;) {
    std::shared_ptr<Conn> c;
    bool stale;
    {
      std::lock_guard lk(im.mu);
      if (!st_->queue.empty()) {
        RawMessage m = std::move(st_->queue.front());
        st_->queue.pop_front();
        return m;
      }
      if (st_->closed) return std::nullopt;
      c = im.conn;
      stale = !c || st_->conn.lock() != c;
    }
    // A new connection: the manager forgot the subscription with the old session. Renew it
    // first (even for a next() that does not wait), unless that means connecting.
    if (stale && c) {
      subscribe_on_current();
      continue;
    }
    if (deadline && SteadyClock::now() >= *deadline) return std::nullopt;
    if (stale) {
      subscribe_on_current();
      continue;
    }
    Slot slot;
    bool become_reader = false;
    {
      std::lock_guard lk(im.mu);
      if (!st_->queue.empty() || im.conn != c) continue;
      st_->waiter = &slot;
      im.push_waiters.insert(&slot);
      if (!im.reader_active) im.reader_active = become_reader = true;
    }
    if (become_reader) {
      im.read_loop(c, slot, deadline, /*fail_on_deadline=*/false);
      im.release_reader(slot);
    } else {
      futex_wait(slot.state, kWaiting, deadline);
    }
    {
      std::lock_guard lk(im.mu);
      st_->waiter = nullptr;
      im.push_waiters.erase(&slot);
    }
    if (slot.state.load(std::memory_order_acquire) == kRead) im.pass_baton(slot);
  }
}

uint64_t RawSubscription::dropped() const {
  std::lock_guard lk(client_->impl_->mu);
  return st_->manager_dropped + st_->local_dropped;
}

const std::string& RawSubscription::pattern() const {
  return st_->pattern;
}

void RawSubscription::unsubscribe() {
  Client::Impl& im = *client_->impl_;
  uint64_t id;
  bool current;
  {
    std::lock_guard lk(im.mu);
    if (st_->closed) return;
    st_->closed = true;
    id = st_->id;
    im.subs.erase(id);
    current = im.conn && st_->conn.lock() == im.conn;
    if (st_->waiter) signal(st_->waiter->state, kDone);
  }
  if (current) client_->request(st_->monitor ? req::monitor_stop() : req::unsubscribe(id));
}

// ------------------------------------------------------------ monitors

Monitor::Monitor(Client& client, MonitorOptions options)
    : sub_(client, RawSubscription::MonitorTag{}, options.buffer_bytes, options.max_per_second,
           options.local_records) {}

std::optional<MonitorRecord> Monitor::next(Timeout timeout) {
  // Records lost here (nobody took them in time) are reported before the next one.
  const uint64_t local = sub_.dropped();
  if (local > reported_local_) {
    MonitorRecord r;
    r.type = MonitorRecord::Type::Dropped;
    r.time_us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
    r.dropped = local - reported_local_;
    reported_local_ = local;
    return r;
  }
  std::optional<RawMessage> m = sub_.next(timeout);
  if (!m) return std::nullopt;
  MonitorRecord r;
  if (!req::parse_monitor_record(m->payload, r))
    throw ProtocolError("the manager sent a MONITOR record this client cannot read (" +
                        std::to_string(m->payload.size()) + " bytes)");
  if (r.type == MonitorRecord::Type::Dropped) manager_dropped_ += r.dropped;
  if (r.type == MonitorRecord::Type::Skipped) skipped_ += r.dropped;
  return r;
}

}  // namespace depot
