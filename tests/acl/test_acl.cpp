// The ACL file format of docs/security.md: what parses, what each error says (with its line),
// and how names and subscription patterns are matched against a user's rules.
#include <catch2/catch.hpp>

#include <fnmatch.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "depot/auth/acl.h"

using depot::auth::Acl;
using depot::auth::AclError;
using namespace depot::auth;

namespace {

// The message of the AclError parsing `text` throws ("" when it parses).
std::string error_of(const std::string& text) {
  try {
    Acl::parse(text, "acl.conf");
  } catch (const AclError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

SCENARIO("a good ACL file parses into users with keys, rules and limits", "[acl]") {
  GIVEN("a file with comments, blank lines, two users and every directive") {
    const std::string text =
        "# depot users\n"
        "\n"
        "user alice          # the operator\n"
        "  key k1\n"
        "  key k2\n"
        "  allow all *\n"
        "user w1\r\n"
        "\tallow read,write pool.* results\n"
        "  allow admin pool.*\n"
        "  key wk\n"
        "  max-connections 3\n"
        "  max-queue-bytes 2K\n";
    const Acl acl = Acl::parse(text, "acl.conf");
    THEN("both users are there with their keys, rules and limits") {
      REQUIRE(acl.users.size() == 2);
      const User* a = acl.find("alice");
      REQUIRE(a);
      CHECK(a->keys == std::vector<std::string>{"k1", "k2"});
      CHECK(a->line == 3);
      CHECK(a->max_connections == 0);
      const User* w = acl.find("w1");
      REQUIRE(w);
      CHECK(w->keys == std::vector<std::string>{"wk"});
      CHECK(w->max_connections == 3);
      CHECK(w->max_queue_bytes == 2048);
      REQUIRE(w->rules.size() == 2);
      CHECK(w->rules[0].perms == (PERM_READ | PERM_WRITE));
      CHECK(w->rules[0].patterns == std::vector<std::string>{"pool.*", "results"});
      CHECK(acl.find("bob") == nullptr);
      CHECK(acl.index_of("w1") == 1);
    }
    THEN("permissions follow the rules' patterns") {
      const User* w = acl.find("w1");
      CHECK(w->allows(PERM_READ, "pool.tasks"));
      CHECK(w->allows(PERM_WRITE, "results"));
      CHECK(w->allows(PERM_ADMIN, "pool.r.1"));
      CHECK_FALSE(w->allows(PERM_ADMIN, "results"));
      CHECK_FALSE(w->allows(PERM_READ, "results2"));
      CHECK_FALSE(w->allows(PERM_READ, "other.tasks"));
      CHECK(acl.find("alice")->allows(PERM_ADMIN, "anything at all"));
    }
  }
  GIVEN("sizes with suffixes") {
    const Acl acl =
        Acl::parse("user a\nkey x\nmax-queue-bytes 3M\nuser b\nkey y\nmax-queue-bytes 1GiB\n", "f");
    CHECK(acl.find("a")->max_queue_bytes == 3u << 20);
    CHECK(acl.find("b")->max_queue_bytes == 1u << 30);
  }
  GIVEN("a key file next to the ACL file") {
    const std::string dir = "/tmp/depot-acl-test-" + std::to_string(::getpid());
    std::string cmd = "mkdir -p " + dir;
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ofstream(dir + "/w.key") << "file-key\n";
    std::ofstream(dir + "/acl.conf") << "user w\n  key-file w.key\n  key inline\n";
    const Acl acl = Acl::load(dir + "/acl.conf");
    THEN("the key is read relative to the ACL file, without its newline") {
      CHECK(acl.find("w")->keys == std::vector<std::string>{"file-key", "inline"});
    }
    std::remove((dir + "/w.key").c_str());
    WHEN("the key file is gone") {
      THEN("loading fails on the key-file line, naming the file") {
        try {
          Acl::load(dir + "/acl.conf");
          FAIL("loaded");
        } catch (const AclError& e) {
          CHECK(std::string(e.what()).find(dir + "/acl.conf:2: cannot read authkey file") == 0);
        }
      }
    }
    std::remove((dir + "/acl.conf").c_str());
    ::rmdir(dir.c_str());
  }
  GIVEN("Acl::single, the manager without an ACL file") {
    const Acl acl = Acl::single("secret");
    THEN("it is one user 'default' with every permission on every name") {
      REQUIRE(acl.users.size() == 1);
      CHECK(acl.users[0].name == "default");
      CHECK(acl.users[0].keys == std::vector<std::string>{"secret"});
      CHECK(acl.users[0].allows(PERM_ADMIN, "x"));
      CHECK(acl.users[0].allows_all(PERM_READ, "*"));
    }
  }
}

SCENARIO("every error in an ACL file names its line and what to fix", "[acl]") {
  CHECK(error_of("") ==
        "acl.conf: no users; add a 'user NAME' line followed by its 'key' and "
        "'allow' lines");
  CHECK(error_of("# only a comment\n").find("acl.conf: no users") == 0);
  CHECK(error_of("\nkey abc\n") ==
        "acl.conf:2: 'key' before any 'user' line; begin each user with 'user NAME'");
  CHECK(error_of("user a\nkey k\nfrobnicate 1\n") ==
        "acl.conf:3: unknown directive 'frobnicate'; a line is one of user, key, key-file, "
        "allow, max-connections or max-queue-bytes");
  CHECK(error_of("user\n") == "acl.conf:1: 'user' takes one value: write 'user NAME'");
  CHECK(error_of("user a b\n") == "acl.conf:1: 'user' takes one value: write 'user NAME'");
  CHECK(error_of("user a/b\nkey k\n") ==
        "acl.conf:1: user name 'a/b' may use only letters, digits, '.', '_' and '-'");
  CHECK(error_of("user a\nkey k\n\nuser a\nkey j\n") ==
        "acl.conf:4: user 'a' is defined twice (first on line 1); merge the two");
  CHECK(error_of("user a\nkey\n").find("acl.conf:2: 'key' takes one value") == 0);
  CHECK(error_of("user a\nkey k\nallow read\n") ==
        "acl.conf:3: 'allow' takes permissions and patterns: write 'allow read,write PATTERN...'");
  CHECK(error_of("user a\nkey k\nallow read,delete x\n") ==
        "acl.conf:3: unknown permission 'delete'; use read, write, admin or all, separated by "
        "commas without spaces");
  CHECK(error_of("user a\nkey k\nmax-connections lots\n") ==
        "acl.conf:3: 'max-connections' needs a whole number, not 'lots' (0 means no limit)");
  CHECK(error_of("user a\nkey k\nmax-queue-bytes 12X\n") ==
        "acl.conf:3: 'max-queue-bytes' needs a whole number of bytes, optionally with K, M or G, "
        "not '12X' (0 means no limit)");
  CHECK(error_of("user a\nallow read x\nuser b\nkey k\n") ==
        "acl.conf:1: user 'a' has no key; add 'key KEY' or 'key-file FILE' after its user line");
  CHECK(error_of("user a\nkey k\n").empty());
  try {
    Acl::load("/nonexistent/acl.conf");
    FAIL("loaded");
  } catch (const AclError& e) {
    CHECK(std::string(e.what()).find("cannot read ACL file '/nonexistent/acl.conf'") == 0);
  }
}

SCENARIO("a subscription pattern is allowed only when every topic it matches is", "[acl]") {
  const Acl acl = Acl::parse(
      "user s\nkey k\nallow read sensors.* exact other?\nallow write out.*\n", "acl.conf");
  const User& u = *acl.find("s");
  CHECK(u.allows_all(PERM_READ, "sensors.temp"));  // an exact topic is one name
  CHECK(u.allows_all(PERM_READ, "sensors.*"));     // the rule's own pattern
  CHECK(u.allows_all(PERM_READ, "sensors.t*"));    // narrower: begins with the prefix
  CHECK(u.allows_all(PERM_READ, "sensors.[ab]"));  // its literal beginning is "sensors."
  CHECK(u.allows_all(PERM_READ, "exact"));
  CHECK_FALSE(u.allows_all(PERM_READ, "sensors*"));  // also matches "sensorsX"
  CHECK_FALSE(u.allows_all(PERM_READ, "*"));
  CHECK_FALSE(u.allows_all(PERM_READ, "s*"));
  CHECK_FALSE(u.allows_all(PERM_READ, "exact*"));
  CHECK(u.allows_all(PERM_READ, "other?"));        // the identical pattern
  CHECK_FALSE(u.allows_all(PERM_READ, "other*"));  // wider than "other?"
  CHECK_FALSE(u.allows_all(PERM_READ, "out.*"));   // write, not read
}

SCENARIO("a name is allowed exactly when fnmatch(3) matches it with one of the rule's patterns",
         "[acl]") {
  // allows() decides "*", plain names and "PREFIX*" without fnmatch; every kind of pattern
  // must answer as fnmatch(pattern, name, 0) does.
  const std::vector<std::string> patterns = {
      "*",     "tasks",   "tasks*", "pool.*", "pool.r.*", "",    "*s",     "t*s",        "task?",
      "[tp]*", "pool\\*", "a\\b",   "**",     "?",        "*.*", "x[!a]y", "pool.[0-9]*"};
  const std::vector<std::string> names = {
      "",
      "t",
      "tasks",
      "tasks2",
      "task",
      "tasksx.y",
      "pool.",
      "pool.r.1",
      "pool*",
      "pool.x",
      "ab",
      "a\\b",
      "xby",
      "xay",
      "s",
      "pool.7z",
      ".hidden",
      "a/b",
      "a very long name that does not fit a small string buffer"};
  for (const std::string& p : patterns) {
    User u;
    u.rules.push_back(Rule{PERM_READ, {p}});
    for (const std::string& n : names) {
      INFO("pattern '" << p << "', name '" << n << "'");
      CHECK(u.allows(PERM_READ, n) == (::fnmatch(p.c_str(), n.c_str(), 0) == 0));
      CHECK_FALSE(u.allows(PERM_WRITE, n));
    }
  }
}
