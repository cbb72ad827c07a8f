// depot-cli run as a program against a manager embedded in the test: what a shell script
// sees (stdout, stderr, exit code) is the CLI's interface, so that is what these assert.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "depot/client/client.h"
#include "depot/manager/manager.h"

extern char** environ;

namespace {

const std::string kCli = DEPOT_BIN_DIR "/depot-cli";
const std::string kKey = "cli-test-key";

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// One depot-cli process with its stdout and stderr on pipes and stdin on /dev/null (or, with
// `stdin_pipe`, on a pipe the test writes lines into: the interactive mode). The environment
// is the test's own without DEPOT_AUTHKEY, plus `env` ("NAME=value" entries).
class CliProcess {
 public:
  explicit CliProcess(const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {}, bool stdin_pipe = false) {
    int out[2], err[2], in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
        (stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0))
      throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (stdin_pipe)
      posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    else
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);  // dup2 clears O_CLOEXEC on the copy
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);

    std::vector<std::string> argv_s{kCli};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv_p;
    for (auto& a : argv_s) argv_p.push_back(a.data());
    argv_p.push_back(nullptr);

    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "DEPOT_AUTHKEY=", 14) != 0) env_s.emplace_back(*e);
    env_s.insert(env_s.end(), env.begin(), env.end());
    std::vector<char*> env_p;
    for (auto& e : env_s) env_p.push_back(e.data());
    env_p.push_back(nullptr);

    // Whatever the test runner inherited, the CLI starts with no signal blocked or ignored.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    for (int sig : {SIGINT, SIGTERM, SIGPIPE}) sigaddset(&dfl, sig);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    const int rc = ::posix_spawn(&pid_, kCli.c_str(), &fa, &attr, argv_p.data(), env_p.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(out[1]);
    ::close(err[1]);
    if (stdin_pipe) {
      ::close(in[0]);
      in_ = in[1];
    }
    fd_[0] = out[0];
    fd_[1] = err[0];
    if (rc != 0) {
      ::close(fd_[0]);
      ::close(fd_[1]);
      fd_[0] = fd_[1] = -1;
      throw std::runtime_error("cannot start " + kCli + ": " + std::strerror(rc));
    }
  }
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;
  ~CliProcess() {
    close_stdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : fd_)
      if (fd >= 0) ::close(fd);
  }

  // The next line the CLI writes on stdout (or stderr), without its newline: waits for it.
  // nullopt when the stream ends first, or after the hang guard.
  std::optional<std::string> read_line() { return read_line_of(0); }
  std::optional<std::string> read_err_line() { return read_line_of(1); }

  void signal(int sig) { ::kill(pid_, sig); }

  // Interactive mode: one line of input (the newline is added), and the end of the input.
  void write_line(const std::string& line) {
    const std::string l = line + "\n";
    if (in_ < 0 || ::write(in_, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
      throw std::runtime_error("cannot write to depot-cli's stdin");
  }
  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

  // Reads both pipes to their end, then reaps the process. A CLI still running after the
  // hang guard is killed (exit code 128 + SIGKILL), so a bug fails the test instead of
  // stalling it; the guard is far above anything these tests wait for. out and err hold
  // everything the CLI wrote, including lines already taken by read_line().
  CliResult wait() {
    close_stdin();
    const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (fd_[0] >= 0 || fd_[1] >= 0) {
      if (!pump(100) && std::chrono::steady_clock::now() > guard) {
        ::kill(pid_, SIGKILL);
        guard_fired_ = true;
      }
    }
    CliResult r;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = text_[0];
    r.err = text_[1];
    if (guard_fired_) r.err += "\n[test: depot-cli did not finish and was killed]";
    return r;
  }

 private:
  // Reads what is there on either pipe, waiting up to `ms`; false when nothing came.
  bool pump(int ms) {
    pollfd p[2] = {{fd_[0], POLLIN, 0}, {fd_[1], POLLIN, 0}};
    if (::poll(p, 2, ms) <= 0) return false;
    for (int k = 0; k < 2; ++k) {
      if (p[k].fd < 0 || !(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t got = ::read(p[k].fd, buf, sizeof buf);
      if (got > 0) {
        text_[k].append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(p[k].fd);
        fd_[k] = -1;
      }
    }
    return true;
  }

  std::optional<std::string> read_line_of(int k) {
    const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      if (auto nl = text_[k].find('\n', pos_[k]); nl != std::string::npos) {
        std::string line = text_[k].substr(pos_[k], nl - pos_[k]);
        pos_[k] = nl + 1;
        return line;
      }
      if (fd_[k] < 0 || std::chrono::steady_clock::now() > guard) return std::nullopt;
      pump(100);
    }
  }

  pid_t pid_ = -1;
  int in_ = -1;           // stdin, when it is a pipe
  int fd_[2] = {-1, -1};  // stdout, stderr
  std::string text_[2];
  size_t pos_[2] = {0, 0};
  bool guard_fired_ = false;
};

CliResult run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  CliProcess p(args, env);
  return p.wait();
}

// A manager on a free loopback port for one scenario run.
class TestManager {
 public:
  TestManager() : manager_(options()) { manager_.start(); }
  std::string address() const { return address_.empty() ? manager_.address() : address_; }
  // Stops the manager (gracefully: it closes every connection); address() stays as it was.
  void stop() {
    address_ = manager_.address();
    manager_.stop();
  }
  // depot-cli with this manager's address and key, then `args`.
  CliResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-a", address(), "-k", kKey});
    return run_cli(args);
  }
  // depot-cli started with this manager's address and key, left running (`stdin_pipe`: in
  // interactive mode, reading the lines the test writes).
  std::unique_ptr<CliProcess> start(std::vector<std::string> args, bool stdin_pipe = false) const {
    args.insert(args.begin(), {"-a", address(), "-k", kKey});
    return std::make_unique<CliProcess>(args, std::vector<std::string>{}, stdin_pipe);
  }

 private:
  static depot::ManagerOptions options() {
    depot::log::set_level(depot::log::Level::WARN);
    depot::ManagerOptions o;
    o.address = "127.0.0.1:0";
    o.authkey = kKey;
    return o;
  }
  depot::Manager manager_;
  std::string address_;  // once stopped
};

// A loopback port that refuses connections: bound (so nobody else takes it) but not listening.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error(std::string("cannot bind a loopback port: ") + std::strerror(errno));
    port_ = ntohs(a.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A file holding `content`, removed at scope exit.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/depot-cli-test-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error(std::string("mkstemp: ") + std::strerror(errno));
    path_ = tmpl;
    if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()))
      throw std::runtime_error("cannot write " + path_);
    ::close(fd);
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The value of an integer field of the manager's stats JSON ("parked":3 -> 3).
long stats_field(depot::Client& c, const std::string& field) {
  const std::string json = c.stats();
  const auto at = json.find("\"" + field + "\":");
  if (at == std::string::npos) throw std::runtime_error("no " + field + " in stats: " + json);
  return std::stol(json.substr(at + field.size() + 3));
}

