// The manager over loopback, below the client library: raw frames, the handshake, bad input.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "depot/client/admin_requests.h"
#include "depot/client/coord_requests.h"
#include "depot/client/queue_requests.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::append_request;
using test::RawConn;
using test::TestManager;

namespace {

// Requests are the client codec's (client/*_requests.h), framed and sent raw; the tests
// that need bytes no encoder makes (truncated, padded, lying counts, junk) say so.

// The state LIST shows for object `name`, or nullopt when it lists no such object.
std::optional<std::string> listed_state(const std::string& list_body, std::string_view name) {
  for (const auto& o : req::parse_list(list_body))
    if (o.name == name) return o.state;
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
      auto [st, body] = c.call(req::ping("hi"));
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
    append_request(f, 5, req::queue_put("tasks", proto::kNoWait, "sneaky"));
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
      auto [st, b] = ok.call(req::queue_size("tasks"));
      REQUIRE(st == Status::OK);
      const QueueSize size = req::parse_queue_size(b);
      REQUIRE(size.size == 0);
      REQUIRE_FALSE(size.exists);  // the put did not even create the queue
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
    append_request(f, 1, req::queue_put("q", proto::kNoWait, std::string(4096, 'z')));
    append_request(f, 2, req::ping("still here"));
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
    f += std::string(4096, 'z');  // deliberately junk: the manager skips it unread
    append_request(f, 32, req::ping("after"));
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
      auto [st, b] = c.call(req::ping("still open"), 33);
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
    auto [st, body] = ok.call(req::ping("fine"));
    REQUIRE(st == Status::OK);
  }
}

SCENARIO("a barrier with more parties than --max-waiters fills and releases every party", "[net]") {
  TestManager m("k", [](ManagerOptions& o) { o.max_waiters = 2; });
  RawConn c(port_of(m));
  REQUIRE(c.handshake("k").kind == proto::FrameKind::AUTH_OK);
  WHEN("five parties of a 5-party barrier arrive, pipelined on one connection") {
    std::string f;
    for (uint64_t id = 1; id <= 5; ++id)
      append_request(f, id, req::barrier_wait("crowd", 5, 20000));
    c.send(f);
    THEN("all five get OK with their arrival index and none is left waiting") {
      std::map<uint64_t, uint32_t> index_of;
      for (int i = 0; i < 5; ++i) {
        proto::Header h;
        std::string body;
        REQUIRE(c.read(h, body));
        INFO("reply to id " << h.id << ": " << proto::error_message(body));
        REQUIRE(static_cast<Status>(h.code) == Status::OK);
        index_of[h.id] = req::parse_barrier_wait(body);
      }
      REQUIRE(index_of == std::map<uint64_t, uint32_t>{{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 4}});
      auto [st, list] = c.call(req::list());
      REQUIRE(st == Status::OK);
      auto state = listed_state(list, "crowd");
      REQUIRE(state);
      REQUIRE(test::state_has(*state, "waiting", 0));
    }
  }
  WHEN("three gets park on one queue") {
    std::string f;
    for (uint64_t id = 1; id <= 3; ++id)
      append_request(f, id, req::queue_get("limited", proto::kWaitForever));
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
    auto [st, body] = c.call(static_cast<proto::Op>(0xEE), "");  // no encoder makes one
    THEN("BAD_REQUEST names it") {
      REQUIRE(st == Status::BAD_REQUEST);
      REQUIRE(proto::error_message(body).find("unknown opcode 238") != std::string::npos);
    }
  }
  WHEN("a put body is truncated or has trailing bytes") {
    // Deliberately malformed: the codec's body cut by a byte, and padded by one.
    const std::string good = req::queue_put("q", proto::kNoWait, "v").body;
    auto [s1, b1] = c.call(proto::Op::QUEUE_PUT, good.substr(0, good.size() - 1));
    auto [s2, b2] = c.call(proto::Op::QUEUE_PUT, good + "x");
    THEN("both are BAD_REQUEST naming the layout, and nothing was put") {
      REQUIRE(s1 == Status::BAD_REQUEST);
      REQUIRE(s2 == Status::BAD_REQUEST);
      REQUIRE(proto::error_message(b1).find("QUEUE_PUT") != std::string::npos);
      auto [s3, b3] = c.call(req::queue_get("q", proto::kNoWait));
      REQUIRE(s3 == Status::EMPTY);
    }
  }
  WHEN("a put_many claims more items than it carries") {
    // Deliberately malformed: the codec's body of no items, its count patched to 2^31 - 1.
    std::string b = req::queue_put_many("q", proto::kNoWait, {}).body;
    proto::store_u32(b.data() + b.size() - 4, 0x7fffffff);
    auto [st, body] = c.call(proto::Op::QUEUE_PUT_MANY, b);
    THEN("it is refused without reserving memory for them") {
      REQUIRE(st == Status::BAD_REQUEST);
    }
  }
  WHEN("a name is invalid") {
    auto [st, body] = c.call(req::queue_put("", proto::kNoWait, "v"));
    THEN("BAD_REQUEST says so") {
      REQUIRE(st == Status::BAD_REQUEST);
      REQUIRE(proto::error_message(body).find("name") != std::string::npos);
    }
  }
  THEN("the connection still works") {
    auto [st, body] = c.call(req::ping("ok"));
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
    auto [st, body] = good.call(req::queue_put("alive", proto::kNoWait, "yes"));
    REQUIRE(st == Status::OK);
    auto [st2, body2] = good.call(req::queue_get("alive", proto::kNoWait));
    REQUIRE(st2 == Status::OK);
    REQUIRE(req::parse_queue_get(body2) == "yes");
  }
}

