// The manager against hostile clients (docs/security.md, "Hardening / limits"): floods of
// silent connections, declared-but-unsent frame bodies, clients that never read, brute-force
// authentication, and client-chosen buffers. Memory is measured as the process's RSS (the
// manager runs in this process) with generous bounds; under the sanitizers the RSS bounds are
// not asserted (their allocator keeps freed memory in quarantine), the behaviour still is.
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>

#include "depot/client/admin_requests.h"
#include "depot/client/client.h"
#include "depot/client/coord_requests.h"
#include "depot/client/queue_requests.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::append_request;
using test::RawConn;
using test::TestManager;

namespace {

#ifdef DEPOT_SANITIZED
constexpr bool kMeasureRss = false;  // see the file's comment
#else
constexpr bool kMeasureRss = true;
#endif

// This process's resident set, in bytes (VmRSS of /proc/self/status).
size_t rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

double mib(size_t bytes) {
  return static_cast<double>(bytes) / (1 << 20);
}

uint16_t port_of(const TestManager& m) {
  return m.manager->port();
}

// A connection that connects and then says nothing, from `source`.
int silent_connect(uint16_t port, const char* source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in l{};
  l.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &l.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&l), sizeof l) != 0)
    throw std::runtime_error("bind failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error("connect failed");
  return fd;
}

struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (int fd : fds) ::close(fd);
  }
};

std::string stats(RawConn& c) {
  auto [st, body] = c.call(req::stats());
  if (st != Status::OK) throw std::runtime_error("STATS failed");
  return req::parse_stats(body);
}

long long stat_of(RawConn& c, const std::string& key) {
  return test::json_number(stats(c), key);
}

// Connects from `source` and authenticates with `key`: the kind and status of the answer
// (AUTH_OK, or the REPLY that refused), and its message.
struct Attempt {
  proto::FrameKind kind = proto::FrameKind::REPLY;
  Status status = Status::OK;
  std::string message;
};
Attempt authenticate(uint16_t port, const char* source, const std::string& key) {
  RawConn c(port, source);
  proto::Header h;
  std::string body;
  if (!c.read(h, body)) throw std::runtime_error("no first frame");
  Attempt a;
  if (h.kind == proto::FrameKind::REPLY) {  // refused before the handshake
    a.status = static_cast<Status>(h.code);
    a.message = std::string(proto::error_message(body));
    return a;
  }
  auth::ClientHandshake hs(key);
  std::string out;
  if (!hs.on_hello(h, body, out).ok()) throw std::runtime_error("bad HELLO");
  c.send(out);
  if (!c.read(h, body)) throw std::runtime_error("no handshake reply");
  a.kind = h.kind;
  a.status = h.kind == proto::FrameKind::AUTH_OK ? Status::OK : static_cast<Status>(h.code);
  if (h.kind == proto::FrameKind::REPLY) a.message = std::string(proto::error_message(body));
  return a;
}

void shrink_receive_buffer(int fd) {
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
}

}  // namespace

SCENARIO("a flood of silent connections does not keep authenticating clients out", "[hardening]") {
  TestManager m("k", [](ManagerOptions& o) {
    o.max_connections = 50;
    o.max_unauthenticated = 300;
    o.max_unauthenticated_per_address = 100;
    o.handshake_timeout = 60s;
  });
  // An attacker on eight addresses opens 3000 connections and sends nothing; between its
  // bursts real clients, one from an address of its own and one from the attacker's
  // address, connect and authenticate.
  const char* attacker[] = {"127.0.0.1", "127.0.0.3", "127.0.0.4", "127.0.0.5",
                            "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9"};
  Fds silent;
  int authenticated = 0;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 150; ++i)
      silent.fds.push_back(silent_connect(port_of(m), attacker[(round * 150 + i) % 8]));
    const Attempt other = authenticate(port_of(m), "127.0.0.2", "k");
    const Attempt same = authenticate(port_of(m), "127.0.0.1", "k");
    INFO("round " << round << ": " << other.message << same.message);
    REQUIRE(other.kind == proto::FrameKind::AUTH_OK);
    REQUIRE(same.kind == proto::FrameKind::AUTH_OK);
    authenticated += 2;
  }
  REQUIRE(authenticated == 40);
  RawConn probe(port_of(m), "127.0.0.2");
  REQUIRE(probe.handshake("k").kind == proto::FrameKind::AUTH_OK);
  const std::string s = stats(probe);
  INFO(s);
  CHECK(test::json_number(s, "unauthenticated") <= 300);
  CHECK(test::json_number(s, "handshakes_evicted") >= 3000 - 300);
}

