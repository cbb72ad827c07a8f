#include "depot/store/store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include "depot/store/files.h"
#include "depot/store/scan.h"

namespace depot::store {

using SteadyClock = std::chrono::steady_clock;

bool parse_fsync(std::string_view text, Fsync& out) {
  if (text == "always")
    out = Fsync::ALWAYS;
  else if (text == "everysec")
    out = Fsync::EVERYSEC;
  else if (text == "no")
    out = Fsync::NO;
  else
    return false;
  return true;
}

std::string_view fsync_name(Fsync f) {
  switch (f) {
    case Fsync::ALWAYS:
      return "always";
    case Fsync::EVERYSEC:
      return "everysec";
    case Fsync::NO:
      return "no";
  }
  return "?";
}

// A segment is written in place into space zeroed ahead of the records (kPreallocate at a
// time), like PostgreSQL's WAL segments: an fdatasync then only flushes data blocks, with no
// change of the file's size to commit in the file system's journal (measured here: 330 us an
// fdatasync against 400 when appending). A MiB at a time keeps the write that zeroes it short
// (it runs in the loop). Recovery reads zeros after the last record as unused
// space, not as damage.
constexpr uint64_t kPreallocate = 1ull << 20;

struct Store::Segment {
  int fd = -1;
  uint64_t position = 0;   // where it starts in the whole log
  uint64_t end = 0;        // file offset of the end of its last record
  uint64_t allocated = 0;  // file size: zeros from `end` to here
  ~Segment() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

std::string join(const std::string& dir, const std::string& file) {
  return dir + "/" + file;
}

uint64_t micros_since(SteadyClock::time_point t0) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t0).count());
}

}  // namespace

Store::Store(Options options, Registry& registry, std::function<void()> durable_changed)
    : options_(std::move(options)),
      registry_(registry),
      durable_changed_(std::move(durable_changed)) {
  if (options_.dir.empty()) throw std::runtime_error("no data directory given");
  if (::mkdir(options_.dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot create data directory '" + options_.dir +
                             "': " + errno_text(errno));
  if (const char* f = std::getenv("DEPOT_TEST_FAIL_WRITES")) fail_flag_ = f;
  lock_dir();
  try {
    recover();
  } catch (...) {
    // A start that fails leaves the directory free for the next attempt (a program that embeds
    // the manager may try again, after depot-check-log --fix, in the same process).
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
  // From here on every change is recorded; what the gone sessions held goes back first.
  registry_.set_journal(&journal_);
  registry_.recovered();
  write_pending();
  if (options_.fsync != Fsync::NO) syncer_ = std::thread([this] { sync_loop(); });
}

Store::~Store() {
  close();
  if (lock_fd_ >= 0) ::close(lock_fd_);
  registry_.set_journal(nullptr);
}

void Store::lock_dir() {
  const std::string path = join(options_.dir, "LOCK");
  lock_fd_ = open_file(path, O_RDWR | O_CREAT);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    std::string holder;
    try {
      holder = read_file(path);
    } catch (const std::exception&) {
    }
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\r')) holder.pop_back();
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (e == EWOULDBLOCK)
      throw std::runtime_error("data directory '" + options_.dir +
                               "' is in use by another depot-manager" +
                               (holder.empty() ? "" : " (pid " + holder + ")") +
                               "; stop it first, or give this one a directory of its own");
    throw std::runtime_error("cannot lock data directory '" + options_.dir + "': " + errno_text(e));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) == 0) {
    size_t w;
    write_all(lock_fd_, pid, w);
  }
}

