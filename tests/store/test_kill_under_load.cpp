// Crash tests that count (docs/durability.md): a durable depot-manager is killed at random
// moments, many times, while clients put, get, reserve and ack; what was acknowledged is
// counted against what survived. "It came back up" is not the result; "0 of N acknowledged
// writes lost" is.
//
// - SIGKILL under load, repeated: the page cache survives a SIGKILL, so this tests the log's
//   format, recovery and the manager's bookkeeping, not fdatasync.
// - A power cut: the same run with the manager under lose_unsynced.cpp (LD_PRELOAD), which
//   keeps writes to log.* files in memory until an fdatasync or fsync of that file, so a
//   SIGKILL loses exactly what was not synced. Under --fsync always nothing acknowledged is
//   lost. Under --fsync no the manager never syncs, so every kill loses the acknowledged puts
//   of its run: the same checker must report them lost (it is not blind).
// - Group commit, counted: concurrent clients share fdatasyncs; one client alone needs one
//   per put.
//
// How the checker knows what survived: after every restart, before the clients resume, it
// takes an inventory of every queue (it reserves everything, in order, then disconnects, and
// the manager puts the reservations back at the head, oldest first, as docs/queues.md says),
// and compares it with what the clients were told during the run that ended with the kill.
// A request whose reply never came (the kill came first) may or may not have taken effect:
// a put then may be there or not; an ack may have consumed its item or not; a get may have
// taken up to its n head items, which nobody will ever see. Those items are allowed to be
// missing, counted and bounded per run and queue (at most the n of the gets in flight on that
// queue, and only head items: none behind an older item of its producer that was still ready
// at the kill); every other acknowledged item must be there. A reservation whose ack was never
// sent must be there, ready again. Delivery counts are checked too: each item's is the last
// inventory's plus this run's reservations plus the inventory's own (one more for the items a
// reserve whose reply never came had taken, at most its n), which is also how the checker
// knows which items were reserved, not ready, at the kill.
//
// Kill moments and the clients' choices come from one seed, printed with the result;
// DEPOT_KILL_SEED=<seed> replays them (thread timing differs from run to run) and
// DEPOT_KILLS=<n> changes how many kills a run makes. Nothing here sleeps and then asserts:
// the only sleep is the random moment of each kill; every wait is a bounded poll.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "depot/client/client.h"
#include "durable_manager.h"
#include "support.h"

using namespace std::chrono_literals;
using depot::RawQueue;
using test::bin;
using test::Process;
namespace fs = std::filesystem;
using test::TempDir;

