// The working side of the executor: Worker and its core, which reserves tasks in batches,
// fetches the results its tasks' future arguments refer to, runs registered functions,
// serves actors on threads of their own, and stores results, notifies and acks in one
// write. docs/executor.md describes the records (depot/executor/task.h encodes them).
#include "depot/executor/worker.h"

#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "depot/client/admin_requests.h"
#include "depot/client/client.h"
#include "depot/client/coord_requests.h"
#include "depot/client/queue_requests.h"

namespace depot {

namespace detail {

namespace {

using SteadyClock = std::chrono::steady_clock;

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  std::free(d);
  return out;
}

}  // namespace

// ------------------------------------------------------------ worker core

struct Reserved {
  uint64_t rid = 0;
  uint32_t deliveries = 0;
  task::Record task;
  bool parsed = false;
};

struct WorkerCore : std::enable_shared_from_this<WorkerCore> {
  WorkerCore(Client& c, std::string p, WorkerOptions o)
      : client(c), pool(std::move(p)), opt(o), tasks_q(task::tasks_queue(pool)) {}

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
  // Tells opt.on_send_error (or stderr) of a one-way call whose record is an error.
  void report_send_error(const task::Record& call, const std::string& record);
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
  void fetch(const std::vector<const Reserved*>& batch,
             std::unordered_map<std::string, std::string>& values,
             std::unordered_map<std::string, std::string>& missing);
  // The results already stored for the batch's redelivered calls (sid -> result record): an
  // earlier run stored it and its ack was lost (a manager restart, a worker that died between
  // the two). Such a call is announced with that result and not run again.
  void stored_results(const std::vector<const Reserved*>& calls,
                      std::unordered_map<std::string, std::string>& stored);
  std::string run_call(const task::Record& t,
                       const std::unordered_map<std::string, std::string>& values,
                       const std::unordered_map<std::string, std::string>& missing);
  // Whether a call runs on its own after the rest of its batch, its start counted first: a
  // redelivered one (a worker died holding it) or one that may start only once.
  static bool runs_alone(const Reserved& r) { return r.deliveries > 1 || r.task.max_attempts <= 1; }
  // Counts the start in the manager, checks the retry limit, then fetches the arguments,
  // runs the call, stores and announces its result and acks it. False when the connection
  // was lost (the reservation went back with the session).
  bool run_alone(const Reserved& r, uint64_t connection);
  void start_actor(const Reserved& r);
  void actor_loop(Reserved create);
};

void WorkerCore::start() {
  // Subscribed before the first task is taken, so no cancellation published from then on is
  // missed (the client renews it after a reconnect).
  cancel_sub = std::make_unique<RawSubscription>(client, task::cancel_topic(pool));
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
      // "Alive" is trusted for a second; "gone" is looked at again before tasks are dropped
      // for it: a master back from a long outage sets its marker again in the write that
      // sends its next tasks.
      if (s.alive && now - s.checked < std::chrono::seconds(1)) continue;
      s.checked = now;
      if (std::find(stale.begin(), stale.end(), r.task.reply) == stale.end())
        stale.push_back(r.task.reply);
    }
  }
  if (stale.empty()) return;
  std::vector<Request> reqs;
  for (const auto& reply : stale)
    reqs.push_back(
        req::var_get(task::marker_var(pool, task::executor_of(pool, reply)), proto::kNoWait));
  auto replies = client.call_many(reqs);
  std::lock_guard lk(submitters_mu);
  for (size_t i = 0; i < stale.size(); ++i)
    submitters[stale[i]].alive = replies[i].status == Status::OK;
}

void WorkerCore::fetch(const std::vector<const Reserved*>& batch,
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
  for (auto& k : keys) reqs.push_back(req::var_get(task::result_var(pool, k), proto::kNoWait));
  auto replies = client.call_many(reqs);
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& k = keys[i];
    if (replies[i].status != Status::OK) {
      missing[k] = "the result of task submission '" + k +
                   "' is not in the manager (it was released, or the "
                   "manager restarted)";
      continue;
    }
    const RawVersioned v = req::parse_var_state(replies[i].body);
    auto result = task::parse_result(v.value.value_or(std::string()));
    if (!result || !result->ok) {
      missing[k] = "its argument '" + k + "' failed";
      continue;
    }
    values[k] = std::move(result->payload);
  }
}

void WorkerCore::stored_results(const std::vector<const Reserved*>& calls,
                                std::unordered_map<std::string, std::string>& stored) {
  std::vector<std::string> sids;
  for (const auto* r : calls)
    if (r->deliveries > 1) sids.push_back(r->task.sid);
  if (sids.empty()) return;
  auto records = task::stored_results(client, pool, sids);
  for (size_t i = 0; i < sids.size(); ++i)
    if (records[i]) stored[sids[i]] = std::move(*records[i]);
}

