// Leases without a network: objects that end with the session holding their lease, after a
// grace; the names stay fenced for a while after; durable across a restart. Time is the
// registry's driven clock (ManualClock): no real time passes.
#include <catch2/catch.hpp>

#include "depot/queue/journal.h"
#include "depot/queue/lease.h"
#include "depot/queue/queue.h"
#include "depot/queue/variable.h"
#include "manual_clock.h"

using namespace depot;
using namespace std::chrono_literals;

namespace {

template <class T, class... A>
T* make(Registry& reg, const std::string& name, A... args) {
  auto r = reg.open<T>(name, [&] { return std::make_unique<T>(reg, name, args...); });
  REQUIRE(r.ok());
  return r.value;
}

// What a LEASE_HOLD from `session` finds, failing the test on another status.
LeaseObject::Found hold(Registry& reg, SessionId session, const std::string& name,
                        LeaseObject::Terms terms) {
  LeaseObject* l = make<LeaseObject>(reg, name);
  LeaseObject::Found found{};
  std::string message;
  REQUIRE(l->hold(session, std::move(terms), found, message) == Status::OK);
  return found;
}

LeaseObject::Terms terms(uint32_t grace_ms, uint32_t fence_ms) {
  return {grace_ms, fence_ms, {"job.marker", "job.r.*"}};
}

bool exists(Registry& reg, std::string_view name) {
  return reg.find_any(name) != nullptr;
}

// A variable named `name` made the way a request makes one: OK, or the status that refused it.
Status create_var(Registry& reg, const std::string& name) {
  return reg.open<VariableObject>(name, [&] { return std::make_unique<VariableObject>(reg, name); })
      .status;
}

}  // namespace

SCENARIO("a lease deletes what it matches once its session ends and its grace passes", "[lease]") {
  Registry reg;
  test::ManualClock clock(reg);
  REQUIRE(hold(reg, 7, "job.lease", terms(1000, 5000)) == LeaseObject::Found::CREATED);
  make<Queue>(reg, "job.marker", uint64_t{0});
  for (int i = 0; i < 3; ++i) make<VariableObject>(reg, "job.r." + std::to_string(i));
  make<VariableObject>(reg, "job.marker2");  // neither the name nor under the prefix
  make<VariableObject>(reg, "other");
  REQUIRE(reg.object_count() == 7);

  WHEN("its session lives, however long") {
    clock.advance(24h);
    THEN("nothing is deleted") {
      REQUIRE(reg.object_count() == 7);
    }
  }
  WHEN("its session ends") {
    reg.drop_session(7);
    THEN("nothing goes before the grace passes") {
      clock.advance(1000ms - test::ManualClock::kTick);
      clock.advance(2ms);  // the deleting starts on the loop's next pass
      REQUIRE(reg.object_count() == 7);
    }
    AND_WHEN("the grace passes") {
      clock.advance(1000ms);
      clock.advance(1ms);
      THEN("every object it matches is gone, the others stay, and the names are fenced") {
        CHECK_FALSE(exists(reg, "job.marker"));
        for (int i = 0; i < 3; ++i) CHECK_FALSE(exists(reg, "job.r." + std::to_string(i)));
        CHECK(exists(reg, "job.marker2"));
        CHECK(exists(reg, "other"));
        CHECK(exists(reg, "job.lease"));
        CHECK(reg.fencing() == 1);
        auto r = reg.open<VariableObject>(
            "job.r.9", [&] { return std::make_unique<VariableObject>(reg, "job.r.9"); });
        REQUIRE(r.status == Status::NOT_FOUND);
        CHECK_THAT(r.message, Catch::Contains("lease 'job.lease'") &&
                                  Catch::Contains("which expired") &&
                                  Catch::Contains("drop this work"));
        CHECK(create_var(reg, "job.rx") == Status::OK);  // not under "job.r."
      }
      AND_WHEN("the fence passes too") {
        clock.advance(5000ms);
        THEN("the lease is gone and the names can be used again") {
          CHECK_FALSE(exists(reg, "job.lease"));
          CHECK(reg.fencing() == 0);
          CHECK(create_var(reg, "job.r.9") == Status::OK);
        }
      }
      AND_WHEN("a session holds it again while it fences") {
        REQUIRE(hold(reg, 8, "job.lease", terms(1000, 5000)) == LeaseObject::Found::EXPIRED);
        THEN("the names can be made again, and what was deleted stays deleted") {
          CHECK(reg.fencing() == 0);
          CHECK(create_var(reg, "job.r.0") == Status::OK);
          CHECK_FALSE(exists(reg, "job.r.1"));
        }
      }
    }
    AND_WHEN("a session holds it again within the grace (a client that reconnected)") {
      clock.advance(999ms);
      REQUIRE(hold(reg, 9, "job.lease", terms(1000, 5000)) == LeaseObject::Found::ORPHANED);
      clock.advance(1h);
      THEN("nothing is deleted while the new session lives") {
        REQUIRE(reg.object_count() == 7);
      }
      AND_WHEN("the new session ends") {
        reg.drop_session(9);
        clock.advance(1001ms);
        clock.advance(1ms);
        THEN("its grace counts from then") {
          CHECK_FALSE(exists(reg, "job.marker"));
          CHECK(reg.object_count() == 3);  // the lease, job.marker2, other
        }
      }
    }
  }
  WHEN("another session asks for it while its holder lives") {
    LeaseObject* l = make<LeaseObject>(reg, "job.lease");
    LeaseObject::Found found{};
    std::string message;
    REQUIRE(l->hold(8, terms(1000, 0), found, message) == Status::NOT_OWNER);
    THEN("it is refused, naming the holder") {
      CHECK_THAT(message, Catch::Contains("lease 'job.lease'") &&
                              Catch::Contains("held by session 7") &&
                              Catch::Contains("use another name"));
      REQUIRE(hold(reg, 7, "job.lease", terms(1000, 0)) == LeaseObject::Found::HELD);
    }
  }
  WHEN("the lease itself is deleted, then its session ends") {
    REQUIRE(reg.erase("job.lease") == Status::OK);
    reg.drop_session(7);
    clock.advance(2h);
    THEN("its objects stay") {
      REQUIRE(reg.object_count() == 6);
    }
  }
}

