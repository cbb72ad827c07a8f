// depot-cli: the manager's objects from a shell, in the spirit of redis-cli.
//
//   depot-cli [-a [tls://]HOST:PORT] [-k KEY | --authkey-file FILE] [--tls-ca F ...] COMMAND
//   ARGS...
//
// One command per run, one connection per run. Values are the raw bytes of the arguments
// (RawQueue, RawVariable, Topic<std::string>), so `depot-cli put tasks 42` feeds a C++
// RemoteQueue<int>: the arithmetic codec is decimal text (client/codec.h).
//
// The exit code is the interface for scripts (docs/cli.md): 0 done, 1 nothing to get, no
// room to put, not acquired, not set, not held: "not now" (empty, full, timeout); 2 the
// command line is wrong, 3 the manager cannot be reached or refused the authkey, 4 the
// manager refused the request for another reason. Messages go to stderr as
// "depot-cli: <the manager's message>"; stdout carries only results, so
// `item=$(depot-cli get q --timeout 1)` captures the item and nothing else.
//
// `lock acquire` and `semaphore acquire` hold what they got while they run: until --hold
// passes or SIGINT/SIGTERM arrives, then they release it and exit 0. A hold lost with the
// connection (the manager restarted or went away) ends them at once with exit 3 and a line
// saying so, instead of at the release, while another holder may already have it. Other
// commands note on stderr when the connection is lost and when it is back. `subscribe` runs until
// --count messages came or SIGINT/SIGTERM. Both take those signals on a thread of their own
// (sigwait), since the client's blocking calls cannot be interrupted.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "depot/auth/auth.h"
#include "depot/client/client.h"
#include "depot/client/coord_requests.h"
#include "depot/client/msgpack_text.h"
#include "depot/protocol/address.h"
#include "depot/protocol/version.h"

#include "cli.h"
#include "inspect_view.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitEmpty = 1;  // empty, timeout, full, not acquired: "not now", not a failure
constexpr int kExitUsage = 2;
constexpr int kExitConnection = 3;  // cannot connect, connection lost, wrong authkey
constexpr int kExitError = 4;       // any other error the manager (or the client) reported

// The longest --timeout (or --hold, --ttl) accepted: ~31 years, far below the int64
// nanoseconds (292 years) the client converts it to. Waiting longer than this is waiting
// forever: omit the option.
constexpr double kMaxSeconds = 1e9;
// monitor's lines a second unless --max-rate: more than anyone reads, and few enough that an
// attached monitor costs the manager's clients nothing measurable (bench/RESULTS.md 12).
constexpr uint32_t kMonitorLinesPerSecond = 1000;

const char* kUsage =
    R"(usage: depot-cli [-a [tls://]HOST:PORT] [-k KEY | --authkey-file FILE] [--tls-ca FILE]
                 [--raw] [COMMAND [ARGS...]]

Talks to a depot manager: one command per run, results on stdout, errors on stderr.
Without a command (from a terminal, a pipe or a file, or with -i): interactive, one command
per line on one connection (history in ~/.depot_history); "help", "quit".

Queues:
  put QUEUE VALUE [VALUE...] [--timeout S]   append the values (several: one put_many);
                                             waits while the queue is full
  get QUEUE [--timeout S] [--count N] [--format F]
                                             take the first item (up to N items with --count)
                                             and print each followed by a newline; waits
                                             for one to arrive
  qsize QUEUE                                print the number of items in the queue
  declare QUEUE [--maxsize N]                create the queue bounded to N items (0 = unbounded)
  delete QUEUE                               delete the queue; print how many items it dropped

Reliable delivery (docs/queues.md; a reservation lives as long as its session: hold it in
interactive mode, or keep `reserve` running and ack from anywhere):
  reserve QUEUE [--lease-ms N] [--timeout S] [--hold S]
                                             take the first item as a reservation and print
                                             "ID VALUE"; interactive: keep it until acked; one
                                             command: hold it until --hold or SIGINT/SIGTERM
  ack QUEUE ID [ID...]                       done with it: the item is gone for good
  nack QUEUE ID [--delay-ms N]               give it back (after N ms); print requeued or
                                             dead-lettered
  touch QUEUE ID [--lease-ms N]              extend the reservation by N ms (or the queue's
                                             visibility)

Locks and semaphores (held until --hold S passes, or until SIGINT/SIGTERM; then released):
  lock acquire NAME [--timeout S] [--hold S] [--ttl S]
                                             wait for the lock, print its fencing token,
                                             hold it, release it
  lock release NAME                          force the lock free whoever holds it (operator
                                             tool); print the fencing token it broke
  semaphore acquire NAME MAX [--timeout S] [--hold S]
                                             take one of MAX leases, print its id, hold it,
                                             release it

Events and barriers:
  event set NAME                             set the event (wakes every waiter)
  event clear NAME                           clear it
  event wait NAME [--timeout S]              wait until the event is set
  event is-set NAME                          exit 0 if the event is set, 1 if not
  barrier wait NAME PARTIES [--timeout S]    wait until PARTIES parties arrived; print this
                                             one's arrival index (0 = first)
  barrier reset NAME                         make a broken barrier usable again

Variables and counters:
  var set NAME VALUE                         set the value; print its new version
  var get NAME [--timeout S] [--format F]    print the value; waits until there is one
  var wait NAME --after V [--timeout S]      wait until the version is above V; print
                                             "VERSION VALUE", or "VERSION" alone if the
                                             change was a delete
  var delete NAME                            remove the value; print the new version
  counter add NAME N                         add N (may be negative); print the new value
  counter get NAME                           print the value

Publish/subscribe:
  publish TOPIC MESSAGE                      print how many subscribers took the message
  subscribe PATTERN [--count N] [--timeout S] [--format F]
                                             print each message on its own line as it
                                             arrives; "depot-cli: subscribed to ..." goes to
                                             stderr once messages are being received

Any object:
  rm NAME                                    delete any object; print its type
  ls                                         list every object: name, type, size, state
  ping                                       print PONG and the round trip time
  stats                                      print the manager's counters as JSON
  stat [-i S] [-c N]                         print rates every S seconds (default 1), N lines
  monitor [--count N] [--timeout S] [--max-rate N|all]
                                             print a line per request the manager serves:
                                             time, [session client], op, object, sizes,
                                             status; never values (admin permission); at
                                             most N a second (default 1000), the rest
                                             counted in a line of their own

