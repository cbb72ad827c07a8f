// depot-manager checks what it is told before it serves: every flag's range, conflicting key
// sources, a configuration file (POCO's PropertyFileConfiguration) whose keys are the
// flags, and --check-config; every program answers --help and --version; the systemd unit's
// command line is one the manager accepts.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <sstream>

#include "support.h"

using test::bin;
using test::Process;

namespace {

// Runs depot-manager with `args` and --check-config (nothing is served) and returns the
// process once it has exited.
std::unique_ptr<Process> check(std::vector<std::string> args, std::vector<std::string> env = {}) {
  std::vector<std::string> argv = {bin("depot-manager"), "--check-config"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = std::make_unique<Process>(argv, env);
  p->wait();
  return p;
}

struct TempFile {
  explicit TempFile(const std::string& text, const std::string& tag = "conf") {
    static int n = 0;
    path = "/tmp/depot-daemon-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) +
           "." + tag;
    std::ofstream(path) << text;
  }
  ~TempFile() { ::unlink(path.c_str()); }
  std::string path;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

SCENARIO("depot-manager refuses every flag outside its range, naming the flag and the range",
         "[daemon]") {
  // The values that used to start a manager serving nobody, and one past each end.
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--max-frame", "0"}, "--max-frame takes a whole number from 1024 to 4294967295 bytes"},
      {{"--max-frame", "4294967296"}, "1024 to 4294967295 bytes"},
      {{"--max-connections", "0"}, "--max-connections takes a whole number from 1 to"},
      {{"--handshake-timeout", "-1"}, "--handshake-timeout takes a whole number from 100 to"},
      {{"--handshake-timeout", "99"}, "got '99'"},
      {{"--session-lease", "86400001"},
       "--session-lease takes a whole number from 100 to 86400000 ms"},
      {{"--max-objects", "0"}, "--max-objects"},
      {{"--max-waiters", "0"}, "--max-waiters"},
      {{"--max-unauthenticated", "0"}, "--max-unauthenticated"},
      {{"--max-input-buffered", "1000"}, "--max-input-buffered takes a whole number from 65536"},
      {{"--max-output-buffered", "1000"}, "--max-output-buffered"},
      {{"--max-subscription-bytes", "0"}, "--max-subscription-bytes"},
      {{"--auth-failure-refill-ms", "0"}, "--auth-failure-refill-ms"},
      {{"--compact-percent", "100001"}, "--compact-percent takes a whole number from 0 to 100000"},
      {{"--busy-poll-us", "abc"}, "--busy-poll-us takes a whole number"},
      {{"--fsync", "sometimes"}, "--fsync takes always, everysec or no, got 'sometimes'"},
      {{"--log-level", "loud"}, "--log-level takes error, warn, info or debug"},
      {{"--tls-client-certs", "maybe"}, "--tls-client-certs takes require or optional"},
      {{"--data-dir="}, "--data-dir needs a value, got an empty one"},
      {{"--max-frame"}, "--max-frame needs a value"},
      {{"--allow-weak-key=yes"}, "--allow-weak-key takes no value"},
      {{"--no-such-flag", "1"}, "unknown option '--no-such-flag'"},
  };
  for (const auto& [args, message] : bad) {
    std::vector<std::string> argv = {"--authkey", "abc"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = check(argv);
    INFO(args[0] << ": " << p->err());
    CHECK(p->wait() == 2);
    CHECK_THAT(p->err(), Catch::Contains(message));
    CHECK(p->out().find("configuration OK") == std::string::npos);
  }
  // The limits themselves are valid.
  auto ok = check({"--authkey", "abc", "--max-frame", "1024", "--max-connections", "1",
                   "--handshake-timeout", "100", "--busy-poll-us", "0", "--auth-failure-burst", "0",
                   "--compact-percent", "0"});
  INFO(ok->err());
  CHECK(ok->wait() == 0);
  CHECK_THAT(ok->out(), Catch::Contains("configuration OK"));
}

SCENARIO("depot-manager takes --opt=value wherever it takes --opt value", "[daemon]") {
  auto p = check({"--authkey=abc", "--address=127.0.0.1:0", "--max-connections=5", "--fsync=no",
                  "--log-level=warn"});
  INFO(p->err());
  REQUIRE(p->wait() == 0);
  REQUIRE_THAT(p->out(), Catch::Contains("configuration OK: 127.0.0.1:0"));
  AND_THEN("a manager started that way serves") {
    Process m(
        {bin("depot-manager"), "--address=127.0.0.1:0", "--authkey=abc", "--max-connections=5"});
    REQUIRE(test::eventually(
        [&] { return m.out().find("ready") != std::string::npos || !m.running(); }));
    REQUIRE(m.running());
    m.kill(SIGTERM);
    REQUIRE(m.wait() == 0);
  }
}

SCENARIO("depot-manager refuses conflicting key sources", "[daemon]") {
  TempFile key("a-key-from-a-file\n", "key");
  auto both = check({"--authkey", "abc", "--authkey-file", key.path});
  CHECK(both->wait() == 2);
  CHECK_THAT(both->err(), Catch::Contains("--authkey and --authkey-file"));
  auto gen = check({"--generate-authkey", "--authkey", "abc"});
  CHECK(gen->wait() == 2);
  CHECK_THAT(gen->err(), Catch::Contains("--generate-authkey makes a key"));
  auto gen_file = check({"--generate-authkey", "--authkey-file", key.path});
  CHECK(gen_file->wait() == 2);
  auto alone = check({"--generate-authkey"});
  CHECK(alone->wait() == 0);
}

SCENARIO("depot-manager reads a configuration file whose keys are its flags", "[daemon]") {
  GIVEN("a file with a few keys") {
    TempFile conf(
        "# a comment\n"
        "address = 127.0.0.1:0\n"
        "max-connections = 100\n"
        "fsync = everysec\n"
        "authkey = from-the-file\n");
    WHEN("it is checked") {
      auto p = check({"--config", conf.path});
      INFO(p->err());
      THEN("it is accepted") {
        REQUIRE(p->wait() == 0);
        REQUIRE_THAT(p->out(), Catch::Contains("configuration OK: 127.0.0.1:0"));
      }
    }
    WHEN("a manager starts with it and a flag overrides a key") {
      Process m({bin("depot-manager"), "--config=" + conf.path, "--authkey", "from-the-flag",
                 "--address", "127.0.0.1:0"});
      REQUIRE(test::eventually(
          [&] { return m.out().find("ready") != std::string::npos || !m.running(); }));
      INFO(m.err());
      REQUIRE(m.running());
      std::smatch mt;
      const std::string out = m.out();
      REQUIRE(std::regex_search(out, mt, std::regex("listening on 127.0.0.1:(\\d+)")));
      const uint16_t port = static_cast<uint16_t>(std::stoi(mt[1]));
      THEN("the flag's key is the one clients need") {
        test::RawConn good(port);
        (void)good;
        Process w({bin("task_worker"), "--address", "127.0.0.1:" + std::to_string(port),
                   "--authkey", "from-the-flag", "--work-ms", "0"});
        REQUIRE(w.wait() == 0);
        Process bad({bin("task_worker"), "--address", "127.0.0.1:" + std::to_string(port),
                     "--authkey", "from-the-file", "--work-ms", "0"});
        REQUIRE(bad.wait() != 0);
      }
      m.kill(SIGTERM);
      m.wait();
    }
  }
  GIVEN("a file with an unknown key") {
    TempFile conf("address = 127.0.0.1:0\n\nmax-conections = 100\n");
    auto p = check({"--config", conf.path, "--authkey", "abc"});
    THEN("it is refused with the file, the line, the key and what to do") {
      REQUIRE(p->wait() == 2);
      REQUIRE_THAT(p->err(), Catch::Contains(conf.path + ":3: max-conections: unknown key") &&
                                 Catch::Contains("--help lists them"));
    }
  }
  GIVEN("a file with a value out of range") {
    TempFile conf("max-frame = 0\n");
    auto p = check({"--config", conf.path, "--authkey", "abc"});
    THEN("it is refused with the file, the line, the key and the range") {
      REQUIRE(p->wait() == 2);
      REQUIRE_THAT(p->err(),
                   Catch::Contains(conf.path + ":1: max-frame takes a whole number from 1024"));
    }
  }
  GIVEN("a file that sets a key twice over, or a command-line-only key") {
    TempFile two("authkey = abc\nauthkey-file = /nonexistent\n");
    auto p = check({"--config", two.path});
    CHECK(p->wait() == 2);
    CHECK_THAT(p->err(), Catch::Contains(two.path + ": authkey, authkey-file and "
                                                    "generate-authkey each give the key"));
    TempFile nested("config = other.conf\n");
    auto q = check({"--config", nested.path, "--authkey", "abc"});
    CHECK(q->wait() == 2);
    CHECK_THAT(q->err(), Catch::Contains("give --config on the command line"));
    TempFile flag("allow-weak-key = perhaps\n");
    auto r = check({"--config", flag.path, "--authkey", "abc"});
    CHECK(r->wait() == 2);
    CHECK_THAT(r->err(), Catch::Contains("allow-weak-key takes true or false"));
  }
  GIVEN("a key source on the command line and another in the file") {
    TempFile conf("authkey-file = /nonexistent/key\n");
    auto p = check({"--config", conf.path, "--authkey", "abc"});
    THEN("the command line's replaces the file's") {
      INFO(p->err());
      REQUIRE(p->wait() == 0);
    }
  }
  GIVEN("a file that does not exist") {
    auto p = check({"--config", "/nonexistent/depot.conf", "--authkey", "abc"});
    REQUIRE(p->wait() == 2);
    REQUIRE_THAT(p->err(), Catch::Contains("cannot read the configuration file "
                                           "/nonexistent/depot.conf"));
  }
}

SCENARIO("--check-config checks the files the options name", "[daemon]") {
  TempFile bad_acl("user alice\n  nonsense here\n", "acl");
  auto acl = check({"--acl-file", bad_acl.path});
  CHECK(acl->wait() == 2);
  CHECK_THAT(acl->err(), Catch::Contains(bad_acl.path));
  auto tls = check({"--authkey", "abc", "--tls-cert", "/nonexistent/cert.pem", "--tls-key",
                    "/nonexistent/key.pem"});
  CHECK(tls->wait() == 2);
  CHECK_THAT(tls->err(), Catch::Contains("cannot read /nonexistent/cert.pem"));
  TempFile not_a_dir("x", "file");
  auto dir = check({"--authkey", "abc", "--data-dir", not_a_dir.path});
  CHECK(dir->wait() == 2);
  CHECK_THAT(dir->err(), Catch::Contains("is not a directory"));
}

SCENARIO("packaging/depot.conf is valid as shipped, and each commented key is a valid one",
         "[daemon]") {
  const std::string conf = std::string(DEPOT_BUILD_DIR) + "/packaging/depot.conf";
  auto p = check({"--config", conf}, {"DEPOT_AUTHKEY=a-key-of-at-least-16-bytes"});
  INFO(p->err());
  REQUIRE(p->wait() == 0);
  // Uncommented, every "# key = value" line is accepted too (the defaults it documents).
  std::ifstream in(conf);
  std::string line, all;
  const std::regex commented("^# ([a-z-]+) = (.*)$");
  int keys = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, commented) && m[2] != "...") {
      const std::string key = m[1];
      if (key == "authkey" || key == "authkey-file" || key == "generate-authkey" ||
          key == "acl-file" || key.rfind("tls-", 0) == 0 || key == "data-dir")
        continue;  // these name files or key sources, tested above
      all += key + " = " + std::string(m[2]) + "\n";
      ++keys;
    }
  }
  CHECK(keys >= 19);
  TempFile uncommented(all);
  auto q = check({"--config", uncommented.path, "--authkey", "abc"});
  INFO(all << q->err());
  REQUIRE(q->wait() == 0);
}