SCENARIO("a lease over many objects deletes them a chunk per pass of the loop", "[lease]") {
  Registry reg;
  test::ManualClock clock(reg);
  hold(reg, 1, "big.lease", {10, 0, {"big.*"}});
  const size_t n = 3 * LeaseObject::kSweepChunk + 17;
  for (size_t i = 0; i < n; ++i) make<VariableObject>(reg, "big." + std::to_string(i));
  reg.drop_session(1);
  clock.advance(10ms);
  size_t passes = 0;
  size_t left = reg.object_count();
  while (exists(reg, "big.lease") && passes < 100) {
    clock.advance(1ms);
    ++passes;
    const size_t now_left = reg.object_count();
    // No pass deletes more than a chunk, and each one deletes something.
    REQUIRE(left - now_left <= LeaseObject::kSweepChunk + 1);
    REQUIRE(now_left < left);
    left = now_left;
  }
  CHECK(passes == 4);  // ceil(n / chunk); the lease goes with the last chunk (fence 0)
  CHECK(reg.object_count() == 0);
}

SCENARIO("a lease's terms are checked", "[lease]") {
  using T = LeaseObject::Terms;
  CHECK(LeaseObject::check(T{1000, 0, {"a", "b.*"}}).empty());
  CHECK_THAT(LeaseObject::check(T{0, 0, {"a"}}), Catch::Contains("grace_ms is 1 to"));
  CHECK_THAT(LeaseObject::check(T{LeaseObject::kMaxMillis + 1, 0, {"a"}}),
             Catch::Contains("grace_ms"));
  CHECK_THAT(LeaseObject::check(T{1, LeaseObject::kMaxMillis + 1, {"a"}}),
             Catch::Contains("fence_ms"));
  CHECK_THAT(LeaseObject::check(T{1, 0, {}}), Catch::Contains("1 to 5 patterns, got 0"));
  CHECK_THAT(LeaseObject::check(T{1, 0, {"a", "b", "c", "d", "e", "f"}}), Catch::Contains("got 6"));
  CHECK_THAT(LeaseObject::check(T{1, 0, {"*"}}), Catch::Contains("matches every object"));
  CHECK_THAT(LeaseObject::check(T{1, 0, {"a*b"}}), Catch::Contains("before its end"));
  CHECK(LeaseObject::matches("a.*", "a.b"));
  CHECK(LeaseObject::matches("a.*", "a."));
  CHECK_FALSE(LeaseObject::matches("a.*", "a"));
  CHECK(LeaseObject::matches("a", "a"));
  CHECK_FALSE(LeaseObject::matches("a", "ab"));
}