Who holds what (admin on "*"; docs/operations.md):
  clients                                    one line per session: id, address, name, user,
                                             age, requests, what it holds, what it waits for
  workers POOL                               an executor pool: its tasks, one line per
                                             worker (what it runs, its actors), per actor

Options:
  -a, --address HOST:PORT   the manager (default 127.0.0.1:5000); tls://HOST:PORT for TLS
      --tls-ca FILE         TLS: the CA the manager's certificate must chain to (else
                            $DEPOT_TLS_CA, else the system's trust store)
      --tls-cert FILE       TLS: a client certificate, for a manager that asks for one
      --tls-key FILE        ... and its key (else $DEPOT_TLS_CERT and $DEPOT_TLS_KEY)
  -k, --authkey KEY         the shared secret (else --authkey-file, else $DEPOT_AUTHKEY)
      --authkey-file FILE   read the key from FILE (one trailing newline is ignored)
  -u, --user NAME           the user of a manager with an ACL file, whose key -k gives
                            (else $DEPOT_USER; without either: the default user)
      --name NAME           the client name the manager shows for this connection (LIST,
                            dashboard, log); else $DEPOT_CLIENT_NAME, else depot-cli-PID
      --timeout S           seconds to wait, fractions allowed (0.5); 0 = do not wait at all;
                            without it every command waits as long as it takes
      --hold S              seconds to hold a lock or lease before releasing it (0 = release
                            at once); without it: until SIGINT or SIGTERM
      --ttl S               the lock's lease: the manager frees it by itself after S seconds
      --after V             var wait: wait for a version above V (0: for any value)
      --count N             get: up to N items in one request; subscribe: exit after N
      --maxsize N           the bound for declare
      --raw                 print values exactly as they are, also on a terminal (there,
                            values that are not text are shown quoted, "\x00\xff")
  -i, --interactive         read commands line by line even without a terminal
      --lease-ms N          reserve, touch: the reservation's visibility in milliseconds
      --delay-ms N          nack: put the item back after N milliseconds
      --format F            how get, var get and subscribe print a value: auto (default):
                            a MessagePack array or map (what a C++ std::vector, std::map,
                            tuple or DEPOT_FIELDS struct, or Python's codec="msgpack", puts)
                            as JSON-like text, anything else as it is; msgpack: any
                            MessagePack value as text, an error for other bytes; raw: the
                            bytes as they are. In the text a bin is h"00ff" (hex)
      --                    the arguments after it are values, even if they start with '-'
  -h, --help                this text
  --version                 print the version and exit
  (every --name VALUE may also be written --name=VALUE)

Exit codes:
  0  done (also: a holder or subscriber ended by SIGINT/SIGTERM)
  1  not now: the queue was empty (get) or full (put), the lock or lease was not acquired,
     the event not set, the variable had no value or did not change, no message came,
     the barrier did not fill - at once or until --timeout; lock release: it was not held
  2  usage error: unknown command or option, missing or malformed argument
  3  cannot connect to the manager, or it refused the authkey (or the user)
  4  any other error (also DENIED: the user lacks the permission) from the manager (wrong type, not found, conflicting declare, a broken
     barrier, a hold that was lost before its release, ...)
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The request was served but had nothing to give ("not acquired", "not set"): exit 1.
struct NotNow : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bits of Command::options: which of the command options a command accepts.
constexpr unsigned kOptTimeout = 1, kOptCount = 2, kOptMaxsize = 4, kOptHold = 8, kOptTtl = 16,
                   kOptAfter = 32, kOptFormat = 64, kOptLease = 128, kOptDelay = 256,
                   kOptInterval = 512, kOptMaxRate = 1024;

// How a value is printed (--format): docs/protocol.md, "Value encodings".
enum class Format { Auto, MsgPack, Raw };
Format g_format = Format::Auto;
// Values that are not text are shown quoted (cli::quote) when stdout is a terminal (or
// --tty, for tests), unless --raw.
bool g_escape = false;
// Interactive mode: commands run on one connection, and `reserve` does not hold.
bool g_interactive = false;

struct Command {
  std::string_view name;  // "lock acquire": a group and its subcommand
  size_t min_args;
  size_t max_args;  // SIZE_MAX: any number
  unsigned options;
  std::string_view synopsis;
  bool takes_signals = false;  // ends on SIGINT/SIGTERM itself (a hold, a subscription)
};

constexpr Command kCommands[] = {
    {"put", 2, SIZE_MAX, kOptTimeout, "put QUEUE VALUE [VALUE...] [--timeout S]"},
    {"get", 1, 1, kOptTimeout | kOptCount | kOptFormat,
     "get QUEUE [--timeout S] [--count N] [--format auto|msgpack|raw]"},
    {"qsize", 1, 1, 0, "qsize QUEUE"},
    {"declare", 1, 1, kOptMaxsize, "declare QUEUE [--maxsize N]"},
    {"delete", 1, 1, 0, "delete QUEUE"},
    {"lock acquire", 1, 1, kOptTimeout | kOptHold | kOptTtl,
     "lock acquire NAME [--timeout S] [--hold S] [--ttl S]", true},
    {"lock release", 1, 1, 0, "lock release NAME"},
    {"semaphore acquire", 2, 2, kOptTimeout | kOptHold,
     "semaphore acquire NAME MAX [--timeout S] [--hold S]", true},
    {"event set", 1, 1, 0, "event set NAME"},
    {"event clear", 1, 1, 0, "event clear NAME"},
    {"event wait", 1, 1, kOptTimeout, "event wait NAME [--timeout S]"},
    {"event is-set", 1, 1, 0, "event is-set NAME"},
    {"barrier wait", 2, 2, kOptTimeout, "barrier wait NAME PARTIES [--timeout S]"},
    {"barrier reset", 1, 1, 0, "barrier reset NAME"},
    {"var set", 2, 2, 0, "var set NAME VALUE"},
    {"var get", 1, 1, kOptTimeout | kOptFormat,
     "var get NAME [--timeout S] [--format auto|msgpack|raw]"},
    {"var wait", 1, 1, kOptTimeout | kOptAfter, "var wait NAME --after VERSION [--timeout S]"},
    {"var delete", 1, 1, 0, "var delete NAME"},
    {"counter add", 2, 2, 0, "counter add NAME N"},
    {"counter get", 1, 1, 0, "counter get NAME"},
    {"publish", 2, 2, 0, "publish TOPIC MESSAGE"},
    {"subscribe", 1, 1, kOptTimeout | kOptCount | kOptFormat,
     "subscribe PATTERN [--count N] [--timeout S] [--format auto|msgpack|raw]", true},
    {"rm", 1, 1, 0, "rm NAME"},
    {"ls", 0, 0, 0, "ls"},
    {"ping", 0, 0, 0, "ping"},
    {"stats", 0, 0, 0, "stats"},
    {"stat", 0, 4, kOptInterval | kOptCount, "stat [-i SECONDS] [-c COUNT]", true},
    {"monitor", 0, 0, kOptCount | kOptTimeout | kOptMaxRate,
     "monitor [--count N] [--timeout S] [--max-rate N|all]", true},
    {"reserve", 1, 1, kOptLease | kOptTimeout | kOptHold,
     "reserve QUEUE [--lease-ms N] [--timeout S] [--hold S]", true},
    {"ack", 2, SIZE_MAX, 0, "ack QUEUE ID [ID...]"},
    {"nack", 2, 2, kOptDelay, "nack QUEUE ID [--delay-ms N]"},
    {"touch", 2, 2, kOptLease, "touch QUEUE ID [--lease-ms N]"},
    {"clients", 0, 0, 0, "clients"},
    {"workers", 1, 1, 0, "workers POOL"},
};

// The first words of the two-word commands.
constexpr std::string_view kGroups[] = {"lock", "semaphore", "event", "barrier", "var", "counter"};

struct Invocation {
  std::string address = "127.0.0.1:5000";
  std::optional<std::string> authkey;
  std::optional<std::string> authkey_file;
  std::optional<std::string> user;
  std::string name;             // --name; empty: the client's default
  depot::TlsClientOptions tls;  // --tls-ca, --tls-cert, --tls-key
  const Command* command = nullptr;
  std::vector<std::string> args;
  depot::Timeout timeout;  // nullopt: wait forever
  depot::Timeout hold;     // nullopt: until a signal
  std::chrono::milliseconds ttl{0};
  std::optional<uint64_t> after;
  std::optional<uint64_t> count;
  uint64_t maxsize = 0;
  uint32_t parties = 0;                            // semaphore MAX, barrier PARTIES
  int64_t delta = 0;                               // counter add N
  std::optional<std::chrono::milliseconds> lease;  // --lease-ms
  std::chrono::milliseconds delay{0};              // --delay-ms
  double interval = 1;                             // stat -i
  uint32_t max_rate = kMonitorLinesPerSecond;      // monitor --max-rate
  std::vector<uint64_t> ids;                       // ack, nack, touch
  bool interactive = false;                        // -i, or no command
};

const Command* find_command(std::string_view name) {
  for (const Command& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

bool is_group(std::string_view word) {
  return std::find(std::begin(kGroups), std::end(kGroups), word) != std::end(kGroups);
}

// "acquire, release" for "lock".
std::string subcommands_of(std::string_view group) {
  std::string out;
  for (const Command& c : kCommands) {
    if (c.name.size() <= group.size() || c.name.compare(0, group.size(), group) != 0 ||
        c.name[group.size()] != ' ')
      continue;
    if (!out.empty()) out += ", ";
    out += c.name.substr(group.size() + 1);
  }
  return out;
}

// Seconds with fractions ("2", "0.5") for --timeout, --hold and --ttl.
std::chrono::nanoseconds parse_seconds(const std::string& flag, const std::string& v) {
  double s = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || !std::isfinite(s) || s < 0)
    throw UsageError(flag + " takes seconds >= 0 (e.g. 2 or 0.5), got '" + v + "'");
  if (s > kMaxSeconds) throw UsageError(flag + " " + v + " is too long; omit " + flag + " instead");
  return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(s * 1e9)));
}

