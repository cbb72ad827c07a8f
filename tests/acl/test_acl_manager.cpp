// Users of a manager with an ACL file (docs/security.md): each permission allowed and denied,
// DENIED's message, LIST filtering, a worker confined to its pool, key rotation and reloads
// (embedded and by SIGHUP to depot-manager), per-user limits, and clients without a user.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <thread>

#include "depot/client/admin_requests.h"
#include "depot/client/client.h"
#include "depot/client/coord_requests.h"
#include "depot/client/queue_requests.h"
#include "depot/executor/executor.h"
#include "depot/executor/worker.h"
#include "depot/protocol/messages.h"
#include "samples/pool_functions.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;

namespace {

// An ACL file in a directory of its own, rewritten by write().
struct AclFile {
  AclFile() {
    static int n = 0;
    dir = "/tmp/depot-acl-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    const std::string cmd = "mkdir -p " + dir;
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot make " + dir);
    path = dir + "/acl.conf";
  }
  ~AclFile() {
    const std::string cmd = "rm -rf " + dir;
    (void)std::system(cmd.c_str());
  }
  void write(const std::string& text) const {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp) << text;
    std::rename(tmp.c_str(), path.c_str());
  }
  std::string dir, path;
};

// An embedded manager serving the users of `acl`.
struct AclManager {
  explicit AclManager(const std::string& acl, std::function<void(ManagerOptions&)> tweak = nullptr)
      : m("", [&](ManagerOptions& o) {
          file.write(acl);
          o.authkey.clear();
          o.acl_file = file.path;
          if (tweak) tweak(o);
        }) {}
  AclFile file;
  test::TestManager m;
  std::unique_ptr<Client> client(const std::string& user, const std::string& key,
                                 bool reconnect = true) {
    ClientOptions o;
    o.user = user;
    o.quiet = true;
    o.reconnect = reconnect;
    return std::make_unique<Client>(m.address, key, o);
  }
};

template <class E, class F>
std::string thrown(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("another exception: ") + e.what();
  }
  return "nothing thrown";
}

Status status_of(Client& c, const Request& r) {
  return c.call(r).status;
}

std::vector<std::string> listed(Client& c) {
  std::vector<std::string> names;
  for (auto& i : c.list()) names.push_back(i.name);
  std::sort(names.begin(), names.end());
  return names;
}

// A raw connection authenticated as `user` (a version-3 AUTH): for watching it be closed.
struct RawUser {
  RawUser(uint16_t port, const std::string& user, const std::string& key) : conn(port) {
    proto::Header h;
    std::string body;
    if (!conn.read(h, body)) throw std::runtime_error("no HELLO");
    auth::ClientHandshake hs(key, user);
    std::string out;
    if (auto r = hs.on_hello(h, body, out); !r.ok()) throw std::runtime_error(r.message);
    conn.send(out);
    if (!conn.read(h, body) || h.kind != proto::FrameKind::AUTH_OK)
      throw std::runtime_error("not authenticated: " + std::string(proto::error_message(body)));
  }
  test::RawConn conn;
};

const char* kUsers = R"(# the operator, and a user with some of each permission
user op
  key op-key
  allow all *
user u
  key u-key
  allow read,write rw.*
  allow read ro.*
  allow write wo.*
  allow admin rw.*
)";

}  // namespace

