// The executor, futures, actors and workers (client/executor.h); docs/executor.md describes
// the records below and the objects they live in.
#include "depot/executor/executor.h"

#include <cxxabi.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "depot/auth/auth.h"
#include "depot/client/coord.h"

namespace depot {

namespace detail {

namespace {

using SteadyClock = std::chrono::steady_clock;
using Request = std::pair<proto::Op, std::string>;

enum Kind : uint8_t { CALL = 1, ACTOR_NEW = 2, ACTOR_CALL = 3, ACTOR_GET = 4, ACTOR_CLOSE = 5 };
enum Flags : uint8_t { RESILIENT = 1, RESTORE = 2 };

// The names a pool uses in the manager.
std::string tasks_queue(const std::string& pool) {
  return pool + ".tasks";
}
std::string result_var(const std::string& pool, const std::string& sid) {
  return pool + ".r." + sid;
}
std::string marker_var(const std::string& pool, const std::string& executor) {
  return pool + ".executor." + executor;
}
std::string cancel_topic(const std::string& pool) {
  return pool + ".cancel";
}
std::string mailbox(const std::string& pool, const std::string& actor) {
  return pool + ".actor." + actor;
}
std::string alive_lock(const std::string& pool, const std::string& actor) {
  return pool + ".actor." + actor + ".alive";
}
std::string state_var(const std::string& pool, const std::string& actor) {
  return pool + ".actor." + actor + ".state";
}

// A task as it travels in "<pool>.tasks" or an actor's mailbox.
struct TaskRecord {
  uint8_t kind = CALL;
  std::string key, sid, name, reply, actor;
  uint32_t max_attempts = 3;
  uint8_t flags = 0;
  std::vector<EncodedArg> args;  // FUTURE/FUTURES carry keys only
};

std::string encode_task(const TaskRecord& t) {
  BodyWriter w;
  w.u8(t.kind).str(t.key).str(t.sid).str(t.name).str(t.reply).u32(t.max_attempts).str(t.actor);
  w.u8(t.flags);
  w.u32(static_cast<uint32_t>(t.args.size()));
  for (const auto& a : t.args) {
    w.u8(a.tag);
    if (a.tag == ArgSlot::VALUE) {
      w.str(a.bytes);
    } else {
      w.u32(static_cast<uint32_t>(a.keys.size()));
      for (const auto& k : a.keys) w.str(k);
    }
  }
  return w.take();
}

bool decode_task(std::string_view b, TaskRecord& t) {
  proto::Reader r(b);
  t.kind = r.u8();
  t.key = r.str();
  t.sid = r.str();
  t.name = r.str();
  t.reply = r.str();
  t.max_attempts = r.u32();
  t.actor = r.str();
  t.flags = r.u8();
  const uint32_t n = r.u32();
  if (n > r.remaining()) return false;
  t.args.resize(n);
  for (auto& a : t.args) {
    a.tag = static_cast<ArgSlot::Tag>(r.u8());
    if (a.tag == ArgSlot::VALUE) {
      a.bytes = r.str();
    } else {
      const uint32_t k = r.u32();
      if (k > r.remaining() / 4) return false;
      for (uint32_t i = 0; i < k; ++i) a.keys.emplace_back(r.str());
    }
  }
  return r.at_end();
}

// Result records: u8 1, str payload  |  u8 0, str type, str message.
std::string ok_record(std::string_view payload) {
  return BodyWriter().u8(1).str(payload).take();
}
std::string error_record(std::string_view type, std::string_view message) {
  return BodyWriter().u8(0).str(type).str(message).take();
}

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  std::free(d);
  return out;
}

}  // namespace

// ------------------------------------------------------------ future state

namespace {
// A continuation (then(), wait(), as_completed()) that throws must not take the executor's
// thread, or the other continuations, down with it.
void run_callback(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "depot: a future's continuation threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "depot: a future's continuation threw\n");
  }
}
}  // namespace

void FutureState::wait() const {
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return phase != PENDING; });
}

bool FutureState::wait_until(SteadyClock::time_point t) const {
  std::unique_lock lk(mu);
  return cv.wait_until(lk, t, [&] { return phase != PENDING; });
}

bool FutureState::resolve(Phase to, std::string a, std::string message) {
  std::vector<std::pair<uint64_t, std::function<void()>>> cbs;
  std::vector<std::shared_ptr<FutureState>> old;
  {
    std::lock_guard lk(mu);
    if (phase != PENDING) return false;
    phase = to;
    if (to == OK)
      payload = std::move(a);
    else {
      err_type = std::move(a);
      err_message = std::move(message);
    }
    cbs.swap(callbacks);
    old.swap(deps);
  }
  cv.notify_all();
  for (auto& [n, f] : cbs) run_callback(f);
  return true;
}

uint64_t FutureState::on_done(std::function<void()> f) {
  {
    std::lock_guard lk(mu);
    if (phase == PENDING) {
      callbacks.emplace_back(++next_callback, std::move(f));
      return next_callback;
    }
  }
  f();  // on the caller's thread: its exceptions are the caller's
  return 0;
}

void FutureState::forget(uint64_t callback) {
  if (callback == 0) return;
  std::lock_guard lk(mu);
  std::erase_if(callbacks, [&](const auto& c) { return c.first == callback; });
}

void FutureState::rethrow() const {
  std::lock_guard lk(mu);
  if (phase == OK) return;
  if (phase == CANCELLED)
    throw CancelledError(Status::OK, "task '" + key + "' (" + function + ") was cancelled" +
                                         (err_message.empty() ? "" : ": " + err_message));
  throw RemoteError(function, err_type, err_message, key);
}

std::exception_ptr FutureState::exception() const {
  try {
    rethrow();
    return nullptr;
  } catch (...) {
    return std::current_exception();
  }
}

std::vector<bool> wait_states(const std::vector<std::shared_ptr<FutureState>>& states,
                              std::optional<SteadyClock::time_point> deadline, ReturnWhen when) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    size_t done = 0;
    bool failed = false;
  };
  auto sh = std::make_shared<Shared>();
  std::vector<uint64_t> ids;
  ids.reserve(states.size());
  for (const auto& s : states) {
    ids.push_back(s->on_done([sh, s = s.get()] {
      bool bad;
      {
        std::lock_guard lk(s->mu);
        bad = s->phase != FutureState::OK;
      }
      std::lock_guard lk(sh->mu);
      ++sh->done;
      sh->failed = sh->failed || bad;
      sh->cv.notify_all();
    }));
  }
  auto satisfied = [&] {
    if (sh->done == states.size()) return true;
    if (when == ReturnWhen::FIRST_COMPLETED) return sh->done > 0;
    if (when == ReturnWhen::FIRST_EXCEPTION) return sh->failed;
    return false;
  };
  {
    std::unique_lock lk(sh->mu);
    if (deadline)
      sh->cv.wait_until(lk, *deadline, satisfied);
    else
      sh->cv.wait(lk, satisfied);
  }
  // Futures still pending keep no trace of this wait (a polling loop must not grow them).
  for (size_t i = 0; i < states.size(); ++i) states[i]->forget(ids[i]);
  std::vector<bool> out;
  out.reserve(states.size());
  for (const auto& s : states) out.push_back(s->done());
  return out;
}