uint64_t parse_count(const std::string& what, const std::string& v, uint64_t min, uint64_t max) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < min || n > max)
    throw UsageError(what + " takes a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got '" + v + "'");
  return n;
}

int64_t parse_delta(const std::string& v) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    throw UsageError("counter add: N must be a whole number (may be negative), got '" + v + "'");
  return n;
}

// stat's interval: seconds with fractions, at least a millisecond.
double parse_interval(const std::string& flag, const std::string& v) {
  const double s = std::chrono::duration<double>(parse_seconds(flag, v)).count();
  if (s < 0.001) throw UsageError(flag + " takes at least 0.001 seconds, got '" + v + "'");
  return s;
}

void parse_command(Invocation& inv, const std::vector<std::string>& argv);

// Global options come before the command (so a value like "-k" can be put after it); the
// command's own options may come anywhere after the command.
Invocation parse(int argc, char** argv) {
  Invocation inv;
  int i = 1;
  std::optional<std::string> inline_global;  // --name=VALUE
  auto value = [&](const std::string& flag) -> std::string {
    if (inline_global) return *std::exchange(inline_global, std::nullopt);
    if (i + 1 >= argc) throw UsageError(flag + " needs a value");
    return argv[++i];
  };
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_global = a.substr(eq + 1);
      a.resize(eq);
    }
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(kExitOk);
    } else if (a == "--version") {
      std::cout << "depot-cli " << depot::version() << "\n";
      std::exit(kExitOk);
    } else if (a == "--raw") {
      g_format = Format::Raw;
    } else if (a == "--tty") {  // hidden: as if stdout were a terminal (tests)
      g_escape = true;
    } else if (a == "-i" || a == "--interactive") {
      inv.interactive = true;
    } else if (a == "-a" || a == "--address") {
      inv.address = value(a);
    } else if (a == "-k" || a == "--authkey") {
      inv.authkey = value(a);
    } else if (a == "--authkey-file") {
      inv.authkey_file = value(a);
    } else if (a == "-u" || a == "--user") {
      inv.user = value(a);
    } else if (a == "--name") {
      inv.name = value(a);
    } else if (a == "--tls-ca") {
      inv.tls.ca_file = value(a);
    } else if (a == "--tls-cert") {
      inv.tls.cert_file = value(a);
    } else if (a == "--tls-key") {
      inv.tls.key_file = value(a);
    } else {
      throw UsageError("unknown option '" + a + "' (options go before the command)");
    }
    if (inline_global) throw UsageError(a + " takes no value");
  }
  if (g_format != Format::Raw && ::isatty(STDOUT_FILENO)) g_escape = true;
  if (g_format == Format::Raw) g_escape = false;
  depot::proto::Address parsed;
  if (auto err = depot::proto::parse_address(inv.address, parsed); !err.empty())
    throw UsageError(err);
  if (i >= argc) {
    // Interactive: a terminal, a pipe or a file on stdin (not /dev/null), or -i.
    struct stat st {};
    const bool lines =
        ::fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode));
    if (inv.interactive || ::isatty(STDIN_FILENO) || lines) {
      inv.interactive = true;
      return inv;
    }
    throw UsageError("no command given");
  }
  parse_command(inv, std::vector<std::string>(argv + i, argv + argc));
  return inv;
}

