// Helpers shared by the tests: an embedded manager on a free port, subprocesses with their
// output captured, bounded polling, and a raw protocol connection for frame-level tests.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "depot/auth/handshake.h"
#include "depot/client/types.h"
#include "depot/manager/manager.h"
#include "depot/protocol/frame.h"

extern char** environ;

namespace test {

inline std::string bin(const std::string& rel) {
  return std::string(DEPOT_BIN_DIR) + "/" + rel;
}

// Runs `cmd` with /bin/sh; its exit code.
inline int shell(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// A directory of throwaway certificates made by scripts/dev-certs.sh (ca.crt, server.crt,
// client.crt, expired-client.crt, other-client.crt, wrong-host.crt, server2.crt and their
// keys), made once per test process and removed at its exit.
inline const std::string& cert_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/depot-certs-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    const std::string d = tmpl;
    if (shell(std::string(DEPOT_SOURCE_DIR) + "/scripts/dev-certs.sh " + d + " >/dev/null 2>&1") !=
        0)
      throw std::runtime_error("scripts/dev-certs.sh " + d + " failed");
    static std::string to_remove = d;
    std::atexit([] { shell("rm -rf '" + to_remove + "'"); });
    return d;
  }();
  return dir;
}
inline std::string cert(const std::string& name) {
  return cert_dir() + "/" + name;
}

// DEPOT_TEST_TLS=1 (a second ctest registration of the client suites): every TestManager
// serves TLS with the test CA's server.crt, its address is tls://127.0.0.1:PORT, and
// DEPOT_TLS_CA points every client (and child process) at the CA.
inline bool tls_mode() {
  static const bool on = [] {
    const char* v = std::getenv("DEPOT_TEST_TLS");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

// The address a client uses for a manager on 127.0.0.1:port, TLS in tls_mode().
inline std::string client_address(uint16_t port) {
  return (tls_mode() ? "tls://127.0.0.1:" : "127.0.0.1:") + std::to_string(port);
}

// An embedded manager on 127.0.0.1:<free port>, stopped when the object goes away.
struct TestManager {
  explicit TestManager(std::string key = "test-key",
                       std::function<void(depot::ManagerOptions&)> tweak = nullptr)
      : authkey(std::move(key)) {
    depot::log::set_level(depot::log::Level::ERROR);
    depot::ManagerOptions o;
    o.address = "127.0.0.1:0";
    o.authkey = authkey;
    if (tls_mode()) {
      o.tls.cert_file = cert("server.crt");
      o.tls.key_file = cert("server.key");
      ::setenv("DEPOT_TLS_CA", cert("ca.crt").c_str(), 1);
    }
    if (tweak) tweak(o);
    manager = std::make_unique<depot::Manager>(o);
    manager->start();
    address =
        (o.tls.enabled() ? "tls://127.0.0.1:" : "127.0.0.1:") + std::to_string(manager->port());
  }
  ~TestManager() { manager->stop(); }
  std::string authkey;
  std::string address;
  std::unique_ptr<depot::Manager> manager;
};

// Polls `cond` every 5 ms until it holds or `limit` passes; returns whether it held.
inline bool eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

// A child process with stdout and stderr captured to temporary files.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::vector<std::string>& env_extra = {}) {
    static int counter = 0;
    const std::string base =
        "/tmp/depot-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
    for (auto& e : env_extra) env_store.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), envp.data()) != 0)
      throw std::runtime_error("cannot start " + argv[0]);
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
    ::unlink(out_path_.c_str());
    ::unlink(err_path_.c_str());
  }
  // Waits up to `limit` for the exit; returns the exit code, or -1 (killed) on timeout.
  int wait(std::chrono::milliseconds limit = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!exited_) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (std::chrono::steady_clock::now() > end) {
        ::kill(pid_, SIGKILL);
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return code_;
  }
  void kill(int sig) { ::kill(pid_, sig); }
  bool running() {
    if (exited_) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      exited_ = true;
      code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return !exited_;
  }
  std::string out() const { return slurp(out_path_); }
  std::string err() const { return slurp(err_path_); }
  pid_t pid() const { return pid_; }

 private:
  static std::string slurp(const std::string& path) {
    std::string s;
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return s;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return s;
  }
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::string out_path_, err_path_;
};

// The value of `key` in an object's state as LIST shows it ("maxsize=0 bytes=3 getters=1"):
// the words are split on spaces and "key=" must start one, so getters=1 is never read from
// getters=10 or from another key ending in "getters". nullopt when no word has the key.
inline std::optional<std::string> state_field(const std::string& state, const std::string& key) {
  const std::string prefix = key + "=";
  size_t at = 0;
  while (at <= state.size()) {
    size_t end = state.find(' ', at);
    if (end == std::string::npos) end = state.size();
    if (state.compare(at, prefix.size(), prefix) == 0 && end - at >= prefix.size())
      return state.substr(at + prefix.size(), end - at - prefix.size());
    at = end + 1;
  }
  return std::nullopt;
}

// Whether the state shows `key` with exactly `value` (state_has(s, "getters", 1)).
inline bool state_has(const std::string& state, const std::string& key, uint64_t value) {
  auto v = state_field(state, key);
  return v && *v == std::to_string(value);
}