// ------------------------------------------------------------ actors (executor side)

struct ActorState {
  std::string id, cls, pool;
  bool resilient = false;
  std::weak_ptr<ExecutorCore> core;
  std::mutex mu;
  bool closed = false;
  bool dead = false;
  bool restoring = false;
  std::shared_ptr<FutureState> restore_future;
  std::vector<std::weak_ptr<FutureState>> outstanding;
};

// ------------------------------------------------------------ executor core

class ExecutorCore : public std::enable_shared_from_this<ExecutorCore> {
 public:
  ExecutorCore(Client& c, std::string p, ExecutorOptions o)
      : client(c),
        pool(std::move(p)),
        opt(o),
        id(auth::random_hex(16)),
        reply_q(pool + ".done." + id),
        tasks_q(tasks_queue(pool)) {}

  void start() {
    // A marker the manager loses if it restarts: the collector then sends again what it lost.
    RawVariable(client, marker_var(pool, id)).set("1");
    connections_seen = client.connections();
    collector = std::thread([this] { collect_loop(); });
  }
  void stop();
  void release(const std::string& key, const std::string& sid) {
    std::lock_guard lk(release_mu);
    releases.emplace_back(key, sid);
  }
  // A future was cancelled: tasks waiting on it fail, and workers are told to skip it.
  void cancelled(const std::shared_ptr<FutureState>& st) {
    try {
      publish_bytes(client, cancel_topic(pool), st->sid);
    } catch (const Error&) {
      // The manager is away; a worker may then run the task, and its result is ignored.
    }
    settled(st);
  }

  std::shared_ptr<FutureState> submit(const SubmitOptions& o, const std::string& fn,
                                      std::vector<EncodedArg> args);
  std::vector<std::shared_ptr<FutureState>> submit_many(const SubmitOptions& o,
                                                        const std::string& fn,
                                                        std::vector<std::vector<EncodedArg>> args);
  std::shared_ptr<FutureState> actor_call(const std::shared_ptr<ActorState>& a, uint8_t kind,
                                          const std::string& name, std::vector<EncodedArg> args);
  std::shared_ptr<ActorState> make_actor(const std::string& cls, const ActorOptions& o);
  // Marks an actor closed or dead (once) and fails the calls it still owed with `type`.
  void end_actor(const std::shared_ptr<ActorState>& a, bool closed, const char* type,
                 const std::string& why);
  std::shared_ptr<FutureState> new_state(const std::string& key, const std::string& fn) {
    auto st = std::make_shared<FutureState>();
    st->key = key;
    st->sid = id + "." + std::to_string(++counter);
    st->function = fn;
    st->core = weak_from_this();
    return st;
  }

  Client& client;
  const std::string pool;
  const ExecutorOptions opt;
  const std::string id;
  const std::string reply_q;
  const std::string tasks_q;

 private:
  struct Blocked {
    std::shared_ptr<FutureState> st;
    std::string record;
    int32_t priority = 0;
    size_t missing = 0;
  };
  struct Ready {
    std::string record;
    int32_t priority;
    std::shared_ptr<FutureState> st;
  };
  std::string make_key(const SubmitOptions& o, const std::string& fn,
                       const std::vector<EncodedArg>& args);
  // Registers one submission: returns the shared state, and the record to put now (empty if
  // it reused a live task or waits for its dependencies).
  std::shared_ptr<FutureState> prepare(const SubmitOptions& o, const std::string& fn,
                                       std::vector<EncodedArg> args, std::vector<Ready>& ready);
  void put_tasks(std::vector<Ready>& ready);
  // A state left PENDING: wake its dependents (or fail them).
  void settled(const std::shared_ptr<FutureState>& st);
  void complete(const std::shared_ptr<FutureState>& st, FutureState::Phase phase, std::string a,
                std::string message);
  void collect_loop();
  void handle_notification(std::string_view n);
  void flush_releases();
  void check_actors();
  // After a reconnect: if the manager restarted, send again what it lost.
  void recover();
  uint64_t connections_seen = 0;

  std::mutex mu;
  std::unordered_map<std::string, std::weak_ptr<FutureState>> live;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Blocked>>> blocked_on;
  std::vector<std::weak_ptr<ActorState>> actors;
  std::atomic<uint64_t> counter{0};

  std::mutex release_mu;
  std::vector<std::pair<std::string, std::string>> releases;  // key, submission id

  std::thread collector;
  std::atomic<bool> stopping{false};
};

FutureState::~FutureState() {
  if (key.empty()) return;
  if (auto c = core.lock()) c->release(key, sid);
}

std::string ExecutorCore::make_key(const SubmitOptions& o, const std::string& fn,
                                   const std::vector<EncodedArg>& args) {
  if (!o.key.empty()) return o.key;
  if (!o.pure) return fn + "-" + id + "-" + std::to_string(++counter);
  std::string blob = fn;
  blob.push_back('\0');
  for (const auto& a : args) {
    blob.push_back(static_cast<char>(a.tag));
    if (a.tag == ArgSlot::VALUE) {
      blob += std::to_string(a.bytes.size());
      blob.push_back(':');
      blob += a.bytes;
    } else {
      for (const auto& k : a.keys) {
        blob += k;
        blob.push_back('\0');
      }
    }
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(blob.data()), blob.size(), digest);
  return fn + "-" + auth::to_hex(digest, 16);
}