std::string WorkerCore::run_call(const task::Record& t,
                                 const std::unordered_map<std::string, std::string>& values,
                                 const std::unordered_map<std::string, std::string>& missing) {
  Invoker f;
  {
    std::shared_lock lk(defs_mu);
    auto it = functions.find(t.name);
    if (it == functions.end()) {
      std::string known;
      for (auto& [n, _] : functions) known += (known.empty() ? "" : ", ") + n;
      return task::error_record(task::kUnknownFunction,
                                "no function '" + t.name +
                                    "' is registered on this worker of pool '" + pool +
                                    "' (it has: " + known + "); register it with Worker::def");
    }
    f = it->second;
  }
  Args args(t.args.size());
  for (size_t i = 0; i < t.args.size(); ++i) {
    const auto& a = t.args[i];
    args[i].tag = a.tag;
    if (a.tag == task::ArgTag::VALUE) {
      args[i].bytes = a.bytes;
      continue;
    }
    for (const auto& k : a.keys) {
      if (auto m = missing.find(k); m != missing.end())
        return task::error_record(task::kDependencyFailed, m->second);
      const std::string& v = values.at(k);
      if (a.tag == task::ArgTag::FUTURE)
        args[i].bytes = v;
      else
        args[i].list.push_back(v);
    }
  }
  try {
    return task::ok_record(f(args));
  } catch (const std::exception& e) {
    return task::error_record(demangle(typeid(e).name()), e.what());
  } catch (...) {
    return task::error_record("unknown", "a non-standard exception was thrown");
  }
}

// The record announced for a call whose result the manager refused to store.
static std::string unstored(const Reply& refused) {
  return task::error_record(task::kResultNotStored,
                            "its result could not be stored in the manager (" +
                                std::string(status_name(refused.status)) + ": " +
                                std::string(proto::error_message(refused.body)) + ")");
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
    const uint64_t connection = client.connections();  // the session holding `got`
    std::vector<Reserved> batch(got.size());
    std::vector<const Reserved*> calls, in_batch;  // every call; those run in the batch
    for (size_t i = 0; i < got.size(); ++i) {
      batch[i].rid = got[i].id;
      batch[i].deliveries = got[i].deliveries;
      batch[i].parsed = task::decode(got[i].item, batch[i].task);
      if (batch[i].parsed && batch[i].task.kind == task::Kind::CALL) {
        calls.push_back(&batch[i]);
        if (!runs_alone(batch[i])) in_batch.push_back(&batch[i]);
      }
    }
    std::unordered_map<std::string, std::string> values, missing, stored;
    try {
      check_submitters(batch);
      fetch(in_batch, values, missing);  // a call that runs alone fetches after its count
      stored_results(calls, stored);
    } catch (const Error&) {
      continue;  // connection lost: the reservations went back with the session
    }
    std::vector<const Reserved*> alone;  // run after the batch's results are written
    std::vector<Request> out;
    std::vector<Request> stores;         // the results, first
    std::vector<const Reserved*> notes;  // their calls, with `records`: announced after
    std::vector<std::string> records;
    std::vector<uint64_t> acks;
    const auto t0 = SteadyClock::now();
    size_t ran = 0;
    // A redelivered call that is not run may have counted starts (run_alone): not kept.
    auto forget_starts = [&](const Reserved& r) {
      if (r.parsed && r.task.kind == task::Kind::CALL && runs_alone(r))
        out.push_back(req::remove(task::starts_counter(pool, r.task.sid)));
    };
    for (auto& r : batch) {
      const task::Record& t = r.task;
      if (!r.parsed || !submitter_alive(t.reply)) {
        // Not a task record (nobody can run it), or its executor is gone (nobody wants the
        // result): drop it rather than redeliver it forever or leave results behind.
        acks.push_back(r.rid);
        forget_starts(r);
        continue;
      }
      if (t.kind == task::Kind::ACTOR_NEW && r.deliveries <= t.max_attempts) {
        start_actor(r);  // the actor's thread acks it once the instance exists
        continue;
      }
      const auto s = stored.find(t.sid);
      if (t.kind == task::Kind::CALL && runs_alone(r) && s == stored.end() &&
          !is_cancelled(t.sid)) {
        alone.push_back(&r);  // acked once it has run
        continue;
      }
      acks.push_back(r.rid);
      if (is_cancelled(t.sid)) {
        forget_starts(r);
        continue;
      }
      std::string record;
      if (s != stored.end()) {
        record = s->second;  // it ran to the end before: announce its result again
        forget_starts(r);
      } else if (r.deliveries > t.max_attempts) {  // an actor's creation
        record = task::error_record(task::kWorkerLost,
                                    "it was started " + std::to_string(r.deliveries - 1) +
                                        " times and its worker died each time; not retrying "
                                        "(ExecutorOptions::max_retries)");
      } else {
        record = run_call(t, values, missing);
        ++ran;
      }
      // The first result stored wins: a task run twice (at-least-once) never overwrites it.
      stores.push_back(req::var_cas(task::result_var(pool, t.sid), 0, record));
      notes.push_back(&r);
      records.push_back(std::move(record));
    }
    const auto spent = SteadyClock::now() - t0;
    try {
      // The results first, then (knowing which the manager kept) the notifications and the
      // acks: a result it refused (its object limit, a frame too large, a failing disk) is
      // announced as that failure, so its future fails with the reason instead of resolving
      // to a value no dependent task can fetch.
      if (!stores.empty()) {
        const auto kept = client.call_many(stores);
        for (size_t i = 0; i < kept.size(); ++i)
          if (kept[i].status != Status::OK) records[i] = unstored(kept[i]);
      }
      std::map<std::string, std::vector<std::string>> by_reply;  // reply queue -> notifications
      for (size_t i = 0; i < notes.size(); ++i)
        by_reply[notes[i]->task.reply].push_back(
            task::notification(notes[i]->task.key, notes[i]->task.sid, records[i]));
      for (auto& [reply, items] : by_reply)
        out.push_back(req::queue_put_many(reply, proto::kNoWait, items));
      if (!acks.empty()) out.push_back(req::queue_ack(tasks_q, acks));
      if (!out.empty()) client.call_many(out);
    } catch (const Error&) {
      // Lost with the connection: the tasks come back and run again (at-least-once).
      continue;
    }
    done += acks.size();
    for (const Reserved* r : alone)
      if (!run_alone(*r, connection)) break;
    // Take more per round trip while tasks are quick (under a millisecond in all), fewer
    // when they are slow, so tasks spread over the workers.
    if (ran > 0 && spent < std::chrono::milliseconds(1))
      batch_size = std::min(batch_size * 2, std::max<uint32_t>(opt.max_batch, 1));
    else if (ran > 0)
      batch_size = 1;
  }
}

