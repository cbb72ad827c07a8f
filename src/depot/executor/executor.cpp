// The submitting side of the executor: Executor, its core (submissions, dependencies, the
// collector thread that resolves futures, actor liveness, recovery after a manager restart)
// and Actor handles. docs/executor.md describes the objects and records it uses
// (depot/executor/task.h encodes them); depot/executor/worker.cpp is the other side.
#include "depot/executor/executor.h"

#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "depot/auth/auth.h"
#include "depot/client/admin_requests.h"
#include "depot/client/coord_requests.h"
#include "depot/client/queue_requests.h"

namespace depot {

namespace detail {

using SteadyClock = std::chrono::steady_clock;

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

class ExecutorCore : public FutureOwner, public std::enable_shared_from_this<ExecutorCore> {
 public:
  ExecutorCore(Client& c, std::string p, ExecutorOptions o)
      : client(c),
        pool(std::move(p)),
        opt(o),
        id(auth::random_hex(16)),
        reply_q(task::done_queue(pool, id)),
        tasks_q(task::tasks_queue(pool)) {}

  void start() {
    hold_lease();
    // A marker the manager loses if it restarts: the collector then sends again what it lost.
    RawVariable(client, task::marker_var(pool, id)).set("1");
    connections_seen = client.connections();
    collector = std::thread([this] { collect_loop(); });
  }
  void stop();
  // Holds this executor's lease on its names (at start and after each reconnect, so that a
  // connection down for less than orphan_grace loses nothing). A user without admin on the
  // pool's names runs without one, told once on stderr.
  void hold_lease() {
    if (!leased) return;
    try {
      client.hold_lease(task::lease_name(pool, id), LeaseTerms{task::lease_patterns(pool, id),
                                                               opt.orphan_grace, opt.orphan_fence});
    } catch (const DeniedError& e) {
      leased = false;
      std::fprintf(stderr,
                   "depot: executor '%s' runs without a lease, so if this program dies its "
                   "results stay in the manager: %s\n",
                   pool.c_str(), e.what());
    }
  }
  void release(const std::string& key, const std::string& sid) override {
    std::lock_guard lk(release_mu);
    releases.emplace_back(key, sid);
  }
  // A future was cancelled: tasks waiting on it fail, and workers are told to skip it.
  void cancelled(const std::shared_ptr<FutureState>& st) override {
    // Never waits for a manager that is away (cancel() is often a caller giving up on it);
    // a worker may then run the task, and its result is ignored.
    if (client.connected()) {
      try {
        CallOptions quick;
        quick.deadline = SteadyClock::now() + std::chrono::seconds(1);
        client.call(req::publish(task::cancel_topic(pool), st->sid), quick);
      } catch (const Error&) {
      }
    }
    settled(st);
  }

