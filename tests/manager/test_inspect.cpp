// INSPECT (docs/protocol.md) and depot-cli clients / workers: who holds what, by session.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <catch2/catch.hpp>
#include <thread>

#include "admin/http_get.h"
#include "depot/client/client.h"
#include "depot/client/coord.h"
#include "depot/client/errors.h"
#include "depot/client/remote_queue.h"
#include "depot/executor/executor.h"
#include "depot/executor/worker.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using Poco::JSON::Array;
using Poco::JSON::Object;

namespace {

Object::Ptr parse(const std::string& json) {
  Poco::JSON::Parser p;
  return p.parse(json).extract<Object::Ptr>();
}

// The element of `section`'s array whose `key` is `value`, or null.
Object::Ptr find(const Object::Ptr& root, const std::string& array, const std::string& key,
                 const std::string& value) {
  const Array::Ptr a = root->getArray(array);
  for (unsigned i = 0; a && i < a->size(); ++i) {
    const Object::Ptr o = a->getObject(i);
    if (o->getValue<std::string>(key) == value) return o;
  }
  return nullptr;
}

// The session id the manager gave `c`: the session INSPECT shows holding a lock only `c`
// took.
uint64_t session_of(Client& c, Client& observer) {
  static int n = 0;
  const std::string probe = "whoami-" + std::to_string(++n);
  Lock l = c.lock(probe);
  l.acquire();
  const Object::Ptr lock = find(parse(observer.inspect("locks")), "locks", "name", probe);
  const uint64_t id = lock ? lock->getObject("holder")->getValue<uint64_t>("session") : 0;
  l.release();
  c.remove(probe);
  return id;
}

}  // namespace

