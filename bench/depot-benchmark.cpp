// depot-benchmark: redis-benchmark for depot.
//
// Takes redis-benchmark's flags (-h -p -a -c -n -d -P -t -q --csv) and prints the same
// reports, so the two can be run side by side with the same -c/-n/-P/-d (bench/compare.sh).
// Like redis-benchmark with hiredis, ONE thread drives every connection from its own epoll
// loop and speaks the wire protocol directly (protocol/frame.h, auth/auth.h): no client
// library, no extra threads, so the figures measure the manager, not a client's locking.
//
// Pipelining follows redis-benchmark exactly: a connection writes a batch of -P requests,
// waits for all -P replies, then writes the next batch. Each request's latency runs from
// the write of its batch to the read of its reply (what redis-benchmark records), so with
// -P > 1 latency grows with P while throughput does too.
//
// Tests (-t, comma separated):
//   ping       PING with an empty body
//   put        QUEUE_PUT of a -d byte item into queue "bench", timeout 0 (like LPUSH)
//   get        QUEUE_GET from "bench", timeout 0 (like RPOP); EMPTY replies are counted
//   put_many   QUEUE_PUT_MANY of --batch items per request
//   get_many   QUEUE_GET_MANY of up to --batch items per request
// Run put before get, as redis-benchmark runs LPUSH before RPOP: the get test then finds
// the items the put test left.
//
// --proto resp drives a Redis server with the same loop and the same accounting: put is
// LPUSH <queue> <payload>, get is RPOP <queue> (a nil reply counts as EMPTY), ping is PING,
// each reply parsed whole and checked. --proto beanstalk drives beanstalkd: put is
// `put 0 0 60 <bytes>` (INSERTED); it is the only test there (a reserve needs a delete of the
// id it returns, a second round trip). One client for every server, so that a ratio measures
// the servers, not a heavier client on one side (redis-benchmark spends 17-19 us of CPU per
// request on this machine, about twice this loop).
//
// --tls (redis-benchmark's flag, with --cacert, --cert, --key) speaks TLS through OpenSSL on
// the same loop, for depot (its HELLO comes in clear with the "TLS follows" bit, then the TLS
// handshake, then AUTH inside: docs/protocol.md section 3) and for Redis (`--tls-port`).
// The test `connect` measures connection set-up instead: -n connections opened one after
// another, each timed from socket() to the first reply it can take (depot: AUTH_OK; Redis:
// the reply to AUTH with -a, else to PING), then closed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "depot/auth/handshake.h"
#include "depot/auth/socket_bio.h"
#include "depot/client/admin_requests.h"
#include "depot/client/queue_requests.h"
#include "depot/protocol/frame.h"
#include "depot/protocol/version.h"

namespace {

namespace proto = depot::proto;
using depot::Status;

const char* kUsage =
    R"(Usage: depot-benchmark [-h <host>] [-p <port>] [-c <clients>] [-n <requests>] [-k <boolean>]

 -h <hostname>      Server hostname (default 127.0.0.1; tls://<hostname> means --tls)
 -p <port>          Server port (default 5000)
 -a <authkey>       The manager's authkey (default: $DEPOT_AUTHKEY)
 -c <clients>       Number of parallel connections (default 50)
 -n <requests>      Total number of requests (default 100000)
 -d <size>          Data size of put payloads in bytes (default 3)
 -P <numreq>        Pipeline <numreq> requests. Default 1 (no pipeline).
 -t <tests>         Only run the comma separated list of tests. The test
                    names are the same as the ones produced as output:
                    ping, put, get, put_many, get_many, connect (set-up
                    time of -n connections, one after another; default ping,put,get)
 -q                 Quiet. Just show query/sec values
 --csv              Output in CSV format
 --batch <items>    Items per put_many / get_many request (default 100)
 --queue <name>     Queue the put/get tests use (default bench)
 --timeout <sec>    Give up when no reply arrives for this long (default 10)
 --proto <p>        depot (default), raw (depot frames without the handshake: for
                    bench/echo-floor), resp (a Redis server: LPUSH/RPOP/PING; -a sends
                    AUTH) or beanstalk (beanstalkd: put only)
 --tls              Establish a secure TLS connection (depot or resp)
 --cacert <file>    CA certificate file to verify the server with (--tls-ca too)
 --cert <file>      Client certificate, for mutual TLS (--tls-cert too)
 --key <file>       Private key of --cert (--tls-key too)
 --sni <host>       Server name to send and verify (default: -h)
 --help             Output this help and exit.
 --version          Output the version and exit.
 (long options also take --name=value)

Examples:

 Fill the queue with 1,000,000 16-byte items over one pipelined connection:
   depot-benchmark -a KEY -t put -c 1 -n 1000000 -d 16 -P 64

 Compare with Redis at the same settings:
   redis-benchmark -t lpush,rpop -c 50 -n 100000 -P 16 -q
   depot-benchmark -a KEY -t put,get -c 50 -n 100000 -P 16 -q
)";

using Clock = std::chrono::steady_clock;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

struct Config {
  std::string host = "127.0.0.1";
  int port = 5000;
  std::string authkey;
  int clients = 50;
  uint64_t requests = 100000;
  size_t datasize = 3;
  uint32_t pipeline = 1;
  std::vector<std::string> tests{"ping", "put", "get"};
  bool quiet = false;
  bool csv = false;
  uint32_t batch = 100;
  std::string queue = "bench";
  int timeout_s = 10;
  enum class Proto { DEPOT, RAW, RESP, BEANSTALK } proto = Proto::DEPOT;
  bool tls = false;
  std::string cacert, cert, key, sni;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "depot-benchmark: %s\n", msg.c_str());
  std::exit(1);
}

// A bad command line: exit code 2, as every depot program.
[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "depot-benchmark: %s\n", msg.c_str());
  std::exit(2);
}

// ------------------------------------------------------------------ one test's definition

struct Test {
  std::string title;   // "PUT", as in the report
  proto::Op op;        // opcode of every request
  std::string body;    // the same body for every request
  uint32_t items = 1;  // items moved per request (for items/s of the *_many tests)
  bool counts_items = false;
};

Test make_test(const std::string& name, const Config& cfg) {
  const std::string payload(cfg.datasize, 'x');  // redis-benchmark's payload is 'x' too
  auto test = [](std::string title, depot::Request r, uint32_t items, bool counts) {
    return Test{std::move(title), r.op, std::move(r.body), items, counts};
  };
  if (name == "connect") {
    if (cfg.proto != Config::Proto::DEPOT && cfg.proto != Config::Proto::RESP)
      die("the connect test is for --proto depot or resp");
    return Test{"CONNECT", proto::Op::PING, "", 1, false};
  }
  if (cfg.proto == Config::Proto::RESP) {
    // A RESP array of bulk strings. (Appended piece by piece: GCC 12 warns falsely on a
    // chain of operator+ here at -O3, PR105651.)
    auto command = [](std::initializer_list<std::string_view> args) {
      std::string out;
      out.append("*").append(std::to_string(args.size())).append("\r\n");
      for (std::string_view a : args)
        out.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
      return out;
    };
    if (name == "ping") return Test{"PING", proto::Op::PING, command({"PING"}), 1, false};
    if (name == "put")
      return Test{"LPUSH", proto::Op::QUEUE_PUT, command({"LPUSH", cfg.queue, payload}), 1, false};
    if (name == "get")
      return Test{"RPOP", proto::Op::QUEUE_GET, command({"RPOP", cfg.queue}), 1, false};
    die("with --proto resp the tests are ping, put (LPUSH) and get (RPOP)");
  }
  if (cfg.proto == Config::Proto::BEANSTALK) {
    if (name == "put") {
      std::string cmd = "put 0 0 60 ";
      cmd.append(std::to_string(payload.size())).append("\r\n").append(payload).append("\r\n");
      return Test{"BEANSTALK_PUT", proto::Op::QUEUE_PUT, cmd, 1, false};
    }
    die("with --proto beanstalk the only test is put");
  }
  if (name == "ping") return test("PING", depot::req::ping(""), 1, false);
  if (name == "put")
    return test("PUT", depot::req::queue_put(cfg.queue, proto::kNoWait, payload), 1, false);
  if (name == "get") return test("GET", depot::req::queue_get(cfg.queue, proto::kNoWait), 1, false);
  if (name == "put_many")
    return test("PUT_MANY_" + std::to_string(cfg.batch),
                depot::req::queue_put_many(cfg.queue, proto::kNoWait,
                                           std::vector<std::string>(cfg.batch, payload)),
                cfg.batch, true);
  if (name == "get_many")
    return test("GET_MANY_" + std::to_string(cfg.batch),
                depot::req::queue_get_many(cfg.queue, cfg.batch, proto::kNoWait), cfg.batch, true);
  die("unknown test '" + name + "'; the tests are ping, put, get, put_many, get_many");
}

// ------------------------------------------------------------------ connections

// Bit 0 of a HELLO frame's code: the manager runs TLS on this connection next (docs/protocol.md
// section 3).
constexpr uint8_t kHelloTls = 0x01;

std::string where(const Config& cfg) {
  return cfg.host + ":" + std::to_string(cfg.port);
}

std::string ssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("no detail from OpenSSL") : out;
}

