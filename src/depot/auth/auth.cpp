#include "depot/auth/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace depot::auth {

Nonce random_nonce() {
  Nonce n;
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed: no secure random nonce available");
  return n;
}

std::string to_hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(digits[p[i] >> 4]);
    s.push_back(digits[p[i] & 15]);
  }
  return s;
}

std::string random_hex(size_t chars) {
  const Nonce n = random_nonce();
  return to_hex(n.data(), n.size()).substr(0, chars);
}

Mac hmac_sha256(std::string_view key, std::string_view data) {
  Mac out{};
  unsigned int len = 0;
  // An empty key is passed as a valid non-null pointer: HMAC() treats key=nullptr specially.
  static const unsigned char empty = 0;
  const auto* k = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
  HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

Mac client_proof(std::string_view key, const Nonce& server_nonce, std::string_view user) {
  std::string msg = "depot-client";
  msg.append(as_view(server_nonce));
  msg.append(user);
  return hmac_sha256(key, msg);
}

Mac server_proof(std::string_view key, const Nonce& client_nonce, const Nonce& server_nonce) {
  std::string msg = "depot-server";
  msg.append(as_view(client_nonce));
  msg.append(as_view(server_nonce));
  return hmac_sha256(key, msg);
}

bool mac_equal(const Mac& expected, std::string_view received) {
  if (received.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

std::string read_key_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw std::runtime_error("cannot read authkey file '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string key = ss.str();
  if (!key.empty() && key.back() == '\n') key.pop_back();
  if (!key.empty() && key.back() == '\r') key.pop_back();
  if (key.empty())
    throw std::runtime_error("authkey file '" + path + "' is empty; put the key in it");
  return key;
}

std::optional<std::string> find_authkey(const KeySources& s) {
  if (s.key && s.file)
    throw std::runtime_error("give the authkey once: " + s.key_flag + " KEY or " + s.file_flag +
                             " FILE, not both");
  if (s.key) {
    if (s.key->empty()) throw std::runtime_error(s.key_flag + " needs a non-empty key");
    return s.key;
  }
  if (s.file) return read_key_file(*s.file);
  if (const char* env = std::getenv("DEPOT_AUTHKEY"); env && *env) return std::string(env);
  return std::nullopt;
}

std::string find_user(const std::optional<std::string>& given) {
  if (given) return *given;
  if (const char* env = std::getenv("DEPOT_USER"); env && *env) return std::string(env);
  return {};
}

}  // namespace depot::auth
