// Internal to client/: the client's TLS, OpenSSL on a non-blocking socket (docs/security.md).
// ClientTlsContext is loaded once per Client from TlsClientOptions (and the DEPOT_TLS_*
// environment variables); ClientTlsStream is one connection's SSL object. Neither locks: the
// caller (client.cpp's Conn) guards every call with its mutex and never holds it in poll(2).
// Includes no OpenSSL header.
#pragma once
#include <memory>
#include <string>

#include "depot/client/client.h"

struct ssl_ctx_st;
struct ssl_st;

namespace depot::tls {

class ClientTlsContext {
 public:
  // Throws ConnectionError naming the file when a CA, certificate or key cannot be used.
  // `where` names the manager in those messages ("the manager at tls://h:p").
  ClientTlsContext(const TlsClientOptions& options, const std::string& where);
  ~ClientTlsContext();
  ClientTlsContext(const ClientTlsContext&) = delete;
  ClientTlsContext& operator=(const ClientTlsContext&) = delete;
  ssl_ctx_st* get() const { return ctx_; }
  const TlsClientOptions& options() const { return opt_; }

 private:
  ssl_ctx_st* ctx_ = nullptr;
  TlsClientOptions opt_;  // with the environment's files filled in
};

// What a non-blocking step did.
enum class Io { OK, WANT_READ, WANT_WRITE, CLOSED, FAILED };

class ClientTlsStream {
 public:
  // `host` is the name (or IP address) the manager's certificate must carry, unless
  // verification of the name is off.
  ClientTlsStream(const ClientTlsContext& ctx, int fd, const std::string& host);
  ~ClientTlsStream();
  ClientTlsStream(const ClientTlsStream&) = delete;
  ClientTlsStream& operator=(const ClientTlsStream&) = delete;

  // One step of the handshake; FAILED with `error` saying why (the verification result for
  // a refused certificate: "certificate has expired", "Hostname mismatch", ...).
  Io handshake(std::string& error);
  Io read(char* p, size_t n, size_t& got, std::string& error);
  // After WANT_WRITE the next call must pass the same bytes (they may have moved).
  Io write(const char* p, size_t n, size_t& written, std::string& error);
  // One non-blocking try at close_notify.
  void shutdown();
  TlsInfo info() const;

 private:
  Io result(int ret, std::string& error);
  ssl_st* ssl_ = nullptr;
  std::string host_;
};

}  // namespace depot::tls
