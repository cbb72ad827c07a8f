// Handles on the coordination objects (Client::lock, rlock, semaphore, event, barrier,
// variable, counter, topic). Each is cheap to copy; copies share state, and every call may
// come from any thread.
//
// Blocking calls wait forever without a timeout argument; with one they give up when it
// passes (acquire returns nullopt/false, wait throws TimeoutError). A wait in progress when
// the connection drops is sent again after the reconnect, as RemoteQueue::get is. Everything
// a client holds (locks, leases) belongs to its session: it is released when the client
// disconnects or stops heartbeating for the manager's --session-lease, so a crashed holder
// never blocks the others for long. The holder is told as soon as its connection ends (the
// manager restarted or closed the session, the network failed): lost() turns true and
// on_lost runs, without waiting for the program's next call.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "depot/client/coord_requests.h"
#include "depot/client/types.h"

namespace depot {

class Client;

namespace detail {
struct LockState;
struct SemaphoreState;
}  // namespace detail

// A lock shared by every client of the manager, usable with std::unique_lock and
// std::scoped_lock (it satisfies TimedLockable). Waiters are served first come, first
// served. Each acquire returns a fencing token, strictly increasing across every lock of the
// manager: pass it to storage so writes from a holder whose lock was taken over are refused.
// The hold belongs to the acquiring thread; unlock() from another thread is NotOwnerError.
// rlock() makes a reentrant lock: the same thread may acquire it again (counted).
// A hold is lost with its session: when the client's connection ends (manager restart, this
// process frozen past the session lease, a network cut), the client finds out at once, even
// while the program computes; lost() is then true, the on_lost callback runs, token() is 0
// and release() throws NotOwnerError without asking the manager. A hold ended by the manager
// while the session lives (its lease(ttl) ran out, a forced release) is found at release().
class Lock {
 public:
  Lock(Client& client, std::string name, bool reentrant);

  // Blocks until acquired; returns the fencing token.
  uint64_t acquire();
  // Gives up after `timeout`: nullopt.
  std::optional<uint64_t> acquire(std::chrono::nanoseconds timeout);
  // Never blocks.
  std::optional<uint64_t> try_acquire();
  // Releases this thread's hold (one count of a reentrant one). NotOwnerError if this
  // thread holds none, or the manager gave the lock to someone else meanwhile (lease expired,
  // session ended).
  void release();

  // Holds acquired from now on end by themselves after `ttl` (a lease), unless released
  // first: for holders that might hang while still connected. Zero (the default) = no lease.
  Lock& lease(std::chrono::milliseconds ttl);

  // The fencing token of this thread's hold, 0 when it holds none (or it was lost).
  uint64_t token() const;
  const std::string& name() const;

  // True while a hold taken through this handle has been lost with its session and not
  // released since (release() or unlock() then reports it; a new acquire by the thread that
  // lost it also clears it). Never blocks.
  bool lost() const;
  // Calls fn(why) each time a hold of this handle is lost with its session; `why` names the
  // lock and the cause. It runs on the client's background thread: keep it short and do not
  // wait on the client in it (set a flag, notify a condition variable). Replaces the previous
  // callback; an empty function removes it. Set it before acquiring: a loss before that is
  // only seen through lost().
  Lock& on_lost(std::function<void(const std::string& why)> fn);

  // TimedLockable. unlock() never throws, because lock guards call it from destructors: if
  // the hold was lost meanwhile (lease expired, session ended, connection lost) it records
  // why, for unlock_error(), instead of throwing as release() does.
  void lock() { acquire(); }
  void unlock() noexcept;
  // Why the last unlock() of this handle found the hold already lost; empty if it did not.
  std::string unlock_error() const;
  bool try_lock() { return try_acquire().has_value(); }
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> d) {
    return acquire(std::chrono::duration_cast<std::chrono::nanoseconds>(d)).has_value();
  }
  template <class Clock, class Duration>
  bool try_lock_until(std::chrono::time_point<Clock, Duration> t) {
    return try_lock_for(t - Clock::now());
  }

 private:
  std::optional<uint64_t> acquire_for(std::optional<std::chrono::nanoseconds> timeout);
  std::shared_ptr<detail::LockState> st_;
};

// At most `max` leases held at once across every client. release() returns the calling
// thread's most recent lease. Also usable with std::lock_guard (lock/unlock).
class Semaphore {
 public:
  Semaphore(Client& client, std::string name, uint32_t max);
  uint64_t acquire();  // blocks; returns the lease id
  std::optional<uint64_t> acquire(std::chrono::nanoseconds timeout);
  std::optional<uint64_t> try_acquire();
  void release();                // this thread's most recent lease
  void release(uint64_t lease);  // a lease this client holds
  uint32_t max() const;
  // As for Lock: a lease is lost with its session, and the client finds out at once. lost()
  // is true while a lost lease of this handle is not released (release() of it throws
  // NotOwnerError without asking the manager); on_lost(fn) runs fn(why) on the client's
  // background thread for each lease lost.
  bool lost() const;
  Semaphore& on_lost(std::function<void(const std::string& why)> fn);
  void lock() { acquire(); }
  void unlock() noexcept;  // like Lock::unlock: never throws, see unlock_error()
  std::string unlock_error() const;

 private:
  std::optional<uint64_t> acquire_for(std::optional<std::chrono::nanoseconds> timeout);
  std::shared_ptr<detail::SemaphoreState> st_;
};

// A flag clients set, clear and wait for (threading.Event across machines).
class Event {
 public:
  Event(Client& client, std::string name) : client_(&client), name_(std::move(name)) {}
  void set();
  void clear();
  bool is_set();
  void wait();                                  // until set
  bool wait(std::chrono::nanoseconds timeout);  // false when the timeout passed first

 private:
  bool wait_for(std::optional<std::chrono::nanoseconds> timeout);
  Client* client_;
  std::string name_;
};

// `parties` clients wait until all have arrived, then all proceed; cyclic. wait() returns
// the arrival index (0 = first). If a waiting party times out or disconnects, the barrier
// breaks: the others get BrokenError, and so does every later wait until reset().
class Barrier {
 public:
  Barrier(Client& client, std::string name, uint32_t parties)
      : client_(&client), name_(std::move(name)), parties_(parties) {}
  uint32_t wait();
  uint32_t wait(std::chrono::nanoseconds timeout);  // TimeoutError, and the barrier breaks
  void reset();
  uint32_t parties() const { return parties_; }

 private:
  uint32_t wait_for(std::optional<std::chrono::nanoseconds> timeout);
  Client* client_;
  std::string name_;
  uint32_t parties_;
};

// A 64-bit counter changed atomically by add(): the lock-free way to count.
class Counter {
 public:
  Counter(Client& client, std::string name) : client_(&client), name_(std::move(name)) {}
  int64_t add(int64_t delta);  // returns the new value
  int64_t value() { return add(0); }

 private:
  Client* client_;
  std::string name_;
};

// The untyped operations of Variable<T>.
class RawVariable {
 public:
  RawVariable(Client& client, std::string name) : client_(&client), name_(std::move(name)) {}
  uint64_t set(std::string_view value);
  RawVersioned get(std::optional<std::chrono::nanoseconds> timeout);  // waits for a value
  std::optional<RawVersioned> try_get();
  CasResult compare_and_set(uint64_t expected_version, std::string_view value);
  RawVersioned wait_for_change(uint64_t after_version,
                               std::optional<std::chrono::nanoseconds> timeout);
  bool erase();
  const std::string& name() const { return name_; }

 private:
  Client* client_;
  std::string name_;
};

}  // namespace depot