// The command and its arguments (argv[0] is the command's first word), into `inv`: from the
// command line, or from a line of the interactive mode.
void parse_command(Invocation& inv, const std::vector<std::string>& argv) {
  const int argc = static_cast<int>(argv.size());
  int i = 0;
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= argc) throw UsageError(flag + " needs a value");
    return argv[++i];
  };
  std::string name = argv[i];
  if (is_group(name)) {
    if (i + 1 >= argc || argv[i + 1][0] == '-')
      throw UsageError(name + " needs a subcommand: " + subcommands_of(name));
    name += " ";
    name += argv[++i];
  }
  inv.command = find_command(name);
  if (!inv.command) throw UsageError("unknown command '" + name + "'");
  const Command& cmd = *inv.command;

  bool only_values = false;
  for (++i; i < argc; ++i) {
    std::string a = argv[i];
    if (only_values || a.size() < 2 || a.compare(0, 2, "--") != 0) {
      inv.args.push_back(std::move(a));  // "-5" is a value, not an option
      continue;
    }
    if (a == "--") {
      only_values = true;
      continue;
    }
    if (a == "--help") {
      if (g_interactive) throw UsageError("usage: " + std::string(cmd.synopsis));
      std::cout << kUsage;
      std::exit(kExitOk);
    }
    // --flag=value or --flag value
    std::string flag = a;
    std::optional<std::string> inline_value;
    if (auto eq = a.find('='); eq != std::string::npos) {
      flag = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
    }
    auto take = [&]() { return inline_value ? *inline_value : value(flag); };
    unsigned which = flag == "--timeout"      ? kOptTimeout
                     : flag == "--count"      ? kOptCount
                     : flag == "--maxsize"    ? kOptMaxsize
                     : flag == "--hold"       ? kOptHold
                     : flag == "--ttl"        ? kOptTtl
                     : flag == "--after"      ? kOptAfter
                     : flag == "--format"     ? kOptFormat
                     : flag == "--lease-ms"   ? kOptLease
                     : flag == "--delay-ms"   ? kOptDelay
                     : flag == "--interval"   ? kOptInterval
                     : flag == "--max-rate"   ? kOptMaxRate
                     : flag == "--timeout-ms" ? kOptTimeout
                                              : 0;
    if (which == 0)
      throw UsageError("unknown option '" + flag + "' for " + std::string(cmd.name) +
                       " (use -- before values that start with '--')");
    if (!(cmd.options & which))
      throw UsageError(std::string(cmd.name) + " does not take " + flag +
                       "; usage: " + std::string(cmd.synopsis));
    if (which == kOptTimeout && flag == "--timeout-ms")
      inv.timeout = std::chrono::milliseconds(parse_count(flag, take(), 0, 1000000000000ull));
    else if (which == kOptTimeout)
      inv.timeout = parse_seconds(flag, take());
    if (which == kOptLease)
      inv.lease = std::chrono::milliseconds(parse_count(flag, take(), 1, 1000000000000ull));
    if (which == kOptDelay)
      inv.delay = std::chrono::milliseconds(parse_count(flag, take(), 0, 1000000000000ull));
    if (which == kOptInterval) inv.interval = parse_interval(flag, take());
    if (which == kOptMaxRate) {
      const std::string v = take();
      inv.max_rate = v == "all" ? depot::proto::kMonitorEveryRequest
                                : static_cast<uint32_t>(parse_count(flag, v, 1, UINT32_MAX - 1));
    }
    if (which == kOptHold) inv.hold = parse_seconds(flag, take());
    if (which == kOptTtl) {
      // The lease is whole milliseconds on the wire: round up, so 0.0001 is 1 ms, not none.
      const auto ns = parse_seconds(flag, take());
      inv.ttl = std::chrono::ceil<std::chrono::milliseconds>(ns);
    }
    if (which == kOptAfter) inv.after = parse_count(flag, take(), 0, UINT64_MAX);
    if (which == kOptCount) inv.count = parse_count(flag, take(), 1, UINT32_MAX);
    if (which == kOptMaxsize) inv.maxsize = parse_count(flag, take(), 0, UINT64_MAX);
    if (which == kOptFormat) {
      const std::string f = take();
      if (f == "auto")
        g_format = Format::Auto;
      else if (f == "msgpack")
        g_format = Format::MsgPack;
      else if (f == "raw")
        g_format = Format::Raw;
      else
        throw UsageError("--format takes auto, msgpack or raw, not '" + f + "'");
    }
  }
  if (cmd.name == "stat") {  // -i SECONDS and -c COUNT, as redis-cli --stat -i takes them
    std::vector<std::string> rest;
    for (size_t k = 0; k < inv.args.size(); ++k) {
      const std::string& a = inv.args[k];
      if ((a == "-i" || a == "-c") && k + 1 < inv.args.size()) {
        if (a == "-i")
          inv.interval = parse_interval("-i", inv.args[++k]);
        else
          inv.count = parse_count("-c", inv.args[++k], 1, UINT32_MAX);
      } else {
        rest.push_back(a);
      }
    }
    if (!rest.empty())
      throw UsageError("stat takes no arguments but -i SECONDS and -c COUNT, not '" + rest[0] +
                       "'; usage: " + std::string(cmd.synopsis));
    inv.args.clear();
  }
  if (inv.args.size() < cmd.min_args || inv.args.size() > cmd.max_args)
    throw UsageError(std::string(cmd.name) + ": " +
                     (inv.args.size() < cmd.min_args ? "missing" : "too many") +
                     " arguments; usage: " + std::string(cmd.synopsis));
  if (cmd.name == "semaphore acquire")
    inv.parties = static_cast<uint32_t>(parse_count("semaphore MAX", inv.args[1], 1, UINT32_MAX));
  if (cmd.name == "barrier wait")
    inv.parties = static_cast<uint32_t>(parse_count("barrier PARTIES", inv.args[1], 1, UINT32_MAX));
  if (cmd.name == "counter add") inv.delta = parse_delta(inv.args[1]);
  if (cmd.name == "var wait" && !inv.after)
    throw UsageError("var wait needs --after VERSION (0: wait for any value); usage: " +
                     std::string(cmd.synopsis));
  if (cmd.name == "ack" || cmd.name == "nack" || cmd.name == "touch")
    for (size_t k = 1; k < inv.args.size(); ++k)
      inv.ids.push_back(parse_count("reservation ID", inv.args[k], 1, UINT64_MAX));
}