bool WorkerCore::run_alone(const Reserved& r, uint64_t connection) {
  const task::Record& t = r.task;
  const std::string starts = task::starts_counter(pool, t.sid);
  std::string record;
  try {
    // call_many: never sent again after a reconnect, which would count this start twice on
    // a session that no longer holds the task.
    auto counted = client.call_many({req::counter_add(starts, 1)});
    if (client.connections() != connection) return false;
    if (counted[0].status != Status::OK) {
      // Nothing can count its starts (the object limit, a permission): running it uncounted
      // could let it kill worker after worker, so it fails with the reason.
      record = task::error_record(task::kWorkerLost,
                                  "its start could not be counted in the manager (" +
                                      std::string(proto::error_message(counted[0].body)) +
                                      "); not running it");
    } else {
      // Counted starts, this one included. A call's first start, in a batch, is not counted
      // (a dead worker's batch cannot tell which call it was running) but is assumed, except
      // for a call that may start only once: those count every start.
      const int64_t n = req::parse_counter_add(counted[0].body);
      const int64_t before = n - 1 + (t.max_attempts > 1 ? 1 : 0);
      if (before >= static_cast<int64_t>(t.max_attempts)) {
        record = task::error_record(task::kWorkerLost,
                                    "it was started " + std::to_string(before) +
                                        " times and its worker died each time; not retrying "
                                        "(ExecutorOptions::max_retries)");
      } else {
        std::unordered_map<std::string, std::string> values, missing;
        fetch({&r}, values, missing);
        record = run_call(t, values, missing);
      }
    }
    // The first result stored wins, as in a batch; the count goes with it. Then the
    // notification, of the failure to store it if the manager refused it.
    const auto kept = client.call_many(
        {req::var_cas(task::result_var(pool, t.sid), 0, record), req::remove(starts)});
    if (kept[0].status != Status::OK) record = unstored(kept[0]);
    const uint64_t ids[] = {r.rid};
    client.call_many(
        {req::queue_put(t.reply, proto::kNoWait, task::notification(t.key, t.sid, record)),
         req::queue_ack(tasks_q, ids)});
  } catch (const Error&) {
    return false;  // connection lost: the reservation goes back with the session
  }
  ++done;
  return true;
}

