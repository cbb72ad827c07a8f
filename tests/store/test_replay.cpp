// Replaying the journal rebuilds exactly the state that wrote it, and so does a snapshot
// (Registry::persist) read back: a few thousand random operations with a fixed seed on a
// registry with a journal, on clocks the test drives, compared every hundred steps with a
// replay of every record so far and with a snapshot restored, byte for byte (persist() is
// canonical) and by what a consumer sees. No real time passes and no file is written.
#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "depot/queue/journal.h"
#include "depot/queue/lock.h"
#include "depot/queue/queue.h"
#include "depot/queue/variable.h"
#include "queue/manual_clock.h"

using namespace depot;
using namespace std::chrono_literals;

namespace {

// The wall clock of every registry here is the driven clock plus this, so that two registries
// agree on what a wall time in a record means (Registry::set_wall_clock).
constexpr int64_t kWallBase = 1'700'000'000'000'000'000;
const TimePoint kStart = TimePoint{} + 1h;

struct Driven {
  explicit Driven(TimePoint start = kStart) : clock(reg, start) {
    reg.set_wall_clock([this] {
      return kWallBase +
             std::chrono::duration_cast<std::chrono::nanoseconds>(clock.now().time_since_epoch())
                 .count();
    });
  }
  ~Driven() { reg.set_wall_clock({}); }
  Registry reg;
  test::ManualClock clock;
};

// Applies every record of `bytes`; fails the test at the first one that does not read back or
// that the registry refuses.
void replay(Registry& r, std::string_view bytes) {
  size_t off = 0, n = 0;
  while (off < bytes.size()) {
    RecordView v;
    if (read_record(bytes.substr(off), v) != ReadRecord::OK)
      FAIL("record " << n << " at offset " << off << " does not read back");
    std::string error;
    if (!r.restore(v.type, v.payload, error))
      FAIL("record " << n << " (type " << static_cast<int>(v.type) << ") at offset " << off
                     << " is refused: " << error);
    off += v.size;
    ++n;
  }
}

std::string dump(const Registry& r) {
  Journal j;
  r.persist(j);
  return j.pending();
}

// The records of `bytes`, one a line, their fields spelled out (for a readable difference).
std::string describe(std::string_view bytes) {
  std::ostringstream o;
  for (size_t off = 0; off < bytes.size();) {
    RecordView v;
    if (read_record(bytes.substr(off), v) != ReadRecord::OK) return o.str() + "(unreadable)\n";
    off += v.size;
    proto::Reader r(v.payload);
    o << static_cast<int>(v.type);
    auto str = [&] { o << " '" << r.str() << "'"; };
    auto num = [&](uint64_t n) { o << " " << n; };
    auto inum = [&](int64_t n) { o << " " << n; };
    switch (v.type) {
      case Rec::TOKENS:
        num(r.u64());
        break;
      case Rec::DELETE:
        str();
        break;
      case Rec::Q_CREATE:
        str();
        num(r.u64());
        break;
      case Rec::Q_CONFIG:
        str();
        num(r.u64());
        num(r.u32());
        num(r.u64());
        str();
        break;
      case Rec::Q_PUSH:
        str();
        inum(r.i32());
        str();
        break;
      case Rec::Q_POP:
      case Rec::Q_RELEASE:
        str();
        num(r.u32());
        break;
      case Rec::Q_RESERVE:
      case Rec::Q_ACK: {
        str();
        const uint32_t n = r.u32();
        for (uint32_t i = 0; i < n; ++i) num(r.u64());
        break;
      }
      case Rec::Q_RESERVE_NEW:
        str();
        num(r.u64());
        inum(r.i32());
        num(r.u32());
        str();
        break;
      case Rec::Q_RETURN:
        str();
        num(r.u64());
        inum(r.i64());
        num(r.u8());
        break;
      case Rec::Q_DEAD:
        str();
        num(r.u64());
        str();
        break;
      case Rec::Q_DELAY:
        str();
        inum(r.i32());
        num(r.u32());
        inum(r.i64());
        str();
        break;
      case Rec::Q_DEDUP:
        str();
        str();
        inum(r.i64());
        break;
      case Rec::Q_RETURNED:
        str();
        inum(r.i32());
        num(r.u32());
        str();
        break;
      case Rec::Q_ITEMS: {
        str();
        inum(r.i32());
        const uint32_t n = r.u32();
        for (uint32_t i = 0; i < n; ++i) str();
        break;
      }
      case Rec::V_SET:
        str();
        num(r.u64());
        str();
        break;
      case Rec::V_DELETE:
        str();
        num(r.u64());
        break;
      case Rec::C_SET:
        str();
        inum(r.i64());
        break;
      case Rec::L_HOLD: {
        str();
        num(r.u32());
        num(r.u32());
        const uint16_t n = r.u16();
        for (uint16_t i = 0; i < n; ++i) str();
        break;
      }
      case Rec::L_EXPIRE:
        str();
        break;
    }
    o << (r.at_end() ? "" : " (malformed)") << "\n";
  }
  return o.str();
}

// What can be read of each durable object without changing it.
std::string facts(Registry& r) {
  std::ostringstream o;
  for (const ObjectInfo& info : r.list()) {
    Object* obj = r.find_any(info.name);
    if (!obj->durable()) continue;
    o << info.name << " " << info.type;
    if (auto* q = dynamic_cast<Queue*>(obj)) {
      const QueueSettings& s = q->settings();
      o << " size=" << q->size() << " reserved=" << q->reserved() << " delayed=" << q->delayed()
        << " bytes=" << q->bytes() << " maxsize=" << q->maxsize() << " vis=" << s.visibility_ms
        << " max_deliveries=" << s.max_deliveries << " window=" << s.dedup_window_ms
        << " dlq=" << s.dead_letter;
    } else if (auto* v = dynamic_cast<VariableObject*>(obj)) {
      o << " version=" << v->version() << " exists=" << v->exists();
      if (v->exists())
        v->get(Wait::now_only(0), [&](Status, const VariableObject::Snapshot& snap,
                                      std::string_view) { o << " value=" << snap.value; });
    } else if (auto* c = dynamic_cast<CounterObject*>(obj)) {
      o << " value=" << c->value();
    }
    o << "\n";
  }
  return o.str();
}

// Everything a consumer takes from each queue now, in order, as "item#deliveries" (taken as
// reservations, to see the delivery counts, and acked).
std::map<std::string, std::vector<std::string>> take_all(Registry& r) {
  std::map<std::string, std::vector<std::string>> out;
  for (const ObjectInfo& info : r.list()) {
    if (info.type != "queue") continue;
    Queue* q = r.find<Queue>(info.name).value;
    std::vector<uint64_t> ids;
    auto& got = out[info.name];
    q->reserve(UINT32_MAX, -1, Wait::now_only(999),
               [&](Status s, std::span<const Queue::Reserved> items, std::string_view) {
                 if (s != Status::OK) return;
                 for (const auto& it : items) {
                   got.push_back(std::string(it.item) + "#" + std::to_string(it.deliveries));
                   ids.push_back(it.id);
                 }
               });
    q->ack(ids);
  }
  return out;
}

std::string text(const std::map<std::string, std::vector<std::string>>& taken) {
  std::string out;
  for (auto& [name, items] : taken) {
    out += name + ":";
    for (auto& i : items) out += " " + i;
    out += "\n";
  }
  return out;
}

// What a consumer sees of a restored registry: what is ready, then (a day later) what was
// delayed, then (recovered()) what was reserved when the state was written.
std::string consume(Driven& d) {
  std::string out = "ready now\n" + text(take_all(d.reg));
  d.clock.advance(24h);
  out += "a day later\n" + text(take_all(d.reg));
  d.reg.recovered();
  out += "recovered\n" + text(take_all(d.reg));
  d.clock.advance(24h);
  return out + "a day later\n" + text(take_all(d.reg));
}

// What recovered() must make of a snapshot's queues: every reservation ready again at the head
// of its priority with its delivery count (oldest first), or, when that was its last delivery,
// at the tail of the dead-letter queue's given-back items (oldest first, queues in name order).
std::map<std::string, std::vector<std::string>> expected_after_recovery(std::string_view snap) {
  struct Model {
    uint32_t max_deliveries = 0;
    std::string dead_letter;
    std::map<int32_t, std::deque<std::pair<std::string, uint32_t>>> returned, fresh;
    std::map<uint64_t, std::tuple<int32_t, uint32_t, std::string>> reserved;
  };
  std::map<std::string, Model> qs;
  size_t off = 0;
  while (off < snap.size()) {
    RecordView v;
    REQUIRE(read_record(snap.substr(off), v) == ReadRecord::OK);
    off += v.size;
    proto::Reader r(v.payload);
    if (v.type == Rec::TOKENS) continue;
    const std::string name(r.str());
    switch (v.type) {
      case Rec::Q_CREATE:
        qs[name];
        break;
      case Rec::Q_CONFIG:
        r.u64();
        qs[name].max_deliveries = r.u32();
        r.u64();
        qs[name].dead_letter = r.str();
        break;
      case Rec::Q_RETURNED: {
        const int32_t p = r.i32();
        const uint32_t d = r.u32();
        qs[name].returned[p].emplace_back(std::string(r.str()), d);
        break;
      }
      case Rec::Q_ITEMS: {
        const int32_t p = r.i32();
        const uint32_t n = r.u32();
        for (uint32_t i = 0; i < n; ++i) qs[name].fresh[p].emplace_back(std::string(r.str()), 0);
        break;
      }
      case Rec::Q_RESERVE_NEW: {
        const uint64_t id = r.u64();
        const int32_t p = r.i32();
        const uint32_t d = r.u32();
        qs[name].reserved[id] = {p, d, std::string(r.str())};
        break;
      }
      default:
        break;
    }
    REQUIRE(r.ok());
  }
  std::vector<std::string> names;
  for (auto& [n, q] : qs) names.push_back(n);
  for (const std::string& n : names) {
    Model& q = qs[n];
    const std::string dlq = q.dead_letter.empty() ? n + ".dead" : q.dead_letter;
    std::vector<std::pair<int32_t, std::pair<std::string, uint32_t>>> back;  // descending ids
    for (auto& [id, r] : q.reserved) {
      auto& [p, d, item] = r;
      if (q.max_deliveries != 0 && d >= q.max_deliveries && dlq != n)
        qs[dlq].returned[0].emplace_back(item, d);  // (qs[dlq] may be new: created empty)
      else
        back.push_back({p, {item, d}});
    }
    for (auto it = back.rbegin(); it != back.rend(); ++it)
      q.returned[it->first].push_front(it->second);
  }
  std::map<std::string, std::vector<std::string>> out;
  for (auto& [n, q] : qs) {
    auto& got = out[n];
    std::set<int32_t> prios;
    for (auto& [p, l] : q.returned) prios.insert(p);
    for (auto& [p, l] : q.fresh) prios.insert(p);
    for (int32_t p : prios) {
      for (auto& [item, d] : q.returned[p]) got.push_back(item + "#" + std::to_string(d + 1));
      for (auto& [item, d] : q.fresh[p]) got.push_back(item + "#" + std::to_string(d + 1));
    }
  }
  return out;
}

// Moves `r`'s fencing tokens 2^50 ns (13 days) above the wall clock and returns the first.
// A registry made later starts below them, so its tokens come from the TOKENS mark it
// restores, not from when it was made: without this, one made more than a token block (about
// a millisecond) after `r` writes a higher mark of its own.
uint64_t tokens_far_ahead(Registry& r) {
  const uint64_t first =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()) +
      (1ull << 50);
  proto::BodyWriter w;
  w.u64(first);
  std::string error;
  REQUIRE(r.restore(Rec::TOKENS, w.view(), error));
  return first;
}

