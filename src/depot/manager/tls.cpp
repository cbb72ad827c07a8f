// TLS for the manager's listener: building the SSL_CTX (and rebuilding it on reload), and
// one session's transport through OpenSSL on its non-blocking fd (manager/tls.h).
#include "depot/manager/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "depot/auth/socket_bio.h"
#include "depot/manager/log.h"
#include "depot/protocol/frame.h"
#include "depot/protocol/messages.h"
#include "depot/protocol/status.h"

namespace depot {

namespace {

// Every error OpenSSL queued on this thread, oldest first, joined by "; " (and the queue
// emptied, so the next call starts clean).
std::string ssl_errors() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(e);
    if (!s.empty()) s += "; ";
    s += reason ? reason : buf;
  }
  return s.empty() ? std::string("no reason given by OpenSSL") : s;
}

std::string x509_line(X509* cert) {
  std::string s;
  char name[512];
  X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
  s += "subject ";
  s += name;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      s += ", serial 0x";
      s += hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len)) {
    static const char* digits = "0123456789abcdef";
    s += ", SHA-256 ";
    for (unsigned i = 0; i < len; ++i) {
      s += digits[md[i] >> 4];
      s += digits[md[i] & 15];
    }
  }
  if (BIO* b = BIO_new(BIO_s_mem())) {
    if (ASN1_TIME_print(b, X509_get0_notAfter(cert))) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(b, &data);
      s += ", valid until " + std::string(data, static_cast<size_t>(n));
    }
    BIO_free(b);
  }
  return s;
}

// Before an I/O call the thread's error queue must be empty, or SSL_get_error misreads the
// outcome. It nearly always is: looking (what SSL_get_error does) costs about a third of
// emptying it, which walks every slot (~400 instructions, twice per request).
void clear_stale_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

boost::system::error_code protocol_error() {
  return boost::system::errc::make_error_code(boost::system::errc::protocol_error);
}

}  // namespace

// ------------------------------------------------------------ the context

std::shared_ptr<TlsContext> TlsContext::load(const TlsOptions& o) {
  if (o.cert_file.empty() || o.key_file.empty())
    throw std::runtime_error(
        "TLS needs both a certificate and its key: pass --tls-cert FILE and --tls-key FILE");
  if (o.client_certs != TlsOptions::ClientCerts::None && o.ca_file.empty())
    throw std::runtime_error(
        "--tls-client-certs needs --tls-ca FILE: the CA that client certificates must chain to");
  ERR_clear_error();
  std::shared_ptr<TlsContext> c(new TlsContext);
  c->ctx_ = SSL_CTX_new(TLS_server_method());
  if (!c->ctx_) throw std::runtime_error("cannot make a TLS context: " + ssl_errors());
  SSL_CTX* ctx = c->ctx_;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);  // TLS 1.3 is preferred by OpenSSL
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // TLS 1.2: forward-secret AEAD suites only (TLS 1.3's are OpenSSL's defaults, all fine).
  SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!RC4:!3DES");
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read-ahead: one read(2) fills OpenSSL's buffer (~17 KiB, what it holds anyway) with as
  // many records as have arrived, instead of one read for each record's 5-byte header and
  // one for its body; and a short read then proves the socket empty (SessionTransport::
  // drained), so a session does not read again only to hear EAGAIN.
  SSL_CTX_set_read_ahead(ctx, 1);
  // No resumption: sessions are long-lived, and tickets would be writes after the handshake.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  if (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1)
    throw std::runtime_error("cannot use the TLS certificate " + o.cert_file + ": " + ssl_errors() +
                             " (a PEM file with the certificate, then its chain)");
  if (SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string why = ssl_errors();
    if (why.find("mismatch") != std::string::npos)
      throw std::runtime_error("the TLS key " + o.key_file + " does not match the certificate " +
                               o.cert_file + " (" + why + "): give the key made with it");
    throw std::runtime_error("cannot use the TLS key " + o.key_file + ": " + why +
                             " (a PEM private key without a passphrase)");
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    throw std::runtime_error("the TLS key " + o.key_file + " does not match the certificate " +
                             o.cert_file + ": " + ssl_errors());
  c->description_ = "certificate " + o.cert_file + ": " + x509_line(SSL_CTX_get0_certificate(ctx));
  if (o.client_certs != TlsOptions::ClientCerts::None) {
    if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr) != 1)
      throw std::runtime_error("cannot use the CA file " + o.ca_file + ": " + ssl_errors());
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.ca_file.c_str());
    if (!names)
      throw std::runtime_error("the CA file " + o.ca_file +
                               " holds no certificate: " + ssl_errors());
    SSL_CTX_set_client_CA_list(ctx, names);
    const bool require = o.client_certs == TlsOptions::ClientCerts::Require;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (require ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       nullptr);
    c->description_ += std::string("; client certificates: ") +
                       (require ? "required" : "optional") + " (CA " + o.ca_file + ")";
  }
  return c;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