// The key from -k, else --authkey-file, else $DEPOT_AUTHKEY (as depot-manager does).
std::string resolve_authkey(const Invocation& inv) {
  std::optional<std::string> key;
  try {
    key = depot::auth::find_authkey({.key = inv.authkey,
                                     .file = inv.authkey_file,
                                     .key_flag = "-k",
                                     .file_flag = "--authkey-file"});
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  if (!key) throw UsageError("no authkey: pass -k KEY, --authkey-file FILE or set DEPOT_AUTHKEY");
  return *key;
}

// ---------------------------------------------------------------- signals

// SIGINT and SIGTERM for the commands that end on them (a hold, a subscription). They are
// blocked in every thread (so start() must run before the Client starts its heartbeat
// thread) and taken by a thread of their own with sigwait, which acts by the mode:
//   Die     as if not caught: the process ends by the signal (waiting for a lock, say;
//           nothing is held yet, and the manager forgets the wait when the connection closes)
//   Notify  wake wait_for_signal() (the hold ends and is released); a second signal dies
//   Exit0   exit 0 at once, between two messages (a subscription: nothing to release)
// A signal the shell set to be ignored (`cmd &` in a script ignores SIGINT) stays ignored.
class Signals {
 public:
  enum class Mode { Die, Notify, Exit0 };

  static Signals& start() {
    static Signals* s = new Signals;  // never destroyed: its thread outlives main()
    return *s;
  }
  void set_mode(Mode m) {
    std::lock_guard lk(mu_);
    mode_ = m;
  }
  // True when a signal came (or the hold was lost: see lost()), false when `d` passed first
  // (nullopt: wait for a signal).
  bool wait_for_signal(depot::Timeout d) {
    std::unique_lock lk(mu_);
    auto came = [this] { return signal_ != 0 || !lost_.empty(); };
    if (!d) {
      cv_.wait(lk, came);
      return true;
    }
    return cv_.wait_for(lk, *d, came);
  }
  // Held while a message is written, so Exit0 never cuts one in half.
  std::timed_mutex& output() { return out_mu_; }
  // The hold ended without us (its session did): wakes wait_for_signal(). From the client's
  // background thread (Lock::on_lost), so it only records and notifies.
  void hold_lost(const std::string& why) {
    std::lock_guard lk(mu_);
    if (lost_.empty()) lost_ = why;
    cv_.notify_all();
  }
  // Why the hold was lost, if it was.
  std::optional<std::string> lost() {
    std::lock_guard lk(mu_);
    if (lost_.empty()) return std::nullopt;
    return lost_;
  }
  // Interactive mode, between two commands: back to Die, nothing received, nothing lost.
  void reset() {
    std::lock_guard lk(mu_);
    mode_ = Mode::Die;
    signal_ = 0;
    lost_.clear();
  }

 private:
  Signals() {
    sigemptyset(&set_);
    for (int sig : {SIGINT, SIGTERM}) {
      struct sigaction old {};
      if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
      sigaddset(&set_, sig);
    }
    ::pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::thread([this] { take_signals(); }).detach();
  }

  void take_signals() {
    for (;;) {
      int sig = 0;
      if (::sigwait(&set_, &sig) != 0) continue;
      std::unique_lock lk(mu_);
      if (mode_ == Mode::Notify && signal_ == 0) {
        signal_ = sig;
        cv_.notify_all();
        continue;
      }
      if (mode_ == Mode::Exit0) {
        // Wait for a message being written to be complete; a reader that stopped reading
        // does not keep us alive for long.
        const bool locked = out_mu_.try_lock_for(std::chrono::seconds(1));
        std::fflush(stdout);
        if (locked) out_mu_.unlock();
        depot::cli::restore_terminal();
        std::_Exit(kExitOk);
      }
      lk.unlock();
      depot::cli::restore_terminal();  // interactive: the line editor's raw mode ends too
      ::signal(sig, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, sig);
      ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
      ::raise(sig);  // to this thread, where it is now unblocked: the default action
    }
  }

  sigset_t set_;
  std::mutex mu_;
  std::condition_variable cv_;
  Mode mode_ = Mode::Die;
  int signal_ = 0;
  std::string lost_;
  std::timed_mutex out_mu_;
};

// ---------------------------------------------------------------- output

void print_item(std::string_view item) {
  std::fwrite(item.data(), 1, item.size(), stdout);
  std::fputc('\n', stdout);
}

// A value read from the manager as --format asks: on a terminal, one that is not text is
// quoted with escapes ("\x00\xff", as redis-cli does), unless --raw.
std::string value_text(std::string_view item) {
  if (g_format == Format::Raw) return std::string(item);
  std::string text;
  if (depot::msgpack::to_text(item, text, g_format == Format::Auto)) return text;
  if (g_format == Format::MsgPack)
    throw std::runtime_error("the value (" + std::to_string(item.size()) +
                             " bytes) is not MessagePack; print it with --format raw");
  if (g_escape && (item.empty() || !depot::cli::is_plain_text(item)))
    return depot::cli::quote(item);
  return std::string(item);
}

void print_value(std::string_view item) {
  print_item(value_text(item));
}

void print_u64(uint64_t v) {
  std::printf("%llu\n", static_cast<unsigned long long>(v));
}

// Makes what was printed so far reach the reader now (a token a script waits for); throws
// when it cannot.
void flush_stdout() {
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    throw std::runtime_error(std::string("cannot write the result to stdout: ") +
                             std::strerror(errno));
}

void print_objects(const std::vector<depot::ObjectInfo>& objects) {
  std::vector<std::string> sizes;
  size_t wn = 4, wt = 4, ws = 4;  // "NAME", "TYPE", "SIZE"
  for (const auto& o : objects) {
    sizes.push_back(std::to_string(o.size));
    wn = std::max(wn, o.name.size());
    wt = std::max(wt, o.type.size());
    ws = std::max(ws, sizes.back().size());
  }
  // Sizes are right-aligned so that digits line up; STATE is last and never padded.
  auto row = [&](const std::string& n, const std::string& t, const std::string& s,
                 const std::string& st) {
    std::string line = n + std::string(wn - n.size() + 2, ' ') + t +
                       std::string(wt - t.size() + 2, ' ') + std::string(ws - s.size(), ' ') + s +
                       "  " + st + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
  };
  row("NAME", "TYPE", "SIZE", "STATE");
  for (size_t k = 0; k < objects.size(); ++k)
    row(objects[k].name, objects[k].type, sizes[k], objects[k].state);
}

// ---------------------------------------------------------------- commands

bool no_wait(const Invocation& inv) {
  return inv.timeout && inv.timeout->count() == 0;
}

// Holds what was acquired (its id already printed) until --hold passes or a signal comes.
void hold(Signals& signals, const Invocation& inv) {
  flush_stdout();
  signals.wait_for_signal(inv.hold);
}

void lock_acquire(depot::Client& client, Signals& signals, const Invocation& inv) {
  const std::string& name = inv.args[0];
  depot::Lock lock = client.lock(name);
  if (inv.ttl.count() > 0) lock.lease(inv.ttl);
  // Set before acquiring, so no loss goes unseen: it ends the hold at once.
  lock.on_lost([&signals](const std::string& why) { signals.hold_lost(why); });
  const std::optional<uint64_t> token = inv.timeout ? lock.acquire(*inv.timeout) : lock.acquire();
  if (!token)
    throw NotNow("lock '" + name + "' " +
                 (no_wait(inv) ? "is held by another holder"
                               : "was still held by another holder when the timeout passed"));
  signals.set_mode(Signals::Mode::Notify);
  print_u64(*token);
  try {
    hold(signals, inv);
  } catch (...) {
    lock.release();
    throw;
  }
  // Lost with the connection: exit 3 now, without a release that has nothing to release.
  if (auto why = signals.lost()) throw depot::ConnectionError(*why);
  // NotOwnerError when the hold was lost meanwhile (--ttl passed, `lock release`): the
  // caller's critical section was not protected to its end.
  lock.release();
}

void semaphore_acquire(depot::Client& client, Signals& signals, const Invocation& inv) {
  const std::string& name = inv.args[0];
  depot::Semaphore sem = client.semaphore(name, inv.parties);
  sem.on_lost([&signals](const std::string& why) { signals.hold_lost(why); });
  const std::optional<uint64_t> lease = inv.timeout ? sem.acquire(*inv.timeout) : sem.acquire();
  if (!lease)
    throw NotNow("semaphore '" + name + "' " +
                 (no_wait(inv) ? "has all " + std::to_string(inv.parties) + " leases taken"
                               : "had no free lease until the timeout (all " +
                                     std::to_string(inv.parties) + " taken)"));
  signals.set_mode(Signals::Mode::Notify);
  print_u64(*lease);
  try {
    hold(signals, inv);
  } catch (...) {
    sem.release(*lease);
    throw;
  }
  if (auto why = signals.lost()) throw depot::ConnectionError(*why);
  sem.release(*lease);
}

// A forced release (token 0): frees the lock whoever holds it and replies the token broken.
void lock_release(depot::Client& client, const Invocation& inv) {
  const depot::Reply r = client.call(depot::req::lock_release(inv.args[0], 0));
  if (r.status == depot::Status::OK) {
    print_u64(depot::req::parse_lock_release(r.body).token);  // the token broken
    return;
  }
  const std::string message(depot::proto::error_message(r.body));
  // Not held, or never used (a lock that does not exist is not held either): nothing to do.
  if (r.status == depot::Status::NOT_OWNER || r.status == depot::Status::NOT_FOUND)
    throw NotNow(message);
  depot::throw_status(r.status, message);
}

void event_command(depot::Client& client, std::string_view sub, const Invocation& inv) {
  const std::string& name = inv.args[0];
  depot::Event event = client.event(name);
  if (sub == "set") {
    event.set();
  } else if (sub == "clear") {
    event.clear();
  } else if (sub == "is-set") {
    if (!event.is_set()) throw NotNow("event '" + name + "' is not set");
  } else if (sub == "wait") {
    if (!inv.timeout) {
      event.wait();
    } else if (!event.wait(*inv.timeout)) {
      throw NotNow("event '" + name + "' " +
                   (no_wait(inv) ? "is not set" : "was not set before the timeout"));
    }
  }
}

void var_command(depot::Client& client, std::string_view sub, const Invocation& inv) {
  const std::string& name = inv.args[0];
  depot::RawVariable var(client, name);
  if (sub == "set") {
    print_u64(var.set(inv.args[1]));
  } else if (sub == "get") {
    if (no_wait(inv)) {
      // get() with no time to wait reports "no value" as NotFoundError: ask try_get instead.
      auto v = var.try_get();
      if (!v || !v->value) throw NotNow("variable '" + name + "' has no value");
      print_value(*v->value);
    } else {
      print_value(*var.get(inv.timeout).value);
    }
  } else if (sub == "wait") {
    const depot::RawVersioned v = var.wait_for_change(*inv.after, inv.timeout);
    std::string line = std::to_string(v.version);
    if (v.value) {
      line += ' ';  // appended in two steps: g++ 12 -O3 warns (-Wrestrict) on " " + temporary
      line += value_text(*v.value);
    }
    print_item(line);
  } else if (sub == "delete") {
    // RawVariable::erase() does not return the new version: ask for it directly.
    const depot::Reply r = client.call(depot::req::var_delete(name));
    if (r.status == depot::Status::NOT_FOUND)
      throw NotNow(std::string(depot::proto::error_message(r.body)) + "; nothing to delete");
    if (r.status != depot::Status::OK)
      depot::throw_status(r.status, std::string(depot::proto::error_message(r.body)));
    const depot::req::VarDeleted d = depot::req::parse_var_delete(r.body);
    if (!d.existed) throw NotNow("variable '" + name + "' has no value; nothing to delete");
    print_u64(d.version);
  }
}

void subscribe(depot::Client& client, Signals& signals, const Invocation& inv) {
  const std::string& pattern = inv.args[0];
  signals.set_mode(Signals::Mode::Exit0);
  depot::RawSubscription sub(client, pattern);
  std::fprintf(stderr, "depot-cli: subscribed to '%s'\n", pattern.c_str());
  uint64_t reported_drops = 0;
  for (uint64_t n = 0; !inv.count || n < *inv.count; ++n) {
    std::optional<depot::RawMessage> m = sub.next(inv.timeout);
    if (!m)
      throw NotNow("no message on '" + pattern + "' " +
                   (no_wait(inv) ? "was waiting" : "came before the timeout") + " (" +
                   std::to_string(n) + " received)");
    std::lock_guard out(signals.output());
    print_value(m->payload);
    flush_stdout();
    if (m->dropped > reported_drops) {
      std::fprintf(stderr,
                   "depot-cli: the subscription to '%s' has lost %llu messages so far "
                   "(its buffer was full)\n",
                   pattern.c_str(), static_cast<unsigned long long>(m->dropped));
      reported_drops = m->dropped;
    }
  }
}

// clients, workers POOL: INSPECT's sessions and pools, a line each (cli/inspect_view.h).
// Without POCO (DEPOT_WITH_POCO=OFF) depot-cli has no JSON reader for them.
void inspect_command(depot::Client& client, const Invocation& inv) {
#if DEPOT_WITH_POCO
  const std::string out = inv.command->name == "clients"
                              ? depot::cli::format_clients(client.inspect("sessions"))
                              : depot::cli::format_workers(client.inspect("pools"), inv.args[0]);
  std::fwrite(out.data(), 1, out.size(), stdout);
#else
  (void)client;
  throw std::runtime_error(std::string(inv.command->name) +
                           ": this depot-cli was built without POCO (DEPOT_WITH_POCO=OFF); "
                           "rebuild with it, or read `depot-cli stats` and `depot-cli ls`");
#endif
}

// reserve: "ID VALUE" on one line. A reservation is its session's: interactive mode keeps it
// on the connection until an ack; one command holds it (and the session) until --hold passes
// or SIGINT/SIGTERM, and anyone may ack it meanwhile (`depot-cli ack QUEUE ID`). Whatever is
// not acked by then goes back to the queue when the session ends (docs/queues.md).
void reserve(depot::Client& client, Signals* signals, const Invocation& inv) {
  const std::string& name = inv.args[0];
  depot::RawQueue q(client, name);
  depot::RawReservation r;
  if (no_wait(inv)) {
    auto got = q.try_reserve(inv.lease);
    if (!got) throw NotNow("queue '" + name + "' has no item ready");
    r = std::move(*got);
  } else {
    r = q.reserve(inv.timeout, inv.lease);
  }
  print_item(std::to_string(r.id) + " " + value_text(r.item));
  if (r.deliveries > 1)
    std::fprintf(stderr, "depot-cli: delivery %u of this item (it was given back before)\n",
                 r.deliveries);
  if (g_interactive) return;
  signals->set_mode(Signals::Mode::Notify);
  hold(*signals, inv);
}

void ack(depot::Client& client, const Invocation& inv) {
  const size_t acked = depot::RawQueue(client, inv.args[0]).ack_many(inv.ids);
  if (acked < inv.ids.size())
    throw NotNow(std::to_string(inv.ids.size() - acked) + " of " + std::to_string(inv.ids.size()) +
                 " reservations of queue '" + inv.args[0] +
                 "' were not held (acked already, past their lease, or given back with their "
                 "session); the others are acked");
}

void nack(depot::Client& client, const Invocation& inv) {
  switch (depot::RawQueue(client, inv.args[0]).nack(inv.ids[0], inv.delay)) {
    case depot::NackResult::Requeued:
      return print_item("requeued");
    case depot::NackResult::DeadLettered:
      return print_item("dead-lettered");
    case depot::NackResult::NotHeld:
      break;
  }
  throw NotNow("reservation " + inv.args[1] + " of queue '" + inv.args[0] +
               "' is not held (acked already, past its lease, or given back with its session)");
}

void touch(depot::Client& client, const Invocation& inv) {
  if (!depot::RawQueue(client, inv.args[0]).touch(inv.ids[0], inv.lease))
    throw NotNow("reservation " + inv.args[1] + " of queue '" + inv.args[0] +
                 "' is not held (acked already, past its lease, or given back with its session)");
}

// Lines of monitor or stat, whole and at once (SIGINT/SIGTERM end them between writes).
depot::cli::Emit line_printer(Signals& signals) {
  return [&signals](const std::string& line) {
    std::lock_guard out(signals.output());
    print_item(line);
    flush_stdout();
  };
}

depot::ClientOptions client_options(const Invocation& inv, bool holds) {
  depot::ClientOptions options;
  options.user = depot::auth::find_user(inv.user);
  options.name = inv.name;
  options.tls = inv.tls;  // TLS itself is on when the address is tls://
  if (holds) {
    options.quiet = true;  // a lost hold says it all, and it does not reconnect
  } else {
    // A note for whoever watches a long wait (a get across a manager restart).
    options.on_connection = [](depot::ConnectionChange, const std::string& line) {
      std::fprintf(stderr, "depot-cli: %s\n", line.c_str());
    };
  }
  return options;
}

int execute(depot::Client& client, Signals* signals, const Invocation& inv) {
  const std::string_view cmd = inv.command->name;
  const auto& args = inv.args;
  const std::string_view sub = cmd.substr(cmd.find(' ') + 1);  // "acquire" of "lock acquire"

  if (cmd == "put") {
    depot::RawQueue q(client, args[0]);
    if (args.size() == 2) {
      q.put(args[1], inv.timeout);
    } else {
      q.put_many(std::vector<std::string>(args.begin() + 1, args.end()), inv.timeout);
    }
  } else if (cmd == "get") {
    depot::RawQueue q(client, args[0]);
    if (!inv.count) {
      print_value(q.get(inv.timeout));
    } else {
      // With a zero timeout get_many reports an empty queue as no items, not as EmptyError.
      auto items = q.get_many(*inv.count, inv.timeout);
      if (items.empty())
        throw depot::EmptyError(depot::Status::EMPTY, "queue '" + args[0] + "' is empty");
      for (const auto& item : items) print_value(item);
    }
  } else if (cmd == "qsize") {
    print_u64(depot::RawQueue(client, args[0]).size().size);
  } else if (cmd == "declare") {
    depot::RawQueue(client, args[0]).declare(depot::QueueOptions{.maxsize = inv.maxsize});
  } else if (cmd == "delete") {
    print_u64(depot::RawQueue(client, args[0]).destroy());
  } else if (cmd == "lock acquire") {
    lock_acquire(client, *signals, inv);
  } else if (cmd == "lock release") {
    lock_release(client, inv);
  } else if (cmd == "semaphore acquire") {
    semaphore_acquire(client, *signals, inv);
  } else if (cmd.starts_with("event ")) {
    event_command(client, sub, inv);
  } else if (cmd == "barrier wait") {
    depot::Barrier b = client.barrier(args[0], inv.parties);
    print_u64(inv.timeout ? b.wait(*inv.timeout) : b.wait());
  } else if (cmd == "barrier reset") {
    client.barrier(args[0], 1).reset();  // the party count is not part of a reset
  } else if (cmd.starts_with("var ")) {
    var_command(client, sub, inv);
  } else if (cmd == "counter add") {
    std::printf("%lld\n", static_cast<long long>(client.counter(args[0]).add(inv.delta)));
  } else if (cmd == "counter get") {
    std::printf("%lld\n", static_cast<long long>(client.counter(args[0]).value()));
  } else if (cmd == "publish") {
    print_u64(client.topic<std::string>(args[0]).publish(args[1]));
  } else if (cmd == "subscribe") {
    subscribe(client, *signals, inv);
  } else if (cmd == "rm") {
    print_item(client.remove(args[0]));
  } else if (cmd == "ls") {
    print_objects(client.list());
  } else if (cmd == "ping") {
    const auto rtt = client.ping();
    std::printf("PONG %.3f ms\n", std::chrono::duration<double, std::milli>(rtt).count());
  } else if (cmd == "stats") {
    const std::string json = client.stats();
    print_item(json);
  } else if (cmd == "stat") {
    signals->set_mode(Signals::Mode::Exit0);
    depot::cli::stat(client, inv.interval, inv.count, line_printer(*signals));
  } else if (cmd == "monitor") {
    signals->set_mode(Signals::Mode::Exit0);
    try {
      depot::cli::monitor(client, inv.count, inv.timeout, inv.max_rate, line_printer(*signals));
    } catch (const std::out_of_range& e) {
      throw NotNow(e.what());
    }
  } else if (cmd == "reserve") {
    reserve(client, signals, inv);
  } else if (cmd == "ack") {
    ack(client, inv);
  } else if (cmd == "nack") {
    nack(client, inv);
  } else if (cmd == "touch") {
    touch(client, inv);
  } else if (cmd == "clients" || cmd == "workers") {
    inspect_command(client, inv);
  }
  // A get already removed its items from the queue: say so if they could not be written.
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "depot-cli: cannot write the result to stdout: %s\n",
                 std::strerror(errno));
    return kExitError;
  }
  return kExitOk;
}