SCENARIO("each permission is checked against the names a request touches", "[acl]") {
  AclManager am(kUsers);
  auto op = am.client("op", "op-key");
  auto u = am.client("u", "u-key");
  op->request(req::queue_put("ro.q", 0, "x"));

  WHEN("the user writes and reads where it may") {
    THEN("the requests are served") {
      CHECK(status_of(*u, req::queue_put("rw.q", 0, "a")) == Status::OK);
      CHECK(status_of(*u, req::queue_get("rw.q", 0)) == Status::OK);
      CHECK(status_of(*u, req::queue_get("ro.q", 0)) == Status::OK);
      CHECK(status_of(*u, req::queue_size("ro.q")) == Status::OK);
      CHECK(status_of(*u, req::queue_put("wo.q", 0, "b")) == Status::OK);
      CHECK(status_of(*u, req::var_set("rw.v", "1")) == Status::OK);
      CHECK(status_of(*u, req::var_get("ro.v", 0)) == Status::NOT_FOUND);  // allowed, no value
      CHECK(status_of(*u, req::counter_add("wo.c", 1)) == Status::OK);
      CHECK(status_of(*u, req::publish("wo.t", "m")) == Status::OK);
      CHECK(status_of(*u, req::remove("rw.v")) == Status::OK);  // admin on rw.*
      CHECK(status_of(*u, req::ping("x")) == Status::OK);       // every user
    }
  }
  WHEN("it writes where it may only read") {
    const std::string m = thrown<DeniedError>([&] { u->request(req::queue_put("ro.q", 0, "y")); });
    THEN("DENIED names the user, the permission, the object and the operation") {
      CHECK(m == msg::denied("u", "write", "QUEUE_PUT", "ro.q"));
      CHECK(m.find("user 'u' may not write 'ro.q' (QUEUE_PUT)") != std::string::npos);
      CHECK(m.find("ACL file") != std::string::npos);
    }
    THEN("nothing was put") {
      CHECK(status_of(*op, req::queue_size("ro.q")) == Status::OK);
      CHECK(req::parse_queue_size(op->request(req::queue_size("ro.q"))).size == 1);
    }
  }
  THEN("reading where it may only write, or nowhere, is denied") {
    CHECK(status_of(*u, req::queue_get("wo.q", 0)) == Status::DENIED);
    CHECK(status_of(*u, req::queue_reserve("wo.q", 1, 0, -1)) == Status::DENIED);
    CHECK(status_of(*u, req::var_get("wo.v", 0)) == Status::DENIED);
    CHECK(status_of(*u, req::event_wait("wo.e", 0)) == Status::DENIED);
    CHECK(status_of(*u, req::queue_get("other", 0)) == Status::DENIED);
    CHECK(status_of(*u, req::queue_put("other", 0, "z")) == Status::DENIED);
    CHECK(status_of(*u, req::lock_acquire("ro.l", false, 1, 0, 0)) == Status::DENIED);
    CHECK(status_of(*u, req::var_set("ro.v", "1")) == Status::DENIED);
  }
  THEN("admin operations need admin on the name") {
    CHECK(status_of(*u, req::remove("ro.q")) == Status::DENIED);
    CHECK(status_of(*u, req::queue_delete("ro.q")) == Status::DENIED);
    CHECK(status_of(*u, req::queue_delete("rw.none")) == Status::NOT_FOUND);
    CHECK(status_of(*u, req::queue_configure("ro.q", {})) == Status::DENIED);
    CHECK(status_of(*u, req::queue_configure("rw.q", {})) == Status::OK);  // rw.q.dead: rw.*
    QueueConfig dl;
    dl.dead_letter = "ro.dead";
    CHECK(status_of(*u, req::queue_configure("rw.q", dl)) == Status::DENIED);  // write on it
    dl.dead_letter = "wo.dead";
    CHECK(status_of(*u, req::queue_configure("rw.q", dl)) == Status::OK);
    // STATS is about the whole manager: admin on every name.
    CHECK(thrown<DeniedError>([&] { u->stats(); }) == msg::denied("u", "admin", "STATS", "*"));
    CHECK_NOTHROW(op->stats());
  }
  THEN("a forced lock release is admin, a holder's own release write") {
    const uint64_t tok =
        req::parse_lock_acquire(op->request(req::lock_acquire("wo.l", false, 1, 0, 0))).token;
    CHECK(status_of(*u, req::lock_release("wo.l", 0)) == Status::DENIED);
    CHECK(status_of(*u, req::lock_release("wo.l", tok)) == Status::NOT_OWNER);  // allowed
    CHECK(status_of(*op, req::lock_release("wo.l", 0)) == Status::OK);
    const uint64_t t2 =
        req::parse_lock_acquire(u->request(req::lock_acquire("rw.l", false, 1, 0, 0))).token;
    CHECK(status_of(*u, req::lock_release("rw.l", t2)) == Status::OK);
    u->request(req::lock_acquire("rw.l", false, 1, 0, 0));
    CHECK(status_of(*u, req::lock_release("rw.l", 0)) == Status::OK);  // admin on rw.*
  }
  THEN("a lease needs write on its name and admin on every name its patterns can match") {
    const auto lease = [](std::string name, std::vector<std::string> patterns) {
      return req::lease_hold(name, LeaseTerms{std::move(patterns), 1000ms, 0ms});
    };
    CHECK(status_of(*u, lease("rw.lease", {"rw.a", "rw.r.*"})) == Status::OK);
    CHECK(status_of(*u, lease("wo.lease", {"rw.b"})) == Status::OK);
    CHECK(status_of(*u, lease("ro.lease", {"rw.c"})) == Status::DENIED);  // write on its name
    CHECK(status_of(*u, lease("rw.l2", {"wo.x"})) == Status::DENIED);     // it would delete wo.x
    CHECK(status_of(*u, lease("rw.l3", {"rw.a", "r*"})) == Status::DENIED);
    CHECK(thrown<DeniedError>([&] { u->request(lease("rw.l4", {"ro.*"})); }) ==
          msg::denied("u", "admin", "LEASE_HOLD", "ro.*"));
  }
  THEN("a subscription pattern must be readable on every topic it can match") {
    CHECK(status_of(*u, req::subscribe("ro.t", 0, Overflow::DropOldest)) == Status::OK);
    CHECK(status_of(*u, req::subscribe("ro.*", 0, Overflow::DropOldest)) == Status::OK);
    CHECK(status_of(*u, req::subscribe("ro.a*", 0, Overflow::DropOldest)) == Status::OK);
    CHECK(status_of(*u, req::subscribe("r*", 0, Overflow::DropOldest)) == Status::DENIED);
    CHECK(status_of(*u, req::subscribe("*", 0, Overflow::DropOldest)) == Status::DENIED);
    CHECK(status_of(*u, req::subscribe("wo.t", 0, Overflow::DropOldest)) == Status::DENIED);
  }
}

