// Reliable delivery through the client: reserve/ack/nack, visibility timeouts, a consumer that
// disconnects, priorities, delays, dedup and pipelined calls.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "depot/client/admin_requests.h"
#include "depot/client/client.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::TestManager;

SCENARIO("a reserved task survives its consumer's disconnect", "[client][reserve]") {
  TestManager m;
  Client master(m.address, m.authkey);
  auto tasks = master.queue<int>("tasks");
  tasks.put(41);
  {
    Client worker(m.address, m.authkey);
    auto r = worker.queue<int>("tasks").reserve(1s);
    REQUIRE(r.value == 41);
    REQUIRE(r.deliveries == 1);
    REQUIRE(tasks.qsize() == 0);
  }  // the worker goes away without acking
  Client other(m.address, m.authkey);
  auto again = other.queue<int>("tasks").reserve(5s);
  REQUIRE(again.value == 41);
  REQUIRE(again.deliveries == 2);
  REQUIRE(other.queue<int>("tasks").ack(again.id));
  REQUIRE_FALSE(other.queue<int>("tasks").ack(again.id));
  REQUIRE(tasks.try_reserve() == std::nullopt);
}

SCENARIO("a reservation not acked within its visibility timeout is delivered again",
         "[client][reserve]") {
  TestManager m;
  Client c(m.address, m.authkey);
  auto q = c.queue<std::string>("slow");
  q.put("job");
  auto first = q.reserve(1s, 50ms);
  auto second = q.reserve(5s);  // parks until the first reservation expires
  REQUIRE(second.value == "job");
  REQUIRE(second.deliveries == 2);
  REQUIRE_FALSE(q.ack(first.id));
  REQUIRE(q.nack(first.id) == NackResult::NotHeld);
  REQUIRE(q.ack(second.id));
}

SCENARIO("nack past max_deliveries dead-letters the item", "[client][reserve]") {
  TestManager m;
  Client c(m.address, m.authkey);
  auto q = c.queue<std::string>("work");
  q.configure({std::chrono::milliseconds(30'000), 2, std::chrono::milliseconds(1000), "graveyard"});
  q.put("poison");
  REQUIRE(q.nack(q.reserve(1s).id) == NackResult::Requeued);
  REQUIRE(q.nack(q.reserve(1s).id) == NackResult::DeadLettered);
  REQUIRE(q.try_reserve() == std::nullopt);
  REQUIRE(c.queue<std::string>("graveyard").get(1s) == "poison");
}

SCENARIO("priorities, delays and dedup ids through the client", "[client][reserve]") {
  TestManager m;
  Client c(m.address, m.authkey);
  auto q = c.queue<std::string>("mixed");
  REQUIRE(q.put("low", PutOptions{9, 0ms, ""}));
  REQUIRE(q.put("urgent", PutOptions{-5, 0ms, ""}));
  REQUIRE(q.put("delayed", PutOptions{-9, 150ms, ""}));
  REQUIRE(q.put("once", PutOptions{0, 0ms, "order-17"}));
  REQUIRE_FALSE(q.put("once", PutOptions{0, 0ms, "order-17"}));  // a retried put
  REQUIRE(q.get_many(10, 0ms) == std::vector<std::string>{"urgent", "once", "low"});
  REQUIRE(q.get(5s) == "delayed");

  WHEN("a put carries a bad queue configuration") {
    auto err = [&] {
      try {
        q.configure({std::chrono::milliseconds(10), 0, 0ms, "mixed"});
      } catch (const ProtocolError& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    }();
    THEN("the manager explains") {
      REQUIRE(err.find("own dead-letter queue") != std::string::npos);
    }
  }
}

SCENARIO("reserve_many and ack_many move batches in one round trip each", "[client][reserve]") {
  TestManager m;
  Client c(m.address, m.authkey);
  RawQueue q(c, "batch");
  std::vector<std::string> items;
  for (int i = 0; i < 100; ++i) items.push_back(std::to_string(i));
  q.put_many(items);
  auto got = q.reserve_many(64, 1s);
  REQUIRE(got.size() == 64);
  REQUIRE(got.front().item == "0");
  REQUIRE(got.back().item == "63");
  std::vector<uint64_t> ids;
  for (auto& r : got) ids.push_back(r.id);
  REQUIRE(q.ack_many(ids) == 64);
  REQUIRE(q.size().size == 36);
}

SCENARIO("call_many pipelines requests and returns replies in order", "[client]") {
  TestManager m;
  Client c(m.address, m.authkey);
  std::vector<Request> reqs;
  for (int i = 0; i < 50; ++i) reqs.push_back(req::queue_put("pipe", 0, std::to_string(i)));
  reqs.push_back(req::queue_size("pipe"));
  reqs.push_back(req::queue_reserve("pipe", 0, 0, -1));  // max 0: BAD_REQUEST
  auto replies = c.call_many(reqs);
  REQUIRE(replies.size() == 52);
  for (int i = 0; i < 50; ++i) REQUIRE(replies[i].status == Status::OK);
  REQUIRE(req::parse_queue_size(replies[50].body).size == 50);
  REQUIRE(replies[51].status == Status::BAD_REQUEST);
}

SCENARIO("call_many shares the connection with other threads' calls", "[client]") {
  // A pipelined batch waits on one reply at a time; the reader role must never be handed to
  // one of its later calls while its thread sleeps on an earlier one.
  TestManager m;
  Client c(m.address, m.authkey);
  std::atomic<bool> stop{false};
  std::thread other([&] {
    while (!stop) c.ping();
  });
  for (int i = 0; i < 2000; ++i) {
    std::vector<Request> reqs;
    for (int k = 0; k < 3; ++k) reqs.push_back(req::ping("x"));
    REQUIRE(c.call_many(reqs).size() == 3);
  }
  stop = true;
  other.join();
}

SCENARIO("a reserved item that does not decode is given back, not lost", "[client][reserve]") {
  TestManager m;
  Client c(m.address, m.authkey);
  c.queue<std::string>("numbers").put("not a number");
  auto q = c.queue<int>("numbers");
  REQUIRE_THROWS_AS(q.reserve(std::chrono::seconds(1)), CodecError);
  auto raw = c.queue<std::string>("numbers").reserve(std::chrono::seconds(1));
  REQUIRE(raw.value == "not a number");
  REQUIRE(raw.deliveries == 2);
  REQUIRE(q.ack_many({raw.id}) == 1);

  c.queue<int>("numbers").put(5);
  c.queue<int>("numbers").put(6);
  auto both = q.reserve_many(10, std::chrono::seconds(1));
  REQUIRE(both.size() == 2);
  REQUIRE(both[1].value == 6);
}
