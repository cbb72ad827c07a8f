#include <mutex>
#include <unordered_map>
#include <vector>

#include "depot/client/call_util.h"

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

uint64_t u64_of(const Reply& r) {
  proto::Reader rd(r.body);
  return rd.u64();
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

std::string Client::remove(std::string_view name) {
  std::string body = request(proto::Op::DELETE, BodyWriter().str(name).take());
  proto::Reader r(body);
  return std::string(r.str());
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
    return BodyWriter()
        .str(st->name)
        .u8(st->reentrant ? 1 : 0)
        .u64(owner)
        .i64(t)
        .i64(ttl.count())
        .take();
  };
  // A wait cut by a lost connection is safe to send again: whatever the old session was
  // granted, its end released it.
  Reply r = call_wait(*st_->client, proto::Op::LOCK_ACQUIRE, timeout, encode);
  if (r.status == Status::TIMEOUT) return std::nullopt;
  if (r.status != Status::OK) throw_reply(r);
  const uint64_t token = u64_of(r);
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
      throw NotOwnerError(Status::NOT_OWNER,
                          "lock '" + st_->name + "' is not held by this thread; acquire it first");
    token = it->second;
  }
  Reply r =
      st_->client->call(proto::Op::LOCK_RELEASE, BodyWriter().str(st_->name).u64(token).take());
  std::lock_guard lk(st_->mu);
  if (r.status == Status::OK) {
    proto::Reader rd(r.body);
    if (rd.u32() == 0) st_->tokens.erase(thread_owner());
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
  auto encode = [st = st_.get()](int64_t t) {
    return BodyWriter().str(st->name).u32(st->max).i64(t).take();
  };
  Reply r = call_wait(*st_->client, proto::Op::SEM_ACQUIRE, timeout, encode);
  if (r.status == Status::TIMEOUT) return std::nullopt;
  if (r.status != Status::OK) throw_reply(r);
  const uint64_t lease = u64_of(r);
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
      throw NotOwnerError(
          Status::NOT_OWNER,
          "semaphore '" + st_->name + "': this thread holds no lease; acquire one first");
    lease = it->second.back();
  }
  release(lease);
}

void Semaphore::release(uint64_t lease) {
  Reply r =
      st_->client->call(proto::Op::SEM_RELEASE, BodyWriter().str(st_->name).u64(lease).take());
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
  client_->request(proto::Op::EVENT_SET, BodyWriter().str(name_).take());
}
void Event::clear() {
  client_->request(proto::Op::EVENT_CLEAR, BodyWriter().str(name_).take());
}

bool Event::wait_for(Timeout timeout) {
  auto encode = [this](int64_t t) { return BodyWriter().str(name_).i64(t).take(); };
  Reply r = call_wait(*client_, proto::Op::EVENT_WAIT, timeout, encode);
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
  auto encode = [this](int64_t t) { return BodyWriter().str(name_).u32(parties_).i64(t).take(); };
  Reply r = call_wait(*client_, proto::Op::BARRIER_WAIT, timeout, encode);
  if (r.status != Status::OK) throw_reply(r);
  proto::Reader rd(r.body);
  return rd.u32();
}

uint32_t Barrier::wait() {
  return wait_for(std::nullopt);
}
uint32_t Barrier::wait(std::chrono::nanoseconds timeout) {
  return wait_for(timeout);
}
void Barrier::reset() {
  client_->request(proto::Op::BARRIER_RESET, BodyWriter().str(name_).take());
}

int64_t Counter::add(int64_t delta) {
  std::string body =
      client_->request(proto::Op::COUNTER_ADD, BodyWriter().str(name_).i64(delta).take());
  proto::Reader rd(body);
  return rd.i64();
}

// ---------------------------------------------------------------- Variable, pub/sub

uint64_t RawVariable::set(std::string_view value) {
  std::string body =
      client_->request(proto::Op::VAR_SET, BodyWriter().str(name_).str(value).take());
  proto::Reader rd(body);
  return rd.u64();
}

namespace {
RawVersioned versioned_of(const Reply& r) {
  proto::Reader rd(r.body);
  RawVersioned v;
  v.version = rd.u64();
  const bool exists = rd.u8() != 0;
  auto value = rd.str();
  if (exists) v.value = std::string(value);
  return v;
}
}  // namespace

RawVersioned RawVariable::get(Timeout timeout) {
  auto encode = [this](int64_t t) { return BodyWriter().str(name_).i64(t).take(); };
  Reply r = call_wait(*client_, proto::Op::VAR_GET, timeout, encode);
  if (r.status == Status::NOT_FOUND && timeout)  // no value within the timeout (0 included)
    throw TimeoutError(Status::TIMEOUT, "variable '" + name_ + "' had no value before the timeout");
  if (r.status != Status::OK) throw_reply(r);
  return versioned_of(r);
}

std::optional<RawVersioned> RawVariable::try_get() {
  Reply r = client_->call(proto::Op::VAR_GET, BodyWriter().str(name_).i64(0).take());
  if (r.status == Status::NOT_FOUND) return std::nullopt;
  if (r.status != Status::OK) throw_reply(r);
  return versioned_of(r);
}

CasResult RawVariable::compare_and_set(uint64_t expected_version, std::string_view value) {
  std::string body = client_->request(
      proto::Op::VAR_CAS, BodyWriter().str(name_).u64(expected_version).str(value).take());
  proto::Reader rd(body);
  CasResult c;
  c.swapped = rd.u8() != 0;
  c.version = rd.u64();
  return c;
}

RawVersioned RawVariable::wait_for_change(uint64_t after_version, Timeout timeout) {
  auto encode = [this, after_version](int64_t t) {
    return BodyWriter().str(name_).u64(after_version).i64(t).take();
  };
  Reply r = call_wait(*client_, proto::Op::VAR_WAIT, timeout, encode);
  if (r.status != Status::OK) throw_reply(r);
  return versioned_of(r);
}

bool RawVariable::erase() {
  Reply r = client_->call(proto::Op::VAR_DELETE, BodyWriter().str(name_).take());
  if (r.status == Status::NOT_FOUND) return false;
  if (r.status != Status::OK) throw_reply(r);
  proto::Reader rd(r.body);
  return rd.u8() != 0;
}

uint32_t publish_bytes(Client& c, const std::string& topic, std::string_view payload) {
  std::string body = c.request(proto::Op::PUBLISH, BodyWriter().str(topic).str(payload).take());
  proto::Reader rd(body);
  return rd.u32();
}

}  // namespace depot