SCENARIO("LIST shows a user only the objects it may read", "[acl]") {
  AclManager am(kUsers);
  auto op = am.client("op", "op-key");
  auto u = am.client("u", "u-key");
  for (const char* q : {"rw.a", "ro.b", "wo.c", "secret"}) op->request(req::queue_put(q, 0, "x"));
  u->request(req::subscribe("ro.*", 0, Overflow::DropOldest));
  op->request(req::subscribe("wo.*", 0, Overflow::DropOldest));
  CHECK(listed(*u) == std::vector<std::string>{"ro.*", "ro.b", "rw.a"});
  CHECK(listed(*op) == std::vector<std::string>{"ro.*", "ro.b", "rw.a", "secret", "wo.*", "wo.c"});
}

SCENARIO("a worker user confined to its pool runs tasks and is denied elsewhere",
         "[acl][executor]") {
  AclManager am(R"(
user submitter
  key s-key
  allow read,write,admin jobs.*
user worker
  key w-key
  allow read,write,admin jobs.*
user other
  key o-key
  allow all other.*
)");
  auto wc = am.client("worker", "w-key");
  auto ec = am.client("submitter", "s-key");
  Worker w(*wc, "jobs", {2, 64});
  sample::register_pool(w);
  w.start();
  Executor ex(*ec, "jobs");
  WHEN("tasks are submitted to the pool") {
    auto f = ex.submit<long>("square", 12L);
    auto g = ex.submit<long>("increment", 41L);
    THEN("the worker runs them") {
      CHECK(f.result(30s) == 144);
      CHECK(g.result(30s) == 42);
    }
  }
  THEN("the worker's user is denied outside its pool") {
    CHECK(status_of(*wc, req::queue_put("other.tasks", 0, "x")) == Status::DENIED);
    CHECK(status_of(*wc, req::queue_get("results", 0)) == Status::DENIED);
    CHECK_THROWS_AS(Executor(*wc, "other"), DeniedError);
  }
}

