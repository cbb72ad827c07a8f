// depot-cli: the manager's queues from a shell, in the spirit of redis-cli.
//
//   depot-cli [-a HOST:PORT] [-k KEY | --authkey-file FILE] COMMAND ARGS...
//
// One command per run, one connection per run. Values are the raw bytes of the arguments
// (RawQueue), so `depot-cli put tasks 42` feeds a C++ RemoteQueue<int>: the arithmetic codec
// is decimal text (client/codec.h).
//
// The exit code is the interface for scripts (docs/cli.md): 0 done, 1 nothing to get or no
// room to put (empty, timeout, full), 2 the command line is wrong, 3 the manager cannot be
// reached or refused the authkey, 4 the manager refused the request for another reason.
// Messages go to stderr as "depot-cli: <the manager's message>"; stdout carries only results,
// so `item=$(depot-cli get q --timeout 1)` captures the item and nothing else.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth.h"
#include "client/client.h"
#include "protocol/address.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitEmpty = 1;  // empty, timeout, full: "try again later", not a failure
constexpr int kExitUsage = 2;
constexpr int kExitConnection = 3;  // cannot connect, connection lost, wrong authkey
constexpr int kExitError = 4;       // any other error the manager (or the client) reported

// The longest --timeout accepted: ~31 years, far below the int64 nanoseconds (292 years) the
// client converts it to. Waiting longer than this is waiting forever: omit --timeout.
constexpr double kMaxTimeoutSeconds = 1e9;

const char* kUsage =
    R"(usage: depot-cli [-a HOST:PORT] [-k KEY | --authkey-file FILE] COMMAND [ARGS...]

Talks to a depot manager: one command per run, results on stdout, errors on stderr.

Commands:
  put QUEUE VALUE [VALUE...] [--timeout S]   append the values (several: one put_many);
                                             waits while the queue is full
  get QUEUE [--timeout S] [--count N]        take the first item (up to N items with --count)
                                             and print each followed by a newline; waits
                                             for one to arrive
  qsize QUEUE                                print the number of items in the queue
  declare QUEUE [--maxsize N]                create the queue bounded to N items (0 = unbounded)
  delete QUEUE                               delete the queue; print how many items it dropped
  ls                                         list every object: name, type, size, state
  ping                                       print PONG and the round trip time
  stats                                      print the manager's counters as JSON

Options:
  -a, --address HOST:PORT   the manager (default 127.0.0.1:5000)
  -k, --authkey KEY         the shared secret (else --authkey-file, else $DEPOT_AUTHKEY)
      --authkey-file FILE   read the key from FILE (one trailing newline is ignored)
      --timeout S           seconds to wait, fractions allowed (0.5); 0 = do not wait at all;
                            without it put and get wait forever
      --count N             get up to N items in one request (at least one, unless --timeout)
      --maxsize N           the bound for declare
      --                    the arguments after it are values, even if they start with '-'
  -h, --help                this text

Exit codes:
  0  done
  1  the queue was empty (get) or full (put), at once or until --timeout
  2  usage error: unknown command or option, missing or malformed argument
  3  cannot connect to the manager, or it refused the authkey
  4  any other error from the manager (wrong type, not found, conflicting declare, ...)
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bits of Command::options: which of the command options a command accepts.
constexpr unsigned kOptTimeout = 1, kOptCount = 2, kOptMaxsize = 4;

struct Command {
  std::string_view name;
  size_t min_args;
  size_t max_args;  // SIZE_MAX: any number
  unsigned options;
  std::string_view synopsis;
};

constexpr Command kCommands[] = {
    {"put", 2, SIZE_MAX, kOptTimeout, "put QUEUE VALUE [VALUE...] [--timeout S]"},
    {"get", 1, 1, kOptTimeout | kOptCount, "get QUEUE [--timeout S] [--count N]"},
    {"qsize", 1, 1, 0, "qsize QUEUE"},
    {"declare", 1, 1, kOptMaxsize, "declare QUEUE [--maxsize N]"},
    {"delete", 1, 1, 0, "delete QUEUE"},
    {"ls", 0, 0, 0, "ls"},
    {"ping", 0, 0, 0, "ping"},
    {"stats", 0, 0, 0, "stats"},
};

struct Invocation {
  std::string address = "127.0.0.1:5000";
  std::optional<std::string> authkey;
  std::optional<std::string> authkey_file;
  const Command* command = nullptr;
  std::vector<std::string> args;
  depot::Timeout timeout;  // nullopt: wait forever
  std::optional<uint64_t> count;
  uint64_t maxsize = 0;
};

const Command* find_command(std::string_view name) {
  for (const Command& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

depot::Timeout parse_timeout(const std::string& v) {
  double s = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || !std::isfinite(s) || s < 0)
    throw UsageError("--timeout takes seconds >= 0 (e.g. 2 or 0.5), got '" + v + "'");
  if (s > kMaxTimeoutSeconds)
    throw UsageError("--timeout " + v + " is too long; omit --timeout to wait forever");
  return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(s * 1e9)));
}

uint64_t parse_count(const std::string& flag, const std::string& v, uint64_t min, uint64_t max) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < min || n > max)
    throw UsageError(flag + " takes a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got '" + v + "'");
  return n;
}

