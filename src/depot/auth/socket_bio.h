// Internal: the OpenSSL BIO both sides' TLS runs on (manager/tls.cpp, client/tls.cpp). It is
// OpenSSL's socket BIO but for writing with send(MSG_NOSIGNAL): OpenSSL's own writes with
// write(2), which raises SIGPIPE when the peer has gone and would kill a program that embeds
// a manager or a client (Asio and the plain paths use MSG_NOSIGNAL for the same reason).
// Includes no OpenSSL header.
#pragma once

struct bio_st;

namespace depot::auth {

// What the BIO's reads saw, for a caller that wants to know when the socket is empty.
struct SocketReadState {
  // The last read(2) returned less than it asked for (or nothing: EAGAIN, end of stream, an
  // error): the kernel held no more bytes at that moment. With read-ahead OpenSSL asks for
  // all the room in its buffer, so a short read there means everything sent so far is in.
  bool drained = false;
};

// A new BIO on `fd` (not closed with the BIO), or nullptr when OpenSSL cannot make one.
// `reads`, when given, is updated by every read and must outlive the BIO.
bio_st* new_socket_bio(int fd, SocketReadState* reads = nullptr);

}  // namespace depot::auth