SCENARIO("without an ACL file the authkey is the user 'default' with every permission", "[acl]") {
  test::TestManager m;
  THEN("a client without a user (a version-2 AUTH) is served everything") {
    Client c(m.address, m.authkey);
    CHECK_NOTHROW(c.request(req::queue_put("any", 0, "x")));
    CHECK_NOTHROW(c.stats());
    CHECK(listed(c) == std::vector<std::string>{"any"});
  }
  THEN("a version-2 AUTH on a raw connection is accepted") {
    test::RawConn raw(m.manager->port());
    CHECK(raw.handshake(m.authkey).kind == proto::FrameKind::AUTH_OK);
    CHECK(raw.call(req::queue_put("q", 0, "x")).first == Status::OK);
  }
  THEN("the user 'default' may be named; another user is refused") {
    ClientOptions o;
    o.user = "default";
    CHECK_NOTHROW(Client(m.address, m.authkey, o).ping());
    o.user = "alice";
    o.reconnect = false;
    CHECK(thrown<AuthError>([&] {
            Client(m.address, m.authkey, o);
          }).find(msg::user_or_key_refused("alice")) != std::string::npos);
  }
}

SCENARIO("a version-2 client of a manager with an ACL file is its user 'default'", "[acl]") {
  WHEN("the file has no user 'default'") {
    AclManager am(kUsers);
    THEN("a client without a user is told to name one") {
      const std::string m = thrown<AuthError>([&] { am.client("", "op-key", false); });
      CHECK(m.find("none named 'default'") != std::string::npos);
      CHECK(m.find("DEPOT_USER") != std::string::npos);
    }
    THEN("an unknown user and a wrong key get the same message") {
      CHECK(thrown<AuthError>([&] {
              am.client("nobody", "op-key", false);
            }).find(msg::user_or_key_refused("nobody")) != std::string::npos);
      CHECK(thrown<AuthError>([&] {
              am.client("op", "u-key", false);
            }).find(msg::user_or_key_refused("op")) != std::string::npos);
    }
  }
  WHEN("it has one") {
    AclManager am("user default\n  key legacy\n  allow read,write legacy.*\n");
    auto c = am.client("", "legacy");
    THEN("a client without a user has its permissions") {
      CHECK(status_of(*c, req::queue_put("legacy.q", 0, "x")) == Status::OK);
      CHECK(status_of(*c, req::queue_put("q", 0, "x")) == Status::DENIED);
    }
  }
}

SCENARIO("keys rotate without downtime, and reloads apply at once", "[acl][reload]") {
  AclManager am("user r\n  key old\n  key new\n  allow read,write r.*\n");
  auto with_old = am.client("r", "old", false);
  auto with_new = am.client("r", "new", false);
  CHECK(status_of(*with_old, req::queue_put("r.q", 0, "1")) == Status::OK);
  CHECK(status_of(*with_new, req::queue_put("r.q", 0, "2")) == Status::OK);

  WHEN("the old key is removed and the file reloaded") {
    am.file.write("user r\n  key new\n  allow read,write r.*\n");
    REQUIRE_NOTHROW(am.m.manager->reload());
    THEN("the session that authenticated with it goes on") {
      CHECK(status_of(*with_old, req::queue_put("r.q", 0, "3")) == Status::OK);
    }
    THEN("a new connection with it fails, one with the new key works") {
      CHECK(thrown<AuthError>([&] {
              am.client("r", "old", false);
            }).find(msg::user_or_key_refused("r")) != std::string::npos);
      CHECK_NOTHROW(am.client("r", "new", false)->ping());
    }
  }
  WHEN("a permission is taken away by a reload") {
    am.file.write("user r\n  key old\n  key new\n  allow read r.*\n");
    REQUIRE_NOTHROW(am.m.manager->reload());
    THEN("the existing sessions' next requests are checked against it") {
      CHECK(status_of(*with_old, req::queue_put("r.q", 0, "3")) == Status::DENIED);
      CHECK(status_of(*with_new, req::queue_get("r.q", 0)) == Status::OK);
    }
  }
  WHEN("the user is removed by a reload") {
    RawUser raw(am.m.manager->port(), "r", "old");
    am.file.write("user s\n  key other\n  allow all *\n");
    REQUIRE_NOTHROW(am.m.manager->reload());
    THEN("its sessions are closed") {
      CHECK(raw.conn.closed_by_peer());
      CHECK_THROWS_AS(with_new->request(req::queue_size("r.q")), ConnectionError);
    }
  }
  WHEN("the new file does not parse") {
    am.file.write("user r\n  key old\n  allow read,destroy r.*\n");
    THEN("reload fails and the old ACL stays in force") {
      CHECK_THROWS_AS(am.m.manager->reload(), std::runtime_error);
      CHECK(status_of(*with_new, req::queue_put("r.q", 0, "3")) == Status::OK);
      CHECK_NOTHROW(am.client("r", "new", false)->ping());
    }
  }
}

