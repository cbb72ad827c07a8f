// depot-manager: the standalone daemon.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "depot/auth/auth.h"
#include "depot/manager/manager.h"
#include "depot/protocol/address.h"

namespace {

const char* kUsage = R"(usage: depot-manager [options]

Serves depot's named queues to authenticated clients.

  --address HOST:PORT       listen address (default 127.0.0.1:5000; 0.0.0.0:PORT for all interfaces)
  --authkey KEY             the shared secret clients must prove they know
  --authkey-file FILE       read the key from FILE (one trailing newline is ignored)
  --generate-authkey        make a random key and print it (for trying depot out)
                            (else the key comes from the environment variable DEPOT_AUTHKEY)
  --acl-file FILE           users, their keys, permissions and limits (docs/security.md),
                            instead of one authkey; read again on SIGHUP
  --max-frame BYTES         largest frame body accepted (default 67108864 = 64 MiB)
  --max-connections N       sessions at once (default 10000)
  --max-objects N           named objects at once (default 1000000)
  --max-waiters N           parked requests per object, barriers excepted (default 100000)
  --handshake-timeout MS    close peers that have not authenticated by then (default 10000)
  --session-lease MS        close a session silent this long, releasing its locks and leases
                            (default 10000; clients heartbeat at a third of it)
  --busy-poll-us US         poll this long before sleeping when idle (default 50; 0 = off)
  --data-dir DIR            keep queues, variables and counters in DIR, so they survive a
                            restart or a crash (default: in memory only)
  --fsync POLICY            with --data-dir: always (default: a reply leaves after its change
                            is on disk), everysec (at most ~1 s of changes lost) or no
  --compact-min-bytes N     compact the log once it has grown this much since the last
                            snapshot (default 67108864 = 64 MiB) ...
  --compact-percent P       ... and by P % of the snapshot's size (default 100; 0 = never)
  --tls-cert FILE           serve TLS with this PEM certificate (chain) ...
  --tls-key FILE            ... and its PEM private key (docs/security.md); clients then
                            connect to tls://HOST:PORT. SIGHUP reads both again (rotation)
  --tls-ca FILE             mutual TLS: client certificates must chain to this CA
  --tls-client-certs MODE   with --tls-ca: require (the default with a CA) or optional

Limits against hostile clients (docs/security.md, "Hardening / limits"):
  --max-unauthenticated N   connections still authenticating, in total (default 1000; apart
                            from --max-connections, which counts authenticated sessions);
                            when full, the oldest pending handshake is dropped
  --max-unauthenticated-per-address N
                            ... from one peer address (default 64); when full, that
                            address's oldest pending handshake is dropped
  --max-input-buffered BYTES  memory for incomplete frames beyond each session's 64 KiB,
                            all sessions together (default 268435456 = 256 MiB); past it,
                            sessions whose frames need more wait to be read, one at a time
  --max-output-buffered BYTES unread replies, all sessions together (default 1073741824 =
                            1 GiB); past it, sessions with more than 1 MiB unread are not read
                            until they drain; one that reads nothing for a session lease is
                            closed
  --max-subscription-bytes BYTES  messages buffered per subscription (default 8388608 =
                            8 MiB), whatever count SUBSCRIBE asks; past it the subscription's
                            slow-subscriber policy applies
  --auth-failure-burst N    failed authentications allowed per peer address (default 10;
                            0 = no limit) ...
  --auth-failure-refill-ms MS  ... then one more per MS (default 6000); meanwhile the
                            address's connections are refused with LIMIT
  --allow-weak-key          accept an authkey shorter than 16 bytes on an address other
                            than loopback (refused otherwise)
  --admin-address HOST:PORT  serve HTTP /metrics (Prometheus), /healthz and the dashboard
                            there (default: off); off loopback every request needs the
                            authkey (Authorization: Bearer KEY) or an ACL admin user
                            (docs/operations.md)
  --log-level LEVEL         error, warn, info (default) or debug
  --help                    this text
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "depot-manager: " << msg << "\n(depot-manager --help lists the options)\n";
  std::exit(2);
}

