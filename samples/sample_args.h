// Command-line handling shared by the samples: --address [tls://]HOST:PORT, --authkey KEY,
// --authkey-file FILE, or the DEPOT_AUTHKEY environment variable; --user NAME or DEPOT_USER
// for a manager with an ACL file; --name NAME, the client name the manager shows; for TLS --tls-ca
// FILE, --tls-cert FILE and --tls-key FILE (docs/security.md).
#pragma once
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "depot/auth/auth.h"
#include "depot/manager/manager.h"

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
)";

struct Args {
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
  long num(const std::string& k, long dflt) const {
    return std::stol(get(k, std::to_string(dflt)));
  }
};

// `flags` lists options that take no value (e.g. "--embedded"). With `may_embed`, a program
// given no --address runs a manager of its own (embed_unless_address_given) and so needs
// no key from the user.
inline Args parse(int argc, char** argv, const std::string& usage,
                  std::initializer_list<std::string> flags = {}, bool may_embed = false) {
  Args a;
  depot::auth::KeySources keys;
  std::optional<std::string> user;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::cout << usage << kConnectionHelp;
      std::exit(0);
    }
    bool is_flag = false;
    for (auto& f : flags) is_flag = is_flag || f == k;
    if (is_flag) {
      // (GCC 12 at -O3 warns falsely on assigning a literal here: PR105651.)
      a.extra.insert_or_assign(k.substr(2), std::string(1, '1'));
      continue;
    }
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
      std::cerr << usage;
      std::exit(2);
    }
    std::string v = argv[++i];
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
    std::cerr << e.what() << "\n" << usage;
    std::exit(2);
  }
  a.user = depot::auth::find_user(user);
  if (a.authkey.empty() && may_embed && !a.address_given) a.authkey = "depot-sample-key";
  if (a.authkey.empty()) {
    std::cerr << "no authkey: pass --authkey KEY, --authkey-file FILE or set DEPOT_AUTHKEY\n"
              << usage;
    std::exit(2);
  }
  return a;
}

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
