// Who holds what, as JSON: the snapshot behind INSPECT and GET /api/<section>.
#include "depot/manager/inspect.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "depot/manager/server.h"
#include "depot/protocol/utf8.h"
#include "depot/queue/lock.h"
#include "depot/queue/queue.h"
#include "depot/queue/semaphore.h"

namespace depot::inspect {

namespace {

// A JSON text written in order; commas between members and elements are its business.
class Json {
 public:
  Json& begin_object() { return open('{'); }
  Json& end_object() { return close('}'); }
  Json& begin_array() { return open('['); }
  Json& end_array() { return close(']'); }
  Json& key(std::string_view k) {
    comma();
    out_ += '"';
    out_ += json_escape(k);
    out_ += "\":";
    after_key_ = true;
    return *this;
  }
  Json& str(std::string_view v) {
    comma();
    out_ += '"';
    out_ += json_escape(v);
    out_ += '"';
    return *this;
  }
  Json& num(uint64_t v) {
    comma();
    out_ += std::to_string(v);
    return *this;
  }
  Json& boolean(bool v) {
    comma();
    out_ += v ? "true" : "false";
    return *this;
  }
  Json& null() {
    comma();
    out_ += "null";
    return *this;
  }
  // key + value in one call.
  Json& field(std::string_view k, std::string_view v) { return key(k).str(v); }
  Json& field(std::string_view k, const char* v) { return key(k).str(v); }
  Json& field(std::string_view k, uint64_t v) { return key(k).num(v); }
  Json& flag(std::string_view k, bool v) { return key(k).boolean(v); }
  std::string take() { return std::move(out_); }

