// PING, STATS, LIST, INSPECT: requests about the manager itself; DELETE, of any object by name.
#include <sstream>

#include "depot/manager/inspect.h"
#include "depot/manager/ops_util.h"

namespace depot {

namespace {

using proto::Reader;

void handle_ping(Server&, Session& s, const proto::Header& h, std::string_view body) {
  s.reply(h.id, Status::OK, body);  // echoes the body
}

using inspect::json_escape;

void handle_stats(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  if (!body.empty()) return s.reply_error(h.id, Status::BAD_REQUEST, "STATS takes an empty body");
  const auto up = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - srv.started());
  const Counters& c = srv.counters();
  std::ostringstream o;
  o << "{\"version\":\"" << proto::kVersion << "\",\"address\":\"" << json_escape(srv.address())
    << "\",\"uptime_s\":" << up.count() << ",\"connections\":" << srv.session_count()
    << ",\"connections_total\":" << c.connections_total << ",\"auth_failures\":" << c.auth_failures
    << ",\"requests\":" << c.requests << ",\"protocol_errors\":" << c.protocol_errors
    << ",\"denied\":" << c.denied << ",\"objects\":" << srv.registry().object_count()
    << ",\"parked\":" << srv.registry().waiters().size()
    << ",\"sessions_holding\":" << srv.registry().sessions_holding()
    << ",\"subscriptions\":" << srv.pubsub().subscription_count()
    << ",\"pubsub_buffered_bytes\":" << srv.pubsub().buffered_bytes()
    << ",\"unauthenticated\":" << srv.session_count() - srv.authenticated_count()
    << ",\"handshakes_evicted\":" << c.handshakes_evicted << ",\"auth_refused\":" << c.auth_refused
    << ",\"input_buffered_bytes\":" << srv.input_bytes()
    << ",\"output_buffered_bytes\":" << srv.output_bytes();
  // For rates (depot-cli stat) and MONITOR (docs/protocol.md).
  auto ops = [&c](std::initializer_list<proto::Op> list) {
    uint64_t n = 0;
    for (proto::Op op : list) n += c.by_op[static_cast<uint8_t>(op)];
    return n;
  };
  using proto::Op;
  o << ",\"bytes_in\":" << c.bytes_in << ",\"bytes_out\":" << c.bytes_out
    << ",\"put_requests\":" << ops({Op::QUEUE_PUT, Op::QUEUE_PUT_MANY, Op::QUEUE_PUT_EX})
    << ",\"get_requests\":" << ops({Op::QUEUE_GET, Op::QUEUE_GET_MANY, Op::QUEUE_RESERVE})
    << ",\"queued_items\":" << srv.registry().queued_items() << ",\"monitors\":" << srv.monitors()
    << ",\"monitor_dropped\":" << srv.monitor_dropped()
    << ",\"monitor_buffered_bytes\":" << srv.monitor_buffered_bytes();
  if (store::Store* st = srv.store()) {
    const store::Stats d = st->stats();
    o << ",\"data_dir\":\"" << json_escape(st->options().dir) << "\",\"fsync\":\""
      << store::fsync_name(st->options().fsync)
      << "\",\"durable_healthy\":" << (d.healthy ? "true" : "false") << ",\"fsyncs\":" << d.fsyncs
      << ",\"log_bytes\":" << d.log_bytes << ",\"log_records\":" << d.log_records
      << ",\"log_position\":" << d.position << ",\"log_durable\":" << d.durable
      << ",\"log_since_snapshot\":" << d.log_since_snapshot
      << ",\"snapshot_bytes\":" << d.snapshot_bytes << ",\"compactions\":" << d.compactions
      << ",\"compacting\":" << (d.compacting ? "true" : "false")
      << ",\"compaction_pause_us\":" << d.compaction_fork_us
      << ",\"write_errors\":" << d.write_errors << ",\"recovered_records\":" << d.recovered_records
      << ",\"recovery_ms\":" << d.recovery_ms;
  }
  o << "}";
  auto b = s.begin_reply(h.id);
  b.str(o.str());
  s.end_reply(b);
}

void handle_list(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  if (!body.empty()) return s.reply_error(h.id, Status::BAD_REQUEST, "LIST takes an empty body");
  auto infos = srv.registry().list();
  for (auto& t : srv.pubsub().list()) infos.push_back(std::move(t));
  // A user sees the objects it may read; subscriptions' patterns only when it may read every
  // topic they match (docs/security.md).
  if (const auth::User* u = srv.user_of(s))
    std::erase_if(infos, [u](const auto& i) {
      return !(i.type == "pattern" ? u->allows_all(auth::PERM_READ, i.name)
                                   : u->allows(auth::PERM_READ, i.name));
    });
  auto b = s.begin_reply(h.id);
  b.u32(static_cast<uint32_t>(infos.size()));
  for (auto& i : infos) b.str(i.name).str(i.type).u64(i.size).str(i.state);
  s.end_reply(b);
}

// DELETE: any object by name.
void handle_delete(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  auto name = r.str();
  if (!body_ok(s, h, r, "str name")) return;
  Object* o = srv.registry().find_any(name);
  if (!o)
    return s.reply_error(h.id, Status::NOT_FOUND,
                         "no object named '" + std::string(name) + "'; nothing to delete");
  const std::string type(o->type_name());
  srv.registry().erase(name);
  auto b = s.begin_reply(h.id);
  b.str(type);
  s.end_reply(b);
}

// INSPECT: str section -> str JSON of that section (manager/inspect.h).
void handle_inspect(Server& srv, Session& s, const proto::Header& h, std::string_view body) {
  Reader r(body);
  const auto name = r.str();
  if (!body_ok(s, h, r, "str section")) return;
  if (!inspect::known_section(name))
    return s.reply_error(h.id, Status::BAD_REQUEST,
                         "INSPECT has no section '" + std::string(name) + "'; use one of " +
                             inspect::section_list());
  auto b = s.begin_reply(h.id);
  b.str(inspect::section(srv, name));
  s.end_reply(b);
}

// STATS and INSPECT report on the whole manager: admin on every name ("allow admin *").
bool stats_touches(std::string_view, uint8_t perm, Touches& out) {
  out.add(perm, "*", true);
  return true;
}

}  // namespace

std::span<const OpEntry> admin_ops() {
  using proto::Op;
  using namespace auth;
  static constexpr OpEntry table[] = {
      {Op::PING, handle_ping, false, PERM_NONE},
      {Op::STATS, handle_stats, false, PERM_ADMIN, stats_touches},
      {Op::LIST, handle_list, false, PERM_NONE},  // filtered by the user's read permission
      {Op::DELETE, handle_delete, true, PERM_ADMIN},
      {Op::INSPECT, handle_inspect, false, PERM_ADMIN, stats_touches},
  };
  return table;
}

}  // namespace depot