namespace {

const std::string kKey = "kill-key";
constexpr int kClients = 8;
constexpr int kQueues = 3;
const std::vector<std::string> kQueueNames = {"k0", "k1", "k2"};
// Compactions every few runs, so that kills land in them too (docs/durability.md, Compaction).
const std::vector<std::string> kCompactOften = {
    "--fsync", "always", "--compact-min-bytes", "32768", "--compact-percent", "50"};
// A reservation outlives every run: only the end of its session (the kill) gives it back.
constexpr auto kVisibility = std::chrono::milliseconds(10 * 60 * 1000);

depot::ClientOptions no_reconnect() {
  depot::ClientOptions o;
  o.reconnect = false;
  o.quiet = true;
  return o;
}

// A manager on `dir` (tests/durable_manager.h) and clients that do not reconnect.
struct Daemon : test::Daemon {
  Daemon(const std::string& dir, const std::vector<std::string>& extra,
         const std::vector<std::string>& env)
      : test::Daemon(dir, extra, env, kKey) {}
  std::unique_ptr<depot::Client> client() {
    return std::make_unique<depot::Client>(address, kKey, no_reconnect());
  }
};

// An item is "p<producer>-<seq>": unique, and its producer's order is in its name.
std::string item_name(int producer, uint64_t seq) {
  return "p" + std::to_string(producer) + "-" + std::to_string(seq);
}
bool parse_item(const std::string& s, int& producer, uint64_t& seq) {
  const size_t dash = s.find('-');
  if (s.size() < 4 || s[0] != 'p' || dash == std::string::npos || dash < 2) return false;
  try {
    producer = std::stoi(s.substr(1, dash - 1));
    seq = std::stoull(s.substr(dash + 1));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// What one client was told during one run of the manager (from a start to the next kill).
struct RunLog {
  using Items = std::vector<std::pair<int, std::string>>;  // (queue, item)
  Items put_ok;                                            // put answered OK
  Items put_lost;  // put sent, no reply (the kill came first): may or may not be there
  Items got;       // a get's reply delivered them: consumed
  Items reserved;  // a reserve's reply delivered them
  Items acked;     // their ack was answered (true): consumed
  Items ack_lost;  // their ack was sent, no reply: consumed or not
  Items held;      // reserved, and no ack was ever sent: must come back
  std::vector<std::pair<int, size_t>> get_lost;      // (queue, n): a get sent, no reply
  std::vector<std::pair<int, size_t>> reserve_lost;  // (queue, n): a reserve sent, no reply
  Items delivered;                                   // gets and reserves, in the order of replies
  size_t ack_refused = 0;                            // acks answered false (none should be)
  std::string error;                                 // an unexpected exception
};

// One client thread's life across runs: its producer number, its sequence, its choices.
struct Worker {
  int id = 0;
  uint64_t seq = 0;
  std::mt19937_64 rng;
  std::atomic<size_t> ops{0};  // requests answered in the current run

  // Puts, gets, reserves and acks until the manager goes away (or `stop`, or a bound).
  void run(const std::string& address, RunLog& log, const std::atomic<bool>& stop) {
    ops = 0;
    enum class Doing { NOTHING, PUT, GET, RESERVE, ACK } doing = Doing::NOTHING;
    int q = 0;
    std::string item;
    size_t n = 0;
    struct Held {
      int queue;
      uint64_t id;
      std::string item;
    };
    std::vector<Held> holding;  // reservations not acked yet
    std::vector<Held> acking;   // the ack in flight
    auto ack = [&](depot::Client& c, std::vector<Held> batch) {
      acking = std::move(batch);
      doing = Doing::ACK;
      std::vector<uint64_t> ids;
      for (auto& h : acking) ids.push_back(h.id);
      const size_t done =
          RawQueue(c, kQueueNames[static_cast<size_t>(acking[0].queue)]).ack_many(ids);
      if (done == ids.size()) {
        for (auto& h : acking) log.acked.emplace_back(h.queue, h.item);
      } else {
        // Which ones were refused is not said: none should be; the checker counts it.
        log.ack_refused += ids.size() - done;
        for (auto& h : acking) log.ack_lost.emplace_back(h.queue, h.item);
      }
      acking.clear();
    };
    try {
      depot::Client c(address, kKey, no_reconnect());
      // The mix: 60 % puts, 18 % gets of 1-2, 18 % reserves of 1-2 (half acked at once, half
      // held a while), 4 % acks of held ones: a little more is put than taken, so the queues
      // keep a backlog for the order checks. Bounded: the kill comes well before the end.
      for (size_t step = 0; step < 1'000'000 && !stop.load(); ++step) {
        const unsigned roll = static_cast<unsigned>(rng() % 100);
        q = static_cast<int>(rng() % kQueues);
        RawQueue queue(c, kQueueNames[static_cast<size_t>(q)]);
        if (roll < 60) {
          item = item_name(id, seq++);
          doing = Doing::PUT;
          queue.put(item);
          log.put_ok.emplace_back(q, item);
        } else if (roll < 78) {
          n = 1 + rng() % 2;
          doing = Doing::GET;
          for (auto& got : queue.get_many(n, std::chrono::nanoseconds(0))) {
            log.got.emplace_back(q, got);
            log.delivered.emplace_back(q, std::move(got));
          }
        } else if (roll < 96) {
          n = 1 + rng() % 2;
          doing = Doing::RESERVE;
          auto rs = queue.reserve_many(n, std::chrono::nanoseconds(0), kVisibility);
          std::vector<Held> batch;
          for (auto& r : rs) {
            log.reserved.emplace_back(q, r.item);
            log.delivered.emplace_back(q, r.item);
            batch.push_back({q, r.id, r.item});
          }
          // Half are acked at once; the others are held a while, so that kills find some.
          if (!batch.empty() && rng() % 2 == 0)
            ack(c, std::move(batch));
          else
            for (auto& h : batch) holding.push_back(std::move(h));
        } else if (!holding.empty()) {
          // The held reservations of the oldest one's queue.
          std::vector<Held> batch, rest;
          for (auto& h : holding) (h.queue == holding[0].queue ? batch : rest).push_back(h);
          holding = std::move(rest);
          ack(c, std::move(batch));
        }
        doing = Doing::NOTHING;
        ++ops;
      }
    } catch (const depot::ConnectionError&) {
      // The kill: the request under way had no reply.
      switch (doing) {
        case Doing::PUT:
          log.put_lost.emplace_back(q, item);
          break;
        case Doing::GET:
          log.get_lost.emplace_back(q, n);
          break;
        case Doing::ACK:
          for (auto& h : acking) log.ack_lost.emplace_back(h.queue, h.item);
          break;
        case Doing::RESERVE:  // what it reserved, if anything, comes back
          log.reserve_lost.emplace_back(q, n);
          break;
        case Doing::NOTHING:
          break;
      }
    } catch (const std::exception& e) {
      log.error = std::string("client ") + std::to_string(id) + ": " + e.what();
    }
    for (auto& h : holding) log.held.emplace_back(h.queue, h.item);
  }
};

// The checker's counts, over every run.
struct Counts {
  size_t kills = 0;
  size_t puts_acked = 0;
  size_t lost = 0;                // acknowledged, not consumed, gone (no in-flight get explains it)
  size_t held_lost = 0;           // reserved, never acked, did not come back
  size_t consumed_came_back = 0;  // a get reply or an answered ack, there again
  size_t never_put = 0;           // an item nobody put (or in a queue it was not put into)
  size_t resurrected = 0;         // gone at one inventory, there at a later one
  size_t delivered_twice = 0;     // two deliveries of one item in one run, or two gets ever
  size_t out_of_order = 0;        // a producer's items out of order (a queue, or one consumer)
  size_t ack_refused = 0;
  size_t wrong_deliveries = 0;  // a delivery count that is not what the reservations made it
  size_t puts_in_flight = 0, puts_in_flight_there = 0;
  size_t held = 0, held_came_back = 0;
  size_t acks_in_flight = 0, acks_in_flight_there = 0;
  size_t gets_in_flight = 0, taken_by_gets_in_flight = 0;
  size_t drained = 0;
  size_t syncs_undone = 0;            // under lose_unsynced: fdatasyncs under way at a kill, undone
  std::vector<std::string> problems;  // the first few, with the item and the kill

  void note(const std::string& p) {
    if (problems.size() < 12) problems.push_back(p);
  }
  size_t all_lost() const { return lost + held_lost; }
  size_t violations() const {
    return consumed_came_back + never_put + resurrected + delivered_twice + out_of_order +
           ack_refused + wrong_deliveries;
  }
};

// What the checker knows across runs.
struct Model {
  std::vector<std::vector<std::string>> state = std::vector<std::vector<std::string>>(kQueues);
  std::unordered_map<std::string, int> put_into;         // every item sent in a put -> its queue
  std::unordered_set<std::string> consumed;              // get replies and answered acks, ever
  std::unordered_map<std::string, uint32_t> deliveries;  // as the last inventory saw them
  Counts counts;

  // Compares the inventory after a restart with the state before the run and the run's logs.
  // `now_deliveries`: each item's delivery count in the inventory (its own reservation
  // included); nullptr skips the checks that need it.
  void check_run(size_t run, const std::vector<RunLog>& logs,
                 const std::vector<std::vector<std::string>>& now,
                 const std::unordered_map<std::string, uint32_t>* now_deliveries = nullptr) {
    const std::string at = " (after kill " + std::to_string(run + 1) + ")";
    std::unordered_set<std::string> possible;  // may be there now
    for (auto& q : state) possible.insert(q.begin(), q.end());
    std::unordered_set<std::string> consumed_now, ack_lost, held;
    std::vector<size_t> get_slots(kQueues, 0), reserve_slots(kQueues, 0);
    std::unordered_map<std::string, uint32_t> reserved;  // reservations answered in this run
    for (auto& log : logs) {
      for (auto& [q, it] : log.reserved) ++reserved[it];
      for (auto& [q, n] : log.reserve_lost) reserve_slots[static_cast<size_t>(q)] += n;
      counts.ack_refused += log.ack_refused;
      if (log.ack_refused) counts.note("an ack was answered false" + at);
      for (auto& [q, it] : log.put_ok) put_into[it] = q, possible.insert(it);
      for (auto& [q, it] : log.put_lost) put_into[it] = q, possible.insert(it);
      counts.puts_acked += log.put_ok.size();
      counts.puts_in_flight += log.put_lost.size();
      for (auto& [q, it] : log.got) consumed_now.insert(it);
      for (auto& [q, it] : log.acked) consumed_now.insert(it);
      for (auto& [q, it] : log.ack_lost) ack_lost.insert(it);
      for (auto& [q, it] : log.held) held.insert(it);
      for (auto& [q, n] : log.get_lost) get_slots[static_cast<size_t>(q)] += n;
      counts.gets_in_flight += log.get_lost.size();
      counts.held += log.held.size();
      counts.acks_in_flight += log.ack_lost.size();
    }
    // What was delivered in this run: each item once (nothing is given back before the kill),
    // each from where it was put, never one consumed before, and each consumer sees a
    // producer's items of a queue in order.
    std::unordered_set<std::string> delivered;
    for (size_t c = 0; c < logs.size(); ++c) {
      std::map<std::pair<int, int>, uint64_t> last;  // (queue, producer) -> seq
      for (auto& [q, it] : logs[c].delivered) {
        if (!delivered.insert(it).second) {
          ++counts.delivered_twice;
          counts.note(it + " delivered twice in one run" + at);
        }
        check_item(q, it, possible, at, "delivered to client " + std::to_string(c));
        int p;
        uint64_t s;
        if (parse_item(it, p, s)) {
          auto [pos, fresh] = last.emplace(std::make_pair(q, p), s);
          if (!fresh && s <= pos->second) {
            ++counts.out_of_order;
            counts.note(it + " delivered to client " + std::to_string(c) + " after seq " +
                        std::to_string(pos->second) + " of its producer" + at);
          }
          pos->second = s;
        }
      }
    }
    for (auto& it : consumed_now) {
      if (consumed.count(it)) {
        ++counts.delivered_twice;
        counts.note(it + " consumed twice (a get reply or an answered ack, in two runs)" + at);
      }
    }
    consumed.insert(consumed_now.begin(), consumed_now.end());
    // The inventory: nothing that was consumed, never put or gone before; each producer's
    // items in order; every acknowledged item that was not consumed.
    for (size_t q = 0; q < now.size(); ++q) {
      std::unordered_set<std::string> seen;
      std::map<int, uint64_t> last;
      for (auto& it : now[q]) {
        if (!seen.insert(it).second) {
          ++counts.delivered_twice;
          counts.note(it + " twice in " + kQueueNames[q] + at);
        }
        check_item(static_cast<int>(q), it, possible, at, "in " + kQueueNames[q]);
        int p;
        uint64_t s;
        if (parse_item(it, p, s)) {
          auto [pos, fresh] = last.emplace(p, s);
          if (!fresh && s <= pos->second) {
            ++counts.out_of_order;
            counts.note(it + " after seq " + std::to_string(pos->second) + " of its producer in " +
                        kQueueNames[q] + at);
          }
          pos->second = s;
        }
      }
      // Delivery counts: the last inventory's, plus this run's reservations, plus this
      // inventory's own; one more for an item a reserve whose reply never came had taken (at
      // most its n, on its queue). Those, and the reserved ones, were not in the queue at the
      // kill: the others were, in order.
      std::unordered_set<std::string> reserved_unseen;
      std::map<int, uint64_t> oldest_ready;  // producer -> lowest seq that was ready at the kill
      for (auto& it : now[q]) {
        bool was_reserved = reserved.count(it) > 0;
        if (now_deliveries) {
          auto prev = deliveries.find(it);
          auto r = reserved.find(it);
          const uint64_t expect = (prev == deliveries.end() ? 0 : prev->second) +
                                  (r == reserved.end() ? 0 : r->second) + 1;
          auto d = now_deliveries->find(it);
          const uint64_t got = d == now_deliveries->end() ? 0 : d->second;
          if (got == expect + 1 && reserved_unseen.size() < reserve_slots[q]) {
            reserved_unseen.insert(it);
            was_reserved = true;
          } else if (got != expect) {
            ++counts.wrong_deliveries;
            counts.note(it + " has delivery count " + std::to_string(got) + " in " +
                        kQueueNames[q] + ", not " + std::to_string(expect) + at);
          }
        }
        int p;
        uint64_t sq;
        if (!was_reserved && parse_item(it, p, sq)) {
          auto [pos, fresh] = oldest_ready.emplace(p, sq);
          if (!fresh) pos->second = std::min(pos->second, sq);
        }
      }
      std::vector<std::string> required = state[q];
      for (auto& log : logs)
        for (auto& [lq, it] : log.put_ok)
          if (static_cast<size_t>(lq) == q) required.push_back(it);
      size_t missing = 0;
      for (auto& it : required) {
        if (consumed_now.count(it) || ack_lost.count(it) || seen.count(it)) continue;
        if (held.count(it)) {
          ++counts.held_lost;
          counts.note(it + " was reserved and never acked, and did not come back in " +
                      kQueueNames[q] + at);
        } else {
          // A get whose reply never came took head items: not one behind an older item of
          // its producer that was still ready then.
          int p;
          uint64_t sq;
          auto older = parse_item(it, p, sq) ? oldest_ready.find(p) : oldest_ready.end();
          if (now_deliveries && older != oldest_ready.end() && older->second < sq) {
            ++counts.lost;
            counts.note(it + " acknowledged, never consumed, gone, while seq " +
                        std::to_string(older->second) + " of its producer stayed" + at);
            continue;
          }
          ++missing;
          if (missing > get_slots[q]) counts.note(it + " acknowledged, never consumed, gone" + at);
        }
      }
      const size_t explained = std::min(missing, get_slots[q]);
      counts.taken_by_gets_in_flight += explained;
      counts.lost += missing - explained;
    }
    for (auto& log : logs) {
      for (auto& [q, it] : log.put_lost)
        if (in(now, q, it)) ++counts.puts_in_flight_there;
      for (auto& [q, it] : log.held)
        if (in(now, q, it)) ++counts.held_came_back;
      for (auto& [q, it] : log.ack_lost)
        if (in(now, q, it)) ++counts.acks_in_flight_there;
    }
    state = now;
    if (now_deliveries) deliveries = *now_deliveries;
  }

  // An item seen now (delivered or in a queue): put into that queue, not consumed before, and
  // not gone at the last inventory.
  void check_item(int q, const std::string& it, const std::unordered_set<std::string>& possible,
                  const std::string& at, const std::string& where) {
    auto put = put_into.find(it);
    if (put == put_into.end() || put->second != q) {
      ++counts.never_put;
      counts.note(it + " " + where + " was never put there" + at);
    } else if (consumed.count(it)) {
      ++counts.consumed_came_back;
      counts.note(it + " " + where + " was consumed before" + at);
    } else if (!possible.count(it)) {
      ++counts.resurrected;
      counts.note(it + " " + where + " was gone at the inventory before" + at);
    }
  }

  static bool in(const std::vector<std::vector<std::string>>& now, int q, const std::string& it) {
    auto& v = now[static_cast<size_t>(q)];
    return std::find(v.begin(), v.end(), it) != v.end();
  }
};

// Every queue's items in order, without taking them: reserved all, then given back by ending
// the session (back at the head, oldest first), and the give-back seen in LIST.
std::vector<std::vector<std::string>> inventory(
    Daemon& m, std::unordered_map<std::string, uint32_t>& deliveries) {
  std::vector<std::vector<std::string>> out(kQueues);
  deliveries.clear();
  {
    auto c = m.client();
    for (size_t q = 0; q < kQueues; ++q) {
      RawQueue rq(*c, kQueueNames[q]);
      for (int round = 0; round < 100'000; ++round) {
        auto rs = rq.reserve_many(1000, std::chrono::nanoseconds(0), kVisibility);
        if (rs.empty()) break;
        for (auto& r : rs) {
          deliveries[r.item] = r.deliveries;
          out[q].push_back(r.item);
        }
      }
    }
  }
  auto c = m.client();
  const bool back = test::eventually([&] {
    for (auto& o : c->list())
      if (test::state_field(o.state, "reserved")) return false;
    return true;
  });
  if (!back) throw std::runtime_error("the inventory's reservations did not come back");
  return out;
}

// Takes everything for good, in order.
std::vector<std::vector<std::string>> drain_all(Daemon& m) {
  std::vector<std::vector<std::string>> out(kQueues);
  auto c = m.client();
  for (size_t q = 0; q < kQueues; ++q) {
    RawQueue rq(*c, kQueueNames[q]);
    for (int round = 0; round < 100'000; ++round) {
      auto got = rq.get_many(1000, std::chrono::nanoseconds(0));
      if (got.empty()) break;
      out[q].insert(out[q].end(), got.begin(), got.end());
    }
  }
  return out;
}

// The inventory and the drain wait for replies with no deadline (a call with a zero timeout
// has none: its answer is due at once, whenever it comes). A manager that stops answering must
// fail the run, not hang it: past kStepLimit a watchdog SIGKILLs the manager, which ends every
// call waiting on it (ConnectionError), and the step fails saying what happened. (The load
// needs none: it ends with the kill, and waits for the clients' replies at most 30 s.)
constexpr auto kStepLimit = std::chrono::seconds(60);

template <class F>
auto bounded_step(Daemon& m, const std::string& step, F&& fn) -> decltype(fn()) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false, fired = false;
  std::thread dog([&] {
    std::unique_lock lk(mu);
    if (cv.wait_for(lk, kStepLimit, [&] { return done; })) return;
    fired = true;
    // Nothing else touches the process meanwhile: this thread alone may reap it here.
    if (m.proc->running()) m.proc->kill(SIGKILL);
  });
  std::optional<decltype(fn())> result;
  std::exception_ptr error;
  try {
    result.emplace(fn());
  } catch (...) {
    error = std::current_exception();
  }
  {
    std::lock_guard lk(mu);
    done = true;
  }
  cv.notify_one();
  dog.join();
  if (fired) {
    std::string why;
    try {
      if (error) std::rethrow_exception(error);
    } catch (const std::exception& e) {
      why = std::string(" (then: ") + e.what() + ")";
    }
    FAIL(step << ": the manager stopped answering; no reply within " << kStepLimit.count()
              << " s, so it was SIGKILLed to end the wait" << why);
  }
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::stoull(v) : fallback;
}

// `kills` runs of the manager on one directory, each killed at a random moment under load,
// then one more start: the inventory after each restart checked; at the end everything drained.
Counts kill_under_load(const std::string& label, size_t kills,
                       const std::vector<std::string>& extra, const std::vector<std::string>& env) {
  const uint64_t seed = env_or("DEPOT_KILL_SEED", std::random_device{}());
  kills = env_or("DEPOT_KILLS", kills);
  INFO(label << ": seed " << seed << " (DEPOT_KILL_SEED=" << seed << " replays the choices)");
  std::mt19937_64 rng(seed);
  TempDir d;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < kClients; ++i) {
    workers.push_back(std::make_unique<Worker>());
    workers.back()->id = i;
    workers.back()->rng.seed(seed * 31 + static_cast<uint64_t>(i) + 1);
  }
  Model model;
  std::vector<RunLog> logs;
  std::set<std::string> snapshots;  // compactions that finished, as seen at the restarts
  for (size_t run = 0; run <= kills; ++run) {
    Daemon m(d.path, extra, env);
    INFO("start " << run << ": " << m.proc->out() << m.proc->err());
    REQUIRE(m.ready());
    model.counts.syncs_undone += test::count_of(m.proc->err(), "lose_unsynced: undid a sync");
    for (auto& e : fs::directory_iterator(d.path)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("snapshot.", 0) == 0 && name.find(".tmp") == std::string::npos)
        snapshots.insert(name);
    }
    std::unordered_map<std::string, uint32_t> deliveries;
    const auto now = bounded_step(m, "the inventory after start " + std::to_string(run),
                                  [&] { return inventory(m, deliveries); });
    if (run > 0) model.check_run(run - 1, logs, now, &deliveries);
    model.deliveries = deliveries;
    if (run == kills) {
      // The end: the inventory was the final state; taking it all must give exactly it.
      const auto drained = bounded_step(m, "the drain", [&] { return drain_all(m); });
      for (size_t q = 0; q < kQueues; ++q) {
        model.counts.drained += drained[q].size();
        INFO("drained " << kQueueNames[q]);
        REQUIRE(drained[q] == now[q]);
      }
      for (auto& q : drained)
        for (auto& it : q) model.consumed.insert(it);
      break;
    }
    logs.assign(kClients, RunLog{});
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i)
      threads.emplace_back([&, i] {
        workers[static_cast<size_t>(i)]->run(m.address, logs[static_cast<size_t>(i)], stop);
      });
    // Under load: every client has had a few replies, then a random moment.
    const bool loaded = test::eventually(
        [&] {
          for (auto& w : workers)
            if (w->ops.load() < 10) return false;
          return true;
        },
        30s);
    const auto delay = std::chrono::microseconds(rng() % 300'000);
    std::this_thread::sleep_for(delay);
    const int code = m.crash();
    stop = true;
    for (auto& t : threads) t.join();
    ++model.counts.kills;
    for (auto& log : logs) {
      INFO("run " << run);
      REQUIRE(log.error == "");
    }
    INFO("run " << run << ": the clients never all had 10 replies within 30 s");
    REQUIRE(loaded);
    REQUIRE(code == 128 + SIGKILL);
  }
  const Counts& c = model.counts;
  std::ostringstream line;
  line << "kill test (" << label << "): " << c.kills << " kills, seed " << seed << ", "
       << c.puts_acked << " puts acknowledged, " << c.all_lost() << " lost, "
       << c.consumed_came_back << " consumed came back, " << c.never_put << " never put, "
       << c.delivered_twice << " delivered twice, " << c.out_of_order << " out of order, "
       << c.wrong_deliveries << " wrong delivery counts; " << c.puts_in_flight
       << " puts in flight at a kill (" << c.puts_in_flight_there << " there after), " << c.held
       << " reservations held at a kill (" << c.held_came_back << " came back), "
       << c.acks_in_flight << " acks in flight (" << c.acks_in_flight_there << " came back), "
       << c.taken_by_gets_in_flight << " items taken by " << c.gets_in_flight << " gets in flight, "
       << c.drained << " drained at the end, " << snapshots.size() << " snapshots seen";
  if (!env.empty()) line << ", " << c.syncs_undone << " syncs under way at a kill undone";
  std::printf("%s\n", line.str().c_str());
  for (auto& p : c.problems) std::printf("  %s\n", p.c_str());
  std::fflush(stdout);
  return c;
}