int fail(int code, const char* message) {
  std::fflush(stdout);
  std::fprintf(stderr, "depot-cli: %s\n", message);
  return code;
}

// Runs `f`, turning what it throws into the exit code and message of docs/cli.md.
template <class F>
int guarded(F&& f) {
  try {
    return f();
  } catch (const NotNow& e) {
    return fail(kExitEmpty, e.what());
  } catch (const depot::EmptyError& e) {
    return fail(kExitEmpty, e.what());
  } catch (const depot::TimeoutError& e) {
    return fail(kExitEmpty, e.what());
  } catch (const depot::FullError& e) {
    return fail(kExitEmpty, e.what());
  } catch (const UsageError& e) {
    return fail(kExitUsage, e.what());
  } catch (const depot::AuthError& e) {
    return fail(kExitConnection, e.what());
  } catch (const depot::ConnectionError& e) {
    return fail(kExitConnection, e.what());
  } catch (const std::exception& e) {
    return fail(kExitError, e.what());
  }
}

int run(const Invocation& inv, const std::string& authkey) {
  // Before the Client: its heartbeat thread must start with the signals blocked.
  Signals* signals = inv.command->takes_signals ? &Signals::start() : nullptr;
  const std::string_view cmd = inv.command->name;
  depot::Client client(inv.address, authkey,
                       client_options(inv, cmd == "lock acquire" || cmd == "semaphore acquire"));
  return execute(client, signals, inv);
}