void Store::recover() {
  const auto t0 = SteadyClock::now();
  const std::string& dir = options_.dir;
  DirListing files = list_dir(dir);
  for (const auto& t : files.temporary) ::unlink(join(dir, t).c_str());  // an unfinished snapshot

  auto restore = [this](const RecordView& r, std::string& problem) {
    return registry_.restore(r.type, r.payload, problem);
  };
  uint64_t base = 0;
  if (!files.snapshots.empty()) {
    base = files.snapshots.back();
    const std::string path = join(dir, snapshot_name(base));
    const std::string bytes = read_file(path);
    uint64_t position = 0;
    std::string problem;
    uint64_t records = 0;
    if (!scan_snapshot(bytes, position, restore, problem, &records) || position != base)
      throw std::runtime_error(
          "data directory '" + dir + "': snapshot " + path +
          " cannot be read: " + (problem.empty() ? "its header names another position" : problem) +
          ". The log before it was removed when it was written, so restore the directory from a "
          "backup (depot-check-log " +
          path + " says what is wrong)");
    snapshot_bytes_ = bytes.size();
    recovery_.recovered_records += records;
  }
  snapshot_position_ = base;
  // Older snapshots and the segments before this one are covered by it (a compaction stopped
  // after its switch, before removing them).
  for (uint64_t s : files.snapshots)
    if (s < base) ::unlink(join(dir, snapshot_name(s)).c_str());
  std::vector<uint64_t> segments;
  for (uint64_t s : files.segments) {
    if (s < base)
      ::unlink(join(dir, segment_name(s)).c_str());
    else
      segments.push_back(s);
  }
  if (!segments.empty() && segments.front() != base)
    throw std::runtime_error(
        "data directory '" + dir + "': the log starts at " + segment_name(segments.front()) +
        " but " +
        (base == 0 ? "there is no " + snapshot_name(segments.front())
                   : snapshot_name(base) + " ends at position " + std::to_string(base)) +
        ": the snapshot (or the log) in between is missing; restore the directory from a backup");
  uint64_t expected = base;
  for (size_t i = 0; i < segments.size(); ++i) {
    const uint64_t s = segments[i];
    const std::string path = join(dir, segment_name(s));
    if (s != expected)
      throw std::runtime_error("data directory '" + dir + "': " + path +
                               " does not continue the segment before it (which ends at position " +
                               std::to_string(expected) + "): a log segment is missing or damaged");
    const std::string bytes = read_file(path);
    Scan sc = scan_records(bytes, [&](const RecordView& r, size_t, std::string& problem) {
      return registry_.restore(r.type, r.payload, problem);
    });
    recovery_.recovered_records += sc.records;
    const bool last = i + 1 == segments.size();
    if (sc.end == Scan::End::REFUSED || sc.end == Scan::End::CORRUPT ||
        (sc.end == Scan::End::TORN_TAIL && !last))
      throw std::runtime_error(
          "data directory '" + dir + "': log file " + path + " has a bad record at offset " +
          std::to_string(sc.good_bytes) + " (" + sc.problem + "); run depot-check-log " + path +
          " to see it, and depot-check-log --fix " + path + " to drop it and everything after it");
    size_t size = sc.good_bytes;  // zeros after it are space written ahead, not records
    if (sc.end == Scan::End::TORN_TAIL) {
      // The manager stopped while writing its last records: they were never acknowledged.
      const int fd = open_file(path, O_WRONLY);
      const int r = ::ftruncate(fd, static_cast<off_t>(sc.good_bytes));
      const int e = errno;
      if (r == 0) ::fdatasync(fd);
      ::close(fd);
      if (r != 0) throw std::runtime_error("cannot truncate " + path + ": " + errno_text(e));
      recovery_.torn_bytes_dropped += sc.damaged_bytes;
      if (options_.warn)
        options_.warn("dropped the last " + std::to_string(sc.damaged_bytes) + " bytes of " + path +
                      ": " + sc.problem +
                      " (the manager stopped while writing it; it was never acknowledged)");
    }
    expected = s + size;
  }
  const uint64_t last = segments.empty() ? base : segments.back();
  open_segment(last, segments.empty(), expected - last);
  journal_.set_position(expected);
  written_ = expected;
  to_sync_ = expected;
  durable_.store(expected);
  recovery_.recovered_objects = registry_.object_count();
  recovery_.recovery_ms = micros_since(t0) / 1000;
}