// The manager's environment under lose_unsynced; its undo directory (outside the data
// directory) makes a sync under way at a kill lost too.
std::vector<std::string> under_shim(const std::string& undo_dir) {
  // A sanitized build preloads its runtime first (tests/store/CMakeLists.txt).
  const std::string first = DEPOT_PRELOAD_FIRST;
  return {"LD_PRELOAD=" + (first.empty() ? "" : first + ":") + DEPOT_LOSE_UNSYNCED,
          "LOSE_UNSYNCED_UNDO=" + undo_dir};
}

}  // namespace

SCENARIO("SIGKILLs at random moments under load lose no acknowledged write", "[store][kill]") {
  GIVEN("8 clients putting, getting, reserving and acking on 3 queues, fsync always") {
    const Counts c = kill_under_load("SIGKILL, fsync always", 25, kCompactOften, {});
    THEN("every acknowledged put survived or was consumed, and nothing came back or appeared") {
      REQUIRE(c.kills == env_or("DEPOT_KILLS", 25));  // every planned kill happened
      REQUIRE(c.puts_acked > 0);
      REQUIRE(c.all_lost() == 0);
      REQUIRE(c.violations() == 0);
      REQUIRE(c.held_came_back == c.held);
    }
  }
}

// The checker on runs made up by hand: each kind of violation is counted (so a zero from the
// kill tests means something), and what a reply that never came allows is allowed.
SCENARIO("the kill test's checker counts each kind of violation", "[store][kill][checker]") {
  Model model;
  RunLog log;
  log.put_ok = {{0, "p0-0"}, {0, "p0-1"}, {0, "p0-2"}, {1, "p1-0"}};
  log.got = {{0, "p0-0"}};
  log.delivered = {{0, "p0-0"}};
  std::vector<std::vector<std::string>> now = {{"p0-1", "p0-2"}, {"p1-0"}, {}};
  // Each item's delivery count in the inventory: 1, the inventory's own reservation.
  std::unordered_map<std::string, uint32_t> d = {{"p0-1", 1}, {"p0-2", 1}, {"p1-0", 1}};
  auto check = [&] {
    model.check_run(0, {log}, now, &d);
    return model.counts;
  };
  WHEN("the inventory holds what was acknowledged and not consumed") {
    const Counts c = check();
    THEN("nothing is counted") {
      REQUIRE(c.all_lost() == 0);
      REQUIRE(c.violations() == 0);
      REQUIRE(c.puts_acked == 4);
    }
  }
  WHEN("an acknowledged put is missing") {
    now[0] = {"p0-1"};
    REQUIRE(check().lost == 1);
  }
  WHEN("an acknowledged put is missing and a get of 1 on its queue had no reply") {
    now[0] = {"p0-2"};
    log.get_lost = {{0, 1}};
    const Counts c = check();
    THEN("the get may have taken it") {
      REQUIRE(c.lost == 0);
      REQUIRE(c.taken_by_gets_in_flight == 1);
    }
  }
  WHEN("a get of 1 had no reply, and the item missing was behind an older one still ready") {
    now[0] = {"p0-1"};
    log.get_lost = {{0, 1}};
    THEN("the get cannot have taken it") {
      REQUIRE(check().lost == 1);
    }
  }
  WHEN("it was behind an older one that a reserve without reply had taken") {
    now[0] = {"p0-1"};
    d["p0-1"] = 2;  // the reserve's delivery, then the inventory's
    log.get_lost = {{0, 1}};
    log.reserve_lost = {{0, 1}};
    const Counts c = check();
    REQUIRE(c.lost == 0);
    REQUIRE(c.violations() == 0);
  }
  WHEN("a delivery count is not what the reservations made it") {
    d["p1-0"] = 3;
    REQUIRE(check().wrong_deliveries == 1);
  }
  WHEN("a delivery count is one more, and no reserve lost its reply") {
    d["p1-0"] = 2;
    REQUIRE(check().wrong_deliveries == 1);
  }
  WHEN("a reservation held at the kill came back") {
    log.reserved = {{1, "p1-0"}};
    log.delivered.push_back({1, "p1-0"});
    log.held = {{1, "p1-0"}};
    d["p1-0"] = 2;
    const Counts c = check();
    REQUIRE(c.all_lost() == 0);
    REQUIRE(c.violations() == 0);
    REQUIRE(c.held_came_back == 1);
  }
  WHEN("two are missing and a get of 1 had no reply") {
    now[0] = {};
    log.get_lost = {{0, 1}};
    REQUIRE(check().lost == 1);
  }
  WHEN("a get without reply was on another queue") {
    now[0] = {"p0-1"};
    log.get_lost = {{2, 3}};
    REQUIRE(check().lost == 1);
  }
  WHEN("a reservation never acked did not come back") {
    log.reserved = {{1, "p1-0"}};
    log.delivered.push_back({1, "p1-0"});
    log.held = {{1, "p1-0"}};
    now[1] = {};
    REQUIRE(check().held_lost == 1);
  }
  WHEN("an item whose ack had no reply is gone") {
    log.reserved = {{1, "p1-0"}};
    log.delivered.push_back({1, "p1-0"});
    log.ack_lost = {{1, "p1-0"}};
    now[1] = {};
    const Counts c = check();
    REQUIRE(c.all_lost() == 0);
    REQUIRE(c.violations() == 0);
  }
  WHEN("a consumed item is there again") {
    now[0] = {"p0-0", "p0-1", "p0-2"};
    REQUIRE(check().consumed_came_back == 1);
  }
  WHEN("an item nobody put is there") {
    now[2] = {"p7-7"};
    REQUIRE(check().never_put == 1);
  }
  WHEN("an item is in a queue it was not put into") {
    now[1] = {"p1-0", "p0-2"};
    now[0] = {"p0-1"};
    REQUIRE(check().never_put == 1);
  }
  WHEN("a producer's items are out of order") {
    now[0] = {"p0-2", "p0-1"};
    REQUIRE(check().out_of_order == 1);
  }
  WHEN("one item is delivered twice in a run") {
    log.delivered.push_back({0, "p0-0"});
    REQUIRE(check().delivered_twice == 1);
  }
  WHEN("a put whose reply never came is there or not") {
    log.put_lost = {{2, "p0-3"}};
    const bool there = GENERATE(false, true);
    if (there) {
      now[2] = {"p0-3"};
      d["p0-3"] = 1;
    }
    const Counts c = check();
    REQUIRE(c.all_lost() == 0);
    REQUIRE(c.violations() == 0);
    REQUIRE(c.puts_in_flight_there == (there ? 1u : 0u));
  }
  WHEN("an item gone at one inventory is there at the next") {
    const std::vector<std::vector<std::string>> gone = {{"p0-2"}, {"p1-0"}, {}};
    d.erase("p0-1");
    model.check_run(0, {log}, gone, &d);  // p0-1 lost at the first kill
    REQUIRE(model.counts.lost == 1);
    d = {{"p0-1", 1}, {"p0-2", 2}, {"p1-0", 2}};
    model.check_run(1, {RunLog{}}, {{"p0-1", "p0-2"}, {"p1-0"}, {}}, &d);
    REQUIRE(model.counts.resurrected == 1);
  }
}