SCENARIO("a lease survives a restart and starts its grace again", "[lease][store]") {
  Registry a;
  test::ManualClock clock_a(a);
  Journal journal;
  a.set_journal(&journal);
  hold(a, 3, "d.lease", {500, 0, {"d.q*"}});
  make<Queue>(a, "d.q1", uint64_t{0});
  make<Queue>(a, "kept", uint64_t{0});

  // A restart: the journal read back into a new registry, whose sessions are all gone.
  const auto restart = [&](Registry& b) {
    const std::string& log = journal.pending();
    for (size_t off = 0; off < log.size();) {
      RecordView v;
      REQUIRE(read_record(std::string_view(log).substr(off), v) == ReadRecord::OK);
      std::string error;
      REQUIRE(b.restore(v.type, v.payload, error));
      off += v.size;
    }
    b.recovered();
  };
  GIVEN("the manager restarts while the lease is held") {
    Registry b;
    test::ManualClock clock_b(b);
    restart(b);
    REQUIRE(exists(b, "d.lease"));
    THEN("the lease is orphaned and its grace runs from the restart") {
      clock_b.advance(499ms);
      clock_b.advance(1ms - test::ManualClock::kTick);
      REQUIRE(exists(b, "d.q1"));
      clock_b.advance(2ms);
      clock_b.advance(1ms);
      CHECK_FALSE(exists(b, "d.q1"));
      CHECK(exists(b, "kept"));
      CHECK_FALSE(exists(b, "d.lease"));
    }
    THEN("a client that reconnects within the grace keeps everything") {
      REQUIRE(hold(b, 11, "d.lease", {500, 0, {"d.q*"}}) == LeaseObject::Found::ORPHANED);
      clock_b.advance(1h);
      CHECK(exists(b, "d.q1"));
    }
  }
  GIVEN("the manager restarts after the lease expired but before its objects were deleted") {
    a.drop_session(3);
    clock_a.advance(500ms);  // expired: the L_EXPIRE is written, the deleting not yet begun
    REQUIRE(exists(a, "d.q1"));
    Registry b;
    test::ManualClock clock_b(b);
    restart(b);
    THEN("the restarted manager fences the names and deletes them") {
      CHECK(b.fencing() == 1);
      clock_b.advance(1ms);
      CHECK_FALSE(exists(b, "d.q1"));
      CHECK(exists(b, "kept"));
    }
  }
}

SCENARIO("leases that expire together are collected in one pass and never delete a lease",
         "[lease]") {
  Registry reg;
  test::ManualClock clock(reg);
  for (int i = 0; i < 50; ++i) {
    const std::string p = "p" + std::to_string(i) + ".";
    hold(reg, 1, p + "lease", {10, 0, {p + "*"}});  // its own name is under its pattern
    for (int k = 0; k < 3; ++k) make<VariableObject>(reg, p + std::to_string(k));
  }
  hold(reg, 2, "p0.inner.lease", {10, 0, {"q.*"}});  // a live lease under p0.*
  make<VariableObject>(reg, "q.1");
  make<VariableObject>(reg, "kept");
  reg.drop_session(1);
  clock.advance(10ms);
  clock.advance(1ms);  // one pass: every lease collects, deletes and goes (fence 0)
  for (int i = 0; i < 50; ++i) CHECK_FALSE(exists(reg, "p" + std::to_string(i) + ".lease"));
  CHECK(exists(reg, "p0.inner.lease"));  // another lease is not an object to delete
  CHECK(exists(reg, "q.1"));
  CHECK(exists(reg, "kept"));
  CHECK(reg.object_count() == 3);
}
