#include "depot/auth/socket_bio.h"

#include <openssl/bio.h>
#include <sys/socket.h>

#include <cerrno>

namespace depot::auth {

namespace {

int write_nosignal(BIO* b, const char* data, int len) {
  int fd = -1;
  BIO_get_fd(b, &fd);
  errno = 0;
  const ssize_t r = ::send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(b);
  if (r <= 0 && BIO_sock_should_retry(static_cast<int>(r))) BIO_set_retry_write(b);
  return static_cast<int>(r);
}

int puts_nosignal(BIO* b, const char* s) {
  int n = 0;
  while (s[n]) ++n;
  return write_nosignal(b, s, n);
}

int (*base_read)(BIO*, char*, int) = nullptr;

// OpenSSL's socket read (which also marks the end of stream for BIO_eof), noting whether
// the kernel gave less than was asked for.
int read_noting_drained(BIO* b, char* out, int len) {
  const int r = base_read(b, out, len);
  if (auto* st = static_cast<SocketReadState*>(BIO_get_data(b))) st->drained = r < len;
  return r;
}

const BIO_METHOD* method() {
  static BIO_METHOD* m = [] {
    const BIO_METHOD* base = BIO_s_socket();
    BIO_METHOD* mm = BIO_meth_new(BIO_TYPE_SOCKET, "depot socket (MSG_NOSIGNAL)");
    if (!mm) return mm;
    BIO_meth_set_write(mm, write_nosignal);
    BIO_meth_set_puts(mm, puts_nosignal);
    base_read = BIO_meth_get_read(base);
    BIO_meth_set_read(mm, read_noting_drained);
    BIO_meth_set_ctrl(mm, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(mm, BIO_meth_get_create(base));
    BIO_meth_set_destroy(mm, BIO_meth_get_destroy(base));
    return mm;
  }();
  return m;
}

}  // namespace

bio_st* new_socket_bio(int fd, SocketReadState* reads) {
  const BIO_METHOD* m = method();
  if (!m) return nullptr;
  BIO* b = BIO_new(m);
  if (!b) return nullptr;
  BIO_set_fd(b, fd, BIO_NOCLOSE);
  BIO_set_data(b, reads);  // OpenSSL's socket BIO keeps the fd in num and leaves ptr unused
  return b;
}

}  // namespace depot::auth