// The random operations, on registry `a` with a journal.
struct Workload {
  Driven a;
  Journal journal;
  std::mt19937_64 rng;
  uint64_t max_token = 0;    // the highest reservation id or variable version handed out
  uint64_t first_token = 0;  // tokens start here, far above the wall clock
  std::vector<std::pair<std::string, uint64_t>> held;  // reservations handed out
  uint64_t items = 0;
  const std::vector<std::string> queues{"q0", "q1", "q2"};
  const std::vector<std::string> all{"q0",  "q1", "q2", "q0.dead", "q1.dead", "q2.dead",
                                     "dlq", "v0", "v1", "c0",      "c1",      "lk"};

  explicit Workload(uint64_t seed = 20240611) : rng(seed) {
    // Tokens far above the wall clock: a registry restored without the journal's TOKENS
    // records would start below the tokens handed out here.
    first_token = tokens_far_ahead(a.reg);
    a.reg.set_journal(&journal);
  }
  ~Workload() { a.reg.set_journal(nullptr); }

  size_t pick(size_t n) { return static_cast<size_t>(rng() % n); }
  bool chance(unsigned pct) { return pick(100) < pct; }
  SessionId session() { return 1 + pick(4); }
  Wait wait(SessionId s) {
    return chance(70) ? Wait::now_only(s) : a.reg.wait_for(s, static_cast<int64_t>(1 + pick(300)));
  }
  Queue* queue(const std::string& name) {
    auto r = a.reg.open<Queue>(
        name, [&] { return std::make_unique<Queue>(a.reg, name, name == "q1" ? 6 : 0); });
    return r.ok() ? r.value : nullptr;
  }
  std::string item(const std::string& q) {
    std::string s = q + "/" + std::to_string(++items);
    s.append(chance(2) ? 20'000 : pick(24), 'x');
    return s;
  }
  Queue::ReserveDone on_reserved(const std::string& q) {
    return [this, q](Status s, std::span<const Queue::Reserved> items, std::string_view) {
      if (s != Status::OK) return;
      for (const auto& r : items) {
        held.emplace_back(q, r.id);
        max_token = std::max(max_token, r.id);
      }
      if (held.size() > 300) held.erase(held.begin(), held.begin() + 100);
    };
  }
  std::pair<std::string, uint64_t> take_held() {
    if (held.empty() || chance(5)) return {queues[pick(3)], 12345};  // one nobody holds
    const size_t i = pick(held.size());
    auto h = held[i];
    held.erase(held.begin() + static_cast<ptrdiff_t>(i));
    return h;
  }

  void step() {
    const std::string& qn = queues[pick(queues.size())];
    const size_t op = pick(100);
    if (op < 26) {  // put or put_many with a priority, delay, dedup id
      Queue* q = queue(qn);
      if (!q) return;
      PutParams p;
      const int32_t prios[] = {-1, 0, 0, 0, 2};
      p.priority = prios[pick(5)];
      if (chance(20)) p.delay_ms = 1 + pick(300);
      std::string dedup;
      if (chance(25)) {
        dedup = "d" + std::to_string(pick(8));
        p.dedup_id = dedup;
      }
      std::vector<std::string> batch(op < 18 ? 1 : 2 + pick(4));
      for (auto& s : batch) s = item(qn);
      std::vector<std::string_view> views(batch.begin(), batch.end());
      q->put_many(
          views, wait(session()), [](Status, uint32_t, std::string_view) {}, p);
    } else if (op < 36) {  // get / get_many
      if (Queue* q = queue(qn))
        q->get_many(static_cast<uint32_t>(1 + pick(4)), wait(session()),
                    [](Status, Queue::Items, std::string_view) {});
    } else if (op < 50) {  // reserve / reserve_many
      if (Queue* q = queue(qn))
        q->reserve(static_cast<uint32_t>(1 + pick(3)),
                   chance(50) ? -1 : static_cast<int64_t>(20 + pick(400)), wait(session()),
                   on_reserved(qn));
    } else if (op < 60) {  // ack (a few at once)
      auto [name, id] = take_held();
      std::vector<uint64_t> ids{id};
      for (size_t n = pick(3); n > 0 && !held.empty(); --n) {
        auto more = take_held();
        if (more.first == name) ids.push_back(more.second);
      }
      if (auto q = a.reg.find<Queue>(name); q.ok()) q.value->ack(ids);
    } else if (op < 67) {  // nack, with or without a delay
      auto [name, id] = take_held();
      bool dead = false;
      if (auto q = a.reg.find<Queue>(name); q.ok())
        q.value->nack(id, chance(50) ? 0 : 1 + pick(300), dead);
    } else if (op < 70) {  // touch
      if (held.empty()) return;
      auto& [name, id] = held[pick(held.size())];
      if (auto q = a.reg.find<Queue>(name); q.ok())
        q.value->touch(id, chance(50) ? -1 : static_cast<int64_t>(10 + pick(300)));
    } else if (op < 80) {  // time passes: visibility deadlines, delays, waits, dedup windows
      a.clock.advance(std::chrono::milliseconds(chance(10) ? 2000 : 1 + pick(400)));
    } else if (op < 83) {  // a session ends
      a.reg.drop_session(session());
    } else if (op < 86) {  // configure
      if (Queue* q = queue(qn)) {
        QueueSettings s;
        s.visibility_ms = 20 + pick(400);
        s.max_deliveries = static_cast<uint32_t>(pick(4));
        s.dedup_window_ms = 50 + pick(1000);
        if (chance(30)) s.dead_letter = "dlq";
        q->configure(s);
      }
    } else if (op < 88) {  // delete anything
      a.reg.erase(all[pick(all.size())]);
    } else if (op < 95) {  // variables
      const std::string name = chance(50) ? "v0" : "v1";
      auto r = a.reg.open<VariableObject>(
          name, [&] { return std::make_unique<VariableObject>(a.reg, name); });
      if (!r.ok()) return;
      VariableObject* v = r.value;
      const size_t kind = pick(4);
      uint64_t version = 0;
      if (kind == 0) {
        version = v->set("value " + std::to_string(++items));
      } else if (kind == 1) {
        const uint64_t expected = chance(60) ? v->version() : (chance(50) ? 0 : v->version() + 1);
        v->compare_and_set(expected, "cas " + std::to_string(++items), version);
      } else if (kind == 2) {
        v->erase_value();
        version = v->version();
      } else {  // a read: it creates the variable if it is not there
        v->get(Wait::now_only(1), [](Status, const VariableObject::Snapshot&, std::string_view) {});
      }
      max_token = std::max(max_token, version);
    } else if (op < 98) {  // counters
      const std::string name = chance(50) ? "c0" : "c1";
      auto r = a.reg.open<CounterObject>(
          name, [&] { return std::make_unique<CounterObject>(a.reg, name); });
      if (!r.ok()) return;
      const int64_t deltas[] = {0, 1, -3, 1000, INT64_MAX};
      bool overflow = false;
      r.value->add(deltas[pick(5)], overflow);
    } else {  // a lock: not durable, but its fencing tokens come from the same counter
      auto r = a.reg.open<LockObject>(
          "lk", [&] { return std::make_unique<LockObject>(a.reg, "lk", false); });
      if (!r.ok()) return;
      const SessionId s = session();
      r.value->acquire(Wait::now_only(s), s, 0ms,
                       [&](Status st, LockObject::Grant g, std::string_view) {
                         if (st == Status::OK) max_token = std::max(max_token, g.token);
                       });
    }
  }
};

}  // namespace

