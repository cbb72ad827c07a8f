// Internal: the OpenSSL BIO both sides' TLS runs on (manager/tls.cpp, client/tls.cpp). It is
// OpenSSL's socket BIO but for writing with send(MSG_NOSIGNAL): OpenSSL's own writes with
// write(2), which raises SIGPIPE when the peer has gone and would kill a program that embeds
// a manager or a client (Asio and the plain paths use MSG_NOSIGNAL for the same reason).
// Includes no OpenSSL header.
#pragma once

struct bio_st;

namespace depot::auth {

// A new BIO on `fd` (not closed with the BIO), or nullptr when OpenSSL cannot make one.
bio_st* new_socket_bio(int fd);

}  // namespace depot::auth