#ifdef DEPOT_LOSE_UNSYNCED
SCENARIO(
    "power cuts (unsynced writes lost) under load lose no acknowledged write with fsync always",
    "[store][kill][power]") {
  GIVEN("the manager under lose_unsynced (log writes reach the file only at an fdatasync)") {
    TempDir undo;
    const Counts c =
        kill_under_load("power cut, fsync always", 25, kCompactOften, under_shim(undo.path));
    THEN("every acknowledged put survived or was consumed, and nothing came back or appeared") {
      REQUIRE(c.kills == env_or("DEPOT_KILLS", 25));  // every planned kill happened
      REQUIRE(c.puts_acked > 0);
      REQUIRE(c.all_lost() == 0);
      REQUIRE(c.violations() == 0);
      REQUIRE(c.held_came_back == c.held);
    }
  }
}

// The checker is not blind: with --fsync no the manager never calls fdatasync, so under the
// shim every kill loses what its run acknowledged, and the same count must say so. (Under
// everysec a kill loses about the last second, which a short run may or may not reach.)
SCENARIO("the kill test's checker reports the losses of power cuts under fsync no",
         "[store][kill][power]") {
  GIVEN("the manager under lose_unsynced with --fsync no") {
    TempDir undo;
    const Counts c = kill_under_load("power cut, fsync no: losses expected", 3, {"--fsync", "no"},
                                     under_shim(undo.path));
    THEN("acknowledged puts are counted lost") {
      REQUIRE(c.puts_acked > 0);
      REQUIRE(c.all_lost() > 0);
    }
  }
}
#endif

