#include "depot/auth/acl.h"

#include <fnmatch.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "depot/auth/auth.h"

namespace depot::auth {

namespace {

constexpr const char* kDirectives =
    "user, key, key-file, allow, max-connections or max-queue-bytes";

std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> w;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    if (line[i] == '#') break;  // a word that begins with # starts a comment
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    w.push_back(line.substr(i, j - i));
    i = j;
  }
  return w;
}

bool parse_size(std::string_view v, bool suffixes, uint64_t& out) {
  uint64_t mult = 1;
  if (suffixes && !v.empty()) {
    std::string_view s = v;
    if (s.size() > 3 && (s.ends_with("KiB") || s.ends_with("MiB") || s.ends_with("GiB")))
      s.remove_suffix(2);
    switch (s.back()) {
      case 'K':
      case 'k':
        mult = 1ull << 10;
        break;
      case 'M':
      case 'm':
        mult = 1ull << 20;
        break;
      case 'G':
      case 'g':
        mult = 1ull << 30;
        break;
      default:
        break;
    }
    if (mult != 1) s.remove_suffix(1);
    v = s;
  }
  if (v.empty()) return false;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) return false;
  if (n > UINT64_MAX / mult) return false;
  out = n * mult;
  return true;
}

}  // namespace

std::string_view perm_name(uint8_t perm) {
  switch (perm) {
    case PERM_READ:
      return "read";
    case PERM_WRITE:
      return "write";
    case PERM_ADMIN:
      return "admin";
    case PERM_NONE:
      return "none";
    default:
      return "several";
  }
}

std::string check_user_name(std::string_view name) {
  if (name.empty()) return "a user name cannot be empty";
  if (name.size() > kMaxUserName)
    return "user name '" + std::string(name.substr(0, 16)) + "...' is " +
           std::to_string(name.size()) + " bytes long; the limit is " +
           std::to_string(kMaxUserName);
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return "user name '" + std::string(name) + "' may use only letters, digits, '.', '_' and '-'";
  return {};
}

namespace {

constexpr std::string_view kSpecial = "*?[\\";  // fnmatch's, its escape included

// fnmatch(pattern, name, 0) == 0, without fnmatch (or a copy of the name) for the patterns
// ACL files hold most: "*", a plain name, and "PREFIX*" with a plain PREFIX. Checked once
// per request, so the common cases cost a comparison.
bool glob_matches(const std::string& pattern, std::string_view name, std::string& scratch) {
  if (pattern.size() == 1 && pattern[0] == '*') return true;  // a user with every name
  const size_t special = pattern.find_first_of(kSpecial);
  if (special == std::string::npos) return pattern == name;
  if (special + 1 == pattern.size() && pattern.back() == '*')
    return name.starts_with(std::string_view(pattern).substr(0, special));
  if (scratch.empty()) scratch.assign(name);  // (an empty name needs no copy)
  return ::fnmatch(pattern.c_str(), scratch.c_str(), 0) == 0;
}

}  // namespace

bool has_glob(std::string_view p) {
  return p.find_first_of("*?[") != std::string_view::npos;
}

bool User::allows(uint8_t perm, std::string_view name) const {
  std::string scratch;  // the name as a C string, made only for fnmatch
  for (const Rule& r : rules) {
    if (!(r.perms & perm)) continue;
    for (const std::string& p : r.patterns)
      if (glob_matches(p, name, scratch)) return true;
  }
  return false;
}

bool User::allows_all(uint8_t perm, std::string_view pattern) const {
  if (!has_glob(pattern)) return allows(perm, pattern);
  const std::string_view literal = pattern.substr(0, pattern.find_first_of(kSpecial));
  for (const Rule& r : rules) {
    if (!(r.perms & perm)) continue;
    for (const std::string& p : r.patterns) {
      if (p == "*" || p == pattern) return true;
      // "PREFIX*" covers every name that starts with PREFIX, so every name a pattern whose
      // literal beginning starts with PREFIX can match.
      if (p.size() >= 1 && p.back() == '*') {
        const std::string_view prefix = std::string_view(p).substr(0, p.size() - 1);
        if (prefix.find_first_of(kSpecial) == std::string_view::npos && literal.starts_with(prefix))
          return true;
      }
    }
  }
  return false;
}

const User* Acl::find(std::string_view name) const {
  const int i = index_of(name);
  return i < 0 ? nullptr : &users[static_cast<size_t>(i)];
}

int Acl::index_of(std::string_view name) const {
  for (size_t i = 0; i < users.size(); ++i)
    if (users[i].name == name) return static_cast<int>(i);
  return -1;
}

