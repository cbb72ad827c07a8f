#include <mutex>
#include <unordered_map>
#include <vector>

#include "depot/client/call_util.h"
#include "depot/protocol/messages.h"

namespace depot {

using detail::call_wait;
using detail::throw_reply;

namespace detail {

struct LockState {
  Client* client;
  std::string name;
  bool reentrant;
  std::chrono::milliseconds ttl{0};
  std::mutex mu;
  std::unordered_map<uint64_t, uint64_t> tokens;  // each thread's hold, by thread_owner()
  std::string unlock_error;
};

struct SemaphoreState {
  Client* client;
  std::string name;
  uint32_t max;
  std::mutex mu;
  std::unordered_map<uint64_t, std::vector<uint64_t>> leases;  // by thread_owner()
  std::string unlock_error;
};

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
  auto it = st_->tokens.find(thread_owner());
  return it == st_->tokens.end() ? 0 : it->second;
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
  st_->tokens[thread_owner()] = token;
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
  uint64_t token;
  {
    std::lock_guard lk(st_->mu);
    auto it = st_->tokens.find(thread_owner());
    if (it == st_->tokens.end())
      throw NotOwnerError(msg::object("lock", st_->name) +
                          " is not held by this thread; acquire it first");
    token = it->second;
  }
  Reply r = st_->client->call(req::lock_release(st_->name, token));
  std::lock_guard lk(st_->mu);
  if (r.status == Status::OK) {
    if (req::parse_lock_release(r.body).remaining == 0) st_->tokens.erase(thread_owner());
    return;
  }
  if (r.status == Status::NOT_OWNER || r.status == Status::NOT_FOUND)
    st_->tokens.erase(thread_owner());
  throw_reply(r);
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

std::optional<uint64_t> Semaphore::acquire_for(Timeout timeout) {
  auto encode = [st = st_.get()](int64_t t) { return req::sem_acquire(st->name, st->max, t); };
  Reply r = call_wait(*st_->client, timeout, encode);
  if (r.status == Status::TIMEOUT) return std::nullopt;
  if (r.status != Status::OK) throw_reply(r);
  const uint64_t lease = req::parse_sem_acquire(r.body);
  std::lock_guard lk(st_->mu);
  st_->leases[thread_owner()].push_back(lease);
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
  uint64_t lease;
  {
    std::lock_guard lk(st_->mu);
    auto it = st_->leases.find(thread_owner());
    if (it == st_->leases.end() || it->second.empty())
      throw NotOwnerError(msg::object("semaphore", st_->name) +
                          ": this thread holds no lease; acquire one first");
    lease = it->second.back();
  }
  release(lease);
}

void Semaphore::release(uint64_t lease) {
  Reply r = st_->client->call(req::sem_release(st_->name, lease));
  {
    std::lock_guard lk(st_->mu);
    for (auto it = st_->leases.begin(); it != st_->leases.end();) {
      std::erase(it->second, lease);
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