SCENARIO("replaying the journal, or restoring a snapshot, rebuilds the exact state",
         "[store][replay]") {
  const uint64_t seed = GENERATE(20240611, 7, 1234567);
  INFO("seed " << seed);
  Workload w(seed);
  constexpr int kSteps = 4000, kEvery = 100;
  for (int step = 1; step <= kSteps; ++step) {
    w.step();
    if (step % kEvery != 0) continue;
    INFO("after step " << step << " (" << w.journal.records() << " records)");
    const std::string want = dump(w.a.reg);
    const std::string want_facts = facts(w.a.reg);

    // (a) Every record from the start, into a fresh registry.
    Driven b(w.a.clock.now());
    replay(b.reg, w.journal.pending());
    REQUIRE(facts(b.reg) == want_facts);
    REQUIRE(describe(dump(b.reg)) == describe(want));
    REQUIRE(dump(b.reg) == want);

    // (b) A snapshot, restored into a fresh registry.
    Driven c(w.a.clock.now());
    replay(c.reg, want);
    REQUIRE(facts(c.reg) == want_facts);
    REQUIRE(describe(dump(c.reg)) == describe(want));
    REQUIRE(dump(c.reg) == want);

    // Tokens: a restored registry hands out none it handed out before.
    {
      Driven t(w.a.clock.now());
      replay(t.reg, w.journal.pending());
      REQUIRE(t.reg.next_token() > w.max_token);
      Driven u(w.a.clock.now());
      replay(u.reg, want);
      REQUIRE(u.reg.next_token() > w.max_token);
    }

    // A consumer sees the same of both, phase by phase.
    REQUIRE(consume(b) == consume(c));

    // recovered(): every reservation is ready again at the head of its priority with its
    // delivery count, or dead-lettered when that was its last delivery.
    Driven r(w.a.clock.now());
    replay(r.reg, want);
    r.reg.recovered();
    REQUIRE(text(take_all(r.reg)) == text(expected_after_recovery(want)));
  }
  // The workload did what it is meant to exercise.
  const std::string& log = w.journal.pending();
  std::map<Rec, int> seen;
  for (size_t off = 0; off < log.size();) {
    RecordView v;
    REQUIRE(read_record(std::string_view(log).substr(off), v) == ReadRecord::OK);
    ++seen[v.type];
    off += v.size;
  }
  for (Rec t :
       {Rec::TOKENS, Rec::DELETE, Rec::Q_CREATE, Rec::Q_CONFIG, Rec::Q_POP, Rec::Q_RESERVE,
        Rec::Q_RESERVE_NEW, Rec::Q_ACK, Rec::Q_RETURN, Rec::Q_DEAD, Rec::Q_DELAY, Rec::Q_RELEASE,
        Rec::Q_DEDUP, Rec::Q_ITEMS, Rec::V_SET, Rec::V_DELETE, Rec::C_SET}) {
    INFO("record type " << static_cast<int>(t));
    CHECK(seen[t] > 0);
  }
  // And at the end the live registry hands out what its replay does.
  Driven b(w.a.clock.now());
  replay(b.reg, log);
  REQUIRE(text(take_all(w.a.reg)) == text(take_all(b.reg)));
}