// Waits (bounded) until the manager's stats show `field` at `value`: for a CLI to have
// parked its request or subscribed. True when it did.
bool stats_reach(depot::Client& c, const std::string& field, long value) {
  for (int i = 0; i < 2000; ++i) {
    if (stats_field(c, field) == value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return stats_field(c, field) == value;
}

// A whole decimal number (a token, a lease id, a version), else 0.
uint64_t number(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return 0;
  return std::stoull(text);
}

}  // namespace

SCENARIO("a value put with depot-cli comes back from depot-cli get", "[cli]") {
  TestManager m;
  GIVEN("a value put on a new queue") {
    auto put = m.cli({"put", "greetings", "hello world"});
    REQUIRE(put.exit_code == 0);
    REQUIRE(put.err.empty());

    WHEN("it is got") {
      auto got = m.cli({"get", "greetings"});
      THEN("stdout is exactly the value and a newline, and the queue is empty again") {
        CHECK(got.exit_code == 0);
        CHECK(got.out == "hello world\n");
        CHECK(got.err.empty());
        CHECK(m.cli({"qsize", "greetings"}).out == "0\n");
      }
    }
  }
  GIVEN("values that start with dashes, put after --") {
    REQUIRE(m.cli({"put", "signed", "--", "-5", "--x"}).exit_code == 0);
    THEN("they are stored as given") {
      auto got = m.cli({"get", "signed", "--count", "2"});
      CHECK(got.exit_code == 0);
      CHECK(got.out == "-5\n--x\n");
    }
  }
}

SCENARIO("depot-cli put of several values is one put, and get --count takes up to N", "[cli]") {
  TestManager m;
  GIVEN("four values put in one command") {
    REQUIRE(m.cli({"put", "batch", "a", "b", "c", "d"}).exit_code == 0);
    REQUIRE(m.cli({"qsize", "batch"}).out == "4\n");

    WHEN("three are got with --count 3") {
      auto got = m.cli({"get", "batch", "--count", "3"});
      THEN("the first three are printed in order, one per line") {
        CHECK(got.exit_code == 0);
        CHECK(lines(got.out) == std::vector<std::string>{"a", "b", "c"});
      }
      AND_WHEN("more are asked for than are left") {
        auto rest = m.cli({"get", "batch", "--count=10", "--timeout", "0"});
        THEN("the one left is printed") {
          CHECK(rest.exit_code == 0);
          CHECK(rest.out == "d\n");
        }
      }
    }
  }
}

SCENARIO("a depot-cli get that finds nothing exits 1 and names the queue", "[cli]") {
  TestManager m;
  GIVEN("an empty queue") {
    WHEN("get --timeout 0 is run") {
      auto r = m.cli({"get", "idle", "--timeout", "0"});
      THEN("it exits 1 at once with the manager's message on stderr and nothing on stdout") {
        CHECK(r.exit_code == 1);
        CHECK(r.out.empty());
        CHECK_THAT(r.err, Catch::StartsWith("depot-cli: ") && Catch::Contains("'idle'") &&
                              Catch::Contains("empty"));
      }
    }
    WHEN("get --timeout 0.2 (fractional seconds) is run") {
      auto r = m.cli({"get", "idle", "--timeout", "0.2"});
      THEN("it exits 1 saying the queue stayed empty until the timeout") {
        CHECK(r.exit_code == 1);
        CHECK(r.out.empty());
        CHECK_THAT(r.err, Catch::StartsWith("depot-cli: ") && Catch::Contains("'idle'") &&
                              Catch::Contains("timeout"));
      }
    }
    WHEN("get --count 5 --timeout 0 is run") {
      auto r = m.cli({"get", "idle", "--count", "5", "--timeout", "0"});
      THEN("it exits 1 too") {
        CHECK(r.exit_code == 1);
        CHECK(r.out.empty());
        CHECK_THAT(r.err, Catch::Contains("'idle'"));
      }
    }
  }
}

SCENARIO("a depot-cli get without --timeout waits until an item arrives", "[cli]") {
  TestManager m;
  depot::Client client(m.address(), kKey);
  GIVEN("depot-cli get parked on an empty queue") {
    CliProcess get({"-a", m.address(), "-k", kKey, "get", "later"});
    // Wait on state: the manager reports the parked get (bounded, never a fixed sleep).
    for (int i = 0; i < 2000 && stats_field(client, "parked") == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(stats_field(client, "parked") == 1);

    WHEN("a C++ client puts an item") {
      client.queue<std::string>("later").put("arrived");
      auto r = get.wait();
      THEN("the CLI prints it, exits 0, and no waiter is left") {
        CHECK(r.exit_code == 0);
        CHECK(r.out == "arrived\n");
        CHECK(stats_field(client, "parked") == 0);
      }
    }
  }
}

SCENARIO("depot-cli and a C++ RemoteQueue<int> share values as decimal text", "[cli]") {
  TestManager m;
  depot::Client client(m.address(), kKey);
  auto tasks = client.queue<int>("tasks");
  GIVEN("depot-cli put tasks 42") {
    REQUIRE(m.cli({"put", "tasks", "42"}).exit_code == 0);
    THEN("a C++ RemoteQueue<int> gets 42") {
      CHECK(tasks.get(std::chrono::seconds(5)) == 42);
    }
  }
  GIVEN("a C++ put of -7 on a RemoteQueue<int>") {
    tasks.put(-7);
    THEN("depot-cli get prints -7") {
      auto r = m.cli({"get", "tasks", "--timeout", "0"});
      CHECK(r.exit_code == 0);
      CHECK(r.out == "-7\n");
    }
  }
}

SCENARIO("depot-cli get prints a C++ container as JSON-like text, plain values as they are",
         "[cli]") {
  TestManager m;
  depot::Client client(m.address(), kKey);
  GIVEN("a std::map<std::string, std::vector<int>> and a string put from C++") {
    client.queue<std::map<std::string, std::vector<int>>>("mp").put({{"a", {1, -2}}, {"b", {}}});
    client.queue<std::string>("mp").put("plain [text]");
    THEN("depot-cli get prints the map as text, then the string unchanged") {
      auto r = m.cli({"get", "mp", "--count", "2", "--timeout", "0"});
      CHECK(r.exit_code == 0);
      CHECK(r.out == "{\"a\": [1, -2], \"b\": []}\nplain [text]\n");
    }
  }
  GIVEN("a std::vector<std::string> put from C++") {
    client.queue<std::vector<std::string>>("mp").put({"x", "y\"z"});
    THEN("--format raw prints its MessagePack bytes") {
      auto r = m.cli({"get", "mp", "--format", "raw", "--timeout", "0"});
      CHECK(r.exit_code == 0);
      CHECK(r.out == std::string("\x92\xa1x\xa3y\"z\n"));
    }
    THEN("--format msgpack prints it as text") {
      auto r = m.cli({"get", "mp", "--format", "msgpack", "--timeout", "0"});
      CHECK(r.out == "[\"x\", \"y\\\"z\"]\n");
    }
  }
  GIVEN("a plain string") {
    client.queue<std::string>("mp").put("hello");
    THEN("--format msgpack exits 4 and says to use --format raw") {
      auto r = m.cli({"get", "mp", "--format", "msgpack", "--timeout", "0"});
      CHECK(r.exit_code == 4);
      CHECK(r.err.find("--format raw") != std::string::npos);
    }
  }
  THEN("an unknown --format exits 2 naming the formats") {
    auto r = m.cli({"get", "mp", "--format", "xml"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("auto, msgpack or raw") != std::string::npos);
  }
}

SCENARIO("depot-cli declare, qsize, ls and delete report the queue", "[cli]") {
  TestManager m;
  GIVEN("a queue declared with --maxsize 2 and filled") {
    auto d = m.cli({"declare", "bounded", "--maxsize", "2"});
    REQUIRE(d.exit_code == 0);
    CHECK(d.out.empty());
    REQUIRE(m.cli({"put", "bounded", "x", "y"}).exit_code == 0);
    REQUIRE(m.cli({"put", "other", "z"}).exit_code == 0);

    THEN("qsize prints the count") {
      auto r = m.cli({"qsize", "bounded"});
      CHECK(r.exit_code == 0);
      CHECK(r.out == "2\n");
    }
    THEN("qsize of a queue never used prints 0") {
      CHECK(m.cli({"qsize", "nothing"}).out == "0\n");
    }
    THEN("a put that finds it full exits 1 naming the queue") {
      auto r = m.cli({"put", "bounded", "w", "--timeout", "0"});
      CHECK(r.exit_code == 1);
      CHECK_THAT(r.err, Catch::Contains("'bounded'") && Catch::Contains("full"));
    }
    THEN("ls lists every object under a header, in aligned columns") {
      auto r = m.cli({"ls"});
      REQUIRE(r.exit_code == 0);
      auto ls = lines(r.out);
      REQUIRE(ls.size() == 3);
      CHECK_THAT(ls[0], Catch::StartsWith("NAME") && Catch::Contains("TYPE") &&
                            Catch::Contains("SIZE") && Catch::Contains("STATE"));
      CHECK_THAT(ls[1], Catch::StartsWith("bounded ") && Catch::Contains(" queue ") &&
                            Catch::Contains(" 2  ") && Catch::Contains(" maxsize=2 "));
      CHECK_THAT(ls[2], Catch::StartsWith("other ") && Catch::Contains(" queue ") &&
                            Catch::Contains(" 1  ") && Catch::Contains(" maxsize=0 "));
      const auto type_col = ls[0].find("TYPE");
      const auto state_col = ls[0].find("STATE");
      for (const auto& l : ls) {
        CHECK(l.find("queue") == (l == ls[0] ? std::string::npos : type_col));
        CHECK(l.find("maxsize") == (l == ls[0] ? std::string::npos : state_col));
      }
    }
    WHEN("it is declared again with another maxsize") {
      auto r = m.cli({"declare", "bounded", "--maxsize", "5"});
      THEN("the manager refuses: exit 4 with its message") {
        CHECK(r.exit_code == 4);
        CHECK_THAT(r.err, Catch::StartsWith("depot-cli: ") && Catch::Contains("'bounded'") &&
                              Catch::Contains("maxsize 2"));
      }
    }
    WHEN("it is deleted") {
      auto r = m.cli({"delete", "bounded"});
      THEN("the count of dropped items is printed and the queue is gone") {
        CHECK(r.exit_code == 0);
        CHECK(r.out == "2\n");
        CHECK(m.cli({"qsize", "bounded"}).out == "0\n");
        CHECK(lines(m.cli({"ls"}).out).size() == 2);
      }
      AND_WHEN("it is deleted again") {
        auto again = m.cli({"delete", "bounded"});
        THEN("that is a manager error: exit 4, naming the queue") {
          CHECK(again.exit_code == 4);
          CHECK(again.out.empty());
          CHECK_THAT(again.err, Catch::Contains("'bounded'") && Catch::Contains("does not exist"));
        }
      }
    }
  }
}

SCENARIO("depot-cli ping and stats talk to the manager", "[cli]") {
  TestManager m;
  WHEN("ping is run") {
    auto r = m.cli({"ping"});
    THEN("it prints PONG and the round trip") {
      CHECK(r.exit_code == 0);
      CHECK_THAT(r.out, Catch::StartsWith("PONG ") && Catch::EndsWith(" ms\n"));
    }
  }
  WHEN("stats is run") {
    auto r = m.cli({"stats"});
    THEN("it prints the manager's JSON object") {
      CHECK(r.exit_code == 0);
      CHECK_THAT(r.out, Catch::StartsWith("{") && Catch::EndsWith("}\n") &&
                            Catch::Contains("\"objects\":"));
    }
  }
}

SCENARIO("depot-cli takes the authkey from -k, --authkey-file or DEPOT_AUTHKEY", "[cli]") {
  TestManager m;
  WHEN("the key is wrong") {
    auto r = run_cli({"-a", m.address(), "-k", "not-the-key", "ping"});
    THEN("it exits 3 saying authentication failed") {
      CHECK(r.exit_code == 3);
      CHECK(r.out.empty());
      CHECK_THAT(r.err, Catch::StartsWith("depot-cli: ") &&
                            Catch::Contains("authentication", Catch::CaseSensitive::No) &&
                            Catch::Contains("failed"));
    }
  }
  WHEN("the key is in DEPOT_AUTHKEY") {
    auto r = run_cli({"-a", m.address(), "ping"}, {"DEPOT_AUTHKEY=" + kKey});
    THEN("it connects") {
      CHECK(r.exit_code == 0);
      CHECK_THAT(r.out, Catch::StartsWith("PONG"));
    }
  }
  WHEN("the key is in a file given with --authkey-file") {
    TempFile f(kKey + "\n");
    auto r = run_cli({"--authkey-file", f.path(), "-a", m.address(), "ping"},
                     {"DEPOT_AUTHKEY=not-the-key"});
    THEN("the file's key (without its newline) is used, not the environment's") {
      CHECK(r.exit_code == 0);
      CHECK_THAT(r.out, Catch::StartsWith("PONG"));
    }
  }
  WHEN("-k is given and DEPOT_AUTHKEY holds another key") {
    auto r = run_cli({"-a", m.address(), "-k", kKey, "ping"}, {"DEPOT_AUTHKEY=not-the-key"});
    THEN("-k wins") {
      CHECK(r.exit_code == 0);
    }
  }
  WHEN("no key is given at all") {
    auto r = run_cli({"-a", m.address(), "ping"});
    THEN("that is a usage error") {
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.err, Catch::Contains("no authkey") && Catch::Contains("DEPOT_AUTHKEY"));
    }
  }
  WHEN("the authkey file cannot be read") {
    auto r = run_cli({"--authkey-file", "/nonexistent/depot-key", "-a", m.address(), "ping"});
    THEN("that is a usage error naming the file") {
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.err, Catch::Contains("/nonexistent/depot-key"));
    }
  }
}

SCENARIO("depot-cli exits 3 when the manager is unreachable", "[cli]") {
  GIVEN("a port where nothing listens") {
    RefusingPort port;
    WHEN("depot-cli ping is run against it") {
      auto r = run_cli({"-a", port.address(), "-k", kKey, "ping"});
      THEN("it exits 3 saying it cannot connect, with the address") {
        CHECK(r.exit_code == 3);
        CHECK(r.out.empty());
        CHECK_THAT(r.err, Catch::StartsWith("depot-cli: ") && Catch::Contains("cannot connect") &&
                              Catch::Contains(port.address()));
      }
    }
  }
}

SCENARIO("a wrong depot-cli command line exits 2 with the list of commands", "[cli]") {
  auto usage_error = [](const std::vector<std::string>& args) {
    auto r = run_cli(args, {"DEPOT_AUTHKEY=" + kKey});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    for (const char* c :
         {"put ", "get ", "qsize ", "declare ", "delete ", "lock acquire ", "lock release ",
          "semaphore acquire ", "event wait ", "barrier wait ", "var set ", "var wait ",
          "counter add ", "publish ", "subscribe ", "rm ", "ls", "ping", "stats"})
      CHECK_THAT(r.err, Catch::Contains(c));
    return r.err;
  };
  WHEN("the command is unknown") {
    THEN("the message names it") {
      CHECK_THAT(usage_error({"frobnicate"}), Catch::Contains("'frobnicate'"));
    }
  }
  WHEN("there is no command") {
    THEN("the message says so") {
      CHECK_THAT(usage_error({}), Catch::Contains("no command"));
    }
  }
  WHEN("an argument is missing") {
    THEN("the message gives the command's usage") {
      CHECK_THAT(usage_error({"get"}), Catch::Contains("get QUEUE"));
      CHECK_THAT(usage_error({"put", "q"}), Catch::Contains("put QUEUE VALUE"));
    }
  }
  WHEN("an option is unknown, misplaced or malformed") {
    THEN("the message names it") {
      CHECK_THAT(usage_error({"get", "q", "--wait", "1"}), Catch::Contains("--wait"));
      CHECK_THAT(usage_error({"qsize", "q", "--timeout", "1"}), Catch::Contains("--timeout"));
      CHECK_THAT(usage_error({"get", "q", "--timeout", "soon"}), Catch::Contains("'soon'"));
      CHECK_THAT(usage_error({"get", "q", "--timeout", "-1"}), Catch::Contains("'-1'"));
      CHECK_THAT(usage_error({"get", "q", "--count", "0"}), Catch::Contains("--count"));
      CHECK_THAT(usage_error({"-a", "nowhere", "ping"}), Catch::Contains("'nowhere'"));
      CHECK_THAT(usage_error({"event", "set", "E", "--timeout", "1"}),
                 Catch::Contains("--timeout"));
      CHECK_THAT(usage_error({"lock", "acquire", "L", "--hold", "soon"}),
                 Catch::Contains("--hold") && Catch::Contains("'soon'"));
      CHECK_THAT(usage_error({"lock", "acquire", "L", "--after", "1"}), Catch::Contains("--after"));
    }
  }
  WHEN("a coordination command is incomplete or its numbers are wrong") {
    THEN("the message says what is missing") {
      CHECK_THAT(usage_error({"lock"}),
                 Catch::Contains("lock needs a subcommand") && Catch::Contains("acquire, release"));
      CHECK_THAT(usage_error({"lock", "frob", "L"}), Catch::Contains("'lock frob'"));
      CHECK_THAT(usage_error({"semaphore", "acquire", "S"}),
                 Catch::Contains("semaphore acquire NAME MAX"));
      CHECK_THAT(usage_error({"semaphore", "acquire", "S", "0"}), Catch::Contains("MAX"));
      CHECK_THAT(usage_error({"barrier", "wait", "B", "two"}), Catch::Contains("'two'"));
      CHECK_THAT(usage_error({"var", "wait", "cfg"}), Catch::Contains("--after"));
      CHECK_THAT(usage_error({"counter", "add", "c", "1.5"}), Catch::Contains("'1.5'"));
      CHECK_THAT(usage_error({"publish", "t"}), Catch::Contains("publish TOPIC MESSAGE"));
    }
  }
  WHEN("--help is asked for") {
    auto r = run_cli({"--help"});
    THEN("the full usage goes to stdout and it exits 0") {
      CHECK(r.exit_code == 0);
      CHECK(r.err.empty());
      CHECK_THAT(r.out, Catch::StartsWith("usage: depot-cli") && Catch::Contains("Exit codes") &&
                            Catch::Contains("DEPOT_AUTHKEY"));
    }
  }
}

SCENARIO("depot-cli lock acquire prints a fencing token and holds the lock until signalled",
         "[cli]") {
  TestManager m;
  depot::Client client(m.address(), kKey);
  GIVEN("depot-cli lock acquire holding 'L' (no --hold: until a signal)") {
    auto holder = m.start({"lock", "acquire", "L"});
    const auto line = holder->read_line();
    REQUIRE(line);
    const uint64_t token = number(*line);
    REQUIRE(token > 0);

    WHEN("another lock acquire --timeout 0.2 is run") {
      auto r = m.cli({"lock", "acquire", "L", "--timeout", "0.2"});
      THEN("it exits 1 with nothing on stdout, naming the lock") {
        CHECK(r.exit_code == 1);
        CHECK(r.out.empty());
        CHECK_THAT(r.err, Catch::StartsWith("depot-cli: ") && Catch::Contains("'L'") &&
                              Catch::Contains("held"));
      }
    }
    WHEN("another lock acquire --timeout 0 is run") {
      THEN("it exits 1 at once") {
        CHECK(m.cli({"lock", "acquire", "L", "--timeout", "0"}).exit_code == 1);
      }
    }
    WHEN("a waiter is parked on the lock") {
      auto waiter = m.start({"lock", "acquire", "L", "--hold", "0"});
      REQUIRE(stats_reach(client, "parked", 1));

      AND_WHEN("the holder gets SIGTERM") {
        holder->signal(SIGTERM);
        auto h = holder->wait();
        auto w = waiter->wait();
        THEN("the holder releases and exits 0; the waiter gets a larger token") {
          CHECK(h.exit_code == 0);
          CHECK(h.out == std::to_string(token) + "\n");
          CHECK(h.err.empty());
          CHECK(w.exit_code == 0);
          CHECK(number(lines(w.out).at(0)) > token);
        }
      }
      AND_WHEN("the holder gets SIGINT") {
        holder->signal(SIGINT);
        auto h = holder->wait();
        auto w = waiter->wait();
        THEN("the same: released, exit 0, the waiter gets it") {
          CHECK(h.exit_code == 0);
          CHECK(w.exit_code == 0);
          CHECK(number(lines(w.out).at(0)) > token);
        }
      }
      AND_WHEN("the holder is killed with SIGKILL") {
        holder->signal(SIGKILL);
        auto h = holder->wait();
        auto w = waiter->wait();
        THEN("the manager frees the lock with the connection; the waiter gets a larger token") {
          CHECK(h.exit_code == 128 + SIGKILL);
          CHECK(w.exit_code == 0);
          CHECK(number(lines(w.out).at(0)) > token);
        }
      }
      AND_WHEN("the waiter gets SIGTERM before it has the lock") {
        waiter->signal(SIGTERM);
        auto w = waiter->wait();
        THEN("it ends by the signal, holding nothing, and its wait is gone") {
          CHECK(w.exit_code == 128 + SIGTERM);
          CHECK(w.out.empty());
          CHECK(stats_reach(client, "parked", 0));
        }
      }
    }
  }
  GIVEN("lock acquire --hold 0") {
    auto first = m.cli({"lock", "acquire", "L", "--hold", "0"});
    THEN("it prints a token, releases at once and exits 0") {
      REQUIRE(first.exit_code == 0);
      CHECK(first.err.empty());
      const uint64_t token = number(lines(first.out).at(0));
      CHECK(token > 0);
      auto again = m.cli({"lock", "acquire", "L", "--timeout", "0", "--hold", "0.05"});
      CHECK(again.exit_code == 0);
      CHECK(number(lines(again.out).at(0)) > token);
    }
  }
  GIVEN("a holder whose lock has a --ttl 0.2 lease, and a waiter") {
    auto holder = m.start({"lock", "acquire", "L", "--ttl", "0.2"});
    const auto line = holder->read_line();
    REQUIRE(line);
    auto w = m.cli({"lock", "acquire", "L", "--hold", "0"});
    THEN("the lease ends the hold: the waiter gets the lock with a larger token") {
      CHECK(w.exit_code == 0);
      CHECK(number(lines(w.out).at(0)) > number(*line));
      AND_WHEN("the first holder is then told to release") {
        holder->signal(SIGTERM);
        auto h = holder->wait();
        THEN("its release fails: exit 4, saying the lock was lost") {
          CHECK(h.exit_code == 4);
          CHECK_THAT(h.err, Catch::StartsWith("depot-cli: ") && Catch::Contains("'L'") &&
                                Catch::Contains("not held"));
        }
      }
    }
  }
}

SCENARIO("depot-cli lock release frees a lock whoever holds it", "[cli]") {
  TestManager m;
  GIVEN("a lock held by depot-cli lock acquire") {
    auto holder = m.start({"lock", "acquire", "L"});
    const auto line = holder->read_line();
    REQUIRE(line);
    const uint64_t token = number(*line);

    WHEN("lock release is run") {
      auto r = m.cli({"lock", "release", "L"});
      THEN("it prints the token it broke, and the lock is free") {
        CHECK(r.exit_code == 0);
        CHECK(r.out == std::to_string(token) + "\n");
        CHECK(r.err.empty());
        auto next = m.cli({"lock", "acquire", "L", "--timeout", "0", "--hold", "0"});
        CHECK(next.exit_code == 0);
        CHECK(number(lines(next.out).at(0)) > token);
      }
      AND_WHEN("it is run again") {
        auto again = m.cli({"lock", "release", "L"});
        THEN("there is nothing to release: exit 1") {
          CHECK(again.exit_code == 1);
          CHECK(again.out.empty());
          CHECK_THAT(again.err, Catch::Contains("'L'") && Catch::Contains("not held"));
        }
      }
      AND_WHEN("the former holder ends") {
        holder->signal(SIGTERM);
        auto h = holder->wait();
        THEN("its own release fails: exit 4 with the manager's message") {
          CHECK(h.exit_code == 4);
          CHECK_THAT(h.err, Catch::StartsWith("depot-cli: ") && Catch::Contains("'L'"));
        }
      }
    }
  }
  WHEN("a lock that was never used is released") {
    auto r = m.cli({"lock", "release", "never"});
    THEN("exit 1: it is not held") {
      CHECK(r.exit_code == 1);
      CHECK_THAT(r.err, Catch::Contains("'never'"));
    }
  }
  WHEN("the name is a queue's") {
    REQUIRE(m.cli({"put", "q", "x"}).exit_code == 0);
    auto r = m.cli({"lock", "release", "q"});
    THEN("exit 4: the wrong type") {
      CHECK(r.exit_code == 4);
      CHECK_THAT(r.err, Catch::Contains("'q'"));
    }
  }
}

SCENARIO("depot-cli semaphore acquire holds one of MAX leases", "[cli]") {
  TestManager m;
  GIVEN("two holders of a semaphore with MAX 2") {
    auto a = m.start({"semaphore", "acquire", "S", "2"});
    auto b = m.start({"semaphore", "acquire", "S", "2"});
    const auto la = a->read_line();
    const auto lb = b->read_line();
    REQUIRE(la);
    REQUIRE(lb);
    THEN("each printed its own lease id") {
      CHECK(number(*la) > 0);
      CHECK(number(*lb) > 0);
      CHECK(*la != *lb);
    }
    WHEN("a third asks with --timeout 0.2") {
      auto r = m.cli({"semaphore", "acquire", "S", "2", "--timeout", "0.2"});
      THEN("it exits 1 naming the semaphore") {
        CHECK(r.exit_code == 1);
        CHECK(r.out.empty());
        CHECK_THAT(r.err, Catch::StartsWith("depot-cli: ") && Catch::Contains("'S'"));
      }
    }
    WHEN("one asks with another MAX") {
      auto r = m.cli({"semaphore", "acquire", "S", "3", "--timeout", "0"});
      THEN("the manager refuses: exit 4") {
        CHECK(r.exit_code == 4);
        CHECK_THAT(r.err, Catch::Contains("'S'") && Catch::Contains("max 2"));
      }
    }
    WHEN("one holder ends") {
      a->signal(SIGTERM);
      CHECK(a->wait().exit_code == 0);
      THEN("its lease is free again") {
        auto r = m.cli({"semaphore", "acquire", "S", "2", "--timeout", "0", "--hold", "0"});
        CHECK(r.exit_code == 0);
        CHECK(number(lines(r.out).at(0)) > 0);
      }
    }
  }
}

SCENARIO("a depot-cli holder whose manager goes away says the hold was lost and exits 3 at once",
         "[cli][restart]") {
  TestManager m;
  // --hold 60 is far beyond the hang guard of wait(): only noticing the loss ends it in time.
  GIVEN("depot-cli lock acquire x --hold 60, holding") {
    auto holder = m.start({"lock", "acquire", "x", "--hold", "60"});
    const auto token = holder->read_line();
    REQUIRE(token);
    REQUIRE(number(*token) > 0);
    WHEN("the manager stops") {
      m.stop();
      auto r = holder->wait();
      THEN("it exits 3 with a line saying the lock was lost, and why") {
        CHECK(r.exit_code == 3);
        CHECK_THAT(r.err, Catch::StartsWith("depot-cli: lock 'x' was lost with its session") &&
                              Catch::Contains("the connection to the manager at " + m.address()));
        CHECK(r.out == *token + "\n");
      }
    }
  }
  GIVEN("depot-cli semaphore acquire S 1 --hold 60, holding") {
    auto holder = m.start({"semaphore", "acquire", "S", "1", "--hold", "60"});
    const auto lease = holder->read_line();
    REQUIRE(lease);
    WHEN("the manager stops") {
      m.stop();
      auto r = holder->wait();
      THEN("it exits 3 with a line saying the lease was lost") {
        CHECK(r.exit_code == 3);
        CHECK_THAT(r.err, Catch::StartsWith("depot-cli: semaphore 'S': lease " + *lease +
                                            " was lost with its session"));
      }
    }
  }
}

SCENARIO("depot-cli event set, clear, is-set and wait", "[cli]") {
  TestManager m;
  depot::Client client(m.address(), kKey);
  GIVEN("an event never set") {
    THEN("is-set exits 1 and wait --timeout 0.2 exits 1") {
      auto is = m.cli({"event", "is-set", "E"});
      CHECK(is.exit_code == 1);
      CHECK_THAT(is.err, Catch::Contains("'E'") && Catch::Contains("not set"));
      auto w = m.cli({"event", "wait", "E", "--timeout", "0.2"});
      CHECK(w.exit_code == 1);
      CHECK_THAT(w.err, Catch::Contains("'E'"));
    }
    WHEN("a waiter is parked and the event is set") {
      auto waiter = m.start({"event", "wait", "E"});
      REQUIRE(stats_reach(client, "parked", 1));
      auto set = m.cli({"event", "set", "E"});
      THEN("the waiter exits 0, and is-set exits 0 until the event is cleared") {
        CHECK(set.exit_code == 0);
        CHECK(set.out.empty());
        auto w = waiter->wait();
        CHECK(w.exit_code == 0);
        CHECK(w.out.empty());
        CHECK(m.cli({"event", "is-set", "E"}).exit_code == 0);
        CHECK(m.cli({"event", "wait", "E", "--timeout", "0"}).exit_code == 0);
        CHECK(m.cli({"event", "clear", "E"}).exit_code == 0);
        CHECK(m.cli({"event", "is-set", "E"}).exit_code == 1);
      }
    }
  }
}

SCENARIO("depot-cli var set, get, wait and delete with versions", "[cli]") {
  TestManager m;
  depot::Client client(m.address(), kKey);
  GIVEN("a variable set by depot-cli var set") {
    auto set1 = m.cli({"var", "set", "cfg", "a=1"});
    REQUIRE(set1.exit_code == 0);
    const uint64_t v1 = number(lines(set1.out).at(0));
    REQUIRE(v1 > 0);

    THEN("var get prints the value, and var wait --after 0 the version and the value") {
      auto g = m.cli({"var", "get", "cfg"});
      CHECK(g.exit_code == 0);
      CHECK(g.out == "a=1\n");
      auto w = m.cli({"var", "wait", "cfg", "--after", "0"});
      CHECK(w.exit_code == 0);
      CHECK(w.out == std::to_string(v1) + " a=1\n");
      CHECK(m.cli({"var", "wait", "cfg", "--after", std::to_string(v1), "--timeout", "0.1"})
                .exit_code == 1);
    }
    WHEN("a var wait --after that version is parked and the value changes") {
      auto waiter = m.start({"var", "wait", "cfg", "--after", std::to_string(v1)});
      REQUIRE(stats_reach(client, "parked", 1));
      auto set2 = m.cli({"var", "set", "cfg", "a=2"});
      const uint64_t v2 = number(lines(set2.out).at(0));
      THEN("it prints the new version and value") {
        CHECK(v2 > v1);
        auto w = waiter->wait();
        CHECK(w.exit_code == 0);
        CHECK(w.out == std::to_string(v2) + " a=2\n");
      }
      AND_WHEN("the variable is deleted") {
        auto del = m.cli({"var", "delete", "cfg"});
        REQUIRE(del.exit_code == 0);
        const uint64_t v3 = number(lines(del.out).at(0));
        THEN("delete printed a newer version; var wait shows the delete as the version alone") {
          CHECK(v3 > v2);
          auto w = m.cli({"var", "wait", "cfg", "--after", std::to_string(v2)});
          CHECK(w.exit_code == 0);
          CHECK(w.out == std::to_string(v3) + "\n");
        }
        THEN("get finds no value and delete nothing to delete: exit 1") {
          auto g0 = m.cli({"var", "get", "cfg", "--timeout", "0"});
          CHECK(g0.exit_code == 1);
          CHECK_THAT(g0.err, Catch::Contains("'cfg'") && Catch::Contains("no value"));
          CHECK(m.cli({"var", "get", "cfg", "--timeout", "0.1"}).exit_code == 1);
          auto d = m.cli({"var", "delete", "cfg"});
          CHECK(d.exit_code == 1);
          CHECK_THAT(d.err, Catch::Contains("'cfg'"));
        }
      }
    }
  }
  GIVEN("a var get without --timeout parked on a variable with no value") {
    auto getter = m.start({"var", "get", "later"});
    REQUIRE(stats_reach(client, "parked", 1));
    WHEN("it is set") {
      REQUIRE(m.cli({"var", "set", "later", "x y"}).exit_code == 0);
      THEN("the getter prints the value") {
        auto g = getter->wait();
        CHECK(g.exit_code == 0);
        CHECK(g.out == "x y\n");
      }
    }
  }
  WHEN("a variable that never existed is deleted") {
    auto d = m.cli({"var", "delete", "nothing"});
    THEN("exit 1") {
      CHECK(d.exit_code == 1);
      CHECK_THAT(d.err, Catch::Contains("'nothing'"));
    }
  }
}

SCENARIO("depot-cli counter add and get", "[cli]") {
  TestManager m;
  WHEN("a counter is added to, also negatively") {
    auto a = m.cli({"counter", "add", "hits", "5"});
    auto b = m.cli({"counter", "add", "hits", "-2"});
    THEN("each prints the new value, and get the current one") {
      CHECK(a.exit_code == 0);
      CHECK(a.out == "5\n");
      CHECK(b.exit_code == 0);
      CHECK(b.out == "3\n");
      auto g = m.cli({"counter", "get", "hits"});
      CHECK(g.exit_code == 0);
      CHECK(g.out == "3\n");
    }
  }
  WHEN("an add would overflow 64 bits") {
    REQUIRE(m.cli({"counter", "add", "big", "9223372036854775000"}).exit_code == 0);
    auto r = m.cli({"counter", "add", "big", "1000"});
    THEN("it is refused with exit 4 and the counter is unchanged") {
      CHECK(r.exit_code == 4);
      CHECK(r.out.empty());
      CHECK_THAT(r.err, Catch::Contains("'big'") && Catch::Contains("overflow"));
      CHECK(m.cli({"counter", "get", "big"}).out == "9223372036854775000\n");
    }
  }
}

SCENARIO("depot-cli subscribe prints what depot-cli publish sends, in order", "[cli]") {
  TestManager m;
  depot::Client client(m.address(), kKey);
  GIVEN("depot-cli subscribe --count 2 running") {
    auto sub = m.start({"subscribe", "news", "--count", "2"});
    // Ready when it says so on stderr (after that no message can miss it), and the manager
    // agrees.
    const auto ready = sub->read_err_line();
    REQUIRE(ready);
    CHECK_THAT(*ready, Catch::Contains("subscribed") && Catch::Contains("'news'"));
    REQUIRE(stats_reach(client, "subscriptions", 1));

    WHEN("two messages are published") {
      auto p1 = m.cli({"publish", "news", "first"});
      auto p2 = m.cli({"publish", "news", "second message"});
      THEN("each publish counted one receiver; the subscriber printed both and exited 0") {
        CHECK(p1.exit_code == 0);
        CHECK(p1.out == "1\n");
        CHECK(p2.out == "1\n");
        auto r = sub->wait();
        CHECK(r.exit_code == 0);
        CHECK(r.out == "first\nsecond message\n");
        CHECK(stats_reach(client, "subscriptions", 0));
      }
    }
  }
  GIVEN("depot-cli subscribe to a pattern, without --count") {
    auto sub = m.start({"subscribe", "sensors.*"});
    REQUIRE(sub->read_err_line());
    WHEN("a matching message is published, and the subscriber gets SIGTERM") {
      CHECK(m.cli({"publish", "sensors.t1", "21.5"}).out == "1\n");
      CHECK(m.cli({"publish", "other", "x"}).out == "0\n");
      const auto line = sub->read_line();
      sub->signal(SIGTERM);
      auto r = sub->wait();
      THEN("it printed the message and exits 0") {
        CHECK(line == std::optional<std::string>("21.5"));
        CHECK(r.exit_code == 0);
        CHECK(r.out == "21.5\n");
      }
    }
  }
  WHEN("nothing is published within subscribe --timeout 0.2") {
    auto r = m.cli({"subscribe", "quiet", "--timeout", "0.2"});
    THEN("it exits 1") {
      CHECK(r.exit_code == 1);
      CHECK(r.out.empty());
      CHECK_THAT(r.err, Catch::Contains("'quiet'") && Catch::Contains("timeout"));
    }
  }
}

SCENARIO("depot-cli barrier wait lets PARTIES processes through together", "[cli]") {
  TestManager m;
  WHEN("two depot-cli barrier wait B 2 run") {
    auto a = m.start({"barrier", "wait", "B", "2"});
    auto b = m.start({"barrier", "wait", "B", "2"});
    auto ra = a->wait();
    auto rb = b->wait();
    THEN("both exit 0 and print the arrival indexes 0 and 1") {
      CHECK(ra.exit_code == 0);
      CHECK(rb.exit_code == 0);
      CHECK(std::set<std::string>{ra.out, rb.out} == std::set<std::string>{"0\n", "1\n"});
    }
  }
  WHEN("a lone party times out") {
    auto r = m.cli({"barrier", "wait", "T", "2", "--timeout", "0.1"});
    THEN("it exits 1; the barrier is broken (exit 4) until barrier reset") {
      CHECK(r.exit_code == 1);
      CHECK_THAT(r.err, Catch::Contains("'T'"));
      auto broken = m.cli({"barrier", "wait", "T", "2", "--timeout", "5"});
      CHECK(broken.exit_code == 4);
      CHECK_THAT(broken.err, Catch::Contains("broken"));
      CHECK(m.cli({"barrier", "reset", "T"}).exit_code == 0);
    }
  }
}

SCENARIO("depot-cli rm deletes any object", "[cli]") {
  TestManager m;
  GIVEN("a variable") {
    REQUIRE(m.cli({"var", "set", "x", "1"}).exit_code == 0);
    WHEN("it is removed") {
      auto r = m.cli({"rm", "x"});
      THEN("its type is printed; removing it again is exit 4") {
        CHECK(r.exit_code == 0);
        CHECK(r.out == "variable\n");
        auto again = m.cli({"rm", "x"});
        CHECK(again.exit_code == 4);
        CHECK_THAT(again.err, Catch::Contains("'x'"));
      }
    }
  }
}

SCENARIO("depot-cli monitor prints a line per request another client makes, without values",
         "[cli][monitor]") {
  TestManager m;
  depot::Client c(m.address(), kKey);
  GIVEN("a monitor running") {
    auto mon = m.start({"monitor"});
    REQUIRE(stats_reach(c, "monitors", 1));
    WHEN("another client, named, puts an item and gets it") {
      depot::ClientOptions named;
      named.name = "producer-1";
      depot::Client p(m.address(), kKey, named);
      auto q = p.queue<std::string>("watched");
      q.put("the-secret-payload");
      REQUIRE(q.get() == "the-secret-payload");
      THEN("the monitor shows both with session, client name, op, object, sizes and status") {
        std::vector<std::string> seen;
        while (seen.size() < 2) {
          auto line = mon->read_line();
          REQUIRE(line);
          if (line->find(" watched ") != std::string::npos) seen.push_back(*line);
        }
        CHECK_THAT(seen[0], Catch::Contains("] QUEUE_PUT watched in=41 out=0 OK"));
        CHECK_THAT(seen[0], Catch::Contains(" producer-1] "));
        CHECK_THAT(seen[1], Catch::Contains("] QUEUE_GET watched in=19 out=22 OK"));
        mon->signal(SIGTERM);
        auto r = mon->wait();
        CHECK(r.exit_code == 0);
        CHECK(r.out.find("the-secret-payload") == std::string::npos);
        CHECK_THAT(r.err, Catch::Contains("monitoring"));
      }
    }
  }
  GIVEN("a monitor at its default rate, and a burst of 5,000 requests") {
    auto mon = m.start({"monitor"});
    REQUIRE(stats_reach(c, "monitors", 1));
    auto q = c.queue<std::string>("burst");
    for (int i = 0; i < 5000; ++i) q.put("x");
    THEN("it shows about 1,000 a second and counts the rest in a line of their own") {
      size_t shown = 0;
      std::optional<std::string> notice;
      while (!notice) {
        auto line = mon->read_line();
        REQUIRE(line);
        if (line->find("more than this monitor's lines a second") != std::string::npos)
          notice = line;
        else if (line->find(" burst ") != std::string::npos)
          ++shown;
      }
      CHECK(shown < 5000);
      CHECK_THAT(*notice, Catch::Contains(" requests not shown: "));
      mon->signal(SIGTERM);
      CHECK(mon->wait().exit_code == 0);
    }
  }
  GIVEN("monitor --count 1 and one request") {
    auto mon = m.start({"monitor", "--count", "1"});
    REQUIRE(stats_reach(c, "monitors", 1));
    THEN("it prints one line and exits 0") {
      auto r = mon->wait();
      CHECK(r.exit_code == 0);
      CHECK(lines(r.out).size() == 1);
    }
  }
}

SCENARIO("depot-cli stat prints a header and a line of numbers per interval", "[cli][stat]") {
  TestManager m;
  WHEN("stat -i 0.05 -c 2 runs") {
    auto r = m.cli({"stat", "-i", "0.05", "-c", "2"});
    THEN("there is a header and two lines of nine numbers") {
      CHECK(r.exit_code == 0);
      const auto l = lines(r.out);
      REQUIRE(l.size() == 3);
      CHECK(l[0].rfind("conns", 0) == 0);
      CHECK_THAT(l[0], Catch::Contains("puts/s") && Catch::Contains("out/s"));
      for (size_t i = 1; i < 3; ++i) {
        std::istringstream in(l[i]);
        std::vector<std::string> cells;
        for (std::string w; in >> w;) cells.push_back(w);
        REQUIRE(cells.size() == 9);
        CHECK(number(cells[0]) == 1);  // the stat's own connection
        for (const auto& cell : cells)
          CHECK(cell.find_first_not_of("0123456789.KMG") == std::string::npos);
      }
    }
  }
  WHEN("stat gets an argument it does not know") {
    auto r = m.cli({"stat", "-x"});
    THEN("it is a usage error") {
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.err, Catch::Contains("'-x'"));
    }
  }
}