SCENARIO("INSPECT shows who holds each lock, lease and reservation and who waits") {
  test::TestManager m;
  Client admin(m.address, m.authkey);
  const auto named = [](const char* name) {
    ClientOptions o;
    o.name = name;
    return o;
  };
  Client holder(m.address, m.authkey, named("holder-1"));
  Client waiter(m.address, m.authkey, named("waiter-2"));
  const uint64_t holder_id = session_of(holder, admin);
  const uint64_t waiter_id = session_of(waiter, admin);
  REQUIRE(holder_id != 0);
  REQUIRE(waiter_id != 0);
  REQUIRE(holder_id != waiter_id);

  Lock lock = holder.lock("jobs-lock");
  const uint64_t token = lock.acquire();
  Semaphore sem = holder.semaphore("slots", 3);
  const uint64_t lease = sem.acquire();
  RawQueue q(holder, "work");
  q.put_many({"a", "b", "c", "d"});
  auto reserved = q.reserve_many(2, 10s);
  REQUIRE(reserved.size() == 2);

  // The waiter parks on the lock from a thread of its own.
  Lock wanted = waiter.lock("jobs-lock");
  std::optional<uint64_t> got;
  std::thread t([&] { got = wanted.acquire(std::chrono::seconds(60)); });
  REQUIRE(test::eventually([&] {
    const Object::Ptr l = find(parse(admin.inspect("locks")), "locks", "name", "jobs-lock");
    return l && l->getArray("waiters")->size() == 1;
  }));

  WHEN("the locks section is read") {
    const Object::Ptr root = parse(admin.inspect("locks"));
    const Object::Ptr l = find(root, "locks", "name", "jobs-lock");
    THEN("the lock names its holder's session and token, and its waiter") {
      REQUIRE(l);
      CHECK(l->getValue<bool>("held"));
      const Object::Ptr h = l->getObject("holder");
      CHECK(h->getValue<uint64_t>("session") == holder_id);
      CHECK(h->getValue<std::string>("name") == "holder-1");
      CHECK(l->getArray("waiters")->getObject(0)->getValue<std::string>("name") == "waiter-2");
      CHECK(h->getValue<std::string>("token") == std::to_string(token));
      CHECK(l->getArray("waiters")->getObject(0)->getValue<uint64_t>("session") == waiter_id);
      const Object::Ptr s = find(root, "semaphores", "name", "slots");
      REQUIRE(s);
      CHECK(s->getValue<uint64_t>("max") == 3);
      REQUIRE(s->getArray("leases")->size() == 1);
      CHECK(s->getArray("leases")->getObject(0)->getValue<std::string>("lease") ==
            std::to_string(lease));
    }
  }
  WHEN("the sessions section is read") {
    const Object::Ptr root = parse(admin.inspect("sessions"));
    const Object::Ptr hs = find(root, "sessions", "id", std::to_string(holder_id));
    const Object::Ptr ws = find(root, "sessions", "id", std::to_string(waiter_id));
    THEN("each session says what it holds and what it waits for") {
      REQUIRE(hs);
      REQUIRE(ws);
      CHECK(hs->getValue<std::string>("peer").rfind("127.0.0.1:", 0) == 0);
      CHECK(hs->getValue<std::string>("name") == "holder-1");
      CHECK(hs->getValue<std::string>("user") == "default");
      CHECK(ws->getValue<std::string>("name") == "waiter-2");
      CHECK(hs->getValue<std::string>("connected").back() == 'Z');
      const Object::Ptr holds = hs->getObject("holds");
      REQUIRE(holds->getArray("locks")->size() == 1);
      CHECK(holds->getArray("locks")->getObject(0)->getValue<std::string>("name") == "jobs-lock");
      CHECK(holds->getArray("locks")->getObject(0)->getValue<std::string>("token") ==
            std::to_string(token));
      REQUIRE(holds->getArray("semaphores")->size() == 1);
      REQUIRE(holds->getArray("reservations")->size() == 1);
      CHECK(holds->getArray("reservations")->getObject(0)->getValue<std::string>("queue") ==
            "work");
      CHECK(holds->getArray("reservations")->getObject(0)->getValue<uint64_t>("count") == 2);
      CHECK(hs->getArray("waits")->size() == 0);
      REQUIRE(ws->getArray("waits")->size() == 1);
      CHECK(ws->getArray("waits")->getObject(0)->getValue<std::string>("op") == "acquire");
      CHECK(ws->getArray("waits")->getObject(0)->getValue<std::string>("object") == "jobs-lock");
    }
  }
  WHEN("the queues and objects sections are read") {
    const Object::Ptr qs = find(parse(admin.inspect("queues")), "queues", "name", "work");
    const Object::Ptr os = find(parse(admin.inspect("objects")), "objects", "name", "jobs-lock");
    THEN("the queue's ready and reserved items are counted, and every object is listed") {
      REQUIRE(qs);
      CHECK(qs->getValue<uint64_t>("ready") == 2);
      CHECK(qs->getValue<uint64_t>("reserved") == 2);
      CHECK(qs->getValue<uint64_t>("delayed") == 0);
      REQUIRE(os);
      CHECK(os->getValue<std::string>("type") == "lock");
      CHECK(os->getValue<uint64_t>("waiters") == 1);
    }
  }
  WHEN("the holder releases the lock") {
    lock.release();
    t.join();
    THEN("the waiter holds it, and INSPECT says so") {
      REQUIRE(got);
      const Object::Ptr l = find(parse(admin.inspect("locks")), "locks", "name", "jobs-lock");
      CHECK(l->getObject("holder")->getValue<uint64_t>("session") == waiter_id);
      CHECK(l->getObject("holder")->getValue<std::string>("token") == std::to_string(*got));
      CHECK(l->getArray("waiters")->size() == 0);
    }
  }
  WHEN("an unknown section is asked for") {
    THEN("the manager answers BAD_REQUEST listing the sections") {
      CHECK_THROWS_WITH(admin.inspect("lock"), Catch::Contains("no section 'lock'") &&
                                                   Catch::Contains("locks, queues, pools"));
    }
  }
  if (t.joinable()) {
    lock.release();
    t.join();
  }
}

SCENARIO("INSPECT's JSON stays valid for names that are not UTF-8") {
  test::TestManager m;
  Client c(m.address, m.authkey);
  const std::string name = std::string("odd-\xff-\"name\\-") + "\xc3\xa9";
  Lock l = c.lock(name);
  l.acquire();
  const Object::Ptr root = parse(c.inspect("locks"));
  const Array::Ptr locks = root->getArray("locks");
  REQUIRE(locks->size() == 1);
  // The stray byte reads as U+00FF; the valid UTF-8 (é) and the escaped quote survive.
  CHECK(locks->getObject(0)->getValue<std::string>("name") == "odd-\xc3\xbf-\"name\\-\xc3\xa9");
}

