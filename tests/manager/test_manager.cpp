// The manager over loopback, below the client library: raw frames, the handshake, bad input.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::RawConn;
using test::TestManager;

namespace {

std::string body_get(std::string_view name, int64_t timeout) {
  std::string out;
  char b[8];
  proto::store_u32(b, static_cast<uint32_t>(name.size()));
  out.append(b, 4);
  out.append(name);
  proto::store_u64(b, static_cast<uint64_t>(timeout));
  out.append(b, 8);
  return out;
}

// QUEUE_PUT's body is QUEUE_GET's (name, timeout) followed by the item.
std::string body_put(std::string_view name, std::string_view item, int64_t timeout = 0) {
  std::string out = body_get(name, timeout);
  char b[4];
  proto::store_u32(b, static_cast<uint32_t>(item.size()));
  out.append(b, 4);
  out.append(item);
  return out;
}

std::string reply_item(const std::string& body) {
  proto::Reader r(body);
  return std::string(r.str());
}

// The state LIST shows for object `name` (u32 count, count x (str name, str type, u64 size,
// str state)), or nullopt when it lists no such object.
std::optional<std::string> listed_state(const std::string& list_body, std::string_view name) {
  proto::Reader r(list_body);
  const uint32_t n = r.u32();
  for (uint32_t i = 0; i < n; ++i) {
    const auto object = r.str();
    r.str();  // type
    r.u64();  // size
    const auto state = r.str();
    if (object == name) return std::string(state);
  }
  return std::nullopt;
}

// Whether LIST shows queue `name` with exactly `n` parked getters.
bool listed_getters(const std::string& list_body, std::string_view name, uint64_t n) {
  auto state = listed_state(list_body, name);
  return state && test::state_has(*state, "getters", n);
}

uint16_t port_of(const TestManager& m) {
  return m.manager->port();
}

}  // namespace

SCENARIO("the handshake admits the right key only", "[net][auth]") {
  TestManager m("s3cret");
  GIVEN("a client with the right key") {
    RawConn c(port_of(m));
    auto h = c.handshake("s3cret");
    THEN("it gets AUTH_OK with a valid manager proof and can make requests") {
      REQUIRE(h.kind == proto::FrameKind::AUTH_OK);
      auto [st, body] = c.call(proto::Op::PING, "hi");
      REQUIRE(st == Status::OK);
      REQUIRE(body == "hi");
    }
  }
  GIVEN("a client with a wrong key") {
    RawConn c(port_of(m));
    auto h = c.handshake("wrong");
    THEN("it gets AUTH_FAILED with a message and the connection is closed") {
      REQUIRE(h.kind == proto::FrameKind::REPLY);
      REQUIRE(static_cast<Status>(h.code) == Status::AUTH_FAILED);
      REQUIRE(c.closed_by_peer());
    }
    AND_THEN("the manager keeps serving others") {
      RawConn ok(port_of(m));
      REQUIRE(ok.handshake("s3cret").kind == proto::FrameKind::AUTH_OK);
    }
  }
  GIVEN("a client with an empty key") {
    RawConn c(port_of(m));
    auto h = c.handshake("");
    THEN("it is refused") {
      REQUIRE(static_cast<Status>(h.code) == Status::AUTH_FAILED);
      REQUIRE(c.closed_by_peer());
    }
  }
  GIVEN("a manager configured with an empty key") {
    depot::ManagerOptions o;
    o.address = "127.0.0.1:0";
    Manager bad(o);
    THEN("it refuses to start, saying how to give a key") {
      REQUIRE_THROWS_WITH(bad.start(), Catch::Contains("authkey"));
    }
  }
}

SCENARIO("nothing but the handshake is accepted before it succeeds", "[net][auth]") {
  TestManager m;
  GIVEN("a client that sends a request right after HELLO") {
    RawConn c(port_of(m));
    c.read_hello();
    std::string f;
    proto::append_frame(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::QUEUE_PUT), 5,
                        body_put("tasks", "sneaky"));
    c.send(f);
    THEN("it gets AUTH_FAILED, is closed, and nothing was put") {
      proto::Header h;
      std::string body;
      REQUIRE(c.read(h, body));
      REQUIRE(static_cast<Status>(h.code) == Status::AUTH_FAILED);
      REQUIRE(h.id == 5);
      REQUIRE(c.closed_by_peer());
      RawConn ok(port_of(m));
      ok.handshake(m.authkey);
      auto [st, b] = ok.call(proto::Op::QUEUE_SIZE, std::string("\x05\0\0\0tasks", 9));
      REQUIRE(st == Status::OK);
      REQUIRE(proto::load_u64(b.data()) == 0);
    }
  }
}