SCENARIO("a user's connections are limited by max-connections", "[acl][limits]") {
  AclManager am("user a\n  key k\n  max-connections 2\n  allow all a.*\nuser b\n  key k\n");
  auto c1 = am.client("a", "k", false);
  auto c2 = am.client("a", "k", false);
  WHEN("a third connects") {
    const std::string m = thrown<LimitError>([&] { am.client("a", "k", false); });
    THEN("it gets LIMIT naming the user and the limit") {
      CHECK(m.find("user 'a' has 2 connections, its limit (max-connections 2") !=
            std::string::npos);
    }
    THEN("another user is not limited by it") {
      CHECK_NOTHROW(am.client("b", "k", false));
    }
  }
  WHEN("one of them closes") {
    c1.reset();
    THEN("a new connection is accepted") {
      std::unique_ptr<Client> c3;
      CHECK(test::eventually([&] {
        try {
          c3 = am.client("a", "k", false);
          return true;
        } catch (const LimitError&) {
          return false;
        }
      }));
    }
  }
}

SCENARIO("depot-manager reads its ACL file again on SIGHUP", "[acl][reload]") {
  AclFile file;
  file.write("user r\n  key old\n  allow read,write r.*\n");
  test::Process mgr({test::bin("depot-manager"), "--address", "127.0.0.1:0", "--acl-file",
                     file.path, "--log-level", "info"});
  std::string address;
  REQUIRE(test::eventually([&] {
    std::smatch m;
    const std::string out = mgr.out();
    if (!std::regex_search(out, m, std::regex("listening on (\\S+)")) ||
        out.find("ready") == std::string::npos)
      return !mgr.running();
    address = m[1];
    return true;
  }));
  REQUIRE(!address.empty());
  ClientOptions o;
  o.user = "r";
  o.quiet = true;
  o.reconnect = false;
  Client c(address, "old", o);
  CHECK(status_of(c, req::queue_put("r.q", 0, "1")) == Status::OK);

  WHEN("the file changes and the manager gets SIGHUP") {
    file.write("user r\n  key new\n  allow read r.*\n");
    mgr.kill(SIGHUP);
    THEN("the session goes on with the new permissions; the old key no longer connects") {
      CHECK(test::eventually(
          [&] { return status_of(c, req::queue_put("r.q", 0, "2")) == Status::DENIED; }));
      CHECK(status_of(c, req::queue_get("r.q", 0)) == Status::OK);
      CHECK_THROWS_AS(Client(address, "old", o), AuthError);
      CHECK_NOTHROW(Client(address, "new", o).ping());
    }
  }
  WHEN("the file is broken and the manager gets SIGHUP") {
    file.write("user r\n  key old\n  allow sideways r.*\n");
    mgr.kill(SIGHUP);
    THEN("it logs why, naming the line, and keeps the ACL in force") {
      CHECK(test::eventually(
          [&] { return mgr.err().find("acl.conf:3: unknown permission") != std::string::npos; }));
      CHECK(status_of(c, req::queue_put("r.q", 0, "2")) == Status::OK);
      CHECK(mgr.running());
    }
  }
  mgr.kill(SIGTERM);
  CHECK(mgr.wait() == 0);
}