Acl Acl::single(std::string key) {
  Acl a;
  User u;
  u.name = std::string(kDefaultUser);
  u.keys.push_back(std::move(key));
  u.rules.push_back(Rule{PERM_ALL, {"*"}});
  a.users.push_back(std::move(u));
  return a;
}

Acl Acl::parse(std::string_view text, const std::string& source, const std::string& base_dir) {
  Acl acl;
  acl.source = source;
  User* cur = nullptr;
  int lineno = 0;
  auto fail = [&](const std::string& what) -> AclError {
    return AclError(source + ":" + std::to_string(lineno) + ": " + what);
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto w = words_of(line);
    if (w.empty()) {
      if (end == text.size()) break;
      continue;
    }
    const std::string_view d = w[0];
    const size_t nargs = w.size() - 1;
    auto need = [&](size_t n, const char* form) {
      if (nargs != n)
        throw fail("'" + std::string(d) + "' takes " + (n == 1 ? "one value" : "values") +
                   ": write '" + form + "'");
    };
    if (d == "user") {
      need(1, "user NAME");
      if (auto why = check_user_name(w[1]); !why.empty()) throw fail(why);
      if (const User* prev = acl.find(w[1]))
        throw fail("user '" + std::string(w[1]) + "' is defined twice (first on line " +
                   std::to_string(prev->line) + "); merge the two");
      acl.users.emplace_back();
      cur = &acl.users.back();
      cur->name = std::string(w[1]);
      cur->line = lineno;
      continue;
    }
    const bool known = d == "key" || d == "key-file" || d == "allow" || d == "max-connections" ||
                       d == "max-queue-bytes";
    if (!known)
      throw fail("unknown directive '" + std::string(d) + "'; a line is one of " + kDirectives);
    if (!cur)
      throw fail("'" + std::string(d) +
                 "' before any 'user' line; begin each user with 'user NAME'");
    if (d == "key") {
      need(1, "key KEY (a key with spaces or a leading # goes in a key-file)");
      cur->keys.emplace_back(w[1]);
    } else if (d == "key-file") {
      need(1, "key-file FILE");
      std::string path(w[1]);
      if (path[0] != '/') path = base_dir + "/" + path;
      try {
        cur->keys.push_back(read_key_file(path));
      } catch (const std::exception& e) {
        throw fail(e.what());
      }
    } else if (d == "allow") {
      if (nargs < 2)
        throw fail("'allow' takes permissions and patterns: write 'allow read,write PATTERN...'");
      Rule r;
      std::string_view perms = w[1];
      while (true) {
        const size_t comma = perms.find(',');
        const std::string_view p = perms.substr(0, comma);
        if (p == "read")
          r.perms |= PERM_READ;
        else if (p == "write")
          r.perms |= PERM_WRITE;
        else if (p == "admin")
          r.perms |= PERM_ADMIN;
        else if (p == "all")
          r.perms |= PERM_ALL;
        else
          throw fail("unknown permission '" + std::string(p) +
                     "'; use read, write, admin or all, separated by commas without spaces");
        if (comma == std::string_view::npos) break;
        perms.remove_prefix(comma + 1);
      }
      for (size_t i = 2; i < w.size(); ++i) {
        if (w[i].size() > 255)
          throw fail("pattern '" + std::string(w[i].substr(0, 16)) +
                     "...' is longer than a name can be (255 bytes)");
        r.patterns.emplace_back(w[i]);
      }
      cur->rules.push_back(std::move(r));
    } else {
      const bool bytes = d == "max-queue-bytes";
      need(1, bytes ? "max-queue-bytes N (K, M or G for KiB, MiB, GiB)" : "max-connections N");
      uint64_t v = 0;
      if (!parse_size(w[1], bytes, v))
        throw fail("'" + std::string(d) + "' needs a whole number" +
                   (bytes ? " of bytes, optionally with K, M or G" : "") + ", not '" +
                   std::string(w[1]) + "' (0 means no limit)");
      (bytes ? cur->max_queue_bytes : cur->max_connections) = v;
    }
    if (end == text.size()) break;
  }
  if (acl.users.empty())
    throw AclError(source +
                   ": no users; add a 'user NAME' line followed by its 'key' and 'allow' lines");
  for (const User& u : acl.users)
    if (u.keys.empty())
      throw AclError(source + ":" + std::to_string(u.line) + ": user '" + u.name +
                     "' has no key; add 'key KEY' or 'key-file FILE' after its user line");
  return acl;
}

Acl Acl::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw AclError("cannot read ACL file '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
  return parse(ss.str(), path, dir);
}

}  // namespace depot::auth