// The run's one client context (no session reuse: every connection pays a full handshake, as
// with redis-benchmark).
SSL_CTX* tls_context(const Config& cfg) {
  static SSL_CTX* ctx = nullptr;
  if (ctx) return ctx;
  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) die("cannot make a TLS context: " + ssl_errors());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (cfg.cacert.empty() ? SSL_CTX_set_default_verify_paths(ctx) != 1
                         : SSL_CTX_load_verify_locations(ctx, cfg.cacert.c_str(), nullptr) != 1)
    die("cannot load the CA certificates " + (cfg.cacert.empty() ? "of the system" : cfg.cacert) +
        ": " + ssl_errors());
  if (!cfg.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert.c_str()) != 1)
      die("cannot load the client certificate " + cfg.cert + ": " + ssl_errors());
    const std::string& key = cfg.key.empty() ? cfg.cert : cfg.key;
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
      die("cannot load the private key " + key + ": " + ssl_errors());
  }
  return ctx;
}

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;  // with --tls
  size_t index = 0;    // in Runner::conns_, carried in epoll events
  std::string out;     // bytes of the current batch not yet written
  size_t out_off = 0;
  std::vector<char> in;
  size_t in_begin = 0, in_end = 0;
  uint64_t next_id = 1;
  uint64_t batch_first = 0;  // id of the first request of the batch in flight
  uint32_t outstanding = 0;  // replies of the batch still to come
  uint64_t batch_start = 0;  // ns, when the batch was written
  bool want_write = false;
  depot::auth::SocketReadState reads;  // with --tls: whether OpenSSL's last read(2) was short
  ~Conn() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
};

// After a read of `got` of `space` bytes: the socket is empty, so the recv that would only
// say EAGAIN can be skipped (epoll is level-triggered: what arrives later wakes us again), as
// hiredis does. In clear a short read says it; with TLS a short last read(2) with no byte left
// inside OpenSSL (a whole or partial record) does.
bool drained(const Conn& c, size_t got, size_t space) {
  return c.ssl ? c.reads.drained && SSL_has_pending(c.ssl) != 1 : got < space;
}

// recv/send over the connection, TLS or not, with their return conventions: > 0 bytes, 0 the
// peer closed, -1 with errno (EAGAIN when TLS must wait for the socket, either way).
ssize_t conn_recv(Conn& c, char* p, size_t n) {
  if (!c.ssl) return ::recv(c.fd, p, n, 0);
  const int k = SSL_read(c.ssl, p, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
  if (k > 0) return k;
  switch (SSL_get_error(c.ssl, k)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    case SSL_ERROR_SYSCALL:
      if (errno == 0) return 0;  // EOF without close_notify
      return -1;
    default:
      die("TLS read failed: " + ssl_errors());
  }
}

ssize_t conn_send(Conn& c, const char* p, size_t n) {
  if (!c.ssl) return ::send(c.fd, p, n, MSG_NOSIGNAL);
  const int k = SSL_write(c.ssl, p, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
  if (k > 0) return k;
  switch (SSL_get_error(c.ssl, k)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_SYSCALL:
      return -1;
    default:
      die("TLS write failed: " + ssl_errors());
  }
}

// Reads one whole frame with a blocking socket (handshake only).
proto::Decoded read_frame(Conn& c, std::string& buf) {
  for (;;) {
    proto::Decoded d = proto::decode(buf.data(), buf.size(), 1u << 20);
    if (d.status == proto::DecodeStatus::OK) return d;
    if (d.status != proto::DecodeStatus::NEED_MORE) die("bad frame from the manager: " + d.error);
    char tmp[4096];
    ssize_t n = conn_recv(c, tmp, sizeof tmp);
    if (n == 0) die("the manager closed the connection during the handshake");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die(std::string("recv: ") + std::strerror(errno));
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
}

void send_all(Conn& c, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t k = conn_send(c, s.data() + off, s.size() - off);
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die(std::string("send: ") + std::strerror(errno));
    }
    off += static_cast<size_t>(k);
  }
}

// The TLS handshake on a blocking socket, verifying the server's certificate for --sni / -h.
void start_tls(const Config& cfg, Conn& c) {
  c.ssl = SSL_new(tls_context(cfg));
  BIO* bio = c.ssl ? depot::auth::new_socket_bio(c.fd, &c.reads) : nullptr;
  if (!bio) die("cannot start TLS: " + ssl_errors());
  SSL_set_bio(c.ssl, bio, bio);
  // One read(2) takes every record that has arrived (not a header, then a body, each), and a
  // short one with nothing left inside OpenSSL proves the socket empty (drained()), as the
  // manager reads (manager/tls.cpp).
  SSL_set_read_ahead(c.ssl, 1);
  const std::string& name = cfg.sni.empty() ? cfg.host : cfg.sni;
  in6_addr a6;
  in_addr a4;
  const bool ip =
      ::inet_pton(AF_INET, name.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, name.c_str(), &a6) == 1;
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), name.c_str());
  } else {
    SSL_set_tlsext_host_name(c.ssl, name.c_str());
    SSL_set1_host(c.ssl, name.c_str());
  }
  if (SSL_connect(c.ssl) != 1) {
    const long v = SSL_get_verify_result(c.ssl);
    die("TLS handshake with " + where(cfg) + " failed: " +
        (v != X509_V_OK ? std::string(X509_verify_cert_error_string(v)) : ssl_errors()));
  }
}

