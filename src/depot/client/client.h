// depot::Client: one authenticated connection to a manager, shared by any number of threads.
//
//   depot::Client c("127.0.0.1:5000", "abc");   // connects and authenticates, or throws
//   auto tasks = c.queue<int>("tasks");          // see client/remote_queue.h
//
// Thread safety: every method may be called from several threads at once. Requests are
// pipelined on the one connection and matched to replies by id; while a thread waits, it
// reads replies for everyone (no extra I/O thread, so a lone caller's round trip costs one
// wake-up, not two).
//
// Connection loss: the client notices a closed connection at once, even while idle (its
// background thread watches the socket for the manager hanging up), reports it in one line
// (ClientOptions::on_connection), and ends every Lock and Semaphore hold of that session
// (Lock::lost(), Lock::on_lost). The next call reconnects with capped exponential backoff and
// authenticates again: one thread tries while the others wait, each no longer than its own
// time (the call's timeout or CallOptions::deadline, else reconnect_give_up), and a reconnect
// that succeeds releases them all. A request in flight when the connection dropped fails
// with ConnectionError, except a parked wait (a get that had not delivered) which is sent
// again with its remaining timeout, so a worker blocked in get() survives a manager restart.
//
// Throws: ConnectionError (cannot connect, or lost and not recovered within the call's own
// time), AuthError (wrong authkey), and per-call errors (client/errors.h).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "depot/client/coord.h"
#include "depot/client/coord_typed.h"
#include "depot/client/errors.h"
#include "depot/client/monitor.h"
#include "depot/client/remote_queue.h"
#include "depot/client/subscription.h"
#include "depot/client/types.h"