SCENARIO("a registry restored from a journal hands out tokens above the journal's mark",
         "[store][replay]") {
  // The first token is far above the wall clock, so only the TOKENS records can put a restored
  // registry's counter above it.
  Workload w;
  Queue* q = w.queue("q0");
  for (int i = 0; i < 5; ++i)
    q->put("x", Wait::now_only(1), [](Status, uint32_t, std::string_view) {});
  std::vector<uint64_t> ids;
  q->reserve(5, -1, Wait::now_only(1),
             [&](Status, std::span<const Queue::Reserved> items, std::string_view) {
               for (auto& r : items) ids.push_back(r.id);
             });
  REQUIRE(ids.size() == 5);
  REQUIRE(ids.front() >= w.first_token);
  Driven b;
  replay(b.reg, w.journal.pending());
  const uint64_t next = b.reg.next_token();
  REQUIRE(next > ids.back());
  // Blocks of tokens are recorded ahead: handing out a block's worth records a new mark.
  const uint64_t records = w.journal.records();
  for (uint64_t i = 0; i < Registry::kTokenBlock; ++i) w.a.reg.next_token();
  REQUIRE(w.journal.records() > records);
  const uint64_t last = w.a.reg.next_token();
  Driven c;
  replay(c.reg, w.journal.pending());
  REQUIRE(c.reg.next_token() > last);
}

// ------------------------------------------------------------------ regressions, one by one

namespace {

Queue* open_queue(Registry& reg, const std::string& name) {
  auto r = reg.open<Queue>(name, [&] { return std::make_unique<Queue>(reg, name, 0); });
  REQUIRE(r.ok());
  return r.value;
}

void put(Queue& q, std::string_view item, PutParams p = {}, uint32_t* accepted = nullptr) {
  q.put_many(
      Queue::Items(&item, 1), Wait::now_only(1),
      [&](Status, uint32_t n, std::string_view) {
        if (accepted) *accepted = n;
      },
      p);
}

std::vector<uint64_t> reserve(Queue& q, uint32_t n, SessionId s) {
  std::vector<uint64_t> ids;
  q.reserve(n, -1, Wait::now_only(s),
            [&](Status, std::span<const Queue::Reserved> items, std::string_view) {
              for (auto& r : items) ids.push_back(r.id);
            });
  return ids;
}

}  // namespace

SCENARIO("a queue holding reservations read back from a journal can be deleted and destroyed",
         "[store][replay]") {
  Driven a;
  Journal j;
  a.reg.set_journal(&j);
  Queue& q = *open_queue(a.reg, "q");
  put(q, "x");
  put(q, "y");
  REQUIRE(reserve(q, 2, 1).size() == 2);
  const std::string before_delete = j.pending();
  a.reg.erase("q");
  a.reg.set_journal(nullptr);
  WHEN("a later record deletes it") {
    Driven b;
    replay(b.reg, j.pending());  // (it cancelled timers its reservations never had)
    THEN("it is gone") {
      REQUIRE(b.reg.find_any("q") == nullptr);
    }
  }
  WHEN("the registry goes away before recovered()") {
    auto b = std::make_unique<Driven>();
    replay(b->reg, before_delete);
    REQUIRE(b->reg.find<Queue>("q").value->reserved() == 2);
    b.reset();  // (the same)
    THEN("nothing is left behind") {
      SUCCEED();
    }
  }
}

