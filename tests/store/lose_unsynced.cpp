// lose_unsynced: an LD_PRELOAD shim that turns a SIGKILL into a power cut for log segments.
//
// A SIGKILL leaves the page cache: whatever the process handed to write() reaches the disk
// anyway, so a kill alone never tests fdatasync. Under this shim the writes (write, pwrite,
// pwrite64, writev) to a file whose name starts with "log." are kept in the process's memory
// and applied to the file only when the program calls fdatasync or fsync on that descriptor
// (then they are really written, and the real call makes them durable). Killing the process
// therefore loses exactly what was not synced, as a power cut loses what the disk had not
// been told to keep. Other files (the snapshot, LOCK, sockets, stdout) are untouched.
//
//   LD_PRELOAD=liblose_unsynced.so depot-manager --data-dir D ...
//
// What it models and what it does not:
// - write() at the descriptor's offset moves the offset as a real write would (lseek), so the
//   program's view of its file position is kept; pwrite leaves it alone. O_APPEND files are
//   not supported (the shim aborts with a message rather than put bytes in the wrong place).
// - A close() without a sync drops what was kept (a power cut right after would lose it too).
// - The program reading a log file it wrote and did not sync would see the file without those
//   bytes; depot-manager opens segments write-only and reads them only at start-up.
// - sync(), syncfs() and sync_file_range() are not intercepted (depot-manager uses none).
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

