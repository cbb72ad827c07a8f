// The admin endpoint's own pages (docs/operations.md): GET /healthz and GET /metrics, and
// its credential rule. Each copies what it needs on the loop thread and formats it outside.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "depot/admin/prometheus.h"
#include "depot/auth/auth.h"
#include "depot/manager/admin_routes.h"
#include "depot/manager/server.h"
#include "depot/queue/lock.h"
#include "depot/queue/semaphore.h"

namespace depot {

namespace {

constexpr const char* kAdminLabel = "depot-admin";

// Whether the key presented is `key`, in constant time whatever their lengths.
bool key_matches(std::string_view key, std::string_view presented) {
  return auth::mac_equal(auth::hmac_sha256(key, kAdminLabel),
                         auth::as_view(auth::hmac_sha256(presented, kAdminLabel)));
}

admin::Response healthz(Server& srv, const admin::Request&, const admin::OnLoop& on_loop) {
  std::chrono::steady_clock::duration up{};
  bool durable = false, writable = true;
  on_loop([&] {
    up = std::chrono::steady_clock::now() - srv.started();
    if (store::Store* st = srv.store()) {
      durable = true;
      writable = st->stats().healthy;
    }
  });
  const double up_s = std::chrono::duration<double>(up).count();
  std::string body = "{\"status\":\"";
  body += writable ? "ok" : "degraded";
  body += "\",\"uptime_seconds\":" + std::to_string(up_s) +
          ",\"version\":\"" DEPOT_VERSION_STRING "\",\"protocol_version\":" +
          std::to_string(proto::kVersion) + ",\"store\":\"" + (durable ? "data-dir" : "memory") +
          "\",\"store_writable\":" + (writable ? "true" : "false") + "}\n";
  // A data directory that cannot be written makes every write fail: not healthy.
  return {writable ? 200 : 503, admin::kJsonType, std::move(body)};
}

// What /metrics reports, copied on the loop thread (take_snapshot) and formatted outside it.
struct QueueSnap {
  std::string name;
  uint64_t ready, reserved, delayed, bytes, getters, putters, dead_lettered;
  Queue::Totals totals;
};
struct HoldSnap {
  std::string name;
  uint64_t holders, waiters, limit;
};
struct Snapshot {
  double uptime_s = 0;
  Counters counters;
  std::unique_ptr<RequestStats> requests = std::make_unique<RequestStats>();
  size_t authenticating = 0, ready = 0, closing = 0;
  size_t parked = 0;
  std::map<std::string, size_t> objects;  // by type name
  std::vector<QueueSnap> queues;
  std::vector<HoldSnap> locks, semaphores;
  PubSub::Totals pubsub;
  size_t subscriptions = 0;
  uint64_t pubsub_buffered = 0;
  uint64_t input_buffered = 0, output_buffered = 0;
  bool has_store = false;
  store::Stats store;
  double snapshot_s = 0;  // how long this copy held the loop
};

// On the loop thread: copies only (no formatting, no system calls but the clock's).
void take_snapshot(Server& srv, Snapshot& out) {
  const auto t0 = std::chrono::steady_clock::now();
  out.uptime_s = std::chrono::duration<double>(t0 - srv.started()).count();
  out.counters = srv.counters();
  *out.requests = srv.request_stats();
  for (const auto& [id, s] : srv.sessions()) {
    if (s->authenticating())
      ++out.authenticating;
    else if (s->ready())
      ++out.ready;
    else
      ++out.closing;
  }
  Registry& reg = srv.registry();
  out.parked = reg.waiters().size();
  out.queues.reserve(reg.object_count());
  reg.for_each([&](const Object& o) {
    ++out.objects[std::string(o.type_name())];
    switch (o.type()) {
      case ObjectType::QUEUE: {
        const auto& q = static_cast<const Queue&>(o);
        out.queues.push_back(QueueSnap{o.name(), q.size(), q.reserved(), q.delayed(), q.bytes(),
                                       q.getters(), q.putters(), q.dead_lettered(), q.totals()});
        break;
      }
      case ObjectType::LOCK: {
        const auto& l = static_cast<const LockObject&>(o);
        out.locks.push_back(HoldSnap{o.name(), l.held() ? 1u : 0u, l.waiter_count(), 1});
        break;
      }
      case ObjectType::SEMAPHORE: {
        const auto& m = static_cast<const SemaphoreObject&>(o);
        out.semaphores.push_back(HoldSnap{o.name(), m.held(), m.waiter_count(), m.max()});
        break;
      }
      default:
        break;
    }
  });
  out.pubsub = srv.pubsub().totals();
  out.subscriptions = srv.pubsub().subscription_count();
  out.pubsub_buffered = srv.pubsub().buffered_bytes();
  out.input_buffered = srv.input_bytes();
  out.output_buffered = srv.output_bytes();
  if (store::Store* st = srv.store()) {
    out.has_store = true;
    out.store = st->stats();
  }
  out.snapshot_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The process's resident set (/proc/self/statm's second field, in pages), 0 if unreadable.
uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, rss = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &rss);
  std::fclose(f);
  return n == 2 ? rss * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

std::string op_label(uint8_t op) {
  const std::string_view n = proto::op_name(op);
  if (!n.empty()) return std::string(n);
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", op);
  return buf;
}

std::string format_metrics(const Snapshot& s) {
  admin::PromWriter w;
  auto one = [&](const char* name, const char* type, const char* help, auto value) {
    w.family(name, type, help);
    w.sample(name, {}, value);
  };
  w.family("depot_build_info", "gauge", "Always 1; the labels name the manager's version.");
  w.sample("depot_build_info",
           {{"version", DEPOT_VERSION_STRING}, {"protocol", std::to_string(proto::kVersion)}},
           uint64_t{1});
  one("depot_uptime_seconds", "gauge", "Seconds since the manager started.", s.uptime_s);

  // Connections and sessions.
  const Counters& c = s.counters;
  one("depot_connections_total", "counter", "Connections accepted.", c.connections_total);
  w.family("depot_sessions", "gauge",
           "Open connections by state: authenticating (handshake not done), ready, closing.");
  w.sample("depot_sessions", {{"state", "authenticating"}}, uint64_t{s.authenticating});
  w.sample("depot_sessions", {{"state", "ready"}}, uint64_t{s.ready});
  w.sample("depot_sessions", {{"state", "closing"}}, uint64_t{s.closing});
  one("depot_auth_failures_total", "counter", "Failed authentications.", c.auth_failures);
  one("depot_auth_refused_total", "counter",
      "Connections refused for too many failed authentications from their address.",
      c.auth_refused);
  one("depot_handshakes_evicted_total", "counter",
      "Pending handshakes dropped to make room for newer ones (--max-unauthenticated).",
      c.handshakes_evicted);
  one("depot_denied_total", "counter",
      "Requests refused with DENIED (the user lacks the permission).", c.denied);
  one("depot_protocol_errors_total", "counter", "Malformed or oversized frames.",
      c.protocol_errors);
  one("depot_received_bytes_total", "counter", "Bytes read from clients.", c.bytes_in);
  one("depot_sent_bytes_total", "counter", "Bytes written to clients.", c.bytes_out);
  one("depot_input_buffered_bytes", "gauge",
      "Bytes held for incomplete frames beyond the sessions' base buffers.", s.input_buffered);
  one("depot_output_buffered_bytes", "gauge", "Replies not yet written to clients.",
      s.output_buffered);

  // Requests.
  const RequestStats& r = *s.requests;
  w.family("depot_requests_total", "counter", "Requests answered, by opcode and reply status.");
  std::vector<std::string> ops(256);
  for (size_t op = 0; op < 256; ++op) {
    for (size_t st = 0; st < RequestStats::kStatuses; ++st) {
      if (!r.replies[op][st]) continue;
      if (ops[op].empty()) ops[op] = op_label(static_cast<uint8_t>(op));
      w.sample("depot_requests_total",
               {{"op", ops[op]}, {"status", status_name(static_cast<Status>(st))}},
               r.replies[op][st]);
    }
  }
  w.family("depot_request_duration_seconds", "histogram",
           "Time from the read that brought a request to the end of the loop pass that "
           "answered it (a parked request's includes its wait), by opcode.");
  std::array<double, RequestStats::kBoundsNs.size()> bounds{};
  for (size_t i = 0; i < bounds.size(); ++i) bounds[i] = RequestStats::kBoundsNs[i] / 1e9;
  for (size_t op = 0; op < 256; ++op) {
    if (ops[op].empty()) continue;
    w.histogram("depot_request_duration_seconds", {{"op", ops[op]}}, bounds, r.latency[op],
                static_cast<double>(r.latency_sum_ns[op]) / 1e9);
  }
  one("depot_parked_waiters", "gauge",
      "Requests waiting in the manager (gets, lock acquires, waits, ...).", uint64_t{s.parked});
  w.family("depot_objects", "gauge", "Named objects by type.");
  for (const auto& [type, n] : s.objects) w.sample("depot_objects", {{"type", type}}, uint64_t{n});

  // Queues, by name.
  struct QueueFamily {
    const char* name;
    const char* type;
    const char* help;
    uint64_t (*get)(const QueueSnap&);
  };
  static constexpr QueueFamily queue_families[] = {
      {"depot_queue_ready_items", "gauge", "Items a get could take now.",
       [](const QueueSnap& q) { return q.ready; }},
      {"depot_queue_reserved_items", "gauge", "Items reserved and not yet acknowledged.",
       [](const QueueSnap& q) { return q.reserved; }},
      {"depot_queue_delayed_items", "gauge", "Items waiting for their delay to pass.",
       [](const QueueSnap& q) { return q.delayed; }},
      {"depot_queue_bytes", "gauge",
       "Payload bytes of the queue's items (ready, delayed, reserved).",
       [](const QueueSnap& q) { return q.bytes; }},
      {"depot_queue_waiting_getters", "gauge", "Gets and reserves parked on the queue.",
       [](const QueueSnap& q) { return q.getters; }},
      {"depot_queue_waiting_putters", "gauge", "Puts parked on the full queue.",
       [](const QueueSnap& q) { return q.putters; }},
      {"depot_queue_puts_total", "counter",
       "Items accepted by puts (stored, delayed or handed to a waiting getter; duplicates not).",
       [](const QueueSnap& q) { return q.totals.puts; }},
      {"depot_queue_gets_total", "counter", "Items taken by get.",
       [](const QueueSnap& q) { return q.totals.gets; }},
      {"depot_queue_reserves_total", "counter", "Items taken by reserve.",
       [](const QueueSnap& q) { return q.totals.reserves; }},
      {"depot_queue_redeliveries_total", "counter",
       "Items reserved again after an earlier delivery (nack or expired reservation).",
       [](const QueueSnap& q) { return q.totals.redeliveries; }},
      {"depot_queue_acks_total", "counter", "Reservations acknowledged.",
       [](const QueueSnap& q) { return q.totals.acks; }},
      {"depot_queue_nacks_total", "counter", "Reservations given back by nack.",
       [](const QueueSnap& q) { return q.totals.nacks; }},
      {"depot_queue_dead_lettered_total", "counter",
       "Items moved to the dead-letter queue after their last allowed delivery.",
       [](const QueueSnap& q) { return q.dead_lettered; }},
  };
  uint64_t item_bytes = 0;
  for (const QueueSnap& q : s.queues) item_bytes += q.bytes;
  for (const QueueFamily& f : queue_families) {
    w.family(f.name, f.type, f.help);
    for (const QueueSnap& q : s.queues) w.sample(f.name, {{"queue", q.name}}, f.get(q));
  }

  // Locks and semaphores.
  w.family("depot_lock_holders", "gauge", "1 while the lock is held, else 0.");
  for (const HoldSnap& l : s.locks) w.sample("depot_lock_holders", {{"lock", l.name}}, l.holders);
  w.family("depot_lock_waiters", "gauge", "Acquires parked on the lock.");
  for (const HoldSnap& l : s.locks) w.sample("depot_lock_waiters", {{"lock", l.name}}, l.waiters);
  w.family("depot_semaphore_holders", "gauge", "Leases held on the semaphore.");
  for (const HoldSnap& m : s.semaphores)
    w.sample("depot_semaphore_holders", {{"semaphore", m.name}}, m.holders);
  w.family("depot_semaphore_waiters", "gauge", "Acquires parked on the semaphore.");
  for (const HoldSnap& m : s.semaphores)
    w.sample("depot_semaphore_waiters", {{"semaphore", m.name}}, m.waiters);
  w.family("depot_semaphore_limit", "gauge", "Leases the semaphore grants at once.");
  for (const HoldSnap& m : s.semaphores)
    w.sample("depot_semaphore_limit", {{"semaphore", m.name}}, m.limit);

  // Pub/sub.
  one("depot_pubsub_published_total", "counter", "Messages published.", s.pubsub.published);
  one("depot_pubsub_delivered_total", "counter", "Messages pushed to subscribers.",
      s.pubsub.delivered);
  one("depot_pubsub_dropped_total", "counter",
      "Messages dropped by slow-subscriber policies (buffer full).", s.pubsub.dropped);
  one("depot_pubsub_subscriptions", "gauge", "Subscriptions open.", uint64_t{s.subscriptions});
  one("depot_pubsub_buffered_bytes", "gauge", "Bytes of messages buffered for subscribers.",
      s.pubsub_buffered);

  // Memory.
  one("depot_resident_memory_bytes", "gauge", "The manager's resident set size.", resident_bytes());
  one("depot_item_bytes", "gauge", "Payload bytes of items held in all queues.", item_bytes);

  // The data directory.
  if (s.has_store) {
    const store::Stats& d = s.store;
    one("depot_store_fsyncs_total", "counter", "fdatasync calls on log segments.", d.fsyncs);
    one("depot_store_written_bytes_total", "counter", "Bytes written to the log.", d.log_bytes);
    one("depot_store_records_total", "counter", "Records written to the log.", d.log_records);
    one("depot_store_write_errors_total", "counter", "Failed log writes.", d.write_errors);
    one("depot_store_compactions_total", "counter", "Log compactions into a snapshot.",
        d.compactions);
    one("depot_store_snapshot_bytes", "gauge", "Size of the current snapshot.", d.snapshot_bytes);
    one("depot_store_log_since_snapshot_bytes", "gauge", "Log bytes since the last snapshot.",
        d.log_since_snapshot);
    one("depot_store_writable", "gauge", "1 while the data directory can be written, else 0.",
        uint64_t{d.healthy ? 1u : 0u});
  }
  one("depot_metrics_snapshot_seconds", "gauge",
      "How long this scrape's copy of the manager's state held its loop thread.", s.snapshot_s);
  return w.take();
}

admin::Response metrics(Server& srv, const admin::Request&, const admin::OnLoop& on_loop) {
  Snapshot snap;
  on_loop([&] { take_snapshot(srv, snap); });
  std::sort(snap.queues.begin(), snap.queues.end(),
            [](const QueueSnap& a, const QueueSnap& b) { return a.name < b.name; });
  auto by_name = [](const HoldSnap& a, const HoldSnap& b) { return a.name < b.name; };
  std::sort(snap.locks.begin(), snap.locks.end(), by_name);
  std::sort(snap.semaphores.begin(), snap.semaphores.end(), by_name);
  return {200, admin::kPrometheusType, format_metrics(snap)};
}

}  // namespace