void WorkerCore::report_send_error(const task::Record& call, const std::string& record) {
  auto r = task::parse_result(record);
  if (!r || r->ok) return;
  if (opt.on_send_error) {
    try {
      opt.on_send_error(call.actor, call.name, r->type, r->message);
    } catch (...) {  // the callback's own failure must not stop the actor
    }
    return;
  }
  std::fprintf(stderr, "depot worker: actor %s: the one-way call %s failed: %s: %s\n",
               call.actor.c_str(), call.name.c_str(), r->type.c_str(), r->message.c_str());
}

void WorkerCore::start_actor(const Reserved& r) {
  std::lock_guard lk(actors_mu);
  auto self = shared_from_this();
  actor_threads.emplace_back([self, r] { self->actor_loop(r); });
}

void WorkerCore::actor_loop(Reserved create) {
  const task::Record& t = create.task;
  RawQueue tasks(client, tasks_q);
  // The first result stored wins; then the snapshot, the notification and the ack, in one
  // write.
  // A one-way call (Actor::send) has no result or notification, only the snapshot and the ack.
  auto finish = [&](const task::Record& call, RawQueue& from, uint64_t rid,
                    const std::string& record, const std::string* snapshot) {
    const bool answered = !(call.flags & task::ONE_WAY);
    std::vector<Request> out;
    if (answered) out.push_back(req::var_cas(task::result_var(pool, call.sid), 0, record));
    if (snapshot) out.push_back(req::var_set(task::state_var(pool, call.actor), *snapshot));
    if (answered)
      out.push_back(req::queue_put(call.reply, proto::kNoWait,
                                   task::notification(call.key, call.sid, record)));
    const uint64_t ids[] = {rid};
    out.push_back(req::queue_ack(from.name(), ids));
    client.call_many(out);
    ++done;
  };
  std::shared_ptr<ActorDef> def;
  {
    std::shared_lock lk(defs_mu);
    if (auto it = classes.find(t.name); it != classes.end()) def = it->second;
  }
  auto fail_create = [&](std::string_view type, const std::string& msg) {
    try {
      finish(t, tasks, create.rid, task::error_record(type, msg), nullptr);
    } catch (const Error&) {
    }
  };
  if (!def)
    return fail_create(task::kUnknownActorClass,
                       "no actor class '" + t.name + "' is registered on this worker of pool '" +
                           pool + "'; register it with Worker::actor<C>(name)");
  const bool resilient = t.flags & task::RESILIENT;
  if (resilient && !def->snapshot)
    return fail_create(task::kNotResilient, "actor class '" + t.name +
                                                "' was not registered with resilient(); it "
                                                "cannot keep its state across workers");
  Lock alive(client, task::alive_lock(pool, t.actor), false);
  std::shared_ptr<void> obj;
  std::string last_key;
  try {
    if (!alive.try_lock_for(std::chrono::seconds(10)))
      return fail_create(task::kActorBusy,
                         "actor " + t.actor + " is still served by another worker");
    if (t.flags & task::RESTORE) {
      RawVariable sv(client, task::state_var(pool, t.actor));
      auto cur = sv.try_get();
      if (cur && cur->value) {
        auto snap = task::parse_snapshot(*cur->value);
        if (!snap)
          throw CodecError("the snapshot of actor " + t.actor + " is not a snapshot record");
        last_key = snap->last_key;
        obj = def->restore(snap->state);
      }
    }
    if (!obj) obj = def->make();
  } catch (const std::exception& e) {
    alive.unlock();
    return fail_create(demangle(typeid(e).name()), e.what());
  }
  try {
    finish(t, tasks, create.rid, task::ok_record({}), nullptr);
  } catch (const Error&) {
    alive.unlock();
    return;
  }
  RawQueue box(client, task::mailbox(pool, t.actor));
  uint64_t held_on = client.connections();  // the connection whose session holds the lock
  std::unique_ptr<Lock> regained;           // the lock taken again on a later connection
  // After the connection changed (the manager restarted, or the network blinked) the old
  // session's end released the lock, and the executor may have restored the actor on another
  // worker. Takes it again: true while this instance is still the actor's, false when another
  // worker serves it now, nullopt when the manager cannot be reached yet.
  auto still_ours = [&]() -> std::optional<bool> {
    try {
      auto again = std::make_unique<Lock>(client, task::alive_lock(pool, t.actor), false);
      const uint64_t on = client.connections();
      // A moment's wait: the executor's liveness probe holds the lock for a round trip.
      if (!again->try_lock_for(std::chrono::seconds(1))) return false;
      held_on = on;
      if (regained) regained->unlock();
      regained = std::move(again);
      return true;
    } catch (const Error&) {
      return std::nullopt;
    }
  };
  // The last call this instance applied and what it answered (with its snapshot): a call whose
  // reservation comes back (its answer or its ack was lost with the connection) is answered
  // again, never applied twice. Restored from a snapshot: the key of the last call it holds,
  // whose answer is the result stored then.
  std::string applied_key = last_key, applied_record, applied_snap;
  bool applied_has_snap = false;
  bool closed = false;  // an ACTOR_CLOSE was answered
  while (!stopping.load() && !closed) {
    if (client.connections() != held_on) {
      auto ours = still_ours();
      if (!ours) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (!*ours) break;  // another worker serves it now: stop here
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
    if (client.connections() != held_on) {
      // A wait sent again after a reconnect delivered this call on a session that does not
      // hold the lock: take the lock first, or give the call back to the actor's worker.
      auto ours = still_ours();
      if (!ours || !*ours) {
        // Given back (or, with the manager away again, gone back with the session) for
        // whichever worker holds the lock.
        try {
          box.nack(got->id);
        } catch (const Error&) {
        }
        if (!ours) continue;
        break;
      }
    }
    task::Record c;
    try {
      if (!task::decode(got->item, c)) {
        box.ack(got->id);
        continue;
      }
      if (!applied_key.empty() && c.key == applied_key) {
        // Applied already (by this instance, or before the snapshot it was restored from).
        std::string record = applied_record;
        if (record.empty() && !(c.flags & task::ONE_WAY)) {
          RawVariable rv(client, task::result_var(pool, c.sid));
          auto prev = rv.try_get();
          record = prev && prev->value ? *prev->value : task::ok_record({});
        }
        finish(c, box, got->id, record, applied_has_snap ? &applied_snap : nullptr);
        continue;
      }
      std::string record;
      bool close = false;
      if (c.kind == task::Kind::ACTOR_CLOSE) {
        close = true;
        record = task::ok_record({});
      } else {
        Args args(c.args.size());
        for (size_t i = 0; i < c.args.size(); ++i) args[i].bytes = c.args[i].bytes;
        try {
          if (c.kind == task::Kind::ACTOR_GET) {
            auto it = def->attributes.find(c.name);
            if (it == def->attributes.end())
              record = task::error_record(
                  task::kUnknownAttribute,
                  "actor class '" + t.name + "' has no attribute '" + c.name + "'");
            else
              record = task::ok_record(it->second(obj.get()));
          } else {
            auto it = def->methods.find(c.name);
            if (it == def->methods.end())
              record =
                  task::error_record(task::kUnknownMethod,
                                     "actor class '" + t.name + "' has no method '" + c.name + "'");
            else
              record = task::ok_record(it->second(obj.get(), args));
          }
        } catch (const std::exception& e) {
          record = task::error_record(demangle(typeid(e).name()), e.what());
        }
      }
      if (close) {
        // The executor deletes the mailbox, the lock and the snapshot too once answered, so
        // any of them may be gone already (NOT_FOUND: fine). Once answered it stops, whatever
        // happens next: a reserve on the mailbox would make it again.
        obj.reset();
        client.call(req::remove(task::state_var(pool, t.actor)));
        finish(c, box, got->id, record, nullptr);
        closed = true;
        client.call(req::remove(box.name()));
        break;
      }
      std::string snap;
      bool resilient_ok = true;
      if (resilient) {
        try {
          snap = task::snapshot(c.key, def->snapshot(obj.get()));
        } catch (const std::exception& e) {  // the state cannot be saved: say so, keep serving
          record = task::error_record(task::kSnapshotFailed, e.what());
          resilient_ok = false;
        }
      }
      if (c.flags & task::ONE_WAY) report_send_error(c, record);
      applied_key = c.key;
      applied_record = record;
      applied_has_snap = resilient && resilient_ok;
      applied_snap = applied_has_snap ? snap : std::string();
      finish(c, box, got->id, record, applied_has_snap ? &applied_snap : nullptr);
    } catch (const Error&) {
      // Connection trouble: the reservation goes back with the session, and comes back here
      // (answered as applied_key) or to the worker that restores the actor.
    }
  }
  if (regained) regained->unlock();
  alive.unlock();  // a no-op (recorded in unlock_error) if the session that held it ended
  if (closed) {
    try {
      client.call(req::remove(task::alive_lock(pool, t.actor)));
    } catch (const Error&) {  // the connection is gone: Actor::close() deletes it too
    }
  }
}

}  // namespace detail

// ------------------------------------------------------------ public class

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