SCENARIO("an answer recorded from one connection is useless on another", "[net][auth]") {
  TestManager m("key");
  GIVEN("a valid AUTH frame captured from a successful handshake") {
    std::string auth_frame;
    {
      RawConn first(port_of(m));
      REQUIRE(first.handshake("key", nullptr, &auth_frame).kind == proto::FrameKind::AUTH_OK);
    }
    WHEN("it is replayed on a new connection (which has a fresh nonce)") {
      RawConn c(port_of(m));
      c.read_hello();
      c.send(auth_frame);
      THEN("the manager refuses it") {
        proto::Header h;
        std::string body;
        REQUIRE(c.read(h, body));
        REQUIRE(static_cast<Status>(h.code) == Status::AUTH_FAILED);
        REQUIRE(c.closed_by_peer());
      }
    }
  }
}

SCENARIO("a peer that does not finish the handshake is closed at the deadline", "[net][auth]") {
  TestManager m("k", [](ManagerOptions& o) { o.handshake_timeout = 200ms; });
  GIVEN("a silent connection and a trickling one") {
    RawConn silent(port_of(m));
    RawConn trickle(port_of(m));
    trickle.read_hello();
    trickle.send(std::string("\x10\0\0", 3));  // part of a header, never completed
    THEN("both are closed by the manager") {
      REQUIRE(silent.closed_by_peer(5s));
      REQUIRE(trickle.closed_by_peer(5s));
    }
  }
}

SCENARIO("before authenticating, a peer cannot announce a large frame", "[net][auth]") {
  TestManager m;
  RawConn c(port_of(m));
  c.read_hello();
  std::string header;
  proto::append_header(header, proto::FrameKind::AUTH, 0, 1, 50u << 20);  // claims 50 MiB
  c.send(header);
  proto::Header h;
  std::string body;
  REQUIRE(c.read(h, body));
  REQUIRE(static_cast<Status>(h.code) == Status::TOO_LARGE);
  REQUIRE(proto::error_message(body).find("before authenticating") != std::string::npos);
  REQUIRE(c.closed_by_peer());
}

SCENARIO("an oversized frame is answered TOO_LARGE and the stream stays in sync", "[net]") {
  TestManager m("k", [](ManagerOptions& o) { o.max_frame = 1024; });
  RawConn c(port_of(m));
  c.handshake("k");
  GIVEN("a 4 KiB put followed by a ping in the same write") {
    std::string f;
    proto::append_frame(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::QUEUE_PUT), 1,
                        body_put("q", std::string(4096, 'z')));
    proto::append_frame(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::PING), 2,
                        "still here");
    c.send(f);
    THEN("the put gets TOO_LARGE naming the limit and the ping is answered") {
      proto::Header h;
      std::string body;
      REQUIRE(c.read(h, body));
      REQUIRE(h.id == 1);
      REQUIRE(static_cast<Status>(h.code) == Status::TOO_LARGE);
      REQUIRE(proto::error_message(body).find("1024") != std::string::npos);
      REQUIRE(c.read(h, body));
      REQUIRE(h.id == 2);
      REQUIRE(static_cast<Status>(h.code) == Status::OK);
      REQUIRE(body == "still here");
    }
  }
}