 private:
  Json& open(char c) {
    comma();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  Json& close(char c) {
    out_ += c;
    first_.pop_back();
    return *this;
  }
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

std::string iso8601(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// Everything a snapshot needs, read once: objects by name, sessions by id, and what each
// session holds and waits for.
struct View {
  struct Hold {
    const Object* object;
    HoldInfo info;
  };
  struct Parked {
    const Object* object;
    std::string_view op;
  };
  struct PerSession {
    std::vector<Hold> holds;
    std::vector<Parked> waits;
  };
  Server& srv;
  std::vector<const Object*> objects;  // by name
  std::vector<const Session*> sessions;
  std::unordered_map<SessionId, const Session*> session_by_id;
  std::unordered_map<SessionId, PerSession> per_session;

  explicit View(Server& server) : srv(server) {
    srv.registry().for_each([this](const Object& o) { objects.push_back(&o); });
    std::sort(objects.begin(), objects.end(),
              [](const Object* a, const Object* b) { return a->name() < b->name(); });
    srv.for_each_session([this](const Session& s) {
      sessions.push_back(&s);
      session_by_id.emplace(s.id(), &s);
    });
    std::sort(sessions.begin(), sessions.end(),
              [](const Session* a, const Session* b) { return a->id() < b->id(); });
    std::vector<HoldInfo> holds;
    std::vector<WaitInfo> waits;
    for (const Object* o : objects) {
      holds.clear();
      waits.clear();
      o->holds(holds);
      o->waits(waits);
      for (const HoldInfo& h : holds) per_session[h.session].holds.push_back({o, h});
      for (const WaitInfo& w : waits) per_session[w.session].waits.push_back({o, w.op});
    }
  }

  const Object* find(std::string_view name) const {
    auto it = std::lower_bound(objects.begin(), objects.end(), name,
                               [](const Object* o, std::string_view n) { return o->name() < n; });
    return it != objects.end() && (*it)->name() == name ? *it : nullptr;
  }
  const PerSession* of(SessionId id) const {
    auto it = per_session.find(id);
    return it == per_session.end() ? nullptr : &it->second;
  }
  // "session": id, "name": the client's name ("" for a session that is gone).
  void who(Json& j, SessionId id) const {
    j.field("session", id);
    auto it = session_by_id.find(id);
    j.field("name", it == session_by_id.end() ? std::string_view() : client_name(*it->second));
  }
  std::string_view client_name(const Session& s) const { return s.client_name(); }
  std::string user_name(const Session& s) const {
    if (!s.authenticated()) return {};
    const auth::User* u = srv.user_of(s);
    return u ? u->name : std::string();
  }
};

void write_objects(const View& v, Json& j) {
  j.key("objects").begin_array();
  for (const Object* o : v.objects)
    j.begin_object()
        .field("name", o->name())
        .field("type", o->type_name())
        .field("size", o->size())
        .field("state", o->state())
        .field("waiters", o->waiter_count())
        .end_object();
  for (const ObjectInfo& t : v.srv.pubsub().list())
    j.begin_object()
        .field("name", t.name)
        .field("type", t.type)
        .field("size", t.size)
        .field("state", t.state)
        .field("waiters", uint64_t{0})
        .end_object();
  j.end_array();
}

void write_session_holds(const View& v, const Session& s, Json& j) {
  const View::PerSession* ps = v.of(s.id());
  j.key("holds").begin_object();
  j.key("locks").begin_array();
  if (ps)
    for (const auto& h : ps->holds)
      if (h.object->type() == ObjectType::LOCK)
        j.begin_object()
            .field("name", h.object->name())
            .field("token", std::to_string(h.info.token))
            .field("count", h.info.count)
            .end_object();
  j.end_array().key("semaphores").begin_array();
  if (ps)
    for (const auto& h : ps->holds)
      if (h.object->type() == ObjectType::SEMAPHORE)
        j.begin_object()
            .field("name", h.object->name())
            .field("lease", std::to_string(h.info.token))
            .end_object();
  j.end_array().key("reservations").begin_array();
  if (ps)
    for (const auto& h : ps->holds)
      if (h.object->type() == ObjectType::QUEUE)
        j.begin_object().field("queue", h.object->name()).field("count", h.info.count).end_object();
  j.end_array().key("subscriptions").begin_array();
  for (uint64_t id : s.subscriptions())
    if (const Subscription* sub = std::as_const(v.srv.pubsub()).find(id))
      j.begin_object()
          .field("id", id)
          .field("pattern", sub->pattern)
          .field("buffered", static_cast<uint64_t>(sub->buffer.size()))
          .field("delivered", sub->delivered)
          .field("dropped", sub->dropped)
          .end_object();
  j.end_array().end_object();
  j.key("waits").begin_array();
  if (ps)
    for (const auto& w : ps->waits)
      j.begin_object().field("op", w.op).field("object", w.object->name()).end_object();
  j.end_array();
}

void write_sessions(const View& v, Json& j) {
  const auto now = std::chrono::system_clock::now();
  j.key("sessions").begin_array();
  for (const Session* s : v.sessions) {
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - s->connected_at());
    j.begin_object()
        .field("id", s->id())
        .field("peer", s->peer())
        .field("name", v.client_name(*s))
        .field("user", v.user_name(*s))
        .flag("authenticated", s->authenticated())
        .field("connected", iso8601(s->connected_at()))
        .field("age_s", static_cast<uint64_t>(std::max<int64_t>(0, age.count())))
        .field("requests", s->requests());
    write_session_holds(v, *s, j);
    j.end_object();
  }
  j.end_array();
}

void write_waiters(const View& v, const Object& o, Json& j) {
  std::vector<WaitInfo> waits;
  o.waits(waits);
  j.key("waiters").begin_array();
  for (const WaitInfo& w : waits) {
    j.begin_object();
    v.who(j, w.session);
    j.end_object();
  }
  j.end_array();
}

void write_locks(const View& v, Json& j) {
  j.key("locks").begin_array();
  for (const Object* o : v.objects) {
    if (o->type() != ObjectType::LOCK) continue;
    const auto& l = static_cast<const LockObject&>(*o);
    j.begin_object().field("name", l.name()).field("type", l.type_name()).flag("held", l.held());
    j.key("holder");
    if (l.held()) {
      std::vector<HoldInfo> h;
      l.holds(h);
      j.begin_object();
      v.who(j, l.holder_session());
      j.field("token", std::to_string(l.token())).field("count", h.empty() ? 1 : h[0].count);
      j.flag("ttl", l.leased()).end_object();
    } else {
      j.null();
    }
    write_waiters(v, l, j);
    j.end_object();
  }
  j.end_array().key("semaphores").begin_array();
  for (const Object* o : v.objects) {
    if (o->type() != ObjectType::SEMAPHORE) continue;
    const auto& s = static_cast<const SemaphoreObject&>(*o);
    j.begin_object().field("name", s.name()).field("max", uint64_t{s.max()});
    std::vector<HoldInfo> leases;
    s.holds(leases);
    j.key("leases").begin_array();
    for (const HoldInfo& h : leases) {
      j.begin_object();
      v.who(j, h.session);
      j.field("lease", std::to_string(h.token)).end_object();
    }
    j.end_array();
    write_waiters(v, s, j);
    j.end_object();
  }
  j.end_array();
}

void write_queues(const View& v, Json& j) {
  j.key("queues").begin_array();
  for (const Object* o : v.objects) {
    if (o->type() != ObjectType::QUEUE) continue;
    const auto& q = static_cast<const Queue&>(*o);
    const Queue::Totals& t = q.totals();
    j.begin_object()
        .field("name", q.name())
        .field("ready", q.size())
        .field("reserved", static_cast<uint64_t>(q.reserved()))
        .field("delayed", static_cast<uint64_t>(q.delayed()))
        .field("dead_lettered", q.dead_lettered())
        .field("puts_total", t.puts)
        .field("gets_total", t.gets)
        .field("reserves_total", t.reserves)
        .field("redeliveries_total", t.redeliveries)
        .field("acks_total", t.acks)
        .field("nacks_total", t.nacks)
        .field("bytes", static_cast<uint64_t>(q.bytes()))
        .field("maxsize", q.maxsize())
        .field("getters", static_cast<uint64_t>(q.getters()))
        .field("putters", static_cast<uint64_t>(q.putters()))
        .field("dead_letter_queue",
               q.settings().dead_letter.empty() ? q.name() + ".dead" : q.settings().dead_letter)
        .end_object();
  }
  j.end_array();
}

// Executor pools (docs/executor.md, "Names"): a pool is a queue named <pool>.tasks. Its
// workers are the sessions that hold its tasks (reservations), wait for them (a parked
// reserve) or serve its actors (hold <pool>.actor.<id>.alive).
void write_pools(const View& v, Json& j) {
  j.key("pools").begin_array();
  for (const Object* o : v.objects) {
    if (o->type() != ObjectType::QUEUE || !ends_with(o->name(), ".tasks")) continue;
    const auto& tasks = static_cast<const Queue&>(*o);
    const std::string pool = tasks.name().substr(0, tasks.name().size() - 6);
    const std::string actor_prefix = pool + ".actor.";
    const std::string result_prefix = pool + ".r.";
    const std::string executor_prefix = pool + ".executor.";

    struct Worker {
      uint64_t running = 0;
      bool waiting = false;
      std::vector<std::string_view> actors;
    };
    std::map<SessionId, Worker> workers;
    std::vector<HoldInfo> holds;
    tasks.holds(holds);
    for (const HoldInfo& h : holds) workers[h.session].running += h.count;
    std::vector<WaitInfo> waits;
    tasks.waits(waits);
    for (const WaitInfo& w : waits)
      if (w.op == "reserve" || w.op == "get") workers[w.session].waiting = true;

    struct Actor {
      const Queue* mailbox = nullptr;
      const LockObject* alive = nullptr;
      bool resilient = false;
    };
    std::map<std::string_view, Actor> actors;
    uint64_t results = 0, executors = 0;
    auto it = std::lower_bound(v.objects.begin(), v.objects.end(), std::string_view(pool),
                               [](const Object* x, std::string_view n) { return x->name() < n; });
    for (; it != v.objects.end() && starts_with((*it)->name(), pool); ++it) {
      const Object& x = **it;
      const std::string_view name = x.name();
      if (starts_with(name, result_prefix) && x.type() == ObjectType::VARIABLE) {
        ++results;
      } else if (starts_with(name, executor_prefix) && x.type() == ObjectType::VARIABLE) {
        ++executors;
      } else if (starts_with(name, actor_prefix)) {
        std::string_view id = name.substr(actor_prefix.size());
        if (x.type() == ObjectType::QUEUE) {
          actors[id].mailbox = static_cast<const Queue*>(&x);
        } else if (x.type() == ObjectType::LOCK && ends_with(id, ".alive")) {
          id.remove_suffix(6);
          actors[id].alive = static_cast<const LockObject*>(&x);
        } else if (x.type() == ObjectType::VARIABLE && ends_with(id, ".state")) {
          id.remove_suffix(6);
          actors[id].resilient = true;
        }
      }
    }
    for (auto& [id, a] : actors)
      if (a.alive && a.alive->held()) workers[a.alive->holder_session()].actors.push_back(id);

    j.begin_object().field("name", pool);
    j.key("tasks").begin_object();
    j.field("queue", tasks.name())
        .field("queued", tasks.size() + tasks.delayed())
        .field("running", static_cast<uint64_t>(tasks.reserved()))
        .field("delayed", static_cast<uint64_t>(tasks.delayed()))
        .field("dead_lettered", tasks.dead_lettered())
        .field("results_held", results)
        .field("submitted_total", tasks.totals().puts)
        .field("finished_total", tasks.totals().acks)
        .field("redelivered_total", tasks.totals().redeliveries);
    j.end_object();
    j.field("executors", executors);
    j.key("workers").begin_array();
    for (const auto& [sid, w] : workers) {
      j.begin_object();
      v.who(j, sid);
      auto s = v.session_by_id.find(sid);
      j.field("peer", s == v.session_by_id.end() ? std::string() : s->second->peer())
          .field("running", w.running)
          .flag("waiting", w.waiting);
      j.key("actors").begin_array();
      for (std::string_view a : w.actors) j.str(a);
      j.end_array().end_object();
    }
    j.end_array();
    j.key("actors").begin_array();
    for (const auto& [id, a] : actors) {
      j.begin_object().field("id", id);
      j.field("mailbox", a.mailbox ? a.mailbox->size() : 0).flag("resilient", a.resilient);
      j.key("worker");
      if (a.alive && a.alive->held()) {
        j.begin_object();
        v.who(j, a.alive->holder_session());
        j.end_object();
      } else {
        j.null();
      }
      j.end_object();
    }
    j.end_array().end_object();
  }
  j.end_array();
}

}  // namespace

std::string json_escape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (const size_t n = proto::utf8_sequence(in, i)) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);  // a stray byte: read as Latin-1
      out += buf;
      ++i;
    }
  }
  return out;
}

bool known_section(std::string_view name) {
  return std::find(kSections.begin(), kSections.end(), name) != kSections.end();
}

std::string section_list() {
  std::string out;
  for (std::string_view s : kSections) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

std::string section(Server& srv, std::string_view name) {
  if (!known_section(name)) return {};
  const View v(srv);
  Json j;
  j.begin_object().field("now", iso8601(std::chrono::system_clock::now()));
  if (name == "objects") write_objects(v, j);
  if (name == "sessions") write_sessions(v, j);
  if (name == "locks") write_locks(v, j);
  if (name == "queues") write_queues(v, j);
  if (name == "pools") write_pools(v, j);
  j.end_object();
  return j.take();
}

}  // namespace depot::inspect