std::string admin_authorize(const Server& srv, const admin::Credential& c) {
  using S = admin::Credential::Scheme;
  if (!srv.has_acl_file()) {
    const std::string& key = srv.options().authkey;
    if ((c.scheme == S::Bearer || (c.scheme == S::Basic && c.user == auth::kDefaultUser)) &&
        key_matches(key, c.key))
      return {};
    return c.scheme == S::None
               ? "the admin endpoint is not on loopback: send the manager's authkey as "
                 "'Authorization: Bearer <authkey>'"
               : "wrong credential for the admin endpoint: send the manager's authkey as "
                 "'Authorization: Bearer <authkey>'";
  }
  const char* what =
      "send 'Authorization: Basic base64(user:key)' of an ACL user with the admin "
      "permission on every name ('allow admin *')";
  if (c.scheme != S::Basic)
    return std::string("the admin endpoint is not on loopback and the manager has users: ") + what;
  const auth::User* u = srv.acl().find(c.user);
  bool good = false;
  if (u)
    for (const auto& k : u->keys) good |= key_matches(k, c.key);
  if (!good) return std::string("wrong user or key for the admin endpoint: ") + what;
  if (!u->allows_all(auth::PERM_ADMIN, "*"))
    return "user '" + c.user +
           "' lacks the admin permission on every name the admin endpoint shows: give it "
           "'allow admin *' in the ACL file, or use another user";
  return {};
}

std::span<const AdminRoute> metrics_routes() {
  static constexpr AdminRoute table[] = {
      {"/healthz", healthz},
      {"/metrics", metrics},
  };
  return table;
}

}  // namespace depot