SCENARIO("after the handshake a frame's kind is checked before its size", "[net]") {
  TestManager m("k", [](ManagerOptions& o) { o.max_frame = 1024; });
  GIVEN("a REQUEST announcing 4 KiB, above --max-frame, then a ping") {
    RawConn c(port_of(m));
    REQUIRE(c.handshake("k").kind == proto::FrameKind::AUTH_OK);
    std::string f;
    proto::append_header(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::QUEUE_PUT),
                         31, 4096);
    f += std::string(4096, 'z');
    proto::append_frame(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::PING), 32,
                        "after");
    c.send(f);
    THEN("it gets TOO_LARGE, its body is skipped, and the connection stays usable") {
      proto::Header h;
      std::string body;
      REQUIRE(c.read(h, body));
      REQUIRE(h.kind == proto::FrameKind::REPLY);
      REQUIRE(h.id == 31);
      REQUIRE(static_cast<Status>(h.code) == Status::TOO_LARGE);
      REQUIRE(c.read(h, body));
      REQUIRE(h.id == 32);
      REQUIRE(static_cast<Status>(h.code) == Status::OK);
      REQUIRE(body == "after");
      auto [st, b] = c.call(proto::Op::PING, "still open", 33);
      REQUIRE(st == Status::OK);
      REQUIRE(b == "still open");
    }
  }
  GIVEN("a header of each other kind announcing 4 KiB, above --max-frame") {
    THEN("each gets BAD_REQUEST with its id, not TOO_LARGE, and its connection is closed") {
      for (auto kind : {proto::FrameKind::HELLO, proto::FrameKind::AUTH, proto::FrameKind::AUTH_OK,
                        proto::FrameKind::REPLY, proto::FrameKind::PUSH}) {
        INFO("frame kind " << static_cast<int>(kind));
        RawConn c(port_of(m));
        REQUIRE(c.handshake("k").kind == proto::FrameKind::AUTH_OK);
        std::string header;
        proto::append_header(header, kind, 0, 41, 4096);
        c.send(header);  // the body never comes: the header alone is answered
        proto::Header h;
        std::string body;
        REQUIRE(c.read(h, body));
        REQUIRE(h.kind == proto::FrameKind::REPLY);
        REQUIRE(h.id == 41);
        REQUIRE(static_cast<Status>(h.code) == Status::BAD_REQUEST);
        REQUIRE(proto::error_message(body).find("REQUEST frames only") != std::string::npos);
        REQUIRE(c.closed_by_peer());
      }
    }
  }
  GIVEN("a complete REPLY frame within the limit") {
    RawConn c(port_of(m));
    REQUIRE(c.handshake("k").kind == proto::FrameKind::AUTH_OK);
    std::string f;
    proto::append_frame(f, proto::FrameKind::REPLY, 0, 51, "oops");
    c.send(f);
    THEN("it gets BAD_REQUEST with its id and the connection is closed") {
      proto::Header h;
      std::string body;
      REQUIRE(c.read(h, body));
      REQUIRE(h.id == 51);
      REQUIRE(static_cast<Status>(h.code) == Status::BAD_REQUEST);
      REQUIRE(c.closed_by_peer());
    }
  }
  GIVEN("before authenticating, a REQUEST announcing more than 1024 bytes") {
    RawConn c(port_of(m));
    c.read_hello();
    std::string header;
    proto::append_header(header, proto::FrameKind::REQUEST,
                         static_cast<uint8_t>(proto::Op::QUEUE_PUT), 61, 4096);
    c.send(header);
    THEN("the handshake's size limit comes first: TOO_LARGE, then the connection is closed") {
      proto::Header h;
      std::string body;
      REQUIRE(c.read(h, body));
      REQUIRE(h.id == 61);
      REQUIRE(static_cast<Status>(h.code) == Status::TOO_LARGE);
      REQUIRE(c.closed_by_peer());
    }
  }
  THEN("other connections are served meanwhile") {
    RawConn ok(port_of(m));
    REQUIRE(ok.handshake("k").kind == proto::FrameKind::AUTH_OK);
    auto [st, body] = ok.call(proto::Op::PING, "fine");
    REQUIRE(st == Status::OK);
  }
}

SCENARIO("a barrier with more parties than --max-waiters fills and releases every party", "[net]") {
  TestManager m("k", [](ManagerOptions& o) { o.max_waiters = 2; });
  RawConn c(port_of(m));
  REQUIRE(c.handshake("k").kind == proto::FrameKind::AUTH_OK);
  auto barrier_wait = [](std::string_view name, uint32_t parties, int64_t timeout_ms) {
    std::string b;
    char n[8];
    proto::store_u32(n, static_cast<uint32_t>(name.size()));
    b.append(n, 4);
    b.append(name);
    proto::store_u32(n, parties);
    b.append(n, 4);
    proto::store_u64(n, static_cast<uint64_t>(timeout_ms));
    b.append(n, 8);
    return b;
  };
  WHEN("five parties of a 5-party barrier arrive, pipelined on one connection") {
    std::string f;
    for (uint64_t id = 1; id <= 5; ++id)
      proto::append_frame(f, proto::FrameKind::REQUEST,
                          static_cast<uint8_t>(proto::Op::BARRIER_WAIT), id,
                          barrier_wait("crowd", 5, 20000));
    c.send(f);
    THEN("all five get OK with their arrival index and none is left waiting") {
      std::map<uint64_t, uint32_t> index_of;
      for (int i = 0; i < 5; ++i) {
        proto::Header h;
        std::string body;
        REQUIRE(c.read(h, body));
        INFO("reply to id " << h.id << ": " << proto::error_message(body));
        REQUIRE(static_cast<Status>(h.code) == Status::OK);
        REQUIRE(body.size() == 4);
        index_of[h.id] = proto::load_u32(body.data());
      }
      REQUIRE(index_of == std::map<uint64_t, uint32_t>{{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 4}});
      auto [st, list] = c.call(proto::Op::LIST, "");
      REQUIRE(st == Status::OK);
      auto state = listed_state(list, "crowd");
      REQUIRE(state);
      REQUIRE(test::state_has(*state, "waiting", 0));
    }
  }
  WHEN("three gets park on one queue") {
    std::string f;
    for (uint64_t id = 1; id <= 3; ++id)
      proto::append_frame(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::QUEUE_GET),
                          id, body_get("limited", -1));
    c.send(f);
    THEN("the limit still holds for them: the third gets LIMIT") {
      proto::Header h;
      std::string body;
      REQUIRE(c.read(h, body));
      REQUIRE(h.id == 3);
      REQUIRE(static_cast<Status>(h.code) == Status::LIMIT);
      REQUIRE(proto::error_message(body).find("--max-waiters") != std::string::npos);
    }
  }
}