std::shared_ptr<FutureState> ExecutorCore::prepare(const SubmitOptions& o, const std::string& fn,
                                                   std::vector<EncodedArg> args,
                                                   std::vector<Ready>& ready) {
  std::string key = make_key(o, fn, args);
  if (key.size() + pool.size() + 3 > proto::kMaxNameBytes)
    throw ProtocolError(Status::BAD_REQUEST, "task key '" + key.substr(0, 64) +
                                                 "...' is too long; use a shorter function name "
                                                 "or SubmitOptions::key");
  std::vector<std::shared_ptr<FutureState>> deps;
  for (auto& a : args)
    for (auto& d : a.deps) deps.push_back(std::move(d));
  TaskRecord t;
  t.kind = CALL;
  t.key = key;
  t.name = fn;
  t.reply = reply_q;
  t.max_attempts = opt.max_retries + 1;
  t.args = std::move(args);
  std::shared_ptr<FutureState> failed_dep;
  std::shared_ptr<FutureState> st;
  {
    std::lock_guard lk(mu);
    if (auto it = live.find(key); it != live.end())
      if (auto existing = it->second.lock()) {
        std::lock_guard el(existing->mu);
        // The same pure task, running or done; a failed or cancelled one is submitted anew.
        if (existing->phase == FutureState::PENDING || existing->phase == FutureState::OK)
          return existing;
      }
    st = new_state(key, fn);
    t.sid = st->sid;
    live[key] = st;
    auto b = std::make_shared<Blocked>();
    for (auto& d : deps) {
      std::lock_guard dl(d->mu);
      if (d->phase == FutureState::PENDING) {
        ++b->missing;
        blocked_on[d->key].push_back(b);
      } else if (d->phase != FutureState::OK && !failed_dep) {
        failed_dep = d;
      }
    }
    if (failed_dep) {
      for (auto& d : deps) {  // undo the registrations
        auto it = blocked_on.find(d->key);
        if (it == blocked_on.end()) continue;
        std::erase(it->second, b);
        if (it->second.empty()) blocked_on.erase(it);
      }
    } else {
      st->deps = deps;
      if (b->missing == 0) {
        st->record = encode_task(t);
        ready.push_back({st->record, o.priority, st});
      } else {
        b->st = st;
        b->record = encode_task(t);
        b->priority = o.priority;
      }
    }
  }
  if (failed_dep)
    st->resolve(FutureState::FAILED, "depot::DependencyFailed",
                "its argument '" + failed_dep->key + "' failed: " +
                    (failed_dep->err_message.empty() ? "cancelled" : failed_dep->err_message));
  return st;
}

void ExecutorCore::put_tasks(std::vector<Ready>& ready) {
  if (ready.empty()) return;
  // Default-priority tasks go in QUEUE_PUT_MANY frames of up to ~4 MiB (one request and one
  // reply for thousands of tasks); others one QUEUE_PUT_EX each, which carries a priority.
  std::vector<Request> reqs;
  std::vector<std::vector<size_t>> covers;  // request -> indexes into `ready`
  std::vector<size_t> batch;
  size_t batch_bytes = 0;
  auto flush = [&] {
    if (batch.empty()) return;
    BodyWriter w;
    w.str(tasks_q).i64(-1).u32(static_cast<uint32_t>(batch.size()));
    for (size_t i : batch) w.str(ready[i].record);
    reqs.emplace_back(proto::Op::QUEUE_PUT_MANY, w.take());
    covers.push_back(std::move(batch));
    batch.clear();
    batch_bytes = 0;
  };
  for (size_t i = 0; i < ready.size(); ++i) {
    if (ready[i].priority != 0) {
      reqs.emplace_back(proto::Op::QUEUE_PUT_EX, BodyWriter()
                                                     .str(tasks_q)
                                                     .i64(-1)
                                                     .u32(static_cast<uint32_t>(ready[i].priority))
                                                     .u64(0)
                                                     .str({})
                                                     .str(ready[i].record)
                                                     .take());
      covers.push_back({i});
      continue;
    }
    batch.push_back(i);
    batch_bytes += ready[i].record.size() + 4;
    if (batch_bytes > (4u << 20)) flush();
  }
  flush();
  std::vector<Reply> replies;
  try {
    try {
      replies = client.call_many(reqs);
    } catch (const ConnectionError&) {
      // Some may have been enqueued: sending again may run a task twice, which at-least-once
      // delivery allows (its future resolves once).
      replies = client.call_many(reqs);
    }
  } catch (const Error& e) {
    for (auto& r : ready)
      complete(r.st, FutureState::FAILED, "depot::SubmitFailed",
               std::string("the task could not be sent: ") + e.what());
    return;
  }
  for (size_t r = 0; r < replies.size(); ++r) {
    if (replies[r].status == Status::OK) continue;
    for (size_t i : covers[r])
      complete(ready[i].st, FutureState::FAILED, "depot::SubmitFailed",
               std::string(proto::error_message(replies[r].body)));
  }
}

std::shared_ptr<FutureState> ExecutorCore::submit(const SubmitOptions& o, const std::string& fn,
                                                  std::vector<EncodedArg> args) {
  std::vector<Ready> ready;
  auto st = prepare(o, fn, std::move(args), ready);
  put_tasks(ready);
  return st;
}

std::vector<std::shared_ptr<FutureState>> ExecutorCore::submit_many(
    const SubmitOptions& o, const std::string& fn, std::vector<std::vector<EncodedArg>> args) {
  std::vector<Ready> ready;
  std::vector<std::shared_ptr<FutureState>> out;
  out.reserve(args.size());
  for (auto& a : args) out.push_back(prepare(o, fn, std::move(a), ready));
  // A few thousand tasks per write keeps each burst well inside the frame and socket limits.
  for (size_t i = 0; i < ready.size(); i += 4096) {
    std::vector<Ready> part(std::make_move_iterator(ready.begin() + static_cast<ptrdiff_t>(i)),
                            std::make_move_iterator(ready.begin() + static_cast<ptrdiff_t>(std::min(
                                                                        ready.size(), i + 4096))));
    put_tasks(part);
  }
  return out;
}

void ExecutorCore::complete(const std::shared_ptr<FutureState>& st, FutureState::Phase phase,
                            std::string a, std::string message) {
  if (!st->resolve(phase, std::move(a), std::move(message))) return;
  settled(st);
}

void ExecutorCore::settled(const std::shared_ptr<FutureState>& st) {
  std::vector<std::shared_ptr<Blocked>> waiting;
  std::vector<Ready> ready;
  std::vector<std::shared_ptr<Blocked>> failed;
  bool ok;
  {
    std::lock_guard sl(st->mu);
    ok = st->phase == FutureState::OK;
  }
  {
    std::lock_guard lk(mu);
    auto it = blocked_on.find(st->key);
    if (it == blocked_on.end()) return;
    waiting = std::move(it->second);
    blocked_on.erase(it);
    for (auto& b : waiting) {
      if (!b->st) continue;  // already failed through another dependency
      if (b->st->done()) {   // cancelled while it waited: never send it
        b->st.reset();
        continue;
      }
      if (!ok) {
        failed.push_back(b);
      } else if (--b->missing == 0) {
        b->st->record = std::move(b->record);
        ready.push_back({b->st->record, b->priority, b->st});
        b->st.reset();
      }
    }
  }
  put_tasks(ready);
  for (auto& b : failed) {
    auto dependent = std::move(b->st);
    if (!dependent) continue;
    std::string why;
    {
      std::lock_guard sl(st->mu);
      why = st->phase == FutureState::CANCELLED ? "was cancelled" : "failed: " + st->err_message;
    }
    complete(dependent, FutureState::FAILED, "depot::DependencyFailed",
             "its argument '" + st->key + "' " + why);
  }
}

