// depot::Manager: the shared-object server, as a daemon (depot-manager) or embedded in a
// program on a background thread (like Python's BaseManager.start()).
//
//   depot::ManagerOptions opts;
//   opts.address = "127.0.0.1:5000";
//   opts.authkey = "abc";
//   depot::Manager m(opts);
//   m.start();            // serves on its own thread; m.port() is the bound port
//   ...
//   m.stop();             // graceful: parked waiters get SHUTTING_DOWN, replies are flushed
//
// With ManagerOptions::data_dir the constructor recovers the state from that directory and
// throws std::runtime_error (naming the file and offset) when it cannot.
// Asio stays out of this header: it is included by programs that embed a manager.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "depot/manager/log.h"

namespace depot {

// TLS for the listener (docs/security.md). Off unless cert_file and key_file are set.
struct TlsOptions {
  std::string cert_file;  // PEM: the manager's certificate, then its chain (--tls-cert)
  std::string key_file;   // PEM: its private key, without a passphrase (--tls-key)
  // Mutual TLS: clients must (Require) or may (Optional) show a certificate that chains to
  // the CA in ca_file (--tls-ca, --tls-client-certs). None with a ca_file given means Require.
  std::string ca_file;
  enum class ClientCerts { None, Optional, Require };
  ClientCerts client_certs = ClientCerts::None;
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

struct ManagerOptions {
  std::string address = "127.0.0.1:5000";  // host:port; port 0 picks a free one
  std::string authkey;                     // required unless acl_file is given; never logged
  // Users, their keys, permissions and limits (docs/security.md); empty: the authkey is the
  // one user `default`, with every permission. Read at construction (a bad file throws
  // std::runtime_error naming the line) and again by reload() or SIGHUP.
  std::string acl_file;
  uint32_t max_frame = 64u << 20;   // bytes per frame body (--max-frame)
  size_t max_connections = 10'000;  // accepted sessions at once (--max-connections)
  std::chrono::milliseconds handshake_timeout{10'000};
  size_t max_objects = 1'000'000;
  size_t max_waiters = 100'000;  // parked requests per object (barriers excepted)
  // After the loop goes idle it polls for this long (yielding the core to any other runnable
  // thread between polls) before sleeping in epoll_wait. Waking a sleeping core costs 30 us
  // or more on this class of VM, more than a loopback round trip; polling briefly keeps a
  // request-reply exchange from paying it every time (bench/RESULTS.md). 0 disables.
  std::chrono::microseconds busy_poll{50};
  std::chrono::milliseconds shutdown_grace{2'000};  // flush time for replies at stop()
  // A session from which nothing (no request, no heartbeat) arrives for this long is closed,
  // releasing its locks and leases (--session-lease). The C++ client heartbeats at a third.
  std::chrono::milliseconds session_lease{10'000};
  // Durability (docs/durability.md). Empty: everything lives in memory only, and a restart
  // loses it. Else the directory the log and snapshots live in, locked while the manager runs.
  std::string data_dir;
  // always (a reply leaves after its change is on disk), everysec or no.
  std::string fsync = "always";
  // The log is compacted into a snapshot once it has grown past both thresholds since the
  // last one: compact_min_bytes, and compact_percent % of the snapshot (0: never).
  uint64_t compact_min_bytes = 64ull << 20;
  uint32_t compact_percent = 100;
  // Hardening against hostile clients (docs/security.md, "Hardening / limits").
  // Connections that have not authenticated yet have a budget of their own, apart from
  // max_connections (which counts authenticated sessions): in total and per peer address.
  // When it is full the oldest pending handshake from the same address is dropped, else the
  // oldest of all, so a flood of silent connections never keeps a real client out.
  size_t max_unauthenticated = 1'000;           // --max-unauthenticated
  size_t max_unauthenticated_per_address = 64;  // --max-unauthenticated-per-address
  // Bytes held for incomplete frames beyond each session's 64 KiB input buffer, all sessions
  // together (--max-input-buffered). Past it, sessions whose frames need more memory stop
  // being read until others finish theirs (one at a time may exceed it, so one always can).
  uint64_t max_input_buffered = 256ull << 20;
  // Unwritten replies, all sessions together (--max-output-buffered). Past it, every session
  // with more than 1 MiB of unread replies stops being read until its client drains them; a
  // session whose output does not move for a session lease is closed.
  uint64_t max_output_buffered = 1ull << 30;
  // Bytes one subscription may buffer for its subscriber (--max-subscription-bytes), whatever
  // message count SUBSCRIBE asked for; past it the subscription's slow-subscriber policy acts.
  uint64_t max_subscription_bytes = 8ull << 20;
  // Failed authentications per peer address: a burst of this many (--auth-failure-burst),
  // then one more per auth_failure_refill (--auth-failure-refill-ms); an address past it has
  // its connections refused with LIMIT until it has one again. 0 disables the limit.
  uint32_t auth_failure_burst = 10;
  std::chrono::milliseconds auth_failure_refill{6'000};
  // TLS (docs/security.md): the authkey handshake then runs inside TLS. Certificates and
  // keys are read again by reload() (SIGHUP for the daemon), for rotation.
  TlsOptions tls;
  // The HTTP admin endpoint (docs/operations.md): /metrics, /healthz and what else is
  // routed there. Empty: off. host:port, port 0 picks a free one. On an address other than
  // loopback every request needs a credential (the authkey, or an ACL user with admin).
  std::string admin_address;
};

class Manager {
 public:
  explicit Manager(ManagerOptions options);
  ~Manager();  // stops if running
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Binds the listening socket (throws std::runtime_error with the address and the reason),
  // then serves on a background thread.
  void start();
  // Binds and serves on the calling thread until stop() or, when handle_signals is true,
  // SIGINT/SIGTERM.
  void run(bool handle_signals = false);
  // Like run(true), calling ready(address) once the socket listens (to print it).
  void run_with_ready(const std::function<void(const std::string&)>& ready);
  // Graceful stop from any thread; returns when the loop has ended.
  void stop();
  // Reads again what can change without a restart, from any thread: the TLS certificate, key
  // and CA, and the ACL file. Everything is read and checked before anything is replaced:
  // when a file is bad, throws std::runtime_error naming it and keeps serving with all it
  // had. New connections get a new certificate (existing sessions keep theirs); ACL changes
  // apply to every session's next request, and the sessions of removed users are closed.
  // The daemon does it on SIGHUP. Returns a line on what it loaded.
  std::string reload();

  // One line on where the state lives: the data directory, its fsync policy and what was
  // recovered from it at start-up, or that everything is in memory only.
  std::string storage() const;

  uint16_t port() const;        // the bound port (after start/run bound it)
  std::string address() const;  // host:port as bound
  // The admin endpoint's bound port and host:port (after start/run), 0 and "" when it is off.
  uint16_t admin_port() const;
  std::string admin_address() const;

 private:
  void run_with_ready(const std::function<void(const std::string&)>& ready, bool handle_signals);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot
