// Command-line handling shared by the samples: --address [tls://]HOST:PORT, --authkey KEY,
// --authkey-file FILE, or the DEPOT_AUTHKEY environment variable; --user NAME or DEPOT_USER
// for a manager with an ACL file; --name NAME, the client name the manager shows; for TLS
// --tls-ca FILE, --tls-cert FILE and --tls-key FILE (docs/security.md). Every option may also
// be written --name=VALUE; --version prints the version; --give-up-ms MS and --wait-forever say
// how long to keep reconnecting to a manager that is gone. A bad argument prints `program:
// what is wrong` and the usage, and exits 2.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "depot/auth/auth.h"
#include "depot/client/client.h"
#include "depot/manager/manager.h"
#include "depot/protocol/version.h"

namespace sample {

// Printed under every sample's own usage text by --help.
inline const char* kConnectionHelp = R"(
Connecting (every sample that takes --address):
  --address HOST:PORT     the manager; tls://HOST:PORT for a manager that serves TLS
  --tls-ca FILE           TLS: the CA the manager's certificate must chain to
  --tls-cert FILE         TLS: a client certificate, for a manager that asks for one ...
  --tls-key FILE          ... and its key
  --name NAME             the name the manager shows for this program's connections (in
                          LIST, the dashboard and its log); default: program name and pid
  (else DEPOT_TLS_CA, DEPOT_TLS_CERT and DEPOT_TLS_KEY, which the client library reads)
  --user NAME             the user to authenticate as (else DEPOT_USER; docs/security.md)
  --give-up-ms MS         stop trying to reach a manager that is gone after MS (default
                          60000: ClientOptions::reconnect_give_up); then exit 1
  --wait-forever          keep trying to reach the manager, however long it is gone
  --version               print the version and exit
  (any --name VALUE may be written --name=VALUE)
)";

// The program's name for messages: argv[0] without its directory.
inline std::string program_name(const char* argv0) {
  std::string p = argv0 ? argv0 : "sample";
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// Prints `program: msg` and the usage to stderr and exits 2 (bad usage).
[[noreturn]] inline void usage_error(const std::string& program, const std::string& msg,
                                     const std::string& usage) {
  std::cerr << program << ": " << msg << "\n" << usage;
  std::exit(2);
}

// "Forever" for ClientOptions::reconnect_give_up: a century, which no deadline arithmetic
// overflows.
inline constexpr std::chrono::milliseconds kForever = std::chrono::hours(24 * 365 * 100);

struct Args {
  std::string program;  // for messages
  std::string usage;
  std::string address = "127.0.0.1:5000";
  bool address_given = false;  // --address was on the command line
  std::string authkey;
  std::string user;                          // empty: the default user
  std::map<std::string, std::string> extra;  // other --name value pairs; flags map to "1"
  bool has(const std::string& k) const { return extra.count(k) != 0; }
  std::string get(const std::string& k, const std::string& dflt) const {
    auto it = extra.find(k);
    return it == extra.end() ? dflt : it->second;
  }
  // --k as a whole number (dflt when absent); exits 2 naming the option when it is not one.
  long num(const std::string& k, long dflt) const {
    const std::string v = get(k, std::to_string(dflt));
    try {
      size_t pos = 0;
      const long n = std::stol(v, &pos);
      if (pos == v.size()) return n;
    } catch (const std::exception&) {
    }
    usage_error(program, "--" + k + " needs a whole number, got '" + v + "'", usage);
  }
  // How long a call keeps reconnecting before it throws ConnectionError (--give-up-ms,
  // --wait-forever), as ClientOptions::reconnect_give_up.
  std::chrono::milliseconds give_up = depot::ClientOptions().reconnect_give_up;
  bool wait_forever = false;
  // The options every client of the program uses: the user and the give-up time.
  depot::ClientOptions client_options() const {
    depot::ClientOptions o;
    o.user = user;
    o.reconnect_give_up = give_up;
    return o;
  }
};

// `flags` lists options that take no value (e.g. "--embedded"). With `may_embed`, a program
// given no --address runs a manager of its own (embed_unless_address_given) and so needs
// no key from the user.
inline Args parse(int argc, char** argv, const std::string& usage,
                  std::initializer_list<std::string> flags = {}, bool may_embed = false) {
  Args a;
  a.program = program_name(argc > 0 ? argv[0] : nullptr);
  a.usage = usage;
  depot::auth::KeySources keys;
  std::optional<std::string> user;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::cout << usage << kConnectionHelp;
      std::exit(0);
    }
    if (k == "--version") {
      std::cout << a.program << " (depot " << depot::version() << ")\n";
      std::exit(0);
    }
    if (k.rfind("--", 0) != 0 || k.size() == 2)
      usage_error(a.program, "unexpected argument '" + k + "'", usage);
    std::optional<std::string> value;  // --name=VALUE
    if (const size_t eq = k.find('='); eq != std::string::npos) {
      value = k.substr(eq + 1);
      k.resize(eq);
    }
    bool is_flag = k == "--wait-forever";
    for (auto& f : flags) is_flag = is_flag || f == k;
    if (is_flag) {
      if (value) usage_error(a.program, k + " takes no value", usage);
      if (k == "--wait-forever") a.wait_forever = true;
      // (GCC 12 at -O3 warns falsely on assigning a literal here: PR105651.)
      a.extra.insert_or_assign(k.substr(2), std::string(1, '1'));
      continue;
    }
    if (!value) {
      if (i + 1 >= argc) usage_error(a.program, k + " needs a value", usage);
      value = argv[++i];
    }
    const std::string v = *value;
    if (k == "--address") {
      a.address = v;
      a.address_given = true;
    } else if (k == "--authkey")
      keys.key = v;
    else if (k == "--authkey-file")
      keys.file = v;
    else if (k == "--user")
      user = v;
    // TLS files go where every depot::Client of the process (and the workers it starts)
    // looks when its address is tls:// and its options name no file.
    else if (k == "--tls-ca")
      ::setenv("DEPOT_TLS_CA", v.c_str(), 1);
    else if (k == "--tls-cert")
      ::setenv("DEPOT_TLS_CERT", v.c_str(), 1);
    else if (k == "--tls-key")
      ::setenv("DEPOT_TLS_KEY", v.c_str(), 1);
    else if (k == "--name")
      ::setenv("DEPOT_CLIENT_NAME", v.c_str(), 1);
    else
      a.extra[k.substr(2)] = v;
  }
  try {
    if (auto key = depot::auth::find_authkey(keys)) a.authkey = *key;  // as depot-manager does
  } catch (const std::exception& e) {
    usage_error(a.program, e.what(), usage);
  }
  a.user = depot::auth::find_user(user);
  if (a.has("give-up-ms")) {
    const long ms = a.num("give-up-ms", 0);
    if (ms < 1) usage_error(a.program, "--give-up-ms takes 1 or more", usage);
    if (a.wait_forever) usage_error(a.program, "pass --give-up-ms or --wait-forever", usage);
    a.give_up = std::chrono::milliseconds(ms);
  }
  if (a.wait_forever) a.give_up = kForever;
  if (a.authkey.empty() && may_embed && !a.address_given) a.authkey = "depot-sample-key";
  if (a.authkey.empty())
    usage_error(a.program,
                "no authkey: pass --authkey KEY, --authkey-file FILE or set DEPOT_AUTHKEY", usage);
  return a;
}

// Runs a sample's body and turns what it throws into `program: message` on stderr and exit
// code 1 (an uncaught exception would abort the program with std::terminate).
inline int run_main(const std::string& program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const depot::AuthError& e) {
    std::cerr << program << ": " << e.what() << " (check --authkey and --user)\n";
  } catch (const depot::ConnectionError& e) {
    std::cerr << program << ": " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
  }
  return 1;
}

// Watches a client that runs unattended (a worker serving forever): once it has been without
// a connection to the manager for `give_up`, calls `on_give_up` (e.g. Worker::stop) once.
// gave_up() then says so, and message() says what happened for the program to print.
class GiveUpWatch {
 public:
  GiveUpWatch(depot::Client& client, std::chrono::milliseconds give_up,
              std::function<void()> on_give_up)
      : client_(client), give_up_(give_up), on_give_up_(std::move(on_give_up)) {
    thread_ = std::thread([this] { watch(); });
  }
  ~GiveUpWatch() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  GiveUpWatch(const GiveUpWatch&) = delete;
  GiveUpWatch& operator=(const GiveUpWatch&) = delete;
  bool gave_up() const { return gave_up_.load(); }
  std::string message() const {
    return "the manager at " + client_.address() + " has been unreachable for " +
           std::to_string(give_up_.count()) +
           " ms; giving up (--give-up-ms MS waits longer, --wait-forever for ever)";
  }

 private:
  void watch() {
    using clock = std::chrono::steady_clock;
    std::optional<clock::time_point> lost_since;
    std::unique_lock lk(mu_);
    while (!done_) {
      cv_.wait_for(lk, std::chrono::milliseconds(100));
      if (done_) break;
      if (client_.connected()) {
        lost_since.reset();
        continue;
      }
      if (!lost_since) lost_since = clock::now();
      if (clock::now() - *lost_since >= give_up_) {
        gave_up_ = true;
        on_give_up_();
        break;
      }
    }
  }
  depot::Client& client_;
  std::chrono::milliseconds give_up_;
  std::function<void()> on_give_up_;
  std::atomic<bool> gave_up_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// When no --address was given, starts a manager inside this process on a free port (so the
// sample runs anywhere) and points a.address at it; the manager stops when the returned
// pointer goes away. Returns nullptr when an address was given.
inline std::unique_ptr<depot::Manager> embed_unless_address_given(Args& a) {
  if (a.address_given) return nullptr;
  depot::ManagerOptions opts;
  opts.address = "127.0.0.1:0";
  opts.authkey = a.authkey;
  depot::log::set_level(depot::log::Level::WARN);
  auto manager = std::make_unique<depot::Manager>(opts);
  manager->start();
  a.address = manager->address();
  return manager;
}

}  // namespace sample
