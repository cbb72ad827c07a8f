// MONITOR (docs/protocol.md, "MONITOR (0x07)"): what a monitor is told, and that one that
// never reads costs the manager a bounded buffer and some dropped records, not memory or
// service to the others.
#include <catch2/catch.hpp>

#include "depot/client/client.h"
#include "depot/client/monitor_requests.h"
#include "depot/client/queue_requests.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::RawConn;
using test::TestManager;

namespace {

long long stat_of(Client& c, const std::string& key) {
  return test::json_number(c.stats(), key);
}

}  // namespace

SCENARIO("a monitor sees each served request with its op, object, sizes and status", "[monitor]") {
  if (test::tls_mode()) return;  // the raw connection below speaks plain TCP
  TestManager m;
  Client c(m.address, m.authkey);
  Monitor mon(c);
  GIVEN("another client that puts an item and gets it, then waits on an empty queue") {
    ClientOptions named;
    named.name = "producer-1";
    Client other(m.address, m.authkey, named);
    auto q = other.queue<std::string>("watched");
    q.put("the-secret-payload");
    CHECK(q.get() == "the-secret-payload");
    CHECK_FALSE(q.try_get());
    THEN("the monitor gets a record of each, in order, without the payload") {
      std::vector<MonitorRecord> seen;
      for (int i = 0; i < 100 && seen.size() < 3; ++i) {
        auto r = mon.next(5s);
        REQUIRE(r);
        if (r->object == "watched") seen.push_back(*r);
      }
      REQUIRE(seen.size() == 3);
      CHECK(proto::op_name(seen[0].op) == "QUEUE_PUT");
      CHECK(seen[0].status == static_cast<uint8_t>(Status::OK));
      CHECK(seen[0].request_bytes ==
            req::queue_put("watched", -1, "the-secret-payload").body.size());
      CHECK(seen[0].user == "default");
      CHECK(seen[0].client == "producer-1");
      CHECK(proto::op_name(seen[1].op) == "QUEUE_GET");
      CHECK(seen[1].status == static_cast<uint8_t>(Status::OK));
      CHECK(seen[1].reply_bytes == 4 + std::string("the-secret-payload").size());
      CHECK(seen[2].status == static_cast<uint8_t>(Status::EMPTY));
      CHECK(seen[0].session == seen[1].session);
      CHECK(seen[0].time_us <= seen[1].time_us);
      CHECK(mon.dropped() == 0);
    }
  }
  GIVEN("the monitor stopped") {
    mon.stop();
    THEN("the manager has no monitor left") {
      CHECK(test::eventually([&] { return stat_of(c, "monitors") == 0; }));
    }
  }
}

SCENARIO("a monitor that never reads loses records, counted, and slows nobody", "[monitor]") {
  if (test::tls_mode()) return;
  TestManager m;
  RawConn mon(m.manager->port());
  REQUIRE(mon.handshake(m.authkey).kind == proto::FrameKind::AUTH_OK);
  constexpr uint32_t kBuffer = 4096;
  auto [st, body] = mon.call(req::monitor_start(kBuffer, proto::kMonitorEveryRequest), 1);
  REQUIRE(st == Status::OK);
  const uint64_t id = req::parse_monitor_start(body);
  // From here the monitor reads nothing.

  GIVEN("another client that makes many requests with long names, pipelined") {
    Client c(m.address, m.authkey);
    const std::string name(200, 'q');  // long names make long records: the socket fills soon
    constexpr int kBatches = 60, kPerBatch = 1000;
    std::vector<Request> batch;
    for (int i = 0; i < kPerBatch; ++i) batch.push_back(req::queue_put(name, -1, "x"));
    for (int b = 0; b < kBatches; ++b)
      for (const Reply& r : c.call_many(batch)) REQUIRE(r.status == Status::OK);

    THEN("every request was served, records were dropped, and the buffers stayed bounded") {
      CHECK(RawQueue(c, name).size().size == uint64_t{kBatches} * kPerBatch);
      CHECK(stat_of(c, "monitor_dropped") > 0);
      CHECK(stat_of(c, "monitor_buffered_bytes") <= kBuffer);
      // What waits for the monitor: at most the push budget (256 KiB) plus one frame.
      CHECK(stat_of(c, "output_buffered_bytes") < (256 << 10) + kBuffer + 1024);
    }
    AND_WHEN("the monitor reads again") {
      const long long dropped = stat_of(c, "monitor_dropped");
      REQUIRE(dropped > 0);
      uint64_t told = 0, records = 0;
      proto::Header h;
      std::string b;
      // Everything that was kept arrives, with DROPPED records adding up to the count.
      while (told < static_cast<uint64_t>(dropped) && mon.read(h, b, 10s)) {
        if (h.kind != proto::FrameKind::PUSH) continue;
        REQUIRE(h.code == static_cast<uint8_t>(proto::Push::MONITOR));
        REQUIRE(h.id == id);
        std::vector<std::string_view> recs;
        REQUIRE(req::split_monitor_push(b, recs));
        for (auto rec : recs) {
          MonitorRecord r;
          REQUIRE(req::parse_monitor_record(rec, r));
          if (r.type == MonitorRecord::Type::Dropped)
            told += r.dropped;
          else
            ++records;
        }
      }
      THEN("it is told exactly how many it lost") {
        CHECK(told == static_cast<uint64_t>(dropped));
        CHECK(records > 0);
        CHECK(records + told >= uint64_t{kBatches} * kPerBatch);
      }
    }
  }
}

