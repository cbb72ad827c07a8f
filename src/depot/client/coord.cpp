#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "depot/client/call_util.h"
#include "depot/protocol/messages.h"

namespace depot {

using detail::call_wait;
using detail::throw_reply;

namespace detail {

// What Lock and Semaphore need of the client's session tracking (Client::watch_session).
struct SessionWatch {
  static uint64_t watch(Client& c, uint64_t connection,
                        std::function<void(const std::string&)> fn) {
    return c.watch_session(connection, std::move(fn));
  }
  static void unwatch(Client& c, uint64_t id) { c.unwatch_session(id); }
};

// Holds belong to the connection that carried their grant (Reply::connection). Each state
// watches the connections its holds are on, one watch per connection, dropped when no hold
// is left on it; when one ends, its holds move to `lost`.
struct LockState {
  Client* client;
  std::string name;
  bool reentrant;
  std::chrono::milliseconds ttl{0};
  mutable std::mutex mu;
  struct Hold {
    uint64_t token;
    uint64_t connection;
  };
  std::unordered_map<uint64_t, Hold> holds;        // each thread's hold, by thread_owner()
  std::unordered_map<uint64_t, std::string> lost;  // threads whose hold was lost, and why
  std::unordered_map<uint64_t, uint64_t> watches;  // connection -> watch id
  std::function<void(const std::string&)> on_lost;
  std::string unlock_error;
};

struct SemaphoreState {
  Client* client;
  std::string name;
  uint32_t max;
  mutable std::mutex mu;
  struct Lease {
    uint64_t id;
    uint64_t connection;
  };
  std::unordered_map<uint64_t, std::vector<Lease>> leases;  // by thread_owner()
  struct Lost {
    uint64_t owner;
    std::string why;
  };
  std::unordered_map<uint64_t, Lost> lost;  // by lease id
  std::unordered_map<uint64_t, uint64_t> watches;
  std::function<void(const std::string&)> on_lost;
  std::string unlock_error;
};

namespace {

// With st.mu held: watches `connection` unless already watched. `ended` runs on the client's
// background thread when it ends.
template <class State>
void watch_connection(const std::shared_ptr<State>& st, uint64_t connection,
                      void (*ended)(const std::weak_ptr<State>&, uint64_t, const std::string&)) {
  if (connection == 0 || st->watches.count(connection)) return;
  st->watches[connection] =
      SessionWatch::watch(*st->client, connection,
                          [w = std::weak_ptr<State>(st), connection,
                           ended](const std::string& why) { ended(w, connection, why); });
}

// With st.mu held: stops watching `connection` once `in_use` says no hold is left on it.
template <class State>
void forget_connection(State& st, uint64_t connection, bool in_use) {
  if (in_use) return;
  auto it = st.watches.find(connection);
  if (it == st.watches.end()) return;
  SessionWatch::unwatch(*st.client, it->second);
  st.watches.erase(it);
}

bool lock_in_use(const LockState& st, uint64_t connection) {
  for (const auto& [owner, h] : st.holds)
    if (h.connection == connection) return true;
  return false;
}

bool sem_in_use(const SemaphoreState& st, uint64_t connection) {
  for (const auto& [owner, ls] : st.leases)
    for (const auto& l : ls)
      if (l.connection == connection) return true;
  return false;
}

void lock_session_ended(const std::weak_ptr<LockState>& w, uint64_t connection,
                        const std::string& why) {
  auto st = w.lock();
  if (!st) return;
  const std::string message = msg::object("lock", st->name) + " was lost with its session: " + why +
                              "; another holder may have it now, so the critical section "
                              "was not protected to its end";
  std::function<void(const std::string&)> cb;
  {
    std::lock_guard lk(st->mu);
    st->watches.erase(connection);
    bool any = false;
    for (auto it = st->holds.begin(); it != st->holds.end();) {
      if (it->second.connection != connection) {
        ++it;
        continue;
      }
      st->lost[it->first] = message;
      it = st->holds.erase(it);
      any = true;
    }
    if (!any) return;
    cb = st->on_lost;
  }
  if (cb) cb(message);
}

void sem_session_ended(const std::weak_ptr<SemaphoreState>& w, uint64_t connection,
                       const std::string& why) {
  auto st = w.lock();
  if (!st) return;
  std::vector<std::string> messages;
  std::function<void(const std::string&)> cb;
  {
    std::lock_guard lk(st->mu);
    st->watches.erase(connection);
    for (auto it = st->leases.begin(); it != st->leases.end();) {
      auto& ls = it->second;
      for (auto l = ls.begin(); l != ls.end();) {
        if (l->connection != connection) {
          ++l;
          continue;
        }
        messages.push_back(msg::object("semaphore", st->name) + ": lease " + std::to_string(l->id) +
                           " was lost with its session: " + why +
                           "; another holder may have taken it");
        st->lost[l->id] = SemaphoreState::Lost{it->first, messages.back()};
        l = ls.erase(l);
      }
      it = ls.empty() ? st->leases.erase(it) : std::next(it);
    }
    cb = st->on_lost;
  }
  if (cb)
    for (const auto& m : messages) cb(m);
}

}  // namespace

}  // namespace detail

namespace {

// Identifies the calling thread as a lock owner within this process (the manager pairs it
// with the session). Unique per thread for the life of the process.
uint64_t thread_owner() {
  static std::atomic<uint64_t> next{1};
  thread_local const uint64_t id = next.fetch_add(1);
  return id;
}

}  // namespace

// ---------------------------------------------------------------- Client factories

Lock Client::lock(std::string name) {
  return Lock(*this, std::move(name), false);
}
Lock Client::rlock(std::string name) {
  return Lock(*this, std::move(name), true);
}
Semaphore Client::semaphore(std::string name, uint32_t max_leases) {
  return Semaphore(*this, std::move(name), max_leases);
}
Event Client::event(std::string name) {
  return Event(*this, std::move(name));
}
Barrier Client::barrier(std::string name, uint32_t parties) {
  return Barrier(*this, std::move(name), parties);
}
Counter Client::counter(std::string name) {
  return Counter(*this, std::move(name));
}

// ---------------------------------------------------------------- Lock

Lock::Lock(Client& client, std::string name, bool reentrant)
    : st_(std::make_shared<detail::LockState>()) {
  st_->client = &client;
  st_->name = std::move(name);
  st_->reentrant = reentrant;
}

Lock& Lock::lease(std::chrono::milliseconds ttl) {
  std::lock_guard lk(st_->mu);
  st_->ttl = ttl;
  return *this;
}

const std::string& Lock::name() const {
  return st_->name;
}

uint64_t Lock::token() const {
  std::lock_guard lk(st_->mu);
  auto it = st_->holds.find(thread_owner());
  return it == st_->holds.end() ? 0 : it->second.token;
}

bool Lock::lost() const {
  std::lock_guard lk(st_->mu);
  return !st_->lost.empty();
}

Lock& Lock::on_lost(std::function<void(const std::string& why)> fn) {
  std::lock_guard lk(st_->mu);
  st_->on_lost = std::move(fn);
  return *this;
}

std::optional<uint64_t> Lock::acquire_for(Timeout timeout) {
  std::chrono::milliseconds ttl;
  {
    std::lock_guard lk(st_->mu);
    ttl = st_->ttl;
  }
  const uint64_t owner = thread_owner();
  auto encode = [st = st_.get(), owner, ttl](int64_t t) {
    return req::lock_acquire(st->name, st->reentrant, owner, t, ttl.count());
  };
  // A wait cut by a lost connection is safe to send again: whatever the old session was
  // granted, its end released it.
  Reply r = call_wait(*st_->client, timeout, encode);
  if (r.status == Status::TIMEOUT) return std::nullopt;
  if (r.status != Status::OK) throw_reply(r);
  const uint64_t token = req::parse_lock_acquire(r.body).token;
  std::lock_guard lk(st_->mu);
  st_->holds[owner] = detail::LockState::Hold{token, r.connection};
  st_->lost.erase(owner);
  // Granted on a connection that has ended already: the watch reports it at once.
  detail::watch_connection(st_, r.connection, &detail::lock_session_ended);
  return token;
}

uint64_t Lock::acquire() {
  return *acquire_for(std::nullopt);
}
std::optional<uint64_t> Lock::acquire(std::chrono::nanoseconds timeout) {
  return acquire_for(timeout);
}
std::optional<uint64_t> Lock::try_acquire() {
  return acquire_for(std::chrono::nanoseconds(0));
}

void Lock::release() {
  const uint64_t owner = thread_owner();
  uint64_t token;
  uint64_t connection;
  {
    std::lock_guard lk(st_->mu);
    auto it = st_->holds.find(owner);
    if (it == st_->holds.end()) {
      if (auto l = st_->lost.find(owner); l != st_->lost.end()) {
        NotOwnerError e(l->second);  // nothing to release: the manager freed it
        st_->lost.erase(l);
        throw e;
      }
      throw NotOwnerError(msg::object("lock", st_->name) +
                          " is not held by this thread; acquire it first");
    }
    token = it->second.token;
    connection = it->second.connection;
  }
  Reply r = st_->client->call(req::lock_release(st_->name, token));
  std::lock_guard lk(st_->mu);
  const bool ok = r.status == Status::OK;
  if (ok && req::parse_lock_release(r.body).remaining > 0) return;  // a reentrant count left
  if (ok || r.status == Status::NOT_OWNER || r.status == Status::NOT_FOUND) {
    st_->holds.erase(owner);
    st_->lost.erase(owner);  // lost meanwhile: this release reports it
    detail::forget_connection(*st_, connection, detail::lock_in_use(*st_, connection));
  }
  if (!ok) throw_reply(r);
}

void Lock::unlock() noexcept {
  try {
    release();
  } catch (const std::exception& e) {
    std::lock_guard lk(st_->mu);
    st_->unlock_error = e.what();
  }
}

std::string Lock::unlock_error() const {
  std::lock_guard lk(st_->mu);
  return st_->unlock_error;
}

// ---------------------------------------------------------------- Semaphore

Semaphore::Semaphore(Client& client, std::string name, uint32_t max)
    : st_(std::make_shared<detail::SemaphoreState>()) {
  st_->client = &client;
  st_->name = std::move(name);
  st_->max = max;
}

uint32_t Semaphore::max() const {
  return st_->max;
}

bool Semaphore::lost() const {
  std::lock_guard lk(st_->mu);
  return !st_->lost.empty();
}

Semaphore& Semaphore::on_lost(std::function<void(const std::string& why)> fn) {
  std::lock_guard lk(st_->mu);
  st_->on_lost = std::move(fn);
  return *this;
}

std::optional<uint64_t> Semaphore::acquire_for(Timeout timeout) {
  auto encode = [st = st_.get()](int64_t t) { return req::sem_acquire(st->name, st->max, t); };
  Reply r = call_wait(*st_->client, timeout, encode);
  if (r.status == Status::TIMEOUT) return std::nullopt;
  if (r.status != Status::OK) throw_reply(r);
  const uint64_t lease = req::parse_sem_acquire(r.body);
  std::lock_guard lk(st_->mu);
  st_->leases[thread_owner()].push_back(detail::SemaphoreState::Lease{lease, r.connection});
  detail::watch_connection(st_, r.connection, &detail::sem_session_ended);
  return lease;
}

uint64_t Semaphore::acquire() {
  return *acquire_for(std::nullopt);
}
std::optional<uint64_t> Semaphore::acquire(std::chrono::nanoseconds timeout) {
  return acquire_for(timeout);
}
std::optional<uint64_t> Semaphore::try_acquire() {
  return acquire_for(std::chrono::nanoseconds(0));
}

void Semaphore::release() {
  const uint64_t owner = thread_owner();
  uint64_t lease = 0;
  {
    std::lock_guard lk(st_->mu);
    auto it = st_->leases.find(owner);
    if (it != st_->leases.end() && !it->second.empty()) {
      lease = it->second.back().id;
    } else {
      for (auto& [id, l] : st_->lost)
        if (l.owner == owner) {
          lease = id;
          break;
        }
      if (lease == 0)
        throw NotOwnerError(msg::object("semaphore", st_->name) +
                            ": this thread holds no lease; acquire one first");
    }
  }
  release(lease);
}

void Semaphore::release(uint64_t lease) {
  {
    std::lock_guard lk(st_->mu);
    if (auto l = st_->lost.find(lease); l != st_->lost.end()) {
      NotOwnerError e(l->second.why);  // nothing to release: the manager took it back
      st_->lost.erase(l);
      throw e;
    }
  }
  Reply r = st_->client->call(req::sem_release(st_->name, lease));
  {
    std::lock_guard lk(st_->mu);
    st_->lost.erase(lease);  // lost meanwhile: this release reports it
    for (auto it = st_->leases.begin(); it != st_->leases.end();) {
      for (auto l = it->second.begin(); l != it->second.end();) {
        if (l->id != lease) {
          ++l;
          continue;
        }
        const uint64_t connection = l->connection;
        l = it->second.erase(l);
        detail::forget_connection(*st_, connection, detail::sem_in_use(*st_, connection));
      }
      it = it->second.empty() ? st_->leases.erase(it) : std::next(it);
    }
  }
  if (r.status != Status::OK) throw_reply(r);
}

void Semaphore::unlock() noexcept {
  try {
    release();
  } catch (const std::exception& e) {
    std::lock_guard lk(st_->mu);
    st_->unlock_error = e.what();
  }
}

std::string Semaphore::unlock_error() const {
  std::lock_guard lk(st_->mu);
  return st_->unlock_error;
}

// ---------------------------------------------------------------- Event, Barrier, Counter

void Event::set() {
  client_->request(req::event_set(name_));
}
void Event::clear() {
  client_->request(req::event_clear(name_));
}

bool Event::wait_for(Timeout timeout) {
  Reply r = call_wait(*client_, timeout, [this](int64_t t) { return req::event_wait(name_, t); });
  if (r.status == Status::TIMEOUT) return false;
  if (r.status != Status::OK) throw_reply(r);
  return true;
}

bool Event::is_set() {
  return wait_for(std::chrono::nanoseconds(0));
}
void Event::wait() {
  wait_for(std::nullopt);
}
bool Event::wait(std::chrono::nanoseconds timeout) {
  return wait_for(timeout);
}

uint32_t Barrier::wait_for(Timeout timeout) {
  Reply r = call_wait(*client_, timeout,
                      [this](int64_t t) { return req::barrier_wait(name_, parties_, t); });
  if (r.status != Status::OK) throw_reply(r);
  return req::parse_barrier_wait(r.body);
}

uint32_t Barrier::wait() {
  return wait_for(std::nullopt);
}
uint32_t Barrier::wait(std::chrono::nanoseconds timeout) {
  return wait_for(timeout);
}
void Barrier::reset() {
  client_->request(req::barrier_reset(name_));
}

int64_t Counter::add(int64_t delta) {
  return req::parse_counter_add(client_->request(req::counter_add(name_, delta)));
}

// ---------------------------------------------------------------- Variable, pub/sub

uint64_t RawVariable::set(std::string_view value) {
  return req::parse_var_set(client_->request(req::var_set(name_, value)));
}

RawVersioned RawVariable::get(Timeout timeout) {
  Reply r = call_wait(*client_, timeout, [this](int64_t t) { return req::var_get(name_, t); });
  if (r.status == Status::NOT_FOUND && timeout)  // no value within the timeout (0 included)
    throw TimeoutError(Status::TIMEOUT, msg::no_value_before_timeout(name_));
  if (r.status != Status::OK) throw_reply(r);
  return req::parse_var_state(r.body);
}

std::optional<RawVersioned> RawVariable::try_get() {
  Reply r = client_->call(req::var_get(name_, proto::kNoWait));
  if (r.status == Status::NOT_FOUND) return std::nullopt;
  if (r.status != Status::OK) throw_reply(r);
  return req::parse_var_state(r.body);
}

CasResult RawVariable::compare_and_set(uint64_t expected_version, std::string_view value) {
  return req::parse_var_cas(client_->request(req::var_cas(name_, expected_version, value)));
}

RawVersioned RawVariable::wait_for_change(uint64_t after_version, Timeout timeout) {
  Reply r = call_wait(*client_, timeout, [this, after_version](int64_t t) {
    return req::var_wait(name_, after_version, t);
  });
  if (r.status != Status::OK) throw_reply(r);
  return req::parse_var_state(r.body);
}

bool RawVariable::erase() {
  Reply r = client_->call(req::var_delete(name_));
  if (r.status == Status::NOT_FOUND) return false;
  if (r.status != Status::OK) throw_reply(r);
  return req::parse_var_delete(r.body).existed;
}

uint32_t publish_bytes(Client& c, const std::string& topic, std::string_view payload) {
  return req::parse_publish(c.request(req::publish(topic, payload)));
}

}  // namespace depot