// Reads one RESP reply line during set-up; dies unless it is +... or a bulk/integer.
void resp_expect_ok(const Config& cfg, Conn& c, const char* what) {
  std::string line;
  char ch;
  while (line.size() < 4096) {
    ssize_t n = conn_recv(c, &ch, 1);
    if (n == 0) die("the server closed the connection after " + std::string(what));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die(std::string("recv: ") + std::strerror(errno));
    }
    line.push_back(ch);
    if (line.size() >= 2 && line.compare(line.size() - 2, 2, "\r\n") == 0) break;
  }
  if (line.empty() || line[0] != '+')
    die(std::string(what) + " on " + where(cfg) + " failed: " + line.substr(0, 120));
}

// Connects and authenticates (blocking), then switches the socket to non-blocking.
// first_reply: also the first round trip after set-up that the connect test times (RESP: the
// AUTH of -a, else a PING; depot's AUTH_OK is that already).
std::unique_ptr<Conn> open_conn(const Config& cfg, const addrinfo* ai, bool first_reply = false) {
  auto c = std::make_unique<Conn>();
  c->fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (c->fd < 0) die(std::string("socket: ") + std::strerror(errno));
  if (::connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0)
    die("cannot connect to " + where(cfg) + ": " + std::strerror(errno) +
        " (is the server running there?)");
  int one = 1;
  ::setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (cfg.proto != Config::Proto::DEPOT) {  // echo-floor, Redis and beanstalkd: no handshake
    if (cfg.tls) start_tls(cfg, *c);
    if (cfg.proto == Config::Proto::RESP && !cfg.authkey.empty()) {
      send_all(*c, "*2\r\n$4\r\nAUTH\r\n$" + std::to_string(cfg.authkey.size()) + "\r\n" +
                       cfg.authkey + "\r\n");
      resp_expect_ok(cfg, *c, "AUTH");
    } else if (first_reply) {
      send_all(*c, "*1\r\n$4\r\nPING\r\n");
      resp_expect_ok(cfg, *c, "PING");
    }
    ::fcntl(c->fd, F_SETFL, ::fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->in.resize(256 * 1024);
    return c;
  }

  // The handshake of auth/handshake.h: HELLO -> (TLS) -> AUTH -> AUTH_OK.
  depot::auth::ClientHandshake hs(cfg.authkey);
  std::string buf;
  proto::Decoded d = read_frame(*c, buf);
  std::string out;
  if (auto r = hs.on_hello(d.header, d.body, out); !r.ok())
    die("the manager at " + where(cfg) + " " +
        (r.error == depot::auth::HandshakeError::REFUSED ? "refused the connection: " : "") +
        r.message);
  const bool manager_tls = d.header.kind == proto::FrameKind::HELLO && (d.header.code & kHelloTls);
  if (manager_tls && !cfg.tls)
    die("the manager at " + where(cfg) + " requires TLS: pass --tls and --cacert");
  if (!manager_tls && cfg.tls)
    die("the manager at " + where(cfg) + " does not use TLS: drop --tls");
  buf.erase(0, proto::kHeaderSize + d.header.body_len);
  if (cfg.tls) start_tls(cfg, *c);
  send_all(*c, out);

  d = read_frame(*c, buf);
  if (auto r = hs.on_auth_reply(d.header, d.body); !r.ok())
    die("authentication failed: the manager " + r.message + " (check -a / DEPOT_AUTHKEY)");
  buf.erase(0, proto::kHeaderSize + d.header.body_len);
  if (!buf.empty()) die("unexpected bytes after AUTH_OK");

  ::fcntl(c->fd, F_SETFL, ::fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  c->in.resize(256 * 1024);
  return c;
}

// ------------------------------------------------------------------ the run

struct Result {
  uint64_t finished = 0;
  uint64_t items = 0;  // items moved (put_many: accepted; get/get_many: received)
  uint64_t empty = 0;  // EMPTY replies (get on an empty queue)
  std::map<Status, uint64_t> errors;
  std::string first_error;
  double seconds = 0;
  std::vector<uint64_t> latency_ns;
};

class Runner {
 public:
  Runner(const Config& cfg, const Test& test) : cfg_(cfg), test_(test) {
    if (cfg.proto == Config::Proto::DEPOT || cfg.proto == Config::Proto::RAW)
      proto::append_frame(frame_, proto::FrameKind::REQUEST, static_cast<uint8_t>(test.op), 0,
                          test.body);
    else
      frame_ = test.body;  // a text protocol: the command as it goes on the wire
  }

  Result run() {
    if (test_.title == "CONNECT") return run_connect();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int e = ::getaddrinfo(cfg_.host.c_str(), std::to_string(cfg_.port).c_str(), &hints, &res))
      die("cannot resolve '" + cfg_.host + "': " + ::gai_strerror(e));
    for (int i = 0; i < cfg_.clients; ++i) {
      conns_.push_back(open_conn(cfg_, res));
      conns_.back()->index = conns_.size() - 1;
    }
    ::freeaddrinfo(res);

    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die(std::string("epoll_create1: ") + std::strerror(errno));
    for (size_t i = 0; i < conns_.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      if (::epoll_ctl(ep_, EPOLL_CTL_ADD, conns_[i]->fd, &ev) < 0)
        die(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    result_.latency_ns.reserve(cfg_.requests);

    const uint64_t start = now_ns();
    for (auto& c : conns_) issue(*c);
    std::vector<epoll_event> events(conns_.size());
    uint64_t last_progress = start;
    while (result_.finished < cfg_.requests) {
      int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 1000);
      if (n < 0) {
        if (errno == EINTR) continue;
        die(std::string("epoll_wait: ") + std::strerror(errno));
      }
      const uint64_t before = result_.finished;
      for (int i = 0; i < n; ++i) {
        Conn& c = *conns_[events[i].data.u64];
        if (events[i].events & EPOLLOUT) write_some(c);
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_some(c);
      }
      const uint64_t t = now_ns();
      if (result_.finished != before) {
        last_progress = t;
      } else if (t - last_progress > static_cast<uint64_t>(cfg_.timeout_s) * 1'000'000'000ull) {
        die("no reply for " + std::to_string(cfg_.timeout_s) + " s; " +
            std::to_string(result_.finished) + " of " + std::to_string(cfg_.requests) +
            " requests finished");
      }
    }
    result_.seconds = static_cast<double>(now_ns() - start) / 1e9;
    ::close(ep_);
    conns_.clear();
    return std::move(result_);
  }

 private:
  // -n connections, one after another: each timed from socket() to its first reply.
  Result run_connect() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int e = ::getaddrinfo(cfg_.host.c_str(), std::to_string(cfg_.port).c_str(), &hints, &res))
      die("cannot resolve '" + cfg_.host + "': " + ::gai_strerror(e));
    result_.latency_ns.reserve(cfg_.requests);
    const uint64_t start = now_ns();
    for (uint64_t i = 0; i < cfg_.requests; ++i) {
      const uint64_t t0 = now_ns();
      auto c = open_conn(cfg_, res, /*first_reply=*/true);
      result_.latency_ns.push_back(now_ns() - t0);
      ++result_.finished;
      ++result_.items;
    }
    result_.seconds = static_cast<double>(now_ns() - start) / 1e9;
    ::freeaddrinfo(res);
    return std::move(result_);
  }

  // Starts the next batch of up to -P requests on a connection, if any are left to issue.
  void issue(Conn& c) {
    if (issued_ >= cfg_.requests) return;
    const uint32_t k =
        static_cast<uint32_t>(std::min<uint64_t>(cfg_.pipeline, cfg_.requests - issued_));
    issued_ += k;
    c.out.clear();
    c.out_off = 0;
    c.batch_first = c.next_id;
    for (uint32_t i = 0; i < k; ++i) {
      const size_t at = c.out.size();
      c.out.append(frame_);
      if (cfg_.proto == Config::Proto::DEPOT || cfg_.proto == Config::Proto::RAW)
        proto::store_u64(c.out.data() + at + 8, c.next_id);
      ++c.next_id;
    }
    c.outstanding = k;
    c.batch_start = now_ns();
    write_some(c);
  }

  void write_some(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t k = conn_send(c, c.out.data() + c.out_off, c.out.size() - c.out_off);
      if (k < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        die(std::string("send: ") + std::strerror(errno));
      }
      c.out_off += static_cast<size_t>(k);
    }
    const bool pending = c.out_off < c.out.size();
    if (pending != c.want_write) {
      c.want_write = pending;
      epoll_event ev{};
      ev.events = EPOLLIN | (pending ? EPOLLOUT : 0u);
      ev.data.u64 = c.index;
      ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }

  void read_some(Conn& c) {
    for (;;) {
      if (c.in_begin == c.in_end) c.in_begin = c.in_end = 0;
      if (c.in.size() - c.in_end < 4096) {
        std::memmove(c.in.data(), c.in.data() + c.in_begin, c.in_end - c.in_begin);
        c.in_end -= c.in_begin;
        c.in_begin = 0;
        if (c.in.size() - c.in_end < 4096) c.in.resize(c.in.size() * 2);
      }
      const size_t space = c.in.size() - c.in_end;
      ssize_t n = conn_recv(c, c.in.data() + c.in_end, space);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        die(std::string("recv: ") + std::strerror(errno));
      }
      if (n == 0) die("the manager closed a connection");
      const uint64_t t = now_ns();
      c.in_end += static_cast<size_t>(n);
      if (cfg_.proto == Config::Proto::RESP || cfg_.proto == Config::Proto::BEANSTALK) {
        text_replies(c, t);
        if (drained(c, static_cast<size_t>(n), space)) return;
        continue;
      }
      for (;;) {
        proto::Decoded d =
            proto::decode(c.in.data() + c.in_begin, c.in_end - c.in_begin, UINT32_MAX);
        if (d.status == proto::DecodeStatus::NEED_MORE) {
          const size_t need = proto::kHeaderSize + d.header.body_len;
          if (c.in_end - c.in_begin >= proto::kHeaderSize && c.in.size() - c.in_begin < need) {
            std::memmove(c.in.data(), c.in.data() + c.in_begin, c.in_end - c.in_begin);
            c.in_end -= c.in_begin;
            c.in_begin = 0;
            if (c.in.size() < need) c.in.resize(need + 4096);
          }
          break;
        }
        if (d.status != proto::DecodeStatus::OK) die("bad frame from the manager: " + d.error);
        c.in_begin += proto::kHeaderSize + d.header.body_len;
        on_reply(c, d, t);
      }
      if (drained(c, static_cast<size_t>(n), space)) return;
    }
  }

  // RESP and beanstalkd replies: each parsed whole (a bulk string read to its end), then
  // counted as the depot replies are: OK, EMPTY (a nil RPOP) or an error.
  void text_replies(Conn& c, uint64_t t) {
    for (;;) {
      const char* p = c.in.data() + c.in_begin;
      const size_t avail = c.in_end - c.in_begin;
      const void* nl = std::memchr(p, '\n', avail);
      if (!nl) return;
      const size_t line = static_cast<size_t>(static_cast<const char*>(nl) - p) + 1;  // with \r\n
      if (line < 2 || p[line - 2] != '\r') die("malformed reply from the server");
      const std::string_view head(p, line - 2);
      size_t used = line;
      Status st = Status::OK;
      if (cfg_.proto == Config::Proto::RESP) {
        if (head.empty()) die("empty RESP reply line");
        if (head[0] == '$') {
          const long len = std::strtol(std::string(head.substr(1)).c_str(), nullptr, 10);
          if (len < 0) {
            st = Status::EMPTY;
          } else {
            if (avail < line + static_cast<size_t>(len) + 2) return;  // the bulk is not all in
            used = line + static_cast<size_t>(len) + 2;
          }
        } else if (head[0] == '_') {
          st = Status::EMPTY;
        } else if (head[0] == '-') {
          st = Status::INTERNAL;
        } else if (head[0] != ':' && head[0] != '+') {
          die("unexpected RESP reply '" + std::string(head.substr(0, 32)) + "'");
        }
      } else if (head.rfind("INSERTED ", 0) != 0) {
        st = Status::INTERNAL;
      }
      if (st == Status::INTERNAL && result_.errors.empty())
        result_.first_error = std::string(head.substr(0, 120));
      c.in_begin += used;
      count_reply(c, st, t);
    }
  }

  void count_reply(Conn& c, Status st, uint64_t t) {
    if (c.outstanding == 0) die("a reply with no request outstanding");
    if (st == Status::OK)
      result_.items += 1;
    else if (st == Status::EMPTY)
      ++result_.empty;
    else
      ++result_.errors[st];
    result_.latency_ns.push_back(t - c.batch_start);
    ++result_.finished;
    if (--c.outstanding == 0) issue(c);
  }

  void on_reply(Conn& c, const proto::Decoded& d, uint64_t t) {
    if (d.header.kind != proto::FrameKind::REPLY) return;  // PUSH frames: none expected
    if (d.header.id < c.batch_first || d.header.id >= c.next_id || c.outstanding == 0)
      die("reply with unexpected id " + std::to_string(d.header.id));
    const auto st = static_cast<Status>(d.header.code);
    if (st == Status::OK) {
      if (!test_.counts_items) {
        result_.items += 1;
      } else if (test_.op == proto::Op::QUEUE_PUT_MANY) {
        result_.items += depot::req::parse_queue_put_many(d.body);
      } else if (test_.op == proto::Op::QUEUE_GET_MANY) {
        result_.items += depot::req::parse_queue_get_many(d.body).size();
      }
    } else if (st == Status::EMPTY) {
      ++result_.empty;
    } else {
      if (result_.errors.empty())
        result_.first_error =
            std::string(depot::status_name(st)) + ": " + std::string(proto::error_message(d.body));
      ++result_.errors[st];
    }
    result_.latency_ns.push_back(t - c.batch_start);
    ++result_.finished;
    if (--c.outstanding == 0) issue(c);
  }

  const Config& cfg_;
  const Test& test_;
  std::string frame_;  // one request; its id is patched per copy
  std::vector<std::unique_ptr<Conn>> conns_;
  int ep_ = -1;
  uint64_t issued_ = 0;
  Result result_;
};

