// depot-manager: the standalone daemon.
//
// Every option is one row of the table in options(): its name, what it takes (a number
// within a range, a text, one of some choices, or nothing), and where it goes. The command
// line (--name VALUE, --name=VALUE) and the configuration file (--config FILE, `name = value`,
// read with POCO's PropertyFileConfiguration) go through the same rows, so a range is checked
// in one place and named in one message.
#ifdef DEPOT_WITH_POCO
#include <Poco/Exception.h>
#include <Poco/Util/PropertyFileConfiguration.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "depot/admin/admin_server.h"
#include "depot/auth/acl.h"
#include "depot/auth/auth.h"
#include "depot/manager/manager.h"
#include "depot/protocol/address.h"
#include "depot/protocol/version.h"

namespace {

const char* kUsage = R"(usage: depot-manager [options]

Serves depot's named queues to authenticated clients. Every option may be written
--name VALUE or --name=VALUE, and (but for --config and --check-config) set in a
configuration file as `name = value` (docs/configuration.md); flags override the file.

  --config FILE             read options from FILE (a property file: `max-connections = 100`)
  --check-config            check the options, the configuration file and the files they
                            name, print a summary and exit (0 when all is well, 2 if not)
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
  --version                 print the version and exit
  --help                    this text
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "depot-manager: " << msg << "\n(depot-manager --help lists the options)\n";
  std::exit(2);
}

// One option. `where` in messages is "--name" on the command line, "FILE:LINE: name" in a
// configuration file.
struct Flag {
  enum Kind { Number, Text, Switch };
  std::string name;  // without the leading "--"
  Kind kind = Text;
  uint64_t min = 0, max = 0;         // Number: the valid range, inclusive
  std::string unit;                  // Number: "bytes", "ms", ... (messages and --help)
  std::vector<std::string> choices;  // Text: the values accepted (empty: any but "")
  std::function<void(uint64_t)> number;
  std::function<void(const std::string&)> text;
  std::function<void()> on;        // Switch
  bool command_line_only = false;  // --config, --check-config: not a configuration key
};

std::string join_choices(const std::vector<std::string>& c) {
  std::string s;
  for (size_t i = 0; i < c.size(); ++i)
    s += (i == 0 ? "" : i + 1 == c.size() ? " or " : ", ") + c[i];
  return s;
}

std::string range_text(const Flag& f) {
  return std::to_string(f.min) + " to " + std::to_string(f.max) + " " + f.unit;
}

// Applies `value` (nullopt: the option was given without one) to `f`, or exits with a
// message naming `where` and what the option takes.
void apply(const Flag& f, const std::string& where, const std::optional<std::string>& value,
           bool from_file) {
  if (f.kind == Flag::Switch) {
    bool v = true;
    if (from_file) {
      const std::string& t = *value;
      if (t == "true" || t == "yes" || t == "on" || t == "1")
        v = true;
      else if (t == "false" || t == "no" || t == "off" || t == "0")
        v = false;
      else
        usage_error(where + " takes true or false, got '" + t + "'");
    } else if (value)
      usage_error(where + " takes no value (leave out '=" + *value + "')");
    if (v) f.on();
    return;
  }
  if (!value) usage_error(where + " needs a value");
  const std::string& v = *value;
  if (f.kind == Flag::Text) {
    if (!f.choices.empty()) {
      bool ok = false;
      for (const auto& c : f.choices) ok = ok || c == v;
      if (!ok) usage_error(where + " takes " + join_choices(f.choices) + ", got '" + v + "'");
    } else if (v.empty())
      usage_error(where + " needs a value, got an empty one");
    f.text(v);
    return;
  }
  // A whole number: digits only (std::stoull would take "-1" as 2^64-1).
  uint64_t n = 0;
  bool ok = !v.empty() && v.size() <= 20;
  for (char c : v) ok = ok && c >= '0' && c <= '9';
  if (ok) {
    try {
      n = std::stoull(v);
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok || n < f.min || n > f.max)
    usage_error(where + " takes a whole number from " + range_text(f) + ", got '" + v + "'");
  f.number(n);
}

#ifdef DEPOT_WITH_POCO
// The line of `file` that sets `key` (for messages: POCO's configuration classes keep none).
int line_of(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line.compare(b, key.size(), key) != 0) continue;
    const size_t e = b + key.size();
    if (e == line.size() || line[e] == ' ' || line[e] == '\t' || line[e] == '=' || line[e] == ':')
      return n;
  }
  return 0;
}

// Every key the file sets, dotted ones included (none is valid, but each is reported).
void collect_keys(const Poco::Util::AbstractConfiguration& c, const std::string& prefix,
                  std::vector<std::string>& out) {
  Poco::Util::AbstractConfiguration::Keys keys;
  c.keys(prefix, keys);
  for (const auto& k : keys) {
    const std::string full = prefix.empty() ? k : prefix + "." + k;
    if (c.hasProperty(full)) out.push_back(full);
    collect_keys(c, full, out);
  }
}
#endif

constexpr size_t kMinKeyBytes = 16;

// Whether the manager listens on loopback only: 127.0.0.0/8, ::1 or localhost.
bool is_loopback(const std::string& address) {
  depot::proto::Address a;
  if (!depot::proto::parse_address(address, a).empty()) return true;  // bind() reports it
  return depot::admin::is_loopback_host(a.host);
}

}  // namespace

int main(int argc, char** argv) {
  depot::ManagerOptions o;
  bool generated = false;
  depot::auth::KeySources keys;
  bool allow_weak_key = false;
  std::string config_file;
  bool check_config = false;
  using ms = std::chrono::milliseconds;
  constexpr uint64_t kDay = 86'400'000, kTiB = 1ull << 40;
  // name, kind, range or choices, setter. Ranges: what the manager can serve with (a
  // --max-frame below 1 KiB leaves no room for a request; 0 connections serve nobody).
  auto num = [](std::string name, uint64_t min, uint64_t max, std::string unit,
                std::function<void(uint64_t)> set) {
    Flag f;
    f.name = std::move(name);
    f.kind = Flag::Number;
    f.min = min;
    f.max = max;
    f.unit = std::move(unit);
    f.number = std::move(set);
    return f;
  };
  auto text = [](std::string name, std::vector<std::string> choices,
                 std::function<void(const std::string&)> set) {
    Flag f;
    f.name = std::move(name);
    f.kind = Flag::Text;
    f.choices = std::move(choices);
    f.text = std::move(set);
    return f;
  };
  auto on = [](std::string name, std::function<void()> set) {
    Flag f;
    f.name = std::move(name);
    f.kind = Flag::Switch;
    f.on = std::move(set);
    return f;
  };
  std::vector<Flag> flags = {
      text("config", {}, [&](const std::string& v) { config_file = v; }),
      on("check-config", [&] { check_config = true; }),
      text("address", {}, [&](const std::string& v) { o.address = v; }),
      text("authkey", {}, [&](const std::string& v) { keys.key = v; }),
      text("authkey-file", {}, [&](const std::string& v) { keys.file = v; }),
      on("generate-authkey", [&] { generated = true; }),
      text("acl-file", {}, [&](const std::string& v) { o.acl_file = v; }),
      num("max-frame", 1024, UINT32_MAX, "bytes",
          [&](uint64_t n) { o.max_frame = static_cast<uint32_t>(n); }),
      num("max-connections", 1, 10'000'000, "sessions", [&](uint64_t n) { o.max_connections = n; }),
      num("max-objects", 1, 1'000'000'000'000, "objects", [&](uint64_t n) { o.max_objects = n; }),
      num("max-waiters", 1, 1'000'000'000, "requests", [&](uint64_t n) { o.max_waiters = n; }),
      num("handshake-timeout", 100, kDay, "ms", [&](uint64_t n) { o.handshake_timeout = ms(n); }),
      num("session-lease", 100, kDay, "ms", [&](uint64_t n) { o.session_lease = ms(n); }),
      num("busy-poll-us", 0, 1'000'000, "us",
          [&](uint64_t n) { o.busy_poll = std::chrono::microseconds(n); }),
      text("data-dir", {}, [&](const std::string& v) { o.data_dir = v; }),
      text("fsync", {"always", "everysec", "no"}, [&](const std::string& v) { o.fsync = v; }),
      num("compact-min-bytes", 0, kTiB, "bytes", [&](uint64_t n) { o.compact_min_bytes = n; }),
      num("compact-percent", 0, 100'000, "%",
          [&](uint64_t n) { o.compact_percent = static_cast<uint32_t>(n); }),
      text("tls-cert", {}, [&](const std::string& v) { o.tls.cert_file = v; }),
      text("tls-key", {}, [&](const std::string& v) { o.tls.key_file = v; }),
      text("tls-ca", {}, [&](const std::string& v) { o.tls.ca_file = v; }),
      text("tls-client-certs", {"require", "optional"},
           [&](const std::string& v) {
             o.tls.client_certs = v == "require" ? depot::TlsOptions::ClientCerts::Require
                                                 : depot::TlsOptions::ClientCerts::Optional;
           }),
      num("max-unauthenticated", 1, 10'000'000, "connections",
          [&](uint64_t n) { o.max_unauthenticated = n; }),
      num("max-unauthenticated-per-address", 1, 10'000'000, "connections",
          [&](uint64_t n) { o.max_unauthenticated_per_address = n; }),
      num("max-input-buffered", 65'536, kTiB, "bytes",
          [&](uint64_t n) { o.max_input_buffered = n; }),
      num("max-output-buffered", 1 << 20, kTiB, "bytes",
          [&](uint64_t n) { o.max_output_buffered = n; }),
      num("max-subscription-bytes", 1, kTiB, "bytes",
          [&](uint64_t n) { o.max_subscription_bytes = n; }),
      num("auth-failure-burst", 0, 1'000'000, "failures",
          [&](uint64_t n) { o.auth_failure_burst = static_cast<uint32_t>(n); }),
      num("auth-failure-refill-ms", 1, kDay, "ms",
          [&](uint64_t n) { o.auth_failure_refill = ms(n); }),
      text("admin-address", {}, [&](const std::string& v) { o.admin_address = v; }),
      on("allow-weak-key", [&] { allow_weak_key = true; }),
      text("log-level", {"error", "warn", "info", "debug"},
           [&](const std::string& v) {
             depot::log::Level l;
             depot::log::parse_level(v, l);
             depot::log::set_level(l);
           }),
  };
  flags[0].command_line_only = flags[1].command_line_only = true;
  auto find = [&](const std::string& name) -> const Flag* {
    for (const auto& f : flags)
      if (f.name == name) return &f;
    return nullptr;
  };

  // The command line: --name VALUE or --name=VALUE. Applied after the file, so it wins.
  struct Given {
    const Flag* flag;
    std::optional<std::string> value;
  };
  std::vector<Given> given;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage << "\nValid ranges:\n";
      for (const auto& f : flags)
        if (f.kind == Flag::Number)
          std::printf("  --%-33s %s\n", f.name.c_str(), range_text(f).c_str());
      return 0;
    }
    if (a == "--version") {
      std::cout << "depot-manager " << depot::version() << "\n";
      return 0;
    }
    std::optional<std::string> value;
    if (const size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a.resize(eq);
    }
    const Flag* f = a.rfind("--", 0) == 0 ? find(a.substr(2)) : nullptr;
    if (!f) usage_error("unknown option '" + a + "'");
    if (f->kind != Flag::Switch && !value) {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      value = argv[++i];
    }
    if (f->name == "config") apply(*f, a, value, false);  // read before the rest
    given.push_back({f, value});
  }
  auto is_key_source = [](const Flag* f) {
    return f->name == "authkey" || f->name == "authkey-file" || f->name == "generate-authkey";
  };
  bool key_on_command_line = false;
  for (const auto& g : given) key_on_command_line = key_on_command_line || is_key_source(g.flag);