SCENARIO("reserve, nack, touch and ack in interactive mode, on one session", "[cli][reserve]") {
  TestManager m;
  depot::Client c(m.address(), kKey);
  auto q = c.queue<std::string>("jobs");
  q.put("a");
  q.put("b");
  GIVEN("depot-cli reading commands from a pipe") {
    auto cli = m.start({}, /*stdin_pipe=*/true);
    WHEN("it reserves the first item") {
      cli->write_line("reserve jobs --lease-ms 60000");
      auto line = cli->read_line();
      REQUIRE(line);
      const auto space = line->find(' ');
      REQUIRE(space != std::string::npos);
      const std::string id = line->substr(0, space);
      THEN("it prints the reservation id and the value, and the item stays reserved") {
        CHECK(number(id) > 0);
        CHECK(line->substr(space + 1) == "a");
        cli->write_line("qsize jobs");
        CHECK(cli->read_line() == "1");
        AND_WHEN("it is nacked, reserved again, touched and acked") {
          cli->write_line("nack jobs " + id);
          CHECK(cli->read_line() == "requeued");
          cli->write_line("reserve jobs");
          auto again = cli->read_line();
          REQUIRE(again);
          const std::string id2 = again->substr(0, again->find(' '));
          CHECK(again->substr(again->find(' ') + 1) == "a");
          CHECK(id2 != id);
          cli->write_line("touch jobs " + id2 + " --lease-ms 60000");
          cli->write_line("ack jobs " + id2);
          cli->write_line("qsize jobs");
          CHECK(cli->read_line() == "1");
          cli->write_line("ack jobs " + id2);  // the last command: not held any more
          auto r = cli->wait();
          THEN("the item is gone for good and the second ack says it was not held") {
            CHECK(r.exit_code == 1);
            CHECK_THAT(r.err, Catch::Contains("delivery 2"));
            CHECK_THAT(r.err, Catch::Contains("not held"));
            CHECK(q.try_get() == "b");
            CHECK_FALSE(q.try_get());
          }
        }
      }
    }
    WHEN("its input ends with an item still reserved") {
      cli->write_line("reserve jobs");
      REQUIRE(cli->read_line());
      auto r = cli->wait();
      THEN("the session's end gives it back") {
        CHECK(r.exit_code == 0);
        CHECK(stats_reach(c, "connections", 1));
        CHECK(q.try_get() == "a");
      }
    }
  }
  GIVEN("reserve as one command") {
    WHEN("it holds for no time") {
      auto r = m.cli({"reserve", "jobs", "--hold", "0"});
      THEN("it prints ID VALUE and the item goes back when it exits") {
        CHECK(r.exit_code == 0);
        CHECK(r.out.substr(r.out.find(' ') + 1) == "a\n");
        CHECK(stats_reach(c, "connections", 1));
        CHECK(c.queue<std::string>("jobs").qsize() == 2);
      }
    }
    WHEN("another command acks what it holds") {
      auto holder = m.start({"reserve", "jobs"});
      auto line = holder->read_line();
      REQUIRE(line);
      auto ack = m.cli({"ack", "jobs", line->substr(0, line->find(' '))});
      CHECK(ack.exit_code == 0);
      holder->signal(SIGTERM);
      THEN("the item is gone when the holder ends") {
        CHECK(holder->wait().exit_code == 0);
        CHECK(stats_reach(c, "connections", 1));
        CHECK(c.queue<std::string>("jobs").qsize() == 1);
      }
    }
    WHEN("nothing is ready and it does not wait") {
      auto r = m.cli({"reserve", "empty", "--timeout", "0"});
      THEN("exit 1") {
        CHECK(r.exit_code == 1);
      }
    }
  }
}