SCENARIO("a connection that has not authenticated costs little memory", "[hardening][rss]") {
  TestManager m("k", [](ManagerOptions& o) {
    o.max_unauthenticated = 5000;
    o.max_unauthenticated_per_address = 5000;
    o.handshake_timeout = 120s;
  });
  RawConn probe(port_of(m));
  probe.handshake("k");
  constexpr int kSilent = 3000;
  Fds silent;
  silent.fds.reserve(kSilent);
  const size_t before = rss_bytes();
  for (int i = 0; i < kSilent; ++i) silent.fds.push_back(silent_connect(port_of(m), "127.0.0.1"));
  REQUIRE(test::eventually([&] { return stat_of(probe, "unauthenticated") == kSilent; }, 30s));
  const size_t after = rss_bytes();
  const double per = static_cast<double>(after > before ? after - before : 0) / kSilent;
  WARN("RSS " << mib(before) << " MiB before, " << mib(after) << " MiB with " << kSilent
              << " silent connections: " << per << " bytes each");
  if (kMeasureRss) CHECK(per < 8192);
  // And they still answer nothing but HELLO: the probe's session is unaffected.
  auto [st, body] = probe.call(req::ping("still here"));
  REQUIRE(st == Status::OK);
}

SCENARIO("a declared frame length is not an allocation", "[hardening][rss]") {
  TestManager m;  // --max-frame 64 MiB
  RawConn probe(port_of(m));
  probe.handshake(m.authkey);
  constexpr int kConns = 20;
  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<RawConn>(port_of(m)));
    conns.back()->handshake(m.authkey);
  }
  const size_t before = rss_bytes();
  // Each declares a body just under 64 MiB and sends 200 KiB of it.
  const uint32_t declared = (64u << 20) - 64;
  std::string part;
  proto::append_header(part, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::QUEUE_PUT),
                       1, declared);
  part += std::string(200 * 1024, 'x');
  for (auto& c : conns) c->send(part);
  // Every session has buffered what arrived: past its 64 KiB buffer by at least 100 KiB.
  REQUIRE(test::eventually(
      [&] { return stat_of(probe, "input_buffered_bytes") >= kConns * 100 * 1024; }));
  const size_t during = rss_bytes();
  WARN("RSS " << mib(before) << " MiB before, " << mib(during) << " MiB with " << kConns
              << " frames declaring " << declared << " bytes and sending 200 KiB each");
  if (kMeasureRss) CHECK(during < before + (64u << 20));  // was 20 x 64 MiB
  auto [st, body] = probe.call(req::ping("unaffected"));
  REQUIRE(st == Status::OK);
  conns.clear();
  REQUIRE(test::eventually([&] { return stat_of(probe, "input_buffered_bytes") == 0; }));
}

SCENARIO("past --max-input-buffered large frames take turns and none is lost", "[hardening]") {
  TestManager m("k", [](ManagerOptions& o) { o.max_input_buffered = 2u << 20; });
  constexpr int kConns = 4;
  const std::string item(3u << 20, 'i');  // each frame alone is past the cap
  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<RawConn>(port_of(m)));
    conns.back()->handshake("k");
  }
  std::vector<std::thread> senders;
  for (auto& c : conns)
    senders.emplace_back([&c, &item] {
      std::string f;
      append_request(f, 9, req::queue_put("big", 0, item));
      c->send(f);
    });
  for (auto& t : senders) t.join();
  for (auto& c : conns) {
    proto::Header h;
    std::string body;
    REQUIRE(c->read(h, body, 30s));
    REQUIRE(static_cast<Status>(h.code) == Status::OK);
  }
  RawConn probe(port_of(m));
  probe.handshake("k");
  auto [st, body] = probe.call(req::queue_size("big"));
  REQUIRE(st == Status::OK);
  REQUIRE(test::eventually([&] { return stat_of(probe, "input_buffered_bytes") == 0; }));
}