namespace depot {

namespace detail {
struct SessionWatch;
}  // namespace detail

// What ClientOptions::on_connection is told.
enum class ConnectionChange { Lost, Restored };

// TLS to the manager (docs/security.md). On when `enabled` or the address is tls://host:port;
// the client never falls back to plain TCP. An empty file is taken from the environment
// (DEPOT_TLS_CA, DEPOT_TLS_CERT, DEPOT_TLS_KEY); without any CA the system's trust store
// verifies the manager.
struct TlsClientOptions {
  bool enabled = false;
  std::string ca_file;    // PEM: the CA(s) the manager's certificate must chain to
  std::string cert_file;  // PEM: this client's certificate, for a manager asking for one
  std::string key_file;   // PEM: its private key
  // The name the manager's certificate must carry (and the SNI sent); empty: the address's
  // host. An IP address is checked against the certificate's IP addresses.
  std::string server_name;
  bool verify_server_name = true;  // false: any certificate of the CA will do (tests, labs)
};

// What a TLS connection negotiated (Client::tls_info); `enabled` false over plain TCP.
struct TlsInfo {
  bool enabled = false;
  std::string version;       // "TLSv1.3"
  std::string cipher;        // "TLS_AES_256_GCM_SHA384"
  std::string peer_subject;  // the manager certificate's subject, "/CN=localhost"
  std::string peer_sha256;   // its SHA-256 fingerprint: 64 lowercase hex digits
};

struct ClientOptions {
  // The user to authenticate as, when the manager has an ACL file (docs/security.md); its key
  // is the Client's authkey. Empty: the default user (a version-2 AUTH, which any manager
  // accepts; with an ACL file, the user named `default`). Programs take it from --user or
  // DEPOT_USER (auth::find_user).
  std::string user;
  // The client's name, sent at the handshake and shown in LIST (a lock's holder), the admin
  // API, the dashboard and the manager's log lines: 1 to 64 printable ASCII bytes without
  // spaces. Empty: $DEPOT_CLIENT_NAME, else the program's name and pid ("task_worker-4242").
  // Programs take it from --name.
  std::string name;
  std::chrono::milliseconds connect_timeout{5'000};  // per connection attempt
  bool reconnect = true;
  std::chrono::milliseconds reconnect_initial_backoff{50};
  std::chrono::milliseconds reconnect_max_backoff{2'000};
  // How long one call keeps trying to reconnect before it throws ConnectionError; a call
  // with a timeout (or CallOptions::deadline) gives up at that time if it comes first. Each
  // call waits for its own time only, however many other threads wait to reconnect.
  std::chrono::milliseconds reconnect_give_up{60'000};
  // A reply not seen this long after a request's own timeout means the connection is dead.
  std::chrono::milliseconds reply_grace{10'000};
  // A waiting caller polls the socket this long (yielding between polls) before sleeping in
  // poll(2): a reply that comes back within it costs no wake-up, which on this class of VM
  // is worth more than the round trip itself. 0 sleeps at once.
  std::chrono::microseconds spin{50};
  // A lost connection and its recovery are reported once each, not once per attempt:
  //   Lost:     "lost the connection to the manager at H:P (why); the next call reconnects"
  //   Restored: "reconnected to the manager at H:P after 2.1 s"
  // on_connection, when set, gets them; it runs on the client's background thread (the one
  // that heartbeats), so keep it short and do not call the client from it. Without it the
  // line goes to stderr as "depot: <line>", unless quiet.
  std::function<void(ConnectionChange change, const std::string& line)> on_connection;
  bool quiet = false;
  TlsClientOptions tls;
};

class Client {
 public:
  Client(std::string address, std::string authkey, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A handle on a queue; no round trip (the manager creates queues on first use).
  template <class T>
  RemoteQueue<T> queue(std::string name);
  // Declares the queue with options (one round trip); throws ProtocolError if it exists
  // with a different maxsize.
  template <class T>
  RemoteQueue<T> queue(std::string name, const QueueOptions& options);

  // Coordination objects (client/coord.h): no round trip until used.
  Lock lock(std::string name);
  Lock rlock(std::string name);  // reentrant
  Semaphore semaphore(std::string name, uint32_t max_leases);
  Event event(std::string name);
  Barrier barrier(std::string name, uint32_t parties);
  Counter counter(std::string name);
  template <class T>
  Variable<T> variable(std::string name);
  template <class T>
  Topic<T> topic(std::string name);
  // Deletes any object by name (its parked requests get NotFoundError); returns its type.
  std::string remove(std::string_view name);
  // Holds lease `name` for this connection's session (docs/protocol.md, "LEASE_HOLD"): when
  // the session ends and terms.grace passes without another hold, the manager deletes every
  // object terms.patterns match. Hold it again after a reconnect (connections() changed),
  // within the grace, to keep them. NotOwnerError while another session holds it.
  LeaseFound hold_lease(std::string_view name, const LeaseTerms& terms);

  // Round trip to the manager; returns the time it took.
  std::chrono::nanoseconds ping();
  // The manager's counters as a JSON object.
  std::string stats();
  // Every object with its type, size and state.
  std::vector<ObjectInfo> list();
  // Who holds what, as a JSON object: one section of "objects", "sessions", "locks",
  // "queues", "pools" (docs/operations.md, "Dashboard and admin API"). Needs admin on "*".
  std::string inspect(std::string_view section);

  // Sends one request (client/*_requests.h encode them) and waits for its reply; returns it
  // whatever its status. Throws ConnectionError only.
  Reply call(const Request& request, const CallOptions& options = {});
  Reply call(proto::Op op, std::string_view body, const CallOptions& options = {});
  // Sends several requests in one write and waits for all their replies, in order: one round
  // trip for the lot. Not re-sent after a reconnect (throws ConnectionError, and some may
  // have taken effect).
  // options.deadline bounds the reconnect attempts, as for a call's own timeout.
  std::vector<Reply> call_many(const std::vector<Request>& requests,
                               const CallOptions& options = {});
  // As call(), but throws the status' exception (client/errors.h) unless OK; returns the body.
  std::string request(const Request& request, const CallOptions& options = {});

  const std::string& address() const;
  // The name this client gives the manager (ClientOptions::name or the default).
  const std::string& name() const;
  // Connections made so far (1 + reconnects).
  uint64_t connections() const;
  // Whether a connection is up now (false after a loss, until a call reconnects).
  bool connected() const;
  // The current connection's TLS parameters and the manager's certificate (enabled false
  // over plain TCP or while not connected).
  TlsInfo tls_info() const;

 private:
  friend class RawSubscription;
  friend struct detail::SessionWatch;  // Lock, Semaphore (client/coord.cpp)
  // Calls fn(why) once, on the client's background thread, when connection number
  // `connection` (Reply::connection) ends: at once if it already has. For the holds that
  // belong to a session (Lock, Semaphore). Returns an id for unwatch_session.
  uint64_t watch_session(uint64_t connection, std::function<void(const std::string& why)> fn);
  void unwatch_session(uint64_t id);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

template <class T>
RemoteQueue<T> Client::queue(std::string name) {
  return RemoteQueue<T>(*this, std::move(name));
}

template <class T>
RemoteQueue<T> Client::queue(std::string name, const QueueOptions& options) {
  RemoteQueue<T> q(*this, std::move(name));
  q.raw().declare(options);
  return q;
}

template <class T>
Variable<T> Client::variable(std::string name) {
  return Variable<T>(*this, std::move(name));
}

template <class T>
Topic<T> Client::topic(std::string name) {
  return Topic<T>(*this, std::move(name));
}

}  // namespace depot
