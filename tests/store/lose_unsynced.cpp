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
// - Writes to anything but a log segment take no lock (a signal handler's write stays safe).
// - The program reading a log file it wrote and did not sync would see the file without those
//   bytes; depot-manager opens segments write-only and reads them only at start-up.
// - A sync under way when the process dies is kept: its bytes were written to the file when it
//   started. With LOSE_UNSYNCED_UNDO=<dir> it is lost instead (see synced() below), which is
//   the stricter case: nothing may be acknowledged before the fdatasync returned.
// - Directory entries are not modelled (a created or renamed file is there after the kill).
// - sync(), syncfs() and sync_file_range() are not intercepted (depot-manager uses none).
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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

// What was written to a log segment's descriptor and not synced yet, in the order written.
struct FdState {
  std::vector<Extent> pending;
};

struct Shim {
  std::mutex mu;        // the map and the buffers (log segments only)
  std::mutex applying;  // one sync at a time writes what it took, in the order it took it
  std::unordered_map<int, FdState> fds;
};

Shim& shim() {
  static Shim* s = new Shim;  // never destroyed: other libraries' destructors may write
  return *s;
}

// Whether the file behind fd is named log.*: asked of /proc once per descriptor.
// (No snprintf: this may run in a signal handler's write.)
bool is_log_file(int fd) {
  char link[64] = "/proc/self/fd/";
  char digits[16];
  int n_digits = 0;
  for (unsigned v = static_cast<unsigned>(fd); n_digits == 0 || v > 0; v /= 10)
    digits[n_digits++] = static_cast<char>('0' + v % 10);
  size_t at = std::strlen(link);
  while (n_digits > 0) link[at++] = digits[--n_digits];
  link[at] = '\0';
  char target[4096];
  const ssize_t n = ::readlink(link, target, sizeof target - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  const char* base = std::strrchr(target, '/');
  base = base ? base + 1 : target;
  return std::strncmp(base, "log.", 4) == 0;
}

// Whether each descriptor is a log segment, decided at its first write without a lock, so
// that writes to anything else (a signal handler's wake-up pipe among them) never wait for
// the shim's mutex. 0: not known yet, 1: another file, 2: a log segment.
constexpr int kFds = 1 << 16;
std::atomic<uint8_t> g_kind[kFds];

bool is_log(int fd) {
  if (fd < 0) return false;
  if (fd >= kFds) {
    if (is_log_file(fd)) {
      std::fprintf(stderr, "lose_unsynced: log file on fd %d, past the %d it tracks\n", fd, kFds);
      std::abort();
    }
    return false;
  }
  uint8_t k = g_kind[fd].load(std::memory_order_acquire);
  if (k == 0) {
    const bool log = is_log_file(fd);
    if (log && (::fcntl(fd, F_GETFL) & O_APPEND)) {
      std::fprintf(stderr, "lose_unsynced: fd %d is a log file opened O_APPEND (unsupported)\n",
                   fd);
      std::abort();
    }
    k = log ? 2 : 1;
    g_kind[fd].store(k, std::memory_order_release);
  }
  return k == 2;
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

// LOSE_UNSYNCED_UNDO=<dir>: a sync that had not returned when the process died is undone as
// well, since a power cut may lose it. Before a sync writes what it kept, the bytes it will
// overwrite (and the file's size) are saved in <dir>/undo.<pid>; the file is removed once the
// sync returned; the next program started under the shim puts back what a leftover one saved.
const char* undo_dir() {
  static const char* d = [] {
    const char* v = std::getenv("LOSE_UNSYNCED_UNDO");
    return v && *v ? v : nullptr;
  }();
  return d;
}

std::string undo_file() {
  return std::string(undo_dir()) + "/undo." + std::to_string(::getpid());
}

void put_u64(std::string& out, uint64_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

bool write_whole(int fd, const std::string& bytes, off_t at) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t k =
        real_pwrite()(fd, bytes.data() + done, bytes.size() - done, at + static_cast<off_t>(done));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    done += static_cast<size_t>(k);
  }
  return true;
}

// Saves what `todo` will overwrite in the file behind fd: its path, its size, and for each
// extent the old bytes it covers. Written to a .tmp first, so a kill while saving leaves no
// half-written undo (and the extents were not written yet then).
bool save_undo(int fd, const std::vector<Extent>& todo) {
  char link[64], path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  const std::string file(path, static_cast<size_t>(n));
  const int rfd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (rfd < 0) return false;
  const off_t size = ::lseek(rfd, 0, SEEK_END);
  std::string u;
  put_u64(u, file.size());
  u += file;
  put_u64(u, static_cast<uint64_t>(size));
  put_u64(u, todo.size());
  for (const Extent& e : todo) {
    const off_t len =
        e.offset < size ? std::min<off_t>(static_cast<off_t>(e.bytes.size()), size - e.offset) : 0;
    std::string old(static_cast<size_t>(len), '\0');
    if (len > 0 && ::pread(rfd, old.data(), old.size(), e.offset) != len) {
      real_close()(rfd);
      return false;
    }
    put_u64(u, static_cast<uint64_t>(e.offset));
    put_u64(u, old.size());
    u += old;
  }
  real_close()(rfd);
  const std::string tmp = undo_file() + ".tmp";
  const int ufd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (ufd < 0) return false;
  const bool ok = write_whole(ufd, u, 0);
  real_close()(ufd);
  return ok && ::rename(tmp.c_str(), undo_file().c_str()) == 0;
}

// Puts back what a sync that never returned (its process was killed) had written.
void restore_undo(const std::string& undo) {
  const int ufd = ::open(undo.c_str(), O_RDONLY | O_CLOEXEC);
  if (ufd < 0) return;
  std::string u;
  char buf[65536];
  for (ssize_t k; (k = ::read(ufd, buf, sizeof buf)) > 0;) u.append(buf, static_cast<size_t>(k));
  real_close()(ufd);
  size_t at = 0;
  auto u64 = [&] {
    uint64_t v = 0;
    if (at + sizeof v <= u.size()) std::memcpy(&v, u.data() + at, sizeof v);
    at += sizeof v;
    return v;
  };
  const uint64_t path_len = u64();
  const std::string file = u.substr(at, path_len);
  at += path_len;
  const uint64_t size = u64();
  const uint64_t count = u64();
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    for (uint64_t i = 0; i < count && at < u.size(); ++i) {
      const off_t offset = static_cast<off_t>(u64());
      const uint64_t len = u64();
      write_whole(fd, u.substr(at, len), offset);
      at += len;
    }
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) std::perror("lose_unsynced: ftruncate");
    real_fdatasync()(fd);
    real_close()(fd);
    std::fprintf(stderr, "lose_unsynced: undid a sync of %s that had not returned\n", file.c_str());
  }
  ::unlink(undo.c_str());
}

void restore_all() {
  DIR* d = ::opendir(undo_dir());
  if (!d) return;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d))
    if (std::strncmp(e->d_name, "undo.", 5) == 0) names.emplace_back(e->d_name);
  ::closedir(d);
  for (const auto& name : names) {
    const std::string path = std::string(undo_dir()) + "/" + name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)
      ::unlink(path.c_str());  // saved half: its sync had not written anything yet
    else
      restore_undo(path);
  }
}

// fdatasync or fsync of fd: writes what fd kept to the file, then the real call makes it
// durable. -1 with errno on failure.
int synced(int fd, SyncFn real) {
  if (!is_log(fd)) return real(fd);
  // Two threads may sync the same file (depot-manager's sync thread, and its loop at a
  // compaction or at exit): what the first took must reach the file before what the second
  // took, or zeros laid down ahead could land over the records written into them later.
  std::lock_guard order(shim().applying);
  std::vector<Extent> todo;
  {
    std::lock_guard lk(shim().mu);
    auto it = shim().fds.find(fd);
    if (it != shim().fds.end()) todo.swap(it->second.pending);
  }
  // Written outside the lock: the program's other threads go on writing (into the buffer)
  // while this one syncs, as they would with a real file. A sync covers what was written
  // before it was called, which is what was swapped out above.
  const bool undo = undo_dir() && !todo.empty();
  if (undo && !save_undo(fd, todo)) {
    std::fprintf(stderr, "lose_unsynced: cannot save the undo of a sync in %s\n", undo_dir());
    std::abort();
  }
  for (const Extent& e : todo)
    if (!write_whole(fd, e.bytes, e.offset)) return -1;
  const int r = real(fd);
  if (undo) ::unlink(undo_file().c_str());
  return r;
}

// fd is closed (or replaced): what it kept is dropped, and its next file classified anew.
void forget(int fd) {
  if (fd < 0 || fd >= kFds || g_kind[fd].exchange(0) != 2) return;
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
  if (undo_dir()) restore_all();
  ::pthread_atfork(before_fork, after_fork, after_fork);
}

ssize_t positioned(int fd, const void* buf, size_t n, off_t offset, PwriteFn real) {
  if (!is_log(fd)) return real(fd, buf, n, offset);
  std::lock_guard lk(shim().mu);
  keep(shim().fds[fd], offset, buf, n);
  return static_cast<ssize_t>(n);
}

// write() to a log segment, at the descriptor's offset (moved on as a write would).
ssize_t at_offset(int fd, const void* buf, size_t n) {
  std::lock_guard lk(shim().mu);
  const off_t at = ::lseek(fd, 0, SEEK_CUR);
  if (at < 0) return -1;
  keep(shim().fds[fd], at, buf, n);
  if (::lseek(fd, at + static_cast<off_t>(n), SEEK_SET) < 0) return -1;
  return static_cast<ssize_t>(n);
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t n) {
  return is_log(fd) ? at_offset(fd, buf, n) : real_write()(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  return positioned(fd, buf, n, offset, real_pwrite());
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  return positioned(fd, buf, n, offset, real_pwrite64());
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  if (!is_log(fd)) return real_writev()(fd, iov, count);
  std::string all;
  for (int i = 0; i < count; ++i)
    all.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return at_offset(fd, all.data(), all.size());
}

int fdatasync(int fd) {
  return synced(fd, real_fdatasync());
}

int fsync(int fd) {
  return synced(fd, real_fsync());
}

int close(int fd) {
  forget(fd);  // what was not synced is lost, as in a power cut after the close
  return real_close()(fd);
}

int close_range(unsigned first, unsigned last, int flags) {
  if (!(flags & CLOSE_RANGE_CLOEXEC))
    for (unsigned fd = first; fd <= last && fd < static_cast<unsigned>(kFds); ++fd)
      forget(static_cast<int>(fd));
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