SCENARIO("a variable a read created, or a counter an add of 0 created, can be deleted",
         "[store][replay]") {
  Driven a;
  tokens_far_ahead(a.reg);  // so that `b`, made later, writes the same mark
  Journal j;
  a.reg.set_journal(&j);
  auto v =
      a.reg.open<VariableObject>("v", [&] { return std::make_unique<VariableObject>(a.reg, "v"); });
  v.value->get(Wait::now_only(1), [](Status, const VariableObject::Snapshot&, std::string_view) {});
  auto c =
      a.reg.open<CounterObject>("c", [&] { return std::make_unique<CounterObject>(a.reg, "c"); });
  bool overflow = false;
  c.value->add(0, overflow);
  REQUIRE(a.reg.erase("v") == Status::OK);
  REQUIRE(a.reg.erase("c") == Status::OK);
  // And a counter that was changed, then deleted, still records both.
  c = a.reg.open<CounterObject>("c2", [&] { return std::make_unique<CounterObject>(a.reg, "c2"); });
  c.value->add(5, overflow);
  REQUIRE(a.reg.erase("c2") == Status::OK);
  a.reg.set_journal(nullptr);
  Driven b;
  replay(b.reg, j.pending());
  REQUIRE(b.reg.object_count() == 0);
  REQUIRE(dump(b.reg) == dump(a.reg));
}