SCENARIO("INSPECT pools finds an executor pool's tasks, workers and actors by their names") {
  test::TestManager m;
  Client admin(m.address, m.authkey);
  Client worker(m.address, m.authkey);
  Client idle(m.address, m.authkey);
  const uint64_t worker_id = session_of(worker, admin);
  const uint64_t idle_id = session_of(idle, admin);
  // The names docs/executor.md gives a pool's objects (executor/task.h makes them).
  RawQueue tasks(worker, "calc.tasks");
  tasks.put_many({"t1", "t2", "t3"});
  auto running = tasks.reserve_many(1, 10s);
  REQUIRE(running.size() == 1);
  Lock alive = worker.lock("calc.actor.A7.alive");
  alive.acquire();
  RawQueue(admin, "calc.actor.A7").put("call");
  admin.variable<std::string>("calc.actor.A7.state").set("snapshot");
  admin.variable<std::string>("calc.r.s1").set("result");
  // An idle worker parks a reserve on the tasks queue; two items stay queued, so it needs
  // the queue empty first: it takes them, then waits.
  RawQueue idle_tasks(idle, "calc.tasks");
  auto taken = idle_tasks.reserve_many(2, 10s);
  REQUIRE(taken.size() == 2);
  std::thread parked([&] {
    try {
      (void)idle_tasks.reserve(std::chrono::seconds(30));
    } catch (const std::exception&) {
    }
  });
  REQUIRE(test::eventually([&] {
    const Object::Ptr p = find(parse(admin.inspect("pools")), "pools", "name", "calc");
    const Array::Ptr w = p ? p->getArray("workers") : nullptr;
    for (unsigned i = 0; w && i < w->size(); ++i)
      if (w->getObject(i)->getValue<uint64_t>("session") == idle_id &&
          w->getObject(i)->getValue<bool>("waiting"))
        return true;
    return false;
  }));

  const Object::Ptr p = find(parse(admin.inspect("pools")), "pools", "name", "calc");
  REQUIRE(p);
  const Object::Ptr tk = p->getObject("tasks");
  CHECK(tk->getValue<uint64_t>("queued") == 0);
  CHECK(tk->getValue<uint64_t>("running") == 3);
  CHECK(tk->getValue<uint64_t>("results_held") == 1);
  const Object::Ptr w = find(p, "workers", "session", std::to_string(worker_id));
  REQUIRE(w);
  CHECK(w->getValue<uint64_t>("running") == 1);
  CHECK(w->getArray("actors")->getElement<std::string>(0) == "A7");
  const Object::Ptr i = find(p, "workers", "session", std::to_string(idle_id));
  REQUIRE(i);
  CHECK(i->getValue<uint64_t>("running") == 2);
  const Object::Ptr a = find(p, "actors", "id", "A7");
  REQUIRE(a);
  CHECK(a->getValue<uint64_t>("mailbox") == 1);
  CHECK(a->getValue<bool>("resilient"));
  CHECK(a->getObject("worker")->getValue<uint64_t>("session") == worker_id);

  AND_WHEN("depot-cli workers and clients are run") {
    test::Process wp({test::bin("depot-cli"), "-a", m.address, "-k", m.authkey, "workers", "calc"});
    REQUIRE(wp.wait() == 0);
    test::Process cp({test::bin("depot-cli"), "-a", m.address, "-k", m.authkey, "clients"});
    REQUIRE(cp.wait() == 0);
    test::Process np({test::bin("depot-cli"), "-a", m.address, "-k", m.authkey, "workers", "nope"});
    const int missing = np.wait();
    THEN("workers prints the pool, a line per worker and per actor") {
      const std::string out = wp.out();
      INFO(out);
      CHECK(out.rfind("pool=calc queued=0 running=3 delayed=0 dead_lettered=0 results_held=1 "
                      "executors=0 workers=2\n",
                      0) == 0);
      CHECK(out.find("worker id=" + std::to_string(worker_id) + " ") != std::string::npos);
      CHECK(out.find(" running=1 waiting=no actors=A7\n") != std::string::npos);
      CHECK(out.find(" running=2 waiting=yes actors=-\n") != std::string::npos);
      CHECK(out.find("actor id=A7 mailbox=1 resilient=yes worker=" + std::to_string(worker_id)) !=
            std::string::npos);
    }
    THEN("clients prints a line per session with what it holds and waits for") {
      const std::string out = cp.out();
      INFO(out);
      CHECK(out.find("id=" + std::to_string(worker_id) + " addr=127.0.0.1:") != std::string::npos);
      CHECK(out.find("holds=lock:calc.actor.A7.alive,reserved:calc.tasks*1 waits=-\n") !=
            std::string::npos);
      CHECK(out.find("holds=reserved:calc.tasks*2 waits=reserve:calc.tasks\n") !=
            std::string::npos);
    }
    THEN("workers of a pool that does not exist says so and exits 4") {
      CHECK(missing == 4);
      CHECK(np.err().find("no executor pool 'nope'") != std::string::npos);
    }
  }
  RawQueue(admin, "calc.tasks").put("t4");  // the parked reserve takes it and returns
  parked.join();
}

SCENARIO("The admin endpoint serves INSPECT's sections at /api/ and the dashboard at /") {
  test::TestManager m("test-key", [](ManagerOptions& o) { o.admin_address = "127.0.0.1:0"; });
  const uint16_t port = m.manager->admin_port();
  REQUIRE(port != 0);
  Client c(m.address, m.authkey);
  Lock l = c.lock("api-lock");
  const uint64_t token = l.acquire();
  RawQueue(c, "api-q").put_many({"1", "2", "3"});

  WHEN("GET /api/locks and /api/queues are asked") {
    const test::HttpReply locks = test::http_get("127.0.0.1", port, "/api/locks");
    const test::HttpReply queues = test::http_get("127.0.0.1", port, "/api/queues");
    THEN("they are INSPECT's JSON") {
      CHECK(locks.status == 200);
      CHECK(locks.content_type.rfind("application/json", 0) == 0);
      const Object::Ptr l0 = find(parse(locks.body), "locks", "name", "api-lock");
      REQUIRE(l0);
      CHECK(l0->getObject("holder")->getValue<std::string>("token") == std::to_string(token));
      const Object::Ptr q = find(parse(queues.body), "queues", "name", "api-q");
      REQUIRE(q);
      CHECK(q->getValue<uint64_t>("ready") == 3);
    }
  }
  WHEN("every section is asked over HTTP") {
    THEN("each is a JSON object holding its array") {
      for (const std::string section : {"objects", "sessions", "locks", "queues", "pools"}) {
        const test::HttpReply r = test::http_get("127.0.0.1", port, "/api/" + section);
        INFO(section << ": " << r.body);
        CHECK(r.status == 200);
        CHECK(parse(r.body)->isArray(section));
      }
    }
  }
  WHEN("an unknown section or page is asked") {
    const test::HttpReply api = test::http_get("127.0.0.1", port, "/api/lock");
    const test::HttpReply page = test::http_get("127.0.0.1", port, "/nothing-here");
    THEN("404 says what exists") {
      CHECK(api.status == 404);
      CHECK(api.body.find("/api/{objects, sessions, locks, queues, pools}") != std::string::npos);
      CHECK(page.status == 404);
      CHECK(page.body.find("the dashboard is at /") != std::string::npos);
    }
  }
  WHEN("GET / is asked") {
    const test::HttpReply r = test::http_get("127.0.0.1", port, "/");
    THEN("it is the dashboard page, with no script from elsewhere") {
      CHECK(r.status == 200);
      CHECK(r.content_type.rfind("text/html", 0) == 0);
      CHECK(r.body.find("<title>depot</title>") != std::string::npos);
      CHECK(r.body.find("<script src=") == std::string::npos);
      CHECK(r.body.find("http://") == std::string::npos);
      CHECK(r.body.find("https://") == std::string::npos);
    }
  }
}

namespace {
struct Tally {
  long n = 0;
  long add(long k) { return n += k; }
};
}  // namespace

SCENARIO("INSPECT pools follows a real executor, its worker and an actor") {
  test::TestManager m;
  Client admin(m.address, m.authkey);
  Client wc(m.address, m.authkey);
  Client ec(m.address, m.authkey);
  const uint64_t worker_id = session_of(wc, admin);
  Worker w(wc, "sq", {.threads = 1});
  w.def("square", [](long x) { return x * x; });
  w.actor<Tally>("Tally").method("add", &Tally::add);
  std::thread serving([&] { w.run(); });
  {
    Executor ex(ec, "sq");
    std::vector<long> in{1, 2, 3, 4, 5};
    auto futures = ex.map<long>("square", in);
    for (auto& f : futures) (void)f.result();
    Actor tally = ex.actor("Tally");
    CHECK(tally.call<long>("add", 2L).result() == 2);

    // The worker acks a batch right after storing its results: wait for the acks.
    Object::Ptr p;
    REQUIRE(test::eventually([&] {
      p = find(parse(admin.inspect("pools")), "pools", "name", "sq");
      return p && p->getObject("tasks")->getValue<uint64_t>("finished_total") >= 6 &&
             p->getObject("tasks")->getValue<uint64_t>("running") == 0;
    }));
    const Object::Ptr t = p->getObject("tasks");
    CHECK(t->getValue<uint64_t>("submitted_total") == 6);  // 5 calls and the actor's creation
    CHECK(t->getValue<uint64_t>("queued") == 0);
    CHECK(p->getValue<uint64_t>("executors") == 1);
    const Object::Ptr wk = find(p, "workers", "session", std::to_string(worker_id));
    REQUIRE(wk);
    REQUIRE(p->getArray("actors")->size() == 1);
    const Object::Ptr a = p->getArray("actors")->getObject(0);
    CHECK(a->getObject("worker")->getValue<uint64_t>("session") == worker_id);
    CHECK(wk->getArray("actors")->getElement<std::string>(0) == a->getValue<std::string>("id"));
    tally.close();
  }
  w.stop();
  serving.join();
}