SCENARIO("values that are not text are escaped on a terminal, unless --raw", "[cli][escape]") {
  TestManager m;
  depot::Client c(m.address(), kKey);
  depot::RawQueue q(c, "bin");
  const std::string binary("\x00\xff\"x\n", 5);
  GIVEN("a binary value and a text one") {
    q.put(binary);
    q.put("caf\xc3\xa9 ok");
    WHEN("they are got as on a terminal (--tty)") {
      auto r = m.cli({"--tty", "get", "bin", "--count", "2"});
      THEN("the binary one is quoted with escapes, the text one is as it is") {
        CHECK(r.exit_code == 0);
        CHECK(r.out == "\"\\x00\\xff\\\"x\\n\"\ncaf\xc3\xa9 ok\n");
      }
    }
    WHEN("they are got with --tty --raw") {
      auto r = m.cli({"--tty", "--raw", "get", "bin", "--count", "2"});
      THEN("the bytes are as they are") {
        CHECK(r.out == binary + "\ncaf\xc3\xa9 ok\n");
      }
    }
    WHEN("they are got into a pipe") {
      auto r = m.cli({"get", "bin"});
      THEN("the bytes are as they are, as before") {
        CHECK(r.out == binary + "\n");
      }
    }
  }
  GIVEN("a value typed in interactive mode with escapes in double quotes") {
    auto cli = m.start({"--tty"}, /*stdin_pipe=*/true);
    cli->write_line(R"(put bin "\x00\xffz" 'two words')");
    cli->write_line("get bin --count 2");
    auto r = cli->wait();
    THEN("the bytes were put, and are shown escaped again") {
      CHECK(r.exit_code == 0);
      CHECK(r.out == "\"\\x00\\xffz\"\ntwo words\n");
    }
  }
}