SCENARIO("bad requests get BAD_REQUEST and the connection stays usable", "[net]") {
  TestManager m;
  RawConn c(port_of(m));
  c.handshake(m.authkey);
  WHEN("an unknown opcode is sent") {
    auto [st, body] = c.call(static_cast<proto::Op>(0xEE), "");
    THEN("BAD_REQUEST names it") {
      REQUIRE(st == Status::BAD_REQUEST);
      REQUIRE(proto::error_message(body).find("unknown opcode 238") != std::string::npos);
    }
  }
  WHEN("a put body is truncated or has trailing bytes") {
    auto good = body_put("q", "v");
    auto [s1, b1] = c.call(proto::Op::QUEUE_PUT, good.substr(0, good.size() - 1));
    auto [s2, b2] = c.call(proto::Op::QUEUE_PUT, good + "x");
    THEN("both are BAD_REQUEST naming the layout, and nothing was put") {
      REQUIRE(s1 == Status::BAD_REQUEST);
      REQUIRE(s2 == Status::BAD_REQUEST);
      REQUIRE(proto::error_message(b1).find("QUEUE_PUT") != std::string::npos);
      auto [s3, b3] = c.call(proto::Op::QUEUE_GET, body_get("q", 0));
      REQUIRE(s3 == Status::EMPTY);
    }
  }
  WHEN("a put_many claims more items than it carries") {
    std::string b = body_get("q", 0);  // name + timeout
    b += std::string("\xff\xff\xff\x7f", 4);
    auto [st, body] = c.call(proto::Op::QUEUE_PUT_MANY, b);
    THEN("it is refused without reserving memory for them") {
      REQUIRE(st == Status::BAD_REQUEST);
    }
  }
  WHEN("a name is invalid") {
    auto [st, body] = c.call(proto::Op::QUEUE_PUT, body_put("", "v"));
    THEN("BAD_REQUEST says so") {
      REQUIRE(st == Status::BAD_REQUEST);
      REQUIRE(proto::error_message(body).find("name") != std::string::npos);
    }
  }
  THEN("the connection still works") {
    auto [st, body] = c.call(proto::Op::PING, "ok");
    REQUIRE(st == Status::OK);
  }
}

SCENARIO("the manager survives a client that sends random bytes", "[net]") {
  TestManager m;
  RawConn good(port_of(m));
  good.handshake(m.authkey);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    RawConn bad(port_of(m));
    std::string junk(1 + rng() % 2000, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    if (round % 2) bad.handshake(m.authkey);  // half of them after authenticating
    bad.send(junk);
    REQUIRE(bad.closed_by_peer(5s));
  }
  THEN("others are still served") {
    auto [st, body] = good.call(proto::Op::QUEUE_PUT, body_put("alive", "yes"));
    REQUIRE(st == Status::OK);
    auto [st2, body2] = good.call(proto::Op::QUEUE_GET, body_get("alive", 0));
    REQUIRE(st2 == Status::OK);
    REQUIRE(reply_item(body2) == "yes");
  }
}

SCENARIO("pipelined requests are answered in order with their ids", "[net]") {
  TestManager m;
  RawConn c(port_of(m));
  c.handshake(m.authkey);
  std::string f;
  for (uint64_t i = 1; i <= 100; ++i)
    proto::append_frame(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::QUEUE_PUT), i,
                        body_put("pipe", std::to_string(i)));
  for (uint64_t i = 101; i <= 200; ++i)
    proto::append_frame(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::QUEUE_GET), i,
                        body_get("pipe", 0));
  c.send(f);
  for (uint64_t i = 1; i <= 200; ++i) {
    proto::Header h;
    std::string body;
    REQUIRE(c.read(h, body));
    REQUIRE(h.id == i);
    REQUIRE(static_cast<Status>(h.code) == Status::OK);
    if (i > 100) REQUIRE(reply_item(body) == std::to_string(i - 100));
  }
}

