// depot::store::Store: the data directory of a durable manager (docs/durability.md).
//
// At start-up it locks the directory, reads the newest snapshot and the log after it into
// the registry (a torn last record is dropped and said so; damage in the middle stops the
// start with the file and offset), then attaches a Journal so every change is recorded.
// During the run, the loop thread hands it each pass's records (write_pending: one write);
// a thread of its own makes them durable (fdatasync) as the policy says and reports how far
// the log is durable, which is what the manager's replies wait for under `fsync always`.
// When the log grows past its thresholds it is compacted: a forked child writes a snapshot of
// the state at the start of a fresh segment while the parent goes on serving, and the switch
// is a rename plus a directory fsync, so a crash at any moment leaves a loadable directory.
// A failed write (disk full, I/O error) keeps the records in memory and makes the store
// unhealthy: the manager then refuses writes (UNAVAILABLE) and serves reads until a retry
// succeeds, acknowledging nothing that is not on disk.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "depot/queue/journal.h"
#include "depot/queue/registry.h"

namespace depot::store {

enum class Fsync : uint8_t {
  ALWAYS,    // a reply leaves only after its records are on disk (fdatasync returned)
  EVERYSEC,  // records are written at once and made durable once a second
  NO,        // records are written at once; the OS decides when they reach the disk
};
// "always" -> ALWAYS; false for anything else.
bool parse_fsync(std::string_view text, Fsync& out);
std::string_view fsync_name(Fsync f);

struct Options {
  std::string dir;
  Fsync fsync = Fsync::ALWAYS;
  // Compact when the log since the last snapshot is at least compact_min_bytes and at least
  // compact_percent % of the snapshot's size (Redis's auto-aof-rewrite-min-size and
  // -percentage). compact_percent 0 turns compaction off.
  uint64_t compact_min_bytes = 64ull << 20;
  uint32_t compact_percent = 100;
  // Where the store says what the operator should know (a torn tail dropped, a compaction
  // that failed); the manager passes its log.
  std::function<void(const std::string&)> warn;
};

struct Stats {
  uint64_t fsyncs = 0;       // fdatasync calls on log segments
  uint64_t log_bytes = 0;    // bytes written to the log since start-up
  uint64_t log_records = 0;  // records written since start-up
  uint64_t position = 0;     // end of the log (bytes of the whole history)
  uint64_t durable = 0;      // the log is on disk up to here
  uint64_t log_since_snapshot = 0;
  uint64_t snapshot_bytes = 0;  // size of the current snapshot
  uint64_t compactions = 0;
  uint64_t compaction_fork_us = 0;  // the loop's pause at the last compaction's start
  uint64_t write_errors = 0;
  bool compacting = false;
  bool healthy = true;
  // Recovery at start-up.
  uint64_t recovered_records = 0;
  uint64_t recovered_objects = 0;
  uint64_t recovery_ms = 0;
  uint64_t torn_bytes_dropped = 0;
};

class Store {
 public:
  // Recovers `registry` from `options.dir` and attaches the journal; throws
  // std::runtime_error with a message naming the file and offset when it cannot.
  // `durable_changed` is called whenever the durable position moves, from the store's own
  // thread (and from the loop's, when a compaction's start synced the log itself): the
  // manager posts a wake-up to its loop.
  Store(Options options, Registry& registry, std::function<void()> durable_changed);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Loop thread, end of each pass: writes the records the objects made (one write). With
  // a write failing, keeps them and turns unhealthy (retry() tries again).
  void write_pending();
  // Whether replies must wait for durable() to reach written() (fsync always).
  bool replies_wait() const { return options_.fsync == Fsync::ALWAYS; }
  // The end of every record the objects have made (taken or not): moves when one is made.
  uint64_t made() const { return journal_.position(); }
  // The end of the records taken so far: written, or kept in memory by a failed write (the
  // replies that tell of those must wait until a retry wrote them).
  uint64_t logged() const { return written_ + backlog_.size(); }
  // The end of what was handed to the OS, and of what is on disk.
  uint64_t written() const { return written_; }
  uint64_t durable() const { return durable_.load(std::memory_order_acquire); }
  bool healthy() const { return healthy_; }
  // Why writes are refused now (names the directory and the error), empty when healthy.
  const std::string& problem() const { return problem_; }
  // Loop thread: a failed write tried again; true once the store is healthy.
  bool retry();

  // Loop thread: starts a compaction when the log has grown past the thresholds (or when
  // `force`), and finishes one whose child is done. Cheap to call every pass.
  void maybe_compact(bool force = false);
  bool compacting() const { return child_ > 0; }
  // Group commit hints from the loop (fsync always): how many sessions the last durable
  // position released, and how many wait for the next one now.
  void note_released(uint32_t sessions) { released_.store(sessions, std::memory_order_relaxed); }
  void note_waiting(uint32_t sessions) {
    const uint32_t before = waiting_.exchange(sessions, std::memory_order_relaxed);
    const uint32_t expect = released_.load(std::memory_order_relaxed);
    if (expect > 1 && before < expect && sessions >= expect) cv_.notify_one();  // all are back
  }
  // Loop thread, before exiting: everything written is made durable; a compaction in
  // progress is abandoned (its temporary file removed).
  void close();

  Stats stats() const;
  const Options& options() const { return options_; }

 private:
  struct Segment;
  void lock_dir();
  void recover();
  void open_segment(uint64_t position, bool create, uint64_t end);
  void sync_loop();
  void hand_to_syncer();
  void start_compaction();
  void finish_compaction(int status);
  void crash_point(const char* step) const;
  bool write_log(std::string_view bytes, size_t& written);
  // Moves the durable position forward to `position` (under mu_: the sync thread and a
  // compaction's start both move it); whether it moved.
  bool advance_durable(uint64_t position);
  std::string fail_flag_;

  Options options_;
  Registry& registry_;
  std::function<void()> durable_changed_;
  Journal journal_;
  int lock_fd_ = -1;

  // The current segment: written by the loop thread, synced by the sync thread.
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<Segment> segment_;
  uint64_t written_ = 0;  // loop thread
  uint64_t to_sync_ = 0;  // guarded by mu_: written and not yet known durable
  std::atomic<uint64_t> durable_{0};
  bool stopping_ = false;
  bool syncer_idle_ = true;  // guarded by mu_: waiting for work
  std::atomic<uint32_t> released_{0};
  std::atomic<uint32_t> waiting_{0};
  std::chrono::microseconds last_sync_{500};  // the last fdatasync's duration (sync thread)
  std::thread syncer_;

  std::string backlog_;  // records a failed write left behind, written first by retry()
  bool healthy_ = true;
  std::string problem_;

  uint64_t snapshot_position_ = 0;
  uint64_t snapshot_bytes_ = 0;
  int child_ = 0;  // pid of a compaction in progress
  uint64_t child_position_ = 0;
  std::chrono::steady_clock::time_point last_try_{};

  std::atomic<uint64_t> fsyncs_{0};
  uint64_t log_bytes_ = 0;
  uint64_t log_records_ = 0;
  uint64_t compactions_ = 0;
  uint64_t fork_us_ = 0;
  uint64_t write_errors_ = 0;
  Stats recovery_;
};

}  // namespace depot::store