SCENARIO("pipelined requests are answered in order with their ids", "[net]") {
  TestManager m;
  RawConn c(port_of(m));
  c.handshake(m.authkey);
  std::string f;
  for (uint64_t i = 1; i <= 100; ++i)
    append_request(f, i, req::queue_put("pipe", proto::kNoWait, std::to_string(i)));
  for (uint64_t i = 101; i <= 200; ++i)
    append_request(f, i, req::queue_get("pipe", proto::kNoWait));
  c.send(f);
  for (uint64_t i = 1; i <= 200; ++i) {
    proto::Header h;
    std::string body;
    REQUIRE(c.read(h, body));
    REQUIRE(h.id == i);
    REQUIRE(static_cast<Status>(h.code) == Status::OK);
    if (i > 100) REQUIRE(req::parse_queue_get(body) == std::to_string(i - 100));
  }
}

SCENARIO("a parked get is woken by a put from another connection", "[net]") {
  TestManager m;
  RawConn waiter(port_of(m)), putter(port_of(m));
  waiter.handshake(m.authkey);
  putter.handshake(m.authkey);
  std::string f;
  append_request(f, 11, req::queue_get("wake", proto::kWaitForever));
  waiter.send(f);
  // Wait on state: the get is parked when LIST shows a getter.
  REQUIRE(test::eventually([&] {
    auto [st, body] = putter.call(req::list());
    return listed_getters(body, "wake", 1);
  }));
  auto [st, body] = putter.call(req::queue_put("wake", proto::kNoWait, "hello"));
  REQUIRE(st == Status::OK);
  proto::Header h;
  std::string rb;
  REQUIRE(waiter.read(h, rb));
  REQUIRE(h.id == 11);
  REQUIRE(req::parse_queue_get(rb) == "hello");
}

SCENARIO("a timed get times out with TIMEOUT and leaves no trace", "[net]") {
  TestManager m;
  RawConn c(port_of(m));
  c.handshake(m.authkey);
  auto [st, body] = c.call(req::queue_get("never", 50));
  REQUIRE(st == Status::TIMEOUT);
  REQUIRE(proto::error_message(body).find("'never'") != std::string::npos);
  auto [ls, lb] = c.call(req::list());
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
  append_request(f, 3, req::queue_get("w", proto::kWaitForever));
  c.send(f);
  RawConn probe(m->manager->port());
  probe.handshake(m->authkey);
  REQUIRE(test::eventually([&] {
    auto [st, body] = probe.call(req::list());
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
  auto [st, body] = c.call(req::stats());
  REQUIRE(st == Status::OK);
  auto json = req::parse_stats(body);
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