SCENARIO("a parked get is woken by a put from another connection", "[net]") {
  TestManager m;
  RawConn waiter(port_of(m)), putter(port_of(m));
  waiter.handshake(m.authkey);
  putter.handshake(m.authkey);
  std::string f;
  proto::append_frame(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::QUEUE_GET), 11,
                      body_get("wake", -1));
  waiter.send(f);
  // Wait on state: the get is parked when LIST shows a getter.
  REQUIRE(test::eventually([&] {
    auto [st, body] = putter.call(proto::Op::LIST, "");
    return listed_getters(body, "wake", 1);
  }));
  auto [st, body] = putter.call(proto::Op::QUEUE_PUT, body_put("wake", "hello"));
  REQUIRE(st == Status::OK);
  proto::Header h;
  std::string rb;
  REQUIRE(waiter.read(h, rb));
  REQUIRE(h.id == 11);
  REQUIRE(reply_item(rb) == "hello");
}

SCENARIO("a timed get times out with TIMEOUT and leaves no trace", "[net]") {
  TestManager m;
  RawConn c(port_of(m));
  c.handshake(m.authkey);
  auto [st, body] = c.call(proto::Op::QUEUE_GET, body_get("never", 50));
  REQUIRE(st == Status::TIMEOUT);
  REQUIRE(proto::error_message(body).find("'never'") != std::string::npos);
  auto [ls, lb] = c.call(proto::Op::LIST, "");
  REQUIRE(ls == Status::OK);
  REQUIRE(listed_getters(lb, "never", 0));
}

SCENARIO("connections past --max-connections are refused with LIMIT", "[net]") {
  TestManager m("k", [](ManagerOptions& o) { o.max_connections = 2; });
  RawConn a(port_of(m)), b(port_of(m));
  a.handshake("k");
  b.handshake("k");
  RawConn c(port_of(m));
  proto::Header h;
  std::string body;
  REQUIRE(c.read(h, body));
  REQUIRE(h.kind == proto::FrameKind::REPLY);
  REQUIRE(static_cast<Status>(h.code) == Status::LIMIT);
  REQUIRE(proto::error_message(body).find("--max-connections") != std::string::npos);
  REQUIRE(c.closed_by_peer());
}

SCENARIO("a graceful stop answers parked requests with SHUTTING_DOWN", "[net]") {
  auto m = std::make_unique<TestManager>();
  RawConn c(m->manager->port());
  c.handshake(m->authkey);
  std::string f;
  proto::append_frame(f, proto::FrameKind::REQUEST, static_cast<uint8_t>(proto::Op::QUEUE_GET), 3,
                      body_get("w", -1));
  c.send(f);
  RawConn probe(m->manager->port());
  probe.handshake(m->authkey);
  REQUIRE(test::eventually([&] {
    auto [st, body] = probe.call(proto::Op::LIST, "");
    return listed_getters(body, "w", 1);
  }));
  m->manager->stop();
  proto::Header h;
  std::string body;
  REQUIRE(c.read(h, body));
  REQUIRE(h.id == 3);
  REQUIRE(static_cast<Status>(h.code) == Status::SHUTTING_DOWN);
  REQUIRE(c.closed_by_peer());
}

SCENARIO("STATS reports the manager's counters", "[net]") {
  TestManager m;
  RawConn c(port_of(m));
  c.handshake(m.authkey);
  auto [st, body] = c.call(proto::Op::STATS, "");
  REQUIRE(st == Status::OK);
  auto json = reply_item(body);
  REQUIRE(test::json_number(json, "connections") == 1);
  REQUIRE(test::json_number(json, "requests") == 1);
}

SCENARIO("the manager's sockets are not inherited by programs its process starts", "[net]") {
  TestManager m;
  RawConn c(m.manager->port());
  c.handshake(m.authkey);
  // Every descriptor of this process that is a socket bound to the manager's port, or
  // accepted on it, must be close-on-exec.
  int checked = 0;
  for (int fd = 3; fd < 1024; ++fd) {
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0 || sa.ss_family != AF_INET)
      continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port) != m.manager->port()) continue;
    if (fd == c.fd()) continue;  // the test's own client socket
    ++checked;
    REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  }
  REQUIRE(checked >= 2);  // the listener and the accepted session
}