SCENARIO("the systemd unit's command line is one depot-manager accepts", "[daemon]") {
  const std::string dir = std::string(DEPOT_BUILD_DIR) + "/packaging/";
  const std::string unit = slurp(dir + "depot-manager.service");
  REQUIRE_FALSE(unit.empty());
  // What the brief of a service asks of it: its own user, a data directory, the key from a
  // root-only environment file, restarts on failure but not on a configuration error.
  for (const char* line : {"DynamicUser=yes", "StateDirectory=depot", "Restart=on-failure",
                           "RestartPreventExitStatus=2", "NoNewPrivileges=yes",
                           "ProtectSystem=strict", "ExecReload=/bin/kill -HUP $MAINPID"})
    CHECK_THAT(unit, Catch::Contains(std::string("\n") + line + "\n"));
  std::smatch m;
  REQUIRE(std::regex_search(unit, m, std::regex("\nEnvironmentFile=(\\S+)\n")));
  const std::string env_file = m[1];
  REQUIRE(std::regex_search(unit, m, std::regex("\nExecStart=(.*)\n")));
  std::istringstream words(m[1].str());
  std::vector<std::string> argv;
  for (std::string w; words >> w;) argv.push_back(w);
  REQUIRE(argv.size() >= 2);
  // Installed paths become this build's: the program, the files of packaging/, a data dir.
  CHECK(argv[0].size() > 14);
  CHECK(argv[0].substr(argv[0].size() - 14) == "/depot-manager");
  const std::string sysconf = env_file.substr(0, env_file.rfind('/') + 1);
  const std::string state = "/tmp/depot-daemon-state-" + std::to_string(::getpid());
  std::vector<std::string> args;
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string a = argv[i];
    if (a.rfind(sysconf, 0) == 0) a = dir + a.substr(sysconf.size());
    if (a == "${STATE_DIRECTORY}") a = state;
    args.push_back(a);
  }
  // The environment file as shipped names the variable; with a key filled in it serves.
  const std::string env = slurp(dir + "depot.env");
  REQUIRE(std::regex_search(env, m, std::regex("\n(DEPOT_AUTHKEY)=\n")));
  auto empty_key = check(args, {"DEPOT_AUTHKEY="});
  CHECK(empty_key->wait() == 2);  // refused, and RestartPreventExitStatus=2 stops the loop
  auto p = check(args, {"DEPOT_AUTHKEY=0123456789abcdef0123456789abcdef"});
  INFO(p->err());
  REQUIRE(p->wait() == 0);
  REQUIRE_THAT(p->out(), Catch::Contains("configuration OK") && Catch::Contains(state));
}

