// echo-floor: the kernel floor for bench/compare.sh. A minimal single-threaded epoll server
// that answers each depot frame it reads with a REPLY frame of the same id and an empty body,
// doing nothing else: sockets registered once (level-triggered), every ready connection read in
// one pass, the replies written at the end of the pass. Driven by the same depot-benchmark
// (--proto raw -t ping) as depot and Redis, it shows what this machine's TCP stack allows at
// all, so every server's figure can be read as a fraction of it.
//
//   echo-floor [--port N]     (prints "echo-floor listening on 127.0.0.1:PORT" then "ready")
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "depot/protocol/frame.h"

namespace {

struct Conn {
  int fd;
  std::string in, out;
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--port") port = std::atoi(argv[++i]);
  const int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1024) != 0) {
    std::perror("echo-floor: bind/listen");
    return 1;
  }
  socklen_t len = sizeof a;
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
  std::printf("echo-floor listening on 127.0.0.1:%d\nready\n", ntohs(a.sin_port));
  std::fflush(stdout);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = ls;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  std::unordered_map<int, Conn> conns;
  std::vector<int> dirty;
  epoll_event events[256];
  char buf[64 * 1024];
  for (;;) {
    const int n = ::epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == ls) {
        for (;;) {
          const int c = ::accept4(ls, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event ce{};
          ce.events = EPOLLIN;
          ce.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
          conns[c] = Conn{c, {}, {}};
        }
        continue;
      }
      Conn& c = conns[fd];
      const ssize_t k = ::recv(fd, buf, sizeof buf, 0);
      if (k <= 0) {
        if (k < 0 && errno == EAGAIN) continue;
        ::close(fd);
        conns.erase(fd);
        continue;
      }
      c.in.append(buf, static_cast<size_t>(k));
      size_t off = 0;
      while (c.in.size() - off >= depot::proto::kHeaderSize) {
        const uint32_t body = depot::proto::load_u32(c.in.data() + off);
        if (c.in.size() - off < depot::proto::kHeaderSize + body) break;
        depot::proto::append_header(c.out, depot::proto::FrameKind::REPLY, 0,
                                    depot::proto::load_u64(c.in.data() + off + 8), 0);
        off += depot::proto::kHeaderSize + body;
      }
      c.in.erase(0, off);
      if (!c.out.empty()) dirty.push_back(fd);
    }
    for (int fd : dirty) {  // the replies of the whole pass, one write each
      auto it = conns.find(fd);
      if (it == conns.end() || it->second.out.empty()) continue;
      const ssize_t w = ::send(fd, it->second.out.data(), it->second.out.size(), MSG_NOSIGNAL);
      if (w > 0) it->second.out.erase(0, static_cast<size_t>(w));
    }
    dirty.clear();
  }
}