// ------------------------------------------------------------------ reporting

struct Summary {
  double rps, avg, min, p50, p95, p99, max;  // latencies in ms
};

Summary summarize(Result& r) {
  auto& v = r.latency_ns;
  std::sort(v.begin(), v.end());
  auto pct = [&v](double p) {
    if (v.empty()) return 0.0;
    size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
    rank = std::clamp<size_t>(rank, 1, v.size());
    return static_cast<double>(v[rank - 1]) / 1e6;
  };
  double sum = 0;
  for (uint64_t x : v) sum += static_cast<double>(x);
  Summary s{};
  s.rps = r.seconds > 0 ? static_cast<double>(r.finished) / r.seconds : 0;
  s.avg = v.empty() ? 0 : sum / static_cast<double>(v.size()) / 1e6;
  s.min = pct(0);
  s.p50 = pct(50);
  s.p95 = pct(95);
  s.p99 = pct(99);
  s.max = pct(100);
  return s;
}

void report(const Config& cfg, const Test& t, Result& r) {
  const Summary s = summarize(r);
  if (cfg.csv) {
    std::printf("\"%s\",\"%.2f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\"\n",
                t.title.c_str(), s.rps, s.avg, s.min, s.p50, s.p95, s.p99, s.max);
  } else if (cfg.quiet) {
    std::printf("%s: %.2f requests per second, p50=%.3f msec", t.title.c_str(), s.rps, s.p50);
    if (t.counts_items)
      std::printf(", %.2f items per second", static_cast<double>(r.items) / r.seconds);
    std::printf("\n");
  } else {
    std::printf("====== %s ======\n", t.title.c_str());
    std::printf("  %llu requests completed in %.2f seconds\n",
                static_cast<unsigned long long>(r.finished), r.seconds);
    std::printf("  %d parallel clients\n", cfg.clients);
    std::printf("  %zu bytes payload\n", cfg.datasize);
    std::printf("  pipeline: %u\n", cfg.pipeline);
    if (t.counts_items)
      std::printf("  %u items per request, %llu items moved: %.2f items per second\n", t.items,
                  static_cast<unsigned long long>(r.items),
                  static_cast<double>(r.items) / r.seconds);
    std::printf("\nSummary:\n");
    std::printf("  throughput summary: %.2f requests per second\n", s.rps);
    std::printf("  latency summary (msec):\n");
    std::printf("    %9s %9s %9s %9s %9s %9s\n", "avg", "min", "p50", "p95", "p99", "max");
    std::printf("    %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n\n", s.avg, s.min, s.p50, s.p95, s.p99,
                s.max);
  }
  // Misses and errors go to stderr so that --csv output stays machine-readable.
  if (r.empty > 0)
    std::fprintf(stderr, "depot-benchmark: %s: %llu of %llu replies were EMPTY (run put first)\n",
                 t.title.c_str(), static_cast<unsigned long long>(r.empty),
                 static_cast<unsigned long long>(r.finished));
  for (auto& [st, n] : r.errors)
    std::fprintf(stderr, "depot-benchmark: %s: %llu replies with status %s\n", t.title.c_str(),
                 static_cast<unsigned long long>(n), std::string(depot::status_name(st)).c_str());
  if (!r.first_error.empty())
    std::fprintf(stderr, "depot-benchmark: %s: first error: %s\n", t.title.c_str(),
                 r.first_error.c_str());
  std::fflush(stdout);
}

uint64_t parse_num(const std::string& flag, const std::string& text, uint64_t min) {
  const char* v = text.c_str();
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (errno || end == v || *end != '\0' || n < min || text[0] == '-')
    usage_error(flag + " needs a whole number >= " + std::to_string(min) + ", got '" + v + "'");
  return n;
}

Config parse_args(int argc, char** argv) {
  Config cfg;
  bool key_given = false;  // -a: Redis gets AUTH only when asked, never the depot key's variable
  if (const char* env = std::getenv("DEPOT_AUTHKEY")) cfg.authkey = env;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::optional<std::string> inline_value;  // --name=VALUE
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = a.substr(eq + 1);
      a.resize(eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *std::exchange(inline_value, std::nullopt);
      if (i + 1 >= argc) usage_error(a + " needs a value (see --help)");
      return argv[++i];
    };
    if (a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--version") {
      std::printf("depot-benchmark %s\n", depot::version());
      std::exit(0);
    } else if (a == "-h") {
      cfg.host = value();
      if (cfg.host.rfind("tls://", 0) == 0) {  // as the clients' addresses: tls:// means --tls
        cfg.host.erase(0, 6);
        cfg.tls = true;
      }
    } else if (a == "-p") {
      cfg.port = static_cast<int>(parse_num(a, value(), 1));
    } else if (a == "-a") {
      cfg.authkey = value();
      key_given = true;
    } else if (a == "--tls") {
      cfg.tls = true;
    } else if (a == "--cacert" || a == "--tls-ca") {
      cfg.cacert = value();
    } else if (a == "--cert" || a == "--tls-cert") {
      cfg.cert = value();
    } else if (a == "--key" || a == "--tls-key") {
      cfg.key = value();
    } else if (a == "--sni") {
      cfg.sni = value();
    } else if (a == "-c") {
      cfg.clients = static_cast<int>(parse_num(a, value(), 1));
    } else if (a == "-n") {
      cfg.requests = parse_num(a, value(), 1);
    } else if (a == "-d") {
      cfg.datasize = parse_num(a, value(), 0);
    } else if (a == "-P") {
      cfg.pipeline = static_cast<uint32_t>(parse_num(a, value(), 1));
    } else if (a == "-t") {
      cfg.tests.clear();
      std::string list = value();
      size_t pos = 0;
      while (pos <= list.size()) {
        size_t comma = list.find(',', pos);
        if (comma == std::string::npos) comma = list.size();
        std::string name = list.substr(pos, comma - pos);
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (!name.empty()) cfg.tests.push_back(name);
        pos = comma + 1;
      }
    } else if (a == "-q") {
      cfg.quiet = true;
    } else if (a == "--csv") {
      cfg.csv = true;
    } else if (a == "--batch") {
      cfg.batch = static_cast<uint32_t>(parse_num(a, value(), 1));
    } else if (a == "--queue") {
      cfg.queue = value();
    } else if (a == "--timeout") {
      cfg.timeout_s = static_cast<int>(parse_num(a, value(), 1));
    } else if (a == "--proto") {
      const std::string p = value();
      if (p == "depot")
        cfg.proto = Config::Proto::DEPOT;
      else if (p == "raw")
        cfg.proto = Config::Proto::RAW;
      else if (p == "resp")
        cfg.proto = Config::Proto::RESP;
      else if (p == "beanstalk")
        cfg.proto = Config::Proto::BEANSTALK;
      else
        usage_error("--proto takes depot, resp or beanstalk");
    } else {
      usage_error("unrecognized option or bad number of args for: '" + a + "' (see --help)");
    }
    if (inline_value) usage_error(a + " takes no value (see --help)");
  }
  if (cfg.proto == Config::Proto::RAW && cfg.tests != std::vector<std::string>{"ping"})
    usage_error("with --proto raw the only test is ping (echo-floor answers every frame alike)");
  if (cfg.proto != Config::Proto::DEPOT && !key_given) cfg.authkey.clear();
  if (cfg.tls && cfg.proto != Config::Proto::DEPOT && cfg.proto != Config::Proto::RESP)
    usage_error("--tls works with --proto depot and resp");
  if (!cfg.tls && (!cfg.cacert.empty() || !cfg.cert.empty()))
    usage_error("--cacert and --cert need --tls");
  if (cfg.authkey.empty() && cfg.proto == Config::Proto::DEPOT)
    usage_error("no authkey: pass -a KEY or set DEPOT_AUTHKEY");
  if (auto err = proto::check_name(cfg.queue); !err.empty()) usage_error("--queue: " + err);
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse_args(argc, argv);
  std::vector<Test> tests;
  for (const auto& name : cfg.tests) tests.push_back(make_test(name, cfg));
  if (cfg.csv)
    std::printf(
        "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\","
        "\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n");
  for (const Test& t : tests) {
    Runner runner(cfg, t);
    Result r = runner.run();
    report(cfg, t, r);
  }
  return 0;
}