// ------------------------------------------------------------ one session

SessionTransport::~SessionTransport() {
  SSL_free(ssl_);
}

void SessionTransport::use_tls(std::shared_ptr<TlsContext> ctx, const std::string& peer) {
  ctx_ = std::move(ctx);
  peer_ = peer;
  phase_ = Phase::CLEAR_HELLO;
}

size_t SessionTransport::read_some(char* p, size_t n, boost::system::error_code& ec) {
  if (!tls()) return socket_.read_some(asio::buffer(p, n), ec);
  return read_tls(p, n, ec);
}

bool SessionTransport::check_first_byte(boost::system::error_code& ec) {
  unsigned char first = 0;
  const ssize_t r = ::recv(socket_.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r == 0) {
    ec = asio::error::eof;
    return false;
  }
  if (r < 0) {
    ec = (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
             ? asio::error::would_block
             : boost::system::error_code(errno, boost::system::system_category());
    return false;
  }
  if (first != 0x16) {  // not a TLS handshake record: a client speaking depot in clear
    refuse_clear_text();
    phase_ = Phase::FAILED;
    ec = protocol_error();
    return false;
  }
  ssl_ = SSL_new(ctx_->get());
  BIO* bio = ssl_ ? auth::new_socket_bio(socket_.native_handle(), &bio_reads_) : nullptr;
  if (!bio) {
    fail("cannot start TLS: " + ssl_errors(), ec);
    return false;
  }
  SSL_set_bio(ssl_, bio, bio);  // the SSL object owns it now
  SSL_set_accept_state(ssl_);
  phase_ = Phase::HANDSHAKE;
  return true;
}

void SessionTransport::refuse_clear_text() {
  // Read what it sent first: closing a socket with unread input resets the connection, and
  // the reset could overtake the reply.
  char sink[4096];
  for (int i = 0; i < 64; ++i)
    if (::recv(socket_.native_handle(), sink, sizeof sink, MSG_DONTWAIT) <= 0) break;
  std::string out;
  proto::FrameBuilder b(out, proto::FrameKind::REPLY, static_cast<uint8_t>(Status::BAD_REQUEST), 0);
  b.str(msg::tls_required_reply());
  b.finish();
  [[maybe_unused]] ssize_t w =
      ::send(socket_.native_handle(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(socket_.native_handle(), SHUT_WR);
  log::warn("closing " + peer_ +
            ": it sent clear text where the TLS handshake belongs (a client without TLS?); "
            "told it this manager requires TLS");
}

void SessionTransport::fail(const std::string& what, boost::system::error_code& ec) {
  // The peer's alert went out; read what it sent meanwhile (its AUTH, typically) so the
  // close is a FIN, not a reset that could destroy the alert before the peer reads it.
  char sink[4096];
  for (int i = 0; i < 64; ++i)
    if (::recv(socket_.native_handle(), sink, sizeof sink, MSG_DONTWAIT) <= 0) break;
  ::shutdown(socket_.native_handle(), SHUT_WR);
  phase_ = Phase::FAILED;
  log::warn("closing " + peer_ + ": " + what);
  ec = protocol_error();
}

size_t SessionTransport::read_tls(char* p, size_t n, boost::system::error_code& ec) {
  ec = {};
  if (phase_ == Phase::FAILED) {
    ec = protocol_error();
    return 0;
  }
  if (phase_ == Phase::CLEAR_HELLO && !check_first_byte(ec)) return 0;
  clear_stale_errors();
  if (phase_ == Phase::HANDSHAKE) {
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ) {
        ec = asio::error::would_block;
        return 0;
      }
      if (e == SSL_ERROR_WANT_WRITE) {
        wait_then_reread(true);
        ec = asio::error::would_block;
        return 0;
      }
      std::string why = ssl_errors();
      const long v = SSL_get_verify_result(ssl_);
      if (v != X509_V_OK)
        why += " (its certificate: " + std::string(X509_verify_cert_error_string(v)) + ")";
      if (e == SSL_ERROR_SYSCALL && errno == 0) why = "it closed the connection";
      fail("TLS handshake failed: " + why, ec);
      return 0;
    }
    phase_ = Phase::OPEN;
    std::string who;
    if (X509* cert = SSL_get1_peer_certificate(ssl_)) {
      char name[512];
      X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
      who = std::string(", client certificate ") + name;
      X509_free(cert);
    }
    log::debug("TLS with " + peer_ + ": " + SSL_get_version(ssl_) + " " +
               SSL_get_cipher_name(ssl_) + who);
  }
  size_t got = 0;
  tls_drained_ = false;
  const int r = SSL_read_ex(ssl_, p, n, &got);
  if (r == 1) {
    last_read_blocked_ = false;
    // Empty when the last read(2) was short and OpenSSL holds no byte more (a partial record
    // left inside it needs one more read, which then says EAGAIN if the rest is not in).
    tls_drained_ = bio_reads_.drained && SSL_has_pending(ssl_) != 1;
    return got;
  }
  last_read_blocked_ = true;
  const int e = SSL_get_error(ssl_, r);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      ec = asio::error::would_block;
      return 0;
    case SSL_ERROR_WANT_WRITE:  // a key update to answer: read on once the socket takes it
      wait_then_reread(true);
      ec = asio::error::would_block;
      return 0;
    case SSL_ERROR_ZERO_RETURN:
      ec = asio::error::eof;
      return 0;
    case SSL_ERROR_SYSCALL:
      if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
        ec = errno == 0 ? boost::system::error_code(asio::error::eof)
                        : boost::system::error_code(errno, boost::system::system_category());
        ERR_clear_error();
        return 0;
      }
      [[fallthrough]];
    default:
      fail("TLS error: " + ssl_errors(), ec);
      return 0;
  }
}