SCENARIO("a monitor is sent at most max_per_second records a second, and the rest's count",
         "[monitor]") {
  TestManager m;
  Client busy(m.address, m.authkey);  // connected before the monitor starts: its handshake
                                      // is no request, so the monitor sees only what follows
  Client c(m.address, m.authkey);
  MonitorOptions o;
  o.max_per_second = 5;
  Monitor mon(c, o);
  GIVEN("another client making 200 requests in one burst") {
    std::vector<Request> batch;
    for (int i = 0; i < 200; ++i) batch.push_back(req::queue_put("rated", -1, "x"));
    for (const Reply& r : busy.call_many(batch)) REQUIRE(r.status == Status::OK);
    THEN("every one of them is a record or counted as skipped, and most are counted") {
      uint64_t records = 0, skipped = 0;
      while (records + skipped < 200) {
        auto r = mon.next(10s);
        REQUIRE(r);
        if (r->type == MonitorRecord::Type::Skipped) {
          skipped += r->dropped;
        } else {
          REQUIRE(r->type == MonitorRecord::Type::Request);
          CHECK(r->object == "rated");
          ++records;
        }
      }
      CHECK(records + skipped == 200);
      CHECK(records >= 5);  // the bucket starts with one second's worth
      CHECK(skipped > 0);
      CHECK(mon.skipped() == skipped);
      CHECK(mon.dropped() == 0);
      CHECK(RawQueue(busy, "rated").size().size == 200);  // all served all the same
    }
  }
}

SCENARIO("MONITOR refuses what it cannot do", "[monitor]") {
  if (test::tls_mode()) return;
  TestManager m;
  RawConn raw(m.manager->port());
  REQUIRE(raw.handshake(m.authkey).kind == proto::FrameKind::AUTH_OK);
  WHEN("a session that is not a monitor stops") {
    auto [st, body] = raw.call(req::monitor_stop(), 1);
    THEN("NOT_FOUND") {
      CHECK(st == Status::NOT_FOUND);
    }
  }
  WHEN("a buffer above 64 MiB is asked for") {
    auto [st, body] = raw.call(req::monitor_start((64u << 20) + 1), 2);
    THEN("BAD_REQUEST naming the limit") {
      CHECK(st == Status::BAD_REQUEST);
      CHECK_THAT(std::string(proto::error_message(body)), Catch::Contains("67108864"));
    }
  }
  WHEN("a client from before max_per_second sends the 5-byte body") {
    auto [st, body] = raw.call({proto::Op::MONITOR, proto::BodyWriter().u8(1).u32(0).take()}, 5);
    THEN("it is a monitor with the default rate") {
      CHECK(st == Status::OK);
    }
  }
  WHEN("the body has a byte too many") {
    auto [st, body] =
        raw.call({proto::Op::MONITOR, proto::BodyWriter().u8(1).u32(0).u32(0).u8(0).take()}, 6);
    THEN("BAD_REQUEST naming the layout") {
      CHECK(st == Status::BAD_REQUEST);
      CHECK_THAT(std::string(proto::error_message(body)), Catch::Contains("max_per_second"));
    }
  }
  WHEN("a monitor starts twice") {
    REQUIRE(raw.call(req::monitor_start(0), 3).first == Status::OK);
    std::string f;
    test::append_request(f, 4, req::monitor_start(0));
    raw.send(f);
    proto::Header h;
    std::string body;
    // Records (of these very requests) may come first: the reply is the REPLY frame.
    while (raw.read(h, body) && h.kind != proto::FrameKind::REPLY) {
    }
    THEN("the second is refused") {
      CHECK(h.kind == proto::FrameKind::REPLY);
      CHECK(h.id == 4);
      CHECK(h.code == static_cast<uint8_t>(Status::BAD_REQUEST));
    }
  }
}