SCENARIO("every program answers --help and --version with the project's version", "[daemon]") {
  for (const char* program :
       {"depot-manager", "depot-cli", "depot-check-log", "depot-benchmark", "quickstart",
        "task_master", "task_worker", "task_pool", "futures_sum", "counter_lock", "config_watch",
        "pubsub_fanout", "barrier_phases", "web_fib", "streams_tour", "streams_distributed",
        "actor_cookbook"}) {
    INFO(program);
    Process v({bin(program), "--version"});
    CHECK(v.wait() == 0);
    CHECK_THAT(v.out(), Catch::Contains(program) && Catch::Contains(DEPOT_VERSION));
    Process h({bin(program), "--help"});
    CHECK(h.wait() == 0);
    CHECK_THAT(h.out(), Catch::Contains("usage", Catch::CaseSensitive::No));
  }
}

SCENARIO("systemd-analyze verify finds nothing wrong with the unit", "[daemon]") {
  const std::string tool = "/usr/bin/systemd-analyze";
  if (::access(tool.c_str(), X_OK) != 0) {
    WARN("systemd-analyze is not installed (Debian's systemd package): not verified");
    return;
  }
  // The configured unit, with the program and the environment file of this build (verify
  // checks that the program exists).
  const std::string dir = std::string(DEPOT_BUILD_DIR) + "/packaging/";
  std::string unit = slurp(dir + "depot-manager.service");
  unit = std::regex_replace(unit, std::regex("(ExecStart=)\\S+"), "$1" + bin("depot-manager"));
  unit = std::regex_replace(unit, std::regex("EnvironmentFile=\\S+"),
                            "EnvironmentFile=" + dir + "depot.env");
  const std::string scratch = "/tmp/depot-unit-" + std::to_string(::getpid());
  ::mkdir(scratch.c_str(), 0700);
  const std::string path = scratch + "/depot-manager.service";
  std::ofstream(path) << unit;
  Process v({tool, "verify", path});
  const int code = v.wait();
  INFO(v.out() << v.err());
  CHECK(code == 0);
  CHECK(v.err().empty());  // parse warnings go to stderr with exit code 0
  ::unlink(path.c_str());
  ::rmdir(scratch.c_str());
}