size_t SessionTransport::write_some(const char* p, size_t n, boost::system::error_code& ec) {
  if (!tls() || phase_ == Phase::CLEAR_HELLO) return socket_.write_some(asio::buffer(p, n), ec);
  ec = {};
  if (phase_ == Phase::FAILED || !ssl_) {
    ec = protocol_error();
    return 0;
  }
  clear_stale_errors();
  // As a socket's write_some, as much as the kernel takes: with SSL_MODE_ENABLE_PARTIAL_WRITE
  // each SSL_write_ex returns after one record (16 KiB at most), so go on to the next.
  size_t total = 0;
  while (total < n) {
    size_t written = 0;
    const int r = SSL_write_ex(ssl_, p + total, n - total, &written);
    if (r == 1) {
      total += written;
      continue;
    }
    const int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
      // The rest (from p + total) must be passed again: OpenSSL may hold part of its record.
      if (total == 0) ec = asio::error::would_block;
      return total;
    }
    if (e == SSL_ERROR_SYSCALL && errno != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
      ERR_clear_error();
      return total;
    }
    fail("TLS write failed: " + ssl_errors(), ec);
    return total;
  }
  return total;
}

void SessionTransport::async_write(const std::string& data, ProgressHandler progress,
                                   WriteHandler done) {
  if (!tls() || phase_ == Phase::CLEAR_HELLO) {
    asio::async_write(
        socket_, asio::buffer(data),
        [progress](const boost::system::error_code& e, size_t n) -> size_t {
          if (n > 0) progress(n);
          return asio::transfer_all()(e, n);
        },
        std::move(done));
    return;
  }
  continue_write(data, 0, std::move(progress), std::move(done));
}

void SessionTransport::continue_write(const std::string& data, size_t done_bytes,
                                      ProgressHandler progress, WriteHandler done) {
  // After WANT_WRITE OpenSSL must be called again with the same bytes (they may move:
  // SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), so the retry starts where the last success ended.
  while (done_bytes < data.size()) {
    boost::system::error_code ec;
    const size_t n = write_some(data.data() + done_bytes, data.size() - done_bytes, ec);
    if (ec == asio::error::would_block) {
      socket_.async_wait(asio::socket_base::wait_write,
                         [this, &data, done_bytes, progress = std::move(progress),
                          done = std::move(done)](const boost::system::error_code& e) mutable {
                           if (e) {
                             done(e, done_bytes);
                             return;
                           }
                           continue_write(data, done_bytes, std::move(progress), std::move(done));
                         });
      return;
    }
    if (ec) {
      done(ec, done_bytes);
      return;
    }
    done_bytes += n;
    if (n > 0) progress(done_bytes);
  }
  done({}, done_bytes);
}

void SessionTransport::wait_then_reread(bool for_write) {
  if (waiting_ || !reread_) return;
  waiting_ = true;
  socket_.async_wait(for_write ? asio::socket_base::wait_write : asio::socket_base::wait_read,
                     [this, owner = owner_](const boost::system::error_code& e) {
                       auto alive = owner.lock();
                       if (e || !alive)
                         return;  // closed: the session (and this transport) may be gone
                       waiting_ = false;
                       reread_();
                     });
}

void SessionTransport::reread_if_pending() {
  if (!ssl_ || phase_ != Phase::OPEN || last_read_blocked_ || reread_posted_ || !reread_) return;
  if (SSL_has_pending(ssl_) != 1) return;
  reread_posted_ = true;
  asio::post(socket_.get_executor(), [this, owner = owner_] {
    auto alive = owner.lock();
    if (!alive) return;
    reread_posted_ = false;
    reread_();
  });
}

void SessionTransport::shutdown() {
  if (!ssl_ || phase_ != Phase::OPEN) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // one non-blocking try: close_notify goes out if the socket takes it
  ERR_clear_error();
  phase_ = Phase::FAILED;
}

}  // namespace depot