SCENARIO("depot-manager refuses to start with a bad ACL file", "[acl]") {
  AclFile file;
  file.write("user r\n  allow read r.*\n");
  test::Process mgr(
      {test::bin("depot-manager"), "--address", "127.0.0.1:0", "--acl-file", file.path});
  CHECK(mgr.wait() == 1);
  CHECK(mgr.err().find("acl.conf:1: user 'r' has no key") != std::string::npos);
}

SCENARIO("a user's bytes held in queues are limited by max-queue-bytes", "[acl][limits]") {
  AclManager am(R"(
user small
  key k
  max-queue-bytes 100
  allow all *
user other
  key k
  allow all *
)");
  auto c = am.client("small", "k");
  auto o = am.client("other", "k");
  const std::string item(60, 'x');
  REQUIRE(status_of(*c, req::queue_put("q", 0, item)) == Status::OK);

  WHEN("a put would take it past its limit") {
    const std::string m = thrown<LimitError>([&] { c->request(req::queue_put("q", 0, item)); });
    THEN("LIMIT names the user, what it holds, the limit and what to do") {
      CHECK(m.find("user 'small' holds 60 bytes in queues and its limit is 100 "
                   "(max-queue-bytes") != std::string::npos);
      CHECK(m.find("this put of 60 bytes to queue 'q'") != std::string::npos);
      CHECK(m.find("take items out") != std::string::npos);
    }
    THEN("put_many and put_ex are limited alike, and another user is not") {
      const std::vector<std::string> two{"aaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbb"};
      CHECK(status_of(*c, req::queue_put_many("q", 0, two)) == Status::LIMIT);
      CHECK(status_of(*c, req::queue_put_ex("q", 0, {}, item)) == Status::LIMIT);
      CHECK(status_of(*o, req::queue_put("q", 0, item)) == Status::OK);
    }
  }
  WHEN("its item is taken out by another user") {
    REQUIRE(status_of(*o, req::queue_get("q", 0)) == Status::OK);
    THEN("its bytes are free again") {
      CHECK(status_of(*c, req::queue_put("q", 0, item)) == Status::OK);
    }
  }
  WHEN("its item is reserved") {
    const auto got = req::parse_queue_reserve(o->request(req::queue_reserve("q", 1, 0, -1)));
    REQUIRE(got.size() == 1);
    THEN("it still counts until acked") {
      CHECK(status_of(*c, req::queue_put("q2", 0, item)) == Status::LIMIT);
      const std::vector<uint64_t> ids{got[0].id};
      o->request(req::queue_ack("q", ids));
      CHECK(status_of(*c, req::queue_put("q2", 0, item)) == Status::OK);
    }
    THEN("a nack gives it back, still counted") {
      o->request(req::queue_nack("q", got[0].id, 0));
      CHECK(status_of(*c, req::queue_put("q2", 0, item)) == Status::LIMIT);
    }
  }
  WHEN("the queue holding it is deleted") {
    o->request(req::queue_delete("q"));
    THEN("its bytes are free again") {
      CHECK(status_of(*c, req::queue_put("q3", 0, item)) == Status::OK);
    }
  }
  WHEN("its item is handed straight to a parked getter") {
    o->request(req::queue_get("q", 0));
    std::thread getter([&] { o->request(req::queue_get("direct", 10'000)); });
    REQUIRE(test::eventually([&] {
      for (auto& i : o->list())
        if (i.name == "direct" && test::state_has(i.state, "getters", 1)) return true;
      return false;
    }));
    CHECK(status_of(*c, req::queue_put("direct", 0, item)) == Status::OK);
    getter.join();
    THEN("it never counted") {
      CHECK(status_of(*c, req::queue_put("q", 0, item)) == Status::OK);
    }
  }
}