// Global options come before the command (so a value like "-k" can be put after it); the
// command's own options may come anywhere after the command.
Invocation parse(int argc, char** argv) {
  Invocation inv;
  int i = 1;
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= argc) throw UsageError(flag + " needs a value");
    return argv[++i];
  };
  for (; i < argc && argv[i][0] == '-'; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(kExitOk);
    } else if (a == "-a" || a == "--address") {
      inv.address = value(a);
    } else if (a == "-k" || a == "--authkey") {
      inv.authkey = value(a);
    } else if (a == "--authkey-file") {
      inv.authkey_file = value(a);
    } else {
      throw UsageError("unknown option '" + a + "' (options go before the command)");
    }
  }
  if (i >= argc) throw UsageError("no command given");
  inv.command = find_command(argv[i]);
  if (!inv.command) throw UsageError("unknown command '" + std::string(argv[i]) + "'");
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
    unsigned which = flag == "--timeout"   ? kOptTimeout
                     : flag == "--count"   ? kOptCount
                     : flag == "--maxsize" ? kOptMaxsize
                                           : 0;
    if (which == 0)
      throw UsageError("unknown option '" + flag + "' for " + std::string(cmd.name) +
                       " (use -- before values that start with '--')");
    if (!(cmd.options & which))
      throw UsageError(std::string(cmd.name) + " does not take " + flag +
                       "; usage: " + std::string(cmd.synopsis));
    if (which == kOptTimeout) inv.timeout = parse_timeout(take());
    if (which == kOptCount) inv.count = parse_count(flag, take(), 1, UINT32_MAX);
    if (which == kOptMaxsize) inv.maxsize = parse_count(flag, take(), 0, UINT64_MAX);
  }
  if (inv.args.size() < cmd.min_args || inv.args.size() > cmd.max_args)
    throw UsageError(std::string(cmd.name) + ": " +
                     (inv.args.size() < cmd.min_args ? "missing" : "too many") +
                     " arguments; usage: " + std::string(cmd.synopsis));

  depot::proto::Address parsed;
  if (auto err = depot::proto::parse_address(inv.address, parsed); !err.empty())
    throw UsageError(err);
  if (inv.authkey && inv.authkey_file)
    throw UsageError("give the authkey once: -k KEY or --authkey-file FILE, not both");
  return inv;
}

// The key from -k, else --authkey-file, else $DEPOT_AUTHKEY (as depot-manager does).
std::string resolve_authkey(const Invocation& inv) {
  if (inv.authkey) {
    if (inv.authkey->empty()) throw UsageError("-k needs a non-empty key");
    return *inv.authkey;
  }
  if (inv.authkey_file) {
    try {
      return depot::auth::read_key_file(*inv.authkey_file);
    } catch (const std::exception& e) {
      throw UsageError(e.what());
    }
  }
  if (const char* env = std::getenv("DEPOT_AUTHKEY"); env && *env) return env;
  throw UsageError("no authkey: pass -k KEY, --authkey-file FILE or set DEPOT_AUTHKEY");
}

void print_item(std::string_view item) {
  std::fwrite(item.data(), 1, item.size(), stdout);
  std::fputc('\n', stdout);
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

int run(const Invocation& inv, const std::string& authkey) {
  depot::Client client(inv.address, authkey);
  const std::string_view cmd = inv.command->name;
  const auto& args = inv.args;

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
      print_item(q.get(inv.timeout));
    } else {
      // With a zero timeout get_many reports an empty queue as no items, not as EmptyError.
      auto items = q.get_many(*inv.count, inv.timeout);
      if (items.empty())
        throw depot::EmptyError(depot::Status::EMPTY, "queue '" + args[0] + "' is empty");
      for (const auto& item : items) print_item(item);
    }
  } else if (cmd == "qsize") {
    std::printf("%llu\n",
                static_cast<unsigned long long>(depot::RawQueue(client, args[0]).size().size));
  } else if (cmd == "declare") {
    depot::RawQueue(client, args[0]).declare(depot::QueueOptions{.maxsize = inv.maxsize});
  } else if (cmd == "delete") {
    std::printf("%llu\n",
                static_cast<unsigned long long>(depot::RawQueue(client, args[0]).destroy()));
  } else if (cmd == "ls") {
    print_objects(client.list());
  } else if (cmd == "ping") {
    const auto rtt = client.ping();
    std::printf("PONG %.3f ms\n", std::chrono::duration<double, std::milli>(rtt).count());
  } else if (cmd == "stats") {
    const std::string json = client.stats();
    print_item(json);
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
  try {
    return run(inv, authkey);
  } catch (const depot::EmptyError& e) {
    return fail(kExitEmpty, e.what());
  } catch (const depot::TimeoutError& e) {
    return fail(kExitEmpty, e.what());
  } catch (const depot::FullError& e) {
    return fail(kExitEmpty, e.what());
  } catch (const depot::AuthError& e) {
    return fail(kExitConnection, e.what());
  } catch (const depot::ConnectionError& e) {
    return fail(kExitConnection, e.what());
  } catch (const std::exception& e) {
    return fail(kExitError, e.what());
  }
}