template <class F>
F next(const char* name) {
  void* p = ::dlsym(RTLD_NEXT, name);
  if (!p) {
    std::fprintf(stderr, "lose_unsynced: no next %s\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(p);
}

using WriteFn = ssize_t (*)(int, const void*, size_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using WritevFn = ssize_t (*)(int, const struct iovec*, int);
using SyncFn = int (*)(int);
using CloseFn = int (*)(int);
using CloseRangeFn = int (*)(unsigned, unsigned, int);
using Dup2Fn = int (*)(int, int);
using Dup3Fn = int (*)(int, int, int);

WriteFn real_write() {
  static WriteFn f = next<WriteFn>("write");
  return f;
}
PwriteFn real_pwrite() {
  static PwriteFn f = next<PwriteFn>("pwrite");
  return f;
}
PwriteFn real_pwrite64() {
  static PwriteFn f = next<PwriteFn>("pwrite64");
  return f;
}
WritevFn real_writev() {
  static WritevFn f = next<WritevFn>("writev");
  return f;
}
SyncFn real_fsync() {
  static SyncFn f = next<SyncFn>("fsync");
  return f;
}
SyncFn real_fdatasync() {
  static SyncFn f = next<SyncFn>("fdatasync");
  return f;
}
CloseFn real_close() {
  static CloseFn f = next<CloseFn>("close");
  return f;
}

struct Extent {
  off_t offset;
  std::string bytes;
};

// What the shim knows of a descriptor: whether it is a log segment, and what was written to
// it and not synced yet, in the order it was written.
struct FdState {
  bool log = false;
  std::vector<Extent> pending;
};

struct Shim {
  std::mutex mu;        // the map and the buffers
  std::mutex applying;  // one sync at a time writes what it took, in the order it took it
  std::unordered_map<int, FdState> fds;
};

Shim& shim() {
  static Shim* s = new Shim;  // never destroyed: other libraries' destructors may write
  return *s;
}

// Whether the file behind fd is named log.*: asked of /proc once per descriptor.
bool is_log_file(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[4096];
  const ssize_t n = ::readlink(link, target, sizeof target - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  const char* base = std::strrchr(target, '/');
  base = base ? base + 1 : target;
  return std::strncmp(base, "log.", 4) == 0;
}

// The state of fd (classified on first sight); the caller holds mu.
FdState& state_of(int fd) {
  auto& fds = shim().fds;
  auto it = fds.find(fd);
  if (it != fds.end()) return it->second;
  FdState st;
  st.log = is_log_file(fd);
  if (st.log && (::fcntl(fd, F_GETFL) & O_APPEND)) {
    std::fprintf(stderr, "lose_unsynced: fd %d is a log file opened O_APPEND (unsupported)\n", fd);
    std::abort();
  }
  return fds.emplace(fd, std::move(st)).first->second;
}

void keep(FdState& st, off_t offset, const void* data, size_t n) {
  if (n == 0) return;
  const char* p = static_cast<const char*>(data);
  if (!st.pending.empty()) {
    Extent& last = st.pending.back();
    if (last.offset + static_cast<off_t>(last.bytes.size()) == offset) {
      last.bytes.append(p, n);  // contiguous with the last write: one extent
      return;
    }
  }
  st.pending.push_back({offset, std::string(p, n)});
}

// Writes what fd kept to the file (the caller then syncs it); -1 with errno on failure.
int apply(int fd) {
  // Two threads may sync the same file (depot-manager's sync thread, and its loop at a
  // compaction or at exit): what the first took must reach the file before what the second
  // took, or zeros laid down ahead could land over the records written into them later.
  std::lock_guard order(shim().applying);
  std::vector<Extent> todo;
  {
    std::lock_guard lk(shim().mu);
    auto it = shim().fds.find(fd);
    if (it == shim().fds.end() || !it->second.log) return 0;
    todo.swap(it->second.pending);
  }
  // Written outside the lock: the program's other threads go on writing (into the buffer)
  // while this one syncs, as they would with a real file. A sync covers what was written
  // before it was called, which is what was swapped out above.
  for (const Extent& e : todo) {
    size_t done = 0;
    while (done < e.bytes.size()) {
      const ssize_t k = real_pwrite()(fd, e.bytes.data() + done, e.bytes.size() - done,
                                      e.offset + static_cast<off_t>(done));
      if (k < 0) {
        if (errno == EINTR) continue;
        return -1;
      }
      done += static_cast<size_t>(k);
    }
  }
  return 0;
}

void forget(int fd) {
  std::lock_guard lk(shim().mu);
  shim().fds.erase(fd);
}

// A fork while another thread holds the lock would leave the child's copy locked forever.
void before_fork() {
  shim().applying.lock();
  shim().mu.lock();
}
void after_fork() {
  shim().mu.unlock();
  shim().applying.unlock();
}
__attribute__((constructor)) void init() {
  shim();
  ::pthread_atfork(before_fork, after_fork, after_fork);
}

ssize_t positioned(int fd, const void* buf, size_t n, off_t offset, PwriteFn real) {
  {
    std::lock_guard lk(shim().mu);
    FdState& st = state_of(fd);
    if (st.log) {
      keep(st, offset, buf, n);
      return static_cast<ssize_t>(n);
    }
  }
  return real(fd, buf, n, offset);
}

ssize_t at_offset(int fd, const void* buf, size_t n) {
  std::lock_guard lk(shim().mu);
  FdState& st = state_of(fd);
  if (!st.log) return -2;  // not ours
  const off_t at = ::lseek(fd, 0, SEEK_CUR);
  if (at < 0) return -1;
  keep(st, at, buf, n);
  if (::lseek(fd, at + static_cast<off_t>(n), SEEK_SET) < 0) return -1;
  return static_cast<ssize_t>(n);
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t n) {
  const ssize_t r = at_offset(fd, buf, n);
  return r == -2 ? real_write()(fd, buf, n) : r;
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  return positioned(fd, buf, n, offset, real_pwrite());
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  return positioned(fd, buf, n, offset, real_pwrite64());
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  bool log;
  {
    std::lock_guard lk(shim().mu);
    log = state_of(fd).log;
  }
  if (!log) return real_writev()(fd, iov, count);
  std::string all;
  for (int i = 0; i < count; ++i)
    all.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  const ssize_t r = at_offset(fd, all.data(), all.size());
  return r == -2 ? real_write()(fd, all.data(), all.size()) : r;
}

int fdatasync(int fd) {
  if (apply(fd) != 0) return -1;
  return real_fdatasync()(fd);
}

int fsync(int fd) {
  if (apply(fd) != 0) return -1;
  return real_fsync()(fd);
}

int close(int fd) {
  forget(fd);  // what was not synced is lost, as in a power cut after the close
  return real_close()(fd);
}

int close_range(unsigned first, unsigned last, int flags) {
  if (!(flags & CLOSE_RANGE_CLOEXEC)) {
    std::lock_guard lk(shim().mu);
    for (auto it = shim().fds.begin(); it != shim().fds.end();)
      if (static_cast<unsigned>(it->first) >= first && static_cast<unsigned>(it->first) <= last)
        it = shim().fds.erase(it);
      else
        ++it;
  }
  static CloseRangeFn f = next<CloseRangeFn>("close_range");
  return f(first, last, flags);
}

int dup2(int from, int to) {
  forget(to);
  static Dup2Fn f = next<Dup2Fn>("dup2");
  return f(from, to);
}

int dup3(int from, int to, int flags) {
  forget(to);
  static Dup3Fn f = next<Dup3Fn>("dup3");
  return f(from, to, flags);
}

}  // extern "C"
