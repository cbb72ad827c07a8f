// Users, their keys and what they may do: the manager's ACL file (--acl-file, docs/security.md
// "Users and permissions"). Parsing and matching only, no I/O beyond reading the files named;
// the manager checks each request against the session's user with User::allows.
//
//   # one user per `user` line; the lines after it, up to the next `user`, belong to it
//   user worker1
//     key s3cret                    # inline key (one word), or
//     key-file keys/worker1.key     # a key file, relative to the ACL file's directory
//     allow read,write pool.*       # permissions on glob patterns (fnmatch(3), no flags)
//     allow admin pool.*
//     max-connections 8             # 0 or absent: no limit
//     max-queue-bytes 64M           # bytes of its items held in queues; K, M, G suffixes
//
// Without an ACL file the manager's single authkey is Acl::single(key): one user `default`
// holding every permission on every name, which is what a version-2 client is.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace depot::auth {

// The kinds of operation; a request needs one of them on each object it names.
enum Perm : uint8_t {
  PERM_NONE = 0,  // PING, HEARTBEAT, UNSUBSCRIBE, LIST (filtered): every user
  PERM_READ = 1,
  PERM_WRITE = 2,
  PERM_ADMIN = 4,
  PERM_ALL = PERM_READ | PERM_WRITE | PERM_ADMIN,
};
// "read", "write", "admin" (for messages).
std::string_view perm_name(uint8_t perm);

// The user a version-2 AUTH (which names none) stands for, and the one user of a manager
// without an ACL file.
inline constexpr std::string_view kDefaultUser = "default";
// User names: 1 to 64 of [A-Za-z0-9._-], so they fit a log line and a handshake frame.
inline constexpr size_t kMaxUserName = 64;
// Empty when `name` is a valid user name, else why not.
std::string check_user_name(std::string_view name);

struct Rule {
  uint8_t perms = PERM_NONE;
  std::vector<std::string> patterns;
};

struct User {
  std::string name;
  std::vector<std::string> keys;  // never logged
  std::vector<Rule> rules;
  uint64_t max_connections = 0;  // 0: no limit
  uint64_t max_queue_bytes = 0;  // 0: no limit
  int line = 0;                  // of its `user` line, for messages

  // Whether the user has `perm` on the object (or topic) `name`: some rule with that
  // permission has a pattern matching the name (fnmatch without flags).
  bool allows(uint8_t perm, std::string_view name) const;
  // Whether every name the glob `pattern` can match is allowed (SUBSCRIBE to a pattern).
  // Decided on the safe side: a pattern without special characters is one name; else some
  // rule pattern must be "*", the same pattern, or "PREFIX*" (no other special characters)
  // with the pattern's literal beginning (up to its first *, ? or [) starting with PREFIX.
  bool allows_all(uint8_t perm, std::string_view pattern) const;
};

class AclError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Acl {
  std::vector<User> users;
  std::string source;  // the file it came from ("" for single())

  const User* find(std::string_view name) const;
  // Index of the user named `name` in users, or -1.
  int index_of(std::string_view name) const;

  // One user `default` with `key` and every permission on every name.
  static Acl single(std::string key);
  // Parses an ACL file's text; `source` names it in messages ("acl.conf:3: ...") and
  // `base_dir` is where relative key-file paths start. Throws AclError with the line number
  // and what to fix.
  static Acl parse(std::string_view text, const std::string& source,
                   const std::string& base_dir = ".");
  // Reads and parses a file (throws AclError naming it when it cannot be read).
  static Acl load(const std::string& path);
};

// True when `pattern` has a glob character (*, ? or [).
bool has_glob(std::string_view pattern);

}  // namespace depot::auth
