// Internal to manager/: TLS for the listener (docs/security.md). TlsContext is one SSL_CTX
// built from ManagerOptions::tls (a reload builds a new one; sessions keep the one they were
// accepted with); SessionTransport is how one session's bytes travel: straight through the
// socket, or through OpenSSL on the session's non-blocking fd. Includes Asio, not OpenSSL.
//
// With TLS the manager still writes its HELLO in clear, with proto::kHelloTlsFollows set in
// its code byte; the peer's first byte after it must open a TLS ClientHello (0x16). A peer
// that sends anything else (a client that does not speak TLS sends its AUTH in clear) gets a
// clear-text BAD_REQUEST reply saying TLS is required, and is closed.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "depot/auth/socket_bio.h"
#include "depot/manager/asio.h"
#include "depot/manager/manager.h"

struct ssl_ctx_st;
struct ssl_st;

namespace depot {

class TlsContext {
 public:
  // Reads the certificate chain, the key and the CA of `o`. Throws std::runtime_error naming
  // the file and OpenSSL's reason (a missing file, a key that does not match, ...).
  static std::shared_ptr<TlsContext> load(const TlsOptions& o);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ssl_ctx_st* get() const { return ctx_; }
  // "certificate server.crt: subject CN=localhost, serial 0x1a2b, SHA-256 ab12..., valid
  // until Dec  2 02:00:00 2027 GMT; client certificates: required (CA ca.crt)"
  const std::string& description() const { return description_; }

 private:
  TlsContext() = default;
  ssl_ctx_st* ctx_ = nullptr;
  std::string description_;
};

class SessionTransport {
 public:
  using WriteHandler = std::function<void(const boost::system::error_code&, size_t)>;

  explicit SessionTransport(asio::ip::tcp::socket& socket) : socket_(socket) {}
  ~SessionTransport();
  SessionTransport(const SessionTransport&) = delete;
  SessionTransport& operator=(const SessionTransport&) = delete;

  // Turns TLS on for this session (before anything is read); `peer` names it in log lines.
  // Without a call the transport is plain.
  void use_tls(std::shared_ptr<TlsContext> ctx, const std::string& peer);
  bool tls() const { return ctx_ != nullptr; }
  // `fn` is called (through the loop, while `owner` lives) when the session must read again
  // without epoll telling it: bytes wait inside OpenSSL, or OpenSSL had to write first.
  void on_reread(std::weak_ptr<void> owner, std::function<void()> fn) {
    owner_ = std::move(owner);
    reread_ = std::move(fn);
  }

  // Non-blocking, as the socket's read_some/write_some: would_block when nothing can move
  // now, eof at the end; any other error has been logged with the peer's name.
  size_t read_some(char* p, size_t n, boost::system::error_code& ec);
  size_t write_some(const char* p, size_t n, boost::system::error_code& ec);
  // Writes all of `data` (which stays untouched until `done` runs), then calls `done`;
  // `progress(bytes written so far)` is called whenever some of it has gone out (the session
  // lease sweep counts that as the client reading).
  using ProgressHandler = std::function<void(size_t)>;
  void async_write(const std::string& data, ProgressHandler progress, WriteHandler done);
  // After a read that returned `got` of the `asked` bytes (no error): true when the socket
  // is known to be empty, so that the read that would only say EAGAIN (WANT_READ) can be
  // skipped; level-triggered epoll reports what arrives later. Plain TCP: a short read.
  // TLS: OpenSSL reads ahead (as much as its buffer takes), so its last read(2) being short
  // with nothing left inside OpenSSL, whole or partial record, is the same proof.
  bool drained(size_t got, size_t asked) const { return tls() ? tls_drained_ : got < asked; }
  // Posts a re-read when the last read stopped with bytes still inside OpenSSL (the read
  // budget ran out, or reading was paused): level-triggered epoll does not see those.
  void reread_if_pending();
  // Sends close_notify if the TLS session is up (best effort, never blocks).
  void shutdown();

 private:
  enum class Phase { CLEAR_HELLO, HANDSHAKE, OPEN, FAILED };
  size_t read_tls(char* p, size_t n, boost::system::error_code& ec);
  bool check_first_byte(boost::system::error_code& ec);
  void refuse_clear_text();
  void fail(const std::string& what, boost::system::error_code& ec);
  void wait_then_reread(bool for_write);
  void continue_write(const std::string& data, size_t done_bytes, ProgressHandler progress,
                      WriteHandler done);

  asio::ip::tcp::socket& socket_;
  std::shared_ptr<TlsContext> ctx_;
  ssl_st* ssl_ = nullptr;
  std::string peer_;
  Phase phase_ = Phase::CLEAR_HELLO;
  bool last_read_blocked_ = true;
  bool tls_drained_ = false;         // see drained()
  auth::SocketReadState bio_reads_;  // what the BIO's last read(2) saw
  bool reread_posted_ = false;
  bool waiting_ = false;  // an async_wait for a re-read is armed
  std::weak_ptr<void> owner_;
  std::function<void()> reread_;
};

}  // namespace depot