void Store::open_segment(uint64_t position, bool create, uint64_t end) {
  auto seg = std::make_shared<Segment>();
  seg->position = position;
  seg->end = end;
  const std::string path = join(options_.dir, segment_name(position));
  seg->fd = open_file(path, O_WRONLY | (create ? O_CREAT : 0));
  struct stat st {};
  seg->allocated = ::fstat(seg->fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : end;
  if (create) fsync_dir(options_.dir);  // the new file's name must survive a crash too
  std::lock_guard lk(mu_);
  segment_ = std::move(seg);
}

bool Store::write_log(std::string_view bytes, size_t& written) {
  // Tests that cannot make a small file system inject a full disk instead: while the file
  // named by DEPOT_TEST_FAIL_WRITES exists, every write fails with ENOSPC.
  if (!fail_flag_.empty() && ::access(fail_flag_.c_str(), F_OK) == 0) {
    written = 0;
    errno = ENOSPC;
    return false;
  }
  Segment& seg = *segment_;
  written = 0;
  if (seg.end + bytes.size() > seg.allocated) {
    // Zeros ahead of the records, written (not fallocated: unwritten extents would need their
    // conversion committed at each fdatasync too).
    static const char zeros[64 * 1024] = {};
    const uint64_t target = (seg.end + bytes.size() + kPreallocate) / kPreallocate * kPreallocate;
    while (seg.allocated < target) {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(sizeof zeros, target - seg.allocated));
      const ssize_t k = ::pwrite(seg.fd, zeros, n, static_cast<off_t>(seg.allocated));
      if (k < 0) {
        if (errno == EINTR) continue;
        if (seg.end + bytes.size() <= seg.allocated) break;  // enough room for these records
        return false;
      }
      if (k == 0) {
        errno = ENOSPC;
        return false;
      }
      seg.allocated += static_cast<uint64_t>(k);
    }
  }
  const bool ok = write_all(seg.fd, bytes, written, seg.end);
  seg.end += written;
  return ok;
}

void Store::write_pending() {
  if (journal_.empty()) return;
  std::string& bytes = journal_.pending();
  log_records_ = journal_.records();
  if (!healthy_) {
    backlog_ += bytes;
    journal_.taken();
    return;
  }
  size_t w = 0;
  if (!write_log(bytes, w)) {
    const int e = errno;
    written_ += w;
    log_bytes_ += w;
    backlog_.assign(bytes, w, std::string::npos);
    journal_.taken();
    ++write_errors_;
    healthy_ = false;
    problem_ = "the manager cannot write to its data directory '" + options_.dir + "' (" +
               errno_text(e) + "); writes are refused until it can again, reads still work";
    last_try_ = SteadyClock::now();
    hand_to_syncer();  // the part that was written: reads wait for it alone
    return;
  }
  written_ += bytes.size();
  log_bytes_ += bytes.size();
  journal_.taken();
  hand_to_syncer();
}

void Store::hand_to_syncer() {
  if (options_.fsync == Fsync::NO) return;
  bool wake;
  {
    std::lock_guard lk(mu_);
    to_sync_ = written_;
    // Under everysec the thread wakes by itself; under always only an idle one needs waking
    // (a busy one looks at to_sync_ when its fdatasync returns). A wake-up per pass would
    // cost a futex call and a context switch each time.
    wake = options_.fsync == Fsync::ALWAYS && syncer_idle_;
  }
  if (wake) cv_.notify_one();
}

bool Store::retry() {
  if (healthy_) return true;
  size_t w = 0;
  if (!write_log(backlog_, w)) {
    const int e = errno;
    written_ += w;
    log_bytes_ += w;
    backlog_.erase(0, w);
    problem_ = "the manager cannot write to its data directory '" + options_.dir + "' (" +
               errno_text(e) + "); writes are refused until it can again, reads still work";
    if (w > 0) hand_to_syncer();
    return false;
  }
  written_ += backlog_.size();
  log_bytes_ += backlog_.size();
  backlog_.clear();
  healthy_ = true;
  problem_.clear();
  hand_to_syncer();
  return true;
}

bool Store::advance_durable(uint64_t position) {
  if (position <= durable_.load()) return false;
  durable_.store(position, std::memory_order_release);
  return true;
}

