// tcp-pingpong: the floor under every depot latency figure. Two threads exchange fixed-size
// messages over loopback TCP, one round trip at a time, with plain blocking sockets and
// TCP_NODELAY: no framing, no parsing, no event loop. depot-benchmark -c 1 -P 1 is compared
// against this mean (bench/compare.sh).
//
//   tcp-pingpong [-n ROUNDS] [-s BYTES] [--busy-server] [-q]
//
// --busy-server makes the echo side spin on a non-blocking recv instead of sleeping in it,
// which is what depot-manager --busy-poll-us does: the baseline for a busy-polling manager.
// -q prints only the mean round trip in microseconds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "tcp-pingpong: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// Reads exactly n bytes; spins on MSG_DONTWAIT when `busy`. False on EOF.
bool read_full(int fd, char* p, size_t n, bool busy) {
  while (n > 0) {
    ssize_t k = ::recv(fd, p, n, busy ? MSG_DONTWAIT : 0);
    if (k == 0) return false;
    if (k < 0) {
      if (errno == EINTR || (busy && (errno == EAGAIN || errno == EWOULDBLOCK))) continue;
      die("recv");
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

void write_full(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      die("send");
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

int main(int argc, char** argv) {
  long rounds = 20000;
  size_t size = 16;
  bool busy = false;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-n" && i + 1 < argc) {
      rounds = std::max(1L, std::atol(argv[++i]));
    } else if (a == "-s" && i + 1 < argc) {
      size = static_cast<size_t>(std::max(1L, std::atol(argv[++i])));
    } else if (a == "--busy-server") {
      busy = true;
    } else if (a == "-q") {
      quiet = true;
    } else {
      std::fprintf(stderr, "usage: tcp-pingpong [-n ROUNDS] [-s BYTES] [--busy-server] [-q]\n");
      return 2;
    }
  }

  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // any free port
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
  if (::listen(lfd, 1) < 0) die("listen");
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);

  std::thread server([&] {
    int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) die("accept");
    set_nodelay(fd);
    std::vector<char> buf(size);
    while (read_full(fd, buf.data(), size, busy)) write_full(fd, buf.data(), size);
    ::close(fd);
  });

  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("connect");
  set_nodelay(fd);
  std::vector<char> msg(size, 'x');
  const long warmup = std::min(1000L, rounds);
  std::vector<double> rtt_us;
  rtt_us.reserve(static_cast<size_t>(rounds));
  for (long i = 0; i < warmup + rounds; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    write_full(fd, msg.data(), size);
    if (!read_full(fd, msg.data(), size, false)) {
      std::fprintf(stderr, "tcp-pingpong: the echo side closed early\n");
      return 1;
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= warmup) rtt_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  ::shutdown(fd, SHUT_WR);
  server.join();
  ::close(fd);
  ::close(lfd);

  double sum = 0;
  for (double v : rtt_us) sum += v;
  const double mean = sum / static_cast<double>(rtt_us.size());
  std::sort(rtt_us.begin(), rtt_us.end());
  auto pct = [&](double p) {
    size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(rtt_us.size() - 1));
    return rtt_us[i];
  };
  if (quiet) {
    std::printf("%.2f\n", mean);
  } else {
    std::printf(
        "tcp-pingpong: %zu-byte messages, %ld round trips, %s echo side: mean %.2f us, "
        "min %.2f, p50 %.2f, p99 %.2f, max %.2f\n",
        size, rounds, busy ? "busy-polling" : "blocking", mean, rtt_us.front(), pct(50), pct(99),
        rtt_us.back());
  }
  return 0;
}
