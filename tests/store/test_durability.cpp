// The data directory (docs/durability.md) through real depot-manager processes and clients:
// a clean restart and a SIGKILL keep every durable object's exact state; a torn tail is cut,
// damage in the middle refused (and depot-check-log --fix cuts it); missing or extra files;
// the directory lock; a crash at each step of a compaction; a full disk; depot-check-log.
// Nothing here sleeps and then asserts: every wait is a bounded poll of state.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "depot/client/client.h"
#include "depot/queue/journal.h"
#include "depot/queue/queue.h"
#include "depot/store/files.h"
#include "depot/store/scan.h"
#include "depot/store/store.h"
#include "durable_manager.h"
#include "support.h"

using namespace std::chrono_literals;
using depot::RawQueue;
using test::bin;
using test::Process;
using test::TempDir;
using test::unlocked;
namespace fs = std::filesystem;

namespace {

const std::string kKey = "durability-key";

// A manager on `dir` (tests/durable_manager.h) and clients that do not reconnect.
struct Daemon : test::Daemon {
  explicit Daemon(const std::string& dir, std::vector<std::string> extra = {},
                  std::vector<std::string> env = {})
      : test::Daemon(dir, std::move(extra), std::move(env), kKey) {}
  std::unique_ptr<depot::Client> client() {
    depot::ClientOptions o;
    o.reconnect = false;
    return std::make_unique<depot::Client>(address, kKey, o);
  }
};

std::string slurp(const std::string& path) {
  return depot::store::read_file(path);
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

// The names in a directory, LOCK aside, sorted.
std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "LOCK") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

const std::string kLog0 = depot::store::segment_name(0);

struct Record {
  size_t start = 0, size = 0;
  depot::Rec type{};
};
// The intact records at the start of `bytes`.
std::vector<Record> records_of(std::string_view bytes) {
  std::vector<Record> out;
  for (size_t off = 0; off < bytes.size();) {
    depot::RecordView v;
    if (depot::read_record(bytes.substr(off), v) != depot::ReadRecord::OK) break;
    out.push_back({off, v.size, v.type});
    off += v.size;
  }
  return out;
}

// The bytes of `log` up to the end of its last intact record: a segment is written into zeros
// laid down ahead of the records, so the file is longer than what it holds.
std::string records_part(const std::string& log) {
  const auto recs = records_of(log);
  return recs.empty() ? std::string() : log.substr(0, recs.back().start + recs.back().size);
}

// depot-check-log with `args`: its exit code; its output in `out`.
int check_log(const std::vector<std::string>& args, std::string* out = nullptr) {
  std::vector<std::string> argv{bin("depot-check-log")};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv);
  const int code = p.wait(30s);
  if (out) *out = p.out() + p.err();
  return code;
}

// Everything ready in a queue, in order (taken for good).
std::vector<std::string> drain(depot::Client& c, const std::string& name) {
  RawQueue q(c, name);
  std::vector<std::string> out;
  for (;;) {
    auto got = q.get_many(1000, std::chrono::nanoseconds(0));
    if (got.empty()) return out;
    out.insert(out.end(), got.begin(), got.end());
  }
}

std::vector<std::string> numbered(const std::string& prefix, size_t from, size_t to) {
  std::vector<std::string> out;
  for (size_t i = from; i < to; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

std::string state_of(depot::Client& c, const std::string& name) {
  for (auto& o : c.list())
    if (o.name == name) return o.state;
  return "(absent)";
}

// A data directory after a compaction: a manager with tiny thresholds, `n` puts into "q",
// stopped once a compaction has finished.
void compacted_dir(const std::string& dir, size_t n) {
  Daemon m(dir, {"--compact-min-bytes", "1000", "--compact-percent", "1"});
  REQUIRE(m.ready());
  auto c = m.client();
  RawQueue q(*c, "q");
  for (const auto& item : numbered("a", 0, n)) q.put(item);
  REQUIRE(test::eventually([&] {
    const std::string s = c->stats();
    return test::json_number(s, "compactions") >= 1 &&
           s.find("\"compacting\":false") != std::string::npos;
  }));
  c.reset();
  REQUIRE(m.stop() == 0);
}

// One snapshot, every segment at or after it, nothing temporary.
void require_tidy(const std::string& dir) {
  const auto l = depot::store::list_dir(dir);
  INFO("files: " << joined(files_in(dir)));
  REQUIRE(l.temporary.empty());
  REQUIRE(l.snapshots.size() <= 1);
  const uint64_t base = l.snapshots.empty() ? 0 : l.snapshots.front();
  REQUIRE(!l.segments.empty());
  REQUIRE(l.segments.front() == base);
}

}  // namespace

// ------------------------------------------------------------------ 2. a restart keeps it all

SCENARIO("every durable object comes back with its exact state after a restart",
         "[store][restart]") {
  const bool kill = GENERATE(false, true);
  INFO((kill ? "SIGKILL" : "clean stop"));
  TempDir d;
  uint64_t highest = 0;  // the highest token, id or version handed out before the restart
  uint64_t cfg_version = 0, gone_version = 0;
  const auto late_put = std::chrono::steady_clock::now();
  {
    Daemon m(d.path);
    REQUIRE(m.ready());
    auto c = m.client();
    RawQueue jobs(*c, "jobs");
    jobs.declare({100});
    depot::QueueConfig jc;
    jc.dedup_window = 600'000ms;
    jobs.configure(jc);
    jobs.put("n1", depot::PutOptions{});
    jobs.put("n2", depot::PutOptions{});
    jobs.put("hi", depot::PutOptions{-1, 0ms, ""});
    jobs.put("lo", depot::PutOptions{5, 0ms, ""});
    jobs.put("n3", depot::PutOptions{});
    REQUIRE(jobs.put("dd", depot::PutOptions{0, 0ms, "once"}));
    REQUIRE_FALSE(jobs.put("dd-again", depot::PutOptions{0, 0ms, "once"}));
    jobs.put("late", depot::PutOptions{0, 4000ms, ""});
    auto r1 = jobs.reserve();
    REQUIRE(r1.item == "hi");
    REQUIRE(jobs.nack(r1.id) == depot::NackResult::Requeued);
    auto r2 = jobs.reserve();  // held across the restart
    REQUIRE((r2.item == "hi" && r2.deliveries == 2));

    RawQueue poison(*c, "poison");
    depot::QueueConfig pc;
    pc.visibility = 400ms;
    pc.max_deliveries = 2;
    pc.dead_letter = "graveyard";
    poison.configure(pc);
    poison.put("p1");
    poison.put("p2");
    auto p = poison.reserve();
    REQUIRE(poison.nack(p.id) == depot::NackResult::Requeued);
    p = poison.reserve();
    REQUIRE((p.item == "p1" && p.deliveries == 2));
    REQUIRE(poison.nack(p.id) == depot::NackResult::DeadLettered);
    auto p2 = poison.reserve(std::nullopt, 600'000ms);  // held across the restart
    REQUIRE((p2.item == "p2" && p2.deliveries == 1));

    auto cfg = c->variable<std::string>("cfg");
    cfg_version = cfg.set("blue");
    auto gone = c->variable<std::string>("gone");
    gone.set("x");
    depot::RawVariable(*c, "gone").erase();
    {
      // The version of the delete: a compare-and-set against it must keep working.
      auto rv = depot::RawVariable(*c, "gone").compare_and_set(1, "no");
      REQUIRE_FALSE(rv.swapped);
      gone_version = rv.version;
    }
    REQUIRE(c->counter("hits").add(41) == 41);
    auto lk = c->lock("lk");
    const uint64_t token = lk.acquire();
    lk.release();
    highest = std::max({token, cfg_version, gone_version, r1.id, r2.id, p.id, p2.id});
    c.reset();
    REQUIRE((kill ? m.crash() : m.stop()) == (kill ? 128 + SIGKILL : 0));
  }

  Daemon m(d.path);
  REQUIRE(m.ready());
  INFO(m.storage());
  REQUIRE(m.storage().find("objects from") != std::string::npos);
  auto c = m.client();
  RawQueue jobs(*c, "jobs");
  REQUIRE(jobs.size().maxsize == 100);
  // The delayed item is still delayed (unless this machine took its 4 s to get here).
  bool late_seen = false;
  if (std::chrono::steady_clock::now() - late_put < 3s) {
    REQUIRE(test::state_has(state_of(*c, "jobs"), "delayed", 1));
    REQUIRE(jobs.size().size == 6);
  }
  // Priority order, the held reservation back at the head with its count, then FIFO.
  auto all = jobs.reserve_many(100, std::chrono::nanoseconds(0));
  std::vector<std::string> got;
  for (auto& r : all) {
    if (r.item == "late") {
      late_seen = true;
      continue;
    }
    got.push_back(r.item + "#" + std::to_string(r.deliveries));
  }
  REQUIRE(got == std::vector<std::string>{"hi#3", "n1#1", "n2#1", "n3#1", "dd#1", "lo#1"});
  for (auto& r : all) REQUIRE(jobs.ack(r.id));
  // The dedup id is still within its window.
  REQUIRE_FALSE(jobs.put("dd-3", depot::PutOptions{0, 0ms, "once"}));
  // The delayed item is released at its time.
  if (!late_seen) {
    std::optional<depot::RawReservation> late;
    REQUIRE(test::eventually([&] { return (late = jobs.try_reserve()).has_value(); }, 15s));
    REQUIRE((late->item == "late" && late->deliveries == 1));
  }

  // poison kept its settings: the reservation held at the stop is back with its count, its
  // visibility is 400 ms, and after its second delivery it goes to "graveyard".
  RawQueue poison(*c, "poison");
  auto p2 = poison.reserve(std::chrono::nanoseconds(0));
  REQUIRE((p2.item == "p2" && p2.deliveries == 2));
  RawQueue graveyard(*c, "graveyard");
  REQUIRE(test::eventually([&] { return graveyard.size().size == 2; }, 15s));
  std::vector<std::string> dead;
  for (auto& r : graveyard.reserve_many(10, std::chrono::nanoseconds(0)))
    dead.push_back(r.item + "#" + std::to_string(r.deliveries));
  REQUIRE(dead == std::vector<std::string>{"p1#3", "p2#3"});

  auto cfg = c->variable<std::string>("cfg").try_get_versioned();
  REQUIRE(cfg);
  REQUIRE(cfg->value == "blue");
  REQUIRE(cfg->version == cfg_version);
  REQUIRE(depot::RawVariable(*c, "cfg").compare_and_set(cfg_version, "green").swapped);
  REQUIRE_FALSE(depot::RawVariable(*c, "gone").try_get());
  REQUIRE(depot::RawVariable(*c, "gone").compare_and_set(gone_version, "back").swapped);
  REQUIRE(c->counter("hits").value() == 41);
  // The token counter: a fencing token after the restart is above every one before.
  auto lk = c->lock("lk");
  REQUIRE(lk.acquire() > highest);
  REQUIRE(c->variable<std::string>("cfg").set("red") > highest);
}

// ------------------------------------------------------------------ 3. a torn tail

namespace {

// A log written through a Store: queue "q" created, then one record per item.
std::string write_log(const std::string& dir, const std::vector<std::string>& items) {
  depot::Registry reg;
  depot::store::Options o;
  o.dir = dir;
  o.fsync = depot::store::Fsync::NO;
  o.compact_percent = 0;
  {
    depot::store::Store st(o, reg, {});
    auto q =
        reg.open<depot::Queue>("q", [&] { return std::make_unique<depot::Queue>(reg, "q", 0); });
    REQUIRE(q.ok());
    for (const auto& item : items) {
      q.value->put(item, depot::Wait::now_only(1),
                   [](depot::Status, uint32_t, std::string_view) {});
      st.write_pending();
    }
  }
  // The file as the records alone (the zeros written ahead of them cut off).
  const std::string log = records_part(slurp(dir + "/" + kLog0));
  REQUIRE(log.size() < fs::file_size(dir + "/" + kLog0));
  write_file(dir + "/" + kLog0, log);
  return log;
}

struct Opened {
  std::vector<std::string> items;
  depot::store::Stats stats;
  std::vector<std::string> warnings;
};
// Opens a Store on `dir` as a manager would at start-up, and reads queue "q".
Opened open_store(const std::string& dir) {
  Opened out;
  depot::Registry reg;
  depot::store::Options o;
  o.dir = dir;
  o.fsync = depot::store::Fsync::NO;
  o.compact_percent = 0;
  o.warn = [&](const std::string& m) { out.warnings.push_back(m); };
  depot::store::Store st(o, reg, {});
  out.stats = st.stats();
  if (auto q = reg.find<depot::Queue>("q"); q.ok())
    q.value->get_many(UINT32_MAX, depot::Wait::now_only(1),
                      [&](depot::Status, depot::Queue::Items items, std::string_view) {
                        out.items.assign(items.begin(), items.end());
                      });
  return out;
}

}  // namespace

SCENARIO("a log cut at any byte of its last records starts with exactly its whole records",
         "[store][torn]") {
  TempDir src;
  std::vector<std::string> items;
  for (int i = 0; i < 12; ++i)
    items.push_back("item" + std::to_string(i) + std::string(i * 3, '.'));
  const std::string log = write_log(src.path, items);
  const auto recs = records_of(log);
  REQUIRE(recs.back().start + recs.back().size == log.size());
  // The records: TOKENS, Q_CREATE, then one Q_ITEMS per item (a put with no consumer).
  const size_t first_item = recs.size() - items.size();
  REQUIRE(recs[first_item - 1].type == depot::Rec::Q_CREATE);
  for (size_t i = first_item; i < recs.size(); ++i) REQUIRE(recs[i].type == depot::Rec::Q_ITEMS);

  const size_t from = recs[recs.size() - 4].start;
  for (size_t cut = from; cut <= log.size(); ++cut)
    for (const size_t zeros : {size_t(0), size_t(4096)}) {
      // (zeros: the space written ahead of the records, as a real crash leaves the file)
      INFO("cut at " << cut << " of " << log.size() << ", then " << zeros << " zeros");
      // The whole records before the cut, and the end of the last.
      size_t whole = 0, boundary = 0;
      for (auto& r : recs)
        if (r.start + r.size <= cut) {
          ++whole;
          boundary = r.start + r.size;
        }
      TempDir d;
      write_file(d.file(kLog0), log.substr(0, cut) + std::string(zeros, '\0'));
      const Opened o = open_store(d.path);
      // What was written of the torn record, up to its last non-zero byte (zeros are free space).
      const size_t torn = log.substr(boundary, cut - boundary).find_last_not_of('\0') + 1;
      REQUIRE(o.stats.torn_bytes_dropped == torn);
      REQUIRE(o.items ==
              std::vector<std::string>(items.begin(),
                                       items.begin() + static_cast<ptrdiff_t>(whole - first_item)));
      if (torn > 0) {
        REQUIRE(o.warnings.size() == 1);
        REQUIRE_THAT(o.warnings[0], Catch::Contains("dropped the last " + std::to_string(torn) +
                                                    " bytes of " + d.file(kLog0)));
      } else {
        REQUIRE(o.warnings.empty());
      }
      // The file was cut at the last whole record; what follows is what this start recorded.
      const std::string after = slurp(d.file(kLog0));
      REQUIRE(after.substr(0, boundary) == log.substr(0, boundary));
      const depot::store::Scan s = depot::store::scan_records(
          after, [](const depot::RecordView&, size_t, std::string&) { return true; });
      REQUIRE(s.end == depot::store::Scan::End::CLEAN);
      REQUIRE(records_of(after).size() > whole);
    }

  WHEN("zeros follow the last record (a file system extended the file)") {
    const size_t zeros = GENERATE(1, 8, 9, 4096);
    TempDir d;
    write_file(d.file(kLog0), log + std::string(zeros, '\0'));
    const Opened o = open_store(d.path);
    THEN("they are free space: every record is read, nothing is dropped or warned of") {
      REQUIRE(o.stats.torn_bytes_dropped == 0);
      REQUIRE(o.warnings.empty());
      REQUIRE(o.items == items);
      REQUIRE(slurp(d.file(kLog0)).substr(0, log.size()) == log);
    }
  }
  WHEN("zeros stand in place of the last record") {
    TempDir d;
    const size_t last = recs.back().start;
    write_file(d.file(kLog0), log.substr(0, last) + std::string(recs.back().size, '\0'));
    const Opened o = open_store(d.path);
    THEN("it was never written: the records before it are read, no bytes are dropped") {
      REQUIRE(o.stats.torn_bytes_dropped == 0);
      REQUIRE(o.items == std::vector<std::string>(items.begin(), items.end() - 1));
    }
  }
}

SCENARIO("depot-manager drops a torn last record, says so, and serves the records before it",
         "[store][torn]") {
  TempDir d;
  {
    Daemon m(d.path);
    REQUIRE(m.ready());
    auto c = m.client();
    RawQueue q(*c, "q");
    for (auto& i : numbered("item", 0, 10)) q.put(i);
    c.reset();
    REQUIRE(m.crash() == 128 + SIGKILL);
  }
  const std::string file = slurp(d.file(kLog0));
  const std::string log = records_part(file);
  const auto recs = records_of(log);
  REQUIRE(log.size() < file.size());  // zeros written ahead of the records
  REQUIRE(recs.back().type == depot::Rec::Q_ITEMS);
  // The last record cut 5 bytes short, the zeros after it as they were: a crash mid-write.
  // What is left of it, up to its last non-zero byte, is what the manager counts as dropped.
  const size_t cut = log.size() - 5;
  const size_t dropped =
      log.substr(recs.back().start, recs.back().size - 5).find_last_not_of('\0') + 1;
  write_file(d.file(kLog0), log.substr(0, cut) + std::string(file.size() - cut, '\0'));

  Daemon m(d.path);
  REQUIRE(m.ready());
  REQUIRE_THAT(m.storage(), Catch::Contains("a torn last record of " + std::to_string(dropped) +
                                            " bytes dropped"));
  REQUIRE_THAT(m.proc->err(), Catch::Contains("dropped the last " + std::to_string(dropped) +
                                              " bytes of " + d.file(kLog0)));
  REQUIRE(slurp(d.file(kLog0)).substr(0, recs.back().start) == log.substr(0, recs.back().start));
  auto c = m.client();
  REQUIRE(drain(*c, "q") == numbered("item", 0, 9));
}

// ------------------------------------------------------------------ 4. damage in the middle

SCENARIO("damage in the middle of the log stops the start, and depot-check-log --fix cuts it there",
         "[store][damage]") {
  const std::string where = GENERATE(std::string("payload"), std::string("length"));
  INFO("a byte of the record's " << where << " flipped");
  TempDir d;
  {
    Daemon m(d.path);
    REQUIRE(m.ready());
    auto c = m.client();
    RawQueue q(*c, "q");
    for (auto& i : numbered("item", 0, 20)) q.put(i);
    c.reset();
    REQUIRE(m.stop() == 0);
  }
  const std::string path = d.file(kLog0);
  std::string log = slurp(path);
  const auto recs = records_of(log);
  // The record of item5: the sixth Q_ITEMS.
  size_t k = 0;
  for (size_t seen = 0; k < recs.size(); ++k)
    if (recs[k].type == depot::Rec::Q_ITEMS && seen++ == 5) break;
  REQUIRE(k + 5 < recs.size());
  const size_t at = recs[k].start;
  if (where == "payload")
    log[at + recs[k].size - 1] ^= 0x20;
  else
    log[at + 2] ^= 0x01;  // the length's third byte: 64 KiB longer
  write_file(path, log);

  {
    Daemon m(d.path);
    REQUIRE(m.proc->wait(30s) == 1);
    REQUIRE_FALSE(m.ready());
    const std::string err = m.proc->err();
    REQUIRE_THAT(err, Catch::Contains("log file " + path + " has a bad record at offset " +
                                      std::to_string(at)));
    REQUIRE_THAT(err, Catch::Contains("depot-check-log --fix " + path));
  }
  std::string out;
  REQUIRE(check_log({path}, &out) == 1);
  REQUIRE_THAT(out, Catch::Contains("at offset " + std::to_string(at)));
  REQUIRE_THAT(out, Catch::Contains("with intact records after it"));
  REQUIRE(slurp(path) == log);  // looking changes nothing
  REQUIRE(check_log({"--fix", path}, &out) == 0);
  REQUIRE_THAT(out, Catch::Contains("truncated " + path + " to " + std::to_string(at)));
  REQUIRE(fs::file_size(path) == at);
  REQUIRE(check_log({path}) == 0);

  Daemon m(d.path);
  REQUIRE(m.ready());
  auto c = m.client();
  REQUIRE(drain(*c, "q") == numbered("item", 0, 5));
}

SCENARIO("a start refused for damage leaves the directory unlocked for the next attempt",
         "[store][damage]") {
  TempDir d;
  const std::string log = write_log(d.path, numbered("item", 0, 20));
  const auto recs = records_of(log);
  std::string bad = log;
  bad[recs[5].start + recs[5].size - 1] ^= 0x20;
  write_file(d.file(kLog0), bad);
  {
    depot::Registry reg;
    depot::store::Options o;
    o.dir = d.path;
    REQUIRE_THROWS_WITH(
        depot::store::Store(o, reg, {}),
        Catch::Contains("has a bad record at offset " + std::to_string(recs[5].start)));
  }
  REQUIRE(unlocked(d.path));  // (an embedding program may fix the file and try again)
  REQUIRE(check_log({"--fix", d.file(kLog0)}) == 0);
  const Opened o = open_store(d.path);
  REQUIRE(o.items == numbered("item", 0, 5 - (recs.size() - 20)));
}

// ------------------------------------------------------------------ 5. files missing or extra

SCENARIO("a data directory with files missing, extra or in use", "[store][files]") {
  GIVEN("an empty log file") {
    TempDir d;
    write_file(d.file(kLog0), "");
    {
      Daemon m(d.path);
      REQUIRE(m.ready());
      REQUIRE_THAT(m.storage(), Catch::Contains("0 objects from 0 records"));
      auto c = m.client();
      RawQueue(*c, "q").put("x");
      c.reset();
      REQUIRE(m.stop() == 0);
    }
    Daemon m(d.path);
    REQUIRE(m.ready());
    auto c = m.client();
    REQUIRE(drain(*c, "q") == std::vector<std::string>{"x"});
  }
  GIVEN("a compacted directory") {
    TempDir d;
    compacted_dir(d.path, 200);
    const auto l = depot::store::list_dir(d.path);
    REQUIRE(l.snapshots.size() == 1);
    const uint64_t pos = l.snapshots[0];
    REQUIRE(pos > 0);
    INFO("files: " << joined(files_in(d.path)));
    REQUIRE(l.segments.front() == pos);  // the segments before it were removed

    WHEN("its snapshot is missing") {
      fs::remove(d.file(depot::store::snapshot_name(pos)));
      Daemon m(d.path);
      THEN("the manager refuses to start and says what is missing") {
        REQUIRE(m.proc->wait(30s) == 1);
        const std::string err = m.proc->err();
        REQUIRE_THAT(err, Catch::Contains("the log starts at " + depot::store::segment_name(pos)));
        REQUIRE_THAT(err, Catch::Contains("there is no " + depot::store::snapshot_name(pos)));
        REQUIRE_THAT(err, Catch::Contains("restore the directory from a backup"));
      }
    }
    WHEN("its snapshot is damaged") {
      std::string snap = slurp(d.file(depot::store::snapshot_name(pos)));
      snap[snap.size() / 2] ^= 0x40;
      write_file(d.file(depot::store::snapshot_name(pos)), snap);
      Daemon m(d.path);
      THEN("the manager refuses to start, naming the snapshot") {
        REQUIRE(m.proc->wait(30s) == 1);
        REQUIRE_THAT(m.proc->err(),
                     Catch::Contains("snapshot " + d.file(depot::store::snapshot_name(pos)) +
                                     " cannot be read"));
      }
    }
    WHEN("a snapshot being written was left behind") {
      const std::string tmp = d.file(depot::store::snapshot_name(pos + 100) + ".tmp");
      write_file(tmp, "half a snapshot");
      Daemon m(d.path);
      THEN("it is removed at start-up and the state is intact") {
        REQUIRE(m.ready());
        REQUIRE_FALSE(fs::exists(tmp));
        auto c = m.client();
        REQUIRE(drain(*c, "q") == numbered("a", 0, 200));
      }
    }
  }
  GIVEN("a gap between two segments") {
    TempDir d;
    {
      Daemon m(d.path);
      REQUIRE(m.ready());
      auto c = m.client();
      RawQueue(*c, "q").put("x");
      c.reset();
      REQUIRE(m.stop() == 0);
    }
    const uint64_t end = records_part(slurp(d.file(kLog0))).size();
    const std::string next = depot::store::segment_name(end + 64);
    write_file(d.file(next), "");
    Daemon m(d.path);
    THEN("the manager refuses to start") {
      REQUIRE(m.proc->wait(30s) == 1);
      REQUIRE_THAT(m.proc->err(), Catch::Contains(d.file(next) +
                                                  " does not continue the segment "
                                                  "before it (which ends at position " +
                                                  std::to_string(end) + ")"));
    }
  }
  GIVEN("a manager running on the directory") {
    TempDir d;
    Daemon first(d.path);
    REQUIRE(first.ready());
    THEN("a second one on it refuses, naming the first one's pid") {
      std::vector<std::string> argv = {
          bin("depot-manager"), "--address", "127.0.0.1:0", "--authkey", kKey,
          "--data-dir",         d.path};
      Process second(argv);
      REQUIRE(second.wait(30s) == 1);
      REQUIRE_THAT(second.err(), Catch::Contains("data directory '" + d.path +
                                                 "' is in use by another depot-manager (pid " +
                                                 std::to_string(first.proc->pid()) + ")"));
      REQUIRE(first.ready());
    }
  }
}

// ------------------------------------------------------------------ 6. compaction crashes

SCENARIO("a crash at each step of a compaction loses no acknowledged put", "[store][compaction]") {
  const std::string step =
      GENERATE(std::string("compact-switched"), std::string("compact-child"),
               std::string("compact-before-rename"), std::string("compact-renamed"));
  INFO("DEPOT_TEST_CRASH_AT=" << step);
  TempDir d;
  const std::vector<std::string> compact = {"--compact-min-bytes", "1000", "--compact-percent",
                                            "1"};
  // A compaction that succeeds first: the snapshot is there, the older segment gone.
  compacted_dir(d.path, 100);
  const auto before = depot::store::list_dir(d.path);
  REQUIRE(before.snapshots.size() == 1);
  require_tidy(d.path);

  // Then puts until the manager dies at `step` of the next compaction.
  size_t acked = 0;
  {
    Daemon m(d.path, compact, {"DEPOT_TEST_CRASH_AT=" + step});
    REQUIRE(m.ready());
    auto c = m.client();
    RawQueue q(*c, "q");
    try {
      for (; acked < 5000; ++acked) q.put("b" + std::to_string(acked));
    } catch (const depot::ConnectionError&) {
    }
    REQUIRE(acked < 5000);
    REQUIRE(m.proc->wait(30s) == 128 + SIGKILL);
  }
  INFO(acked << " puts acknowledged; files after the crash: " << joined(files_in(d.path)));

  {
    // Default thresholds: no compaction starts while the directory is looked at.
    Daemon m(d.path);
    REQUIRE(m.ready());
    require_tidy(d.path);
    auto c = m.client();
    std::vector<std::string> got = drain(*c, "q");
    std::vector<std::string> want = numbered("a", 0, 100);
    for (auto& b : numbered("b", 0, acked)) want.push_back(b);
    // The put under way at the crash may or may not have been written.
    if (got.size() == want.size() + 1) want.push_back("b" + std::to_string(acked));
    REQUIRE(got == want);
    c.reset();
    REQUIRE(m.stop() == 0);
  }
  // The next compaction succeeds and leaves the directory tidy (looked at once the manager
  // stopped: it abandons a compaction under way, removing its temporary file).
  size_t n = 0;
  {
    Daemon m(d.path, compact);
    REQUIRE(m.ready());
    auto c = m.client();
    RawQueue q(*c, "q");
    REQUIRE(test::eventually([&] {
      q.put("c" + std::to_string(n++));
      const std::string s = c->stats();
      return test::json_number(s, "compactions") >= 1 &&
             s.find("\"compacting\":false") != std::string::npos;
    }));
    c.reset();
    REQUIRE(m.crash() == 128 + SIGKILL);
  }
  Daemon m(d.path);
  REQUIRE(m.ready());
  require_tidy(d.path);
  auto c = m.client();
  REQUIRE(drain(*c, "q") == numbered("c", 0, n));
}

SCENARIO("a compaction that succeeds", "[store][compaction]") {
  TempDir d;
  Daemon m(d.path, {"--compact-min-bytes", "1000", "--compact-percent", "1"});
  REQUIRE(m.ready());
  auto c = m.client();
  RawQueue q(*c, "q");
  REQUIRE(test::json_number(c->stats(), "compactions") == 0);
  size_t n = 0;
  REQUIRE(test::eventually([&] {
    q.put("a" + std::to_string(n++));
    const std::string s = c->stats();
    return test::json_number(s, "compactions") >= 1 &&
           s.find("\"compacting\":false") != std::string::npos;
  }));
  REQUIRE(test::json_number(c->stats(), "snapshot_bytes") > 0);
  c.reset();
  REQUIRE(m.stop() == 0);
  // A snapshot, the segments before it gone; it checks out, and the state is the same.
  const auto l = depot::store::list_dir(d.path);
  INFO("files: " << joined(files_in(d.path)));
  REQUIRE(l.snapshots.size() == 1);
  require_tidy(d.path);
  REQUIRE_FALSE(fs::exists(d.file(kLog0)));
  REQUIRE(check_log({d.file(depot::store::snapshot_name(l.snapshots[0]))}) == 0);
  Daemon again(d.path);
  REQUIRE(again.ready());
  auto c2 = again.client();
  REQUIRE(drain(*c2, "q") == numbered("a", 0, n));
}

// ------------------------------------------------------------------ 7. a full disk

namespace {

// A small tmpfs mounted on a directory, unmounted when it goes away (also on failure).
struct Tmpfs {
  // DEPOT_TEST_NO_MOUNT set: as if mounting failed (to run the fallback where mount works).
  explicit Tmpfs(const std::string& dir, const std::string& size) : dir(dir) {
    if (std::getenv("DEPOT_TEST_NO_MOUNT")) {
      why = "DEPOT_TEST_NO_MOUNT is set";
      return;
    }
    mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    if (!mounted) why = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
  }
  std::string dir;
  bool mounted = false;
  std::string why;
};

// Runs f on a thread; false if it did not end within `limit` (the caller then kills the
// manager, so that the thread's calls fail and it ends).
template <class F>
bool within(std::future<F>& f, std::chrono::seconds limit) {
  return f.wait_for(limit) == std::future_status::ready;
}

// Kills the manager if the scenario has not disarmed it within `limit`: a call that waits for a
// reply that never comes then fails (ConnectionError) instead of hanging the test.
struct Watchdog {
  Watchdog(Process& p, std::chrono::seconds limit)
      : thread([this, &p, limit] {
          std::unique_lock lk(mu);
          if (!cv.wait_for(lk, limit, [&] { return done; })) {
            fired = true;
            p.kill(SIGKILL);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lk(mu);
      done = true;
    }
    cv.notify_all();
    thread.join();
  }
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::atomic<bool> fired{false};
  std::thread thread;
};

// Reads that the manager serves while its disk is full; a description of what failed.
std::string reads_work(depot::Client& c) {
  try {
    if (RawQueue(c, "q").size().size == 0) return "qsize says 0";
    if (c.variable<std::string>("v").try_get() != std::optional<std::string>("before"))
      return "the variable changed";
    if (c.list().empty()) return "LIST is empty";
    if (c.stats().find("\"durable_healthy\":false") == std::string::npos)
      return "STATS does not say the store is unhealthy";
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

SCENARIO("a full disk: writes are refused, reads served, nothing acknowledged is lost",
         "[store][disk]") {
  TempDir base;
  const std::string mnt = base.file("mnt");
  fs::create_directory(mnt);
  Tmpfs fs_(mnt, "1m");
  const std::string flag = base.file("fail-writes");
  std::vector<std::string> env;
  std::string filler;
  if (fs_.mounted) {
    filler = mnt + "/filler";
    write_file(filler, std::string(256 * 1024, 'f'));
  } else {
    WARN("cannot mount a tmpfs (" << fs_.why
                                  << "): DEPOT_TEST_FAIL_WRITES stands in for a full disk");
    env.push_back("DEPOT_TEST_FAIL_WRITES=" + flag);
  }
  const std::string data = mnt + "/data";
  auto free_space = [&] {
    if (fs_.mounted)
      fs::remove(filler);
    else
      fs::remove(flag);
  };

  size_t acked = 0;
  bool after_ok = false;
  {
    Daemon m(data, {"--compact-percent", "0"}, env);
    REQUIRE(m.ready());
    Watchdog dog(*m.proc, 180s);
    INFO("(the watchdog killed the manager after 180 s: a reply never came)");
    auto reader = m.client();
    auto writer = m.client();
    auto other = m.client();
    reader->variable<std::string>("v").set("before");
    // Fill the disk: puts of 8 KiB until one is refused (or, for the hook, a few then the flag).
    std::atomic<bool> stop{false};
    auto filling = std::async(std::launch::async, [&] {
      RawQueue q(*writer, "q");
      try {
        for (; !stop; ++acked) {
          if (!fs_.mounted && acked == 5) write_file(flag, "");
          q.put("f" + std::to_string(acked) + std::string(8192, '.'));
        }
      } catch (const depot::UnavailableError&) {
      } catch (const depot::ConnectionError&) {
      }
    });
    const bool unhealthy = test::eventually(
        [&] { return reader->stats().find("\"durable_healthy\":false") != std::string::npos; });
    if (!unhealthy) m.crash();
    REQUIRE(unhealthy);

    // Reads are served meanwhile.
    auto reads = std::async(std::launch::async, [&] { return reads_work(*reader); });
    const bool answered = within(reads, 60s);
    if (!answered) m.crash();
    REQUIRE(answered);
    REQUIRE(reads.get() == "");
    // Writes are refused, naming the directory.
    try {
      RawQueue(*other, "q").put("refused");
      FAIL("a put was accepted while the disk is full");
    } catch (const depot::UnavailableError& e) {
      REQUIRE_THAT(e.what(), Catch::Contains(data));
    }

    // Room again: writes are accepted by themselves, and the put that waited is answered.
    stop = true;
    free_space();
    REQUIRE(test::eventually([&] {
      try {
        RawQueue(*other, "q").put("after");
        return true;
      } catch (const depot::UnavailableError&) {
        return false;
      }
    }));
    after_ok = true;
    const bool ended = within(filling, 60s);
    if (!ended) m.crash();
    REQUIRE(ended);
    filling.get();
    const std::string s = reader->stats();
    REQUIRE(s.find("\"durable_healthy\":true") != std::string::npos);
    REQUIRE(test::json_number(s, "write_errors") >= 1);
    reader.reset();
    writer.reset();
    other.reset();
    REQUIRE(m.crash() == 128 + SIGKILL);
  }
  Daemon m(data, {"--compact-percent", "0"});
  REQUIRE(m.ready());
  auto c = m.client();
  std::vector<std::string> got = drain(*c, "q");
  INFO(acked << " puts acknowledged");
  REQUIRE(after_ok);
  REQUIRE(got.size() == acked + 1);
  for (size_t i = 0; i < acked; ++i)
    REQUIRE(got[i] == "f" + std::to_string(i) + std::string(8192, '.'));
  REQUIRE(got.back() == "after");
  REQUIRE(c->variable<std::string>("v").try_get() == std::optional<std::string>("before"));
}

SCENARIO("a manager killed while its disk fails had acknowledged nothing it had not written",
         "[store][disk]") {
  TempDir d;
  const std::string flag = d.file("fail-writes");
  const std::string data = d.file("data");
  bool held_ok = false;
  {
    Daemon m(data, {}, {"DEPOT_TEST_FAIL_WRITES=" + flag});
    REQUIRE(m.ready());
    Watchdog dog(*m.proc, 180s);
    auto c = m.client();
    auto w = m.client();
    RawQueue q(*c, "q");
    for (auto& i : numbered("item", 0, 5)) q.put(i);
    write_file(flag, "");
    auto put = std::async(std::launch::async, [&] {
      try {
        RawQueue(*w, "q").put("unwritten");
        return true;
      } catch (const depot::Error&) {
        return false;
      }
    });
    // The manager says when writes start failing; replies answered in the pass of the failed
    // write wait with it, so the reads below come after that pass.
    REQUIRE(test::eventually([&] {
      return m.proc->err().find("cannot write to its data directory '" + data + "'") !=
             std::string::npos;
    }));
    REQUIRE_THAT(c->stats(), Catch::Contains("\"durable_healthy\":false"));
    REQUIRE(RawQueue(*c, "q").size().size == 6);  // a read tells of it, in memory
    c.reset();
    REQUIRE(m.crash() == 128 + SIGKILL);
    held_ok = put.get();
  }
  Daemon m(data);
  REQUIRE(m.ready());
  auto c = m.client();
  std::vector<std::string> want = numbered("item", 0, 5);
  if (held_ok) want.push_back("unwritten");  // acknowledged: it must be there
  REQUIRE(drain(*c, "q") == want);
}

// ------------------------------------------------------------------ 8. depot-check-log

SCENARIO("depot-check-log checks log segments and snapshots", "[store][check-log]") {
  TempDir d;
  std::vector<std::string> items;
  for (int i = 0; i < 10; ++i) items.push_back("item" + std::to_string(i));
  const std::string log = write_log(d.path, items);
  const std::string path = d.file(kLog0);
  const auto recs = records_of(log);
  std::string out;

  WHEN("the log is intact") {
    THEN("it says so, exit 0") {
      REQUIRE(check_log({path}, &out) == 0);
      REQUIRE_THAT(out, Catch::Contains(path + ": " + std::to_string(recs.size()) + " records, " +
                                        std::to_string(log.size()) + " bytes: intact"));
      REQUIRE(check_log({"--fix", path}) == 0);
      REQUIRE(slurp(path) == log);
    }
  }
  WHEN("zeros written ahead follow the records") {
    write_file(path, log + std::string(5000, '\0'));
    THEN("it is intact, and says how many zeros follow") {
      REQUIRE(check_log({path}, &out) == 0);
      REQUIRE_THAT(out, Catch::Contains(std::to_string(log.size()) +
                                        " bytes: intact (then 5000 zero bytes written ahead"));
    }
  }
  WHEN("its last record is torn, zeros after it") {
    write_file(path, log.substr(0, log.size() - 3) + std::string(5000, '\0'));
    THEN("exit 1, the torn bytes counted without the zeros; --fix cuts it") {
      REQUIRE(check_log({path}, &out) == 1);
      REQUIRE_THAT(
          out,
          Catch::Contains(
              "at offset " + std::to_string(recs.back().start) + "; " +
              std::to_string(
                  log.substr(recs.back().start, recs.back().size - 3).find_last_not_of('\0') + 1) +
              " bytes from there"));
      REQUIRE(check_log({"--fix", path}, &out) == 0);
      REQUIRE(fs::file_size(path) == recs.back().start);
    }
  }
  WHEN("its last record is torn") {
    write_file(path, log.substr(0, log.size() - 3));
    THEN("exit 1, a torn last write; --fix cuts it") {
      REQUIRE(check_log({path}, &out) == 1);
      REQUIRE_THAT(out, Catch::Contains(std::to_string(recs.size() - 1) + " intact records"));
      REQUIRE_THAT(out, Catch::Contains("at offset " + std::to_string(recs.back().start)));
      REQUIRE_THAT(out, Catch::Contains("a torn last write"));
      REQUIRE(check_log({"--fix", path}, &out) == 0);
      REQUIRE(fs::file_size(path) == recs.back().start);
      REQUIRE(check_log({path}) == 0);
    }
  }
  WHEN("a record in the middle is damaged") {
    std::string bad = log;
    bad[recs[4].start + recs[4].size - 1] ^= 1;
    write_file(path, bad);
    THEN("exit 1, naming the offset") {
      REQUIRE(check_log({path}, &out) == 1);
      REQUIRE_THAT(out, Catch::Contains("4 intact records (" + std::to_string(recs[4].start) +
                                        " bytes), then a record whose checksum or length is wrong, "
                                        "with intact records after it at offset " +
                                        std::to_string(recs[4].start)));
      REQUIRE_THAT(out, Catch::Contains("depot-check-log --fix " + path));
    }
  }
  WHEN("it is a snapshot") {
    TempDir c;
    compacted_dir(c.path, 100);
    const auto l = depot::store::list_dir(c.path);
    REQUIRE(l.snapshots.size() == 1);
    const std::string snap = c.file(depot::store::snapshot_name(l.snapshots[0]));
    THEN("an intact one: exit 0") {
      REQUIRE(check_log({snap}, &out) == 0);
      REQUIRE_THAT(out, Catch::Contains("snapshot at position " + std::to_string(l.snapshots[0])));
      REQUIRE_THAT(out, Catch::Contains("intact"));
    }
    THEN("a damaged one: exit 1, and --fix does not cut it") {
      std::string bytes = slurp(snap);
      bytes[bytes.size() / 2] ^= 0x10;
      write_file(snap, bytes);
      REQUIRE(check_log({snap}, &out) == 1);
      REQUIRE_THAT(out, Catch::Contains("damaged snapshot"));
      REQUIRE(check_log({"--fix", snap}, &out) == 1);
      REQUIRE_THAT(out, Catch::Contains("a snapshot cannot be cut short"));
      REQUIRE(slurp(snap) == bytes);
    }
    THEN("one cut short: exit 1") {
      const std::string bytes = slurp(snap);
      write_file(snap, bytes.substr(0, bytes.size() - 20));
      REQUIRE(check_log({snap}, &out) == 1);
      REQUIRE_THAT(out, Catch::Contains("damaged snapshot"));
    }
  }
  WHEN("it is used wrongly") {
    THEN("exit 2 with the usage, or the reason") {
      REQUIRE(check_log({}, &out) == 2);
      REQUIRE_THAT(out, Catch::Contains("usage: depot-check-log [--fix] FILE"));
      REQUIRE(check_log({"--frobnicate", path}, &out) == 2);
      REQUIRE_THAT(out, Catch::Contains("unknown option '--frobnicate'"));
      REQUIRE(check_log({path, path}, &out) == 2);
      REQUIRE_THAT(out, Catch::Contains("one file at a time"));
      REQUIRE(check_log({d.file("no-such-file")}, &out) == 2);
      REQUIRE_THAT(out, Catch::Contains("cannot open '" + d.file("no-such-file") + "'"));
      REQUIRE(check_log({"--help"}, &out) == 0);
      REQUIRE_THAT(out, Catch::Contains("Exit codes: 0 intact (or fixed), 1 damaged, 2 usage or "
                                        "I/O error."));
    }
  }
}