#ifndef DEPOT_WITH_POCO
  if (!config_file.empty())
    usage_error(
        "--config: this depot-manager was built without POCO (DEPOT_WITH_POCO=OFF); "
        "pass the options as flags");
#else
  if (!config_file.empty()) {
    Poco::AutoPtr<Poco::Util::PropertyFileConfiguration> cfg;
    try {
      if (!std::filesystem::is_regular_file(config_file) || !std::ifstream(config_file))
        throw std::runtime_error("cannot open it as a file (check the path and its permissions)");
      cfg = new Poco::Util::PropertyFileConfiguration(config_file);
    } catch (const Poco::Exception& e) {
      usage_error("cannot read the configuration file " + config_file + ": " + e.displayText());
    } catch (const std::exception& e) {
      usage_error("cannot read the configuration file " + config_file + ": " + e.what());
    }
    std::vector<std::string> keys_set;
    collect_keys(*cfg, "", keys_set);
    for (const auto& k : keys_set) {
      const int line = line_of(config_file, k);
      const std::string where =
          config_file + (line ? ":" + std::to_string(line) : std::string()) + ": " + k;
      const Flag* f = find(k);
      if (!f)
        usage_error(where +
                    ": unknown key (the keys are depot-manager's long options without "
                    "'--': depot-manager --help lists them)");
      if (f->command_line_only) usage_error(where + ": give --" + k + " on the command line");
      // A key source on the command line replaces the file's (they would conflict).
      if (key_on_command_line && is_key_source(f)) continue;
      apply(*f, where, cfg->getRawString(k), true);
    }
    // One key source in the file: checked here so that the message names the file.
    if (!key_on_command_line && (generated ? 1 : 0) + (keys.key ? 1 : 0) + (keys.file ? 1 : 0) > 1)
      usage_error(config_file +
                  ": authkey, authkey-file and generate-authkey each give the key: set one");
  }
#endif
  for (const auto& g : given)
    if (g.flag->name != "config") apply(*g.flag, "--" + g.flag->name, g.value, false);

  if (keys.key && keys.file)
    usage_error("--authkey and --authkey-file both give the key: pass one of them");
  if (generated && (keys.key || keys.file))
    usage_error("--generate-authkey makes a key: leave out --authkey and --authkey-file");
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
  if (check_config) {
    // What the manager would read at start: the ACL file, TLS files, the data directory.
    try {
      if (!o.acl_file.empty()) depot::auth::Acl::load(o.acl_file);
      for (const auto* f : {&o.tls.cert_file, &o.tls.key_file, &o.tls.ca_file})
        if (!f->empty() && !std::ifstream(*f))
          throw std::runtime_error("cannot read " + *f + ": check the path and its permissions");
      namespace fs = std::filesystem;
      if (!o.data_dir.empty() && fs::exists(o.data_dir) && !fs::is_directory(o.data_dir))
        throw std::runtime_error("--data-dir " + o.data_dir + " is not a directory");
    } catch (const std::exception& e) {
      usage_error(e.what());
    }
    std::printf("depot-manager: configuration OK: %s%s, %s, %s\n", o.tls.enabled() ? "tls://" : "",
                o.address.c_str(),
                o.acl_file.empty() ? "one authkey" : ("users from " + o.acl_file).c_str(),
                o.data_dir.empty() ? "in memory" : ("data in " + o.data_dir).c_str());
    return 0;
  }
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