uint64_t parse_number(const std::string& flag, const std::string& v) {
  try {
    size_t pos = 0;
    unsigned long long n = std::stoull(v, &pos);
    if (pos != v.size()) throw std::invalid_argument(v);
    return n;
  } catch (const std::exception&) {
    usage_error(flag + " needs a whole number, got '" + v + "'");
  }
}

constexpr size_t kMinKeyBytes = 16;

// Whether the manager listens on loopback only: 127.0.0.0/8, ::1 or localhost.
bool is_loopback(const std::string& address) {
  depot::proto::Address a;
  if (!depot::proto::parse_address(address, a).empty()) return true;  // bind() reports it
  const std::string& h = a.host;
  return h == "localhost" || h == "::1" || h == "[::1]" || h.rfind("127.", 0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  depot::ManagerOptions o;
  bool generated = false;
  depot::auth::KeySources keys;
  bool allow_weak_key = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--address")
      o.address = value();
    else if (a == "--authkey")
      keys.key = value();
    else if (a == "--authkey-file")
      keys.file = value();
    else if (a == "--acl-file") {
      o.acl_file = value();
      if (o.acl_file.empty()) usage_error("--acl-file needs a file");
    } else if (a == "--generate-authkey")
      generated = true;
    else if (a == "--max-frame")
      o.max_frame = static_cast<uint32_t>(std::min<uint64_t>(parse_number(a, value()), UINT32_MAX));
    else if (a == "--max-connections")
      o.max_connections = parse_number(a, value());
    else if (a == "--max-objects")
      o.max_objects = parse_number(a, value());
    else if (a == "--max-waiters")
      o.max_waiters = parse_number(a, value());
    else if (a == "--handshake-timeout")
      o.handshake_timeout = std::chrono::milliseconds(parse_number(a, value()));
    else if (a == "--session-lease") {
      o.session_lease = std::chrono::milliseconds(parse_number(a, value()));
      if (o.session_lease.count() < 100 || o.session_lease.count() > 86'400'000)
        usage_error("--session-lease takes 100 ms to 86400000 ms (one day)");
    } else if (a == "--busy-poll-us")
      o.busy_poll = std::chrono::microseconds(parse_number(a, value()));
    else if (a == "--data-dir") {
      o.data_dir = value();
      if (o.data_dir.empty()) usage_error("--data-dir needs a directory");
    } else if (a == "--fsync") {
      o.fsync = value();
      if (o.fsync != "always" && o.fsync != "everysec" && o.fsync != "no")
        usage_error("--fsync takes always, everysec or no");
    } else if (a == "--compact-min-bytes")
      o.compact_min_bytes = parse_number(a, value());
    else if (a == "--compact-percent") {
      const uint64_t p = parse_number(a, value());
      if (p > 100000) usage_error("--compact-percent takes 0 (never) to 100000");
      o.compact_percent = static_cast<uint32_t>(p);
    } else if (a == "--max-unauthenticated") {
      o.max_unauthenticated = parse_number(a, value());
      if (o.max_unauthenticated == 0) usage_error("--max-unauthenticated takes 1 or more");
    } else if (a == "--max-unauthenticated-per-address") {
      o.max_unauthenticated_per_address = parse_number(a, value());
      if (o.max_unauthenticated_per_address == 0)
        usage_error("--max-unauthenticated-per-address takes 1 or more");
    } else if (a == "--max-input-buffered")
      o.max_input_buffered = parse_number(a, value());
    else if (a == "--max-output-buffered")
      o.max_output_buffered = parse_number(a, value());
    else if (a == "--max-subscription-bytes") {
      o.max_subscription_bytes = parse_number(a, value());
      if (o.max_subscription_bytes == 0) usage_error("--max-subscription-bytes takes 1 or more");
    } else if (a == "--auth-failure-burst")
      o.auth_failure_burst =
          static_cast<uint32_t>(std::min<uint64_t>(parse_number(a, value()), UINT32_MAX));
    else if (a == "--auth-failure-refill-ms")
      o.auth_failure_refill = std::chrono::milliseconds(parse_number(a, value()));
    else if (a == "--admin-address") {
      o.admin_address = value();
      if (o.admin_address.empty()) usage_error("--admin-address needs HOST:PORT");
    } else if (a == "--allow-weak-key")
      allow_weak_key = true;
    else if (a == "--tls-cert")
      o.tls.cert_file = value();
    else if (a == "--tls-key")
      o.tls.key_file = value();
    else if (a == "--tls-ca")
      o.tls.ca_file = value();
    else if (a == "--tls-client-certs") {
      const std::string m = value();
      if (m == "require")
        o.tls.client_certs = depot::TlsOptions::ClientCerts::Require;
      else if (m == "optional")
        o.tls.client_certs = depot::TlsOptions::ClientCerts::Optional;
      else
        usage_error("--tls-client-certs takes require or optional");
    } else if (a == "--log-level") {
      depot::log::Level l;
      if (!depot::log::parse_level(value(), l))
        usage_error("--log-level takes error, warn, info or debug");
      depot::log::set_level(l);
    } else
      usage_error("unknown option '" + a + "'");
  }
  // A key given (flag, file) comes first; --generate-authkey makes one when none was given
  // on the command line, before the environment is consulted.
  try {
    if (generated && !keys.key && !keys.file)
      o.authkey = depot::auth::random_hex(32);
    else if (o.acl_file.empty()) {
      if (auto k = depot::auth::find_authkey(keys)) o.authkey = *k;
    }
  } catch (const std::exception& e) {
    usage_error(e.what());
  }
  if (!o.acl_file.empty() && (generated || keys.key || keys.file))
    usage_error(
        "--acl-file gives the users and their keys: leave out --authkey, --authkey-file "
        "and --generate-authkey (a user 'default' in the file serves old clients)");
  if (o.tls.enabled() && (o.tls.cert_file.empty() || o.tls.key_file.empty()))
    usage_error("TLS needs both --tls-cert FILE and --tls-key FILE");
  if (!o.tls.ca_file.empty() && !o.tls.enabled())
    usage_error("--tls-ca needs --tls-cert and --tls-key: mutual TLS runs over TLS");
  if (o.tls.client_certs != depot::TlsOptions::ClientCerts::None && o.tls.ca_file.empty())
    usage_error("--tls-client-certs needs --tls-ca FILE, the CA client certificates chain to");
  if (!o.tls.ca_file.empty() && o.tls.client_certs == depot::TlsOptions::ClientCerts::None)
    o.tls.client_certs = depot::TlsOptions::ClientCerts::Require;
  if (o.authkey.empty() && o.acl_file.empty())
    usage_error(
        "no authkey: pass --authkey KEY, --authkey-file FILE, set DEPOT_AUTHKEY, or use "
        "--generate-authkey");
  // A short key is fine for trying depot out on this machine, not on a network.
  if (o.acl_file.empty() && o.authkey.size() < kMinKeyBytes && !allow_weak_key &&
      (!is_loopback(o.address) || (!o.admin_address.empty() && !is_loopback(o.admin_address))))
    usage_error("the authkey is " + std::to_string(o.authkey.size()) + " bytes, shorter than the " +
                std::to_string(kMinKeyBytes) + " bytes required on a non-loopback address (" +
                o.address +
                "); use a longer key (--generate-authkey makes one) or pass --allow-weak-key");
  try {
    depot::Manager m(o);
    // Bind first so the printed address is the real one (port 0 picks a free port).
    m.run_with_ready([&](const std::string& addr) {
      std::printf("depot-manager listening on %s%s\n", o.tls.enabled() ? "tls://" : "",
                  addr.c_str());
      if (generated) std::printf("authkey: %s\n", o.authkey.c_str());
      std::printf("%s\n", m.storage().c_str());
      if (m.admin_port()) std::printf("admin endpoint: http://%s/\n", m.admin_address().c_str());
      std::printf("ready\n");
      std::fflush(stdout);
    });
  } catch (const std::exception& e) {
    std::cerr << "depot-manager: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
