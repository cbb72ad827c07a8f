// The handshake frames of docs/protocol.md section 3, both sides, with no I/O: the manager's
// session and every client (the C++ client, depot-benchmark, the tests' raw connections)
// feed frames in and send what comes out, so the layout lives here once.
//
//   manager -> HELLO    u32 magic, u16 version, u16 nonce_len, server_nonce[32]
//                       (header code bit 0: TLS follows; then AUTH and all after are in TLS)
//   client  -> AUTH     u16 version 4, str user (may be empty), str name, client_mac[32],
//                       client_nonce[32]
//              or       u16 version 3, str user, client_mac[32], client_nonce[32]
//              or       u16 version 2, client_mac[32], client_nonce[32] (the default user)
//   manager -> AUTH_OK  server_mac[32], u32 session_lease_ms
//           or REPLY with an error status, then it closes
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "depot/auth/auth.h"
#include "depot/protocol/frame.h"

namespace depot::auth {

// ---------------------------------------------------------------- manager side

// Appends the HELLO frame that opens every connection. With `tls_follows` its header's code
// byte has proto::kHelloTlsFollows set: the manager's next bytes are TLS.
void append_hello(std::string& out, const Nonce& server_nonce, bool tls_follows = false);

struct AuthFrame {
  uint16_t version = 0;
  std::string_view user;        // versions 3 and 4; empty for version 2 (and may be in 4)
  std::string_view name;        // version 4: the client's name; else empty
  std::string_view client_mac;  // 32 bytes
  Nonce client_nonce{};
};
// Parses an AUTH body: false when it is shorter than its version, or a version 2, 3 or 4 body
// does not have exactly its layout. Any other version parses as the version alone (the
// caller refuses it by number).
bool parse_auth(std::string_view body, AuthFrame& out);

// Empty when `name` is a valid client name (1 to proto::kMaxClientName bytes, each 0x21 to
// 0x7e: printable, no spaces, so that it fits a log line and LIST's state), else why not.
std::string check_client_name(std::string_view name);

// Appends AUTH_OK with the manager's proof over both nonces and the session lease.
void append_auth_ok(std::string& out, uint64_t id, std::string_view key, const Nonce& client_nonce,
                    const Nonce& server_nonce, std::chrono::milliseconds session_lease);

// ---------------------------------------------------------------- client side

struct HelloFrame {
  uint16_t version = 0;
  Nonce server_nonce{};
};
// Parses a HELLO body; false when it is not 40 bytes with the magic and a 32-byte nonce.
bool parse_hello(std::string_view body, HelloFrame& out);

enum class HandshakeError : uint8_t {
  NONE,
  REFUSED,      // the manager answered with a REPLY (LIMIT, ...): `status` and its message
  NOT_DEPOT,    // no valid HELLO: the peer does not speak depot
  VERSION,      // another protocol version
  AUTH_FAILED,  // the manager refused the key (AUTH_FAILED), or another handshake error
  BAD_PROOF,    // the manager could not prove it knows the key
};

struct HandshakeResult {
  HandshakeError error = HandshakeError::NONE;
  Status status = Status::OK;  // the manager's status for REFUSED and AUTH_FAILED
  std::string message;         // why, without naming the manager (the caller knows where)
  bool ok() const { return error == HandshakeError::NONE; }
};

// One client handshake: on_hello() with the manager's first frame gives the AUTH frame to
// send; on_auth_reply() with the next frame checks the manager's proof.
class ClientHandshake {
 public:
  // With a client name, the AUTH is version 4 and carries it with the user (empty: the
  // default user); without a name but with a user, version 3; with neither, version 2: the
  // manager's default user, and what a manager older than version 3 understands.
  explicit ClientHandshake(std::string key, std::string user = {}, std::string name = {})
      : key_(std::move(key)), user_(std::move(user)), name_(std::move(name)) {}
  // Fills `auth_frame` (throws std::runtime_error if no random nonce can be had).
  HandshakeResult on_hello(const proto::Header& h, std::string_view body, std::string& auth_frame);
  HandshakeResult on_auth_reply(const proto::Header& h, std::string_view body);
  // From AUTH_OK: how often the client must send something to keep its session.
  std::chrono::milliseconds session_lease() const { return lease_; }
  const Nonce& server_nonce() const { return server_nonce_; }
  const Nonce& client_nonce() const { return client_nonce_; }
  // From HELLO (its code byte's proto::kHelloTlsFollows): the manager runs TLS, so the AUTH
  // frame must go inside a TLS session on the same socket, never in clear.
  bool tls_follows() const { return tls_follows_; }

 private:
  std::string key_;
  std::string user_;
  std::string name_;
  Nonce server_nonce_{};
  Nonce client_nonce_{};
  std::chrono::milliseconds lease_{0};
  bool tls_follows_ = false;
};

}  // namespace depot::auth