SCENARIO("a client that floods requests without reading its replies loses its lock",
         "[hardening]") {
  TestManager m("k", [](ManagerOptions& o) {
    o.session_lease = 300ms;
    o.max_output_buffered = 4u << 20;
  });
  RawConn hog(port_of(m));
  shrink_receive_buffer(hog.fd());
  hog.handshake("k");
  REQUIRE(hog.call(req::lock_acquire("L", false, 0, 0, 0)).first == Status::OK);
  REQUIRE(hog.call(req::var_set("big", std::string(256 * 1024, 'v'))).first == Status::OK);
  // It asks for the 256 KiB variable again and again and never reads an answer, and its
  // requests keep coming (so it is never silent).
  std::atomic<bool> stop{false};
  std::thread flood([&] {
    std::string f;
    append_request(f, 11, req::var_get("big", 0));
    while (!stop) {
      if (::send(hog.fd(), f.data(), f.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
          errno != EAGAIN && errno != EWOULDBLOCK)
        break;  // the manager closed the session
      std::this_thread::sleep_for(1ms);
    }
  });
  RawConn waiter(port_of(m));
  waiter.handshake("k");
  std::string f;
  append_request(f, 12, req::lock_acquire("L", false, 0, 20'000, 0));
  waiter.send(f);
  // The waiter heartbeats while it waits, as a client does: it keeps its own session.
  proto::Header h;
  std::string body;
  std::string beat;
  append_request(beat, 13, req::heartbeat());
  bool answered = false;
  const auto end = std::chrono::steady_clock::now() + 25s;
  while (!answered && std::chrono::steady_clock::now() < end) {
    waiter.send(beat);
    answered = waiter.read(h, body, 50ms);
  }
  stop = true;
  flood.join();
  REQUIRE(answered);
  INFO(proto::error_message(body));
  REQUIRE(static_cast<Status>(h.code) == Status::OK);  // the hog's session ended: its lock passed
  REQUIRE(stat_of(waiter, "output_buffered_bytes") < (8u << 20));
}

SCENARIO("a subscriber that falls behind but heartbeats keeps its session", "[hardening]") {
  TestManager m("k", [](ManagerOptions& o) { o.session_lease = 300ms; });
  RawConn sub(port_of(m));
  shrink_receive_buffer(sub.fd());
  sub.handshake("k");
  REQUIRE(sub.call(req::subscribe("news", 64, Overflow::DropOldest)).first == Status::OK);
  RawConn pub(port_of(m));
  pub.handshake("k");
  std::string beat;
  append_request(beat, 1, req::heartbeat());
  const std::string payload(16 * 1024, 'n');
  // Four leases of publishing that fills the subscriber's socket, which only heartbeats.
  const auto end = std::chrono::steady_clock::now() + 4 * 300ms;
  while (std::chrono::steady_clock::now() < end) {
    sub.send(beat);
    REQUIRE(pub.call(req::publish("news", payload)).first == Status::OK);
  }
  REQUIRE(stat_of(pub, "subscriptions") == 1);  // dropped messages, not the session
  proto::Header h;
  std::string body;
  REQUIRE(sub.read(h, body));
  CHECK(h.kind == proto::FrameKind::PUSH);
}

SCENARIO("failed authentications are limited per peer address", "[hardening]") {
  TestManager m("the-right-key-0123456789", [](ManagerOptions& o) {
    o.auth_failure_burst = 5;
    o.auth_failure_refill = 60s;
  });
  int failed = 0, refused = 0;
  std::string refusal;
  for (int i = 0; i < 30; ++i) {
    const Attempt a =
        authenticate(port_of(m), "127.0.0.1", "a-wrong-key-guess-" + std::to_string(i));
    if (a.status == Status::AUTH_FAILED) ++failed;
    if (a.status == Status::LIMIT) {
      ++refused;
      refusal = a.message;
    }
  }
  THEN("the address gets its allowance of failures, then LIMIT without a handshake") {
    CHECK(failed == 5);
    CHECK(refused == 25);
    CHECK(refusal.find("127.0.0.1") != std::string::npos);
    CHECK(refusal.find("--auth-failure-burst") != std::string::npos);
    // The right key does not help the address either, for now.
    CHECK(authenticate(port_of(m), "127.0.0.1", "the-right-key-0123456789").status ==
          Status::LIMIT);
  }
  THEN("another address is not affected") {
    const Attempt a = authenticate(port_of(m), "127.0.0.2", "the-right-key-0123456789");
    CHECK(a.kind == proto::FrameKind::AUTH_OK);
    RawConn c(port_of(m), "127.0.0.2");
    c.handshake("the-right-key-0123456789");
    CHECK(stat_of(c, "auth_refused") >= 25);
  }
}

SCENARIO("the manager logs failed authentications with the peer, never the key",
         "[hardening][process]") {
  const std::string key = "secret-key-never-logged-42";
  test::Process p({test::bin("depot-manager"), "--address", "127.0.0.1:0", "--authkey", key,
                   "--log-level", "warn", "--auth-failure-burst", "3"});
  uint16_t port = 0;
  REQUIRE(test::eventually([&] {
    const std::string out = p.out();
    const size_t at = out.find("listening on 127.0.0.1:");
    if (at == std::string::npos || out.find("ready") == std::string::npos) return false;
    port = static_cast<uint16_t>(std::stoi(out.substr(at + 23)));
    return true;
  }));
  for (int i = 0; i < 5; ++i) authenticate(port, "127.0.0.1", "wrong-guess-" + std::to_string(i));
  REQUIRE(test::eventually(
      [&] { return p.err().find("authentication failed from 127.0.0.1") != std::string::npos; }));
  p.kill(SIGTERM);
  p.wait();
  const std::string err = p.err();
  INFO(err);
  CHECK(err.find(key) == std::string::npos);
  CHECK(err.find("wrong-guess") == std::string::npos);
}

SCENARIO("depot-manager refuses a weak authkey off loopback", "[hardening][process]") {
  WHEN("it is given a 3-byte key on every interface") {
    test::Process p({test::bin("depot-manager"), "--address", "0.0.0.0:0", "--authkey", "abc"});
    THEN("it exits with 2 and says why and what to do") {
      REQUIRE(p.wait() == 2);
      CHECK(p.err().find("shorter than the 16 bytes") != std::string::npos);
      CHECK(p.err().find("--allow-weak-key") != std::string::npos);
    }
  }
  WHEN("it is given the same key with --allow-weak-key, or on loopback") {
    for (std::vector<std::string> extra :
         {std::vector<std::string>{"--address", "0.0.0.0:0", "--allow-weak-key"},
          std::vector<std::string>{"--address", "127.0.0.1:0"}}) {
      std::vector<std::string> argv{test::bin("depot-manager"), "--authkey", "abc"};
      argv.insert(argv.end(), extra.begin(), extra.end());
      test::Process p(argv);
      REQUIRE(test::eventually([&] { return p.out().find("ready") != std::string::npos; }));
      p.kill(SIGTERM);
      CHECK(p.wait() == 0);
    }
  }
}

SCENARIO("a subscriber that never reads holds at most --max-subscription-bytes",
         "[hardening][rss]") {
  TestManager m("k", [](ManagerOptions& o) { o.max_subscription_bytes = 4u << 20; });
  RawConn probe(port_of(m));
  probe.handshake("k");
  RawConn pub(port_of(m));
  pub.handshake("k");
  auto sub = std::make_unique<RawConn>(port_of(m));
  shrink_receive_buffer(sub->fd());
  sub->handshake("k");
  // It asks for a million messages of buffer and reads nothing after the reply.
  REQUIRE(sub->call(req::subscribe("fire", 1'000'000, Overflow::DropOldest)).first == Status::OK);
  const size_t before = rss_bytes();
  const std::string payload(64 * 1024, 'p');
  constexpr int kMessages = 1000;  // 64 MiB published
  for (int batch = 0; batch < kMessages / 50; ++batch) {
    std::string f;
    for (int i = 0; i < 50; ++i) append_request(f, 100 + i, req::publish("fire", payload));
    pub.send(f);
    for (int i = 0; i < 50; ++i) {
      proto::Header h;
      std::string body;
      REQUIRE(pub.read(h, body));
      REQUIRE(static_cast<Status>(h.code) == Status::OK);
    }
  }
  const long long buffered = stat_of(probe, "pubsub_buffered_bytes");
  const size_t during = rss_bytes();
  CHECK(buffered <= (4 << 20));
  CHECK(buffered > 0);
  sub.reset();  // the subscriber leaves
  REQUIRE(test::eventually([&] { return stat_of(probe, "subscriptions") == 0; }));
  size_t after = rss_bytes();
  if (kMeasureRss)  // malloc_trim runs a moment after the memory was freed
    test::eventually([&] { return (after = rss_bytes()) < before + (2u << 20); }, 3s);
  WARN("RSS " << mib(before) << " MiB before, " << mib(during) << " MiB with " << buffered
              << " bytes buffered for a subscriber that asked for 1000000 messages, " << mib(after)
              << " MiB after it left");
  if (kMeasureRss) {
    CHECK(during < before + (40u << 20));  // 64 MiB published, 4 MiB cap
    CHECK(after < before + (16u << 20));
  }
}

SCENARIO("messages buffered for a subscriber count against its user's max-queue-bytes",
         "[hardening][acl]") {
  // A user that asks for a huge buffer and never reads holds at most its own limit, and what
  // it holds there leaves less room for its puts: one budget for everything it makes the
  // manager keep. The subscriber is the user `default` (a raw version-2 handshake).
  const std::string acl = "/tmp/depot-hardening-acl-" + std::to_string(::getpid()) + ".conf";
  {
    std::ofstream f(acl);
    f << "user default\n  key k\n  allow all *\n  max-queue-bytes 1M\n"
         "user pub\n  key k\n  allow all *\n";
  }
  TestManager m("", [&](ManagerOptions& o) {
    o.authkey.clear();
    o.acl_file = acl;
  });
  ::unlink(acl.c_str());
  ClientOptions po;
  po.user = "pub";
  Client pub(m.address, "k", po);
  Client mine(m.address, "k");  // the user default, like the subscriber
  RawConn probe(port_of(m));
  probe.handshake("k");
  auto sub = std::make_unique<RawConn>(port_of(m));
  shrink_receive_buffer(sub->fd());
  sub->handshake("k");
  REQUIRE(sub->call(req::subscribe("fire", 1'000'000, Overflow::DropOldest)).first == Status::OK);
  const std::string payload(64 * 1024, 'p');
  for (int batch = 0; batch < 8; ++batch) {  // 16 MiB published
    std::vector<Request> rs(32, req::publish("fire", payload));
    for (const Reply& r : pub.call_many(rs)) REQUIRE(r.status == Status::OK);
  }
  const long long buffered = stat_of(probe, "pubsub_buffered_bytes");
  THEN("the subscription holds no more than the user's limit, the oldest messages dropped") {
    CHECK(buffered <= (1 << 20));
    CHECK(buffered > (1 << 20) / 2);
  }
  THEN("the user's puts find its budget taken, until the subscriber leaves") {
    const std::string item(256 * 1024, 'i');
    CHECK_THROWS_AS(mine.request(req::queue_put("q", 0, item)), LimitError);
    CHECK(pub.call(req::queue_put("q", 0, item)).status == Status::OK);  // another user's own
    sub.reset();
    REQUIRE(test::eventually(
        [&] { return mine.call(req::queue_put("q", 0, item)).status == Status::OK; }));
  }
}