// The number `"key":N` in the manager's STATS JSON, read whole (so "requests":12 is 12, not
// a match for 1). Throws when the key is missing or holds no number.
inline long long json_number(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = json.find(needle);
  if (at == std::string::npos) throw std::runtime_error("no \"" + key + "\" in " + json);
  size_t end = at + needle.size();
  if (end < json.size() && json[end] == '-') ++end;
  while (end < json.size() && json[end] >= '0' && json[end] <= '9') ++end;
  const std::string digits = json.substr(at + needle.size(), end - at - needle.size());
  if (digits.empty() || digits == "-")
    throw std::runtime_error("\"" + key + "\" is not a number in " + json);
  return std::stoll(digits);
}

inline size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// Appends a REQUEST frame with `id` carrying `r`, a request of the client's codec
// (client/*_requests.h: depot::req::queue_put(...) and the like), as the client sends it.
inline void append_request(std::string& out, uint64_t id, const depot::Request& r) {
  depot::proto::append_frame(out, depot::proto::FrameKind::REQUEST, static_cast<uint8_t>(r.op), id,
                             r.body);
}

// A raw TCP connection speaking frames, for tests below the client library. Requests are
// the client codec's (call(req::queue_get(...))); call(op, body) is for the bytes no encoder
// makes: unknown opcodes, truncated or padded bodies.
class RawConn {
 public:
  // `source`: the local address to connect from, e.g. "127.0.0.2" (any 127.x works on
  // loopback), for tests of per-address limits.
  explicit RawConn(uint16_t port, const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (source) {
      sockaddr_in l{};
      l.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &l.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&l), sizeof l) != 0)
        throw std::runtime_error(std::string("cannot bind to ") + source);
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect failed");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  void send(std::string_view bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Reads one frame (up to `limit`). Returns false on EOF, timeout or a bad frame.
  bool read(depot::proto::Header& h, std::string& body,
            std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto d = depot::proto::decode(buf_.data(), buf_.size(), UINT32_MAX);
      if (d.status == depot::proto::DecodeStatus::OK) {
        h = d.header;
        body.assign(d.body);
        buf_.erase(0, depot::proto::kHeaderSize + d.header.body_len);
        return true;
      }
      if (d.status != depot::proto::DecodeStatus::NEED_MORE) return false;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char tmp[65536];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }
  // True when the peer closed the connection within `limit` (EOF or reset).
  bool closed_by_peer(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    depot::proto::Header h;
    std::string b;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return true;
      buf_.append(tmp, static_cast<size_t>(n));
    }
    return false;
  }
  // Runs the handshake; returns the AUTH reply header (AUTH_OK or REPLY with an error). With a
  // client name, the AUTH is version 4 and carries it (as the Client's is).
  depot::proto::Header handshake(const std::string& key, std::string* hello_nonce = nullptr,
                                 std::string* auth_frame = nullptr, const std::string& name = {},
                                 std::string* reply_body = nullptr) {
    using namespace depot;
    proto::Header h;
    std::string body;
    if (!read(h, body) || h.kind != proto::FrameKind::HELLO) throw std::runtime_error("no HELLO");
    auth::ClientHandshake hs(key, {}, name);
    std::string out;
    if (auto r = hs.on_hello(h, body, out); !r.ok()) throw std::runtime_error(r.message);
    if (hello_nonce) *hello_nonce = std::string(auth::as_view(hs.server_nonce()));
    if (auth_frame) *auth_frame = out;
    send(out);
    if (!read(h, body)) throw std::runtime_error("no handshake reply");
    if (reply_body) *reply_body = body;
    // An error REPLY is the caller's to check; an AUTH_OK must carry the manager's proof.
    if (h.kind == proto::FrameKind::AUTH_OK && !hs.on_auth_reply(h, body).ok())
      throw std::runtime_error("bad server proof");
    return h;
  }
  // Reads the HELLO frame only, returning its nonce.
  std::string read_hello() {
    depot::proto::Header h;
    std::string body;
    depot::auth::HelloFrame hello;
    if (!read(h, body) || h.kind != depot::proto::FrameKind::HELLO ||
        !depot::auth::parse_hello(body, hello))
      throw std::runtime_error("no HELLO");
    return std::string(depot::auth::as_view(hello.server_nonce));
  }
  // Sends one request and reads the next frame.
  std::pair<depot::Status, std::string> call(const depot::Request& r, uint64_t id = 7) {
    return call(r.op, r.body, id);
  }
  // Sends a request of opcode `op` with `body` as it is, and reads the next frame.
  std::pair<depot::Status, std::string> call(depot::proto::Op op, const std::string& body,
                                             uint64_t id = 7) {
    std::string f;
    depot::proto::append_frame(f, depot::proto::FrameKind::REQUEST, static_cast<uint8_t>(op), id,
                               body);
    send(f);
    depot::proto::Header h;
    std::string rb;
    if (!read(h, rb)) throw std::runtime_error("no reply");
    return {static_cast<depot::Status>(h.code), rb};
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buf_;
};

}  // namespace test