SCENARIO("a dedup id remembered under a shorter window expires on its own time",
         "[store][replay]") {
  Driven a;
  Queue& q = *open_queue(a.reg, "q");
  QueueSettings s;
  s.dedup_window_ms = 1000;
  q.configure(s);
  put(q, "1", PutParams{0, 0, "long"});
  s.dedup_window_ms = 10;
  q.configure(s);
  put(q, "2", PutParams{0, 0, "short"});
  a.clock.advance(20ms);
  uint32_t accepted = 0;
  put(q, "3", PutParams{0, 0, "short"}, &accepted);
  REQUIRE(accepted == 1);
  put(q, "4", PutParams{0, 0, "long"}, &accepted);
  REQUIRE(accepted == 0);
  // A snapshot keeps only the ids still within their window.
  const std::string snap = describe(dump(a.reg));
  REQUIRE_THAT(snap, Catch::Contains("'long'"));
  a.clock.advance(2000ms);
  REQUIRE_THAT(describe(dump(a.reg)), !Catch::Contains("'long'") && !Catch::Contains("'short'"));
}

SCENARIO("a session's reservations at their last delivery reach the dead-letter queue oldest first",
         "[store][replay]") {
  Driven a;
  Queue& q = *open_queue(a.reg, "q");
  QueueSettings s;
  s.max_deliveries = 1;
  q.configure(s);
  for (auto item : {"a", "b", "c"}) put(q, item);
  REQUIRE(reserve(q, 3, 7).size() == 3);
  a.reg.drop_session(7);
  REQUIRE(text(take_all(a.reg)) == "q:\nq.dead: a#2 b#2 c#2\n");
}
