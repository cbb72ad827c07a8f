// The client's TLS: context from TlsClientOptions, one SSL object per connection, each call
// a non-blocking step (client/tls.h). Locking and waiting are client.cpp's.
#include "depot/client/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "depot/auth/socket_bio.h"
#include "depot/client/errors.h"

namespace depot::tls {

namespace {

std::string ssl_errors() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    char buf[256];
    if (!reason) {
      ERR_error_string_n(e, buf, sizeof buf);
      reason = buf;
    }
    if (!s.empty()) s += "; ";
    s += reason;
  }
  return s;
}

std::string from_env(const std::string& given, const char* var) {
  if (!given.empty()) return given;
  const char* v = std::getenv(var);
  return v ? std::string(v) : std::string();
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

ClientTlsContext::ClientTlsContext(const TlsClientOptions& options, const std::string& where)
    : opt_(options) {
  opt_.ca_file = from_env(opt_.ca_file, "DEPOT_TLS_CA");
  opt_.cert_file = from_env(opt_.cert_file, "DEPOT_TLS_CERT");
  opt_.key_file = from_env(opt_.key_file, "DEPOT_TLS_KEY");
  ERR_clear_error();
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) throw ConnectionError("cannot make a TLS context for " + where + ": " + ssl_errors());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  auto fail = [&](const std::string& what) {
    const std::string why = ssl_errors();
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
    throw ConnectionError("cannot connect to " + where + ": " + what + (why.empty() ? "" : ": ") +
                          why);
  };
  if (!opt_.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, opt_.ca_file.c_str(), nullptr) != 1)
      fail("cannot use the CA file " + opt_.ca_file +
           " (TlsClientOptions::ca_file, --tls-ca or DEPOT_TLS_CA: a PEM file of CA certificates)");
  } else if (SSL_CTX_set_default_verify_paths(ctx_) != 1) {
    fail(
        "no CA given (TlsClientOptions::ca_file, --tls-ca or DEPOT_TLS_CA) and the system's "
        "trust store cannot be loaded");
  }
  if (opt_.cert_file.empty() != opt_.key_file.empty())
    fail(
        "a client certificate needs both its file and its key (TlsClientOptions::cert_file and "
        "key_file, --tls-cert and --tls-key)");
  if (!opt_.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx_, opt_.cert_file.c_str()) != 1)
      fail("cannot use the client certificate " + opt_.cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx_, opt_.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      fail("cannot use the client key " + opt_.key_file + " (a PEM key without a passphrase)");
    if (SSL_CTX_check_private_key(ctx_) != 1)
      fail("the client key " + opt_.key_file + " does not match the certificate " + opt_.cert_file);
  }
}

ClientTlsContext::~ClientTlsContext() {
  SSL_CTX_free(ctx_);
}

ClientTlsStream::ClientTlsStream(const ClientTlsContext& ctx, int fd, const std::string& host)
    : host_(host) {
  ERR_clear_error();
  ssl_ = SSL_new(ctx.get());
  if (!ssl_) return;  // handshake() reports it
  BIO* bio = auth::new_socket_bio(fd);
  if (!bio) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  SSL_set_bio(ssl_, bio, bio);  // the SSL object owns it now
  SSL_set_connect_state(ssl_);
  const TlsClientOptions& o = ctx.options();
  const std::string name = o.server_name.empty() ? host : o.server_name;
  const bool ip = is_ip(name);
  if (!ip && !name.empty()) SSL_set_tlsext_host_name(ssl_, name.c_str());  // SNI: names only
  if (o.verify_server_name && !name.empty()) {
    if (ip)
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
    else
      SSL_set1_host(ssl_, name.c_str());
  }
  host_ = name;
}

ClientTlsStream::~ClientTlsStream() {
  SSL_free(ssl_);
}

Io ClientTlsStream::result(int ret, std::string& error) {
  const int e = SSL_get_error(ssl_, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      return Io::WANT_READ;
    case SSL_ERROR_WANT_WRITE:
      return Io::WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
      return Io::CLOSED;
    case SSL_ERROR_SYSCALL:
      if (errno == 0) {
        ERR_clear_error();
        return Io::CLOSED;
      }
      error = std::strerror(errno);
      ERR_clear_error();
      return Io::FAILED;
    default: {
      error = ssl_errors();
      if (error.empty()) error = "TLS error " + std::to_string(e);
      return Io::FAILED;
    }
  }
}

Io ClientTlsStream::handshake(std::string& error) {
  if (!ssl_) {
    error = "cannot start TLS: " + ssl_errors();
    return Io::FAILED;
  }
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) return Io::OK;
  const Io io = result(r, error);
  if (io == Io::FAILED || io == Io::CLOSED) {
    const long v = SSL_get_verify_result(ssl_);
    if (v != X509_V_OK) {
      error =
          "the manager's certificate was refused: " + std::string(X509_verify_cert_error_string(v));
      if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
        error += " (it is not for '" + host_ +
                 "'; connect by a name it carries, or set TlsClientOptions::server_name)";
      else if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
               v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
               v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
        error +=
            " (give the CA that signed it: TlsClientOptions::ca_file, --tls-ca or "
            "DEPOT_TLS_CA)";
    } else if (io == Io::CLOSED) {
      error = "the manager closed the connection during the TLS handshake";
    }
    return Io::FAILED;
  }
  return io;
}

Io ClientTlsStream::read(char* p, size_t n, size_t& got, std::string& error) {
  ERR_clear_error();
  got = 0;
  const int r = SSL_read_ex(ssl_, p, n, &got);
  if (r == 1) return Io::OK;
  return result(r, error);
}

Io ClientTlsStream::write(const char* p, size_t n, size_t& written, std::string& error) {
  ERR_clear_error();
  written = 0;
  const int r = SSL_write_ex(ssl_, p, n, &written);
  if (r == 1) return Io::OK;
  return result(r, error);
}

void ClientTlsStream::shutdown() {
  if (!ssl_ || !SSL_is_init_finished(ssl_)) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

TlsInfo ClientTlsStream::info() const {
  TlsInfo t;
  if (!ssl_) return t;
  t.enabled = true;
  t.version = SSL_get_version(ssl_);
  if (const char* c = SSL_get_cipher_name(ssl_)) t.cipher = c;
  if (X509* cert = SSL_get1_peer_certificate(ssl_)) {
    char name[512];
    X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
    t.peer_subject = name;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &len)) {
      static const char* digits = "0123456789abcdef";
      for (unsigned i = 0; i < len; ++i) {
        t.peer_sha256 += digits[md[i] >> 4];
        t.peer_sha256 += digits[md[i] & 15];
      }
    }
    X509_free(cert);
  }
  return t;
}

}  // namespace depot::tls