void Store::sync_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    syncer_idle_ = true;
    if (options_.fsync == Fsync::EVERYSEC)
      cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stopping_; });
    else
      cv_.wait(lk, [&] { return stopping_ || to_sync_ > durable_.load(); });
    syncer_idle_ = false;
    if (to_sync_ <= durable_.load()) {
      if (stopping_) return;
      continue;
    }
    if (options_.fsync == Fsync::ALWAYS && !stopping_) {
      // Group commit: the replies the last fdatasync released bring their senders' next
      // requests within about a round trip. Waiting for them (a fraction of an fdatasync at
      // most) lets one fdatasync cover them all instead of every other one.
      const uint32_t expect = released_.load(std::memory_order_relaxed);
      if (expect > 1) {
        const auto limit = std::min(last_sync_ / 2, std::chrono::microseconds(300));
        const auto until = SteadyClock::now() + limit;
        cv_.wait_until(lk, until, [&] {
          return stopping_ || waiting_.load(std::memory_order_relaxed) >= expect;
        });
      }
    }
    const uint64_t target = to_sync_;
    std::shared_ptr<Segment> seg = segment_;
    lk.unlock();
    const auto t0 = SteadyClock::now();
    const int r = ::fdatasync(seg->fd);
    last_sync_ = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t0);
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    lk.lock();
    if (r != 0) {
      // The disk refused: try again shortly (the written bytes stay unacknowledged meanwhile).
      cv_.wait_for(lk, std::chrono::milliseconds(100), [&] { return stopping_; });
      if (stopping_) return;
      continue;
    }
    const bool moved = advance_durable(target);
    lk.unlock();
    if (moved && durable_changed_) durable_changed_();
    lk.lock();
  }
}

void Store::maybe_compact(bool force) {
  if (child_ > 0) {
    int status = 0;
    const pid_t r = ::waitpid(child_, &status, WNOHANG);
    if (r == child_) finish_compaction(status);
    return;
  }
  if (!healthy_) return;
  if (!force) {
    if (options_.compact_percent == 0) return;
    const uint64_t since = written_ - snapshot_position_;
    if (since < options_.compact_min_bytes) return;
    if (since * 100 < snapshot_bytes_ * options_.compact_percent) return;
    // After a failed compaction, wait a little before the next attempt.
    if (SteadyClock::now() - last_try_ < std::chrono::seconds(10)) return;
  }
  start_compaction();
}

void Store::crash_point(const char* step) const {
  // Tests kill the manager at each step of a compaction to see that the directory stays
  // loadable: DEPOT_TEST_CRASH_AT=<step> makes the process die there as if SIGKILLed.
  const char* at = std::getenv("DEPOT_TEST_CRASH_AT");
  if (at && std::string_view(at) == step) ::kill(::getpid(), SIGKILL);
}

void Store::start_compaction() {
  const auto t0 = SteadyClock::now();
  write_pending();
  if (!healthy_) return;
  // The old segment is made durable here, so the new one starts where the snapshot will be.
  {
    std::shared_ptr<Segment> old = segment_;
    if (::fdatasync(old->fd) != 0) {
      last_try_ = SteadyClock::now();
      return;
    }
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
  }
  const uint64_t position = written_;
  try {
    open_segment(position, true, 0);
  } catch (const std::exception& e) {
    if (options_.warn) options_.warn(std::string("compaction not started: ") + e.what());
    last_try_ = SteadyClock::now();
    return;
  }
  // The old segment's fdatasync above made the log durable up to `position`: that advance
  // is reported like the sync thread's. The sync thread cannot be relied on for it: when its
  // wake-up for these records comes after this store, it finds nothing left to sync and says
  // nothing, and the replies the loop held for them (fsync always) would wait for the next
  // fdatasync, which never comes while the clients they belong to wait and send nothing else.
  // Under mu_, as the sync thread moves it, so that neither moves it back.
  bool moved;
  {
    std::lock_guard lk(mu_);
    moved = advance_durable(position);
  }
  if (moved && durable_changed_) durable_changed_();
  crash_point("compact-switched");
  const std::string tmp = join(options_.dir, snapshot_name(position) + ".tmp");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    if (options_.warn) options_.warn("compaction not started: fork failed: " + errno_text(errno));
    last_try_ = SteadyClock::now();
    return;
  }
  if (pid == 0) {
    // The child: writes the state as of `position` (its memory is the parent's at the fork)
    // and exits. It touches nothing but the registry, the file and the system calls below.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(4);  // the parent died before the line above
    // Nothing of the parent's stays open here: not the directory's lock, not the listening
    // socket, not the clients' connections (a session the parent closes must look closed to
    // its client now, not when this child exits).
    if (::close_range(3, ~0u, 0) != 0)
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) ::_exit(2);
    bool ok = true;
    auto spill = [&](std::string& b) {
      size_t w;
      ok = ok && write_all(fd, b, w);
    };
    Journal out;
    out.spill_at(1 << 20, spill);
    {
      proto::BodyWriter h;
      h.u64(kSnapshotMagic).u32(kSnapshotVersion).u64(position);
      size_t w;
      ok = write_all(fd, h.view(), w);
    }
    registry_.persist(out);
    const uint64_t records = out.records();
    out.record(static_cast<Rec>(kEndRecord)).u64(records);
    spill(out.pending());
    if (std::getenv("DEPOT_TEST_CRASH_AT") &&
        std::string_view(std::getenv("DEPOT_TEST_CRASH_AT")) == "compact-child") {
      ::kill(::getppid(), SIGKILL);
      ::_exit(3);
    }
    ok = ok && ::fdatasync(fd) == 0;
    ::close(fd);
    ::_exit(ok ? 0 : 1);
  }
  child_ = pid;
  child_position_ = position;
  fork_us_ = micros_since(t0);
}