// No command: one per line, on one connection (so a reservation lives until its ack). The
// exit code is the last command's.
int interactive(const Invocation& base, const std::string& authkey) {
  g_interactive = true;
  Signals& signals = Signals::start();  // before the Client, as in run()
  depot::Client client(base.address, authkey, client_options(base, false));
  const bool terminal = ::isatty(STDIN_FILENO);
  depot::cli::LineInput input(terminal, client.address() + "> ");
  const Format format = g_format;
  int last = kExitOk;
  for (std::string line; input.next(line);) {
    std::vector<std::string> words;
    try {
      words = depot::cli::split_words(line);
    } catch (const std::invalid_argument& e) {
      last = fail(kExitUsage, e.what());
      continue;
    }
    if (words.empty() || words[0].starts_with("#")) continue;
    if (words[0] == "quit" || words[0] == "exit") break;
    if (words[0] == "help") {
      std::fputs(kUsage, stdout);
      std::fflush(stdout);
      continue;
    }
    g_format = format;
    last = guarded([&] {
      if (words[0].starts_with("-"))
        throw UsageError("options such as '" + words[0] +
                         "' go on depot-cli's command line; here, type a command");
      Invocation inv = base;
      parse_command(inv, words);
      return execute(client, &signals, inv);
    });
    signals.reset();
    std::fflush(stdout);
  }
  return last;
}

}  // namespace

int main(int argc, char** argv) {
  Invocation inv;
  std::string authkey;
  try {
    inv = parse(argc, argv);
    authkey = resolve_authkey(inv);
  } catch (const UsageError& e) {
    // The message and the command list; the whole text (options, exit codes) is --help's.
    const std::string_view usage(kUsage);
    std::string text = std::string("depot-cli: ") + e.what() + "\n";
    text += usage.substr(0, usage.find('\n') + 1);
    for (const Command& c : kCommands) text += "  " + std::string(c.synopsis) + "\n";
    text += "(depot-cli --help explains the commands, options and exit codes)\n";
    std::fputs(text.c_str(), stderr);
    return kExitUsage;
  }
  return guarded([&] { return inv.command ? run(inv, authkey) : interactive(inv, authkey); });
}