// --------------------------------------------------------------------------- group commit

namespace {

struct Synced {
  long long fsyncs = 0, records = 0;
};
Synced synced(depot::Client& c) {
  const std::string s = c.stats();
  return {test::json_number(s, "fsyncs"), test::json_number(s, "log_records")};
}

}  // namespace

SCENARIO("group commit: concurrent puts share fdatasyncs, a lone client needs one per put",
         "[store][group-commit]") {
  TempDir d;
  Daemon m(d.path, {"--fsync", "always"}, {});
  REQUIRE(m.ready());
  auto admin = m.client();

  GIVEN("32 clients putting at once") {
    constexpr int kThreads = 32;
    constexpr int kEach = 50;
    std::vector<std::unique_ptr<depot::Client>> clients;
    for (int i = 0; i < kThreads; ++i) clients.push_back(m.client());
    const Synced before = synced(*admin);
    std::latch start(kThreads);
    std::atomic<long long> acked{0};
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        try {
          RawQueue q(*clients[static_cast<size_t>(i)], "gc");
          for (int k = 0; k < kEach; ++k) {
            q.put(item_name(i, static_cast<uint64_t>(k)));
            ++acked;
          }
        } catch (const std::exception& e) {
          errors[static_cast<size_t>(i)] = e.what();
        }
      });
    for (auto& t : threads) t.join();
    const Synced after = synced(*admin);
    const long long fsyncs = after.fsyncs - before.fsyncs;
    std::printf(
        "group commit: %lld puts acknowledged by %d clients, %lld fdatasyncs, %lld records\n",
        acked.load(), kThreads, fsyncs, after.records - before.records);
    std::fflush(stdout);
    for (auto& e : errors) REQUIRE(e == "");
    THEN("far fewer fdatasyncs than puts") {
      REQUIRE(acked == kThreads * kEach);
      REQUIRE(after.records - before.records >= acked);
      REQUIRE(fsyncs >= 1);
      REQUIRE(fsyncs * 2 < acked);
    }
  }
  GIVEN("one client putting alone") {
    constexpr long long kPuts = 200;
    const Synced before = synced(*admin);
    RawQueue q(*admin, "alone");
    for (long long k = 0; k < kPuts; ++k) q.put(item_name(0, static_cast<uint64_t>(k)));
    const Synced after = synced(*admin);
    const long long fsyncs = after.fsyncs - before.fsyncs;
    std::printf("group commit: %lld puts by one client, %lld fdatasyncs\n", kPuts, fsyncs);
    std::fflush(stdout);
    THEN("one fdatasync per put: each reply waited for its own, and none was made for nothing") {
      REQUIRE(fsyncs <= kPuts);
      REQUIRE(fsyncs >= kPuts);
    }
  }
}