void Store::finish_compaction(int status) {
  child_ = 0;
  const uint64_t position = child_position_;
  const std::string dir = options_.dir;
  const std::string tmp = join(dir, snapshot_name(position) + ".tmp");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ::unlink(tmp.c_str());
    if (options_.warn)
      options_.warn("compaction failed (the snapshot could not be written in '" + dir +
                    "'); the log keeps growing and it is tried again later");
    last_try_ = SteadyClock::now();
    return;
  }
  crash_point("compact-before-rename");
  const std::string final_path = join(dir, snapshot_name(position));
  try {
    if (::rename(tmp.c_str(), final_path.c_str()) != 0)
      throw std::runtime_error("cannot rename " + tmp + ": " + errno_text(errno));
    fsync_dir(dir);
    crash_point("compact-renamed");
    DirListing files = list_dir(dir);
    for (uint64_t s : files.snapshots)
      if (s < position) ::unlink(join(dir, snapshot_name(s)).c_str());
    for (uint64_t s : files.segments)
      if (s < position) ::unlink(join(dir, segment_name(s)).c_str());
    fsync_dir(dir);
  } catch (const std::exception& e) {
    if (options_.warn) options_.warn(std::string("compaction failed: ") + e.what());
    last_try_ = SteadyClock::now();
    return;
  }
  struct stat st {};
  snapshot_bytes_ = ::stat(final_path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  snapshot_position_ = position;
  ++compactions_;
}

void Store::close() {
  if (child_ > 0) {
    ::kill(child_, SIGKILL);
    ::waitpid(child_, nullptr, 0);
    ::unlink(join(options_.dir, snapshot_name(child_position_) + ".tmp").c_str());
    child_ = 0;
  }
  write_pending();
  if (healthy_ && options_.fsync != Fsync::NO && segment_ && written_ > durable_.load()) {
    if (::fdatasync(segment_->fd) == 0) {
      fsyncs_.fetch_add(1);
      durable_.store(written_);
    }
  }
  if (syncer_.joinable()) {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    syncer_.join();
  }
}

Stats Store::stats() const {
  Stats s = recovery_;
  s.fsyncs = fsyncs_.load();
  s.log_bytes = log_bytes_;
  s.log_records = log_records_;
  s.position = journal_.position();
  s.durable = durable_.load();
  s.log_since_snapshot = written_ - snapshot_position_;
  s.snapshot_bytes = snapshot_bytes_;
  s.compactions = compactions_;
  s.compaction_fork_us = fork_us_;
  s.write_errors = write_errors_;
  s.compacting = child_ > 0;
  s.healthy = healthy_;
  return s;
}

}  // namespace depot::store
