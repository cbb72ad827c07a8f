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
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "manager/manager.h"

extern char** environ;

namespace {

const std::string kCli = DEPOT_BIN_DIR "/cli/depot-cli";
const std::string kKey = "cli-test-key";

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// One depot-cli process with its stdout and stderr on pipes and stdin on /dev/null. The
// environment is the test's own without DEPOT_AUTHKEY, plus `env` ("NAME=value" entries).
class CliProcess {
 public:
  explicit CliProcess(const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {}) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
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

    const int rc = ::posix_spawn(&pid_, kCli.c_str(), &fa, nullptr, argv_p.data(), env_p.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    if (rc != 0) {
      ::close(out_fd_);
      ::close(err_fd_);
      throw std::runtime_error("cannot start " + kCli + ": " + std::strerror(rc));
    }
  }
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;
  ~CliProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  // Reads both pipes to their end, then reaps the process. A CLI still running after the
  // hang guard is killed (exit code 128 + SIGKILL), so a bug fails the test instead of
  // stalling it; the guard is far above anything these tests wait for.
  CliResult wait() {
    CliResult r;
    const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      pollfd p[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
      const int n = ::poll(p, 2, 100);
      if (n == 0 && std::chrono::steady_clock::now() > guard) {
        ::kill(pid_, SIGKILL);
        guard_fired_ = true;
      }
      for (int k = 0; k < 2; ++k) {
        if (p[k].fd < 0 || !(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        const ssize_t got = ::read(p[k].fd, buf, sizeof buf);
        if (got > 0) {
          (k == 0 ? r.out : r.err).append(buf, static_cast<size_t>(got));
        } else if (got == 0 || errno != EINTR) {
          ::close(p[k].fd);
          (k == 0 ? out_fd_ : err_fd_) = -1;
        }
      }
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (guard_fired_) r.err += "\n[test: depot-cli did not finish and was killed]";
    return r;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
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
  std::string address() const { return manager_.address(); }
  // depot-cli with this manager's address and key, then `args`.
  CliResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-a", address(), "-k", kKey});
    return run_cli(args);
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
                            Catch::Contains(" 2  ") && Catch::Contains("maxsize=2"));
      CHECK_THAT(ls[2], Catch::StartsWith("other ") && Catch::Contains(" queue ") &&
                            Catch::Contains(" 1  ") && Catch::Contains("maxsize=0"));
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
    for (const char* c : {"put ", "get ", "qsize ", "declare ", "delete ", "ls", "ping", "stats"})
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