void ExecutorCore::handle_notification(std::string_view n) {
  if (n.empty()) return;  // the wake-up stop() sends
  proto::Reader r(n);
  std::string key(r.str());
  std::string sid(r.str());
  const bool ok = r.u8() == 1;
  std::string a(r.str());
  std::string message = ok ? std::string() : std::string(r.str());
  std::shared_ptr<FutureState> st;
  {
    std::lock_guard lk(mu);
    if (auto it = live.find(key); it != live.end()) st = it->second.lock();
  }
  if (!st || st->sid != sid) {  // nobody wants this submission any more: free its result
    release(key, sid);
    return;
  }
  complete(st, ok ? FutureState::OK : FutureState::FAILED, std::move(a), std::move(message));
}

void ExecutorCore::flush_releases() {
  std::vector<std::pair<std::string, std::string>> keys;
  {
    std::lock_guard lk(release_mu);
    keys.swap(releases);
  }
  if (keys.empty()) return;
  std::vector<Request> reqs;
  {
    std::lock_guard lk(mu);
    for (auto& [k, sid] : keys) {
      auto it = live.find(k);
      if (it != live.end() && it->second.expired()) live.erase(it);
      // Each submission has a variable of its own: deleting it never touches another's.
      reqs.emplace_back(proto::Op::DELETE, BodyWriter().str(result_var(pool, sid)).take());
    }
  }
  try {
    // NOT_FOUND for results never stored is fine. A manager away for more than a second
    // keeps them: one that restarted has none of them anyway.
    CallOptions bounded;
    bounded.deadline = SteadyClock::now() + std::chrono::seconds(1);
    client.call_many(reqs, bounded);
  } catch (const Error&) {
    // The manager is away: the results stay until it restarts (it keeps nothing then).
  }
}

void ExecutorCore::check_actors() {
  std::vector<std::shared_ptr<ActorState>> todo;
  {
    std::lock_guard lk(mu);
    std::erase_if(actors, [](const std::weak_ptr<ActorState>& w) { return w.expired(); });
    for (auto& w : actors)
      if (auto a = w.lock()) todo.push_back(a);
  }
  for (auto& a : todo) {
    std::string restore_error;  // a restore that failed ends the actor
    {
      std::lock_guard lk(a->mu);
      if (a->closed || a->dead) continue;
      if (a->restoring) {
        if (!a->restore_future->done()) continue;
        a->restoring = false;
        if (auto e = a->restore_future->exception()) {
          try {
            std::rethrow_exception(e);
          } catch (const RemoteError& x) {
            // ActorBusy: its old worker came back (a connection blip) and serves it still.
            if (x.type() != "depot::ActorBusy") restore_error = x.what();
          } catch (const std::exception& x) {
            restore_error = x.what();
          }
        }
      }
      std::erase_if(a->outstanding, [](const std::weak_ptr<FutureState>& w) {
        auto s = w.lock();
        return !s || s->done();
      });
      if (a->outstanding.empty() && restore_error.empty()) continue;
    }
    if (restore_error.empty()) {
      // Its worker holds this lock while it serves the actor: free means the worker is gone.
      Lock alive(client, alive_lock(pool, a->id), false);
      bool free = false;
      try {
        free = alive.try_lock();
        if (free) alive.unlock();
      } catch (const Error&) {
        continue;
      }
      if (!free) continue;
    }
    if (a->resilient && restore_error.empty()) {
      TaskRecord t;
      t.kind = ACTOR_NEW;
      t.key = a->id + "-restore-" + std::to_string(++counter);
      t.name = a->cls;
      t.reply = reply_q;
      t.actor = a->id;
      t.max_attempts = opt.max_retries + 1;
      t.flags = RESILIENT | RESTORE;
      auto st = new_state(t.key, a->cls);
      t.sid = st->sid;
      {
        std::lock_guard g(mu);
        live[t.key] = st;
      }
      {
        std::lock_guard lk(a->mu);
        a->restore_future = st;
        a->restoring = true;
      }
      std::vector<Ready> r{{encode_task(t), -1, st}};
      put_tasks(r);
      continue;
    }
    const std::string why =
        restore_error.empty()
            ? "actor " + a->id + " (" + a->cls +
                  ") died with its worker; create a new actor, or use ActorOptions::resilient "
                  "to keep its state across worker deaths"
            : "actor " + a->id + " (" + a->cls +
                  ") died with its worker and could not be restored: " + restore_error;
    end_actor(a, false, "depot::ActorDied", why);
    try {
      client.remove(mailbox(pool, a->id));
    } catch (const Error&) {
    }
  }
}