  std::shared_ptr<FutureState> submit(const SubmitOptions& o, const std::string& fn,
                                      std::vector<task::EncodedArg> args);
  std::vector<std::shared_ptr<FutureState>> submit_many(
      const SubmitOptions& o, const std::string& fn,
      std::vector<std::vector<task::EncodedArg>> args);
  std::shared_ptr<FutureState> actor_call(const std::shared_ptr<ActorState>& a, task::Kind kind,
                                          const std::string& name,
                                          std::vector<task::EncodedArg> args);
  // A one-way call: queued in the mailbox in order with the calls, answered by nobody.
  void actor_send(const std::shared_ptr<ActorState>& a, const std::string& name,
                  std::vector<task::EncodedArg> args);
  // Puts a call record in the actor's mailbox (its key is the dedup id).
  void put_in_mailbox(const ActorState& a, const task::Record& t);
  std::shared_ptr<ActorState> make_actor(const std::string& cls, const ActorOptions& o);
  // Marks an actor closed or dead (once) and fails the calls it still owed with `type`.
  void end_actor(const std::shared_ptr<ActorState>& a, bool closed, std::string_view type,
                 const std::string& why);
  // Deletes what the manager holds for an actor that ended (its mailbox, liveness lock and
  // snapshot; any may be gone already), in one round trip; a connection error is ignored.
  void remove_actor_objects(const ActorState& a);
  std::shared_ptr<FutureState> new_state(const std::string& key, const std::string& fn) {
    auto st = std::make_shared<FutureState>();
    st->key = key;
    st->sid = id + "." + std::to_string(++counter);
    st->function = fn;
    st->owner = weak_from_this();
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
                       const std::vector<task::EncodedArg>& args);
  // Registers one submission: returns the shared state, and the record to put now (empty if
  // it reused a live task or waits for its dependencies).
  std::shared_ptr<FutureState> prepare(const SubmitOptions& o, const std::string& fn,
                                       std::vector<task::EncodedArg> args,
                                       std::vector<Ready>& ready);
  // Sends ready tasks; with a deadline, fails their futures (SubmitFailed) once it passes.
  void put_tasks(std::vector<Ready>& ready,
                 std::optional<SteadyClock::time_point> deadline = std::nullopt);
  // A state left PENDING: wake its dependents (or fail them).
  void settled(const std::shared_ptr<FutureState>& st);
  void complete(const std::shared_ptr<FutureState>& st, FutureState::Phase phase, std::string a,
                std::string message);
  void collect_loop();
  void handle_notification(std::string_view n);
  void flush_releases();
  void check_actors();
  // After a reconnect: if the manager restarted, send again what it lost; if it kept its state
  // (a data directory), look up the results of pending futures.
  void recover();
  // Resolves the pending futures whose results are stored in the manager: after a reconnect,
  // a notification may have been taken from the done queue by a read whose reply was lost.
  void look_up_results();
  // The manager restarted (this executor's marker was missing, and is set again): send again
  // the unfinished tasks it lost, except those already sent to it, and end the actors. On the
  // collector's thread, so that no submitter waits on the others' tasks.
  void restarted(const std::vector<std::shared_ptr<FutureState>>& sent);
  bool restart_pending() {
    std::lock_guard lk(mu);
    return restart_found;
  }
  // Set by put_tasks when it found the restart (guarded by mu): the collector calls
  // restarted(), skipping what put_tasks sent there.
  bool restart_found = false;
  std::vector<std::shared_ptr<FutureState>> sent_after_restart;
  uint64_t connections_seen = 0;
  std::atomic<bool> leased{true};  // false once the manager refused the lease (DENIED)
  // When this executor's client last reconnected: the actors' workers get kActorGrace from
  // then to reconnect and take their actors' locks again before a free lock means "dead".
  std::atomic<SteadyClock::rep> reconnected_at{0};
  static constexpr std::chrono::seconds kActorGrace{5};

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

std::string ExecutorCore::make_key(const SubmitOptions& o, const std::string& fn,
                                   const std::vector<task::EncodedArg>& args) {
  if (!o.key.empty()) return o.key;
  if (!o.pure) return fn + "-" + id + "-" + std::to_string(++counter);
  std::string blob = fn;
  blob.push_back('\0');
  for (const auto& a : args) {
    blob.push_back(static_cast<char>(a.tag));
    if (a.tag == task::ArgTag::VALUE) {
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
                                                   std::vector<task::EncodedArg> args,
                                                   std::vector<Ready>& ready) {
  std::string key = make_key(o, fn, args);
  if (key.size() + pool.size() + 3 > proto::kMaxNameBytes)
    throw ProtocolError(Status::BAD_REQUEST, "task key '" + key.substr(0, 64) +
                                                 "...' is too long; use a shorter function name "
                                                 "or SubmitOptions::key");
  std::vector<std::shared_ptr<FutureState>> deps;
  for (auto& a : args)
    for (auto& d : a.deps) deps.push_back(std::move(d));
  task::Record t;
  t.kind = task::Kind::CALL;
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
        st->record = task::encode(t);
        ready.push_back({st->record, o.priority, st});
      } else {
        b->st = st;
        b->record = task::encode(t);
        b->priority = o.priority;
      }
    }
  }
  if (failed_dep)
    st->resolve(FutureState::FAILED, std::string(task::kDependencyFailed),
                "its argument '" + failed_dep->key + "' failed: " +
                    (failed_dep->err_message.empty() ? "cancelled" : failed_dep->err_message));
  return st;
}

void ExecutorCore::put_tasks(std::vector<Ready>& ready,
                             std::optional<SteadyClock::time_point> deadline) {
  if (ready.empty()) return;
  // Within a deadline, a put also waits for room no longer than the time left.
  int64_t wait_ms = proto::kWaitForever;
  CallOptions bounded;
  if (deadline) {
    bounded.deadline = *deadline;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - SteadyClock::now());
    wait_ms = std::max<int64_t>(0, left.count());
  }
  // Default-priority tasks go in QUEUE_PUT_MANY frames of up to ~4 MiB (one request and one
  // reply for thousands of tasks); others one QUEUE_PUT_EX each, which carries a priority.
  std::vector<Request> reqs;
  std::vector<std::vector<size_t>> covers;  // request -> indexes into `ready`
  // First, in the same write, the marker: set when missing (compare-and-set on version 0).
  // The manager runs a session's requests in order, so a worker that takes one of these
  // tasks finds the marker, even on a manager that restarted just before this send; and if
  // it was missing, this executor has found the restart (the collector may not have yet).
  reqs.push_back(req::var_cas(task::marker_var(pool, id), 0, "1"));
  covers.emplace_back();
  std::optional<req::QueuePutMany> batch;
  std::vector<size_t> in_batch;
  auto flush = [&] {
    if (!batch) return;
    reqs.push_back(batch->finish());
    covers.push_back(std::move(in_batch));
    in_batch.clear();
    batch.reset();
  };
  for (size_t i = 0; i < ready.size(); ++i) {
    if (ready[i].priority != 0) {
      reqs.push_back(req::queue_put_ex(
          tasks_q, wait_ms, PutOptions{.priority = ready[i].priority, .delay = {}, .dedup_id = {}},
          ready[i].record));
      covers.push_back({i});
      continue;
    }
    if (!batch) batch.emplace(tasks_q, wait_ms);
    batch->add(ready[i].record);
    in_batch.push_back(i);
    if (batch->bytes() > (4u << 20)) flush();
  }
  flush();
  std::vector<Reply> replies;
  try {
    try {
      replies = client.call_many(reqs, bounded);
    } catch (const ConnectionError&) {
      // Some may have been enqueued: sending again may run a task twice, which at-least-once
      // delivery allows (its future resolves once). Within the same deadline.
      replies = client.call_many(reqs, bounded);
    }
  } catch (const Error& e) {
    for (auto& r : ready)
      complete(r.st, FutureState::FAILED, std::string(task::kSubmitFailed),
               std::string("the task could not be sent: ") + e.what());
    return;
  }
  for (size_t r = 0; r < replies.size(); ++r) {
    if (replies[r].status == Status::OK) continue;
    for (size_t i : covers[r])
      complete(ready[i].st, FutureState::FAILED, std::string(task::kSubmitFailed),
               std::string(proto::error_message(replies[r].body)));
  }
  if (replies.front().status == Status::OK && req::parse_var_cas(replies.front().body).swapped) {
    std::lock_guard lk(mu);
    restart_found = true;
    for (auto& r : ready) sent_after_restart.push_back(r.st);
  } else if (replies.front().status != Status::OK) {
    // The marker could not be set: this executor's lease expired while it was away (the names
    // are fenced). Workers drop these tasks; the collector holds the lease again and, finding
    // the marker missing, sends every unfinished task again.
    std::lock_guard lk(mu);
    restart_found = true;
  }
}

std::shared_ptr<FutureState> ExecutorCore::submit(const SubmitOptions& o, const std::string& fn,
                                                  std::vector<task::EncodedArg> args) {
  std::optional<SteadyClock::time_point> deadline;
  if (o.timeout) deadline = SteadyClock::now() + *o.timeout;
  std::vector<Ready> ready;
  auto st = prepare(o, fn, std::move(args), ready);
  put_tasks(ready, deadline);
  return st;
}

std::vector<std::shared_ptr<FutureState>> ExecutorCore::submit_many(
    const SubmitOptions& o, const std::string& fn,
    std::vector<std::vector<task::EncodedArg>> args) {
  std::optional<SteadyClock::time_point> deadline;
  if (o.timeout) deadline = SteadyClock::now() + *o.timeout;
  std::vector<Ready> ready;
  std::vector<std::shared_ptr<FutureState>> out;
  out.reserve(args.size());
  for (auto& a : args) out.push_back(prepare(o, fn, std::move(a), ready));
  // A few thousand tasks per write keeps each burst well inside the frame and socket limits.
  for (size_t i = 0; i < ready.size(); i += 4096) {
    std::vector<Ready> part(std::make_move_iterator(ready.begin() + static_cast<ptrdiff_t>(i)),
                            std::make_move_iterator(ready.begin() + static_cast<ptrdiff_t>(std::min(
                                                                        ready.size(), i + 4096))));
    put_tasks(part, deadline);
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
    complete(dependent, FutureState::FAILED, std::string(task::kDependencyFailed),
             "its argument '" + st->key + "' " + why);
  }
}

void ExecutorCore::handle_notification(std::string_view n) {
  if (n.empty()) return;  // the wake-up stop() sends
  auto note = task::parse_notification(n);
  if (!note) return;  // not a notification: nobody can use it
  std::shared_ptr<FutureState> st;
  {
    std::lock_guard lk(mu);
    if (auto it = live.find(note->key); it != live.end()) st = it->second.lock();
  }
  if (!st || st->sid != note->sid) {  // nobody wants this submission any more: free its result
    release(note->key, note->sid);
    return;
  }
  task::Result& r = note->result;
  if (r.ok)
    complete(st, FutureState::OK, std::move(r.payload), {});
  else
    complete(st, FutureState::FAILED, std::move(r.type), std::move(r.message));
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
      reqs.push_back(req::remove(task::result_var(pool, sid)));
    }
  }
  try {
    // NOT_FOUND for results never stored is fine. A manager away for more than a second is
    // tried again on a later pass: one with a data directory keeps the results across its
    // restart.
    CallOptions bounded;
    bounded.deadline = SteadyClock::now() + std::chrono::seconds(1);
    client.call_many(reqs, bounded);
  } catch (const Error&) {
    std::lock_guard lk(release_mu);
    releases.insert(releases.end(), keys.begin(), keys.end());
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
            if (x.type() != task::kActorBusy) restore_error = x.what();
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
      // Just after a reconnect (a manager restart ended every session, and so every actor's
      // lock), the workers are given time to reconnect and take their locks again.
      const auto since = SteadyClock::now().time_since_epoch().count() - reconnected_at.load();
      if (since < SteadyClock::duration(kActorGrace).count()) continue;
      // Its worker holds this lock while it serves the actor: free means the worker is gone.
      Lock alive(client, task::alive_lock(pool, a->id), false);
      bool free = false;
      try {
        free = alive.try_lock();
        if (free) alive.unlock();
      } catch (const Error&) {
        continue;
      }
      // The probe reconnected (the manager restarted while it waited): the grace starts now.
      if (client.connections() != connections_seen) continue;
      if (!free) continue;
    }
    if (a->resilient && restore_error.empty()) {
      task::Record t;
      t.kind = task::Kind::ACTOR_NEW;
      t.key = a->id + "-restore-" + std::to_string(++counter);
      t.name = a->cls;
      t.reply = reply_q;
      t.actor = a->id;
      t.max_attempts = opt.max_retries + 1;
      t.flags = task::RESILIENT | task::RESTORE;
      auto st = new_state(t.key, a->cls);
      t.sid = st->sid;
      st->actor = a->id;
      {
        std::lock_guard g(mu);
        live[t.key] = st;
      }
      {
        std::lock_guard lk(a->mu);
        a->restore_future = st;
        a->restoring = true;
      }
      std::vector<Ready> r{{task::encode(t), -1, st}};
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
    end_actor(a, false, task::kActorDied, why);
    remove_actor_objects(*a);
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
      if (client.connections() != connections_seen || restart_pending()) recover();
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
  // First the lease, within its grace: after that the manager deletes what it holds, and the
  // marker's compare-and-set below finds it missing, as after a restart.
  hold_lease();
  if (now_seen != connections_seen) reconnected_at = SteadyClock::now().time_since_epoch().count();
  // Set only when missing, so that whoever finds it missing (this, or a put_tasks that got to
  // the restarted manager first) resends, once.
  const CasResult marker = RawVariable(client, task::marker_var(pool, id)).compare_and_set(0, "1");
  connections_seen = now_seen;
  std::vector<std::shared_ptr<FutureState>> sent;
  bool lost;
  {
    std::lock_guard lk(mu);
    lost = marker.swapped || restart_found;
    if (lost) {
      restart_found = false;
      sent.swap(sent_after_restart);
    }
  }
  if (lost) return restarted(sent);
  // The same manager, or one that restarted on its data directory: the tasks and results are
  // there (reserved tasks ready again), but a notification taken from the done queue just
  // before the connection went may never have arrived.
  look_up_results();
}

void ExecutorCore::look_up_results() {
  std::vector<std::shared_ptr<FutureState>> pending;
  {
    std::lock_guard lk(mu);
    for (auto& [k, w] : live) {
      auto st = w.lock();
      // Sent: a task record (those waiting on dependencies have none yet) or an actor's.
      if (!st || (st->record.empty() && st->actor.empty()) || st->done()) continue;
      pending.push_back(std::move(st));
    }
  }
  std::vector<std::string> sids;
  sids.reserve(pending.size());
  for (auto& st : pending) sids.push_back(st->sid);
  const auto stored = task::stored_results(client, pool, sids);
  for (size_t i = 0; i < pending.size(); ++i) {
    if (!stored[i]) continue;  // not finished yet: its notification will come
    auto res = task::parse_result(*stored[i]);
    if (res->ok)
      complete(pending[i], FutureState::OK, std::move(res->payload), {});
    else
      complete(pending[i], FutureState::FAILED, std::move(res->type), std::move(res->message));
  }
}

void ExecutorCore::restarted(const std::vector<std::shared_ptr<FutureState>>& sent) {
  // The manager restarted: its queues and variables are gone. Tasks sent and not finished
  // are sent again (at-least-once); tasks waiting on them are sent when they finish. Actor
  // instances lost their mailboxes and locks: their calls fail.
  std::vector<Ready> again;
  {
    std::lock_guard lk(mu);
    for (auto& [k, w] : live) {
      auto st = w.lock();
      if (!st || !st->actor.empty() || st->record.empty() || st->done()) continue;
      if (std::find(sent.begin(), sent.end(), st) != sent.end()) continue;
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
    end_actor(a, false, task::kActorDied,
              "actor " + a->id + " (" + a->cls +
                  ") was lost when the manager restarted; create a new actor");
}

void ExecutorCore::end_actor(const std::shared_ptr<ActorState>& a, bool closed,
                             std::string_view type, const std::string& why) {
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
  for (auto& s : pending) complete(s, FutureState::FAILED, std::string(type), why);
}

void ExecutorCore::remove_actor_objects(const ActorState& a) {
  try {
    client.call_many({req::remove(task::mailbox(pool, a.id)),
                      req::remove(task::alive_lock(pool, a.id)),
                      req::remove(task::state_var(pool, a.id))});
  } catch (const Error&) {
  }
}

void ExecutorCore::stop() {
  if (!collector.joinable()) return;
  stopping = true;
  try {
    // Wakes the collector at once; it also wakes by itself within its 100 ms wait, so this
    // may give up quickly when the manager is away.
    CallOptions quick;
    quick.deadline = SteadyClock::now() + std::chrono::milliseconds(200);
    client.call(req::queue_put(reply_q, proto::kNoWait, ""), quick);
  } catch (const Error&) {
  }
  collector.join();
  // With the manager gone, cleaning up there would only wait for reconnect attempts. A
  // manager without a data directory comes back with none of it; a durable one keeps this
  // executor's marker, done queue and results (left behind, as by an executor that crashed).
  const bool reachable = client.connected();
  std::vector<std::shared_ptr<FutureState>> pending;
  {
    std::lock_guard lk(mu);
    for (auto& [k, w] : live)
      if (auto s = w.lock()) pending.push_back(s);
    blocked_on.clear();
  }
  std::vector<Request> cancels, removes;
  for (auto& s : pending) {
    if (s->resolve(FutureState::CANCELLED, {}, "its executor was destroyed before it finished"))
      cancels.push_back(req::publish(task::cancel_topic(pool), s->sid));
    // Futures that outlive the executor keep their values here; nothing fetches the stored
    // result any more (their releases would come after this, and go nowhere).
    if (!s->sid.empty()) removes.push_back(req::remove(task::result_var(pool, s->sid)));
  }
  pending.clear();
  if (!reachable) return;
  try {
    client.call_many(cancels);  // workers skip what they have not started
  } catch (const Error&) {
  }
  flush_releases();
  try {
    // One round trip; any of them may be gone already (NOT_FOUND: fine).
    removes.push_back(req::remove(reply_q));
    removes.push_back(req::remove(task::marker_var(pool, id)));
    removes.push_back(req::remove(task::lease_name(pool, id)));
    client.call_many(removes);
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
  task::Record t;
  t.kind = task::Kind::ACTOR_NEW;
  t.key = a->id + "-new";
  t.name = cls;
  t.reply = reply_q;
  t.actor = a->id;
  t.max_attempts = opt.max_retries + 1;
  t.flags = o.resilient ? task::RESILIENT : 0;
  auto st = new_state(t.key, cls);
  t.sid = st->sid;
  st->actor = a->id;
  {
    std::lock_guard lk(mu);
    live[t.key] = st;
    actors.push_back(a);
  }
  std::vector<Ready> r{{task::encode(t), -1, st}};
  put_tasks(r);
  Future<void>(st).result();  // RemoteError if no worker could create it
  return a;
}

namespace {
void require_values(const ActorState& a, const std::string& name,
                    const std::vector<task::EncodedArg>& args) {
  for (auto& e : args)
    if (e.tag != task::ArgTag::VALUE)
      throw ProtocolError(Status::BAD_REQUEST, "actor " + a.id + "." + name +
                                                   ": actor calls take values, not futures; "
                                                   "pass f.result()");
}
std::string closed_message(const ActorState& a) {
  return "actor " + a.id + " was closed; create a new one with Executor::actor";
}
}  // namespace

void ExecutorCore::put_in_mailbox(const ActorState& a, const task::Record& t) {
  // The call's key is its dedup id: a put lost with the connection (a manager restart) is
  // sent again, and enqueued once whether or not the first one had taken effect.
  RawQueue box(client, task::mailbox(pool, a.id));
  const std::string record = task::encode(t);
  const PutOptions once{.priority = 0, .delay = {}, .dedup_id = t.key};
  for (int attempt = 1;; ++attempt) {
    try {
      box.put(record, once);
      return;
    } catch (const ConnectionError&) {
      // The next attempt waits to reconnect (up to the client's reconnect_give_up).
      if (attempt == 3) throw;
    }
  }
}

void ExecutorCore::actor_send(const std::shared_ptr<ActorState>& a, const std::string& name,
                              std::vector<task::EncodedArg> args) {
  require_values(*a, name, args);
  task::Record t;
  t.kind = task::Kind::ACTOR_CALL;
  t.flags = task::ONE_WAY;
  t.key = a->id + "-" + std::to_string(++counter);
  t.name = name;
  t.actor = a->id;
  t.args = std::move(args);
  {
    std::lock_guard lk(a->mu);
    if (a->closed) throw NotFoundError(Status::NOT_FOUND, closed_message(*a));
    if (a->dead)
      throw NotFoundError(Status::NOT_FOUND, "actor " + a->id + " (" + a->cls +
                                                 ") died with its worker; create a new one "
                                                 "with Executor::actor");
  }
  put_in_mailbox(*a, t);
}

std::shared_ptr<FutureState> ExecutorCore::actor_call(const std::shared_ptr<ActorState>& a,
                                                      task::Kind kind, const std::string& name,
                                                      std::vector<task::EncodedArg> args) {
  require_values(*a, name, args);
  task::Record t;
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
    if (a->closed) throw NotFoundError(Status::NOT_FOUND, closed_message(*a));
    if (a->dead) {
      st->resolve(FutureState::FAILED, std::string(task::kActorDied),
                  "actor " + a->id + " (" + a->cls + ") died with its worker earlier");
      return st;
    }
    a->outstanding.push_back(st);
  }
  {
    std::lock_guard lk(mu);
    live[t.key] = st;
  }
  put_in_mailbox(*a, t);
  return st;
}

}  // namespace detail

// ------------------------------------------------------------ public classes

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

std::shared_ptr<detail::FutureState> Executor::submit_encoded(const SubmitOptions& opt,
                                                              const std::string& function,
                                                              std::vector<task::EncodedArg> args) {
  return core_->submit(opt, function, std::move(args));
}

std::vector<std::shared_ptr<detail::FutureState>> Executor::map_encoded(
    const SubmitOptions& opt, const std::string& function,
    std::vector<std::vector<task::EncodedArg>> args) {
  return core_->submit_many(opt, function, std::move(args));
}

Actor Executor::actor(const std::string& class_name, const ActorOptions& options) {
  Actor a;
  a.st_ = core_->make_actor(class_name, options);
  return a;
}

std::shared_ptr<detail::FutureState> Actor::call_raw(task::Kind kind, const std::string& name,
                                                     std::vector<task::EncodedArg> args) {
  auto core = st_->core.lock();
  if (!core) throw NotFoundError(Status::NOT_FOUND, "actor " + st_->id + ": its executor is gone");
  return core->actor_call(st_, kind, name, std::move(args));
}

void Actor::send_raw(const std::string& name, std::vector<task::EncodedArg> args) {
  auto core = st_->core.lock();
  if (!core) throw NotFoundError(Status::NOT_FOUND, "actor " + st_->id + ": its executor is gone");
  core->actor_send(st_, name, std::move(args));
}

void Actor::close() {
  Future<void> f(call_raw(task::Kind::ACTOR_CLOSE, "close", {}));
  f.result();  // ActorDied if its worker is gone; the liveness checks still cover it here
  if (auto core = st_->core.lock()) {  // calls made while it closed will never run
    core->end_actor(st_, true, task::kActorClosed,
                    "actor " + st_->id + " was closed before this call ran");
    // The worker deletes them too; the liveness check may have made the lock again meanwhile.
    core->remove_actor_objects(*st_);
  }
}

const std::string& Actor::id() const {
  return st_->id;
}
const std::string& Actor::class_name() const {
  return st_->cls;
}

}  // namespace depot