void ExecutorCore::collect_loop() {
  RawQueue q(client, reply_q);
  auto last_check = SteadyClock::now();
  while (!stopping.load()) {
    std::vector<std::string> items;
    try {
      items = q.get_many(4096, std::chrono::milliseconds(100));
    } catch (const TimeoutError&) {
    } catch (const Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Nothing may end this thread but stop(): every future of the executor depends on it.
    try {
      for (auto& n : items) handle_notification(n);
      flush_releases();
      if (client.connections() != connections_seen) recover();
      if (SteadyClock::now() - last_check > std::chrono::milliseconds(200)) {
        check_actors();
        last_check = SteadyClock::now();
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "depot: executor '%s': %s\n", pool.c_str(), e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

void ExecutorCore::recover() {
  const uint64_t now_seen = client.connections();
  RawVariable marker(client, marker_var(pool, id));
  if (marker.try_get()) {  // a new connection to the same manager: nothing was lost
    connections_seen = now_seen;
    return;
  }
  marker.set("1");
  connections_seen = now_seen;
  // The manager restarted: its queues and variables are gone. Tasks sent and not finished
  // are sent again (at-least-once); tasks waiting on them are sent when they finish. Actor
  // instances lost their mailboxes and locks: their calls fail.
  std::vector<Ready> again;
  {
    std::lock_guard lk(mu);
    for (auto& [k, w] : live) {
      auto st = w.lock();
      if (!st || !st->actor.empty() || st->record.empty() || st->done()) continue;
      again.push_back({st->record, 0, st});
    }
  }
  put_tasks(again);
  std::vector<std::shared_ptr<ActorState>> todo;
  {
    std::lock_guard lk(mu);
    for (auto& w : actors)
      if (auto a = w.lock()) todo.push_back(a);
  }
  for (auto& a : todo)
    end_actor(a, false, "depot::ActorDied",
              "actor " + a->id + " (" + a->cls +
                  ") was lost when the manager restarted; create a new actor");
}

void ExecutorCore::end_actor(const std::shared_ptr<ActorState>& a, bool closed, const char* type,
                             const std::string& why) {
  std::vector<std::shared_ptr<FutureState>> pending;
  {
    std::lock_guard lk(a->mu);
    if (a->closed || a->dead) return;
    (closed ? a->closed : a->dead) = true;
    for (auto& w : a->outstanding)
      if (auto s = w.lock()) pending.push_back(s);
    a->outstanding.clear();
  }
  // Unlocked: a continuation may call the actor, and tasks waiting on these calls fail too.
  for (auto& s : pending) complete(s, FutureState::FAILED, type, why);
}

void ExecutorCore::stop() {
  if (!collector.joinable()) return;
  stopping = true;
  try {
    // Wakes the collector at once; it also wakes by itself within its 100 ms wait, so this
    // may give up quickly when the manager is away.
    CallOptions quick;
    quick.deadline = SteadyClock::now() + std::chrono::milliseconds(200);
    client.call(proto::Op::QUEUE_PUT, BodyWriter().str(reply_q).i64(0).str("").take(), quick);
  } catch (const Error&) {
  }
  collector.join();
  // With the manager gone, cleaning up there would only wait for reconnect attempts: the
  // manager that comes back has none of it anyway.
  const bool reachable = client.connected();
  std::vector<std::shared_ptr<FutureState>> pending;
  {
    std::lock_guard lk(mu);
    for (auto& [k, w] : live)
      if (auto s = w.lock()) pending.push_back(s);
    blocked_on.clear();
  }
  std::vector<Request> cancels;
  for (auto& s : pending)
    if (s->resolve(FutureState::CANCELLED, {}, "its executor was destroyed before it finished"))
      cancels.emplace_back(proto::Op::PUBLISH,
                           BodyWriter().str(cancel_topic(pool)).str(s->sid).take());
  pending.clear();
  if (!reachable) return;
  try {
    client.call_many(cancels);  // workers skip what they have not started
  } catch (const Error&) {
  }
  flush_releases();
  try {
    RawQueue(client, reply_q).destroy();
    client.remove(marker_var(pool, id));
  } catch (const Error&) {
  }
}

std::shared_ptr<ActorState> ExecutorCore::make_actor(const std::string& cls,
                                                     const ActorOptions& o) {
  auto a = std::make_shared<ActorState>();
  a->id = cls + "-" + id + "-" + std::to_string(++counter);
  a->cls = cls;
  a->pool = pool;
  a->resilient = o.resilient;
  a->core = weak_from_this();
  TaskRecord t;
  t.kind = ACTOR_NEW;
  t.key = a->id + "-new";
  t.name = cls;
  t.reply = reply_q;
  t.actor = a->id;
  t.max_attempts = opt.max_retries + 1;
  t.flags = o.resilient ? RESILIENT : 0;
  auto st = new_state(t.key, cls);
  t.sid = st->sid;
  {
    std::lock_guard lk(mu);
    live[t.key] = st;
    actors.push_back(a);
  }
  std::vector<Ready> r{{encode_task(t), -1, st}};
  put_tasks(r);
  Future<void>(st).result();  // RemoteError if no worker could create it
  return a;
}

std::shared_ptr<FutureState> ExecutorCore::actor_call(const std::shared_ptr<ActorState>& a,
                                                      uint8_t kind, const std::string& name,
                                                      std::vector<EncodedArg> args) {
  for (auto& e : args)
    if (e.tag != ArgSlot::VALUE)
      throw ProtocolError(Status::BAD_REQUEST, "actor " + a->id + "." + name +
                                                   ": actor calls take values, not futures; "
                                                   "pass f.result()");
  TaskRecord t;
  t.kind = kind;
  t.key = a->id + "-" + std::to_string(++counter);
  t.name = name;
  t.reply = reply_q;
  t.actor = a->id;
  t.args = std::move(args);
  auto st = new_state(t.key, a->cls + "." + name);
  t.sid = st->sid;
  st->actor = a->id;
  {
    std::lock_guard lk(a->mu);
    if (a->closed)
      throw NotFoundError(Status::NOT_FOUND,
                          "actor " + a->id + " was closed; create a new one with Executor::actor");
    if (a->dead) {
      st->resolve(FutureState::FAILED, "depot::ActorDied",
                  "actor " + a->id + " (" + a->cls + ") died with its worker earlier");
      return st;
    }
    a->outstanding.push_back(st);
  }
  {
    std::lock_guard lk(mu);
    live[t.key] = st;
  }
  RawQueue(client, mailbox(pool, a->id)).put(encode_task(t));
  return st;
}

// ------------------------------------------------------------ worker core

struct Reserved {
  uint64_t rid = 0;
  uint32_t deliveries = 0;
  TaskRecord task;
  bool parsed = false;
};

struct WorkerCore : std::enable_shared_from_this<WorkerCore> {
  WorkerCore(Client& c, std::string p, WorkerOptions o)
      : client(c), pool(std::move(p)), opt(o), tasks_q(tasks_queue(pool)) {}

  Client& client;
  const std::string pool;
  const WorkerOptions opt;
  const std::string tasks_q;

  std::shared_mutex defs_mu;
  std::map<std::string, Invoker> functions;
  std::map<std::string, std::shared_ptr<ActorDef>> classes;

  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> done{0};

  std::mutex cancel_mu;  // guards cancel_sub's reading and the set
  std::unique_ptr<RawSubscription> cancel_sub;
  std::unordered_set<std::string> cancelled;
  std::deque<std::string> cancel_order;

  std::mutex actors_mu;
  std::vector<std::thread> actor_threads;

  void start();
  void stop();
  void serve();
  // Takes in the cancellations published since the last look (never blocks).
  void drain_cancels();
  // Whether the executors that submitted a batch still exist: each executor keeps a marker
  // variable while it lives. Looked up at most once a second per executor.
  void check_submitters(const std::vector<Reserved>& batch);
  bool submitter_alive(const std::string& reply_queue) {
    std::lock_guard lk(submitters_mu);
    auto it = submitters.find(reply_queue);
    return it == submitters.end() || it->second.alive;
  }
  struct Submitter {
    bool alive = true;
    SteadyClock::time_point checked;
  };
  std::mutex submitters_mu;
  std::unordered_map<std::string, Submitter> submitters;
  bool is_cancelled(const std::string& key) {
    std::lock_guard lk(cancel_mu);
    return cancelled.count(key) != 0;
  }
  // Fetches the results the batch's arguments refer to; fills `values` (key -> payload) and
  // `missing` (key -> why).
  void fetch(const std::vector<Reserved*>& batch,
             std::unordered_map<std::string, std::string>& values,
             std::unordered_map<std::string, std::string>& missing);
  std::string run_call(const TaskRecord& t,
                       const std::unordered_map<std::string, std::string>& values,
                       const std::unordered_map<std::string, std::string>& missing);
  void start_actor(const Reserved& r);
  void actor_loop(Reserved create);
};

void WorkerCore::start() {
  // Subscribed before the first task is taken, so no cancellation published from then on is
  // missed (the client renews it after a reconnect).
  cancel_sub = std::make_unique<RawSubscription>(client, cancel_topic(pool));
  for (uint32_t i = 0; i < std::max<uint32_t>(opt.threads, 1); ++i)
    threads.emplace_back([this] { serve(); });
}

void WorkerCore::stop() {
  std::lock_guard once(stop_mu);  // ~Worker and run() may both get here
  stopping = true;
  for (auto& t : threads)
    if (t.joinable()) t.join();
  threads.clear();
  std::vector<std::thread> at;
  {
    std::lock_guard lk(actors_mu);
    at.swap(actor_threads);
  }
  for (auto& t : at)
    if (t.joinable()) t.join();
  std::lock_guard lk(cancel_mu);
  cancel_sub.reset();
}

void WorkerCore::drain_cancels() {
  std::lock_guard lk(cancel_mu);
  if (!cancel_sub) return;
  try {
    while (auto m = cancel_sub->next(std::chrono::nanoseconds(0))) {
      if (cancelled.insert(m->payload).second) cancel_order.push_back(m->payload);
      while (cancel_order.size() > 100'000) {
        cancelled.erase(cancel_order.front());
        cancel_order.pop_front();
      }
    }
  } catch (const Error&) {
    // Renewing the subscription failed (the manager is away): try again next batch.
  }
}

void WorkerCore::check_submitters(const std::vector<Reserved>& batch) {
  const auto now = SteadyClock::now();
  std::vector<std::string> stale;
  {
    std::lock_guard lk(submitters_mu);
    for (const auto& r : batch) {
      if (!r.parsed) continue;
      auto& s = submitters[r.task.reply];
      if (now - s.checked < std::chrono::seconds(1)) continue;
      s.checked = now;
      if (std::find(stale.begin(), stale.end(), r.task.reply) == stale.end())
        stale.push_back(r.task.reply);
    }
  }
  if (stale.empty()) return;
  const std::string prefix = pool + ".done.";
  std::vector<Request> reqs;
  for (const auto& reply : stale) {
    const std::string executor =
        reply.rfind(prefix, 0) == 0 ? reply.substr(prefix.size()) : std::string();
    reqs.emplace_back(proto::Op::VAR_GET,
                      BodyWriter().str(marker_var(pool, executor)).i64(0).take());
  }
  auto replies = client.call_many(reqs);
  std::lock_guard lk(submitters_mu);
  for (size_t i = 0; i < stale.size(); ++i)
    submitters[stale[i]].alive = replies[i].status == Status::OK;
}

void WorkerCore::fetch(const std::vector<Reserved*>& batch,
                       std::unordered_map<std::string, std::string>& values,
                       std::unordered_map<std::string, std::string>& missing) {
  std::vector<std::string> keys;
  for (auto* r : batch)
    for (auto& a : r->task.args)
      for (auto& k : a.keys)
        if (!values.count(k)) {
          values[k];
          keys.push_back(k);
        }
  if (keys.empty()) return;
  std::vector<Request> reqs;
  reqs.reserve(keys.size());
  for (auto& k : keys)
    reqs.emplace_back(proto::Op::VAR_GET, BodyWriter().str(result_var(pool, k)).i64(0).take());
  auto replies = client.call_many(reqs);
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& k = keys[i];
    if (replies[i].status != Status::OK) {
      missing[k] = "the result of task submission '" + k +
                   "' is not in the manager (it was released, or the "
                   "manager restarted)";
      continue;
    }
    proto::Reader r(replies[i].body);
    r.u64();
    r.u8();
    proto::Reader rec(r.str());
    if (rec.u8() != 1) {
      missing[k] = "its argument '" + k + "' failed";
      continue;
    }
    values[k] = std::string(rec.str());
  }
}

std::string WorkerCore::run_call(const TaskRecord& t,
                                 const std::unordered_map<std::string, std::string>& values,
                                 const std::unordered_map<std::string, std::string>& missing) {
  Invoker f;
  {
    std::shared_lock lk(defs_mu);
    auto it = functions.find(t.name);
    if (it == functions.end()) {
      std::string known;
      for (auto& [n, _] : functions) known += (known.empty() ? "" : ", ") + n;
      return error_record("depot::UnknownFunction",
                          "no function '" + t.name + "' is registered on this worker of pool '" +
                              pool + "' (it has: " + known + "); register it with Worker::def");
    }
    f = it->second;
  }
  Args args(t.args.size());
  for (size_t i = 0; i < t.args.size(); ++i) {
    const auto& a = t.args[i];
    args[i].tag = a.tag;
    if (a.tag == ArgSlot::VALUE) {
      args[i].bytes = a.bytes;
      continue;
    }
    for (const auto& k : a.keys) {
      if (auto m = missing.find(k); m != missing.end())
        return error_record("depot::DependencyFailed", m->second);
      const std::string& v = values.at(k);
      if (a.tag == ArgSlot::FUTURE)
        args[i].bytes = v;
      else
        args[i].list.push_back(v);
    }
  }
  try {
    return ok_record(f(args));
  } catch (const std::exception& e) {
    return error_record(demangle(typeid(e).name()), e.what());
  } catch (...) {
    return error_record("unknown", "a non-standard exception was thrown");
  }
}

void WorkerCore::serve() {
  RawQueue q(client, tasks_q);
  uint32_t batch_size = 1;
  while (!stopping.load()) {
    std::vector<RawReservation> got;
    try {
      got = q.reserve_many(batch_size, std::chrono::milliseconds(200), opt.task_timeout);
    } catch (const TimeoutError&) {
      batch_size = 1;  // after a lull the next tasks may be slow: take one at a time
      continue;
    } catch (const Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    // After a lull, start again with one task per round trip: the next tasks may be slow.
    if (got.size() < batch_size)
      batch_size = std::max<uint32_t>(1, static_cast<uint32_t>(got.size()));
    drain_cancels();
    std::vector<Reserved> batch(got.size());
    std::vector<Reserved*> calls;
    for (size_t i = 0; i < got.size(); ++i) {
      batch[i].rid = got[i].id;
      batch[i].deliveries = got[i].deliveries;
      batch[i].parsed = decode_task(got[i].item, batch[i].task);
      if (batch[i].parsed && batch[i].task.kind == CALL) calls.push_back(&batch[i]);
    }
    std::unordered_map<std::string, std::string> values, missing;
    try {
      check_submitters(batch);
      fetch(calls, values, missing);
    } catch (const Error&) {
      continue;  // connection lost: the reservations went back with the session
    }
    std::vector<Request> out;
    std::map<std::string, std::vector<std::string>> notes;  // reply queue -> notifications
    std::vector<uint64_t> acks;
    const auto t0 = SteadyClock::now();
    size_t ran = 0;
    for (auto& r : batch) {
      const TaskRecord& t = r.task;
      if (!r.parsed || !submitter_alive(t.reply)) {
        // Not a task record (nobody can run it), or its executor is gone (nobody wants the
        // result): drop it rather than redeliver it forever or leave results behind.
        acks.push_back(r.rid);
        continue;
      }
      if (t.kind == ACTOR_NEW && r.deliveries <= t.max_attempts) {
        start_actor(r);  // the actor's thread acks it once the instance exists
        continue;
      }
      acks.push_back(r.rid);
      if (is_cancelled(t.sid)) continue;
      std::string record;
      if (r.deliveries > t.max_attempts) {
        record = error_record("depot::WorkerLost",
                              "it was started " + std::to_string(r.deliveries - 1) +
                                  " times and its worker died each time; not retrying "
                                  "(ExecutorOptions::max_retries)");
      } else {
        record = run_call(t, values, missing);
        ++ran;
      }
      // The first result stored wins: a task run twice (at-least-once) never overwrites it.
      out.emplace_back(proto::Op::VAR_CAS,
                       BodyWriter().str(result_var(pool, t.sid)).u64(0).str(record).take());
      notes[t.reply].push_back(BodyWriter().str(t.key).str(t.sid).take() + record);
    }
    const auto spent = SteadyClock::now() - t0;
    for (auto& [reply, items] : notes) {
      BodyWriter w;
      w.str(reply).i64(0).u32(static_cast<uint32_t>(items.size()));
      for (auto& i : items) w.str(i);
      out.emplace_back(proto::Op::QUEUE_PUT_MANY, w.take());
    }
    if (!acks.empty()) {
      BodyWriter w;
      w.str(tasks_q).u32(static_cast<uint32_t>(acks.size()));
      for (auto id : acks) w.u64(id);
      out.emplace_back(proto::Op::QUEUE_ACK, w.take());
    }
    try {
      client.call_many(out);
    } catch (const Error&) {
      // Lost with the connection: the tasks come back and run again (at-least-once).
    }
    done += acks.size();
    // Take more per round trip while tasks are quick (under a millisecond in all), fewer
    // when they are slow, so tasks spread over the workers.
    if (ran > 0 && spent < std::chrono::milliseconds(1))
      batch_size = std::min(batch_size * 2, std::max<uint32_t>(opt.max_batch, 1));
    else if (ran > 0)
      batch_size = 1;
  }
}

void WorkerCore::start_actor(const Reserved& r) {
  std::lock_guard lk(actors_mu);
  auto self = shared_from_this();
  actor_threads.emplace_back([self, r] { self->actor_loop(r); });
}

void WorkerCore::actor_loop(Reserved create) {
  const TaskRecord& t = create.task;
  RawQueue tasks(client, tasks_q);
  auto finish = [&](const TaskRecord& task, RawQueue& from, uint64_t rid, const std::string& record,
                    const std::string* snapshot) {
    std::vector<Request> out;
    out.emplace_back(proto::Op::VAR_CAS,
                     BodyWriter().str(result_var(pool, task.sid)).u64(0).str(record).take());
    if (snapshot)
      out.emplace_back(proto::Op::VAR_SET,
                       BodyWriter().str(state_var(pool, task.actor)).str(*snapshot).take());
    out.emplace_back(proto::Op::QUEUE_PUT,
                     BodyWriter()
                         .str(task.reply)
                         .i64(0)
                         .str(BodyWriter().str(task.key).str(task.sid).take() + record)
                         .take());
    out.emplace_back(proto::Op::QUEUE_ACK, BodyWriter().str(from.name()).u32(1).u64(rid).take());
    client.call_many(out);
    ++done;
  };
  std::shared_ptr<ActorDef> def;
  {
    std::shared_lock lk(defs_mu);
    if (auto it = classes.find(t.name); it != classes.end()) def = it->second;
  }
  auto fail_create = [&](const std::string& type, const std::string& msg) {
    try {
      finish(t, tasks, create.rid, error_record(type, msg), nullptr);
    } catch (const Error&) {
    }
  };
  if (!def)
    return fail_create("depot::UnknownActorClass",
                       "no actor class '" + t.name + "' is registered on this worker of pool '" +
                           pool + "'; register it with Worker::actor<C>(name)");
  const bool resilient = t.flags & RESILIENT;
  if (resilient && !def->snapshot)
    return fail_create("depot::NotResilient", "actor class '" + t.name +
                                                  "' was not registered with resilient(); it "
                                                  "cannot keep its state across workers");
  Lock alive(client, alive_lock(pool, t.actor), false);
  std::shared_ptr<void> obj;
  std::string last_key;
  try {
    if (!alive.try_lock_for(std::chrono::seconds(10)))
      return fail_create("depot::ActorBusy",
                         "actor " + t.actor + " is still served by another worker");
    if (t.flags & RESTORE) {
      RawVariable sv(client, state_var(pool, t.actor));
      auto cur = sv.try_get();
      if (cur && cur->value) {
        proto::Reader r(*cur->value);
        last_key = r.str();
        obj = def->restore(r.str());
      }
    }
    if (!obj) obj = def->make();
  } catch (const std::exception& e) {
    alive.unlock();
    return fail_create(demangle(typeid(e).name()), e.what());
  }
  try {
    finish(t, tasks, create.rid, ok_record({}), nullptr);
  } catch (const Error&) {
    alive.unlock();
    return;
  }
  RawQueue box(client, mailbox(pool, t.actor));
  uint64_t held_on = client.connections();  // the connection whose session holds the lock
  std::unique_ptr<Lock> regained;           // the lock taken again on a later connection
  while (!stopping.load()) {
    if (client.connections() != held_on) {
      // The connection changed: the old session's end released the lock, and the executor
      // may have restored the actor on another worker. Serve on only if it is still ours.
      try {
        auto again = std::make_unique<Lock>(client, alive_lock(pool, t.actor), false);
        held_on = client.connections();
        if (!again->try_lock()) break;  // another worker serves it now: stop here
        regained = std::move(again);
      } catch (const Error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
    }
    std::optional<RawReservation> got;
    try {
      auto v = box.reserve_many(1, std::chrono::milliseconds(200), opt.task_timeout);
      got = std::move(v.front());
    } catch (const TimeoutError&) {
      continue;
    } catch (const NotFoundError&) {
      break;  // the mailbox was deleted
    } catch (const Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    TaskRecord c;
    try {
      if (!decode_task(got->item, c)) {
        box.ack(got->id);
        continue;
      }
      if (!last_key.empty() && c.key == last_key) {
        // Applied just before the previous worker died: tell the caller, do not apply twice.
        last_key.clear();
        RawVariable rv(client, result_var(pool, c.sid));
        auto prev = rv.try_get();
        std::string record = prev && prev->value ? *prev->value : ok_record({});
        finish(c, box, got->id, record, nullptr);
        continue;
      }
      last_key.clear();
      std::string record;
      bool close = false;
      if (c.kind == ACTOR_CLOSE) {
        close = true;
        record = ok_record({});
      } else {
        Args args(c.args.size());
        for (size_t i = 0; i < c.args.size(); ++i) args[i].bytes = c.args[i].bytes;
        try {
          if (c.kind == ACTOR_GET) {
            auto it = def->attributes.find(c.name);
            if (it == def->attributes.end())
              record =
                  error_record("depot::UnknownAttribute",
                               "actor class '" + t.name + "' has no attribute '" + c.name + "'");
            else
              record = ok_record(it->second(obj.get()));
          } else {
            auto it = def->methods.find(c.name);
            if (it == def->methods.end())
              record = error_record("depot::UnknownMethod",
                                    "actor class '" + t.name + "' has no method '" + c.name + "'");
            else
              record = ok_record(it->second(obj.get(), args));
          }
        } catch (const std::exception& e) {
          record = error_record(demangle(typeid(e).name()), e.what());
        }
      }
      if (close) {
        obj.reset();
        std::vector<Request> out;
        out.emplace_back(proto::Op::DELETE, BodyWriter().str(state_var(pool, t.actor)).take());
        client.call_many(out);
        finish(c, box, got->id, record, nullptr);
        client.remove(box.name());
        break;
      }
      std::string snap;
      bool resilient_ok = true;
      if (resilient) {
        try {
          snap = BodyWriter().str(c.key).str(def->snapshot(obj.get())).take();
        } catch (const std::exception& e) {  // the state cannot be saved: say so, keep serving
          record = error_record("depot::SnapshotFailed", e.what());
          resilient_ok = false;
        }
      }
      finish(c, box, got->id, record, resilient && resilient_ok ? &snap : nullptr);
    } catch (const Error&) {
      // Connection trouble: the reservation goes back with the session.
    }
  }
  if (regained) regained->unlock();
  alive.unlock();  // a no-op (recorded in unlock_error) if the session that held it ended
}

}  // namespace detail

// ------------------------------------------------------------ public classes

bool FutureBase::cancel() {
  auto core = st_->core.lock();
  if (!st_->resolve(detail::FutureState::CANCELLED, {}, {})) return false;
  if (core) core->cancelled(st_);
  return true;
}

Executor::Executor(Client& client, std::string pool, ExecutorOptions options)
    : core_(std::make_shared<detail::ExecutorCore>(client, std::move(pool), options)) {
  core_->start();
}

Executor::~Executor() {
  core_->stop();
}

const std::string& Executor::pool() const {
  return core_->pool;
}
Client& Executor::client() const {
  return core_->client;
}

std::shared_ptr<detail::FutureState> Executor::submit_encoded(
    const SubmitOptions& opt, const std::string& function, std::vector<detail::EncodedArg> args) {
  return core_->submit(opt, function, std::move(args));
}

std::vector<std::shared_ptr<detail::FutureState>> Executor::map_encoded(
    const SubmitOptions& opt, const std::string& function,
    std::vector<std::vector<detail::EncodedArg>> args) {
  return core_->submit_many(opt, function, std::move(args));
}

Actor Executor::actor(const std::string& class_name, const ActorOptions& options) {
  Actor a;
  a.st_ = core_->make_actor(class_name, options);
  return a;
}

std::shared_ptr<detail::FutureState> Actor::call_raw(uint8_t kind, const std::string& name,
                                                     std::vector<detail::EncodedArg> args) {
  auto core = st_->core.lock();
  if (!core) throw NotFoundError(Status::NOT_FOUND, "actor " + st_->id + ": its executor is gone");
  return core->actor_call(st_, kind, name, std::move(args));
}

void Actor::close() {
  Future<void> f(call_raw(detail::ACTOR_CLOSE, "close", {}));
  f.result();  // ActorDied if its worker is gone; the liveness checks still cover it here
  if (auto core = st_->core.lock())  // calls made while it closed will never run
    core->end_actor(st_, true, "depot::ActorClosed",
                    "actor " + st_->id + " was closed before this call ran");
}

const std::string& Actor::id() const {
  return st_->id;
}
const std::string& Actor::class_name() const {
  return st_->cls;
}

Worker::Worker(Client& client, std::string pool, WorkerOptions options)
    : core_(std::make_shared<detail::WorkerCore>(client, std::move(pool), options)) {}

Worker::~Worker() {
  core_->stop();
}

void Worker::add_function(const std::string& name, detail::Invoker f) {
  std::unique_lock lk(core_->defs_mu);
  core_->functions[name] = std::move(f);
}

void Worker::add_actor_class(const std::string& name, std::shared_ptr<detail::ActorDef> d) {
  std::unique_lock lk(core_->defs_mu);
  core_->classes[name] = std::move(d);
}

void Worker::start() {
  if (core_->threads.empty()) core_->start();
}

void Worker::run() {
  start();
  while (!core_->stopping.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  core_->stop();
}

void Worker::stop() {
  core_->stopping = true;
}

uint64_t Worker::tasks_done() const {
  return core_->done.load();
}

}  // namespace depot
